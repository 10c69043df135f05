import type { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import type { Filter } from '@aws-sdk/client-ec2';
import { errorCodeOf } from '../aws/errors';
import { AwsPeerView, PeerFact, PeerQuestions } from './gate';
import { describeInstances, describeSpotRequests, InstanceInfo } from '../discovery/ec2-reads';
import { describeAutoScalingGroup, describeAutoScalingInstances } from '../discovery/asg-reads';
import { CallContext } from '../aws/call';

/**
 * AWS's view of this host's loxilb peers, which loxilb itself does not have: the instance behind
 * each BFD peer IP, or (BFD off) the other members of this host's cluster; for each, its instance
 * state, Auto Scaling lifecycle state and spot request status. Read-only calls, made through the one
 * builder of each call (lib/discovery/ec2-reads.ts, asg-reads.ts). Never throws: a failure comes back as `error`, and the gate then decides `handover`.
 */

export interface HaFactsDeps {
  /** EC2 calls go through the one retrying call path. */
  ec2: CallContext;
  autoScaling: AutoScalingClient;
}

const log = { stage: 'gate' };
/** Auto Scaling reads: a few attempts, with the EC2 context's clock, signal and deadline. */
const ASG_READ = { maxAttempts: 3 };

function instancesWhere(deps: HaFactsDeps, filters: Filter[]): Promise<InstanceInfo[]> {
  return describeInstances(deps.ec2, filters, { logFields: { ...log, action: 'DescribeInstances' } });
}

function factOf(i: InstanceInfo): PeerFact {
  return { instanceId: i.instanceId, privateIp: i.privateIp, instanceState: i.state };
}

/** Adds each fact's Auto Scaling lifecycle state and spot request status (in place). */
async function enrich(deps: HaFactsDeps, facts: PeerFact[]): Promise<void> {
  // Members read from their group already carry their lifecycle state.
  const ids = facts.filter((f) => f.instanceId && f.asgLifecycleState === undefined).map((f) => f.instanceId);
  if (ids.length) {
    for (const row of await describeAutoScalingInstances(deps.ec2, deps.autoScaling, ids, ASG_READ)) {
      const f = facts.find((x) => x.instanceId === row.instanceId);
      if (f && row.lifecycleState) f.asgLifecycleState = row.lifecycleState;
    }
  }
  // By instance id: the request of each instance, whether or not DescribeInstances named it.
  const instanceIds = facts.map((f) => f.instanceId).filter(Boolean);
  if (instanceIds.length) {
    const requests = await describeSpotRequests(deps.ec2, [{ Name: 'instance-id', Values: instanceIds }], {
      logFields: { ...log, action: 'DescribeSpotInstanceRequests' },
    });
    for (const r of requests) {
      const f = facts.find((x) => x.instanceId === r.instanceId);
      if (f && r.statusCode) f.spotStatusCode = r.statusCode;
    }
  }
}

const LIVE_STATES = ['pending', 'running', 'shutting-down', 'stopping', 'stopped'];

/** The instance behind each IP (null when none has it). */
export async function peersByIp(deps: HaFactsDeps, ips: string[]): Promise<Record<string, PeerFact | null>> {
  const instances = await instancesWhere(deps, [
    { Name: 'private-ip-address', Values: ips },
    { Name: 'instance-state-name', Values: LIVE_STATES },
  ]);
  const facts = instances.map(factOf);
  await enrich(deps, facts);
  const out: Record<string, PeerFact | null> = {};
  for (const ip of ips) {
    const i = instances.findIndex((x) => x.privateIps.includes(ip) || x.privateIp === ip);
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
    const self = await instancesWhere(deps, [{ Name: 'instance-id', Values: [instanceId] }]);
    const value = self[0]?.tags[tagKey];
    if (value === undefined) return { error: `${instanceId} has no ${tagKey} tag (gate.clusterTagKey)` };
    source = `the instances tagged ${tagKey}=${value}`;
    members = (
      await instancesWhere(deps, [
        { Name: `tag:${tagKey}`, Values: [value] },
        { Name: 'instance-state-name', Values: LIVE_STATES },
      ])
    ).map(factOf);
  } else {
    let group = config.lifecycle.autoScalingGroupName;
    if (!group) {
      const rows = await describeAutoScalingInstances(deps.ec2, deps.autoScaling, [instanceId], ASG_READ);
      group = rows.find((r) => r.instanceId === instanceId)?.autoScalingGroupName;
    }
    if (!group) {
      return {
        error: `${instanceId} is in no Auto Scaling group; set gate.clusterTagKey to name the cluster by an instance tag`,
      };
    }
    const asg = await describeAutoScalingGroup(deps.ec2, deps.autoScaling, group, ASG_READ);
    if (!asg) return { error: `Auto Scaling group ${group} not found` };
    source = `Auto Scaling group ${group}`;
    const others = asg.instances.filter((i) => i.instanceId !== instanceId);
    const described = others.length
      ? await instancesWhere(deps, [{ Name: 'instance-id', Values: others.map((i) => i.instanceId) }])
      : [];
    members = others.map((i) => {
      const d = described.find((x) => x.instanceId === i.instanceId);
      return {
        ...(d ? factOf(d) : { instanceId: i.instanceId }),
        ...(i.lifecycleState ? { asgLifecycleState: i.lifecycleState } : {}),
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
