import {
  AutoScalingClient,
  CompleteLifecycleActionCommand,
  DescribeAutoScalingGroupsCommand,
  DescribeAutoScalingInstancesCommand,
  DescribeLifecycleHooksCommand,
  PutLifecycleHookCommand,
  RecordLifecycleActionHeartbeatCommand,
} from '@aws-sdk/client-auto-scaling';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { AwsEmulator } from '../../../../sim/emulator/server';

/** Lifecycle-hook semantics (wire-formats §3) through the real Auto Scaling client. */
let emulator: AwsEmulator;
let asg: AutoScalingClient;
let sqs: SQSClient;

const ASG = 'loxilb-asg';
const HOOK = 'teardownd';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

beforeEach(async () => {
  emulator = await AwsEmulator.start();
  const opts = {
    region: 'us-east-1',
    endpoint: emulator.url,
    credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
    maxAttempts: 1,
  };
  asg = new AutoScalingClient(opts);
  sqs = new SQSClient(opts);
});

afterEach(async () => {
  asg.destroy();
  sqs.destroy();
  await emulator.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(10);
  }
}

function setUp(
  hook: Partial<Parameters<AwsEmulator['autoscaling']['putHook']>[0]> = {},
  instanceId = 'i-0aaa',
): void {
  emulator.autoscaling.putHook({
    asgName: ASG,
    hookName: HOOK,
    heartbeatTimeoutSeconds: 30,
    defaultResult: 'ABANDON',
    ...hook,
  });
  emulator.autoscaling.addInstance(ASG, instanceId);
}

const heartbeat = (by: { LifecycleActionToken?: string; InstanceId?: string }) =>
  asg.send(
    new RecordLifecycleActionHeartbeatCommand({ AutoScalingGroupName: ASG, LifecycleHookName: HOOK, ...by }),
  );

const complete = (
  by: { LifecycleActionToken?: string; InstanceId?: string },
  LifecycleActionResult: string = 'CONTINUE',
) =>
  asg.send(
    new CompleteLifecycleActionCommand({
      AutoScalingGroupName: ASG,
      LifecycleHookName: HOOK,
      LifecycleActionResult,
      ...by,
    }),
  );

async function describedState(instanceId: string): Promise<string | undefined> {
  const out = await asg.send(new DescribeAutoScalingInstancesCommand({ InstanceIds: [instanceId] }));
  return out.AutoScalingInstances?.[0]?.LifecycleState;
}

