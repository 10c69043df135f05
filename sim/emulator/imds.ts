import { randomBytes } from 'node:crypto';
import { EmulatorContext } from './context';
import {
  buildImdsTree,
  ImdsConfig,
  ImdsScheduledEvent,
  ImdsTime,
  imdsNoticeTime,
  lookupImds,
} from './imds-tree';
import { imdsErrorPage } from './render';
import { EmulatorRequest, EmulatorResponse, ServiceHandler } from './types';

export type { ImdsConfig, ImdsMac, ImdsScheduledEvent } from './imds-tree';
export { imdsEventDate } from './imds-tree';

/**
 * IMDSv2 as real IMDS behaves (not as AEMM does): a GET needs a valid, unexpired token (401
 * otherwise, unless `v1Allowed`); PUT /latest/api/token needs X-aws-ec2-metadata-token-ttl-seconds
 * in 1..21600 (else 400), is refused with X-Forwarded-For (403) and on a versioned path (403);
 * absent items (no spot notice, …) get the XHTML 404 page; bodies are text/plain. Every response to
 * a tokened request carries the token's remaining TTL in X-aws-ec2-metadata-token-ttl-seconds.
 * Faults (401/500/timeouts) come from the emulator's FaultInjector with service 'imds' and actions
 * like 'GET /latest/meta-data/spot/instance-action'.
 *
 * Programmatic API (`emulator.imds`):
 *   configure(partial ImdsConfig)        any field; `spotAction: null` clears the notice
 *   setSpotAction(action='terminate', time=now+120 s) / clearSpotAction()
 *   setRebalance(noticeTime=now) / clearRebalance() / setScheduledEvents(events) / setTargetLifecycleState(s)
 *   revokeTokens()                       every issued token now answers 401
 *   tokensIssued, requests (path → count), requestCount(path), config
 */
function text(body: string, headers: Record<string, string> = {}): EmulatorResponse {
  return { status: 200, headers: { 'content-type': 'text/plain', ...headers }, body };
}

const TTL_HEADER = 'x-aws-ec2-metadata-token-ttl-seconds';

function header(req: EmulatorRequest, name: string): string | undefined {
  const raw = req.headers[name];
  return Array.isArray(raw) ? raw[0] : raw;
}

export class ImdsService implements ServiceHandler {
  readonly service = 'imds' as const;
  private cfg: ImdsConfig = {
    instanceId: 'i-0123456789abcdef0',
    region: 'us-east-1',
    az: 'us-east-1a',
    accountId: '123456789012',
    instanceType: 'c6i.large',
    amiId: 'ami-0123456789abcdef0',
    lifeCycle: 'on-demand',
    macs: [],
    spotAction: null,
    rebalanceNoticeTime: null,
    scheduledEvents: [],
    targetLifecycleState: null,
    tags: {},
    v1Allowed: false,
    tokenTtlCapSeconds: null,
  };
  /** token → expiry (epoch ms) */
  private readonly tokens = new Map<string, number>();
  tokensIssued = 0;
  readonly requests = new Map<string, number>();

  constructor(readonly ctx: EmulatorContext) {}

  configure(input: Partial<ImdsConfig>): void {
    this.cfg = { ...this.cfg, ...input };
  }

  get config(): ImdsConfig {
    return structuredClone(this.cfg);
  }

  setSpotAction(action: 'terminate' | 'stop' | 'hibernate' = 'terminate', time?: ImdsTime): void {
    this.cfg.spotAction = { action, time: imdsNoticeTime(time ?? this.ctx.now() + 120_000) };
  }

  clearSpotAction(): void {
    this.cfg.spotAction = null;
  }

  setRebalance(noticeTime: ImdsTime | null = this.ctx.now()): void {
    this.cfg.rebalanceNoticeTime = noticeTime === null ? null : imdsNoticeTime(noticeTime);
  }

  clearRebalance(): void {
    this.cfg.rebalanceNoticeTime = null;
  }

  setTargetLifecycleState(state: string | null): void {
    this.cfg.targetLifecycleState = state;
  }

  setScheduledEvents(events: ImdsScheduledEvent[]): void {
    this.cfg.scheduledEvents = events;
  }

  revokeTokens(): void {
    this.tokens.clear();
  }

  requestCount(path: string): number {
    return this.requests.get(path) ?? 0;
  }

  snapshot(): unknown {
    return { config: this.cfg, tokensIssued: this.tokensIssued, requests: Object.fromEntries(this.requests) };
  }

  stop(): void {}

  handle(req: EmulatorRequest): EmulatorResponse {
    this.requests.set(req.path, (this.requests.get(req.path) ?? 0) + 1);
    const versioned = !req.path.startsWith('/latest/');
    if (/^\/[^/]+\/api\/token\/?$/.test(req.path)) {
      // "PUT to a version-specific path … returns 403 Forbidden by design."
      if (versioned) return imdsErrorPage(403);
      return this.token(req);
    }
    if (req.method === 'PUT' && versioned) return imdsErrorPage(403);
    if (req.method !== 'GET' && req.method !== 'HEAD') return imdsErrorPage(405);
    const auth = this.authorize(req);
    if (auth === 'denied') return imdsErrorPage(401);
    const relative = req.path.replace(/^\/[^/]+\//, '');
    const value = lookupImds(buildImdsTree(this.cfg), relative);
    if (value === undefined) return imdsErrorPage(404);
    return text(value, auth === 'v1' ? {} : { [TTL_HEADER]: String(auth) });
  }

  private token(req: EmulatorRequest): EmulatorResponse {
    if (req.method !== 'PUT') return imdsErrorPage(405);
    if (header(req, 'x-forwarded-for') !== undefined) return imdsErrorPage(403);
    const raw = header(req, TTL_HEADER);
    const ttl = raw !== undefined && /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21600) return imdsErrorPage(400);
    const granted = this.cfg.tokenTtlCapSeconds ? Math.min(ttl, this.cfg.tokenTtlCapSeconds) : ttl;
    const token = `AQAEA${randomBytes(40).toString('base64url')}==`;
    this.tokens.set(token, this.ctx.now() + granted * 1000);
    this.tokensIssued++;
    return text(token, { [TTL_HEADER]: String(granted) });
  }

  /** 'v1' (tokenless, allowed), the token's remaining seconds, or 'denied'. */
  private authorize(req: EmulatorRequest): 'v1' | 'denied' | number {
    const token = header(req, 'x-aws-ec2-metadata-token');
    if (token === undefined) return this.cfg.v1Allowed ? 'v1' : 'denied';
    const expires = this.tokens.get(token);
    const now = this.ctx.now();
    if (expires === undefined) return 'denied';
    if (expires <= now) {
      this.tokens.delete(token);
      return 'denied';
    }
    return Math.max(1, Math.floor((expires - now) / 1000));
  }
}
