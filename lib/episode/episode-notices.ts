import type { TerminationNotice, NoticeKind } from '../notice';
import { isDestructive, isStop } from '../notice';
import type { MessageDecision } from '../sources/sqs-messages';
import type { EpisodeState, JournalStep } from './journal';
import { iso, MachineSettings } from './episode-machine';
import type { AcceptResult } from './ports';

/**
 * The episode state machine's answer to a notice (pure, like the rest of it in episode-machine.ts):
 * open an episode, merge into it, a duplicate, advisory, not due yet, or about another instance —
 * with what to journal, whether to drive, and the fate of the SQS message it came with.
 */

const SCHEDULED_KINDS = new Set<NoticeKind>(['scheduled-stop', 'scheduled-retire']);
/** SQS caps a message's visibility timeout at 12 h. */
export const MAX_VISIBILITY_SECONDS = 43200;

// ---- message fates -------------------------------------------------------------------------------

export type MessageSituation =
  | { of: 'other-instance' }
  | { of: 'advisory'; kind: NoticeKind }
  | { of: 'not-due'; deadline: string | null; waitSeconds: number }
  /** Held by its episode until the teardown and completion are done (then deleted by `nextStep`). */
  | { of: 'held' }
  /** Seen again after its episode closed. */
  | { of: 'handled'; episode: string; dryRun: boolean };

/** What the consumer does with a message now. */
export function messageFate(s: MessageSituation): MessageDecision {
  switch (s.of) {
    case 'other-instance':
      return { action: 'release', visibilitySeconds: 0, reason: 'not this instance' };
    case 'advisory':
      return { action: 'delete', reason: `${s.kind} is advisory` };
    case 'not-due':
      return {
        action: 'release',
        visibilitySeconds: s.waitSeconds,
        reason: `scheduled for ${s.deadline}; looked at again in ${s.waitSeconds} s`,
      };
    case 'held':
      return { action: 'retain', reason: 'held by the episode until teardown and completion are done' };
    case 'handled':
      // A dry-run changed nothing: the message is left for a real handler.
      return s.dryRun
        ? { action: 'retain', reason: `handled by dry-run episode ${s.episode}; left for a real handler` }
        : { action: 'delete', reason: `already handled by episode ${s.episode}` };
  }
}

// ---- notices -------------------------------------------------------------------------------------

export interface NoticeEvent {
  notice: TerminationNotice;
  /** Set when the notice came with an SQS message. */
  messageId?: string;
  /** Epoch ms. */
  at: number;
  /** The id a new episode gets (made by the driver: it has a random part). */
  newEpisode: string;
}

/** What the driver logs about a notice; `once` lines are logged once per key. */
export type NoticeNote =
  | { about: 'other-instance' }
  | { about: 'advisory'; once: string; text: string }
  | { about: 'not-due'; once: string; dueAt: number }
  | { about: 'opened' }
  | { about: 'merged'; into: 'running' | 'finished' }
  | { about: 'duplicate' };

export interface Acceptance {
  result: AcceptResult;
  /** To journal in `result.episode`, in order, before anything else (an SQS message id is never lost). */
  journal: JournalStep[];
  /** Drive the episode (again) after journaling. */
  drive: boolean;
  /** A new lifecycle token the running heartbeat switches to. */
  useToken?: string;
  note: NoticeNote;
}

/**
 * A notice handed in. `current` is this boot's episode (the journal's state), `busy` whether it is
 * being driven now.
 */