describe('starting a termination', () => {
  it('puts the instance in Terminating:Wait with a fresh token and posts the ASG-direct body to the hook queue', async () => {
    const queueUrl = emulator.sqs.createQueue('hooks');
    setUp({ notificationQueueUrl: queueUrl, notificationMetadata: '{"cluster":"llb"}' });
    expect(await describedState('i-0aaa')).toBe('InService');

    const started = emulator.autoscaling.startTermination('i-0aaa');
    expect(started.token).toMatch(UUID);
    expect(started.queued).toBe(true);
    expect(await describedState('i-0aaa')).toBe('Terminating:Wait');

    const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl }));
    const body = JSON.parse(got.Messages![0].Body!);
    expect(Object.keys(body)).toEqual([
      'Origin',
      'LifecycleHookName',
      'Destination',
      'AccountId',
      'RequestId',
      'LifecycleTransition',
      'AutoScalingGroupName',
      'Service',
      'Time',
      'EC2InstanceId',
      'NotificationMetadata',
      'LifecycleActionToken',
    ]);
    expect(body).toMatchObject({
      Origin: 'AutoScalingGroup',
      Destination: 'EC2',
      LifecycleHookName: HOOK,
      AccountId: '123456789012',
      LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
      AutoScalingGroupName: ASG,
      Service: 'AWS Auto Scaling',
      EC2InstanceId: 'i-0aaa',
      NotificationMetadata: '{"cluster":"llb"}',
      LifecycleActionToken: started.token,
    });
    expect(body.Time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(body.RequestId).toMatch(UUID);
  });

  it('without a queue it returns the bodies for the test to post, including an EventBridge-shaped one', () => {
    setUp();
    const started = emulator.autoscaling.startTermination('i-0aaa');
    expect(started.queued).toBe(false);
    const event = JSON.parse(started.eventBridgeBody);
    expect(event).toMatchObject({
      version: '0',
      'detail-type': 'EC2 Instance-terminate Lifecycle Action',
      source: 'aws.autoscaling',
      account: '123456789012',
      region: 'us-east-1',
      detail: {
        LifecycleActionToken: started.token,
        AutoScalingGroupName: ASG,
        LifecycleHookName: HOOK,
        EC2InstanceId: 'i-0aaa',
        LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
      },
    });
    expect(event.resources[0]).toMatch(
      /^arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:.+:autoScalingGroupName\/loxilb-asg$/,
    );
    expect(event.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(JSON.parse(started.body).LifecycleActionToken).toBe(started.token);
  });

  it('every termination gets its own token', () => {
    setUp({}, 'i-0aaa');
    emulator.autoscaling.addInstance(ASG, 'i-0bbb');
    const a = emulator.autoscaling.startTermination('i-0aaa');
    const b = emulator.autoscaling.startTermination('i-0bbb');
    expect(a.token).not.toBe(b.token);
  });

  it('DescribeLifecycleHooks reports HeartbeatTimeout, GlobalTimeout (100× heartbeat, at most 48 h) and DefaultResult', async () => {
    setUp({ heartbeatTimeoutSeconds: 300, defaultResult: 'CONTINUE' });
    emulator.autoscaling.putHook({ asgName: ASG, hookName: 'long', heartbeatTimeoutSeconds: 7200 });
    const out = await asg.send(new DescribeLifecycleHooksCommand({ AutoScalingGroupName: ASG }));
    expect(out.LifecycleHooks).toEqual([
      expect.objectContaining({
        LifecycleHookName: HOOK,
        LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        HeartbeatTimeout: 300,
        GlobalTimeout: 30000,
        DefaultResult: 'CONTINUE',
      }),
      expect.objectContaining({ LifecycleHookName: 'long', GlobalTimeout: 172800, DefaultResult: 'ABANDON' }),
    ]);
    const one = await asg.send(
      new DescribeLifecycleHooksCommand({ AutoScalingGroupName: ASG, LifecycleHookNames: ['long'] }),
    );
    expect(one.LifecycleHooks!.map((h) => h.LifecycleHookName)).toEqual(['long']);
  });
});

