import { getQueueAttributes, listTopicSubscriptions } from '../aws/queue-calls';
import { hostQueueName, instanceIdOfHostQueue } from '../sources/host-queue';
import { errorCodeOf, isAccessDenied, isNoSuchQueue, isSnsNotFound } from '../aws/errors';
import { type Config } from '../config/schema';
import {
  CheckResult,
  CheckClients,
  CheckDeps,
  grantFix,
  messageOf,
  CHECK_ATTEMPTS,
  callContext,
} from './common';

/** The notification path: the shared queue, or the group topic and its per-host queues. */

/** The queue or topic a check reads, and what to say when it cannot. */
interface NotificationTarget {
  /** `queue <url>` / `topic <arn>`. */
  name: string;
  resource: string;
  /** The IAM action of the read. */
  action: string;
  isMissing(err: unknown): boolean;
  missingFix: string;
  unreachableFix: string;
}

/** A failed read of the queue or topic, as a check line: it does not exist, is denied, or unreachable. */
function readFailure(t: NotificationTarget, err: unknown): CheckResult {
  const code = errorCodeOf(err);
  const fail = (what: string, fix: string): CheckResult => ({
    status: 'FAIL',
    check: 'sqs',
    what,
    fix,
    errorCode: code,
  });
  if (t.isMissing(err)) return fail(`${t.name} does not exist (${code})`, t.missingFix);
  if (isAccessDenied(err))
    return fail(`${t.action} on ${t.resource} denied (${code})`, grantFix(t.action, t.resource));
  return fail(`${t.name} unreachable: ${code}: ${messageOf(err)}`, t.unreachableFix);
}

export async function checkQueue(deps: CheckDeps, clients: CheckClients): Promise<CheckResult> {
  const queueUrl = deps.config.sources.sqs.queueUrl;
  if (!queueUrl) {
    return {
      status: 'WARN',
      check: 'sqs',
      what: 'no SQS source: neither sources.sqs.topicArn nor sources.sqs.queueUrl is set',
      fix: 'set sources.sqs.topicArn (TopicArn output of scripts/aws-setup.yaml) to also receive lifecycle, Health and state-change events; IMDS and the shutdown probe still work',
    };
  }
  let a: Record<string, string>;
  try {
    a = await getQueueAttributes(
      callContext(deps),
      clients.sqs,
      queueUrl,
      ['QueueArn', 'VisibilityTimeout', 'RedrivePolicy', 'ApproximateNumberOfMessages'],
      { maxAttempts: CHECK_ATTEMPTS },
    );
  } catch (err) {
    return readFailure(
      {
        name: `queue ${queueUrl}`,
        resource: queueUrl,
        action: 'sqs:GetQueueAttributes',
        isMissing: isNoSuchQueue,
        missingFix:
          'fix sources.sqs.queueUrl (the QueueUrl output of scripts/aws-setup.yaml) or create the queue',
        unreachableFix:
          'check sources.sqs.queueUrl, the region, and network access to SQS (VPC endpoint, proxy)',
      },
      err,
    );
  }
  const dlq = a.RedrivePolicy ? 'with a DLQ' : 'without a DLQ';
  if (deps.config.sources.sqs.deadLetterAfterReceives && !a.RedrivePolicy) {
    return {
      status: 'WARN',
      check: 'sqs',
      what: `queue ${queueUrl} readable, but it has no RedrivePolicy while sources.sqs.deadLetterAfterReceives is set`,
      fix: 'give the queue a dead-letter queue (scripts/aws-setup.yaml does) or unset deadLetterAfterReceives, or malformed messages are redelivered forever',
    };
  }
  const sizing = redriveSizing(deps.config, a.RedrivePolicy);
  if (sizing)
    return { status: 'WARN', check: 'sqs', what: `queue ${queueUrl}: ${sizing.what}`, fix: sizing.fix };
  return {
    status: 'OK',
    check: 'sqs',
    what: `queue ${queueUrl} readable (${a.ApproximateNumberOfMessages ?? '?'} message(s) waiting, visibility ${a.VisibilityTimeout ?? '?'} s, ${dlq})`,
  };
}

