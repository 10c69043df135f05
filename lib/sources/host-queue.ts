import type { SNSClient } from '@aws-sdk/client-sns';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { CallConfig } from '../aws/call';
import {
  errorCodeOf,
  isNoSuchQueue,
  isQueueDeletedRecently,
  isSnsNotFound,
  isSubscriptionAttributesConflict,
} from '../aws/errors';
import {
  createQueue,
  deleteQueue,
  getQueueAttributes,
  listQueues,
  listTopicSubscriptions,
  QueueCallContext,
  QueueCallOptions,
  setQueuePolicy,
  setSubscriptionAttribute,
  subscribeQueue,
  unsubscribe,
} from '../aws/queue-calls';
import { Clock } from '../clock';
import type { EpisodeState } from '../episode/journal';
import { Logger } from '../log';
import type { NoticeKind } from '../notice';

/**
 * The per-host queue (the standard topology): the group's EventBridge rules and lifecycle hook
 * notify one SNS topic; each daemon owns `teardownd-<instance-id>`, lets the topic send to it and
 * subscribes it with raw delivery and a payload filter on its own instance id, so only its own
 * notices arrive and no host ever receives (or hands back) another host's message.
 *
 * `ensure` is idempotent across restarts and reboots (same name → same queue, pending messages
 * kept; the policy and subscription attributes are re-applied). `retire` unsubscribes and deletes
 * the queue; the daemon calls it only when `queueRetirement` says the host is really going.
 */

/** The fixed name prefix: the IAM policy lets a host (and the sweeper) delete only these queues. */
export const HOST_QUEUE_PREFIX = 'teardownd-';

/** SNS payload filters take at most 5 top-level keys: the instance-id paths go under one `$or`. */
export function hostFilterPolicy(instanceId: string): Record<string, unknown> {
  return {
    $or: [
      // EventBridge: lifecycle action (detail.EC2InstanceId)
      { detail: { EC2InstanceId: [instanceId] } },
      // EventBridge: spot interruption, rebalance, state change (detail.instance-id)
      { detail: { 'instance-id': [instanceId] } },
      // AWS Health: every affected entity is looked at, not only the first
      { detail: { affectedEntities: { entityValue: [instanceId] } } },
      // AWS Health also lists the bare instance ids in `resources`
      { resources: [instanceId] },
      // Auto Scaling lifecycle notification published by the hook itself (no EventBridge envelope)
      { EC2InstanceId: [instanceId] },
    ],
  };
}

export function hostQueueName(instanceId: string): string {
  return `${HOST_QUEUE_PREFIX}${instanceId}`;
}

/** The instance id a per-host queue (name, URL or ARN) belongs to, or undefined for other queues. */
export function instanceIdOfHostQueue(ref: string): string | undefined {
  const name = ref.replace(/\/+$/, '').split(/[/:]/).pop() ?? '';
  const m = /^teardownd-(i-[0-9a-f]{8,17})$/.exec(name);
  return m?.[1];
}

/** Lets exactly this topic send to the queue (SNS needs it even within one account). */
export function hostQueuePolicy(queueArn: string, topicArn: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'teardowndTopicSends',
        Effect: 'Allow',
        Principal: { Service: 'sns.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Resource: queueArn,
        Condition: { ArnEquals: { 'aws:SourceArn': topicArn } },
      },
    ],
  });
}

export function hostSubscriptionAttributes(instanceId: string): Record<string, string> {
  return {
    RawMessageDelivery: 'true',
    FilterPolicyScope: 'MessageBody',
    FilterPolicy: JSON.stringify(hostFilterPolicy(instanceId)),
  };
}

/** Kinds after which the instance itself is gone (a stop or hibernation keeps it, and its queue). */
const TERMINATING_KINDS = new Set<NoticeKind>([
  'spot-terminate',
  'asg-terminate',
  'scheduled-retire',
  'state-change',
]);

/**
 * Whether the per-host queue may be removed after this episode: only once a terminate episode has
 * closed (whatever the gate decided) and its lifecycle action is settled, never on dry-run, a stop,
 * a reboot or a restart. A failed completion keeps the queue: the sweeper removes it once the
 * instance is gone — a leak, never a host that stops hearing its notices while it still runs.
 */
