import type { Config } from '../config/schema';
import type { EngineEvent } from '../execute/executor';
import type { GateDecision } from '../gate/gate';
import type { LifecycleRef, TerminationNotice } from '../notice';
import type { CompletionRecord, EpisodeState, JournalStep } from './journal';
import type { ShipOutcome } from './ports';

/**
 * The episode state machine, pure: no I/O, no clock (times come in the events). The state is the
 * journaled `EpisodeState` (lib/episode/journal.ts folds the steps); every function here takes it
 * plus one event and answers with the journal steps that record the event and/or the step the
 * driver (lib/episode/coordinator.ts) performs next:
 *
 *   notice      → acceptNotice (episode-notices.ts): open / merge / duplicate / advisory / not-due
 *   start-up    → startup: which episode of the journal is this boot's, which to close unacted
 *   engine      → engineEventStep: what of the engine's progress is journaled
 *   step result → journalStepFor: the journal step recording it
 *   (state)     → nextStep: teardown → read report back → ship → complete → delete messages → close
 *   re-examine  → reexamination: reopen a `handover` for a new gate decision
 *
 * Every SQS message's fate (delete, release, keep) is decided by the machine: `messageFate`
 * (episode-notices.ts) when a notice comes in, `nextStep` when the episode ends.
 */

export interface MachineSettings {
  instanceId: string;
  /** Kernel boot id: episodes of an earlier boot are never resumed (the instance came back). */
  bootId: string;
  dryRun: boolean;
  config: Pick<Config, 'sources' | 'executor' | 'lifecycle'>;
}

export const iso = (at: number): string => new Date(at).toISOString();

/** Identity of a notice inside an episode. */
export function noticeId(n: TerminationNotice): string {
  return `${n.source}|${n.kind}|${n.sourceId ?? ''}|${n.deadline ?? ''}`;
}

// ---- start-up, re-examination --------------------------------------------------------------------

/**
 * The journal as loaded: this boot's episode (resumed when `needsWork`), and the unfinished episodes
 * of an earlier boot or another mode, closed without action (the instance was stopped and started
 * again: it is alive).
 */
export function startup(
  m: MachineSettings,
  episodes: EpisodeState[],
): { current?: EpisodeState; closeUnacted: EpisodeState[] } {
  const mine = episodes.filter(
    (e) => e.instanceId === m.instanceId && e.bootId === m.bootId && e.dryRun === m.dryRun,
  );
  return {
    current: mine.at(-1),
    closeUnacted: episodes.filter((e) => !mine.includes(e) && !e.closed),
  };
}

export function needsWork(s: EpisodeState): boolean {
  return !s.closed || pendingLifecycle(s) !== null;
}

/** True when the episode ended in `handover`: the host waits to die while a peer takes over. */
export function handoverPending(s: EpisodeState | undefined, busy: boolean): boolean {
  return !!s && !busy && s.report?.outcome === 'handover';
}

/**
 * A `handover` is not final: the gate decides again and the teardown runs again (completions and
 * deleted messages stand). Null when the episode did not end in `handover`.
 */
export function reexamination(s: EpisodeState | undefined, reason: string, at: number): JournalStep | null {
  if (!s || s.report?.outcome !== 'handover') return null;
  return { type: 'redecide', at: iso(at), reason, previous: s.gateDecision };
}

// ---- driving an episode --------------------------------------------------------------------------

/** What the driver knows in this pass that the journal does not. */
export interface PassFacts {
  /** This run's report is in memory (`held`), could not be read back, or is not loaded yet. */
  report: 'held' | 'unreadable' | 'missing';
  /** Report shipping is configured. */
  shipping: boolean;
  /** An SQS source is attached. */
  messages: boolean;
  /** The held messages were already offered for deletion in this pass. */
  messagesTried: boolean;
}

export type Step =
  /** Run the engine; `heartbeat`: keep the lifecycle action alive meanwhile. */
  | { do: 'teardown'; deadlineAt?: number; heartbeat: boolean }
  /** Read the written report back (a restart after it was written), to ship it and complete. */
  | { do: 'read-report'; path: string }
  | { do: 'ship' }
  | { do: 'complete'; lifecycle?: LifecycleRef; result: 'CONTINUE' | 'ABANDON' }
  /** Dry-run: the completion is recorded as skipped, no call. */
  | { do: 'skip-completion'; lifecycle?: LifecycleRef }
  | { do: 'delete-messages'; messageIds: string[] }
  | { do: 'close' }
  /** Nothing more to do until the next notice, re-examination or restart. */
  | { do: 'rest' };

/** The next step of the episode, in this order: teardown → report read back → ship → complete → delete → close. */
export function nextStep(m: MachineSettings, s: EpisodeState, pass: PassFacts, now: number): Step {
  if (!s.report) {
    // A re-examined handover already completed its lifecycle action: nothing to heartbeat.
    const completed = s.completions.some((c) => c.result === 'completed' || c.result === 'already-done');
    return { do: 'teardown', deadlineAt: deadlineOf(s, now), heartbeat: !m.dryRun && !completed };
  }
  if (pass.report === 'missing' && s.report.path) return { do: 'read-report', path: s.report.path };
  if (pass.shipping && s.shipped === undefined && pass.report === 'held') return { do: 'ship' };
  const pending = pendingLifecycle(s);
  if (pending) {
    if (m.dryRun) return { do: 'skip-completion', lifecycle: pending.ref };
    const result = s.report.exitCode === 1 ? m.config.lifecycle.onFailure : 'CONTINUE';
    return { do: 'complete', lifecycle: pending.ref, result };
  }
  // Dry-run makes no mutating call: the messages stay in flight and come back after their
  // visibility timeout, when they are recognised as this episode's and left alone again.
  const open = heldMessageIds(s);
  if (pass.messages && !m.dryRun && !pass.messagesTried && open.length > 0)
    return { do: 'delete-messages', messageIds: open };
  if (!s.closed) return { do: 'close' };
  return { do: 'rest' };
}

