import { request } from 'node:http';
import { Clock, systemClock } from '../clock';

/**
 * A small IMDSv2 client of our own rather than `@aws-sdk/ec2-metadata-service`, because that package
 * PUTs a fresh token before every read (two round trips per 2 s poll), has no default timeout, treats
 * 404 — the normal "no notice" answer — as a thrown error after retries, and on a token failure
 * silently and permanently falls back to IMDSv1. A termination poller needs the opposite of each:
 * a cached token refreshed before expiry and on 401, a hard per-request timeout, 404 as a value, and
 * IMDSv1 only when the operator opts in (and then loudly).
 */
export interface ImdsClientOptions {
  /** Default: AWS_EC2_METADATA_SERVICE_ENDPOINT, else http://169.254.169.254 */
  endpoint?: string;
  requestTimeoutMs?: number;
  tokenTtlSeconds?: number;
  allowV1Fallback?: boolean;
  clock?: Clock;
  /** Told once when falling back to IMDSv1, so the caller can log it loudly. */
  onV1Fallback?: (reason: string) => void;
}

export class ImdsError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'ImdsError';
  }
}

interface RawResponse {
  status: number;
  body: string;
}

/** Refresh the token this long before it expires, so a poll never carries a token about to die. */
const TOKEN_REFRESH_MARGIN_MS = 60_000;

export class ImdsClient {
  readonly endpoint: string;
  private readonly timeoutMs: number;
  private readonly ttlSeconds: number;
  private readonly clock: Clock;
  private token?: { value: string; expiresAt: number };
  private v1 = false;

  constructor(private readonly options: ImdsClientOptions = {}) {
    this.endpoint = (
      options.endpoint ??
      process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT ??
      'http://169.254.169.254'
    ).replace(/\/+$/, '');
    this.timeoutMs = options.requestTimeoutMs ?? 1000;
    this.ttlSeconds = options.tokenTtlSeconds ?? 21600;
    this.clock = options.clock ?? systemClock;
  }

  /** True once the client has fallen back to IMDSv1 (only possible with allowV1Fallback). */
  get usingV1(): boolean {
    return this.v1;
  }

  /**
   * GET a metadata path (relative to /latest/, e.g. `meta-data/spot/instance-action`).
   * Returns the body, or null on 404 ("not present"). Throws ImdsError on anything else.
   */
  async get(path: string, signal?: AbortSignal): Promise<string | null> {
    const token = await this.getToken(signal);
    let res = await this.send(
      'GET',
      `/latest/${path}`,
      token ? { 'x-aws-ec2-metadata-token': token } : {},
      signal,
    );
    if (res.status === 401 && !this.v1) {
      // Expired or revoked token: drop it, take a new one, retry once.
      this.token = undefined;
      const fresh = await this.getToken(signal);
      res = await this.send(
        'GET',
        `/latest/${path}`,
        fresh ? { 'x-aws-ec2-metadata-token': fresh } : {},
        signal,
      );
    }
    if (res.status === 200) return res.body;
    if (res.status === 404) return null;
    throw new ImdsError(`IMDS GET /latest/${path} answered ${res.status}`, res.status);
  }

  /** Like get(), but a missing value is an error naming the path. */
  async require(path: string, signal?: AbortSignal): Promise<string> {
    const value = await this.get(path, signal);
    if (value === null) throw new ImdsError(`IMDS has no value at /latest/${path}`, 404);
    return value.trim();
  }

  private async getToken(signal?: AbortSignal): Promise<string | undefined> {
    if (this.v1) return undefined;
    if (
      this.token &&
      this.clock.now() <
        this.token.expiresAt - Math.min(TOKEN_REFRESH_MARGIN_MS, (this.ttlSeconds * 1000) / 2)
    ) {
      return this.token.value;
    }
    let res: RawResponse;
    try {
      res = await this.send(
        'PUT',
        '/latest/api/token',
        { 'x-aws-ec2-metadata-token-ttl-seconds': String(this.ttlSeconds) },
        signal,
      );
    } catch (err) {
      return this.fallbackOrThrow(`token request failed: ${(err as Error).message}`, err);
    }
    if (res.status === 200 && res.body) {
      this.token = { value: res.body, expiresAt: this.clock.now() + this.ttlSeconds * 1000 };
      return res.body;
    }
    if (res.status === 403 || res.status === 404 || res.status === 405) {
      return this.fallbackOrThrow(
        `token request answered ${res.status}`,
        new ImdsError(`IMDS token PUT answered ${res.status}`, res.status),
      );
    }
    throw new ImdsError(`IMDS token PUT answered ${res.status}`, res.status);
  }

  private fallbackOrThrow(reason: string, err: unknown): undefined {
    if (!this.options.allowV1Fallback) {
      if (err instanceof ImdsError) throw err;
      throw new ImdsError(`IMDSv2 ${reason}`, undefined, (err as NodeJS.ErrnoException)?.code);
    }
    this.v1 = true;
    this.options.onV1Fallback?.(reason);
    return undefined;
  }

  private send(
    method: string,
    path: string,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<RawResponse> {
    const url = new URL(this.endpoint + path);
    return new Promise<RawResponse>((resolve, reject) => {
      const timeout = AbortSignal.timeout(this.timeoutMs);
      const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
      const req = request(
        {
          method,
          hostname: url.hostname,
          port: url.port || 80,
          path: url.pathname,
          headers,
          signal: combined,
          agent: false,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', (err) => {
        if (timeout.aborted && !signal?.aborted) {
          reject(
            new ImdsError(
              `IMDS ${method} ${path} timed out after ${this.timeoutMs} ms`,
              undefined,
              'ETIMEDOUT',
            ),
          );
        } else reject(err);
      });
      req.end();
    });
  }
}
