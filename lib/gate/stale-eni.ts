import { Config } from '../config/schema';
import { EniInfo } from '../discovery/ec2-reads';
import { Inventory } from '../discovery/inventory';
import { Plan } from '../plan/actions';
import { buildPlan } from '../plan/planner';

/**
 * `stale-eni`: a host that is not the MASTER may still hold a loxilb ENI from when it was (loxilb
 * leaves it attached when a node becomes BACKUP, for the next master's takeover to force-detach).
 * Under `handover` such a host changes nothing the takeover does — except this one thing, under its
 * own name, and only once the takeover is over: the current MASTER's own loxilb ENI exists
 * (attached to another instance). While none exists, a takeover may be under way (its phase A is
 * deleting exactly this ENI), so the ENI is left for it, or for the sweeper after its grace period.
 * An ENI that still carries an EIP is left too: the MASTER's takeover has not moved that EIP yet.
 * Pure: inventory in, plan out (the same executor and safety checks run it).
 */

export const STALE_ENI = 'stale-eni';

/** Another instance's attached loxilb ENI: the MASTER's, once its takeover created it. */
export function mastersEni(inventory: Inventory): EniInfo | undefined {
  const { instanceId, tagKey, tagValues } = inventory;
  return inventory.loxilbEnis.find(
    (e) =>
      e.tags[tagKey] === tagValues.eni &&
      !!e.attachment?.instanceId &&
      e.attachment.instanceId !== instanceId &&
      e.attachment.status === 'attached' &&
      e.attachment.deviceIndex !== 0,
  );
}

export function planStaleEnis(inventory: Inventory, config: Config): Plan {
  const { instanceId } = inventory;
  const mine = inventory.loxilbEnis.filter(
    (e) =>
      e.tags[inventory.tagKey] === inventory.tagValues.eni &&
      e.attachment?.instanceId === instanceId &&
      e.attachment.status !== 'detached' &&
      e.attachment.deviceIndex !== 0,
  );
  const empty: Plan = { instanceId, scope: 'handover', actions: [], untouched: [], warnings: [] };
  if (mine.length === 0) return empty;
  const master = mastersEni(inventory);
  if (!master) {
    return {
      ...empty,
      untouched: mine.map((e) => ({
        resource: e.networkInterfaceId,
        kind: 'eni' as const,
        reason: `${STALE_ENI}: kept — no other instance holds its own loxilb ENI yet, so a takeover may be under way (it removes this ENI); the sweeper takes it after sweeper.graceMs`,
      })),
    };
  }
  const withEip = new Set(inventory.addresses.map((a) => a.networkInterfaceId).filter(Boolean));
  const stale = mine.filter((e) => !withEip.has(e.networkInterfaceId));
  const kept = mine.filter((e) => withEip.has(e.networkInterfaceId));
  // The same planner builds the ENI actions (safety checks included); nothing shared, no EIP call.
  const ids = new Set(stale.map((e) => e.networkInterfaceId));
  const plan = buildPlan(
    {
      ...inventory,
      loxilbEnis: inventory.loxilbEnis.filter((e) => ids.has(e.networkInterfaceId)),
      addresses: [],
      subnets: [],
      subnetEnis: [],
      routeTables: [],
      cidr: undefined,
      vpcSubnets: [],
    },
    'full',
    config,
  );
  const where = `the current MASTER's loxilb ENI ${master.networkInterfaceId} on ${master.attachment!.instanceId} exists`;
  return {
    ...plan,
    scope: 'handover',
    actions: plan.actions
      .filter((a) => a.stage === 'eni' && ids.has(a.resource))
      .map((a) => ({ ...a, summary: `${STALE_ENI}: ${a.summary} (${where})` })),
    untouched: kept.map((e) => ({
      resource: e.networkInterfaceId,
      kind: 'eni' as const,
      reason: `${STALE_ENI}: kept — an EIP is still associated with it; the MASTER's takeover moves it`,
    })),
    warnings: [],
  };
}
