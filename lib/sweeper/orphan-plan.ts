import { Config } from '../config/schema';
import type { PreflightVerdict } from '../execute/executor';
import { cidrContains } from '../discovery/inventory';
import { EniInfo } from '../discovery/ec2-reads';
import {
  ActionSpec,
  admit,
  deleteNetworkInterface,
  deleteRouteTable,
  deleteSubnet,
  disassociateAddress,
  disassociateRouteTable,
  disassociateVpcCidrBlock,
  eipName,
  Plan,
  PlannedAction,
  releaseAddress,
  ResourceKind,
  SafetyFacts,
  STAGE_ORDER,
  Untouched,
} from '../plan/actions';
import { CandidateKind, liveAssociations, OrphanAnalysis, OrphanFacts } from './orphans';
import { eniList, judgeEni } from './orphan-eni';

/**
 * The sweeper's plan: the orphans of an analysis (./orphans.ts) as PlannedActions the engine's
 * executor runs, and the re-checks the sweeper makes right before each call.
 */

export interface OrphanPlan {
  /** The same shape the engine's planner builds, so the engine's executor runs it. */
  plan: Plan;
  /** Candidate resource id → ids of the plan actions that remove it. */
  actionsOf: Record<string, string[]>;
}

const KIND_OF: Record<CandidateKind, ResourceKind> = {
  eni: 'eni',
  subnet: 'subnet',
  'route-table': 'route-table',
  'vpc-cidr': 'vpc-cidr',
};

/**
 * Turns the orphans of an analysis into PlannedActions, in the engine's stage order (EIP
 * disassociation → ENI delete → route table → subnet → CIDR). The planner's "this instance" rules do
 * not fit resources whose owner is gone, so this decides what to remove; every action is built by the
 * same builder as the planner's and admitted by the same `admit` (lib/plan/actions.ts), whose safety
 * check (ownership tag, attachment, primary CIDR) runs here and again in the executor. Orphan ENIs are unattached, so their safety facts carry no owner tag to compare
 * with the sweeping host: the sweeper's own re-check right before each call (one fresh Describe)
 * takes that role. Every shared action depends on every orphan ENI delete: "no loxilb ENI left in the
 * cluster" must be true before a subnet, route table or CIDR goes.
 */
