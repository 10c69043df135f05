import { classifyMessage, ClassifyContext } from '../../../lib/sources/sqs-messages';
import { fixture, withFields } from '../../fixtures/events';

const receivedAt = Date.parse('2024-05-01T12:00:00Z');

function ctx(self: string, over: Partial<ClassifyContext> = {}): ClassifyContext {
  return {
    selfInstanceId: self,
    messageId: 'msg-1',
    receivedAt,
    receiveCount: 1,
    foreignMessages: 'release',
    foreignReleaseSeconds: 7,
    teardownOnRebalance: false,
    ...over,
  };
}

describe('lifecycle actions', () => {
  it('EventBridge terminate lifecycle action for this instance → termination with the token, held', () => {
    const c = classifyMessage(
      fixture('eventbridge-lifecycle-terminate-nth.json'),
      ctx('i-0633ac2b0d9769723'),
    );
    expect(c.category).toBe('termination');
    expect(c.format).toBe('eventbridge');
    expect(c.decision.action).toBe('retain');
    expect(c.notice).toMatchObject({
      instanceId: 'i-0633ac2b0d9769723',
      kind: 'asg-terminate',
      source: 'sqs',
      sourceId: 'msg-1',
      lifecycle: {
        autoScalingGroupName: 'testt1.demo-0a20f32c.kops.sh',
        hookName: 'cluster-termination-handler',
        token: '0befcbdb-6ecd-498a-9ff7-ae9b54447cd6',
      },
    });
  });

  it('the AWS doc example (placeholder time) still carries its token', () => {
    const c = classifyMessage(fixture('eventbridge-lifecycle-terminate.json'), ctx('i-1234567890abcdef0'));
    expect(c.category).toBe('termination');
    expect(c.notice!.lifecycle!.token).toBe('87654321-4321-4321-4321-210987654321');
  });

  it.each([
    'asg-direct-terminate.json',
    'asg-direct-terminate-with-metadata.json',
    'asg-direct-terminate-nth.json',
  ])('ASG-direct body %s → termination', (name) => {
    const body = fixture(name);
    const self = (JSON.parse(body) as { EC2InstanceId: string }).EC2InstanceId;
    const c = classifyMessage(body, ctx(self));
    expect(c.format).toBe('asg-direct');
    expect(c.category).toBe('termination');
    expect(c.notice!.lifecycle!.token).toBe(
      (JSON.parse(body) as { LifecycleActionToken: string }).LifecycleActionToken,
    );
  });

  it('SNS-wrapped lifecycle message is unwrapped', () => {
    const c = classifyMessage(fixture('sns-asg-terminate.json'), ctx('i-4c87e963'));
    expect(c.format).toBe('sns');
    expect(c.category).toBe('termination');
    expect(c.notice!.lifecycle).toEqual({
      autoScalingGroupName: 'org-staging-docker-asg-$INSTANCE_ID',
      hookName: 'org-staging-docker-lch-$INSTANCE_ID-terminating',
      token: '2f346e45-4866-4bf1-a752-f6eea23011c7',
    });
  });

  it('warm-pool destination is not a termination', () => {
    const c = classifyMessage(
      fixture('eventbridge-lifecycle-terminate-warm-pool.json'),
      ctx('i-1234567890abcdef0'),
    );
    expect(c.category).toBe('not-termination');
    expect(c.decision).toMatchObject({ action: 'delete' });
    expect(c.decision.reason).toMatch(/WarmPool/);
    expect(c.notice).toBeUndefined();
  });

  it('a launch lifecycle action for this instance is not a termination', () => {
    const c = classifyMessage(fixture('asg-direct-launch.json'), ctx('i-0853dfa8ce1627af9'));
    expect(c.category).toBe('not-termination');
    expect(c.decision.action).toBe('delete');
  });

  it('a lifecycle message without its token is malformed, naming the field', () => {
    const body = withFields('eventbridge-lifecycle-terminate-nth.json', {
      'detail.LifecycleActionToken': undefined,
    });
    const c = classifyMessage(body, ctx('i-0633ac2b0d9769723'));
    expect(c.category).toBe('malformed');
    expect(c.decision.action).toBe('delete');
    expect(c.decision.reason).toContain('detail.LifecycleActionToken: missing');
  });
});

