import type { Filter } from '@aws-sdk/client-ec2';
import { AwsCommand } from '../aws/call';
import { handlerFor } from '../execute/teardown';
import { ActionName, ActionParams } from '../plan/actions';
import { ownerTagCommand } from '../sweeper/ownership';
import { errorCodeOf, isAccessDenied, isUnreachable } from '../aws/errors';
import {
  AddressInfo,
  describeAddresses,
  describeEnis,
  describeInstance,
  describeRouteTables,
  describeSubnets,
  describeVpcs,
  EniInfo,
  loxilbTagFilter,
  ReadOptions,
  RouteTableInfo,
  SubnetInfo,
} from '../discovery/ec2-reads';
import {
  CheckResult,
  CheckClients,
  CheckDeps,
  grantFix,
  messageOf,
  awsFailure,
  CHECK_ATTEMPTS,
  callContext,
  caller,
} from './common';

/**
 * EC2: the loxilb resources this host can see (the same reads as the teardown's discovery), then the
 * mutating permissions, tried with DryRun=true on those resources.
 */

export interface Discovery {
  /** False when a Describe failed: what was found is incomplete and DryRun targets may be missing. */
  complete: boolean;
  instanceId?: string;
  vpcId?: string;
  enis: EniInfo[];
  subnets: SubnetInfo[];
  routeTables: RouteTableInfo[];
  addresses: AddressInfo[];
}

export async function discover(
  deps: CheckDeps,
  clients: CheckClients,
  instanceId: string | undefined,
  add: (r: CheckResult) => void,
): Promise<Discovery> {
  const { config } = deps;
  const found: Discovery = {
    complete: true,
    instanceId,
    enis: [],
    subnets: [],
    routeTables: [],
    addresses: [],
  };
  const failed = (check: string, action: string, err: unknown, resource?: string): boolean => {
    found.complete = false;
    const code = errorCodeOf(err);
    if (isUnreachable(err)) {
      add({
        status: 'FAIL',
        check: 'ec2',
        what: `EC2 endpoint unreachable (${code}: ${messageOf(err)}); EC2 checks stopped`,
        fix: 'check network access to EC2 (route, VPC endpoint, HTTPS_PROXY/NO_PROXY in /etc/default/teardownd)',
        errorCode: code,
      });
      return true;
    }
    add(awsFailure(check, action, err, resource));
    return false;
  };
  // The same reads as the teardown's discovery (lib/discovery/ec2-reads.ts), with check's few attempts.
  const ctx = { ...callContext(deps), ec2: clients.ec2 };
  const read: ReadOptions = { maxAttempts: CHECK_ATTEMPTS };

  if (instanceId) {
    try {
      const inst = await describeInstance(ctx, instanceId, read);
      found.vpcId = inst?.vpcId;
      add({
        status: 'OK',
        check: 'ec2:DescribeInstances',
        what: `ec2:DescribeInstances: ${instanceId} is ${inst?.state ?? 'unknown'}${found.vpcId ? ` in ${found.vpcId}` : ''}`,
      });
    } catch (err) {
      if (failed('ec2:DescribeInstances', 'ec2:DescribeInstances', err, instanceId)) return found;
    }
  } else {
    add({
      status: 'FAIL',
      check: 'ec2:DescribeInstances',
      what: 'ec2:DescribeInstances not checked: instance id unknown',
      fix: 'fix IMDS or pass --instance-id',
    });
  }

  const reads: Array<[string, () => Promise<string>]> = [
    [
      'ec2:DescribeNetworkInterfaces',
      async () => {
        found.enis = await describeEnis(ctx, [loxilbTagFilter(config, 'eni')], read);
        return `${found.enis.length} loxilb ENI(s)`;
      },
    ],
    [
      'ec2:DescribeSubnets',
      async () => {
        found.subnets = await describeSubnets(ctx, [loxilbTagFilter(config, 'subnet')], read);
        return `${found.subnets.length} loxilb subnet(s)`;
      },
    ],
    [
      'ec2:DescribeRouteTables',
      async () => {
        found.routeTables = await describeRouteTables(ctx, [loxilbTagFilter(config, 'routeTable')], read);
        return `${found.routeTables.length} loxilb route table(s)`;
      },
    ],
    [
      'ec2:DescribeAddresses',
      async () => {
        const enis = found.enis.map((e) => e.networkInterfaceId).filter(Boolean);
        const filters: Filter[] = enis.length
          ? [{ Name: 'network-interface-id', Values: enis }]
          : [{ Name: 'domain', Values: ['vpc'] }];
        found.addresses = await describeAddresses(ctx, filters, read);
        return `${found.addresses.length} Elastic IP(s)${enis.length ? ' on loxilb ENIs' : ''}`;
      },
    ],
    [
      'ec2:DescribeVpcs',
      async () => {
        const cidr = config.cloud.cidrBlock;
        const input = cidr
          ? { Filters: [{ Name: 'cidr-block-association.cidr-block', Values: [cidr] }] }
          : found.vpcId
            ? { VpcIds: [found.vpcId] }
            : {};
        const vpcs = await describeVpcs(ctx, input, read);
        return cidr ? `${vpcs.length} VPC(s) holding ${cidr}` : `${vpcs.length} VPC(s)`;
      },
    ],
  ];
  for (const [action, read] of reads) {
    try {
      add({ status: 'OK', check: action, what: `${action}: ${await read()}` });
    } catch (err) {
      if (failed(action, action, err)) return found;
    }
  }
  return found;
}

