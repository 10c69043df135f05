import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  DescribeAutoScalingGroupsCommandOutput,
  DescribeAutoScalingInstancesCommand,
  DescribeAutoScalingInstancesCommandOutput,
} from '@aws-sdk/client-auto-scaling';
import {
  DescribeInstancesCommand,
  DescribeInstancesResult,
  DescribeSpotInstanceRequestsCommand,
  DescribeSpotInstanceRequestsResult,
  Instance,
  Reservation,
} from '@aws-sdk/client-ec2';
import { errorCodeOf } from '../aws/errors';
import { AwsPeerView, PeerFact, PeerQuestions } from './gate';
import { tagsOf } from '../discovery/ec2-reads';
import { awsCall, AwsCommand, CallContext, describeAll } from '../aws/call';

/**
 * AWS's view of this host's loxilb peers, which loxilb itself does not have: the instance behind
 * each BFD peer IP, or (BFD off) the other members of this host's cluster; for each, its instance
 * state, Auto Scaling lifecycle state and spot request status. Read-only calls, each built here and
 * only here. Never throws: a failure comes back as `error`, and the gate then decides `handover`.
 */

export interface HaFactsDeps {
  /** EC2 calls go through the one retrying call path. */
  ec2: CallContext;
  autoScaling: AutoScalingClient;
}

const log = { stage: 'gate' };

/** An Auto Scaling read through the one call path, with the EC2 context's clock, signal and deadline. */
async function asgRead<O>(deps: HaFactsDeps, command: AwsCommand): Promise<O> {
  return (await awsCall<O>(deps.ec2, deps.autoScaling, command, { mutating: false, maxAttempts: 3 })).output;
}

async function describeInstances(deps: HaFactsDeps, filters: Array<{ Name: string; Values: string[] }>) {
  const reservations = await describeAll<DescribeInstancesResult, Reservation>(
    deps.ec2,
    (NextToken) => new DescribeInstancesCommand({ Filters: filters, NextToken }),
    (o) => o.Reservations,
    { ...log, action: 'DescribeInstances' },
  );
  return reservations.flatMap((r) => r.Instances ?? []);
}

function factOf(i: Instance): PeerFact {
  return { instanceId: i.InstanceId ?? '', privateIp: i.PrivateIpAddress, instanceState: i.State?.Name };
}

/** Adds each fact's Auto Scaling lifecycle state and spot request status (in place). */
async function enrich(deps: HaFactsDeps, facts: PeerFact[]): Promise<void> {
  // Members read from their group already carry their lifecycle state.
  const ids = facts.filter((f) => f.instanceId && f.asgLifecycleState === undefined).map((f) => f.instanceId);
  if (ids.length) {
    // DescribeAutoScalingInstances takes at most 50 ids per call.
    for (let i = 0; i < ids.length; i += 50) {
      const out = await asgRead<DescribeAutoScalingInstancesCommandOutput>(
        deps,
        new DescribeAutoScalingInstancesCommand({ InstanceIds: ids.slice(i, i + 50) }),
      );
      for (const row of out.AutoScalingInstances ?? []) {
        const f = facts.find((x) => x.instanceId === row.InstanceId);
        if (f && row.LifecycleState) f.asgLifecycleState = row.LifecycleState;
      }
    }
  }
  // By instance id: the request of each instance, whether or not DescribeInstances named it.
  const instanceIds = facts.map((f) => f.instanceId).filter(Boolean);
  if (instanceIds.length) {
    const requests = await describeAll<
      DescribeSpotInstanceRequestsResult,
      NonNullable<DescribeSpotInstanceRequestsResult['SpotInstanceRequests']>[number]
    >(
      deps.ec2,
      (NextToken) =>
        new DescribeSpotInstanceRequestsCommand({
          Filters: [{ Name: 'instance-id', Values: instanceIds }],
          NextToken,
        }),
      (o) => o.SpotInstanceRequests,
      { ...log, action: 'DescribeSpotInstanceRequests' },
    );
    for (const r of requests) {
      const f = facts.find((x) => x.instanceId === r.InstanceId);
      if (f && r.Status?.Code) f.spotStatusCode = r.Status.Code;
    }
  }
}

const LIVE_STATES = ['pending', 'running', 'shutting-down', 'stopping', 'stopped'];