export function queueRetirement(state: EpisodeState | undefined): { retire: boolean; reason: string } {
  if (!state) return { retire: false, reason: 'no episode' };
  if (!state.closed) return { retire: false, reason: 'episode still open' };
  if (state.dryRun) return { retire: false, reason: 'dry-run episode' };
  const kinds = state.notices.map((n) => n.kind);
  if (!kinds.some((k) => TERMINATING_KINDS.has(k))) {
    return { retire: false, reason: `not a termination (${[...new Set(kinds)].join(', ')})` };
  }
  // `not-needed` with the instance still in a group state (e.g. InService after a spot notice) means
  // Auto Scaling may yet start a lifecycle action whose notice comes by this queue: keep it.
  const settled = state.completions.some(
    (c) =>
      c.result === 'completed' ||
      c.result === 'already-done' ||
      (c.result === 'not-needed' && !/^instance is /.test(c.detail ?? '')),
  );
  if (!settled) return { retire: false, reason: 'lifecycle action not completed' };
  return { retire: true, reason: 'terminate episode closed and lifecycle action settled' };
}

export interface HostQueueDeps {
  sqs: SQSClient;
  sns: SNSClient;
  topicArn: string;
  instanceId: string;
  /** aws.* and executor.*: the calls' timeouts and retries (lib/aws/call.ts). */
  config: CallConfig;
  clock: Clock;
  logger: Logger;
  /** Dry-run: create nothing, only use the queue if it already exists. */
  dryRun: boolean;
  /** Pause between CreateQueue attempts refused with QueueDeletedRecently (SQS refuses for 60 s). */
  recreateRetryMs: number;
}

export interface HostQueueRef {
  queueUrl: string;
  queueArn: string;
  subscriptionArn?: string;
}

/**
 * Attempts per setup call: the caller retries the whole setup in the background (SqsSource), and
 * the first try comes before `ready`, which an SNS outage must not hold up for long.
 */
const SETUP_CALL_ATTEMPTS = 3;
/** SQS refuses a name for 60 s after its queue was deleted. */
const RECREATE_REFUSED_FOR_MS = 60000;

export class HostQueue {
  readonly name: string;
  private ref?: HostQueueRef;

  constructor(private readonly deps: HostQueueDeps) {
    this.name = hostQueueName(deps.instanceId);
  }

  /**
   * Creates (or finds) the queue, sets its policy and subscribes it. Resolves to the queue, or to
   * undefined in dry-run when the queue does not exist yet. Throws the SDK error (with its code) on
   * any other failure: the caller logs it and tries again later.
   */
  async ensure(signal?: AbortSignal): Promise<HostQueueRef | undefined> {
    const { sqs, topicArn, instanceId, logger, dryRun } = this.deps;
    const log = { instanceId, stage: 'sqs-setup', resource: this.name };
    const ctx = this.callContext(signal);
    const o: QueueCallOptions = { maxAttempts: SETUP_CALL_ATTEMPTS, logFields: log };
    if (dryRun) {
      const url = (await listQueues(ctx, sqs, this.name, o)).find((u) => u.endsWith(`/${this.name}`));
      if (!url) {
        logger.warn('dry-run: the per-host queue does not exist and is not created; SQS source off', log);
        return undefined;
      }
      const arn = (await getQueueAttributes(ctx, sqs, url, ['QueueArn'], o)).QueueArn;
      this.ref = { queueUrl: url, queueArn: arn };
      logger.info('dry-run: using the existing per-host queue as it is', { ...log, queueUrl: url });
      return this.ref;
    }
    const started = this.deps.clock.now();
    const queueUrl = await this.createQueue(ctx, o);
    const queueArn = (await getQueueAttributes(ctx, sqs, queueUrl, ['QueueArn'], o)).QueueArn;
    if (!queueArn) throw new Error(`GetQueueAttributes ${queueUrl} returned no QueueArn`);
    await setQueuePolicy(ctx, sqs, queueUrl, hostQueuePolicy(queueArn, topicArn), o);
    const subscriptionArn = await this.subscribe(queueArn, ctx, o);
    this.ref = { queueUrl, queueArn, subscriptionArn };
    logger.info('per-host queue ready', {
      ...log,
      action: 'Subscribe',
      queueUrl,
      topicArn,
      subscriptionArn,
      durationMs: this.deps.clock.now() - started,
    });
    return this.ref;
  }

  /** The call path's context for calls cut by `signal` (shutdown, the setup loop stopping). */
  private callContext(signal?: AbortSignal): QueueCallContext {
    const { clock, config, logger } = this.deps;
    return { clock, config, logger, signal };
  }

  private async createQueue(ctx: QueueCallContext, o: QueueCallOptions): Promise<string> {
    const { logger, clock, instanceId, recreateRetryMs } = this.deps;
    const started = clock.now();
    for (let attempt = 1; ; attempt++) {
      try {
        return await createQueue(ctx, this.deps.sqs, this.name, o);
      } catch (err) {
        const code = errorCodeOf(err);
        // Re-creating a name within 60 s of its deletion is refused; waiting it out is the only way.
        if (!isQueueDeletedRecently(err) || clock.now() - started > RECREATE_REFUSED_FOR_MS * 2) throw err;
        logger.warn('queue name deleted recently; SQS refuses it for 60 s, retrying', {
          instanceId,
          stage: 'sqs-setup',
          resource: this.name,
          action: 'CreateQueue',
          errorCode: code,
          attempt,
        });
        await clock.sleep(recreateRetryMs, ctx.signal);
      }
    }
  }