/**
 * The shared-queue sizing rule. Every host that is not a message's owner still receives it (and
 * hands it back after a delay), and each receive counts toward the redrive policy: with N consumers
 * the owner is the receiver each time with probability 1/N, so the chance its notice is
 * dead-lettered is ((N−1)/N)^maxReceiveCount. maxReceiveCount ≥ 10 × N keeps that below e^-10
 * (≈ 5 in 100,000); the owner then waits on average (N − 1) × the mean release delay.
 */
export const SHARED_QUEUE_RECEIVES_PER_CONSUMER = 10;

export function redriveSizing(
  config: Config,
  redrivePolicy: string | undefined,
): { what: string; fix: string } | undefined {
  const sqs = config.sources.sqs;
  if (!redrivePolicy || sqs.foreignMessages === 'delete') return undefined;
  let maxReceiveCount: number;
  try {
    maxReceiveCount = Number((JSON.parse(redrivePolicy) as { maxReceiveCount?: unknown }).maxReceiveCount);
  } catch {
    return undefined;
  }
  if (!Number.isFinite(maxReceiveCount)) return undefined;
  if (sqs.sharedQueueConsumers === undefined) {
    return {
      what: `shared by the group, with a redrive policy of maxReceiveCount ${maxReceiveCount}, but sources.sqs.sharedQueueConsumers is not set`,
      fix: `set it to the group's maximum size so the sizing can be checked (maxReceiveCount ≥ ${SHARED_QUEUE_RECEIVES_PER_CONSUMER} × consumers), or move to sources.sqs.topicArn (a queue per host)`,
    };
  }
  const needed = SHARED_QUEUE_RECEIVES_PER_CONSUMER * sqs.sharedQueueConsumers;
  if (maxReceiveCount >= needed) return undefined;
  return {
    what: `redrive maxReceiveCount ${maxReceiveCount} is tighter than ${SHARED_QUEUE_RECEIVES_PER_CONSUMER} × ${sqs.sharedQueueConsumers} consumers = ${needed}: other hosts' receives can dead-letter a notice before its owner sees it`,
    fix: `raise maxReceiveCount to at least ${needed}, or move to sources.sqs.topicArn (a queue per host, nothing foreign to hand back)`,
  };
}

/** SNS's default quota of filter policies per topic: one per host of the group. */
export const FILTER_POLICIES_PER_TOPIC = 200;

/** Standard topology: the topic is readable, this host's queue (once created), and the quota. */
export async function checkTopic(
  deps: CheckDeps,
  clients: CheckClients,
  instanceId: string | undefined,
): Promise<CheckResult> {
  const topicArn = deps.config.sources.sqs.topicArn!;
  let subs: Awaited<ReturnType<typeof listTopicSubscriptions>>;
  try {
    subs = await listTopicSubscriptions(callContext(deps), clients.sns, topicArn, {
      maxAttempts: CHECK_ATTEMPTS,
    });
  } catch (err) {
    return readFailure(
      {
        name: `topic ${topicArn}`,
        resource: topicArn,
        action: 'sns:ListSubscriptionsByTopic',
        isMissing: isSnsNotFound,
        missingFix: 'fix sources.sqs.topicArn (the TopicArn output of scripts/aws-setup.yaml)',
        unreachableFix:
          'check sources.sqs.topicArn, the region, and network access to SNS (VPC endpoint, proxy)',
      },
      err,
    );
  }
  const hostQueues = subs.filter((s) => s.protocol === 'sqs' && instanceIdOfHostQueue(s.endpoint));
  const own = instanceId
    ? hostQueues.find((s) => instanceIdOfHostQueue(s.endpoint) === instanceId)
    : undefined;
  const where = `topic ${topicArn}: ${hostQueues.length} host queue(s) subscribed`;
  if (hostQueues.length >= FILTER_POLICIES_PER_TOPIC * 0.9) {
    return {
      status: 'WARN',
      check: 'sqs',
      what: `${where}, near SNS's default ${FILTER_POLICIES_PER_TOPIC} filter policies per topic`,
      fix: 'raise the "Filter policies per topic" quota (Service Quotas) before the group grows, or give part of the group its own topic',
    };
  }
  return {
    status: 'OK',
    check: 'sqs',
    what: `${where}${instanceId ? (own ? `, ${hostQueueName(instanceId)} among them` : `; ${hostQueueName(instanceId)} is created when the daemon starts`) : ''}`,
  };
}
