import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  DescribeAutoScalingInstancesCommand,
  DescribeLifecycleHooksCommand,
} from '@aws-sdk/client-auto-scaling';
import { mockClient } from 'aws-sdk-client-mock';
import { AwsCallContext } from '../../../lib/aws/call';
import { systemClock } from '../../../lib/clock';
import { parseConfig } from '../../../lib/config/load';
import {
  describeAutoScalingGroup,
  describeAutoScalingInstances,
  describeLifecycleHooks,
} from '../../../lib/discovery/asg-reads';
import { nullLogger } from '../../../lib/log';

/** The Auto Scaling reads the gate, the completion and `check` share: the calls made and the plain data back. */
const asg = mockClient(AutoScalingClient);
const client = new AutoScalingClient({ region: 'us-east-1' });
const ctx: AwsCallContext = {
  clock: systemClock,
  config: parseConfig({ executor: { maxAttempts: 1 } }),
  logger: nullLogger(),
};
const id = (n: number) => `i-${n.toString(16).padStart(17, '0')}`;

beforeEach(() => asg.reset());

describe('Auto Scaling reads', () => {
  it('DescribeAutoScalingInstances: at most 50 ids a call; instances in no group are simply absent', async () => {
    asg.on(DescribeAutoScalingInstancesCommand).callsFake((input: { InstanceIds: string[] }) => ({
      AutoScalingInstances: input.InstanceIds.filter((_, i) => i % 2 === 0).map((InstanceId) => ({
        InstanceId,
        AutoScalingGroupName: 'lb',
        LifecycleState: 'InService',
      })),
    }));
    const ids = Array.from({ length: 120 }, (_, i) => id(i));
    const rows = await describeAutoScalingInstances(ctx, client, ids);
    const calls = asg.commandCalls(DescribeAutoScalingInstancesCommand);
    expect(calls.map((c) => c.args[0].input.InstanceIds!.length)).toEqual([50, 50, 20]);
    expect(rows).toHaveLength(60);
    expect(rows[0]).toEqual({ instanceId: id(0), autoScalingGroupName: 'lb', lifecycleState: 'InService' });
  });

  it('DescribeAutoScalingInstances with no ids makes no call', async () => {
    expect(await describeAutoScalingInstances(ctx, client, [])).toEqual([]);
    expect(asg.commandCalls(DescribeAutoScalingInstancesCommand)).toHaveLength(0);
  });

  it('DescribeAutoScalingGroups: the named group with its instances; undefined when not returned', async () => {
    asg
      .on(DescribeAutoScalingGroupsCommand, { AutoScalingGroupNames: ['lb'] })
      .resolves({
        AutoScalingGroups: [
          {
            AutoScalingGroupName: 'lb',
            Instances: [
              { InstanceId: id(1), LifecycleState: 'Terminating:Wait' },
              { LifecycleState: 'Pending' },
            ],
          } as never,
        ],
      })
      .on(DescribeAutoScalingGroupsCommand, { AutoScalingGroupNames: ['gone'] })
      .resolves({ AutoScalingGroups: [] });
    expect(await describeAutoScalingGroup(ctx, client, 'lb')).toEqual({
      autoScalingGroupName: 'lb',
      instances: [{ instanceId: id(1), autoScalingGroupName: 'lb', lifecycleState: 'Terminating:Wait' }],
    });
    expect(await describeAutoScalingGroup(ctx, client, 'gone')).toBeUndefined();
  });

  it('DescribeLifecycleHooks: the named hooks, or all of them when none is named', async () => {
    asg.on(DescribeLifecycleHooksCommand).resolves({
      LifecycleHooks: [
        {
          LifecycleHookName: 'teardown',
          LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
          HeartbeatTimeout: 300,
          GlobalTimeout: 30000,
          DefaultResult: 'CONTINUE',
        },
      ],
    });
    expect(await describeLifecycleHooks(ctx, client, 'lb', ['teardown'])).toEqual([
      {
        hookName: 'teardown',
        transition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        heartbeatTimeoutSeconds: 300,
        globalTimeoutSeconds: 30000,
        defaultResult: 'CONTINUE',
      },
    ]);
    await describeLifecycleHooks(ctx, client, 'lb', undefined);
    const inputs = asg.commandCalls(DescribeLifecycleHooksCommand).map((c) => c.args[0].input);
    expect(inputs[0]).toEqual({ AutoScalingGroupName: 'lb', LifecycleHookNames: ['teardown'] });
    expect(inputs[1].LifecycleHookNames).toBeUndefined();
  });
});
