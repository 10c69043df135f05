import {
  ListSubscriptionsByTopicCommand,
  ListSubscriptionsByTopicResponse,
  SetSubscriptionAttributesCommand,
  SNSClient,
  SubscribeCommand,
  SubscribeResponse,
  UnsubscribeCommand,
} from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  CreateQueueResult,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueAttributesResult,
  ListQueuesCommand,
  ListQueuesResult,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { AwsCallContext, AwsCallOptions, awsCall, AwsCommand } from './call';

/**
 * Every SNS/SQS call that sets up, lists or removes a per-host queue and its subscription, each
 * built in exactly one function (listed in lib/aws/api-calls.ts) and made through the one call path
 * (lib/aws/call.ts): cut by aws.callTimeoutMs, the caller's signal (in `ctx`) and deadline, retried
 * when throttled or failing on AWS's side. Each returns plain data; errors are the SDK's, classified
 * by the callers with lib/aws/errors.ts.
 */
export type QueueCallContext = AwsCallContext;

/**
 * Per call: `maxAttempts` for callers with a retry loop of their own (the per-host queue's setup is
 * retried in the background; `check` has someone waiting), `logFields` for the retry lines.
 */
export type QueueCallOptions = Pick<AwsCallOptions, 'maxAttempts' | 'logFields'>;

export interface TopicSubscription {
  subscriptionArn: string;
  protocol: string;
  endpoint: string;
  /** False while the subscription waits for confirmation (ARN `PendingConfirmation`). */
  confirmed: boolean;
}

async function call<O>(
  ctx: QueueCallContext,
  client: SQSClient | SNSClient,
  command: AwsCommand,
  mutating: boolean,
  o: QueueCallOptions,
): Promise<O> {
  return (await awsCall<O>(ctx, client, command, { mutating, ...o })).output;
}

/** CreateQueue with no attributes: always idempotent for an existing queue of that name. */
export async function createQueue(
  ctx: QueueCallContext,
  sqs: SQSClient,
  name: string,
  o: QueueCallOptions = {},
): Promise<string> {
  const out = await call<CreateQueueResult>(ctx, sqs, new CreateQueueCommand({ QueueName: name }), true, o);
  if (!out.QueueUrl) throw new Error(`CreateQueue ${name} returned no QueueUrl`);
  return out.QueueUrl;
}

/** The named queue attributes (GetQueueAttributes). */
export async function getQueueAttributes(
  ctx: QueueCallContext,
  sqs: SQSClient,
  queueUrl: string,
  names: string[],
  o: QueueCallOptions = {},
): Promise<Record<string, string>> {
  const out = await call<GetQueueAttributesResult>(
    ctx,
    sqs,
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: names as never }),
    false,
    o,
  );
  return (out.Attributes ?? {}) as Record<string, string>;
}

export async function setQueuePolicy(
  ctx: QueueCallContext,
  sqs: SQSClient,
  queueUrl: string,
  policy: string,
  o: QueueCallOptions = {},
): Promise<void> {
  await call(
    ctx,
    sqs,
    new SetQueueAttributesCommand({ QueueUrl: queueUrl, Attributes: { Policy: policy } }),
    true,
    o,
  );
}

export async function deleteQueue(
  ctx: QueueCallContext,
  sqs: SQSClient,
  queueUrl: string,
  o: QueueCallOptions = {},
): Promise<void> {
  await call(ctx, sqs, new DeleteQueueCommand({ QueueUrl: queueUrl }), true, o);
}

/** Every queue URL whose name starts with `prefix` (all pages). */
export async function listQueues(
  ctx: QueueCallContext,
  sqs: SQSClient,
  prefix: string,
  o: QueueCallOptions = {},
): Promise<string[]> {
  const urls: string[] = [];
  let NextToken: string | undefined;
  // Bounded: 100 pages of 1,000 queues is far beyond SQS's per-prefix listing.
  for (let page = 0; page < 100; page++) {
    const out = await call<ListQueuesResult>(
      ctx,
      sqs,
      new ListQueuesCommand({ QueueNamePrefix: prefix, MaxResults: 1000, NextToken }),
      false,
      o,
    );
    urls.push(...(out.QueueUrls ?? []));
    NextToken = out.NextToken;
    if (!NextToken) break;
  }
  return urls;
}

/** Subscribe with its attributes in the same call, so the queue never sees unfiltered traffic. */
export async function subscribeQueue(
  ctx: QueueCallContext,
  sns: SNSClient,
  topicArn: string,
  queueArn: string,
  attributes: Record<string, string>,
  o: QueueCallOptions = {},
): Promise<string> {
  const out = await call<SubscribeResponse>(
    ctx,
    sns,
    new SubscribeCommand({
      TopicArn: topicArn,
      Protocol: 'sqs',
      Endpoint: queueArn,
      Attributes: attributes,
      ReturnSubscriptionArn: true,
    }),
    true,
    o,
  );
  if (!out.SubscriptionArn)
    throw new Error(`Subscribe ${queueArn} to ${topicArn} returned no SubscriptionArn`);
  return out.SubscriptionArn;
}

export async function setSubscriptionAttribute(
  ctx: QueueCallContext,
  sns: SNSClient,
  subscriptionArn: string,
  name: string,
  value: string,
  o: QueueCallOptions = {},
): Promise<void> {
  await call(
    ctx,
    sns,
    new SetSubscriptionAttributesCommand({
      SubscriptionArn: subscriptionArn,
      AttributeName: name,
      AttributeValue: value,
    }),
    true,
    o,
  );
}

/** Every subscription of the topic (all pages). */
export async function listTopicSubscriptions(
  ctx: QueueCallContext,
  sns: SNSClient,
  topicArn: string,
  o: QueueCallOptions = {},
): Promise<TopicSubscription[]> {
  const subs: TopicSubscription[] = [];
  let NextToken: string | undefined;
  // Bounded: 12,500,000 subscriptions per topic at 100 a page would be absurd for one group.
  for (let page = 0; page < 1000; page++) {
    const out = await call<ListSubscriptionsByTopicResponse>(
      ctx,
      sns,
      new ListSubscriptionsByTopicCommand({ TopicArn: topicArn, NextToken }),
      false,
      o,
    );
    for (const s of out.Subscriptions ?? []) {
      subs.push({
        subscriptionArn: s.SubscriptionArn ?? '',
        protocol: s.Protocol ?? '',
        endpoint: s.Endpoint ?? '',
        confirmed: !!s.SubscriptionArn && s.SubscriptionArn.startsWith('arn:'),
      });
    }
    NextToken = out.NextToken;
    if (!NextToken) break;
  }
  return subs;
}

export async function unsubscribe(
  ctx: QueueCallContext,
  sns: SNSClient,
  subscriptionArn: string,
  o: QueueCallOptions = {},
): Promise<void> {
  await call(ctx, sns, new UnsubscribeCommand({ SubscriptionArn: subscriptionArn }), true, o);
}
