import { Config, Scope } from '../config/schema';
import { describeState } from '../discovery/instance-state';
import { EniInfo } from '../discovery/ec2-reads';
import { cidrContains, Inventory, isOwnEni, isUnattached } from '../discovery/inventory';
import {
  ActionSpec,
  admit,
  deleteNetworkInterface,
  deleteRouteTable,
  deleteSubnet,
  detachNetworkInterface,
  disassociateAddress,
  disassociateRouteTable,
  disassociateVpcCidrBlock,
  eipName,
  ownerNotLive,
  Plan,
  PlannedAction,
  PlannedStatus,
  releaseAddress,
  SafetyFacts,
  STAGE_ORDER,
  Untouched,
} from './actions';

/**
 * The planner is pure: inventory + scope + config → an ordered plan. `teardownd plan` prints exactly
 * what a real run would do, because both build it the same way.
 *
 * Stage order (each edge a real AWS constraint, DESIGN.md "Dependency order"):
 *   eip (disassociate; release only owned) → eni (detach, wait available, delete) →
 *   route-table (disassociate, delete) → subnet (delete) → cidr (disassociate)
 *
 * Dependencies are checked here, up front, not discovered by failure: a subnet that still holds an ENI
 * we are not deleting is blocked (with the blocking ENI ids), and so is the CIDR around it; a route
 * table associated with a subnet we are not deleting is blocked; everything else still proceeds.
 *
 * Safety invariants (DESIGN.md) are enforced through `admit` and `safetyViolation` (./actions.ts),
 * and the executor calls the same check again right before each mutating call.
 */

/**
 * Full scope (last node standing) removes what loxilb's own destroy removes: every loxilb ENI of the
 * cluster — but never one attached to another instance (DESIGN invariant 2). So besides this host's
 * own ENIs it takes the unattached (`available`) ones no live instance owns: no owner tag (the daemon
 * tags only attached ENIs, so an attach that failed leaves none) or an owner tag naming an instance
 * that is terminated, gone or shutting down. Otherwise such an ENI would keep the subnet, route table
 * and CIDR from going. Returns why the ENI is abandoned, or undefined.
 */
function abandonedReason(eni: EniInfo, inventory: Inventory): string | undefined {
  if (!isUnattached(eni) || eni.status !== 'available' || eni.requesterManaged) return undefined;
  const owner = eni.tags[inventory.ownerTagKey];
  if (owner === undefined) return 'unattached, no owner tag (an attach that failed)';
  const state = inventory.ownerStates[owner];
  return ownerNotLive(state) ? `unattached, its owner ${owner} ${describeState(state)}` : undefined;
}

