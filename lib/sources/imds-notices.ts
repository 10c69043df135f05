import { NoticeKind, TerminationNotice } from '../notice';

/**
 * Pure parsers for the IMDS items that announce the end of this instance (reference §1.4).
 * Each takes the raw body (never null: a 404 means "no notice" and is handled by the poller) and
 * returns the notices it carries. A body that does not match its documented shape is an
 * ImdsBodyError naming the path and field: nothing is torn down on a guess.
 */

export const IMDS_PATHS = {
  spotInstanceAction: 'meta-data/spot/instance-action',
  targetLifecycleState: 'meta-data/autoscaling/target-lifecycle-state',
  scheduledEvents: 'meta-data/events/maintenance/scheduled',
  rebalance: 'meta-data/events/recommendations/rebalance',
} as const;
export type ImdsNoticePath = (typeof IMDS_PATHS)[keyof typeof IMDS_PATHS];

export class ImdsBodyError extends Error {
  constructor(
    readonly path: string,
    readonly field: string,
    message: string,
  ) {
    super(`IMDS /latest/${path}: ${field}: ${message}`);
    this.name = 'ImdsBodyError';
  }
}

export interface ParseContext {
  instanceId: string;
  /** Epoch ms when the body was read. */
  receivedAt: number;
}

/** EC2 gives a spot instance two minutes between the warning and the action. */
export const SPOT_WARNING_MS = 120_000;

function parseJson(path: string, body: string): unknown {
  try {
    return JSON.parse(body);
  } catch (err) {
    throw new ImdsBodyError(path, '(body)', `not JSON (${(err as Error).message}): ${preview(body)}`);
  }
}

function preview(body: string): string {
  const flat = body.replace(/\s+/g, ' ').trim();
  return JSON.stringify(flat.length > 80 ? `${flat.slice(0, 80)}…` : flat);
}

/** RFC 3339 with optional fraction; returns epoch ms or null. */
export function parseRfc3339(value: unknown): number | null {
  if (typeof value !== 'string') return null;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value)) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Scheduled-event dates: `21 Jan 2019 09:00:43 GMT` (day not zero-padded; Go layout `2 Jan 2006 15:04:05 GMT`). */
