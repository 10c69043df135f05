import type { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { AwsCallContext } from '../aws/call';
import { errorCodeOf } from '../aws/errors';
import { Clock } from '../clock';
import { Config } from '../config/schema';
import {
  describeAutoScalingInstances,
  describeLifecycleHooks,
  LifecycleHookInfo,
  TERMINATING_TRANSITION,
} from '../discovery/asg-reads';
import { Logger } from '../log';
import { LifecycleRef } from '../notice';

/**
 * Which lifecycle action a teardown heartbeats and completes (reference §3): by token from a queue
 * message, or by instance id with the group and hook from config or from Auto Scaling
 * (DescribeAutoScalingInstances + DescribeLifecycleHooks).
 */

export interface CompletionDeps {
  autoScaling: AutoScalingClient;
  config: Config;
  clock: Clock;
  logger: Logger;
}

export interface LifecycleTarget {
  autoScalingGroupName: string;
  hookName: string;
  /** Absent: heartbeat and complete by instance id. */
  token?: string;
  heartbeatTimeoutSeconds: number;
  globalTimeoutSeconds?: number;
}

export type ResolveResult =
  | { target: LifecycleTarget }
  | { target: null; reason: 'not-in-asg' | 'no-hook' | 'ambiguous-hook' | 'lookup-failed'; detail: string };

/** The call context of one Auto Scaling call (lib/aws/call.ts) for these deps. */
export function asgCallContext(
  deps: CompletionDeps,
  signal?: AbortSignal,
  deadlineAt?: number,
): AwsCallContext {
  return { clock: deps.clock, config: deps.config, logger: deps.logger, signal, deadlineAt };
}

/** The instance's group and lifecycle state, or null when it is in no group (or gone). */
export async function describeAsgInstance(
  deps: CompletionDeps,
  instanceId: string,
  signal?: AbortSignal,
  deadlineAt?: number,
): Promise<{ autoScalingGroupName: string; lifecycleState: string } | null> {
  const rows = await describeAutoScalingInstances(
    asgCallContext(deps, signal, deadlineAt),
    deps.autoScaling,
    [instanceId],
  );
  const row = rows.find((i) => i.instanceId === instanceId);
  if (!row?.autoScalingGroupName) return null;
  return { autoScalingGroupName: row.autoScalingGroupName, lifecycleState: row.lifecycleState ?? 'Unknown' };
}

/**
 * Which lifecycle action to heartbeat and complete. Names come from the notice (queue message),
 * else config `lifecycle.*`, else AWS. The hook's HeartbeatTimeout comes from DescribeLifecycleHooks,
 * else `lifecycle.fallbackHeartbeatTimeoutSeconds`.
 */
export async function resolveLifecycleTarget(
  deps: CompletionDeps,
  instanceId: string,
  ref?: LifecycleRef,
  signal?: AbortSignal,
): Promise<ResolveResult> {
  const cfg = deps.config.lifecycle;
  let group = ref?.autoScalingGroupName ?? cfg.autoScalingGroupName;
  try {
    if (!group) {
      const row = await describeAsgInstance(deps, instanceId, signal);
      if (!row)
        return { target: null, reason: 'not-in-asg', detail: `${instanceId} is in no Auto Scaling group` };
      group = row.autoScalingGroupName;
    }
  } catch (err) {
    return {
      target: null,
      reason: 'lookup-failed',
      detail: `DescribeAutoScalingInstances: ${errorCodeOf(err)}: ${(err as Error).message}`,
    };
  }
  const hookName = ref?.hookName ?? cfg.hookName;
  let hooks: LifecycleHookInfo[] = [];
  let hooksError: unknown;
  try {
    hooks = await describeLifecycleHooks(
      asgCallContext(deps, signal),
      deps.autoScaling,
      group,
      hookName ? [hookName] : undefined,
    );
  } catch (err) {
    hooksError = err;
  }
  let hook = hookName ? hooks.find((h) => h.hookName === hookName) : undefined;
  if (!hookName) {
    if (hooksError) {
      return {
        target: null,
        reason: 'lookup-failed',
        detail: `DescribeLifecycleHooks ${group}: ${errorCodeOf(hooksError)}: ${(hooksError as Error).message}`,
      };
    }
    const terminating = hooks.filter((h) => h.transition === TERMINATING_TRANSITION);
    if (terminating.length === 0)
      return { target: null, reason: 'no-hook', detail: `group ${group} has no terminating lifecycle hook` };
    if (terminating.length > 1) {
      // Completing someone else's hook would cut their drain short: ask for lifecycle.hookName.
      const names = terminating.map((h) => h.hookName).join(', ');
      return {
        target: null,
        reason: 'ambiguous-hook',
        detail: `group ${group} has several terminating hooks (${names}); set lifecycle.hookName`,
      };
    }
    hook = terminating[0];
  }
  if (hooksError) {
    deps.logger.warn('DescribeLifecycleHooks failed; using lifecycle.fallbackHeartbeatTimeoutSeconds', {
      instanceId,
      stage: 'completion',
      resource: `${group}/${hookName}`,
      errorCode: errorCodeOf(hooksError),
    });
  }
  return {
    target: {
      autoScalingGroupName: group,
      hookName: hookName ?? hook!.hookName!,
      token: ref?.token,
      heartbeatTimeoutSeconds: hook?.heartbeatTimeoutSeconds ?? cfg.fallbackHeartbeatTimeoutSeconds,
      globalTimeoutSeconds: hook?.globalTimeoutSeconds,
    },
  };
}

/** The parameters that name the action in RecordLifecycleActionHeartbeat and CompleteLifecycleAction. */
export function actionParams(target: LifecycleTarget, instanceId: string) {
  return {
    AutoScalingGroupName: target.autoScalingGroupName,
    LifecycleHookName: target.hookName,
    ...(target.token ? { LifecycleActionToken: target.token } : { InstanceId: instanceId }),
  };
}