export interface DryRunCase {
  action: string;
  /** The real resource it is tried on, or undefined when none exists. */
  resource?: string;
  /** Why it is not needed, when it is not. */
  notNeeded?: string;
  send?: () => Promise<unknown>;
}

export async function checkMutatingEc2(
  deps: CheckDeps,
  clients: CheckClients,
  d: Discovery,
  add: (r: CheckResult) => void,
): Promise<void> {
  const { config } = deps;
  const send = caller(deps);
  const dryRunSend = (command: AwsCommand) => send(clients.ec2, command, true);
  /**
   * A DryRun of the teardown's own command for `action` on `resource`; `params` are read only when
   * there is a resource to try it on.
   */
  const dryRunCase = <A extends ActionName>(
    action: A,
    resource: string | undefined,
    params: () => Omit<Extract<ActionParams, { action: A }>, 'action'>,
  ): DryRunCase => ({
    action: `ec2:${action}`,
    resource,
    send: () =>
      dryRunSend(
        handlerFor(action).command({ action, ...params() } as Extract<ActionParams, { action: A }>, true),
      ),
  });
  if (!d.complete) {
    add({
      status: 'WARN',
      check: 'ec2-dry-run',
      what: 'mutating EC2 permissions not verified: discovering the loxilb resources failed (above)',
      fix: 'fix the failures above and re-run check',
    });
    return;
  }
  const ownEni = d.enis.find(
    (e) => e.attachment?.instanceId === d.instanceId && (e.attachment?.deviceIndex ?? 0) !== 0,
  );
  const eni = ownEni ?? d.enis[0];
  const attached =
    ownEni ?? d.enis.find((e) => e.attachment?.attachmentId && (e.attachment.deviceIndex ?? 0) !== 0);
  const association = d.addresses.find(
    (a) => a.associationId && d.enis.some((e) => e.networkInterfaceId === a.networkInterfaceId),
  );
  const releasable = d.addresses.find(
    (a) => a.tags[config.eip.releaseTag.key] === config.eip.releaseTag.value,
  );
  const routeTable = d.routeTables[0];
  const rtAssociation = d.routeTables
    .flatMap((rt) => rt.associations.map((a) => ({ ...a, routeTableId: rt.routeTableId })))
    .find((a) => !a.main);
  const subnet = d.subnets[0];

  // Least harmful first: if an endpoint ever ignored DryRun, a tag is the only thing it would change.
  // Each command is the one the teardown (or the ownership marking) sends, with DryRun=true.
  const cases: DryRunCase[] = [
    {
      action: 'ec2:CreateTags',
      resource: eni?.networkInterfaceId,
      send: () =>
        dryRunSend(
          ownerTagCommand(
            [eni!.networkInterfaceId],
            config.ownership.ownerTagKey,
            d.instanceId ?? 'i-check',
            true,
          ),
        ),
    },
    dryRunCase('DisassociateAddress', association?.associationId, () => ({
      associationId: association!.associationId!,
      networkInterfaceId: association!.networkInterfaceId!,
    })),
    config.eip.policy === 'release-owned'
      ? dryRunCase('ReleaseAddress', releasable?.allocationId, () => ({
          allocationId: releasable!.allocationId!,
        }))
      : { action: 'ec2:ReleaseAddress', notNeeded: 'eip.policy is "disassociate"' },
    dryRunCase('DetachNetworkInterface', attached?.attachment?.attachmentId, () => ({
      networkInterfaceId: attached!.networkInterfaceId,
      attachmentId: attached!.attachment!.attachmentId!,
    })),
    dryRunCase('DeleteNetworkInterface', eni?.networkInterfaceId, () => ({
      networkInterfaceId: eni!.networkInterfaceId,
      waitForDetach: false,
    })),
    dryRunCase('DisassociateRouteTable', rtAssociation?.associationId, () => ({
      associationId: rtAssociation!.associationId,
      routeTableId: rtAssociation!.routeTableId,
    })),
    dryRunCase('DeleteRouteTable', routeTable?.routeTableId, () => ({
      routeTableId: routeTable!.routeTableId,
    })),
    dryRunCase('DeleteSubnet', subnet?.subnetId, () => ({ subnetId: subnet!.subnetId })),
  ];

  const untestable: string[] = [];
  for (const c of cases) {
    if (c.notNeeded) {
      add({ status: 'OK', check: c.action, what: `${c.action}: not used (${c.notNeeded})` });
      continue;
    }
    if (!c.resource) {
      untestable.push(c.action);
      continue;
    }
    const result = await dryRun(c.action, c.resource, c.send!);
    add(result);
    if (result.errorCode === 'DryRunIgnored') return; // stop before the endpoint changes anything else
  }
  if (untestable.length) {
    add({
      status: 'WARN',
      check: 'ec2-dry-run',
      what: `not verified, no loxilb resource to try them on: ${untestable.join(', ')}`,
      fix: 'normal on a host that is not the loxilb MASTER; re-run check on the MASTER once loxilb has created its resources',
    });
  }
  const noDryRun = ['ec2:DisassociateVpcCidrBlock'];
  const needsPending = deps.config.lifecycle.autoScalingGroupName
    ? ['autoscaling:CompleteLifecycleAction', 'autoscaling:RecordLifecycleActionHeartbeat']
    : [];
  add({
    status: 'WARN',
    check: 'unverifiable',
    what: `cannot be verified without changing something: ${[...noDryRun, ...needsPending].join(', ')}`,
    fix: 'compare the instance role with scripts/iam-policy.json (these have no DryRun, or need a pending lifecycle action); a denial shows as UnauthorizedOperation/AccessDenied in the teardown report',
  });
}

export async function dryRun(
  action: string,
  resource: string,
  send: () => Promise<unknown>,
): Promise<CheckResult> {
  try {
    await send();
    return {
      status: 'FAIL',
      check: action,
      what: `${action} on ${resource} was EXECUTED: the endpoint ignored DryRun=true`,
      fix: 'do not run check against this endpoint; remaining DryRun checks were skipped',
      errorCode: 'DryRunIgnored',
      resource,
    };
  } catch (err) {
    const code = errorCodeOf(err);
    if (code === 'DryRunOperation') {
      return { status: 'OK', check: action, what: `${action} allowed (DryRun on ${resource})`, resource };
    }
    if (isAccessDenied(err)) {
      return {
        status: 'FAIL',
        check: action,
        what: `${action} denied on ${resource} (${code})`,
        fix: grantFix(action, resource),
        errorCode: code,
        resource,
      };
    }
    return {
      status: 'WARN',
      check: action,
      what: `${action} not verified: DryRun on ${resource} answered ${code}: ${messageOf(err)}`,
      fix: 're-run check; if it persists, the resource may be changing under loxilb right now',
      errorCode: code,
      resource,
    };
  }
}