describe('heartbeats and timeouts', () => {
  it('each heartbeat moves the deadline to now + HeartbeatTimeout, so the wait outlives the first deadline', async () => {
    setUp({ heartbeatTimeoutSeconds: 1 });
    const { token } = emulator.autoscaling.startTermination('i-0aaa');
    const firstDeadline = emulator.autoscaling.pendingAction('i-0aaa')!.deadline;
    for (let i = 0; i < 5; i++) {
      await sleep(250);
      if (i % 2) await heartbeat({ InstanceId: 'i-0aaa' });
      else await heartbeat({ LifecycleActionToken: token });
    }
    expect(Date.now()).toBeGreaterThan(firstDeadline);
    expect(await describedState('i-0aaa')).toBe('Terminating:Wait');
    const beats = emulator.autoscaling.history().filter((h) => h.action === 'RecordLifecycleActionHeartbeat');
    expect(beats).toHaveLength(5);
    expect(beats.map((b) => b.by)).toEqual(['token', 'instanceId', 'token', 'instanceId', 'token']);
    for (const b of beats) expect(b.deadline).toBe(b.at + 1000);
    expect(emulator.autoscaling.pendingAction('i-0aaa')).toMatchObject({ heartbeats: 5, token });
    await complete({ LifecycleActionToken: token });
    expect(emulator.autoscaling.history().filter((h) => h.action === 'Timeout')).toEqual([]);
  });

  it('without heartbeats the DefaultResult is applied at the timeout and the instance terminates', async () => {
    setUp({ heartbeatTimeoutSeconds: 0.2, defaultResult: 'CONTINUE' });
    const terminated: string[] = [];
    emulator.autoscaling.onInstanceTerminated((id) => terminated.push(id));
    const { token } = emulator.autoscaling.startTermination('i-0aaa');
    await until(() => emulator.autoscaling.state('i-0aaa') === 'Terminated');
    expect(terminated).toEqual(['i-0aaa']);
    expect(emulator.autoscaling.history()).toEqual([
      expect.objectContaining({
        action: 'Timeout',
        result: 'CONTINUE',
        reason: 'heartbeat',
        instanceId: 'i-0aaa',
        token,
      }),
    ]);
    // Terminated instances have left the group.
    expect(await describedState('i-0aaa')).toBeUndefined();
    await expect(complete({ LifecycleActionToken: token })).rejects.toMatchObject({
      name: 'ValidationError',
      message: `No active Lifecycle Action found with token ${token}`,
      $metadata: { httpStatusCode: 400 },
    });
    await expect(heartbeat({ LifecycleActionToken: token })).rejects.toMatchObject({
      name: 'ValidationError',
    });
  });

  it('the global timeout caps the deadline: heartbeats cannot keep the instance waiting past it', async () => {
    setUp({ heartbeatTimeoutSeconds: 0.6, globalTimeoutSeconds: 0.9 });
    const { token } = emulator.autoscaling.startTermination('i-0aaa');
    const pending = emulator.autoscaling.pendingAction('i-0aaa')!;
    expect(pending.globalDeadline - pending.startedAt).toBe(900);
    await sleep(350);
    await heartbeat({ LifecycleActionToken: token });
    // now + 600 would pass the global deadline: the deadline is capped at it.
    expect(emulator.autoscaling.pendingAction('i-0aaa')!.deadline).toBe(pending.globalDeadline);
    await until(() => emulator.autoscaling.state('i-0aaa') !== 'Terminating:Wait');
    expect(emulator.autoscaling.history().at(-1)).toMatchObject({
      action: 'Timeout',
      reason: 'global',
      result: 'ABANDON',
    });
    await expect(heartbeat({ LifecycleActionToken: token })).rejects.toMatchObject({
      message: `No active Lifecycle Action found with token ${token}`,
    });
  });

  it('timeScale shrinks real hook timeouts while Describe still reports them', async () => {
    emulator.autoscaling.configure({ timeScale: 0.01 });
    emulator.autoscaling.createGroup(ASG);
    await asg.send(
      new PutLifecycleHookCommand({
        AutoScalingGroupName: ASG,
        LifecycleHookName: HOOK,
        LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        HeartbeatTimeout: 30,
        DefaultResult: 'CONTINUE',
      }),
    );
    emulator.autoscaling.addInstance(ASG, 'i-0aaa');
    emulator.autoscaling.startTermination('i-0aaa');
    const hooks = await asg.send(new DescribeLifecycleHooksCommand({ AutoScalingGroupName: ASG }));
    expect(hooks.LifecycleHooks![0]).toMatchObject({ HeartbeatTimeout: 30, GlobalTimeout: 3000 });
    await until(() => emulator.autoscaling.history().some((h) => h.action === 'Timeout'));
    expect(emulator.autoscaling.history()[0]).toMatchObject({ result: 'CONTINUE' });
  });

  it('stop() clears the timers: no default result is applied after the emulator stops', async () => {
    setUp({ heartbeatTimeoutSeconds: 0.1 });
    emulator.autoscaling.startTermination('i-0aaa');
    emulator.autoscaling.stop();
    await sleep(250);
    expect(emulator.autoscaling.history()).toEqual([]);
    expect(emulator.autoscaling.state('i-0aaa')).toBe('Terminating:Wait');
  });
});

