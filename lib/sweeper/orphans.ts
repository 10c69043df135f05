import { describeState, liveness } from '../discovery/instance-state';
import { cidrContains } from '../discovery/inventory';
import { EniInfo, RouteTableInfo, TagValues } from '../discovery/ec2-reads';
import type { ClusterDiscovery } from '../discovery/sweep';
import { eniList, instancesToLookUp, judgeEni } from './orphan-eni';

/**
 * Orphan rules, pure: what the sweeper saw in one region (facts) in, one verdict per loxilb resource
 * out — `orphan` (its owner is gone: safe to remove), `in-use`, or `uncertain` (reported, never
 * touched). Conservative by default: anything this module cannot prove is `uncertain`.
 *
 * A "cluster" is every loxilb resource of one region carrying this config's tag values (the
 * `--cloudinstance` suffix). Its instances are those named by the owner tag of its loxilb ENIs, those
 * its loxilb ENIs are attached to, and `memberInstanceIds` (the sweeping host itself, when the daemon
 * sweeps: a host running teardownd for this cluster is a live member of it). An instance counts as
 * alive when DescribeInstances says pending/running/stopping/stopped (stopped may start again),
 * gone when it says terminated or does not return it at all; `shutting-down` is neither: its own
 * teardownd may be tearing it down right now, so the sweeper stays out of the way.
 *
 * Rules (the ENI ones in ./orphan-eni.ts, the shared resources' here):
 *  - a loxilb ENI attached to an instance that is not gone is in use; attached to a gone one, or
 *    detaching, is uncertain (EC2 has not finished with it);
 *  - an unattached (`available`) loxilb ENI whose owner tag names a gone instance is an orphan —
 *    but while any member of the cluster may be alive (the sweeping host, or an instance the cluster's
 *    ENIs name that is not gone), only once it has looked like that for sweeper.takeoverGraceMs: the
 *    dead master's ENI belongs to the surviving peer's takeover (loxilb force-detaches and deletes it,
 *    and aborts the takeover on a NotFound a sweeper caused), so the sweeper never touches the ENI of a
 *    host that died within that period; whose owner tag names an instance that still exists is
 *    uncertain (left to its owner);
 *  - an unattached loxilb ENI with no owner tag is an orphan once it has been seen unattached for
 *    sweeper.graceMs (EC2 reports no creation time for ENIs, so the sweeper's first-seen record is
 *    the clock: see lib/sweeper/state.ts); before that it is uncertain (loxilb may be attaching it);
 *  - the shared resources (loxilb subnet, route table, the cloud CIDR association) are orphans only
 *    when every loxilb ENI of the cluster is itself an orphan (so none will exist once they go), no
 *    instance of the cluster is alive, the resource has looked like that for sweeper.graceMs (a
 *    master creates the subnet before its ENI), and its own dependencies allow it: no ENI that stays
 *    in the subnet; a route table associated only with orphan subnets (never the main one, never a
 *    gateway); a CIDR that is not the VPC's primary and holds only orphan subnets.
 */

export type Verdict = 'orphan' | 'in-use' | 'uncertain';
export type CandidateKind = 'eni' | 'subnet' | 'route-table' | 'vpc-cidr';
export type { InstanceState } from '../discovery/instance-state';

/** What the sweep read (lib/discovery/sweep.ts) plus what the rules need to judge it. */
export interface OrphanFacts extends ClusterDiscovery {
  /** Epoch ms of the sweep. */
  now: number;
  graceMs: number;
  /** How long a dead owner's ENI is left to a takeover while the cluster may be alive (sweeper.takeoverGraceMs). */
  takeoverGraceMs: number;
  tagKey: string;
  ownerTagKey: string;
  tagValues: TagValues;
  /** config cloud.cidrBlock, if set. */
  cloudCidrBlock?: string;
  /** Live members whatever EC2 says (the sweeping host itself). */
  memberInstanceIds: string[];
  /** Resource id → epoch ms it was first seen waiting on the grace period (lib/sweeper/state.ts). */
  firstSeen: Record<string, number>;
}

export interface Candidate {
  resource: string;
  kind: CandidateKind;
  vpcId?: string;
  verdict: Verdict;
  /** One line: why this verdict. */
  reason: string;
  /** The facts the verdict rests on (for the report). */
  evidence: Record<string, unknown>;
}

export interface OrphanAnalysis {
  candidates: Candidate[];
  /**
   * Resources waiting on the grace period, with the time they were first seen so (now when new).
   * The sweeper keeps exactly these records; a resource that drops out starts over next time.
   */
  graceClock: Record<string, number>;
  cluster: {
    enis: string[];
    /** Instances of the cluster that are alive or shutting down (or unknown). */
    liveMembers: string[];
    /** Why the shared resources stay (undefined: the cluster is gone). */
    sharedKeptBecause?: { verdict: Verdict; reason: string };
  };
}

