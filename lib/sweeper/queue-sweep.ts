import type { EC2Client } from '@aws-sdk/client-ec2';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { errorCodeOf, isNoSuchQueue, isSnsNotFound } from '../aws/errors';
import {
  deleteQueue,
  listQueues,
  listTopicSubscriptions,
  QueueCallContext,
  unsubscribe,
} from '../aws/queue-calls';
import { Clock } from '../clock';
import { Config } from '../config/schema';
import { Logger } from '../log';
import { HOST_QUEUE_PREFIX, instanceIdOfHostQueue } from '../sources/host-queue';
import { probeInstanceState } from '../sources/shutdown-probe';

/**
 * The per-host queues of hosts that died without retiring them (no warning, daemon down, a failed
 * completion): every `teardownd-<instance-id>` queue, and every subscription of the topic to such a
 * queue, whose instance EC2 reports `terminated` or no longer knows. A running, stopped or
 * shutting-down instance keeps its queue (a stopped host comes back; a shutting-down one retires its
 * own). Report mode changes nothing; apply unsubscribes, then deletes the queue. Never throws.
 */
export interface QueueSweepDeps {
  sqs: SQSClient;
  sns: SNSClient;
  ec2: EC2Client;
  config: Config;
  clock: Clock;
  logger: Logger;
}

export interface QueueSweepResult {
  /** Queue names (or subscription ARNs without a queue) of gone instances, removed in apply mode. */
  orphans: Array<{ instanceId: string; queue?: string; subscriptions: string[]; removed: boolean }>;
  kept: Array<{ instanceId: string; reason: string }>;
  errors: string[];
}

export async function sweepHostQueues(
  deps: QueueSweepDeps,
  opts: { mode: 'report' | 'apply'; selfInstanceId?: string; signal?: AbortSignal },
): Promise<QueueSweepResult> {
  const { sqs, sns, config, logger } = deps;
  // No deadline: a sweep is not in a hurry; the signal (shutdown, ^C) cuts a call in flight.
  const ctx: QueueCallContext = { clock: deps.clock, config, logger, signal: opts.signal };
  const topicArn = config.sources.sqs.topicArn;
  const result: QueueSweepResult = { orphans: [], kept: [], errors: [] };
  const log = { stage: 'sweep-queues', instanceId: opts.selfInstanceId };
  const fail = (action: string, resource: string, err: unknown) => {
    const errorCode = errorCodeOf(err);
    result.errors.push(`${action} ${resource}: ${errorCode}`);
    logger.warn('queue sweep call failed', {
      ...log,
      action,
      resource,
      errorCode,
      error: (err as Error).message,
    });
  };
  const queues = new Map<string, string>(); // instance id → queue URL
  try {
    for (const url of await listQueues(ctx, sqs, HOST_QUEUE_PREFIX)) {
      const id = instanceIdOfHostQueue(url);
      if (id) queues.set(id, url);
    }
  } catch (err) {
    fail('ListQueues', HOST_QUEUE_PREFIX, err);
    return result;
  }
  const subs = new Map<string, string[]>(); // instance id → subscription ARNs
  if (topicArn) {
    try {
      for (const s of await listTopicSubscriptions(ctx, sns, topicArn)) {
        const id = s.protocol === 'sqs' ? instanceIdOfHostQueue(s.endpoint) : undefined;
        if (id && s.confirmed) subs.set(id, [...(subs.get(id) ?? []), s.subscriptionArn]);
      }
    } catch (err) {
      fail('ListSubscriptionsByTopic', topicArn, err);
    }
  }
  for (const id of [...new Set([...queues.keys(), ...subs.keys()])].sort()) {
    if (opts.signal?.aborted) break;
    if (id === opts.selfInstanceId) continue;
    const probe = await probeInstanceState(deps, id, opts.signal);
    const gone = probe.state === 'terminated' || /^InvalidInstanceID\.NotFound$/.test(probe.errorCode ?? '');
    if (!gone) {
      result.kept.push({
        instanceId: id,
        reason: probe.state ? `instance is ${probe.state}` : `unknown (${probe.errorCode})`,
      });
      continue;
    }
    const orphan = {
      instanceId: id,
      queue: queues.get(id),
      subscriptions: subs.get(id) ?? [],
      removed: false,
    };
    result.orphans.push(orphan);
    if (opts.mode !== 'apply') {
      logger.info('per-host queue of a gone instance (report mode: left in place)', {
        ...log,
        resource: orphan.queue ?? orphan.subscriptions[0],
        owner: id,
      });
      continue;
    }
    let ok = true;
    for (const arn of orphan.subscriptions) {
      try {
        await unsubscribe(ctx, sns, arn);
      } catch (err) {
        if (!isSnsNotFound(err)) {
          ok = false;
          fail('Unsubscribe', arn, err);
        }
      }
    }
    if (orphan.queue) {
      try {
        await deleteQueue(ctx, sqs, orphan.queue);
      } catch (err) {
        if (!isNoSuchQueue(err)) {
          ok = false;
          fail('DeleteQueue', orphan.queue, err);
        }
      }
    }
    orphan.removed = ok;
    if (ok) {
      logger.info('removed the per-host queue of a gone instance', {
        ...log,
        action: 'DeleteQueue',
        resource: orphan.queue ?? orphan.subscriptions[0],
        owner: id,
        subscriptions: orphan.subscriptions,
      });
    }
  }
  return result;
}