export function parseScheduledEventDate(value: unknown): number | null {
  if (typeof value !== 'string') return null;
  const m = /^(\d{1,2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/.exec(value.trim());
  if (!m) return null;
  const month = MONTHS.indexOf(m[2]);
  if (month < 0) return null;
  return Date.UTC(Number(m[3]), month, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
}

function baseNotice(ctx: ParseContext, kind: NoticeKind, deadline: number | null, sourceId: string) {
  const notice: TerminationNotice = {
    instanceId: ctx.instanceId,
    kind,
    deadline: deadline === null ? null : new Date(deadline).toISOString(),
    source: 'imds',
    receivedAt: new Date(ctx.receivedAt).toISOString(),
    sourceId,
  };
  return notice;
}

const SPOT_KINDS: Record<string, NoticeKind> = {
  terminate: 'spot-terminate',
  stop: 'spot-stop',
  hibernate: 'spot-hibernate',
};

/** `spot/instance-action`: `{"action": "terminate", "time": "2017-09-18T08:22:00Z"}`. */
export function parseSpotInstanceAction(body: string, ctx: ParseContext): TerminationNotice {
  const path = IMDS_PATHS.spotInstanceAction;
  const doc = parseJson(path, body);
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ImdsBodyError(path, '(body)', `expected a JSON object, got ${preview(body)}`);
  }
  const { action, time } = doc as { action?: unknown; time?: unknown };
  const kind = typeof action === 'string' ? SPOT_KINDS[action] : undefined;
  if (!kind) {
    throw new ImdsBodyError(
      path,
      'action',
      `must be one of "terminate", "stop", "hibernate", got ${JSON.stringify(action)}`,
    );
  }
  const at = parseRfc3339(time);
  if (at === null) {
    throw new ImdsBodyError(path, 'time', `must be an RFC 3339 UTC time, got ${JSON.stringify(time)}`);
  }
  // A stale `time` in the past is possible (EC2 failed to act); it is still a notice.
  return baseNotice(ctx, kind, at, `spot/${action as string}/${time as string}`);
}

export const targetLifecycleStates = [
  'Detached',
  'InService',
  'Standby',
  'Terminated',
  'Warmed:Hibernated',
  'Warmed:Running',
  'Warmed:Stopped',
  'Warmed:Terminated',
] as const;

/**
 * `autoscaling/target-lifecycle-state`: plain text. Only `Terminated` means this instance is being
 * destroyed; `Warmed:*` sends it back to a warm pool (reference §1.4, gotcha 4).
 */
export function parseTargetLifecycleState(body: string, ctx: ParseContext): TerminationNotice | null {
  const path = IMDS_PATHS.targetLifecycleState;
  const state = body.trim();
  if (!(targetLifecycleStates as readonly string[]).includes(state)) {
    throw new ImdsBodyError(
      path,
      '(body)',
      `must be one of ${targetLifecycleStates.join(', ')}, got ${preview(body)}`,
    );
  }
  if (state !== 'Terminated') return null;
  // IMDS names neither the group nor the hook: completion goes by instance id.
  return baseNotice(ctx, 'asg-terminate', null, 'autoscaling/Terminated');
}

const SCHEDULED_KINDS: Record<string, NoticeKind> = {
  'instance-stop': 'scheduled-stop',
  'instance-retirement': 'scheduled-retire',
  'instance-reboot': 'scheduled-reboot',
  'system-reboot': 'scheduled-reboot',
  'system-maintenance': 'scheduled-reboot',
};

/**
 * `events/maintenance/scheduled`: a JSON array; empty body, `[]` mean none. Only `active` events
 * count (`canceled`/`completed` ones belong to history). The deadline is `NotBefore`.
 */
export function parseScheduledEvents(body: string, ctx: ParseContext): TerminationNotice[] {
  const path = IMDS_PATHS.scheduledEvents;
  if (body.trim() === '') return [];
  const doc = parseJson(path, body);
  if (!Array.isArray(doc))
    throw new ImdsBodyError(path, '(body)', `expected a JSON array, got ${preview(body)}`);
  const notices: TerminationNotice[] = [];
  doc.forEach((event: unknown, i) => {
    if (!event || typeof event !== 'object') {
      throw new ImdsBodyError(path, `[${i}]`, 'expected an object');
    }
    const e = event as Record<string, unknown>;
    if (e.State !== 'active') return;
    const kind = typeof e.Code === 'string' ? SCHEDULED_KINDS[e.Code] : undefined;
    if (!kind) {
      throw new ImdsBodyError(
        path,
        `[${i}].Code`,
        `must be one of ${Object.keys(SCHEDULED_KINDS).join(', ')}, got ${JSON.stringify(e.Code)}`,
      );
    }
    if (typeof e.EventId !== 'string' || !e.EventId) {
      throw new ImdsBodyError(path, `[${i}].EventId`, 'missing');
    }
    const notBefore = parseScheduledEventDate(e.NotBefore);
    if (notBefore === null) {
      throw new ImdsBodyError(
        path,
        `[${i}].NotBefore`,
        `must look like "21 Jan 2019 09:00:43 GMT", got ${JSON.stringify(e.NotBefore)}`,
      );
    }
    notices.push(baseNotice(ctx, kind, notBefore, e.EventId));
  });
  return notices;
}

/** `events/recommendations/rebalance`: `{"noticeTime": "2020-10-27T08:22:00Z"}`; advisory, no deadline. */
export function parseRebalance(body: string, ctx: ParseContext): TerminationNotice {
  const path = IMDS_PATHS.rebalance;
  const doc = parseJson(path, body) as { noticeTime?: unknown } | null;
  if (!doc || typeof doc !== 'object' || parseRfc3339(doc.noticeTime) === null) {
    throw new ImdsBodyError(
      path,
      'noticeTime',
      `must be an RFC 3339 time, got ${JSON.stringify(doc && typeof doc === 'object' ? doc.noticeTime : doc)}`,
    );
  }
  return baseNotice(ctx, 'rebalance', null, `rebalance/${doc.noticeTime as string}`);
}
