import { gatherPeerFacts } from '../gate/ha-facts';
import { BFD_NOT_RUNNING, BFD_PATH } from '../gate/loxilb-api';
import { errorCodeOf, isAsgValidationError } from '../aws/errors';
import {
  describeAutoScalingInstances,
  describeLifecycleHooks,
  TERMINATING_TRANSITION,
} from '../discovery/asg-reads';
import {
  CheckResult,
  CheckClients,
  CheckDeps,
  messageOf,
  awsFailure,
  callContext,
  CHECK_ATTEMPTS,
} from './common';

/** The HA cluster as AWS sees it, and the Auto Scaling lifecycle hook. */

/**
 * Who the gate will count as this host's cluster when BFD is off (kube-loxilb --setRoles) or in
 * static mode: without it, the gate can only decide handover. Only asked when it matters.
 */
export async function checkHaCluster(
  deps: CheckDeps,
  clients: CheckClients,
  instanceId: string | undefined,
): Promise<CheckResult | undefined> {
  const gate = deps.config.gate;
  if (!instanceId || gate.mode === 'override') return undefined;
  if (gate.mode === 'loxilb-api') {
    const bfd = await deps
      .httpGet(`${gate.loxilbApiUrl.replace(/\/+$/, '')}${BFD_PATH}`, gate.apiTimeoutMs)
      .catch(() => undefined);
    if (!bfd || !BFD_NOT_RUNNING.test(bfd.body)) return undefined;
  }
  const view = await gatherPeerFacts(
    {
      ec2: { ec2: clients.ec2, clock: deps.clock, config: deps.config, logger: deps.logger },
      autoScaling: clients.autoScaling,
    },
    instanceId,
    { cluster: true },
  );
  if (!view.cluster) {
    return {
      status: 'WARN',
      check: 'ha-cluster',
      what: `the gate cannot tell this host's cluster: ${view.error}`,
      fix: 'with BFD off (kube-loxilb --setRoles) or gate.mode static, the gate then always decides handover and a last node standing leaks: run the hosts in one Auto Scaling group, or set gate.clusterTagKey',
      ...(view.errorCode ? { errorCode: view.errorCode } : {}),
    };
  }
  const others = view.cluster.members.map(
    (m) => `${m.instanceId} (${m.asgLifecycleState ?? m.instanceState ?? '?'})`,
  );
  return {
    status: 'OK',
    check: 'ha-cluster',
    what: `the gate's cluster is ${view.cluster.source}: ${others.length ? `other members ${others.join(', ')}` : 'no other member (this host is the last node standing)'}`,
  };
}

export async function checkAutoScaling(
  deps: CheckDeps,
  clients: CheckClients,
  instanceId: string | undefined,
  add: (r: CheckResult) => void,
): Promise<void> {
  const { autoScalingGroupName: group, hookName } = deps.config.lifecycle;
  const ctx = callContext(deps);
  const read = { maxAttempts: CHECK_ATTEMPTS };
  let memberOf: string | undefined;
  if (instanceId) {
    try {
      const rows = await describeAutoScalingInstances(ctx, clients.autoScaling, [instanceId], read);
      memberOf = rows[0]?.autoScalingGroupName;
      add({
        status: 'OK',
        check: 'autoscaling:DescribeAutoScalingInstances',
        what: `autoscaling:DescribeAutoScalingInstances: ${instanceId} ${memberOf ? `is in group ${memberOf}` : 'is in no Auto Scaling group'}`,
      });
    } catch (err) {
      add(
        awsFailure(
          'autoscaling:DescribeAutoScalingInstances',
          'autoscaling:DescribeAutoScalingInstances',
          err,
        ),
      );
    }
  }

  if (!group || !hookName) {
    if (memberOf) {
      add({
        status: 'WARN',
        check: 'lifecycle',
        what: `this instance is in group ${memberOf} but lifecycle.autoScalingGroupName/hookName are not set`,
        fix: 'set them (scripts/aws-setup.yaml outputs both) so a teardown triggered by IMDS or the shutdown probe can complete the lifecycle action',
      });
    }
    return;
  }
  if (memberOf && memberOf !== group) {
    add({
      status: 'WARN',
      check: 'lifecycle',
      what: `lifecycle.autoScalingGroupName is ${group} but this instance is in ${memberOf}`,
      fix: `set lifecycle.autoScalingGroupName to ${memberOf}`,
    });
  }
  try {
    const hooks = await describeLifecycleHooks(ctx, clients.autoScaling, group, [hookName], read);
    const hook = hooks.find((h) => h.hookName === hookName);
    if (!hook) {
      add({
        status: 'FAIL',
        check: 'autoscaling:DescribeLifecycleHooks',
        what: `lifecycle hook ${hookName} not found on group ${group}`,
        fix: 'create it (scripts/aws-setup.yaml) or fix lifecycle.hookName / lifecycle.autoScalingGroupName',
      });
    } else if (hook.transition !== TERMINATING_TRANSITION) {
      add({
        status: 'FAIL',
        check: 'autoscaling:DescribeLifecycleHooks',
        what: `lifecycle hook ${hookName} on ${group} is for ${hook.transition}, not termination`,
        fix: "point lifecycle.hookName at the group's autoscaling:EC2_INSTANCE_TERMINATING hook",
      });
    } else {
      add({
        status: 'OK',
        check: 'autoscaling:DescribeLifecycleHooks',
        what: `lifecycle hook ${hookName} on ${group}: terminating, heartbeat ${hook.heartbeatTimeoutSeconds ?? '?'} s, default ${hook.defaultResult ?? '?'}`,
      });
    }
  } catch (err) {
    const code = errorCodeOf(err);
    if (isAsgValidationError(err)) {
      add({
        status: 'FAIL',
        check: 'autoscaling:DescribeLifecycleHooks',
        what: `group ${group}: ${messageOf(err)}`,
        fix: 'fix lifecycle.autoScalingGroupName',
        errorCode: code,
      });
    } else add(awsFailure('autoscaling:DescribeLifecycleHooks', 'autoscaling:DescribeLifecycleHooks', err));
  }
}
