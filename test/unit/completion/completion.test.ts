import {
  AutoScalingClient,
  AutoScalingServiceException,
  CompleteLifecycleActionCommand,
  DescribeAutoScalingInstancesCommand,
  DescribeLifecycleHooksCommand,
  RecordLifecycleActionHeartbeatCommand,
} from '@aws-sdk/client-auto-scaling';
import { mockClient } from 'aws-sdk-client-mock';
import { completeLifecycleAction } from '../../../lib/completion/completion';
import { Heartbeater, heartbeatIntervalMs } from '../../../lib/completion/heartbeat';
import { CompletionDeps, LifecycleTarget, resolveLifecycleTarget } from '../../../lib/completion/target';
import { parseConfig } from '../../../lib/config/load';
import { nullLogger } from '../../../lib/log';
import { flush, ManualClock } from '../../helpers/manual-clock';

const asg = mockClient(AutoScalingClient);
const instanceId = 'i-0abc';

function awsError(name: string, message: string, fault: 'client' | 'server' = 'client') {
  return new AutoScalingServiceException({
    name,
    message,
    $fault: fault,
    $metadata: { httpStatusCode: fault === 'client' ? 400 : 500 },
  });
}

function deps(
  config: Record<string, unknown> = {},
  clock = new ManualClock(),
): CompletionDeps & { clock: ManualClock } {
  return {
    autoScaling: new AutoScalingClient({ region: 'us-east-1' }),
    config: parseConfig({ executor: { retryBaseDelayMs: 1, retryMaxDelayMs: 2 }, ...config }),
    clock,
    logger: nullLogger(),
  };
}

const terminatingHook = {
  LifecycleHookName: 'teardownd',
  AutoScalingGroupName: 'web',
  LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
  HeartbeatTimeout: 60,
  GlobalTimeout: 6000,
};

beforeEach(() => asg.reset());

describe('resolveLifecycleTarget', () => {
  it('uses the names and token from the queue message and reads the hook timeout', async () => {
    asg.on(DescribeLifecycleHooksCommand).resolves({ LifecycleHooks: [terminatingHook] });
    const r = await resolveLifecycleTarget(deps(), instanceId, {
      autoScalingGroupName: 'web',
      hookName: 'teardownd',
      token: 't-1',
    });
    expect(r.target).toEqual({
      autoScalingGroupName: 'web',
      hookName: 'teardownd',
      token: 't-1',
      heartbeatTimeoutSeconds: 60,
      globalTimeoutSeconds: 6000,
    });
    expect(asg.commandCalls(DescribeAutoScalingInstancesCommand)).toHaveLength(0);
    expect(asg.commandCalls(DescribeLifecycleHooksCommand)[0].args[0].input).toEqual({
      AutoScalingGroupName: 'web',
      LifecycleHookNames: ['teardownd'],
    });
  });

  it('without a message: finds the group, then the only terminating hook', async () => {
    asg.on(DescribeAutoScalingInstancesCommand).resolves({
      AutoScalingInstances: [
        {
          InstanceId: instanceId,
          AutoScalingGroupName: 'web',
          LifecycleState: 'Terminating:Wait',
          AvailabilityZone: 'a',
          HealthStatus: 'HEALTHY',
          ProtectedFromScaleIn: false,
        },
      ],
    });
    asg.on(DescribeLifecycleHooksCommand).resolves({
      LifecycleHooks: [
        {
          ...terminatingHook,
          LifecycleHookName: 'on-launch',
          LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
        },
        terminatingHook,
      ],
    });
    const r = await resolveLifecycleTarget(deps(), instanceId);
    expect(r.target).toMatchObject({
      autoScalingGroupName: 'web',
      hookName: 'teardownd',
      heartbeatTimeoutSeconds: 60,
    });
    expect(r.target!.token).toBeUndefined();
  });

  it('refuses to pick among several terminating hooks (someone else may own one)', async () => {
    asg.on(DescribeAutoScalingInstancesCommand).resolves({
      AutoScalingInstances: [
        {
          InstanceId: instanceId,
          AutoScalingGroupName: 'web',
          LifecycleState: 'InService',
          AvailabilityZone: 'a',
          HealthStatus: 'HEALTHY',
          ProtectedFromScaleIn: false,
        },
      ],
    });
    asg
      .on(DescribeLifecycleHooksCommand)
      .resolves({ LifecycleHooks: [terminatingHook, { ...terminatingHook, LifecycleHookName: 'drain' }] });
    const r = await resolveLifecycleTarget(deps(), instanceId);
    expect(r).toMatchObject({ target: null, reason: 'ambiguous-hook' });
    if (r.target === null) expect(r.detail).toMatch(/teardownd, drain.*lifecycle\.hookName/);
  });

  it('an instance in no group needs no completion', async () => {
    asg.on(DescribeAutoScalingInstancesCommand).resolves({ AutoScalingInstances: [] });
    expect(await resolveLifecycleTarget(deps(), instanceId)).toMatchObject({
      target: null,
      reason: 'not-in-asg',
    });
  });

  it('config names are used and the fallback timeout applies when the hook cannot be read', async () => {
    asg.on(DescribeLifecycleHooksCommand).rejects(awsError('AccessDenied', 'no'));
    const d = deps({
      lifecycle: { autoScalingGroupName: 'web', hookName: 'teardownd', fallbackHeartbeatTimeoutSeconds: 90 },
    });
    const r = await resolveLifecycleTarget(d, instanceId);
    expect(r.target).toMatchObject({
      autoScalingGroupName: 'web',
      hookName: 'teardownd',
      heartbeatTimeoutSeconds: 90,
    });
  });
});