export function acceptNotice(
  m: MachineSettings,
  current: EpisodeState | undefined,
  busy: boolean,
  ev: NoticeEvent,
): Acceptance {
  const { notice, messageId } = ev;
  const fate = (s: MessageSituation) => (messageId !== undefined ? messageFate(s) : undefined);
  if (notice.instanceId !== m.instanceId) {
    const result = { status: 'wrong-instance' as const, message: fate({ of: 'other-instance' }) };
    return { result, journal: [], drive: false, note: { about: 'other-instance' } };
  }
  const { sources } = m.config;
  const wanted =
    (isDestructive(notice.kind) && (!isStop(notice.kind) || sources.teardownOnStop)) ||
    (notice.kind === 'rebalance' && sources.teardownOnRebalance);
  if (!wanted) {
    const text =
      notice.kind === 'rebalance'
        ? 'rebalance recommendation noted; advisory only (sources.teardownOnRebalance is false)'
        : isStop(notice.kind)
          ? `${notice.kind} notice noted; a stop keeps the host and its ENI, and loxilb rebuilds its network on start (sources.teardownOnStop is false)`
          : `${notice.kind} notice noted; the instance does not go away`;
    return {
      result: { status: 'advisory', message: fate({ of: 'advisory', kind: notice.kind }) },
      journal: [],
      drive: false,
      note: { about: 'advisory', once: `${notice.kind}|${notice.sourceId ?? ''}`, text },
    };
  }
  const due = dueAt(m, notice, ev.at);
  if (due !== null && !current) {
    const waitSeconds = Math.min(MAX_VISIBILITY_SECONDS, Math.max(1, Math.ceil((due - ev.at) / 1000)));
    return {
      result: { status: 'not-due', message: fate({ of: 'not-due', deadline: notice.deadline, waitSeconds }) },
      journal: [],
      drive: false,
      note: { about: 'not-due', once: `not-due|${notice.sourceId ?? ''}|${notice.deadline}`, dueAt: due },
    };
  }
  const at = iso(ev.at);
  const messageStep: JournalStep[] = messageId !== undefined ? [{ type: 'message', at, messageId }] : [];
  if (!current) {
    const { instanceId, bootId, dryRun } = m;
    const episode = ev.newEpisode;
    return {
      result: { status: 'opened', episode, message: fate({ of: 'held' }) },
      journal: [{ type: 'opened', at, episode, instanceId, bootId, dryRun, notice }, ...messageStep],
      drive: true,
      note: { about: 'opened' },
    };
  }
  return joinEpisode(current, busy, ev, messageStep);
}

/** A notice of the termination this boot's episode is already about. */
function joinEpisode(
  s: EpisodeState,
  busy: boolean,
  ev: NoticeEvent,
  messageStep: JournalStep[],
): Acceptance {
  const { notice, messageId } = ev;
  const episode = s.episode;
  const knownMessage = messageId !== undefined && s.messageIds.includes(messageId);
  const token = notice.lifecycle?.token;
  const newToken = !!token && !s.notices.some((n) => n.lifecycle?.token === token);
  const sameNotice = s.notices.some(
    (n) =>
      n.kind === notice.kind &&
      n.source === notice.source &&
      n.sourceId === notice.sourceId &&
      n.deadline === notice.deadline,
  );
  const journal: JournalStep[] = [
    ...(knownMessage ? [] : messageStep),
    ...(!sameNotice || newToken ? [{ type: 'notice' as const, at: iso(ev.at), notice }] : []),
  ];
  const held = messageId !== undefined ? messageFate({ of: 'held' }) : undefined;
  if (sameNotice && !newToken && knownMessage === (messageId !== undefined)) {
    // Re-delivery of what the episode already has (an IMDS re-read, an SQS message seen again).
    if (messageId !== undefined && s.closed && !busy) {
      const message = messageFate({ of: 'handled', episode, dryRun: s.dryRun });
      return {
        result: { status: 'duplicate', episode, message },
        journal,
        drive: false,
        note: { about: 'duplicate' },
      };
    }
    // The consumer now holds a fresh receipt handle: one more pass deletes it if the episode is ending.
    const result: AcceptResult = { status: 'duplicate', episode, message: held };
    return { result, journal, drive: messageId !== undefined, note: { about: 'duplicate' } };
  }
  return {
    result: { status: 'merged', episode, message: held },
    journal,
    drive: true,
    useToken: newToken ? token : undefined,
    note: { about: 'merged', into: s.closed ? 'finished' : 'running' },
  };
}

/** Scheduled stops/retirements weeks ahead must not tear down a healthy load balancer today. */
function dueAt(m: MachineSettings, notice: TerminationNotice, now: number): number | null {
  if (!SCHEDULED_KINDS.has(notice.kind) || !notice.deadline) return null;
  const e = m.config.executor;
  const startAt = Date.parse(notice.deadline) - e.defaultDeadlineMs - e.deadlineReserveMs;
  return startAt > now ? startAt : null;
}
