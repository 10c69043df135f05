import {
  ConfirmSubscriptionCommand,
  CreateTopicCommand,
  GetSubscriptionAttributesCommand,
  ListSubscriptionsByTopicCommand,
  PublishCommand,
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
import {
  hostFilterPolicy,
  hostQueuePolicy,
  hostSubscriptionAttributes,
} from '../../../../lib/sources/host-queue';
import { AwsEmulator } from '../../../../sim/emulator/server';
import { fixture, withFields } from '../../../fixtures/events';

/** SNS (Query/XML) and the SQS calls of the per-host topology, with the real SDK clients. */
let emulator: AwsEmulator;
let sns: SNSClient;
let sqs: SQSClient;

beforeEach(async () => {
  emulator = await AwsEmulator.start({ sqs: { recreateAfterDeleteMs: 60000 } });
  const base = {
    region: 'us-east-1',
    endpoint: emulator.url,
    credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
    maxAttempts: 1,
  };
  sns = new SNSClient(base);
  sqs = new SQSClient(base);
});
afterEach(async () => {
  sns.destroy();
  sqs.destroy();
  await emulator.stop();
});

const SELF = 'i-0aaaaaaaaaaaaaaa1';
const OTHER = 'i-0bbbbbbbbbbbbbbb2';

async function topic(name = 'teardownd'): Promise<string> {
  return (await sns.send(new CreateTopicCommand({ Name: name }))).TopicArn!;
}

/** A queue that lets the topic in, subscribed raw with the daemon's filter for SELF. */
async function hostQueue(topicArn: string, instanceId = SELF, policy = true) {
  const url = (await sqs.send(new CreateQueueCommand({ QueueName: `teardownd-${instanceId}` }))).QueueUrl!;
  const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] })))
    .Attributes!.QueueArn!;
  if (policy)
    await sqs.send(
      new SetQueueAttributesCommand({
        QueueUrl: url,
        Attributes: { Policy: hostQueuePolicy(arn, topicArn) },
      }),
    );
  const sub = await sns.send(
    new SubscribeCommand({
      TopicArn: topicArn,
      Protocol: 'sqs',
      Endpoint: arn,
      Attributes: hostSubscriptionAttributes(instanceId),
      ReturnSubscriptionArn: true,
    }),
  );
  return { url, arn, subscriptionArn: sub.SubscriptionArn! };
}

const publish = (TopicArn: string, Message: string) => sns.send(new PublishCommand({ TopicArn, Message }));
const bodies = (url: string) => emulator.sqs.messages(url).map((m) => m.body);

/** Every notice shape the daemon handles, about `id`. */
function notices(id: string): Record<string, string> {
  return {
    lifecycle: withFields('eventbridge-lifecycle-terminate.json', { 'detail.EC2InstanceId': id }),
    spot: withFields('eventbridge-spot-interruption.json', { 'detail.instance-id': id }),
    rebalance: withFields('eventbridge-rebalance.json', { 'detail.instance-id': id }),
    stateChange: withFields('eventbridge-state-change.json', { 'detail.instance-id': id }),
    health: JSON.stringify({
      ...JSON.parse(fixture('eventbridge-health-retirement-multi.json')),
      resources: ['i-0ccccccccccccccc3', id],
      detail: {
        ...JSON.parse(fixture('eventbridge-health-retirement-multi.json')).detail,
        affectedEntities: [{ entityValue: 'i-0ccccccccccccccc3' }, { entityValue: id }],
      },
    }),
    asgDirect: withFields('asg-direct-terminate.json', { EC2InstanceId: id }),
  };
}