export function buildPlan(inventory: Inventory, scope: Scope, config: Config): Plan {
  const { instanceId } = inventory;
  const actions: PlannedAction[] = [];
  const untouched: Untouched[] = [];
  const warnings = [...inventory.warnings];
  const tagKey = inventory.tagKey;
  const tv = inventory.tagValues;
  // Order of precedence: safety, then stage switch (admit), then dependency blocks set below.
  const add = (a: ActionSpec): PlannedAction => {
    const action = admit(a, instanceId, config.stages);
    actions.push(action);
    return action;
  };

  // ENIs: which loxilb ENIs are ours (attached here at index ≠ 0, or unattached with our owner tag or
  // in this episode's record), and in full scope the unattached ones no live instance owns.
  const ownEnis: EniInfo[] = [];
  const abandoned = new Map<string, string>();
  for (const eni of inventory.loxilbEnis) {
    const whyAbandoned = scope === 'full' ? abandonedReason(eni, inventory) : undefined;
    if (eni.tags[tagKey] !== tv.eni) {
      untouched.push({ resource: eni.networkInterfaceId, kind: 'eni', reason: `no ${tagKey}=${tv.eni} tag` });
    } else if (isOwnEni(eni, instanceId, inventory.ownerTagKey, inventory.rememberedEniIds)) {
      ownEnis.push(eni);
    } else if (whyAbandoned) {
      ownEnis.push(eni);
      abandoned.set(eni.networkInterfaceId, whyAbandoned);
    } else if (eni.attachment?.instanceId === instanceId && eni.attachment.deviceIndex === 0) {
      untouched.push({
        resource: eni.networkInterfaceId,
        kind: 'eni',
        reason: 'device index 0 (primary interface)',
      });
    } else {
      const where = eni.attachment?.instanceId
        ? `attached to another instance (${eni.attachment.instanceId})`
        : `not attached here and no ${inventory.ownerTagKey}=${instanceId} tag`;
      untouched.push({ resource: eni.networkInterfaceId, kind: 'eni', reason: where });
    }
  }
  const ownEniById = new Map(ownEnis.map((e) => [e.networkInterfaceId, e]));
  const eniFacts = (eni: EniInfo): SafetyFacts => {
    const id = eni.networkInterfaceId;
    const owner = eni.tags[inventory.ownerTagKey];
    const facts: SafetyFacts = {
      tags: eni.tags,
      expectedTag: { key: tagKey, value: tv.eni },
      eniAttachment: eni.attachment,
      ownerTag: { key: inventory.ownerTagKey, value: owner },
    };
    if (inventory.rememberedEniIds.includes(id)) facts.remembered = true;
    if (abandoned.has(id))
      facts.abandoned = owner === undefined ? {} : { ownerState: inventory.ownerStates[owner] };
    return facts;
  };

  // Stage eip
  for (const addr of inventory.addresses) {
    const eni = addr.networkInterfaceId ? ownEniById.get(addr.networkInterfaceId) : undefined;
    if (!eni || !addr.associationId) continue;
    const facts = eniFacts(eni);
    const disassociate = add(
      disassociateAddress({ ...addr, associationId: addr.associationId }, eni.networkInterfaceId, {
        summary: `disassociate EIP ${eipName(addr)} from ${eni.networkInterfaceId}${addr.privateIpAddress ? ` (${addr.privateIpAddress})` : ''}`,
        facts,
      }),
    );
    const release = releaseAddress(addr, config, disassociate.id, facts);
    if (release) add(release);
  }

  // Stage eni
  const eniDelete = new Map<string, PlannedAction>();
  for (const eni of ownEnis) {
    const id = eni.networkInterfaceId;
    const att = eni.attachment;
    const attached = !!att?.instanceId && att.status !== 'detached' && att.status !== 'detaching';
    const detaching = att?.status === 'detaching' || eni.status === 'detaching';
    let detach: PlannedAction | undefined;
    if (attached && att?.attachmentId) {
      detach = add(
        detachNetworkInterface(id, att.attachmentId, {
          summary: `detach ${id} (${att.attachmentId}, device ${att.deviceIndex ?? '?'}) from ${instanceId}`,
          facts: eniFacts(eni),
        }),
      );
    }
    const waits = !!detach || detaching;
    eniDelete.set(
      id,
      add(
        deleteNetworkInterface(id, waits, {
          dependsOn: detach ? [detach.id] : [],
          summary: `${waits ? 'wait until available, then ' : ''}delete ${id}${
            eni.privateIps.length > 1 ? ` (${eni.privateIps.length - 1} secondary IPs go with it)` : ''
          }${detaching && !detach ? ' — already detaching' : ''}${
            abandoned.has(id) ? ` — ${abandoned.get(id)}` : ''
          }${
            !attached &&
            !detaching &&
            !eni.tags[inventory.ownerTagKey] &&
            inventory.rememberedEniIds.includes(id)
              ? ' — recorded as this host’s by an earlier run of this episode (journal)'
              : ''
          }`,
          facts: eniFacts(eni),
        }),
      ),
    );
  }

  if (scope === 'full') planShared(inventory, config, add, eniDelete, untouched, warnings);

  if (scope === 'none' || scope === 'handover') {
    for (const a of actions) {
      if (a.status === 'planned') {
        a.status = 'skipped';
        a.reason =
          scope === 'none'
            ? 'scope none: observe and report only'
            : "handover: the new MASTER's takeover removes it (loxilb CloudPrepareVIPNetWork)";
      }
    }
  }

  // Stage order, then the order of discovery within a stage.
  actions.sort((x, y) => STAGE_ORDER.indexOf(x.stage) - STAGE_ORDER.indexOf(y.stage));
  return { instanceId, scope, vpcId: inventory.vpcId, actions, untouched, warnings };
}

type AddFn = (a: ActionSpec) => PlannedAction;