export function analyzeOrphans(facts: OrphanFacts): OrphanAnalysis {
  const candidates: Candidate[] = [];
  const graceClock: Record<string, number> = {};

  // ENIs
  const eniVerdict = new Map<string, Verdict>();
  const waitingOnGrace = new Set<string>();
  for (const eni of facts.enis) {
    const j = judgeEni(eni, facts);
    eniVerdict.set(eni.networkInterfaceId, j.verdict);
    if (j.graceSince !== undefined) {
      graceClock[eni.networkInterfaceId] = j.graceSince;
      if (j.verdict !== 'orphan') waitingOnGrace.add(eni.networkInterfaceId);
    }
    const eips = facts.addresses.filter((a) => a.networkInterfaceId === eni.networkInterfaceId);
    if (eips.length) j.evidence.eips = eips.map((a) => a.publicIp ?? a.allocationId);
    candidates.push({
      resource: eni.networkInterfaceId,
      kind: 'eni',
      vpcId: eni.vpcId,
      verdict: j.verdict,
      reason: j.reason,
      evidence: j.evidence,
    });
  }

  // The cluster: is anything of it still alive?
  const live = new Set<string>(facts.memberInstanceIds);
  for (const id of instancesToLookUp(facts.enis, facts.ownerTagKey)) {
    const l = liveness(facts.instances[id]);
    if (l !== 'gone') live.add(id);
  }
  const staying = facts.enis.filter((e) => eniVerdict.get(e.networkInterfaceId) !== 'orphan');
  const inUse = staying.filter((e) => eniVerdict.get(e.networkInterfaceId) === 'in-use');
  const members = facts.memberInstanceIds;
  let kept: { verdict: Verdict; reason: string } | undefined;
  // The shared resources' grace clock runs while the cluster looks dead, or is only waiting on the
  // grace clocks of unattached ENIs: both clocks then run together, not one after the other.
  let clockRuns = false;
  if (members.length) {
    kept = {
      verdict: 'in-use',
      reason: `the cluster has a live member: ${members.join(', ')} (the sweeping host)`,
    };
  } else if (inUse.length) {
    kept = { verdict: 'in-use', reason: `the cluster's loxilb ENI(s) are in use: ${eniList(inUse)}` };
  } else if (staying.length) {
    kept = {
      verdict: 'uncertain',
      reason: `the cluster still has loxilb ENI(s) that are not orphans: ${eniList(staying)}`,
    };
    clockRuns = staying.every((e) => waitingOnGrace.has(e.networkInterfaceId));
  } else if (live.size) {
    kept = {
      verdict: 'uncertain',
      reason: `instance(s) of the cluster are not gone: ${[...live].map((i) => `${i} (${describeState(facts.instances[i])})`).join(', ')}`,
    };
  } else {
    clockRuns = true;
  }

  const clusterEvidence = {
    clusterEnis: facts.enis.map((e) => `${e.networkInterfaceId}: ${eniVerdict.get(e.networkInterfaceId)}`),
    liveMembers: [...live],
  };

  /** Shared verdict: the cluster first, then the resource's own blockers, then the grace clock. */
  const judgeShared = (
    id: string,
    blockers: { verdict: Verdict; reason: string } | undefined,
  ): { verdict: Verdict; reason: string; evidence: Record<string, unknown> } => {
    const evidence: Record<string, unknown> = { ...clusterEvidence };
    let ageMs = 0;
    if (clockRuns) {
      const since = facts.firstSeen[id] ?? facts.now;
      graceClock[id] = since;
      ageMs = Math.max(0, facts.now - since);
      evidence.firstSeenUnownedAt = new Date(since).toISOString();
      evidence.unownedForMs = ageMs;
      evidence.graceMs = facts.graceMs;
    }
    if (kept) return { ...kept, evidence };
    if (blockers) return { ...blockers, evidence };
    if (ageMs < facts.graceMs) {
      return {
        verdict: 'uncertain',
        reason: `no loxilb ENI and no live instance in the cluster, first seen so ${ageMs} ms ago: an orphan only after ${facts.graceMs} ms (a master creates it before its ENI)`,
        evidence,
      };
    }
    return {
      verdict: 'orphan',
      reason: `no loxilb ENI and no live instance in the cluster for ${ageMs} ms (grace ${facts.graceMs} ms)`,
      evidence,
    };
  };

  // Subnets
  const subnetVerdict = new Map<string, Verdict>();
  for (const s of facts.subnets) {
    const inside = new Map<string, EniInfo>();
    for (const e of [...facts.subnetEnis, ...facts.enis])
      if (e.subnetId === s.subnetId) inside.set(e.networkInterfaceId, e);
    const stay = [...inside.values()].filter((e) => eniVerdict.get(e.networkInterfaceId) !== 'orphan');
    const blockers =
      s.tags[facts.tagKey] !== facts.tagValues.subnet
        ? {
            verdict: 'uncertain' as Verdict,
            reason: `does not carry ${facts.tagKey}=${facts.tagValues.subnet}`,
          }
        : stay.length
          ? {
              verdict: 'uncertain' as Verdict,
              reason: `the subnet holds ENI(s) that are not orphans: ${eniList(stay)}`,
            }
          : undefined;
    const v = judgeShared(s.subnetId, blockers);
    v.evidence.cidrBlock = s.cidrBlock ?? null;
    v.evidence.availabilityZone = s.availabilityZone ?? null;
    v.evidence.enisInside = [...inside.keys()];
    subnetVerdict.set(s.subnetId, v.verdict);
    candidates.push({ resource: s.subnetId, kind: 'subnet', vpcId: s.vpcId, ...v });
  }

  // Route tables
  for (const rt of facts.routeTables) {
    const assocs = liveAssociations(rt);
    const problems: string[] = [];
    if (rt.tags[facts.tagKey] !== facts.tagValues.routeTable) {
      problems.push(`does not carry ${facts.tagKey}=${facts.tagValues.routeTable}`);
    }
    for (const x of assocs) {
      if (x.main) problems.push(`it is the VPC's main route table (${x.associationId})`);
      else if (!x.subnetId) problems.push(`it is associated with gateway ${x.gatewayId ?? '?'}`);
      else if (subnetVerdict.get(x.subnetId) !== 'orphan') {
        problems.push(
          subnetVerdict.has(x.subnetId)
            ? `it is associated with subnet ${x.subnetId}, which is not an orphan`
            : `it is associated with subnet ${x.subnetId}, which is not a loxilb subnet of this cluster`,
        );
      }
    }
    const v = judgeShared(
      rt.routeTableId,
      problems.length ? { verdict: 'uncertain', reason: problems.join('; ') } : undefined,
    );
    v.evidence.associations = assocs.map((x) => ({
      associationId: x.associationId,
      subnetId: x.subnetId ?? null,
      main: x.main,
    }));
    candidates.push({ resource: rt.routeTableId, kind: 'route-table', vpcId: rt.vpcId, ...v });
  }

  // The cloud CIDR association of each VPC the cluster's shared resources are in.
  for (const vpc of facts.vpcs) {
    const loxilbSubnets = facts.subnets.filter((s) => s.vpcId === vpc.vpcId);
    for (const assoc of vpc.cidrAssociations) {
      if (assoc.state !== undefined && assoc.state !== 'associated') continue;
      const primary = assoc.cidrBlock === vpc.primaryCidr;
      const isCloudCidr = facts.cloudCidrBlock
        ? assoc.cidrBlock === facts.cloudCidrBlock
        : !primary && loxilbSubnets.some((s) => cidrContains(assoc.cidrBlock, s.cidrBlock));
      if (!isCloudCidr) continue;
      const inside = vpc.subnets.filter((s) => cidrContains(assoc.cidrBlock, s.cidrBlock));
      const stay = inside.filter((s) => subnetVerdict.get(s.subnetId) !== 'orphan');
      const blockers = primary
        ? {
            verdict: 'in-use' as Verdict,
            reason: "it is the VPC's primary CIDR, which is never disassociated",
          }
        : stay.length
          ? {
              verdict: 'uncertain' as Verdict,
              reason: `the CIDR holds subnet(s) that stay: ${stay
                .map((s) => `${s.subnetId}${subnetVerdict.has(s.subnetId) ? '' : ' (not a loxilb subnet)'}`)
                .join(', ')}`,
            }
          : undefined;
      const v = judgeShared(assoc.associationId, blockers);
      v.evidence.cidrBlock = assoc.cidrBlock;
      v.evidence.vpcPrimaryCidr = vpc.primaryCidr ?? null;
      v.evidence.source = facts.cloudCidrBlock ? 'config cloud.cidrBlock' : 'holds the loxilb subnet';
      v.evidence.subnetsInside = inside.map((s) => s.subnetId);
      candidates.push({ resource: assoc.associationId, kind: 'vpc-cidr', vpcId: vpc.vpcId, ...v });
    }
  }

  return {
    candidates,
    graceClock,
    cluster: {
      enis: facts.enis.map((e) => e.networkInterfaceId),
      liveMembers: [...live],
      sharedKeptBecause: kept,
    },
  };
}

export function liveAssociations(rt: RouteTableInfo) {
  return rt.associations.filter((x) => x.state !== 'disassociated' && x.state !== 'failed');
}
