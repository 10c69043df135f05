import { EC2Client } from '@aws-sdk/client-ec2';
import { SetSubscriptionAttributesCommand, SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { Writable } from 'node:stream';
import { errorCodeOf } from '../../../lib/aws/errors';
import type { AttemptedError } from '../../../lib/aws/retry';
import { parseConfig } from '../../../lib/config/load';
import { systemClock } from '../../../lib/clock';
import type { EpisodeState } from '../../../lib/episode/journal';
import { createLogger } from '../../../lib/log';
import type { NoticeKind } from '../../../lib/notice';
import { sweepHostQueues } from '../../../lib/sweeper/queue-sweep';
import {
  HostQueue,
  hostSubscriptionAttributes,
  instanceIdOfHostQueue,
  queueRetirement,
} from '../../../lib/sources/host-queue';
import { AwsEmulator } from '../../../sim/emulator/server';
import { seedLoxilbCluster } from '../../../sim/loxilb/footprint';

const SELF = 'i-0aaaaaaaaaaaaaaa1';

function episode(over: Partial<EpisodeState> & { kinds?: NoticeKind[] } = {}): EpisodeState {
  const { kinds = ['spot-terminate'], ...rest } = over;
  return {
    episode: 'ep-1',
    instanceId: SELF,
    bootId: 'b',
    dryRun: false,
    openedAt: new Date().toISOString(),
    notices: kinds.map((kind) => ({ instanceId: SELF, kind, deadline: null, source: 'sqs', receivedAt: '' })),
    messageIds: [],
    teardownStarted: true,
    closed: true,
    completions: [{ result: 'completed' }],
    ...rest,
  } as EpisodeState;
}

describe('queueRetirement: the per-host queue goes only with the host', () => {
  it.each([
    ['a closed terminate episode whose action completed', true, episode()],
    [
      'a spot notice, instance in no group (nothing to complete)',
      true,
      episode({ completions: [{ result: 'not-needed', detail: `${SELF} is in no Auto Scaling group` }] }),
    ],
    [
      'the action was already over',
      true,
      episode({ kinds: ['asg-terminate'], completions: [{ result: 'already-done' }] }),
    ],
    ['a state change to shutting-down (shutdown probe)', true, episode({ kinds: ['state-change'] })],
    ['still open', false, episode({ closed: false })],
    ['dry-run', false, episode({ dryRun: true })],
    ['a spot stop', false, episode({ kinds: ['spot-stop'] })],
    ['a scheduled stop', false, episode({ kinds: ['scheduled-stop'] })],
    ['completion failed', false, episode({ completions: [{ result: 'failed' }] })],
    [
      'InService after a spot notice (a lifecycle action may still come)',
      false,
      episode({ completions: [{ result: 'not-needed', detail: 'instance is InService' }] }),
    ],
    ['no episode', false, undefined],
  ])('%s → retire: %s', (_what, retire, state) => {
    expect(queueRetirement(state as EpisodeState | undefined).retire).toBe(retire);
  });

  it('reads the instance id from a per-host queue name, URL or ARN only', () => {
    expect(instanceIdOfHostQueue(`https://sqs.us-east-1.amazonaws.com/1/teardownd-${SELF}`)).toBe(SELF);
    expect(instanceIdOfHostQueue(`arn:aws:sqs:us-east-1:1:teardownd-${SELF}`)).toBe(SELF);
    expect(instanceIdOfHostQueue('teardownd-events')).toBeUndefined();
    expect(instanceIdOfHostQueue(`teardownd-${SELF}-dlq`)).toBeUndefined();
  });
});

describe('HostQueue and the queue sweep against the emulator', () => {
  let emulator: AwsEmulator;
  let clients: { sqs: SQSClient; sns: SNSClient; ec2: EC2Client };
  let topicArn: string;
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({
    stream: new Writable({
      write(chunk: Buffer, _e, cb) {
        for (const l of chunk.toString().split('\n').filter(Boolean))
          lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    }),
  });

  beforeEach(async () => {
    emulator = await AwsEmulator.start();
    const base = {
      region: 'us-east-1',
      endpoint: emulator.url,
      credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
    };
    clients = {
      sqs: new SQSClient({ ...base, maxAttempts: 1 }),
      sns: new SNSClient({ ...base, maxAttempts: 1 }),
      ec2: new EC2Client({ ...base, maxAttempts: 1 }),
    };
    topicArn = emulator.sns.createTopic('teardownd');
    lines.length = 0;
  });
  afterEach(async () => {
    Object.values(clients).forEach((c) => c.destroy());
    await emulator.stop();
  });

  const hostQueue = (instanceId = SELF, dryRun = false, config = parseConfig({})) =>
    new HostQueue({
      ...clients,
      topicArn,
      instanceId,
      config,
      clock: systemClock,
      logger,
      dryRun,
      recreateRetryMs: 10,
    });

  it('ensure is idempotent (same queue, pending messages kept, one subscription) and updates an older filter', async () => {
    const first = await hostQueue().ensure();
    emulator.sqs.send(first!.queueUrl, 'pending');
    // An older subscription with another filter (an earlier release): brought to the current one.
    const sub = emulator.sns.subscriptions(topicArn)[0];
    await clients.sns.send(
      new SetSubscriptionAttributesCommand({
        SubscriptionArn: sub.arn,
        AttributeName: 'FilterPolicy',
        AttributeValue: '{"old":["x"]}',
      }),
    );
    const second = await hostQueue().ensure();
    expect(second!.queueUrl).toBe(first!.queueUrl);
    expect(second!.subscriptionArn).toBe(first!.subscriptionArn);
    expect(emulator.sqs.messages(first!.queueUrl).map((m) => m.body)).toEqual(['pending']);
    const subs = emulator.sns.subscriptions(topicArn);
    expect(subs).toHaveLength(1);
    expect(subs[0].attributes).toMatchObject(hostSubscriptionAttributes(SELF));
  });

  it('set-up calls go through the one call path: SNS throttling is retried, a hung call is cut and tried 3 times', async () => {
    const config = parseConfig({
      aws: { callTimeoutMs: 300 },
      executor: { retryBaseDelayMs: 5, retryMaxDelayMs: 10 },
    });
    emulator.faults.add({ service: 'sns', action: 'Subscribe', kind: 'throttle', count: 2 });
    const ref = await hostQueue(SELF, false, config).ensure();
    expect(ref!.subscriptionArn).toMatch(/^arn:aws:sns:/);
    expect(emulator.sns.subscriptions(topicArn)).toHaveLength(1);

    emulator.faults.add({ service: 'sns', action: 'Subscribe', kind: 'hang' });
    const err = (await hostQueue(SELF, false, config)
      .ensure()
      .then(
        () => undefined,
        (e: unknown) => e,
      )) as AttemptedError;
    expect(errorCodeOf(err)).toBe('CallTimeout');
    expect(err.message).toContain('Subscribe');
    // Bounded: SqsSource retries the whole set-up in the background, so each call gives up early.
    expect(err.attempts).toBe(3);
  });

  it('dry-run creates nothing; retire removes subscription and queue and is idempotent', async () => {
    expect(await hostQueue(SELF, true).ensure()).toBeUndefined();
    expect(emulator.sqs.queueNames()).toEqual([]);
    await hostQueue().ensure();
    expect(await hostQueue().retire()).toBe(true); // a fresh object: finds them by name
    expect(emulator.sqs.queueNames()).toEqual([]);
    expect(emulator.sns.subscriptions(topicArn)).toEqual([]);
    expect(await hostQueue().retire()).toBe(true);
  });

  it('the queue sweep removes only the queues of gone instances, and changes nothing in report mode', async () => {
    const ids = seedLoxilbCluster(emulator);
    const live = emulator.ec2.runInstance({ subnetId: ids.masterSubnetId }).instanceId;
    const terminated = emulator.ec2.runInstance({ subnetId: ids.masterSubnetId }).instanceId;
    const unknown = 'i-0deadbeefdeadbeef';
    for (const id of [live, terminated, unknown]) await hostQueue(id).ensure();
    emulator.ec2.terminateInstance(terminated);
    emulator.ec2.settle();
    emulator.sqs.createQueue('teardownd-events'); // not a per-host queue: never touched
    const config = parseConfig({ sources: { sqs: { topicArn } } });
    const deps = { ...clients, config, clock: systemClock, logger };
    const report = await sweepHostQueues(deps, { mode: 'report' });
    expect(report.orphans.map((o) => o.instanceId).sort()).toEqual([terminated, unknown].sort());
    expect(emulator.sqs.queueNames()).toHaveLength(4);
    const applied = await sweepHostQueues(deps, { mode: 'apply' });
    expect(applied.orphans.every((o) => o.removed)).toBe(true);
    expect(applied.kept).toEqual([{ instanceId: live, reason: 'instance is running' }]);
    expect(emulator.sqs.queueNames().sort()).toEqual(['teardownd-events', `teardownd-${live}`].sort());
    expect(emulator.sns.subscriptions(topicArn).map((s) => s.endpoint)).toEqual([
      `arn:aws:sqs:us-east-1:123456789012:teardownd-${live}`,
    ]);
  });
});