describe('spot, rebalance, state change', () => {
  it('spot warning: deadline = event time + 120 s', () => {
    const body = withFields('eventbridge-spot-interruption.json', {
      time: '2024-05-01T11:59:58Z',
      'detail.instance-action': 'terminate',
    });
    const c = classifyMessage(body, ctx('i-1234567890abcdef0'));
    expect(c.category).toBe('termination');
    expect(c.notice).toMatchObject({ kind: 'spot-terminate', deadline: '2024-05-01T12:01:58.000Z' });
  });

  it('the doc example has a placeholder action: malformed, not a guess', () => {
    const c = classifyMessage(fixture('eventbridge-spot-interruption.json'), ctx('i-1234567890abcdef0'));
    expect(c.category).toBe('malformed');
    expect(c.decision.reason).toContain('detail.instance-action');
  });

  it('placeholder time counts from receipt', () => {
    const body = withFields('eventbridge-spot-interruption.json', { 'detail.instance-action': 'terminate' });
    const c = classifyMessage(body, ctx('i-1234567890abcdef0'));
    expect(c.notice!.deadline).toBe(new Date(receivedAt + 120000).toISOString());
  });

  it('rebalance: advisory unless teardownOnRebalance', () => {
    const body = fixture('eventbridge-rebalance.json');
    const advisory = classifyMessage(body, ctx('i-1234567890abcdef0'));
    expect(advisory.category).toBe('not-termination');
    expect(advisory.decision.action).toBe('delete');
    expect(advisory.decision.reason).toMatch(/teardownOnRebalance/);
    const acted = classifyMessage(body, ctx('i-1234567890abcdef0', { teardownOnRebalance: true }));
    expect(acted.category).toBe('termination');
    expect(acted.notice!.kind).toBe('rebalance');
  });

  it('state change: pending is not a termination, shutting-down is', () => {
    expect(classifyMessage(fixture('eventbridge-state-change.json'), ctx('i-abcd1111')).category).toBe(
      'not-termination',
    );
    const down = withFields('eventbridge-state-change.json', { 'detail.state': 'shutting-down' });
    expect(classifyMessage(down, ctx('i-abcd1111')).notice!.kind).toBe('state-change');
  });
});

describe('AWS Health', () => {
  it('checks every affected entity, not just the first', () => {
    const body = fixture('eventbridge-health-retirement-multi.json');
    for (const self of ['i-0aaaaaaaaaaaaaaa1', 'i-0bbbbbbbbbbbbbbb2', 'i-0ccccccccccccccc3']) {
      const c = classifyMessage(body, ctx(self));
      expect(c.category).toBe('termination');
      expect(c.notice).toMatchObject({
        instanceId: self,
        kind: 'scheduled-retire',
        deadline: '2019-06-26T15:00:00.000Z',
      });
    }
    const other = classifyMessage(body, ctx('i-0ddddddddddddddd4'));
    expect(other.category).toBe('foreign');
    expect(other.instanceIds).toHaveLength(3);
  });

  it('the NTH scheduled-change fixture (network maintenance) does not end the instance', () => {
    const c = classifyMessage(fixture('eventbridge-health-scheduled-change.json'), ctx('i-12345678'));
    expect(c.category).toBe('not-termination');
  });
});

