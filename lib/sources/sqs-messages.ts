import { NoticeKind, TerminationNotice } from '../notice';
import { parseRfc3339, SPOT_WARNING_MS } from './imds-notices';

/**
 * The pure SQS message classifier (reference §2.9). Every body gets a category and an explicit
 * decision — delete, release or retain, with a reason — that the consumer applies and logs with the
 * message id. A termination of this instance is `retain`ed: the coordinator holds the message until
 * the teardown and completion are done, then deletes it.
 */

export type MessageCategory =
  /** This instance is going away: hand the notice to the coordinator. */
  | 'termination'
  /** About another instance. */
  | 'foreign'
  /** Auto Scaling TEST_NOTIFICATION. */
  | 'test'
  /** About this instance, but not a termination (launch, warm pool, rebalance when advisory, reboot…). */
  | 'not-termination'
  /** Well-formed JSON we have no parser for. */
  | 'unknown'
  /** Not JSON, or a known shape with a missing/invalid field. */
  | 'malformed';

export type MessageAction = 'delete' | 'release' | 'retain';

export interface MessageDecision {
  action: MessageAction;
  reason: string;
  /** For `release`: seconds until the message is visible again (0 = now). */
  visibilitySeconds?: number;
}

export interface Classification {
  category: MessageCategory;
  decision: MessageDecision;
  /** For `termination`. */
  notice?: TerminationNotice;
  /** Which shape was recognised, for the log line. */
  format?: 'eventbridge' | 'asg-direct' | 'sns';
  /** Instance ids the message is about (empty for test/unknown/malformed). */
  instanceIds: string[];
}

export interface ClassifyContext {
  selfInstanceId: string;
  /** This host's account (IMDS identity document); when set, a message from another account is foreign. */
  selfAccountId?: string;
  /** This host's region; when set, an EventBridge event from another region is foreign. */
  selfRegion?: string;
  messageId: string;
  /** Epoch ms when the message was received. */
  receivedAt: number;
  /** SQS ApproximateReceiveCount (1 on first receive). */
  receiveCount: number;
  foreignMessages: 'release' | 'delete';
  /**
   * Shared queue: seconds a released foreign message stays invisible (≥ 1, jittered by the
   * consumer). Never 0: a host that hands a message straight back takes it again at once.
   */
  foreignReleaseSeconds: number;
  /** When set, malformed messages are left for the queue's DLQ until they have been received this often. */
  deadLetterAfterReceives?: number;
  teardownOnRebalance: boolean;
}

const TERMINATING = 'autoscaling:EC2_INSTANCE_TERMINATING';
const TEST_NOTIFICATION = 'autoscaling:TEST_NOTIFICATION';

class Malformed extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

function requireString(obj: Obj, field: string, prefix = ''): string {
  const v = obj[field];
  if (typeof v !== 'string' || v.trim() === '') {
    throw new Malformed(
      `${prefix}${field}`,
      v === undefined ? 'missing' : `must be a non-empty string, got ${JSON.stringify(v)}`,
    );
  }
  return v;
}

function parseJson(text: string, field: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Malformed(field, `not JSON (${(err as Error).message})`);
  }
}

export function classifyMessage(body: string | undefined, ctx: ClassifyContext): Classification {
  try {
    return classify(body, ctx);
  } catch (err) {
    if (!(err instanceof Malformed)) throw err;
    return malformed(err.message, ctx);
  }
}

function classify(body: string | undefined, ctx: ClassifyContext): Classification {
  if (body === undefined || body.trim() === '') throw new Malformed('(body)', 'empty');
  const outer = parseJson(body, '(body)');
  if (!isObj(outer)) throw new Malformed('(body)', `expected a JSON object, got ${preview(body)}`);
  let doc: Obj = outer;
  let format: Classification['format'];
  if (doc.Type === 'Notification' && typeof doc.Message === 'string') {
    // SNS envelope (raw delivery off): the original message is a JSON string in Message.
    const inner = parseJson(doc.Message, 'Message');
    if (!isObj(inner)) throw new Malformed('Message', `expected a JSON object, got ${preview(doc.Message)}`);
    doc = inner;
    format = 'sns';
  }
  if (typeof doc['detail-type'] === 'string' && typeof doc.source === 'string') {
    const c = eventBridge(doc, ctx);
    return {
      ...otherIdentity(c, { account: doc.account, region: doc.region }, ctx),
      format: format ?? 'eventbridge',
    };
  }
  if (isTestNotification(doc)) {
    return {
      category: 'test',
      decision: del('Auto Scaling test notification'),
      format: format ?? 'asg-direct',
      instanceIds: [],
    };
  }
  if (doc.Service === 'AWS Auto Scaling' || typeof doc.LifecycleTransition === 'string') {
    const c = lifecycle(doc, ctx, '');
    return { ...otherIdentity(c, { account: doc.AccountId }, ctx), format: format ?? 'asg-direct' };
  }
  return {
    category: 'unknown',
    decision: del('unrecognised message shape (no detail-type/source, no LifecycleTransition)'),
    format,
    instanceIds: [],
  };
}