describe('Heartbeater', () => {
  const target: LifecycleTarget = {
    autoScalingGroupName: 'web',
    hookName: 'teardownd',
    token: 't-1',
    heartbeatTimeoutSeconds: 30,
  };

  it('beats every ⅓ of HeartbeatTimeout while there is progress, by token', async () => {
    asg.on(RecordLifecycleActionHeartbeatCommand).resolves({});
    const d = deps();
    let progress = d.clock.now();
    const hb = new Heartbeater(d, target, { instanceId, episode: 'e', lastProgressAt: () => progress });
    expect(hb.intervalMs).toBe(10000);
    hb.start();
    await d.clock.advance(9999);
    expect(asg.commandCalls(RecordLifecycleActionHeartbeatCommand)).toHaveLength(0);
    for (let i = 0; i < 5; i++) {
      progress = d.clock.now();
      await d.clock.advance(10000);
    }
    expect(asg.commandCalls(RecordLifecycleActionHeartbeatCommand)).toHaveLength(5);
    expect(asg.commandCalls(RecordLifecycleActionHeartbeatCommand)[0].args[0].input).toEqual({
      AutoScalingGroupName: 'web',
      LifecycleHookName: 'teardownd',
      LifecycleActionToken: 't-1',
    });
    await hb.stop();
    expect(hb.stoppedBecause).toBe('stopped');
    await d.clock.advance(60000);
    expect(asg.commandCalls(RecordLifecycleActionHeartbeatCommand)).toHaveLength(5);
  });

  it('stops after maxStalledHeartbeats intervals without progress (never holds a dead instance)', async () => {
    asg.on(RecordLifecycleActionHeartbeatCommand).resolves({});
    const d = deps({ lifecycle: { maxStalledHeartbeats: 2 } });
    const start = d.clock.now();
    const hb = new Heartbeater(d, target, { instanceId, episode: 'e', lastProgressAt: () => start });
    hb.start();
    await d.clock.advance(60000);
    expect(hb.stoppedBecause).toBe('stalled');
    expect(asg.commandCalls(RecordLifecycleActionHeartbeatCommand)).toHaveLength(2);
  });

  it('stops on ValidationError (the action is gone) and goes by instance id without a token', async () => {
    asg
      .on(RecordLifecycleActionHeartbeatCommand)
      .rejects(
        awsError('ValidationError', `No active Lifecycle Action found with instance ID ${instanceId}`),
      );
    const d = deps();
    const hb = new Heartbeater(
      d,
      { ...target, token: undefined },
      { instanceId, episode: 'e', lastProgressAt: () => d.clock.now() },
    );
    hb.start();
    await d.clock.advance(50000);
    expect(hb.stoppedBecause).toBe('action-gone');
    expect(asg.commandCalls(RecordLifecycleActionHeartbeatCommand)).toHaveLength(1);
    expect(asg.commandCalls(RecordLifecycleActionHeartbeatCommand)[0].args[0].input).toMatchObject({
      InstanceId: instanceId,
    });
  });

  it('switches to a token that arrives later', async () => {
    asg.on(RecordLifecycleActionHeartbeatCommand).resolves({});
    const d = deps();
    const hb = new Heartbeater(
      d,
      { ...target, token: undefined },
      { instanceId, episode: 'e', lastProgressAt: () => d.clock.now() },
    );
    hb.start();
    await d.clock.advance(10000);
    hb.useToken('t-late');
    await d.clock.advance(10000);
    await hb.stop();
    const inputs = asg.commandCalls(RecordLifecycleActionHeartbeatCommand).map((c) => c.args[0].input);
    expect(inputs[0]).toMatchObject({ InstanceId: instanceId });
    expect(inputs[1]).toMatchObject({ LifecycleActionToken: 't-late' });
  });

  it('derives the interval from the timeout', () => {
    expect(heartbeatIntervalMs(3600)).toBe(1200000);
    expect(heartbeatIntervalMs(1)).toBe(333);
  });
});