describe('test, foreign, unknown, malformed', () => {
  it.each(['asg-test-notification.json', 'asg-test-notification-2023.json', 'sns-test-notification.json'])(
    '%s is a test notification → delete',
    (name) => {
      const c = classifyMessage(fixture(name), ctx('i-1234567890abcdef0'));
      expect(c.category).toBe('test');
      expect(c.decision.action).toBe('delete');
    },
  );

  it('foreign: released with the given delay (never 0: a host would take it straight back), deleted when configured', () => {
    const body = fixture('asg-direct-terminate.json');
    const released = classifyMessage(body, ctx('i-0ffffffffffffffff'));
    expect(released.category).toBe('foreign');
    expect(released.decision).toMatchObject({ action: 'release', visibilitySeconds: 7 });
    const zero = classifyMessage(body, ctx('i-0ffffffffffffffff', { foreignReleaseSeconds: 0 }));
    expect(zero.decision.visibilitySeconds).toBe(1);
    const deleted = classifyMessage(body, ctx('i-0ffffffffffffffff', { foreignMessages: 'delete' }));
    expect(deleted.decision.action).toBe('delete');
  });

  it('an unknown EventBridge event is deleted with its source and detail-type named', () => {
    const body = JSON.stringify({
      version: '0',
      id: 'x',
      'detail-type': 'Object Created',
      source: 'aws.s3',
      detail: {},
    });
    const c = classifyMessage(body, ctx('i-1'));
    expect(c.category).toBe('unknown');
    expect(c.decision.reason).toContain('aws.s3');
  });

  it('an SNS envelope whose Message is not JSON is malformed (field Message)', () => {
    const c = classifyMessage(fixture('sns-hello-world.json'), ctx('i-1'));
    expect(c.category).toBe('malformed');
    expect(c.decision.reason).toMatch(/^malformed \(Message: not JSON/);
  });

  it.each([
    ['not JSON', 'hello'],
    ['empty', ''],
    ['a number', '42'],
    ['null', 'null'],
    [
      'EventBridge without detail',
      '{"detail-type":"EC2 Spot Instance Interruption Warning","source":"aws.ec2"}',
    ],
  ])('%s → malformed, deleted', (_n, body) => {
    const c = classifyMessage(body, ctx('i-1'));
    expect(c.category).toBe('malformed');
    expect(c.decision.action).toBe('delete');
  });

  it('with deadLetterAfterReceives, malformed messages are left for the DLQ until that many receives', () => {
    const early = classifyMessage('hello', ctx('i-1', { deadLetterAfterReceives: 3, receiveCount: 2 }));
    expect(early.decision.action).toBe('retain');
    expect(early.decision.reason).toMatch(/dead-letter queue \(receive 2 of 3\)/);
    const late = classifyMessage('hello', ctx('i-1', { deadLetterAfterReceives: 3, receiveCount: 3 }));
    expect(late.decision.action).toBe('delete');
  });
});

describe("this host's account and region", () => {
  const self = 'i-0633ac2b0d9769723';
  // eventbridge-lifecycle-terminate-nth.json: account 123456789012, region us-east-1.
  const here = { selfAccountId: '123456789012', selfRegion: 'us-east-1' };

  it('an EventBridge event from this account and region is a termination', () => {
    const c = classifyMessage(fixture('eventbridge-lifecycle-terminate-nth.json'), ctx(self, here));
    expect(c.category).toBe('termination');
  });

  it.each([
    ['account', { account: '999999999999' }, 'account "999999999999" is not this host\'s 123456789012'],
    ['region', { region: 'eu-west-1' }, 'region "eu-west-1" is not this host\'s us-east-1'],
  ])('an EventBridge event from another %s is foreign, released for its owner', (_what, fields, reason) => {
    const c = classifyMessage(
      withFields('eventbridge-lifecycle-terminate-nth.json', fields),
      ctx(self, here),
    );
    expect(c.category).toBe('foreign');
    expect(c.notice).toBeUndefined();
    // Released with the foreign-message delay (ctx: 7 s), never visibility 0.
    expect(c.decision).toEqual({
      action: 'release',
      visibilitySeconds: 7,
      reason: expect.stringContaining(reason),
    });
  });

  it('an ASG-direct message from another AccountId is foreign, also inside an SNS envelope', () => {
    const direct = withFields('asg-direct-terminate.json', {});
    const id = (JSON.parse(direct) as { EC2InstanceId: string }).EC2InstanceId;
    const other = ctx(id, {
      selfAccountId: '111122223333',
      selfRegion: 'us-west-2',
      foreignMessages: 'delete',
    });
    const plain = classifyMessage(direct, other);
    const wrapped = classifyMessage(JSON.stringify({ Type: 'Notification', Message: direct }), other);
    for (const c of [plain, wrapped]) {
      expect(c.category).toBe('foreign');
      expect(c.decision.action).toBe('delete');
      expect(c.decision.reason).toContain('account "609519224176" is not this host\'s 111122223333');
    }
    expect(wrapped.format).toBe('sns');
    // The same message in its own account is a termination (ASG-direct bodies carry no region).
    expect(
      classifyMessage(direct, ctx(id, { selfAccountId: '609519224176', selfRegion: 'eu-north-1' })).category,
    ).toBe('termination');
  });

  it('without a known identity nothing is held against the message (the daemon logs what it cannot check)', () => {
    const c = classifyMessage(
      withFields('eventbridge-lifecycle-terminate-nth.json', { account: '999999999999' }),
      ctx(self),
    );
    expect(c.category).toBe('termination');
  });
});