describe('completing', () => {
  it('Complete by token: Terminating:Proceed, then Terminated; the token is used up', async () => {
    setUp();
    const terminating: string[] = [];
    emulator.autoscaling.onInstanceTerminating((id) => terminating.push(id));
    const { token } = emulator.autoscaling.startTermination('i-0aaa');
    await complete({ LifecycleActionToken: token }, 'ABANDON');
    expect(await describedState('i-0aaa')).toBe('Terminating:Proceed');
    expect(terminating).toEqual(['i-0aaa']);
    await until(() => emulator.autoscaling.state('i-0aaa') === 'Terminated');
    await expect(complete({ LifecycleActionToken: token })).rejects.toMatchObject({
      name: 'ValidationError',
      message: `No active Lifecycle Action found with token ${token}`,
    });
    expect(emulator.autoscaling.history()).toEqual([
      expect.objectContaining({
        action: 'CompleteLifecycleAction',
        ok: true,
        result: 'ABANDON',
        by: 'token',
      }),
      expect.objectContaining({ action: 'CompleteLifecycleAction', ok: false, error: 'ValidationError' }),
    ]);
  });

  it('Complete by instance id works without a token', async () => {
    setUp();
    emulator.autoscaling.startTermination('i-0aaa');
    await complete({ InstanceId: 'i-0aaa' });
    expect(emulator.autoscaling.state('i-0aaa')).toBe('Terminating:Proceed');
    expect(emulator.autoscaling.history()[0]).toMatchObject({
      by: 'instanceId',
      ok: true,
      result: 'CONTINUE',
    });
  });

  it('no pending action, an unknown token or the wrong hook name → ValidationError naming what was asked', async () => {
    setUp();
    await expect(complete({ InstanceId: 'i-0aaa' })).rejects.toMatchObject({
      name: 'ValidationError',
      message: 'No active Lifecycle Action found with instance ID i-0aaa',
    });
    const { token } = emulator.autoscaling.startTermination('i-0aaa');
    const unknown = '11111111-2222-4333-8444-555555555555';
    await expect(complete({ LifecycleActionToken: unknown })).rejects.toMatchObject({
      message: `No active Lifecycle Action found with token ${unknown}`,
    });
    await expect(
      asg.send(
        new CompleteLifecycleActionCommand({
          AutoScalingGroupName: ASG,
          LifecycleHookName: 'other-hook',
          LifecycleActionToken: token,
          LifecycleActionResult: 'CONTINUE',
        }),
      ),
    ).rejects.toMatchObject({ name: 'ValidationError' });
    await expect(complete({ LifecycleActionToken: token }, 'MAYBE')).rejects.toMatchObject({
      name: 'ValidationError',
      message: expect.stringContaining('lifecycleActionResult'),
    });
    expect(await describedState('i-0aaa')).toBe('Terminating:Wait');
  });

  it('race window: Complete is refused while Describe already says Terminating:Wait, then accepted', async () => {
    setUp();
    emulator.autoscaling.raceWindowMs = 300;
    emulator.autoscaling.startTermination('i-0aaa');
    await expect(complete({ InstanceId: 'i-0aaa' })).rejects.toMatchObject({
      name: 'ValidationError',
      message: 'No active Lifecycle Action found with instance ID i-0aaa',
    });
    expect(await describedState('i-0aaa')).toBe('Terminating:Wait');
    await sleep(350);
    await complete({ InstanceId: 'i-0aaa' });
    expect(emulator.autoscaling.history().map((h) => [h.ok, h.error])).toEqual([
      [false, 'race'],
      [true, undefined],
    ]);
  });

  it('race count: the first N completions are refused, heartbeats are not', async () => {
    setUp();
    const { token } = emulator.autoscaling.startTermination('i-0aaa', { raceCount: 2 });
    for (let i = 0; i < 2; i++) {
      await expect(complete({ LifecycleActionToken: token })).rejects.toMatchObject({
        message: `No active Lifecycle Action found with token ${token}`,
      });
      await heartbeat({ LifecycleActionToken: token });
    }
    await complete({ LifecycleActionToken: token });
    expect(emulator.autoscaling.state('i-0aaa')).toBe('Terminating:Proceed');
  });

  it('the server marks the EC2 instance terminated once Auto Scaling has terminated it', async () => {
    const vpc = emulator.ec2.createVpc({ cidrBlock: '10.0.0.0/16' });
    const subnet = emulator.ec2.createSubnet({ vpcId: vpc.vpcId, cidrBlock: '10.0.1.0/24' });
    const { instanceId } = emulator.ec2.runInstance({ subnetId: subnet.subnetId });
    setUp({}, instanceId);
    emulator.autoscaling.startTermination(instanceId);
    await complete({ InstanceId: instanceId });
    expect(emulator.ec2.instanceById(instanceId)?.state).not.toBe('terminated');
    await until(() => emulator.autoscaling.state(instanceId) === 'Terminated');
    expect(emulator.ec2.instanceById(instanceId)?.state ?? 'terminated').toBe('terminated');
  });
});