describe('emulator SNS with the real client', () => {
  it('CreateTopic is idempotent and answers the ARN', async () => {
    const a = await topic();
    expect(a).toBe('arn:aws:sns:us-east-1:123456789012:teardownd');
    expect(await topic()).toBe(a);
  });

  it("the daemon's filter delivers every shape of a notice about its instance, raw, and nothing about others", async () => {
    const t = await topic();
    const self = await hostQueue(t, SELF);
    const other = await hostQueue(t, OTHER);
    for (const body of Object.values(notices(SELF))) await publish(t, body);
    for (const body of Object.values(notices('i-0ddddddddddddddd4'))) await publish(t, body);
    await publish(t, 'not json at all');
    await publish(t, fixture('asg-test-notification.json'));
    expect(bodies(self.url)).toEqual(Object.values(notices(SELF)));
    expect(bodies(other.url)).toEqual([]);
    // The Health event lists SELF second among its affected entities and resources: still matched.
    expect(emulator.sns.deliveries().filter((d) => d.outcome === 'delivered')).toHaveLength(6);
  });

  it('without raw delivery the queue gets the SNS envelope with the message as a string', async () => {
    const t = await topic();
    const q = await hostQueue(t);
    await sns.send(
      new SetSubscriptionAttributesCommand({
        SubscriptionArn: q.subscriptionArn,
        AttributeName: 'RawMessageDelivery',
        AttributeValue: 'false',
      }),
    );
    const body = notices(SELF).spot;
    await sns.send(new PublishCommand({ TopicArn: t, Message: body, Subject: 'spot' }));
    const env = JSON.parse(bodies(q.url)[0]) as Record<string, unknown>;
    expect(env).toMatchObject({ Type: 'Notification', TopicArn: t, Subject: 'spot', Message: body });
    expect(env.UnsubscribeURL).toContain(q.subscriptionArn);
  });

  it('a queue whose policy does not let the topic in gets nothing', async () => {
    const t = await topic();
    const other = await topic('someone-else');
    const none = await hostQueue(t, SELF, false);
    await publish(t, notices(SELF).spot);
    expect(bodies(none.url)).toEqual([]);
    // A policy for another topic does not help either.
    await sqs.send(
      new SetQueueAttributesCommand({
        QueueUrl: none.url,
        Attributes: { Policy: hostQueuePolicy(none.arn, other) },
      }),
    );
    await publish(t, notices(SELF).spot);
    expect(bodies(none.url)).toEqual([]);
    expect(emulator.sns.deliveries().map((d) => d.outcome)).toEqual(['refused', 'refused']);
    await sqs.send(
      new SetQueueAttributesCommand({
        QueueUrl: none.url,
        Attributes: { Policy: hostQueuePolicy(none.arn, t) },
      }),
    );
    await publish(t, notices(SELF).spot);
    expect(bodies(none.url)).toHaveLength(1);
  });

  it('Subscribe again: same attributes → same ARN; other attributes → InvalidParameter', async () => {
    const t = await topic();
    const q = await hostQueue(t);
    const again = await sns.send(
      new SubscribeCommand({
        TopicArn: t,
        Protocol: 'sqs',
        Endpoint: q.arn,
        Attributes: hostSubscriptionAttributes(SELF),
        ReturnSubscriptionArn: true,
      }),
    );
    expect(again.SubscriptionArn).toBe(q.subscriptionArn);
    await expect(
      sns.send(
        new SubscribeCommand({
          TopicArn: t,
          Protocol: 'sqs',
          Endpoint: q.arn,
          Attributes: hostSubscriptionAttributes(OTHER),
        }),
      ),
    ).rejects.toMatchObject({
      name: 'InvalidParameterException',
      message: expect.stringMatching(/different attributes/),
    });
    const attrs = (
      await sns.send(new GetSubscriptionAttributesCommand({ SubscriptionArn: q.subscriptionArn }))
    ).Attributes!;
    expect(attrs).toMatchObject({
      RawMessageDelivery: 'true',
      FilterPolicyScope: 'MessageBody',
      FilterPolicy: JSON.stringify(hostFilterPolicy(SELF)),
      Endpoint: q.arn,
      PendingConfirmation: 'false',
    });
  });

  it('filter policy limits: 5 top-level keys, 150 combinations, 200 filter policies per topic', async () => {
    const t = await topic();
    const q = await hostQueue(t);
    const set = (policy: unknown) =>
      sns.send(
        new SetSubscriptionAttributesCommand({
          SubscriptionArn: q.subscriptionArn,
          AttributeName: 'FilterPolicy',
          AttributeValue: JSON.stringify(policy),
        }),
      );
    await expect(set({ a: ['1'], b: ['1'], c: ['1'], d: ['1'], e: ['1'], f: ['1'] })).rejects.toMatchObject({
      name: 'InvalidParameterException',
      message: expect.stringMatching(/5 keys/),
    });
    // Nested keys do not count for the body scope; `$or` branches are counted one by one.
    await set({ a: { b: ['1'], c: ['1'], d: ['1'], e: ['1'], f: ['1'], g: ['1'] } });
    const ten = Array.from({ length: 10 }, (_, i) => String(i));
    await expect(set({ a: ten, b: ten })).resolves.toBeDefined(); // 100
    await expect(set({ a: ten, b: ten, c: ['1', '2'] })).rejects.toMatchObject({
      message: expect.stringMatching(/too complex/),
    });
    // 199 more subscriptions with a filter fill the topic's default quota of 200.
    for (let i = 0; i < 199; i++) {
      const name = `q${i}`;
      emulator.sqs.createQueue(name);
      await sns.send(
        new SubscribeCommand({
          TopicArn: t,
          Protocol: 'sqs',
          Endpoint: `arn:aws:sqs:us-east-1:123456789012:${name}`,
          Attributes: { FilterPolicyScope: 'MessageBody', FilterPolicy: '{"x":["y"]}' },
        }),
      );
    }
    await expect(hostQueue(t, 'i-0eeeeeeeeeeeeeee5')).rejects.toMatchObject({
      name: 'FilterPolicyLimitExceededException',
    });
  });

  it('$or with prefix, suffix, anything-but, exists and numeric, per the documented semantics', async () => {
    const t = await topic();
    const q = await hostQueue(t);
    await sns.send(
      new SetSubscriptionAttributesCommand({
        SubscriptionArn: q.subscriptionArn,
        AttributeName: 'FilterPolicy',
        AttributeValue: JSON.stringify({
          source: [{ prefix: 'aws.' }],
          $or: [
            { resources: [{ suffix: `/${SELF}` }] },
            { detail: { n: [{ numeric: ['>=', 10, '<', 20] }], tag: [{ 'anything-but': ['x'] }] } },
            { missing: [{ exists: false }], kind: ['both'] },
          ],
        }),
      }),
    );
    const yes = [
      {
        source: 'aws.ec2',
        resources: ['arn:aws:ec2:us-east-1:1:instance/other', `arn:aws:ec2:x:1:instance/${SELF}`],
      },
      { source: 'aws.x', detail: { n: 15, tag: 'y' } },
      { source: 'aws.x', kind: 'both' },
    ];
    const no = [
      { source: 'custom', resources: [`arn:aws:ec2:x:1:instance/${SELF}`] },
      { source: 'aws.x', detail: { n: 20, tag: 'y' } },
      { source: 'aws.x', detail: { n: 15, tag: 'x' } },
      { source: 'aws.x', kind: 'both', missing: 'here' },
    ];
    for (const m of [...yes, ...no]) await publish(t, JSON.stringify(m));
    expect(bodies(q.url).map((b) => JSON.parse(b) as unknown)).toEqual(yes);
  });

  it('Unsubscribe stops delivery; ListSubscriptionsByTopic pages by 100', async () => {
    const t = await topic();
    const q = await hostQueue(t);
    for (let i = 0; i < 120; i++) emulator.sqs.createQueue(`p${i}`);
    for (let i = 0; i < 120; i++)
      await sns.send(
        new SubscribeCommand({
          TopicArn: t,
          Protocol: 'sqs',
          Endpoint: `arn:aws:sqs:us-east-1:123456789012:p${i}`,
        }),
      );
    const first = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: t }));
    expect(first.Subscriptions).toHaveLength(100);
    const second = await sns.send(
      new ListSubscriptionsByTopicCommand({ TopicArn: t, NextToken: first.NextToken }),
    );
    expect(second.Subscriptions).toHaveLength(21);
    expect(second.NextToken).toBeUndefined();
    await sns.send(new UnsubscribeCommand({ SubscriptionArn: q.subscriptionArn }));
    await publish(t, notices(SELF).spot);
    expect(bodies(q.url)).toEqual([]);
    await expect(
      sns.send(new UnsubscribeCommand({ SubscriptionArn: q.subscriptionArn })),
    ).rejects.toMatchObject({
      name: 'NotFoundException',
    });
  });

  it('a queue of another account waits for confirmation; same-account SQS needs none', async () => {
    const t = await topic();
    emulator.sqs.createQueue('foreign-account'); // the emulator has one account: deliver by name
    const sub = await sns.send(
      new SubscribeCommand({
        TopicArn: t,
        Protocol: 'sqs',
        Endpoint: 'arn:aws:sqs:us-east-1:999999999999:foreign-account',
      }),
    );
    expect(sub.SubscriptionArn).toBe('pending confirmation');
    const pending = emulator.sns.subscriptions(t)[0];
    expect(pending.confirmed).toBe(false);
    await sns.send(new ConfirmSubscriptionCommand({ TopicArn: t, Token: pending.token! }));
    expect(emulator.sns.subscriptions(t)[0].confirmed).toBe(true);
  });
});

