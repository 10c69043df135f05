import { parseConfig } from '../../../lib/config/load';
import {
  deadlineOf,
  engineEventStep,
  handoverPending,
  journalStepFor,
  MachineSettings,
  needsWork,
  nextStep,
  PassFacts,
  reexamination,
  startup,
} from '../../../lib/episode/episode-machine';
import { acceptNotice, NoticeEvent } from '../../../lib/episode/episode-notices';
import { EpisodeState, JournalStep, reduceEpisode } from '../../../lib/episode/journal';
import { TerminationNotice } from '../../../lib/notice';
import { eipDisassociated, facts, lastNode } from './fake-report';

/** The episode state machine alone: state + event → journal steps + the next step. No I/O, no clock. */

const instanceId = 'i-0abc';
const T0 = Date.parse('2024-05-01T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

function settings(
  over: Partial<MachineSettings> = {},
  config: Record<string, unknown> = {},
): MachineSettings {
  return { instanceId, bootId: 'boot-1', dryRun: false, config: parseConfig(config), ...over };
}

function notice(over: Partial<TerminationNotice> = {}): TerminationNotice {
  return {
    instanceId,
    kind: 'spot-terminate',
    deadline: iso(T0 + 120000),
    source: 'imds',
    receivedAt: iso(T0),
    sourceId: 'spot/terminate/x',
    ...over,
  };
}

const lifecycle = (token?: string) => ({
  autoScalingGroupName: 'web',
  hookName: 'teardownd',
  ...(token ? { token } : {}),
});
const tokenNotice = (token: string, messageId: string) =>
  notice({
    kind: 'asg-terminate',
    deadline: null,
    source: 'sqs',
    sourceId: messageId,
    lifecycle: lifecycle(token),
  });

const event = (n: TerminationNotice, messageId?: string, at = T0): NoticeEvent => ({
  notice: n,
  messageId,
  at,
  newEpisode: 'ep-new',
});

/** A journal step without its time (it gets T0). */
type Later = {
  [K in JournalStep['type']]: Omit<Extract<JournalStep, { type: K }>, 'at'>;
}[JournalStep['type']];

/** The steps each built state was folded from, so a test can append more. */
const stepsOf = new WeakMap<EpisodeState, JournalStep[]>();

function fold(steps: JournalStep[]): EpisodeState {
  const s = reduceEpisode(steps);
  stepsOf.set(s, steps);
  return s;
}

/** An episode's state from its steps, as the journal folds them. */
function episode(first: TerminationNotice, ...more: Later[]): EpisodeState {
  return dryOrNot(false, first, ...more);
}

function dryOrNot(dryRun: boolean, first: TerminationNotice, ...more: Later[]): EpisodeState {
  const opened: JournalStep = {
    type: 'opened',
    at: iso(T0),
    episode: 'ep-1',
    instanceId,
    bootId: 'boot-1',
    dryRun,
    notice: first,
  };
  return fold([opened, ...more.map((step) => ({ ...step, at: iso(T0) }) as JournalStep)]);
}

/** The state after more steps. */
function grow(s: EpisodeState, ...more: Array<Later | JournalStep>): EpisodeState {
  return fold([...stepsOf.get(s)!, ...more.map((step) => ({ at: iso(T0), ...step }) as JournalStep)]);
}

const reportStep = (outcome: string, exitCode: 0 | 1 = 0, path = '/r.json') =>
  ({ type: 'report', report: { path, outcome, exitCode } }) as const;
const held: PassFacts = { report: 'held', shipping: false, messages: true, messagesTried: false };

describe('a notice', () => {
  it('about another instance is refused; its message goes back at once', () => {
    const a = acceptNotice(settings(), undefined, false, event(notice({ instanceId: 'i-other' }), 'm'));
    expect(a).toMatchObject({ result: { status: 'wrong-instance' }, journal: [], drive: false });
    expect(a.result.message).toEqual({
      action: 'release',
      visibilitySeconds: 0,
      reason: 'not this instance',
    });
  });

  it.each(['rebalance', 'spot-stop', 'scheduled-reboot'] as const)(
    '%s is advisory: logged once, its message deleted, no episode',
    (kind) => {
      const a = acceptNotice(settings(), undefined, false, event(notice({ kind }), 'm'));
      expect(a).toMatchObject({
        result: { status: 'advisory', message: { action: 'delete' } },
        drive: false,
      });
      expect(a.journal).toEqual([]);
      expect(a.note).toMatchObject({ about: 'advisory', once: `${kind}|spot/terminate/x` });
    },
  );

  it('a stop or a rebalance opens an episode when configured to', () => {
    const m = settings({}, { sources: { teardownOnStop: true, teardownOnRebalance: true } });
    for (const kind of ['spot-stop', 'rebalance'] as const)
      expect(acceptNotice(m, undefined, false, event(notice({ kind }))).result.status).toBe('opened');
  });

  it('a scheduled retirement not due yet: the message comes back when it is (capped at 12 h)', () => {
    const m = settings();
    const far = acceptNotice(
      m,
      undefined,
      false,
      event(notice({ kind: 'scheduled-retire', deadline: iso(T0 + 2 * 86400000) }), 'm'),
    );
    expect(far.result).toMatchObject({
      status: 'not-due',
      message: { action: 'release', visibilitySeconds: 43200 },
    });
    const { defaultDeadlineMs, deadlineReserveMs } = m.config.executor;
    const dueIn = 30000;
    const deadline = iso(T0 + defaultDeadlineMs + deadlineReserveMs + dueIn);
    const near = acceptNotice(
      m,
      undefined,
      false,
      event(notice({ kind: 'scheduled-retire', deadline }), 'm'),
    );
    expect(near.result.message).toMatchObject({ action: 'release', visibilitySeconds: 30 });
    expect(near.note).toMatchObject({ about: 'not-due', dueAt: T0 + dueIn });
    // Due now: it opens.
    expect(
      acceptNotice(
        m,
        undefined,
        false,
        event(notice({ kind: 'scheduled-retire', deadline: iso(T0 + 60000) })),
      ).result.status,
    ).toBe('opened');
  });

  it('the first destructive one opens the episode, journaling it and its message first', () => {
    const n = tokenNotice('tok-1', 'msg-1');
    const a = acceptNotice(settings(), undefined, false, event(n, 'msg-1'));
    expect(a.result).toEqual({
      status: 'opened',
      episode: 'ep-new',
      message: expect.objectContaining({ action: 'retain' }),
    });
    expect(a.journal).toEqual([
      {
        type: 'opened',
        at: iso(T0),
        episode: 'ep-new',
        instanceId,
        bootId: 'boot-1',
        dryRun: false,
        notice: n,
      },
      { type: 'message', at: iso(T0), messageId: 'msg-1' },
    ]);
    expect(a.drive).toBe(true);
  });

  it('another source reporting the same termination is merged; a new token is heartbeated', () => {
    const running = episode(notice());
    const n = tokenNotice('tok-late', 'msg-9');
    const a = acceptNotice(settings(), running, true, event(n, 'msg-9'));
    expect(a.result).toMatchObject({ status: 'merged', episode: 'ep-1', message: { action: 'retain' } });
    expect(a.journal.map((s) => s.type)).toEqual(['message', 'notice']);
    expect(a).toMatchObject({
      drive: true,
      useToken: 'tok-late',
      note: { about: 'merged', into: 'running' },
    });
  });

  it('a re-read of the same notice is a duplicate: nothing journaled, nothing driven', () => {
    const a = acceptNotice(settings(), episode(notice()), true, event(notice()));
    expect(a).toMatchObject({ result: { status: 'duplicate' }, journal: [], drive: false });
  });

  it('a held message seen again while the episode runs stays held and is driven once more (fresh receipt handle)', () => {
    const n = tokenNotice('tok-1', 'msg-1');
    const s = episode(n, { type: 'message', messageId: 'msg-1' });
    const a = acceptNotice(settings(), s, true, event(n, 'msg-1'));
    expect(a).toMatchObject({
      result: { status: 'duplicate', message: { action: 'retain' } },
      journal: [],
      drive: true,
    });
  });

  it('a message seen again after its episode closed is deleted; after a dry-run it is left for a real handler', () => {
    const n = tokenNotice('tok-1', 'msg-1');
    const closed = episode(n, { type: 'message', messageId: 'msg-1' }, reportStep('clean'), {
      type: 'closed',
    });
    const a = acceptNotice(settings(), closed, false, event(n, 'msg-1'));
    expect(a.result.message).toEqual({ action: 'delete', reason: 'already handled by episode ep-1' });
    expect(a.drive).toBe(false);
    const dry = { ...closed, dryRun: true };
    expect(
      acceptNotice(settings({ dryRun: true }), dry, false, event(n, 'msg-1')).result.message,
    ).toMatchObject({
      action: 'retain',
    });
  });

  it('a late notice of a finished episode is merged into it (it may carry a lifecycle action to complete)', () => {
    const closed = episode(notice(), reportStep('clean'), { type: 'closed' });
    const a = acceptNotice(settings(), closed, false, event(notice({ sourceId: 'spot/terminate/late' })));
    expect(a).toMatchObject({ result: { status: 'merged' }, drive: true, note: { into: 'finished' } });
  });
});

describe('start-up', () => {
  it("resumes this boot's episode and closes unfinished ones of another boot or mode without acting", () => {
    const mine = episode(notice());
    const otherBoot = { ...episode(notice()), episode: 'ep-0', bootId: 'boot-0' };
    const dry = { ...episode(notice()), episode: 'ep-d', dryRun: true };
    const closedOld = { ...otherBoot, episode: 'ep-c', closed: true };
    const r = startup(settings(), [closedOld, otherBoot, dry, mine]);
    expect(r.current?.episode).toBe('ep-1');
    expect(r.closeUnacted.map((e) => e.episode)).toEqual(['ep-0', 'ep-d']);
    expect(needsWork(mine)).toBe(true);
  });

  it('a closed episode needs work only while a lifecycle action is still to complete', () => {
    const done = episode(
      notice(),
      reportStep('clean'),
      { type: 'completed', completion: { result: 'completed' } },
      { type: 'closed' },
    );
    expect(needsWork(done)).toBe(false);
    const tokenLate = grow(done, { type: 'notice', notice: tokenNotice('tok-2', 'msg-2') });
    expect(needsWork(tokenLate)).toBe(true);
  });
});

describe('driving an episode: the next step', () => {
  const m = settings({}, { lifecycle: { onFailure: 'ABANDON' } });

  it('teardown first, heartbeating, against the earliest deadline still ahead', () => {
    const s = episode(notice(), {
      type: 'notice',
      notice: notice({ source: 'sqs', deadline: iso(T0 + 90000) }),
    });
    expect(nextStep(m, s, held, T0)).toEqual({ do: 'teardown', deadlineAt: T0 + 90000, heartbeat: true });
    expect(deadlineOf(s, T0 + 100000)).toBe(T0 + 120000);
    expect(deadlineOf(s, T0 + 200000)).toBeUndefined();
    expect(nextStep(settings({ dryRun: true }), s, held, T0)).toMatchObject({
      do: 'teardown',
      heartbeat: false,
    });
  });

  it('after a restart: the written report is read back before it is shipped; unreadable, it is not shipped', () => {
    const s = episode(notice(), reportStep('clean'));
    const shipping = { ...held, shipping: true };
    expect(nextStep(m, s, { ...shipping, report: 'missing' }, T0)).toEqual({
      do: 'read-report',
      path: '/r.json',
    });
    expect(nextStep(m, s, shipping, T0)).toEqual({ do: 'ship' });
    expect(nextStep(m, s, { ...shipping, report: 'unreadable' }, T0)).toMatchObject({ do: 'complete' });
  });

  it('ships once, before completing; a failed shipment does not hold the completion', () => {
    const s = episode(notice(), reportStep('clean'), { type: 'shipped', ok: false, detail: 'S3: failed' });
    expect(nextStep(m, s, { ...held, shipping: true }, T0)).toEqual({ do: 'complete', result: 'CONTINUE' });
  });

  it('completes every token once, CONTINUE when clean and lifecycle.onFailure when something was left', () => {
    const n = tokenNotice('tok-1', 'm-1');
    const left = episode(n, reportStep('left-behind', 1));
    expect(nextStep(m, left, held, T0)).toEqual({
      do: 'complete',
      lifecycle: lifecycle('tok-1'),
      result: 'ABANDON',
    });
    const withLate = grow(left, { type: 'notice', notice: tokenNotice('tok-2', 'm-2') });
    const first = journalStepFor(withLate, {
      type: 'completed',
      at: T0,
      lifecycle: lifecycle('tok-1'),
      record: { result: 'completed', by: 'token' },
    })!;
    // The token is kept on the record, and the notices it answered are listed.
    expect(first).toMatchObject({
      completion: { token: 'tok-1', covers: expect.arrayContaining([expect.stringContaining('m-1')]) },
    });
    const afterFirst = grow(withLate, first);
    expect(nextStep(m, afterFirst, held, T0)).toMatchObject({
      do: 'complete',
      lifecycle: { token: 'tok-2' },
    });
  });

  it('by instance id: once after the teardown, again only for an asg-terminate notice not yet covered', () => {
    const s = episode(notice(), reportStep('clean'));
    expect(nextStep(m, s, held, T0)).toEqual({ do: 'complete', lifecycle: undefined, result: 'CONTINUE' });
    const c = journalStepFor(s, { type: 'completed', at: T0, record: { result: 'not-needed' } })!;
    const after = grow(s, c, { type: 'closed' });
    expect(nextStep(m, after, held, T0)).toEqual({ do: 'rest' });
    const terminated = notice({ kind: 'asg-terminate', deadline: null, sourceId: 'autoscaling/Terminated' });
    const later = grow(after, { type: 'notice', notice: terminated });
    expect(nextStep(m, later, held, T0)).toMatchObject({ do: 'complete', lifecycle: undefined });
  });

  it('dry-run: the completion is recorded as skipped, with its token, and no message is deleted', () => {
    const dry = settings({ dryRun: true });
    const n = tokenNotice('tok-1', 'msg-1');
    const s = dryOrNot(true, n, { type: 'message', messageId: 'msg-1' }, reportStep('dry-run'));
    expect(nextStep(dry, s, held, T0)).toEqual({ do: 'skip-completion', lifecycle: lifecycle('tok-1') });
    const skipped = journalStepFor(s, { type: 'completion-skipped', at: T0, lifecycle: lifecycle('tok-1') });
    expect(skipped).toMatchObject({ completion: { result: 'skipped-dry-run', token: 'tok-1' } });
    const after = grow(s, skipped!);
    expect(nextStep(dry, after, held, T0)).toEqual({ do: 'close' });
  });

  it('held messages are deleted once the action is completed, then the episode closes, then rests', () => {
    const s = episode(notice(), { type: 'message', messageId: 'm-1' }, reportStep('clean'), {
      type: 'completed',
      completion: { result: 'completed' },
    });
    expect(nextStep(m, s, held, T0)).toEqual({ do: 'delete-messages', messageIds: ['m-1'] });
    // Tried in this pass (the consumer had no receipt handle): not again until the next pass.
    expect(nextStep(m, s, { ...held, messagesTried: true }, T0)).toEqual({ do: 'close' });
    expect(nextStep(m, s, { ...held, messages: false }, T0)).toEqual({ do: 'close' });
    expect(journalStepFor(s, { type: 'messages-deleted', at: T0, messageIds: [] })).toBeNull();
    const deleted = grow(s, { type: 'messages-deleted', messageIds: ['m-1'] });
    expect(nextStep(m, deleted, held, T0)).toEqual({ do: 'close' });
    const closed = grow(deleted, { type: 'closed' });
    expect(journalStepFor(closed, { type: 'closed', at: T0 })).toBeNull();
  });

  it('a shipment is journaled with its summary only when it failed', () => {
    const s = episode(notice(), reportStep('clean'));
    const ok = { ok: true, durationMs: 5, summary: 'S3: shipped' };
    expect(journalStepFor(s, { type: 'shipped', at: T0, outcome: ok })).toEqual({
      type: 'shipped',
      at: iso(T0),
      ok: true,
    });
    expect(
      journalStepFor(s, {
        type: 'shipped',
        at: T0,
        outcome: { ...ok, ok: false, summary: 'S3: failed (ShipTimeout)' },
      }),
    ).toEqual({
      type: 'shipped',
      at: iso(T0),
      ok: false,
      detail: 'S3: failed (ShipTimeout)',
    });
  });
});

describe("the engine's progress", () => {
  it('journals discovery, the gate decision once (a resumed run reuses it) and finished actions', () => {
    const fresh = episode(notice());
    expect(engineEventStep(fresh, { type: 'discovered', facts: facts(['eni-1']) }, T0)).toEqual({
      type: 'discovered',
      at: iso(T0),
      facts: facts(['eni-1']),
    });
    expect(engineEventStep(fresh, { type: 'gate-decided', ...lastNode }, T0)).toEqual({
      type: 'gate',
      at: iso(T0),
      decision: lastNode,
    });
    const decided = episode(notice(), { type: 'gate', decision: lastNode });
    expect(engineEventStep(decided, { type: 'gate-decided', ...lastNode }, T0)).toBeNull();
    expect(engineEventStep(decided, eipDisassociated(), T0)).toMatchObject({
      type: 'action',
      event: { resource: 'eipassoc-1' },
    });
    expect(
      engineEventStep(decided, { type: 'plan-built', planned: 1, blocked: 0, skipped: 0 }, T0),
    ).toBeNull();
  });
});

describe('a handover re-examined', () => {
  it('reopens the episode for a new decision; the teardown runs again without heartbeats once completed', () => {
    const handover = { ...lastNode, scope: 'handover' as const };
    const s = episode(
      notice(),
      { type: 'gate', decision: handover },
      reportStep('handover'),
      { type: 'completed', completion: { result: 'completed' } },
      { type: 'closed' },
    );
    expect(handoverPending(s, false)).toBe(true);
    expect(handoverPending(s, true)).toBe(false);
    const step = reexamination(s, 'the peer is ending', T0 + 5000)!;
    expect(step).toEqual({
      type: 'redecide',
      at: iso(T0 + 5000),
      reason: 'the peer is ending',
      previous: handover,
    });
    const reopened = grow(s, step);
    expect(reopened).toMatchObject({ closed: false, gateDecision: undefined, report: undefined });
    expect(nextStep(settings(), reopened, held, T0)).toMatchObject({ do: 'teardown', heartbeat: false });
  });

  it('an episode of another outcome is never re-examined', () => {
    expect(reexamination(episode(notice(), reportStep('clean')), 'probe', T0)).toBeNull();
    expect(reexamination(undefined, 'probe', T0)).toBeNull();
    expect(handoverPending(episode(notice(), reportStep('left-behind', 1)), false)).toBe(false);
  });
});