export function buildOrphanPlan(
  facts: OrphanFacts,
  analysis: OrphanAnalysis,
  config: Config,
  sweeperId: string,
): OrphanPlan {
  const actions: PlannedAction[] = [];
  const actionsOf: Record<string, string[]> = {};
  const tv = facts.tagValues;
  const tagKey = facts.tagKey;
  const add = (owner: string, a: ActionSpec): PlannedAction => {
    const action = admit(a, sweeperId, config.stages);
    actions.push(action);
    (actionsOf[owner] ??= []).push(action.id);
    return action;
  };
  const orphan = new Set(analysis.candidates.filter((c) => c.verdict === 'orphan').map((c) => c.resource));
  const untouched: Untouched[] = analysis.candidates
    .filter((c) => c.verdict !== 'orphan')
    .map((c) => ({ resource: c.resource, kind: KIND_OF[c.kind], reason: `${c.verdict}: ${c.reason}` }));

  // ENIs: their EIP associations first (the EIPs are the user's: released only when tagged so).
  const eniDeletes: string[] = [];
  for (const eni of facts.enis) {
    const id = eni.networkInterfaceId;
    if (!orphan.has(id)) continue;
    const eniFacts: SafetyFacts = {
      tags: eni.tags,
      expectedTag: { key: tagKey, value: tv.eni },
      eniAttachment: eni.attachment,
    };
    for (const addr of facts.addresses) {
      if (addr.networkInterfaceId !== id || !addr.associationId) continue;
      const disassociate = add(
        id,
        disassociateAddress({ ...addr, associationId: addr.associationId }, id, {
          summary: `disassociate EIP ${eipName(addr)} from orphan ${id}`,
          facts: eniFacts,
        }),
      );
      const release = releaseAddress(addr, config, disassociate.id, eniFacts);
      if (release) add(id, release);
    }
    const del = add(
      id,
      deleteNetworkInterface(id, false, {
        summary: `delete orphan ENI ${id}${eni.privateIps.length > 1 ? ` (${eni.privateIps.length - 1} secondary IPs go with it)` : ''}`,
        facts: eniFacts,
      }),
    );
    eniDeletes.push(del.id);
  }

  // Route tables: every association, then the table.
  for (const rt of facts.routeTables) {
    if (!orphan.has(rt.routeTableId)) continue;
    const rtFacts: SafetyFacts = { tags: rt.tags, expectedTag: { key: tagKey, value: tv.routeTable } };
    const disassociations = liveAssociations(rt).map((x) =>
      add(
        rt.routeTableId,
        disassociateRouteTable(rt.routeTableId, x, {
          dependsOn: [...eniDeletes],
          summary: `disassociate orphan route table ${rt.routeTableId} from ${x.subnetId}`,
          facts: rtFacts,
        }),
      ),
    );
    add(
      rt.routeTableId,
      deleteRouteTable(rt.routeTableId, {
        dependsOn: [...eniDeletes, ...disassociations.map((d) => d.id)],
        summary: `delete orphan route table ${rt.routeTableId}`,
        facts: rtFacts,
      }),
    );
  }

  // Subnets.
  const subnetDelete = new Map<string, string>();
  for (const s of facts.subnets) {
    if (!orphan.has(s.subnetId)) continue;
    const a = add(
      s.subnetId,
      deleteSubnet(s.subnetId, {
        dependsOn: [...eniDeletes],
        summary: `delete orphan subnet ${s.subnetId} (${s.cidrBlock ?? '?'}, ${s.availabilityZone ?? '?'})`,
        facts: { tags: s.tags, expectedTag: { key: tagKey, value: tv.subnet } },
      }),
    );
    subnetDelete.set(s.subnetId, a.id);
  }

  // The cloud CIDR: after every subnet inside it.
  for (const vpc of facts.vpcs) {
    for (const assoc of vpc.cidrAssociations) {
      if (!orphan.has(assoc.associationId)) continue;
      const inside = vpc.subnets
        .filter((s) => cidrContains(assoc.cidrBlock, s.cidrBlock))
        .map((s) => subnetDelete.get(s.subnetId))
        .filter((x): x is string => !!x);
      add(
        assoc.associationId,
        disassociateVpcCidrBlock(
          { ...assoc, vpcId: vpc.vpcId },
          {
            dependsOn: [...eniDeletes, ...inside],
            summary: `disassociate orphan CIDR ${assoc.cidrBlock} from ${vpc.vpcId}`,
            facts: {
              cidr: {
                cidrBlock: assoc.cidrBlock,
                primary: assoc.cidrBlock === vpc.primaryCidr,
                vpcPrimaryCidr: vpc.primaryCidr,
              },
            },
          },
        ),
      );
    }
  }

  actions.sort((x, y) => STAGE_ORDER.indexOf(x.stage) - STAGE_ORDER.indexOf(y.stage));
  const vpcIds = [...new Set(facts.vpcs.map((v) => v.vpcId))];
  return {
    plan: {
      instanceId: sweeperId,
      scope: 'full',
      vpcId: vpcIds.length === 1 ? vpcIds[0] : undefined,
      actions,
      untouched,
      warnings: [],
    },
    actionsOf,
  };
}

// ---------------------------------------------------------------- re-checks before each call

/**
 * Right before a destructive action on an orphan ENI (or an EIP on it): the ENI as EC2 shows it now
 * (undefined: gone). Still an orphan → undefined (go ahead). Instance states are the ones the sweep
 * read: a terminated instance never comes back, and an owner tag that now names an instance the
 * sweep did not look up makes the ENI uncertain, so it is skipped.
 */
export function recheckEni(fresh: EniInfo | undefined, facts: OrphanFacts): PreflightVerdict | undefined {
  if (!fresh) return { outcome: 'already-done', message: 'the ENI is already gone' };
  const j = judgeEni(fresh, facts);
  if (j.verdict === 'orphan') return undefined;
  return { outcome: 'skipped', message: `no longer an orphan: ${j.reason}` };
}

/**
 * Right before a shared action (route table, subnet, CIDR): the cluster's loxilb ENIs as EC2 shows
 * them now. Any ENI this sweep did not just remove means the cluster is not gone (a new master may
 * be setting up): skip.
 */
export function recheckShared(
  freshClusterEnis: EniInfo[],
  removedEniIds: ReadonlySet<string>,
): PreflightVerdict | undefined {
  const present = freshClusterEnis.filter((e) => !removedEniIds.has(e.networkInterfaceId));
  if (!present.length) return undefined;
  return {
    outcome: 'skipped',
    message: `no longer an orphan: the cluster has loxilb ENI(s) now: ${eniList(present)}`,
  };
}

/** Right before a CIDR disassociation: the association's state now (undefined: gone). */
export function recheckCidr(state: string | undefined): PreflightVerdict | undefined {
  if (state === undefined || state === 'disassociating' || state === 'disassociated') {
    return { outcome: 'already-done', message: `the CIDR association is ${state ?? 'gone'}` };
  }
  return undefined;
}