/** Messages the episode holds and has not deleted: kept invisible while it runs. */
export function heldMessageIds(s: EpisodeState | undefined): string[] {
  return s ? s.messageIds.filter((id) => !s.deletedMessageIds.includes(id)) : [];
}

/** The earliest deadline any source gave that is still ahead; none → the engine's default budget. */
export function deadlineOf(s: EpisodeState, now: number): number | undefined {
  const ahead = s.notices
    .map((n) => (n.deadline ? Date.parse(n.deadline) : NaN))
    .filter((t) => Number.isFinite(t) && t > now);
  return ahead.length ? Math.min(...ahead) : undefined;
}

/**
 * The lifecycle action still to complete: a token not tried yet; else, by instance id, once at
 * the end of the teardown, and again when Auto Scaling starts terminating (an `asg-terminate`
 * notice without token, e.g. IMDS target-lifecycle-state) after an attempt that found nothing.
 */
export function pendingLifecycle(s: EpisodeState): { ref?: LifecycleRef } | null {
  const tokens = [...new Set(s.notices.map((n) => n.lifecycle?.token).filter((t): t is string => !!t))];
  for (const token of tokens) {
    if (!s.completions.some((c) => c.token === token)) {
      return { ref: s.notices.find((n) => n.lifecycle?.token === token)!.lifecycle! };
    }
  }
  const byInstanceId = { ref: s.notices.find((n) => n.lifecycle)?.lifecycle };
  if (s.completions.length === 0) return tokens.length === 0 ? byInstanceId : null;
  if (s.completions.some((c) => c.result === 'completed' || c.result === 'already-done')) return null;
  const covered = new Set(s.completions.flatMap((c) => c.covers ?? []));
  const uncovered = s.notices.some(
    (n) => n.kind === 'asg-terminate' && !n.lifecycle?.token && !covered.has(noticeId(n)),
  );
  return uncovered ? byInstanceId : null;
}

/** What a step did, fed back to be journaled. */
export type StepDone =
  | { type: 'teardown-started'; at: number; deadlineAt?: number }
  | {
      type: 'teardown-finished';
      at: number;
      outcome: string;
      exitCode: 0 | 1;
      written: { path?: string; writeError?: string };
    }
  | { type: 'shipped'; at: number; outcome: ShipOutcome }
  | { type: 'completed'; at: number; lifecycle?: LifecycleRef; record: CompletionRecord }
  | { type: 'completion-skipped'; at: number; lifecycle?: LifecycleRef }
  | { type: 'messages-deleted'; at: number; messageIds: string[] }
  | { type: 'closed'; at: number };

/** The journal step recording what a step did; null when there is nothing to record. */
export function journalStepFor(s: EpisodeState, done: StepDone): JournalStep | null {
  const at = iso(done.at);
  switch (done.type) {
    case 'teardown-started':
      return { type: 'teardown-started', at, deadlineAt: done.deadlineAt ?? null };
    case 'teardown-finished':
      return {
        type: 'report',
        at,
        report: { ...done.written, outcome: done.outcome, exitCode: done.exitCode },
      };
    case 'shipped':
      return done.outcome.ok
        ? { type: 'shipped', at, ok: true }
        : { type: 'shipped', at, ok: false, detail: done.outcome.summary };
    case 'completed':
    case 'completion-skipped': {
      const token = done.lifecycle?.token;
      let record: CompletionRecord =
        done.type === 'completed' ? done.record : { result: 'skipped-dry-run', ...(token ? { token } : {}) };
      // Keep the token on the record even when completion went by instance id, so it is not retried.
      if (token && !record.token) record = { ...record, token };
      return { type: 'completed', at, completion: { ...record, covers: s.notices.map(noticeId) } };
    }
    case 'messages-deleted':
      return done.messageIds.length > 0
        ? { type: 'messages-deleted', at, messageIds: done.messageIds }
        : null;
    case 'closed':
      return s.closed ? null : { type: 'closed', at };
  }
}

/** The engine's progress as journaled: discovery facts, the gate decision (once), finished actions. */
export function engineEventStep(s: EpisodeState, e: EngineEvent, at: number): JournalStep | null {
  // Journaled before the first change: a restart after DeleteSubnet still knows the CIDR.
  if (e.type === 'discovered') return { type: 'discovered', at: iso(at), facts: e.facts };
  if (e.type === 'gate-decided' && s.gateDecision === undefined) {
    // The event carries the decision's fields beside `type`.
    const { type: _type, ...decision } = e;
    return { type: 'gate', at: iso(at), decision: decision satisfies GateDecision };
  }
  if (e.type === 'action-finished') return { type: 'action', at: iso(at), event: e };
  return null;
}

/** The `completion` part of the report, rewritten after each completion. */
export function reportCompletion(s: EpisodeState): {
  lifecycle: CompletionRecord[];
  shipped: boolean | null;
} {
  return { lifecycle: s.completions, shipped: s.shipped ?? null };
}