  private async subscribe(queueArn: string, ctx: QueueCallContext, o: QueueCallOptions): Promise<string> {
    const { sns, topicArn, instanceId, logger } = this.deps;
    const attributes = hostSubscriptionAttributes(instanceId);
    let arn: string;
    try {
      arn = await subscribeQueue(ctx, sns, topicArn, queueArn, attributes, o);
    } catch (err) {
      // An older subscription of this queue with other attributes (an earlier filter): update it.
      if (!isSubscriptionAttributesConflict(err)) throw err;
      const existing = (await listTopicSubscriptions(ctx, sns, topicArn, o)).find(
        (s) => s.endpoint === queueArn && s.confirmed,
      );
      if (!existing) throw err;
      arn = existing.subscriptionArn;
      // Scope before the policy: a nested body policy is invalid under the attribute scope.
      for (const name of ['FilterPolicyScope', 'FilterPolicy', 'RawMessageDelivery']) {
        await setSubscriptionAttribute(ctx, sns, arn, name, attributes[name], o);
      }
      logger.info('per-host subscription updated to the current filter', {
        instanceId,
        stage: 'sqs-setup',
        resource: arn,
        action: 'SetSubscriptionAttributes',
      });
    }
    if (!arn.startsWith('arn:') || /pending/i.test(arn)) {
      // The queue's owner subscribing is confirmed at once; pending means someone else's credentials.
      logger.error('the subscription waits for confirmation: notices will not arrive until it is confirmed', {
        instanceId,
        stage: 'sqs-setup',
        resource: queueArn,
        topicArn,
        hint: "run the daemon with the queue owner's credentials (the instance role), or confirm with the SubscriptionConfirmation's token (aws sns confirm-subscription)",
      });
    }
    return arn;
  }

  /** Unsubscribes and deletes the queue; "not found" counts as done. Never throws. */
  async retire(signal?: AbortSignal): Promise<boolean> {
    const { sqs, sns, topicArn, instanceId, logger, clock } = this.deps;
    const started = clock.now();
    const log = { instanceId, stage: 'sqs-retire', resource: this.name };
    const ctx = this.callContext(signal);
    const o: QueueCallOptions = { logFields: log };
    let ok = true;
    const step = async (action: string, resource: string, run: () => Promise<void>) => {
      try {
        await run();
      } catch (err) {
        if (isNoSuchQueue(err) || isSnsNotFound(err)) return;
        const code = errorCodeOf(err);
        ok = false;
        logger.warn(
          'could not remove the per-host queue; the sweeper removes it once this instance is gone',
          {
            ...log,
            resource,
            action,
            errorCode: code,
            error: (err as Error).message,
          },
        );
      }
    };
    let queueUrl = this.ref?.queueUrl;
    let queueArn = this.ref?.queueArn;
    if (!queueUrl) {
      await step('ListQueues', this.name, async () => {
        queueUrl = (await listQueues(ctx, sqs, this.name, o)).find((u) => u.endsWith(`/${this.name}`));
        if (queueUrl) queueArn = (await getQueueAttributes(ctx, sqs, queueUrl, ['QueueArn'], o)).QueueArn;
      });
    }
    const subscriptionArns = this.ref?.subscriptionArn?.startsWith('arn:') ? [this.ref.subscriptionArn] : [];
    if (subscriptionArns.length === 0 && queueArn) {
      await step('ListSubscriptionsByTopic', topicArn, async () => {
        const subs = await listTopicSubscriptions(ctx, sns, topicArn, o);
        subscriptionArns.push(
          ...subs.filter((s) => s.endpoint === queueArn && s.confirmed).map((s) => s.subscriptionArn),
        );
      });
    }
    for (const arn of subscriptionArns) await step('Unsubscribe', arn, () => unsubscribe(ctx, sns, arn, o));
    if (queueUrl) await step('DeleteQueue', queueUrl, () => deleteQueue(ctx, sqs, queueUrl!, o));
    if (ok) {
      logger.info('per-host queue and subscription removed: this host is going', {
        ...log,
        action: 'DeleteQueue',
        subscriptions: subscriptionArns,
        durationMs: clock.now() - started,
      });
    }
    this.ref = undefined;
    return ok;
  }
}
