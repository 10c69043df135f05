import {
  ListSubscriptionsByTopicCommand,
  SetSubscriptionAttributesCommand,
  SNSClient,
  SubscribeCommand,
  UnsubscribeCommand,
} from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ListQueuesCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';

/**
 * Every SNS/SQS call that sets up, lists or removes a per-host queue and its subscription, each
 * built in exactly one function (listed in lib/aws/api-calls.ts), so the one AWS call path can take
 * them over without hunting for call sites. Each takes the client and an optional abort signal and
 * returns plain data; errors are the SDK's (classified by the callers with lib/aws/errors.ts).
 */
export interface QueueCallOptions {
  signal?: AbortSignal;
}

export interface TopicSubscription {
  subscriptionArn: string;
  protocol: string;
  endpoint: string;
  /** False while the subscription waits for confirmation (ARN `PendingConfirmation`). */
  confirmed: boolean;
}

/** CreateQueue with no attributes: always idempotent for an existing queue of that name. */
export async function createQueue(sqs: SQSClient, name: string, o: QueueCallOptions = {}): Promise<string> {
  const out = await sqs.send(new CreateQueueCommand({ QueueName: name }), { abortSignal: o.signal });
  if (!out.QueueUrl) throw new Error(`CreateQueue ${name} returned no QueueUrl`);
  return out.QueueUrl;
}

/** The named queue attributes (GetQueueAttributes). */
export async function getQueueAttributes(
  sqs: SQSClient,
  queueUrl: string,
  names: string[],
  o: QueueCallOptions = {},
): Promise<Record<string, string>> {
  const out = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: names as never }),
    { abortSignal: o.signal },
  );
  return (out.Attributes ?? {}) as Record<string, string>;
}

export async function setQueuePolicy(
  sqs: SQSClient,
  queueUrl: string,
  policy: string,
  o: QueueCallOptions = {},
): Promise<void> {
  await sqs.send(new SetQueueAttributesCommand({ QueueUrl: queueUrl, Attributes: { Policy: policy } }), {
    abortSignal: o.signal,
  });
}

export async function deleteQueue(sqs: SQSClient, queueUrl: string, o: QueueCallOptions = {}): Promise<void> {
  await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl }), { abortSignal: o.signal });
}

/** Every queue URL whose name starts with `prefix` (all pages). */
export async function listQueues(
  sqs: SQSClient,
  prefix: string,
  o: QueueCallOptions = {},
): Promise<string[]> {
  const urls: string[] = [];
  let NextToken: string | undefined;
  // Bounded: 100 pages of 1,000 queues is far beyond SQS's per-prefix listing.
  for (let page = 0; page < 100; page++) {
    const out = await sqs.send(
      new ListQueuesCommand({ QueueNamePrefix: prefix, MaxResults: 1000, NextToken }),
      {
        abortSignal: o.signal,
      },
    );
    urls.push(...(out.QueueUrls ?? []));
    NextToken = out.NextToken;
    if (!NextToken) break;
  }
  return urls;
}

/** Subscribe with its attributes in the same call, so the queue never sees unfiltered traffic. */
export async function subscribeQueue(
  sns: SNSClient,
  topicArn: string,
  queueArn: string,
  attributes: Record<string, string>,
  o: QueueCallOptions = {},
): Promise<string> {
  const out = await sns.send(
    new SubscribeCommand({
      TopicArn: topicArn,
      Protocol: 'sqs',
      Endpoint: queueArn,
      Attributes: attributes,
      ReturnSubscriptionArn: true,
    }),
    { abortSignal: o.signal },
  );
  if (!out.SubscriptionArn)
    throw new Error(`Subscribe ${queueArn} to ${topicArn} returned no SubscriptionArn`);
  return out.SubscriptionArn;
}

export async function setSubscriptionAttribute(
  sns: SNSClient,
  subscriptionArn: string,
  name: string,
  value: string,
  o: QueueCallOptions = {},
): Promise<void> {
  await sns.send(
    new SetSubscriptionAttributesCommand({
      SubscriptionArn: subscriptionArn,
      AttributeName: name,
      AttributeValue: value,
    }),
    { abortSignal: o.signal },
  );
}

/** Every subscription of the topic (all pages). */
export async function listTopicSubscriptions(
  sns: SNSClient,
  topicArn: string,
  o: QueueCallOptions = {},
): Promise<TopicSubscription[]> {
  const subs: TopicSubscription[] = [];
  let NextToken: string | undefined;
  // Bounded: 12,500,000 subscriptions per topic at 100 a page would be absurd for one group.
  for (let page = 0; page < 1000; page++) {
    const out = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topicArn, NextToken }), {
      abortSignal: o.signal,
    });
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
  sns: SNSClient,
  subscriptionArn: string,
  o: QueueCallOptions = {},
): Promise<void> {
  await sns.send(new UnsubscribeCommand({ SubscriptionArn: subscriptionArn }), { abortSignal: o.signal });
}