describe('emulator SQS: the calls of the per-host queue', () => {
  it('CreateQueue is idempotent with the same attributes and refuses a name deleted less than 60 s ago', async () => {
    const url = (await sqs.send(new CreateQueueCommand({ QueueName: `teardownd-${SELF}` }))).QueueUrl!;
    emulator.sqs.send(url, 'pending');
    expect((await sqs.send(new CreateQueueCommand({ QueueName: `teardownd-${SELF}` }))).QueueUrl).toBe(url);
    expect(emulator.sqs.messages(url)).toHaveLength(1); // the pending message is kept
    await expect(
      sqs.send(
        new CreateQueueCommand({ QueueName: `teardownd-${SELF}`, Attributes: { VisibilityTimeout: '99' } }),
      ),
    ).rejects.toMatchObject({ name: 'QueueNameExists' });
    await sqs.send(new DeleteQueueCommand({ QueueUrl: url }));
    await expect(sqs.send(new CreateQueueCommand({ QueueName: `teardownd-${SELF}` }))).rejects.toMatchObject({
      name: 'QueueDeletedRecently',
    });
    emulator.sqs.configure({ recreateAfterDeleteMs: 0 });
    await expect(sqs.send(new CreateQueueCommand({ QueueName: `teardownd-${SELF}` }))).resolves.toBeDefined();
  });

  it('ListQueues filters by prefix; Policy round-trips through Set/GetQueueAttributes', async () => {
    for (const n of [`teardownd-${SELF}`, `teardownd-${OTHER}`, 'shared-events'])
      await sqs.send(new CreateQueueCommand({ QueueName: n }));
    const listed = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'teardownd-' }));
    expect(listed.QueueUrls!.map((u) => u.split('/').pop()).sort()).toEqual(
      [`teardownd-${SELF}`, `teardownd-${OTHER}`].sort(),
    );
    const url = listed.QueueUrls![0];
    const policy = hostQueuePolicy(
      'arn:aws:sqs:us-east-1:123456789012:x',
      'arn:aws:sns:us-east-1:123456789012:t',
    );
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { Policy: policy } }));
    const got = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['Policy'] }));
    expect(got.Attributes!.Policy).toBe(policy);
  });
});
