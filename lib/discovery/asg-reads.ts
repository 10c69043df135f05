import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  DescribeAutoScalingGroupsCommandOutput,
  DescribeAutoScalingInstancesCommand,
  DescribeAutoScalingInstancesCommandOutput,
  DescribeLifecycleHooksCommand,
  DescribeLifecycleHooksCommandOutput,
} from '@aws-sdk/client-auto-scaling';
import { AwsCallContext, AwsCallOptions, awsCall } from '../aws/call';

/**
 * The Auto Scaling reads, each built here and only here, each returning plain data: the gate's peer
 * facts (lib/gate/ha-facts.ts), the lifecycle completion (lib/completion/) and `teardownd check` read
 * the groups, their instances and hooks through these. Errors are the SDK's, classified by the
 * callers with lib/aws/errors.ts.
 */

/** The transition of the hook a teardown heartbeats and completes. */
export const TERMINATING_TRANSITION = 'autoscaling:EC2_INSTANCE_TERMINATING';

/** Per call: fewer attempts where someone waits (check) or a loop retries itself; log fields. */
export type AsgReadOptions = Pick<AwsCallOptions, 'maxAttempts' | 'logFields'>;

export interface AsgInstanceInfo {
  instanceId: string;
  autoScalingGroupName?: string;
  /** `InService`, `Terminating:Wait`, … */
  lifecycleState?: string;
}

export interface AsgGroupInfo {
  autoScalingGroupName: string;
  instances: AsgInstanceInfo[];
}

export interface LifecycleHookInfo {
  hookName?: string;
  /** TERMINATING_TRANSITION for the hook a teardown completes. */
  transition?: string;
  heartbeatTimeoutSeconds?: number;
  globalTimeoutSeconds?: number;
  defaultResult?: string;
}

/** DescribeAutoScalingInstances takes at most 50 ids per call. */
const INSTANCES_PER_CALL = 50;

/** The group and lifecycle state of each instance that is in a group (the others are not returned). */
export async function describeAutoScalingInstances(
  ctx: AwsCallContext,
  autoScaling: AutoScalingClient,
  instanceIds: string[],
  o: AsgReadOptions = {},
): Promise<AsgInstanceInfo[]> {
  const rows: AsgInstanceInfo[] = [];
  for (let i = 0; i < instanceIds.length; i += INSTANCES_PER_CALL) {
    const { output } = await awsCall<DescribeAutoScalingInstancesCommandOutput>(
      ctx,
      autoScaling,
      new DescribeAutoScalingInstancesCommand({ InstanceIds: instanceIds.slice(i, i + INSTANCES_PER_CALL) }),
      { mutating: false, ...o },
    );
    for (const r of output.AutoScalingInstances ?? []) {
      if (!r.InstanceId) continue;
      rows.push({
        instanceId: r.InstanceId,
        autoScalingGroupName: r.AutoScalingGroupName,
        lifecycleState: r.LifecycleState,
      });
    }
  }
  return rows;
}

/** One group and its instances; undefined when Auto Scaling does not return it. */
export async function describeAutoScalingGroup(
  ctx: AwsCallContext,
  autoScaling: AutoScalingClient,
  name: string,
  o: AsgReadOptions = {},
): Promise<AsgGroupInfo | undefined> {
  const { output } = await awsCall<DescribeAutoScalingGroupsCommandOutput>(
    ctx,
    autoScaling,
    new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] }),
    { mutating: false, ...o },
  );
  const group = output.AutoScalingGroups?.find((g) => g.AutoScalingGroupName === name);
  if (!group) return undefined;
  return {
    autoScalingGroupName: name,
    instances: (group.Instances ?? [])
      .filter((i) => i.InstanceId)
      .map((i) => ({
        instanceId: i.InstanceId!,
        autoScalingGroupName: name,
        lifecycleState: i.LifecycleState,
      })),
  };
}

/** The group's lifecycle hooks: the named ones, or (no names) all of them. */
export async function describeLifecycleHooks(
  ctx: AwsCallContext,
  autoScaling: AutoScalingClient,
  group: string,
  hookNames: string[] | undefined,
  o: AsgReadOptions = {},
): Promise<LifecycleHookInfo[]> {
  const { output } = await awsCall<DescribeLifecycleHooksCommandOutput>(
    ctx,
    autoScaling,
    new DescribeLifecycleHooksCommand({ AutoScalingGroupName: group, LifecycleHookNames: hookNames }),
    { mutating: false, ...o },
  );
  return (output.LifecycleHooks ?? []).map((h) => ({
    hookName: h.LifecycleHookName,
    transition: h.LifecycleTransition,
    heartbeatTimeoutSeconds: h.HeartbeatTimeout,
    globalTimeoutSeconds: h.GlobalTimeout,
    defaultResult: h.DefaultResult,
  }));
}