describe('completeLifecycleAction', () => {
  const target: LifecycleTarget = {
    autoScalingGroupName: 'web',
    hookName: 'teardownd',
    heartbeatTimeoutSeconds: 60,
  };
  const state = (LifecycleState: string) => ({
    AutoScalingInstances: [
      {
        InstanceId: instanceId,
        AutoScalingGroupName: 'web',
        LifecycleState,
        AvailabilityZone: 'a',
        HealthStatus: 'HEALTHY',
        ProtectedFromScaleIn: false,
      },
    ],
  });
  const noActive = () =>
    awsError('ValidationError', `No active Lifecycle Action found with instance ID ${instanceId}`);

  it('completes by token with CONTINUE', async () => {
    asg.on(CompleteLifecycleActionCommand).resolves({});
    const r = await completeLifecycleAction(deps(), { ...target, token: 't-1' }, instanceId, 'CONTINUE');
    expect(r).toMatchObject({
      result: 'completed',
      by: 'token',
      token: 't-1',
      lifecycleActionResult: 'CONTINUE',
    });
    expect(asg.commandCalls(CompleteLifecycleActionCommand)[0].args[0].input).toEqual({
      AutoScalingGroupName: 'web',
      LifecycleHookName: 'teardownd',
      LifecycleActionToken: 't-1',
      LifecycleActionResult: 'CONTINUE',
    });
  });

  it('retries through the propagation race while the group says Terminating:Wait', async () => {
    asg.on(CompleteLifecycleActionCommand).rejectsOnce(noActive()).rejectsOnce(noActive()).resolves({});
    asg.on(DescribeAutoScalingInstancesCommand).resolves(state('Terminating:Wait'));
    const d = deps({ lifecycle: { completeRetryIntervalMs: 1000 } });
    const p = completeLifecycleAction(d, target, instanceId, 'ABANDON');
    await d.clock.advance(1000);
    await d.clock.advance(1000);
    const r = await p;
    expect(r).toMatchObject({ result: 'completed', by: 'instance-id', lifecycleActionResult: 'ABANDON' });
    expect(asg.commandCalls(CompleteLifecycleActionCommand)).toHaveLength(3);
    expect(asg.commandCalls(CompleteLifecycleActionCommand)[2].args[0].input).toMatchObject({
      InstanceId: instanceId,
    });
  });

  it.each(['Terminating:Proceed', 'Terminated'])('%s counts as done', async (s) => {
    asg.on(CompleteLifecycleActionCommand).rejects(noActive());
    asg.on(DescribeAutoScalingInstancesCommand).resolves(state(s));
    expect((await completeLifecycleAction(deps(), target, instanceId, 'CONTINUE')).result).toBe(
      'already-done',
    );
  });

  it('an instance that left the group counts as done', async () => {
    asg.on(CompleteLifecycleActionCommand).rejects(noActive());
    asg.on(DescribeAutoScalingInstancesCommand).resolves({ AutoScalingInstances: [] });
    expect((await completeLifecycleAction(deps(), target, instanceId, 'CONTINUE')).result).toBe(
      'already-done',
    );
  });

  it('InService (spot warning, no hook pending) → not needed', async () => {
    asg.on(CompleteLifecycleActionCommand).rejects(noActive());
    asg.on(DescribeAutoScalingInstancesCommand).resolves(state('InService'));
    expect((await completeLifecycleAction(deps(), target, instanceId, 'CONTINUE')).result).toBe('not-needed');
  });

  it('gives up after completeTimeoutMs, reporting the state', async () => {
    asg.on(CompleteLifecycleActionCommand).rejects(noActive());
    asg.on(DescribeAutoScalingInstancesCommand).resolves(state('Terminating:Wait'));
    const d = deps({ lifecycle: { completeRetryIntervalMs: 1000, completeTimeoutMs: 3500 } });
    const p = completeLifecycleAction(d, target, instanceId, 'CONTINUE');
    for (let i = 0; i < 5; i++) await d.clock.advance(1000);
    const r = await p;
    expect(r).toMatchObject({ result: 'failed', errorCode: 'ValidationError' });
    expect(r.detail).toMatch(/Terminating:Wait/);
    expect(asg.commandCalls(CompleteLifecycleActionCommand).length).toBeGreaterThanOrEqual(3);
  });

  it('a CompleteLifecycleAction that never answers is cut at aws.callTimeoutMs and sent again', async () => {
    asg
      .on(CompleteLifecycleActionCommand)
      .callsFakeOnce(() => new Promise(() => undefined))
      .resolves({});
    const d = deps({ aws: { callTimeoutMs: 2000 } });
    const box: { r?: Awaited<ReturnType<typeof completeLifecycleAction>> } = {};
    const p = completeLifecycleAction(d, { ...target, token: 't-1' }, instanceId, 'CONTINUE').then(
      (r) => (box.r = r),
    );
    await d.clock.advance(1999);
    expect(box.r).toBeUndefined();
    await d.clock.advance(2010);
    await p;
    expect(box.r).toMatchObject({ result: 'completed', by: 'token' });
    expect(asg.commandCalls(CompleteLifecycleActionCommand)).toHaveLength(2);
  });

  it('retries throttling, then fails fast on AccessDenied', async () => {
    asg.on(CompleteLifecycleActionCommand).rejectsOnce(awsError('Throttling', 'Rate exceeded')).resolves({});
    const d = deps();
    const p = completeLifecycleAction(d, target, instanceId, 'CONTINUE');
    await d.clock.advance(10);
    await flush();
    expect((await p).result).toBe('completed');
    asg.reset();
    asg.on(CompleteLifecycleActionCommand).rejects(awsError('AccessDenied', 'not allowed'));
    expect(await completeLifecycleAction(deps(), target, instanceId, 'CONTINUE')).toMatchObject({
      result: 'failed',
      errorCode: 'AccessDenied',
    });
  });
});
