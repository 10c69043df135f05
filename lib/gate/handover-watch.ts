import { Clock } from '../clock';
import { GateDecision } from './gate';
import { Logger } from '../log';

/**
 * While an episode that decided `handover` waits for its host to die, the situation can change: the
 * peer that was to take over is reclaimed too (an AZ-wide spot reclaim, a scale to zero), and then
 * nobody would clean up. So the gate's facts are read again on a bounded interval; once the decision
 * is no longer `handover`, the coordinator re-runs the episode's teardown under the new decision —
 * but only while this node keeps the role it handed over in (a MASTER whose peer is now ending). A
 * role that changed means this node's loxilb became MASTER and is taking over; that is left alone
 * here and looked at again by the SIGTERM probe.
 */

export interface HandoverWatchDeps {
  clock: Clock;
  logger: Logger;
  instanceId: string;
  /** gate.redecideIntervalMs */
  intervalMs: number;
  /** True while this boot's episode ended in `handover` (Coordinator.handoverPending). */
  pending(): boolean;
  /** The episode's `handover` decision (the journaled one). */
  previous(): GateDecision | undefined;
  /** The gate's decision now, from fresh facts (never the journaled one). */
  decide(signal: AbortSignal): Promise<GateDecision>;
  /** Coordinator.reexamine. */
  reexamine(reason: string): Promise<boolean>;
}

export type WatchResult = 'idle' | 'still-handover' | 'reexamined';

/** The HA role a decision was made from (`static` decisions keep their static role). */
function roleOf(d: GateDecision | undefined): string | undefined {
  if (!d) return undefined;
  if (d.source === 'static') return `static:${String(d.details?.master)}`;
  const role = d.details?.haState;
  return typeof role === 'string' ? role : undefined;
}

const lastDeferred = new WeakMap<HandoverWatchDeps, string | undefined>();

/** One look: nothing pending, still `handover`, or re-examined under a new decision. Never throws. */
export async function watchOnce(deps: HandoverWatchDeps, signal: AbortSignal): Promise<WatchResult> {
  if (!deps.pending()) return 'idle';
  let decision: GateDecision;
  try {
    decision = await deps.decide(signal);
  } catch (err) {
    deps.logger.warn('could not re-decide the handover; trying again later', {
      instanceId: deps.instanceId,
      stage: 'gate',
      error: (err as Error).message,
    });
    return 'still-handover';
  }
  if (decision.scope === 'handover' || signal.aborted) return 'still-handover';
  const before = roleOf(deps.previous());
  const now = roleOf(decision);
  if (before !== now) {
    // This node's own role changed since it handed over (BACKUP → MASTER): its loxilb is taking
    // over right now, and a teardown would race that takeover. The SIGTERM probe looks again.
    if (now !== lastDeferred.get(deps)) {
      deps.logger.info(
        "not re-deciding while this node's role changed since the handover; the SIGTERM probe will",
        {
          instanceId: deps.instanceId,
          stage: 'gate',
          roleBefore: before ?? null,
          roleNow: now ?? null,
        },
      );
      lastDeferred.set(deps, now);
    }
    return 'still-handover';
  }
  const reexamined = await deps.reexamine(`the gate now decides ${decision.scope}: ${decision.reason}`);
  return reexamined ? 'reexamined' : 'still-handover';
}

export async function watchHandover(deps: HandoverWatchDeps, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    try {
      await deps.clock.sleep(deps.intervalMs, signal);
    } catch {
      return;
    }
    await watchOnce(deps, signal);
  }
}