/**
 * A message about this instance id from another account or region is about somebody else's
 * instance (ids are unique per account and region only) or forged: foreign, never a teardown.
 * Only what the message states is checked; a field it leaves out is not held against it.
 */
function otherIdentity(
  c: Classification,
  stated: { account?: unknown; region?: unknown },
  ctx: ClassifyContext,
): Classification {
  if (c.category === 'foreign' || c.category === 'test' || c.category === 'unknown') return c;
  const mismatches: string[] = [];
  if (ctx.selfAccountId && stated.account !== undefined && stated.account !== ctx.selfAccountId)
    mismatches.push(`account ${JSON.stringify(stated.account)} is not this host's ${ctx.selfAccountId}`);
  if (ctx.selfRegion && stated.region !== undefined && stated.region !== ctx.selfRegion)
    mismatches.push(`region ${JSON.stringify(stated.region)} is not this host's ${ctx.selfRegion}`);
  if (mismatches.length === 0) return c;
  const f = foreign(c.instanceIds, ctx);
  return { ...f, decision: { ...f.decision, reason: `${mismatches.join('; ')}: ${f.decision.reason}` } };
}

function isTestNotification(doc: Obj): boolean {
  return doc.Event === TEST_NOTIFICATION || doc.LifecycleTransition === TEST_NOTIFICATION;
}

function eventBridge(doc: Obj, ctx: ClassifyContext): Classification {
  const source = doc.source as string;
  const detailType = doc['detail-type'] as string;
  const eventTime = parseRfc3339(doc.time);
  if (!isObj(doc.detail)) throw new Malformed('detail', 'missing or not an object');
  const detail = doc.detail;
  if (isTestNotification(detail)) {
    return { category: 'test', decision: del('Auto Scaling test notification'), instanceIds: [] };
  }
  const key = `${source}|${detailType}`;
  switch (key) {
    case 'aws.autoscaling|EC2 Instance-terminate Lifecycle Action':
    case 'aws.autoscaling|EC2 Instance-launch Lifecycle Action':
      return lifecycle(detail, ctx, 'detail.');
    case 'aws.ec2|EC2 Spot Instance Interruption Warning':
    case 'aws.ec2|EC2 Capacity Reservation Instance Interruption Warning':
      return spotWarning(detail, ctx, eventTime);
    case 'aws.ec2|EC2 Instance Rebalance Recommendation': {
      const id = requireString(detail, 'instance-id', 'detail.');
      if (id !== ctx.selfInstanceId) return foreign([id], ctx);
      if (!ctx.teardownOnRebalance) {
        return {
          category: 'not-termination',
          decision: del('rebalance recommendation is advisory (sources.teardownOnRebalance is false)'),
          instanceIds: [id],
        };
      }
      return termination(notice(ctx, 'rebalance', null), [id]);
    }
    case 'aws.ec2|EC2 Instance State-change Notification': {
      const id = requireString(detail, 'instance-id', 'detail.');
      const state = requireString(detail, 'state', 'detail.');
      if (id !== ctx.selfInstanceId) return foreign([id], ctx);
      if (state === 'shutting-down' || state === 'terminated') {
        return termination(notice(ctx, 'state-change', null), [id]);
      }
      return {
        category: 'not-termination',
        decision: del(`instance state "${state}" is not a termination`),
        instanceIds: [id],
      };
    }
    case 'aws.health|AWS Health Event':
      return health(detail, ctx);
    default:
      return {
        category: 'unknown',
        decision: del(`no handler for EventBridge event (source "${source}", detail-type "${detailType}")`),
        instanceIds: [],
      };
  }
}

function lifecycle(d: Obj, ctx: ClassifyContext, prefix: string): Classification {
  const transition = requireString(d, 'LifecycleTransition', prefix);
  const id = requireString(d, 'EC2InstanceId', prefix);
  if (id !== ctx.selfInstanceId) return foreign([id], ctx);
  if (transition !== TERMINATING) {
    return {
      category: 'not-termination',
      decision: del(`lifecycle transition ${transition} is not a termination`),
      instanceIds: [id],
    };
  }
  const lifecycleRef = {
    autoScalingGroupName: requireString(d, 'AutoScalingGroupName', prefix),
    hookName: requireString(d, 'LifecycleHookName', prefix),
    token: requireString(d, 'LifecycleActionToken', prefix),
  };
  if (d.Destination === 'WarmPool') {
    return {
      category: 'not-termination',
      decision: del(
        'terminate lifecycle action with Destination "WarmPool": the instance returns to the warm pool',
      ),
      instanceIds: [id],
    };
  }
  return termination({ ...notice(ctx, 'asg-terminate', null), lifecycle: lifecycleRef }, [id]);
}

const SPOT_KINDS: Record<string, NoticeKind> = {
  terminate: 'spot-terminate',
  stop: 'spot-stop',
  hibernate: 'spot-hibernate',
};