/** The instance behind each IP (null when none has it). */
export async function peersByIp(deps: HaFactsDeps, ips: string[]): Promise<Record<string, PeerFact | null>> {
  const instances = await describeInstances(deps, [
    { Name: 'private-ip-address', Values: ips },
    { Name: 'instance-state-name', Values: LIVE_STATES },
  ]);
  const facts = instances.map(factOf);
  await enrich(deps, facts);
  const out: Record<string, PeerFact | null> = {};
  for (const ip of ips) {
    const i = instances.findIndex(
      (x) =>
        (x.NetworkInterfaces ?? []).some((n) =>
          (n.PrivateIpAddresses ?? []).some((a) => a.PrivateIpAddress === ip),
        ) || x.PrivateIpAddress === ip,
    );
    out[ip] = i >= 0 ? facts[i] : null;
  }
  return out;
}

/**
 * The other members of this host's cluster: the instances of its Auto Scaling group, or — with
 * gate.clusterTagKey — the non-terminated instances carrying the same value of that tag.
 * Null (with why) when membership cannot be established.
 */
export async function clusterMembers(
  deps: HaFactsDeps,
  instanceId: string,
): Promise<{ source: string; members: PeerFact[] } | { error: string }> {
  const { config } = deps.ec2;
  const tagKey = config.gate.clusterTagKey;
  let members: PeerFact[];
  let source: string;
  if (tagKey) {
    const self = await describeInstances(deps, [{ Name: 'instance-id', Values: [instanceId] }]);
    const value = self[0] ? tagsOf(self[0].Tags)[tagKey] : undefined;
    if (value === undefined) return { error: `${instanceId} has no ${tagKey} tag (gate.clusterTagKey)` };
    source = `the instances tagged ${tagKey}=${value}`;
    members = (
      await describeInstances(deps, [
        { Name: `tag:${tagKey}`, Values: [value] },
        { Name: 'instance-state-name', Values: LIVE_STATES },
      ])
    ).map(factOf);
  } else {
    let group = config.lifecycle.autoScalingGroupName;
    if (!group) {
      const out = await asgRead<DescribeAutoScalingInstancesCommandOutput>(
        deps,
        new DescribeAutoScalingInstancesCommand({ InstanceIds: [instanceId] }),
      );
      group = out.AutoScalingInstances?.find((r) => r.InstanceId === instanceId)?.AutoScalingGroupName;
    }
    if (!group) {
      return {
        error: `${instanceId} is in no Auto Scaling group; set gate.clusterTagKey to name the cluster by an instance tag`,
      };
    }
    const out = await asgRead<DescribeAutoScalingGroupsCommandOutput>(
      deps,
      new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [group] }),
    );
    const asg = out.AutoScalingGroups?.find((g) => g.AutoScalingGroupName === group);
    if (!asg) return { error: `Auto Scaling group ${group} not found` };
    source = `Auto Scaling group ${group}`;
    const others = (asg.Instances ?? []).filter((i) => i.InstanceId && i.InstanceId !== instanceId);
    const described = others.length
      ? await describeInstances(deps, [{ Name: 'instance-id', Values: others.map((i) => i.InstanceId!) }])
      : [];
    members = others.map((i) => {
      const d = described.find((x) => x.InstanceId === i.InstanceId);
      return {
        ...(d ? factOf(d) : { instanceId: i.InstanceId! }),
        ...(i.LifecycleState ? { asgLifecycleState: i.LifecycleState } : {}),
      };
    });
  }
  members = members.filter((m) => m.instanceId && m.instanceId !== instanceId);
  await enrich(deps, members);
  return { source, members };
}

/** Answers the gate's questions. Never throws. */
export async function gatherPeerFacts(
  deps: HaFactsDeps,
  instanceId: string,
  questions: PeerQuestions,
): Promise<AwsPeerView> {
  const view: AwsPeerView = {};
  try {
    if (questions.peerIps?.length) view.byIp = await peersByIp(deps, questions.peerIps);
    if (questions.cluster) {
      const c = await clusterMembers(deps, instanceId);
      if ('error' in c) view.error = c.error;
      else view.cluster = c;
    }
  } catch (err) {
    view.error = `${errorCodeOf(err)}: ${(err as Error).message}`;
    view.errorCode = errorCodeOf(err);
    delete view.byIp;
    delete view.cluster;
  }
  return view;
}
