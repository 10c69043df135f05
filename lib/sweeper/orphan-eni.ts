import { describeState, INSTANCE_ID, liveness } from '../discovery/instance-state';
import { EniInfo } from '../discovery/ec2-reads';
import type { OrphanFacts, Verdict } from './orphans';

/**
 * The orphan rules for one loxilb ENI (the rules themselves are listed in ./orphans.ts): the
 * verdict of each ENI of the cluster, and again of one ENI right before its delete (./orphan-plan.ts
 * recheckEni). The shared resources' verdicts (./orphans.ts) build on these.
 */

/** Instance ids the ENIs name (owner tags that look like instance ids, attachments): to look up. */
export function instancesToLookUp(enis: EniInfo[], ownerTagKey: string): string[] {
  const ids = new Set<string>();
  for (const e of enis) {
    const owner = e.tags[ownerTagKey];
    if (owner && INSTANCE_ID.test(owner)) ids.add(owner);
    if (e.attachment?.instanceId) ids.add(e.attachment.instanceId);
  }
  return [...ids].sort();
}

function isAttached(eni: EniInfo): boolean {
  const a = eni.attachment;
  return !!a?.instanceId && a.status !== 'detached';
}

interface EniJudgement {
  verdict: Verdict;
  reason: string;
  evidence: Record<string, unknown>;
  /** Set when the verdict is waiting on (or has passed) the grace period. */
  graceSince?: number;
}

/** The verdict on one loxilb ENI of the cluster (also used to re-check it right before a delete). */
export function judgeEni(eni: EniInfo, facts: OrphanFacts): EniJudgement {
  const owner = eni.tags[facts.ownerTagKey];
  const evidence: Record<string, unknown> = {
    status: eni.status ?? null,
    subnetId: eni.subnetId ?? null,
    description: eni.description ?? null,
    attachment: eni.attachment ?? null,
    ownerTag: owner ?? null,
  };
  const j = (verdict: Verdict, reason: string, extra: Partial<EniJudgement> = {}): EniJudgement => ({
    verdict,
    reason,
    evidence,
    ...extra,
  });
  if (eni.tags[facts.tagKey] !== facts.tagValues.eni) {
    return j('uncertain', `does not carry ${facts.tagKey}=${facts.tagValues.eni}`);
  }
  if (eni.requesterManaged) return j('uncertain', 'requester-managed: AWS manages this interface');
  if (eni.attachment?.deviceIndex === 0) return j('in-use', 'device index 0 (a primary interface)');
  if (isAttached(eni)) {
    const a = eni.attachment!;
    const state = facts.instances[a.instanceId!];
    evidence.attachedInstanceState = state ?? null;
    if (a.status === 'detaching' || eni.status === 'detaching') {
      return j('uncertain', `detaching from ${a.instanceId} (${describeState(state)}): not finished yet`);
    }
    switch (liveness(state)) {
      case 'alive':
        return j('in-use', `attached to ${a.instanceId} (${state})`);
      case 'going':
        return j('in-use', `attached to ${a.instanceId}, which is ${state}: its own teardown handles it`);
      case 'gone':
        return j(
          'uncertain',
          `attached to ${a.instanceId}, which ${describeState(state)}: EC2 has not released it yet`,
        );
      default:
        return j('uncertain', `attached to ${a.instanceId}, whose state could not be read`);
    }
  }
  if (eni.status !== 'available') {
    return j('uncertain', `unattached but ${eni.status ?? 'of unknown status'}, not available`);
  }
  if (owner !== undefined) {
    if (!INSTANCE_ID.test(owner)) {
      return j('uncertain', `its ${facts.ownerTagKey} tag "${owner}" is not an instance id`);
    }
    const state = facts.instances[owner];
    evidence.ownerState = state ?? null;
    switch (liveness(state)) {
      case 'gone': {
        if (!clusterMayBeAlive(facts))
          return j('orphan', `unattached and its owner ${owner} ${describeState(state)}`);
        // Re-applied right before the call (recheckEni), with the clock of that moment.
        const since = facts.firstSeen[eni.networkInterfaceId] ?? facts.now;
        const ageMs = Math.max(0, facts.now - since);
        evidence.ownerGoneSeenSince = new Date(since).toISOString();
        evidence.takeoverGraceMs = facts.takeoverGraceMs;
        if (ageMs >= facts.takeoverGraceMs) {
          return j(
            'orphan',
            `unattached, its owner ${owner} ${describeState(state)}, for ${ageMs} ms (takeover grace ${facts.takeoverGraceMs} ms)`,
            { graceSince: since },
          );
        }
        return j(
          'uncertain',
          `unattached, its owner ${owner} ${describeState(state)} (first seen so ${ageMs} ms ago): while the cluster may be alive it belongs to the takeover, an orphan only after ${facts.takeoverGraceMs} ms (sweeper.takeoverGraceMs)`,
          { graceSince: since },
        );
      }
      case 'alive':
        return j('uncertain', `unattached, but its owner ${owner} is ${state}: left to its owner`);
      case 'going':
        return j('uncertain', `unattached, its owner ${owner} is shutting down: its own teardown handles it`);
      default:
        return j('uncertain', `unattached; the state of its owner ${owner} could not be read`);
    }
  }
  const since = facts.firstSeen[eni.networkInterfaceId] ?? facts.now;
  const ageMs = Math.max(0, facts.now - since);
  // With no owner tag it may as well be a dead master's ENI (a host without teardownd): while the
  // cluster may be alive, the takeover grace applies too.
  const takeover = clusterMayBeAlive(facts) && facts.takeoverGraceMs > facts.graceMs;
  const graceMs = takeover ? facts.takeoverGraceMs : facts.graceMs;
  evidence.firstSeenUnattachedAt = new Date(since).toISOString();
  evidence.unattachedForMs = ageMs;
  evidence.graceMs = graceMs;
  if (ageMs >= graceMs) {
    return j('orphan', `unattached with no owner tag for ${ageMs} ms (grace ${graceMs} ms)`, {
      graceSince: since,
    });
  }
  return j(
    'uncertain',
    `unattached with no owner tag, first seen ${ageMs} ms ago: an orphan only after ${graceMs} ms (${
      takeover
        ? 'while the cluster may be alive it belongs to the takeover, sweeper.takeoverGraceMs'
        : 'loxilb may be attaching it'
    })`,
    { graceSince: since },
  );
}

/**
 * Whether a member of the cluster may be alive to take over: the sweeping host itself, or an instance
 * the cluster's ENIs name that is not gone (alive, shutting down, or of unknown state).
 */
function clusterMayBeAlive(facts: OrphanFacts): boolean {
  if (facts.memberInstanceIds.length) return true;
  return Object.values(facts.instances).some((s) => liveness(s) !== 'gone');
}

export function eniList(enis: EniInfo[]): string {
  return enis
    .map((e) =>
      isAttached(e)
        ? `${e.networkInterfaceId} (attached to ${e.attachment!.instanceId})`
        : e.networkInterfaceId,
    )
    .join(', ');
}