function planShared(
  inventory: Inventory,
  config: Config,
  add: AddFn,
  eniDelete: Map<string, PlannedAction>,
  untouched: Untouched[],
  warnings: string[],
): void {
  const tagKey = inventory.tagKey;
  const tv = inventory.tagValues;
  const block = (a: PlannedAction, reason: string, blockers: string[]) => {
    if (a.status !== 'planned') return;
    a.status = 'blocked';
    a.reason = reason;
    a.blockers = blockers;
  };
  const going = (a: PlannedAction | undefined) => a?.status === 'planned';

  // Subnets first: which ones will really go decides the route tables and the CIDR.
  const subnetDelete = new Map<string, PlannedAction>();
  for (const subnet of inventory.subnets) {
    if (subnet.tags[tagKey] !== tv.subnet) {
      untouched.push({ resource: subnet.subnetId, kind: 'subnet', reason: `no ${tagKey}=${tv.subnet} tag` });
      continue;
    }
    const inside = new Map<string, EniInfo>();
    for (const e of [...inventory.subnetEnis, ...inventory.loxilbEnis]) {
      if (e.subnetId === subnet.subnetId) inside.set(e.networkInterfaceId, e);
    }
    const ours = [...inside.keys()].filter((id) => eniDelete.has(id));
    const foreign = [...inside.values()].filter((e) => !going(eniDelete.get(e.networkInterfaceId)));
    const a = add(
      deleteSubnet(subnet.subnetId, {
        dependsOn: ours.map((id) => eniDelete.get(id)!.id),
        summary: `delete subnet ${subnet.subnetId} (${subnet.cidrBlock ?? '?'}, ${subnet.availabilityZone ?? '?'})`,
        facts: { tags: subnet.tags, expectedTag: { key: tagKey, value: tv.subnet } },
      }),
    );
    if (foreign.length) {
      const list = foreign
        .map((e) =>
          e.attachment?.instanceId
            ? `${e.networkInterfaceId} (attached to ${e.attachment.instanceId})`
            : e.networkInterfaceId,
        )
        .join(', ');
      block(
        a,
        `subnet still holds ENI(s) this teardown does not delete: ${list}`,
        foreign.map((e) => e.networkInterfaceId),
      );
    }
    subnetDelete.set(subnet.subnetId, a);
  }

  // Route tables: only when every association is with a subnet that is going away.
  for (const rt of inventory.routeTables) {
    if (rt.tags[tagKey] !== tv.routeTable) {
      untouched.push({
        resource: rt.routeTableId,
        kind: 'route-table',
        reason: `no ${tagKey}=${tv.routeTable} tag`,
      });
      continue;
    }
    const facts: SafetyFacts = { tags: rt.tags, expectedTag: { key: tagKey, value: tv.routeTable } };
    const live = rt.associations.filter((x) => x.state !== 'disassociated' && x.state !== 'failed');
    const problems: string[] = [];
    const blockers: string[] = [];
    for (const x of live) {
      if (x.main) {
        problems.push(`it is the VPC's main route table (${x.associationId})`);
        blockers.push(x.associationId);
      } else if (!x.subnetId) {
        problems.push(`it is associated with gateway ${x.gatewayId ?? '?'} (${x.associationId})`);
        blockers.push(x.gatewayId ?? x.associationId);
      } else if (!going(subnetDelete.get(x.subnetId))) {
        problems.push(`it is associated with subnet ${x.subnetId}, which this teardown does not delete`);
        blockers.push(x.subnetId);
      }
    }
    const disassociations = problems.length
      ? []
      : live.map((x) =>
          add(
            disassociateRouteTable(rt.routeTableId, x, {
              summary: `disassociate route table ${rt.routeTableId} from ${x.subnetId}`,
              facts,
            }),
          ),
        );
    const del = add(
      deleteRouteTable(rt.routeTableId, {
        dependsOn: disassociations.map((d) => d.id),
        summary: `delete route table ${rt.routeTableId}`,
        facts,
      }),
    );
    if (problems.length) block(del, `route table kept: ${problems.join('; ')}`, blockers);
  }

  // The cloud CIDR: only when every subnet inside it is going away.
  const cidr = inventory.cidr;
  if (!cidr) {
    if (config.cloud.cidrBlock) {
      warnings.push(
        `config cloud.cidrBlock ${config.cloud.cidrBlock} is not associated with ${inventory.vpcId ?? 'the VPC'}`,
      );
    }
    return;
  }
  const inside = inventory.vpcSubnets.filter((s) => cidrContains(cidr.cidrBlock, s.cidrBlock));
  const staying = inside.filter((s) => !going(subnetDelete.get(s.subnetId)));
  const a = add(
    disassociateVpcCidrBlock(cidr, {
      dependsOn: inside.map((s) => subnetDelete.get(s.subnetId)?.id).filter((x): x is string => !!x),
      summary: `disassociate CIDR ${cidr.cidrBlock} from ${cidr.vpcId}${cidr.source === 'config' ? ' (config cloud.cidrBlock)' : ''}`,
      facts: {
        cidr: { cidrBlock: cidr.cidrBlock, primary: cidr.primary, vpcPrimaryCidr: inventory.vpcPrimaryCidr },
      },
    }),
  );
  if (staying.length) {
    const list = staying
      .map((s) => {
        const d = subnetDelete.get(s.subnetId);
        return d ? `${s.subnetId} (${d.status}: ${d.reason ?? ''})` : `${s.subnetId} (not a loxilb subnet)`;
      })
      .join('; ');
    block(
      a,
      `CIDR still holds subnet(s) this teardown does not delete: ${list}`,
      staying.map((s) => s.subnetId),
    );
  }
}

/** Counts by status, for summaries. */
export function planCounts(plan: Plan): Record<PlannedStatus, number> {
  const out: Record<PlannedStatus, number> = { planned: 0, blocked: 0, skipped: 0 };
  for (const a of plan.actions) out[a.status]++;
  return out;
}