describe('hooks and groups over the wire', () => {
  it('PutLifecycleHook with a queue target sends the TEST_NOTIFICATION; the real 30–7200 s range applies', async () => {
    emulator.autoscaling.createGroup(ASG, { availabilityZones: ['us-east-1b'] });
    const queueUrl = emulator.sqs.createQueue('hooks');
    await asg.send(
      new PutLifecycleHookCommand({
        AutoScalingGroupName: ASG,
        LifecycleHookName: HOOK,
        LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        HeartbeatTimeout: 120,
        NotificationTargetARN: 'arn:aws:sqs:us-east-1:123456789012:hooks',
        RoleARN: 'arn:aws:iam::123456789012:role/asg-to-sqs',
      }),
    );
    const test = JSON.parse(emulator.sqs.messages(queueUrl)[0].body);
    expect(test).toMatchObject({ Event: 'autoscaling:TEST_NOTIFICATION', AutoScalingGroupName: ASG });
    expect(test.LifecycleActionToken).toBeUndefined();
    const hooks = await asg.send(new DescribeLifecycleHooksCommand({ AutoScalingGroupName: ASG }));
    expect(hooks.LifecycleHooks![0]).toMatchObject({
      HeartbeatTimeout: 120,
      GlobalTimeout: 12000,
      DefaultResult: 'ABANDON',
      NotificationTargetARN: 'arn:aws:sqs:us-east-1:123456789012:hooks',
    });
    await expect(
      asg.send(
        new PutLifecycleHookCommand({
          AutoScalingGroupName: ASG,
          LifecycleHookName: HOOK,
          HeartbeatTimeout: 10,
        }),
      ),
    ).rejects.toMatchObject({ name: 'ValidationError' });

    emulator.autoscaling.addInstance(ASG, 'i-0aaa');
    emulator.autoscaling.startTermination('i-0aaa');
    expect(JSON.parse(emulator.sqs.messages(queueUrl)[1].body).EC2InstanceId).toBe('i-0aaa');
  });

  it('DescribeAutoScalingInstances and DescribeAutoScalingGroups list members with their lifecycle state', async () => {
    setUp({}, 'i-0aaa');
    emulator.autoscaling.addInstance(ASG, 'i-0bbb', { availabilityZone: 'us-east-1c' });
    emulator.autoscaling.startTermination('i-0bbb');
    const all = await asg.send(new DescribeAutoScalingInstancesCommand({}));
    expect(
      all.AutoScalingInstances!.map((i) => [i.InstanceId, i.LifecycleState, i.AvailabilityZone]),
    ).toEqual([
      ['i-0aaa', 'InService', 'us-east-1a'],
      ['i-0bbb', 'Terminating:Wait', 'us-east-1c'],
    ]);
    const groups = await asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [ASG] }));
    expect(groups.AutoScalingGroups![0]).toMatchObject({ AutoScalingGroupName: ASG, DesiredCapacity: 1 });
    expect(groups.AutoScalingGroups![0].Instances!.map((i) => i.LifecycleState)).toEqual([
      'InService',
      'Terminating:Wait',
    ]);
  });

  it('a missing required parameter is a ValidationError naming it', async () => {
    await expect(
      asg.send(
        new CompleteLifecycleActionCommand({
          AutoScalingGroupName: ASG,
          LifecycleHookName: undefined as unknown as string,
          LifecycleActionResult: 'CONTINUE',
          InstanceId: 'i-0aaa',
        }),
      ),
    ).rejects.toMatchObject({
      name: 'ValidationError',
      message: expect.stringContaining("'lifecycleHookName'"),
    });
  });
});
