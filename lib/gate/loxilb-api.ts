import { z } from 'zod';

/**
 * A tiny client for the two loxilb REST endpoints the gate needs. Shapes follow loxilb-io/loxilb:
 *  GET /netlox/v1/config/cistate/all → {"Attr": [CIStatusGetEntry]}  (api/restapi/handler/cluster.go
 *      ConfigGetCIState; api/models/c_i_status_get_entry.go: instance, state, sync (*int64, sent as
 *      null), vip)
 *  GET /netlox/v1/config/bfd/all     → {"Attr": [BfdGetEntry]}       (cluster.go ConfigGetBFDSession;
 *      api/models/bfd_get_entry.go: instance, interval, port, remoteIp, retryCount, sourceIP, state
 *      ∈ BFDAdminDown | BFDDown | BFDInit | BFDUp — proto/bfd.go BFDStateMap); without BFD it answers
 *      HTTP 500 `bfd session not running`, which is read as `bfdRunning: false`.
 * Sample bodies: test/fixtures/loxilb/. Every failure here is an expected answer for the gate (the
 * last observation, or handover), never a crash.
 */

const ciStateEntry = z.object({
  instance: z.string().optional(),
  state: z.string().optional(),
  sync: z.number().nullable().optional(),
  vip: z.string().optional(),
});

const bfdEntry = z.object({
  instance: z.string().optional(),
  interval: z.number().optional(),
  port: z.number().optional(),
  remoteIp: z.string().optional(),
  retryCount: z.number().optional(),
  sourceIP: z.string().optional(),
  state: z.string().optional(),
});

const ciStateBody = z.object({ Attr: z.array(ciStateEntry).nullable() });
const bfdBody = z.object({ Attr: z.array(bfdEntry).nullable() });

export type CiStateEntry = z.infer<typeof ciStateEntry>;
export type BfdSessionEntry = z.infer<typeof bfdEntry>;

/** What loxilb says about its HA role and its BFD peers (kept on disk by lib/gate/ha-observer.ts). */
export const LoxilbHaViewSchema = z.object({
  ciStates: z.array(ciStateEntry),
  /**
   * False when loxilb answered `bfd session not running` (no `--ka`: kube-loxilb --setRoles sets the
   * roles, loxilb itself has no view of its peers). True with zero sessions means "no peers".
   * Absent in observations written before this field existed: read as running.
   */
  bfdRunning: z.boolean().optional(),
  bfdSessions: z.array(bfdEntry),
});
export type LoxilbHaView = z.infer<typeof LoxilbHaViewSchema>;

/**
 * loxilb answers GET /config/bfd/all without a BFD session manager with its error model, message
 * `bfd session not running` (pkg/loxinet/cluster.go). Releases differ on the HTTP code, so the text
 * is what counts.
 */
export const BFD_NOT_RUNNING = /bfd session not running/i;

export class LoxilbApiError extends Error {
  constructor(
    message: string,
    /** `ECONNREFUSED`, `timeout`, `http-503`, `malformed-body`, … */
    readonly code: string,
    readonly url: string,
    cause?: unknown,
    /** The error body's `message` (loxilb's models.Error), when it sent one. */
    readonly apiMessage?: string,
  ) {
    super(message, { cause });
    this.name = 'LoxilbApiError';
  }
}

export interface LoxilbApi {
  readonly baseUrl: string;
  /** Both endpoints, asked in parallel. Throws LoxilbApiError. */
  haView(signal?: AbortSignal): Promise<LoxilbHaView>;
}

export type FetchFn = (
  input: string,
  init?: { signal?: AbortSignal },
) => Promise<{
  ok: boolean;
  status: number;
  text(): Promise<string>;
}>;

export interface LoxilbApiOptions {
  /** config gate.loxilbApiUrl, e.g. http://127.0.0.1:11111 */
  baseUrl: string;
  /** config gate.apiTimeoutMs; bounds each request. */
  timeoutMs: number;
  fetch: FetchFn;
}

export const CISTATE_PATH = '/netlox/v1/config/cistate/all';
export const BFD_PATH = '/netlox/v1/config/bfd/all';

function networkCode(err: unknown): string {
  const cause = (err as { cause?: { code?: string } })?.cause;
  return cause?.code ?? (err as { code?: string })?.code ?? (err as Error)?.name ?? 'Unknown';
}

/** `message` (or `result`) of loxilb's error model `{"code":500,"message":…,"result":…}`, if any. */
function errorMessageOf(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { message?: unknown; result?: unknown };
    const m = typeof body.message === 'string' ? body.message : body.result;
    return typeof m === 'string' && m ? m : undefined;
  } catch {
    return undefined;
  }
}

export function createLoxilbApi(options: LoxilbApiOptions): LoxilbApi {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');

  async function getJson<T>(path: string, schema: z.ZodType<T>, signal?: AbortSignal): Promise<T> {
    const url = baseUrl + path;
    const timeout = AbortSignal.timeout(options.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let status: number;
    let text: string;
    try {
      const res = await options.fetch(url, { signal: combined });
      status = res.status;
      text = await res.text();
    } catch (err) {
      if (timeout.aborted && !signal?.aborted) {
        throw new LoxilbApiError(`GET ${url} timed out after ${options.timeoutMs} ms`, 'timeout', url, err);
      }
      const code = networkCode(err);
      throw new LoxilbApiError(`GET ${url} failed: ${code}`, code, url, err);
    }
    if (status !== 200) {
      const apiMessage = errorMessageOf(text);
      throw new LoxilbApiError(
        `GET ${url} answered HTTP ${status}${apiMessage ? ` (${apiMessage})` : ''}`,
        `http-${status}`,
        url,
        undefined,
        apiMessage,
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new LoxilbApiError(`GET ${url} answered a body that is not JSON`, 'malformed-body', url, err);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new LoxilbApiError(
        `GET ${url} answered an unexpected body (${issue.path.join('.') || 'body'}: ${issue.message})`,
        'malformed-body',
        url,
      );
    }
    return parsed.data;
  }

  return {
    baseUrl,
    async haView(signal) {
      const [ci, bfd] = await Promise.all([
        getJson(CISTATE_PATH, ciStateBody, signal),
        getJson(BFD_PATH, bfdBody, signal).catch((err: unknown) => {
          if (err instanceof LoxilbApiError && BFD_NOT_RUNNING.test(err.apiMessage ?? '')) return null;
          throw err;
        }),
      ]);
      return { ciStates: ci.Attr ?? [], bfdRunning: bfd !== null, bfdSessions: bfd?.Attr ?? [] };
    },
  };
}