function spotWarning(d: Obj, ctx: ClassifyContext, eventTime: number | null): Classification {
  const id = requireString(d, 'instance-id', 'detail.');
  if (id !== ctx.selfInstanceId) return foreign([id], ctx);
  const action = requireString(d, 'instance-action', 'detail.');
  const kind = SPOT_KINDS[action];
  if (!kind) {
    throw new Malformed(
      'detail.instance-action',
      `must be one of "terminate", "stop", "hibernate", got ${JSON.stringify(action)}`,
    );
  }
  // The event carries no interruption time: the action follows the warning by two minutes
  // (hibernation starts at once). A placeholder or missing `time` counts from receipt.
  const warnedAt = eventTime ?? ctx.receivedAt;
  const deadline = kind === 'spot-hibernate' ? warnedAt : warnedAt + SPOT_WARNING_MS;
  return termination(notice(ctx, kind, deadline), [id]);
}

function healthKind(code: string): NoticeKind | null {
  if (/RETIREMENT|TERMINATION/.test(code)) return 'scheduled-retire';
  if (/STOP/.test(code)) return 'scheduled-stop';
  if (/REBOOT|MAINTENANCE/.test(code)) return 'scheduled-reboot';
  return null;
}

function health(d: Obj, ctx: ClassifyContext): Classification {
  const service = requireString(d, 'service', 'detail.');
  const category = requireString(d, 'eventTypeCategory', 'detail.');
  const code = requireString(d, 'eventTypeCode', 'detail.');
  if (!Array.isArray(d.affectedEntities))
    throw new Malformed('detail.affectedEntities', 'missing or not an array');
  const ids = d.affectedEntities
    .map((e) => (isObj(e) && typeof e.entityValue === 'string' ? e.entityValue : null))
    .filter((v): v is string => v !== null);
  // One event can list many instances: look at every entity, not just the first.
  if (!ids.includes(ctx.selfInstanceId)) return foreign(ids, ctx);
  if (service !== 'EC2' || category !== 'scheduledChange') {
    return {
      category: 'not-termination',
      decision: del(`AWS Health ${service} ${category} event ${code} is not an EC2 scheduled change`),
      instanceIds: ids,
    };
  }
  const kind = healthKind(code);
  if (kind === null || kind === 'scheduled-reboot') {
    return {
      category: 'not-termination',
      decision: del(`AWS Health event ${code} does not end this instance`),
      instanceIds: ids,
    };
  }
  const startTime = requireString(d, 'startTime', 'detail.');
  const start = Date.parse(startTime);
  if (Number.isNaN(start))
    throw new Malformed('detail.startTime', `not a date: ${JSON.stringify(startTime)}`);
  return termination(notice(ctx, kind, start), ids);
}

function notice(ctx: ClassifyContext, kind: NoticeKind, deadline: number | null): TerminationNotice {
  return {
    instanceId: ctx.selfInstanceId,
    kind,
    deadline: deadline === null ? null : new Date(deadline).toISOString(),
    source: 'sqs',
    receivedAt: new Date(ctx.receivedAt).toISOString(),
    sourceId: ctx.messageId,
  };
}

function termination(n: TerminationNotice, instanceIds: string[]): Classification {
  return {
    category: 'termination',
    notice: n,
    decision: { action: 'retain', reason: 'held until the teardown and lifecycle completion are done' },
    instanceIds,
  };
}

function foreign(ids: string[], ctx: ClassifyContext): Classification {
  const about = ids.length ? ids.join(', ') : 'no instance';
  return {
    category: 'foreign',
    decision:
      ctx.foreignMessages === 'delete'
        ? del(`about ${about}, not this instance (sources.sqs.foreignMessages is "delete")`)
        : {
            action: 'release',
            visibilitySeconds: Math.max(1, Math.round(ctx.foreignReleaseSeconds)),
            reason: `about ${about}, not this instance: released for its owner in ${Math.max(1, Math.round(ctx.foreignReleaseSeconds))} s`,
          },
    instanceIds: ids,
  };
}

function malformed(problem: string, ctx: ClassifyContext): Classification {
  const limit = ctx.deadLetterAfterReceives;
  if (limit !== undefined && ctx.receiveCount < limit) {
    return {
      category: 'malformed',
      decision: {
        action: 'retain',
        reason: `malformed (${problem}); left for the queue's dead-letter queue (receive ${ctx.receiveCount} of ${limit})`,
      },
      instanceIds: [],
    };
  }
  return {
    category: 'malformed',
    decision: del(
      limit === undefined
        ? `malformed (${problem})`
        : `malformed (${problem}); still here after ${ctx.receiveCount} receives (sources.sqs.deadLetterAfterReceives ${limit})`,
    ),
    instanceIds: [],
  };
}

function del(reason: string): MessageDecision {
  return { action: 'delete', reason };
}

function preview(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return JSON.stringify(flat.length > 80 ? `${flat.slice(0, 80)}…` : flat);
}
