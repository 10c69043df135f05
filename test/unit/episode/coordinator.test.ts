import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { parseConfig } from '../../../lib/config/load';
import {
  CompletionPort,
  Coordinator,
  CoordinatorDeps,
  EpisodeTeardown,
  EpisodeTeardownRequest,
  MessagePort,
  ShipOutcome,
} from '../../../lib/episode/coordinator';
import { CompletionRecord, EpisodeState, Journal } from '../../../lib/episode/journal';
import { nullLogger } from '../../../lib/log';
import { LifecycleRef, TerminationNotice } from '../../../lib/notice';
import type { ReportOutcome, TeardownReport } from '../../../lib/report/report';
import { createEpisodeShipper } from '../../../lib/report/shipping';
import { flush, ManualClock, until } from '../../helpers/manual-clock';
import { eipDisassociated, facts, fakeReport, lastNode } from './fake-report';

const instanceId = 'i-0abc';

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((a, b) => {
    resolve = a;
    reject = b;
  });
  return { promise, resolve, reject };
}

/** Records the order of side effects across fakes. */
class Timeline {
  entries: string[] = [];
  add(e: string) {
    this.entries.push(e);
  }
}

class FakeTeardown implements EpisodeTeardown {
  requests: EpisodeTeardownRequest[] = [];
  written: TeardownReport[] = [];
  gate = deferred<void>();
  finish = deferred<ReportOutcome>();
  /** Outcomes of the next runs, in order, before autoFinish / finish apply. */
  nextOutcomes: ReportOutcome[] = [];
  readReport?: (path: string) => Promise<TeardownReport>;
  constructor(
    private readonly t: Timeline,
    private readonly autoFinish?: ReportOutcome,
  ) {}
  async run(req: EpisodeTeardownRequest): Promise<TeardownReport> {
    this.requests.push(req);
    this.t.add('teardown');
    // A test may reject `finish` while the run still awaits the journal write below.
    const finishing = this.finish.promise;
    finishing.catch(() => undefined);
    if (req.gateDecision === undefined) req.onEvent?.({ type: 'gate-decided', ...lastNode });
    // The engine awaits this one before its first change; the facts grow with each run.
    const earlier = req.remembered?.ownEniIds ?? [];
    await req.onEvent?.({
      type: 'discovered',
      facts: facts([...earlier, `eni-run${this.requests.length}`]),
    });
    req.onEvent?.(eipDisassociated());
    const outcome = this.nextOutcomes.shift() ?? this.autoFinish ?? (await finishing);
    return fakeReport(outcome, req.episode);
  }
  /** Set to make every local report write fail (a read-only or full reports dir). */
  writeError?: Error;
  async writeReport(report: TeardownReport): Promise<string> {
    if (this.writeError) throw this.writeError;
    this.written.push(JSON.parse(JSON.stringify(report)) as TeardownReport);
    this.t.add(report.completion ? 'report-rewritten' : 'report');
    return `/reports/${report.episode}.json`;
  }
  exitCode(report: TeardownReport): 0 | 1 {
    return report.outcome === 'left-behind' ? 1 : 0;
  }
}

class FakeCompletion implements CompletionPort {
  heartbeats: Array<LifecycleRef | undefined> = [];
  completes: Array<{ lifecycle?: LifecycleRef; result: string }> = [];
  tokensSwitched: string[] = [];
  constructor(
    private readonly t: Timeline,
    private readonly answer: CompletionRecord['result'] = 'completed',
  ) {}
  async startHeartbeat(args: { lifecycle?: LifecycleRef }) {
    this.heartbeats.push(args.lifecycle);
    this.t.add('heartbeat-start');
    return {
      useToken: (token: string) => void this.tokensSwitched.push(token),
      stop: async () => this.t.add('heartbeat-stop'),
    };
  }
  async complete(args: Parameters<CompletionPort['complete']>[0]): Promise<CompletionRecord> {
    this.completes.push({ lifecycle: args.lifecycle, result: args.result });
    this.t.add(`complete ${args.result} ${args.lifecycle?.token ?? 'by-instance-id'}`);
    return { result: this.answer, lifecycleActionResult: args.result, token: args.lifecycle?.token };
  }
}

class FakeMessages implements MessagePort {
  extended: string[][] = [];
  deleted: string[] = [];
  /** Nothing may release a held message (the port has no way to): stays empty. */
  released: string[] = [];
  constructor(
    private readonly t: Timeline,
    private readonly closed?: (state: EpisodeState) => Promise<void>,
  ) {}
  async extend(ids: string[]) {
    this.extended.push(ids);
  }
  async delete(ids: string[]) {
    this.deleted.push(...ids);
    this.t.add(`delete ${ids.join(',')}`);
    return ids;
  }
  async release(ids: string[]) {
    this.released.push(...ids);
    return ids;
  }
  async episodeClosed(state: EpisodeState) {
    await this.closed?.(state);
  }
}

/** A shipment every destination took. */
const shippedOk: ShipOutcome = { ok: true, durationMs: 1, summary: 'S3: shipped; CloudWatch Logs: skipped' };

let stateDir: string;
/** Every coordinator a test built: stopped after it, so no journal write lands in a removed dir. */
let built: Array<{ coordinator: Coordinator; teardown: FakeTeardown }> = [];
beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'coord-'));
  built = [];
});
afterEach(async () => {
  for (const { coordinator, teardown } of built) {
    // A teardown still waiting on its test's `finish` ends now, as an aborted one does.
    teardown.finish.promise.catch(() => undefined);
    teardown.finish.reject(new Error('test over'));
    await coordinator.stop();
  }
  rmSync(stateDir, { recursive: true, force: true });
});

function setup(
  opts: {
    config?: Record<string, unknown>;
    dryRun?: boolean;
    bootId?: string;
    autoFinish?: ReportOutcome;
    ship?: CoordinatorDeps['shipReport'];
    answer?: CompletionRecord['result'];
    episodeClosed?: (state: EpisodeState) => Promise<void>;
    clock?: ManualClock;
  } = {},
) {
  const t = new Timeline();
  const clock = opts.clock ?? new ManualClock();
  const teardown = new FakeTeardown(t, opts.autoFinish);
  const completion = new FakeCompletion(t, opts.answer);
  const messages = new FakeMessages(t, opts.episodeClosed);
  const config = parseConfig({ stateDir, ...opts.config });
  const coordinator = new Coordinator({
    instanceId,
    bootId: opts.bootId ?? 'boot-1',
    config,
    dryRun: opts.dryRun ?? false,
    clock,
    logger: nullLogger(),
    journal: new Journal(stateDir),
    teardown,
    completion,
    shipReport: opts.ship,
  });
  coordinator.attachMessages(messages);
  built.push({ coordinator, teardown });
  return { t, clock, config, teardown, completion, messages, coordinator };
}

function notice(over: Partial<TerminationNotice> = {}, clock = new ManualClock()): TerminationNotice {
  return {
    instanceId,
    kind: 'spot-terminate',
    deadline: new Date(clock.now() + 120000).toISOString(),
    source: 'imds',
    receivedAt: new Date(clock.now()).toISOString(),
    sourceId: 'spot/terminate/x',
    ...over,
  };
}

const lifecycleNotice = (token: string, messageId: string): TerminationNotice =>
  notice({
    kind: 'asg-terminate',
    deadline: null,
    source: 'sqs',
    sourceId: messageId,
    lifecycle: { autoScalingGroupName: 'web', hookName: 'teardownd', token },
  });

describe('one teardown per episode', () => {
  it('IMDS and SQS reporting the same spot notice → one teardown, the earliest deadline', async () => {
    const { coordinator, teardown, clock } = setup();
    await coordinator.start();
    const imds = notice({}, clock);
    const sqs = notice(
      { source: 'sqs', sourceId: 'msg-1', deadline: new Date(clock.now() + 118000).toISOString() },
      clock,
    );
    expect((await coordinator.accept(imds)).status).toBe('opened');
    const merged = await coordinator.accept(sqs, { messageId: 'msg-1' });
    expect(merged).toMatchObject({ status: 'merged', message: { action: 'retain' } });
    expect((await coordinator.accept(imds)).status).toBe('duplicate');
    teardown.finish.resolve('clean');
    await coordinator.idle();
    expect(teardown.requests).toHaveLength(1);
    expect(teardown.requests[0]).toMatchObject({
      instanceId,
      trigger: imds,
      dryRun: false,
      deadlineAt: clock.now() + 120000,
    });
    // A notice of the same termination after the episode closed still does not tear down again.
    expect((await coordinator.accept(notice({ sourceId: 'spot/terminate/y' }, clock))).status).toBe('merged');
    await coordinator.idle();
    expect(teardown.requests).toHaveLength(1);
  });

  it('IMDS and SQS at the same moment: one episode opens, the other notice joins it', async () => {
    const { coordinator, teardown, clock } = setup({ autoFinish: 'clean' });
    await coordinator.start();
    const [a, b] = await Promise.all([
      coordinator.accept(notice({}, clock)),
      coordinator.accept(notice({ source: 'sqs', sourceId: 'msg-1' }, clock), { messageId: 'msg-1' }),
    ]);
    expect([a.status, b.status]).toEqual(['opened', 'merged']);
    expect(b.episode).toBe(a.episode);
    await coordinator.idle();
    expect(teardown.requests).toHaveLength(1);
  });

  it('a report the disk refuses: still shipped, the action completed, the episode closed, never torn down twice', async () => {
    const shipped: TeardownReport[] = [];
    const { coordinator, teardown, completion, messages, t } = setup({
      autoFinish: 'clean',
      ship: async (report) => {
        shipped.push(report);
        return shippedOk;
      },
    });
    teardown.writeError = Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    await coordinator.start();
    await coordinator.accept(lifecycleNotice('tok-1', 'msg-1'), { messageId: 'msg-1' });
    await coordinator.idle();
    expect(shipped).toEqual([expect.objectContaining({ outcome: 'clean' })]);
    expect(completion.completes).toEqual([expect.objectContaining({ result: 'CONTINUE' })]);
    expect(messages.deleted).toEqual(['msg-1']);
    const state = coordinator.state()!;
    expect(state.closed).toBe(true);
    expect(state.report).toEqual({
      outcome: 'clean',
      exitCode: 0,
      writeError: 'ENOSPC: ENOSPC: no space left on device',
    });
    // The message seen again (a redelivery) does not start another teardown.
    await coordinator.accept(lifecycleNotice('tok-1', 'msg-1'), { messageId: 'msg-1' });
    await coordinator.idle();
    expect(teardown.requests).toHaveLength(1);
    expect(t.entries.filter((e) => e === 'teardown')).toHaveLength(1);
  });

  it('order: teardown → report → ship → heartbeat stop → complete(CONTINUE, token) → delete messages', async () => {
    const shipped: string[] = [];
    const { coordinator, teardown, completion, messages, t } = setup({
      ship: async (r) => {
        shipped.push(r.episode);
        t.add('ship');
        return shippedOk;
      },
    });
    await coordinator.start();
    await coordinator.accept(lifecycleNotice('tok-1', 'msg-1'), { messageId: 'msg-1' });
    await flush();
    teardown.finish.resolve('clean');
    await coordinator.idle();
    expect(t.entries).toEqual([
      'heartbeat-start',
      'teardown',
      'report',
      'ship',
      'heartbeat-stop',
      'complete CONTINUE tok-1',
      'report-rewritten',
      'delete msg-1',
    ]);
    expect(completion.heartbeats[0]).toMatchObject({ token: 'tok-1' });
    expect(messages.deleted).toEqual(['msg-1']);
    expect(shipped).toHaveLength(1);
    expect(teardown.written[1].completion).toEqual({
      lifecycle: [expect.objectContaining({ result: 'completed', token: 'tok-1' })],
      shipped: true,
    });
    expect(coordinator.state()!.closed).toBe(true);
  });

  it('a token arriving during the teardown is heartbeated and completed; left-behind → onFailure', async () => {
    const { coordinator, teardown, completion, clock } = setup({
      config: { lifecycle: { onFailure: 'ABANDON' } },
    });
    await coordinator.start();
    await coordinator.accept(notice({}, clock));
    await flush();
    expect(completion.heartbeats).toEqual([undefined]);
    await coordinator.accept(lifecycleNotice('tok-late', 'msg-9'), { messageId: 'msg-9' });
    expect(completion.tokensSwitched).toEqual(['tok-late']);
    teardown.finish.resolve('left-behind');
    await coordinator.idle();
    expect(completion.completes).toEqual([
      { lifecycle: expect.objectContaining({ token: 'tok-late' }), result: 'ABANDON' },
    ]);
    expect(teardown.requests).toHaveLength(1);
  });

  it('a lifecycle message for a finished episode only completes the action (no second teardown)', async () => {
    const { coordinator, teardown, completion, messages, t, clock } = setup({
      autoFinish: 'clean',
      answer: 'not-needed',
    });
    await coordinator.start();
    await coordinator.accept(notice({}, clock));
    await coordinator.idle();
    expect(completion.completes).toHaveLength(1); // by instance id: not in a group yet → not needed
    const r = await coordinator.accept(lifecycleNotice('tok-2', 'msg-2'), { messageId: 'msg-2' });
    expect(r.status).toBe('merged');
    await coordinator.idle();
    expect(teardown.requests).toHaveLength(1);
    expect(completion.completes[1].lifecycle!.token).toBe('tok-2');
    expect(messages.deleted).toEqual(['msg-2']);
    expect(t.entries.filter((e) => e === 'teardown')).toHaveLength(1);
    // The same message delivered again is just deleted.
    expect(await coordinator.accept(lifecycleNotice('tok-2', 'msg-2'), { messageId: 'msg-2' })).toMatchObject(
      {
        status: 'duplicate',
        message: { action: 'delete' },
      },
    );
  });
});

describe('after the episode', () => {
  it('the message port is told once the episode closed, after the messages are deleted, with the closed state; idle() waits for it', async () => {
    const seen: Array<{ closed: boolean; completions: string[]; deleted: string[] }> = [];
    const { coordinator, teardown, t } = setup({
      episodeClosed: async (state) => {
        t.add('closed hook');
        seen.push({
          closed: state.closed,
          completions: state.completions.map((c) => c.result),
          deleted: state.deletedMessageIds,
        });
      },
    });
    await coordinator.start();
    await coordinator.accept(lifecycleNotice('tok-1', 'msg-1'), { messageId: 'msg-1' });
    teardown.finish.resolve('clean');
    await coordinator.idle();
    expect(seen).toEqual([{ closed: true, completions: ['completed'], deleted: ['msg-1'] }]);
    expect(t.entries.indexOf('closed hook')).toBeGreaterThan(t.entries.indexOf('delete msg-1'));
    // A late notice merged into the finished episode does not tell it again.
    await coordinator.accept(notice({ sourceId: 'spot/terminate/late' }));
    await coordinator.idle();
    expect(seen).toHaveLength(1);
  });
});

describe('completion by instance id', () => {
  it('a spot episode that found no pending action completes again once Auto Scaling starts terminating', async () => {
    const { coordinator, completion, teardown } = setup({ autoFinish: 'clean', answer: 'not-needed' });
    await coordinator.start();
    await coordinator.accept(notice());
    await coordinator.idle();
    expect(completion.completes).toHaveLength(1);
    // IMDS target-lifecycle-state flips to Terminated: same termination, now a hook waits.
    const terminated = notice({ kind: 'asg-terminate', deadline: null, sourceId: 'autoscaling/Terminated' });
    expect((await coordinator.accept(terminated)).status).toBe('merged');
    await coordinator.idle();
    expect(completion.completes).toHaveLength(2);
    expect(completion.completes[1].lifecycle).toBeUndefined();
    expect(teardown.requests).toHaveLength(1);
    // Seen again: already covered.
    await coordinator.accept(
      notice({ kind: 'asg-terminate', deadline: null, sourceId: 'autoscaling/Terminated' }),
    );
    await coordinator.idle();
    expect(completion.completes).toHaveLength(2);
  });

  it('after a successful completion, nothing more is completed by instance id', async () => {
    const { coordinator, completion } = setup({ autoFinish: 'clean', answer: 'completed' });
    await coordinator.start();
    await coordinator.accept(
      notice({ kind: 'asg-terminate', deadline: null, sourceId: 'autoscaling/Terminated' }),
    );
    await coordinator.idle();
    await coordinator.accept(notice());
    await coordinator.idle();
    expect(completion.completes).toHaveLength(1);
  });
});

describe('resume from the journal', () => {
  it('a crash mid-teardown resumes with the same episode, gate decision and token', async () => {
    const first = setup();
    await first.coordinator.start();
    await first.coordinator.accept(lifecycleNotice('tok-1', 'msg-1'), { messageId: 'msg-1' });
    await until(() => first.coordinator.state()?.actionsFinished.length === 1, 3000, 'action journaled');
    // On disk before the first change went out.
    expect(first.coordinator.state()!.discovered).toEqual(facts(['eni-run1']));
    const episode = first.coordinator.activeEpisode!;
    // kill -9: the first coordinator never finishes.
    const second = setup({ autoFinish: 'clean' });
    const resumed = await second.coordinator.start();
    expect(resumed).toMatchObject({
      episode,
      gateDecision: { scope: 'full', source: 'loxilb-api', reason: 'last node' },
      lifecycle: { token: 'tok-1' },
      messageIds: ['msg-1'],
    });
    await second.coordinator.idle();
    expect(second.teardown.requests).toHaveLength(1);
    expect(second.teardown.requests[0]).toMatchObject({
      episode,
      gateDecision: { scope: 'full', source: 'loxilb-api', reason: 'last node' },
      // What the first run discovered (e.g. the CIDR, before its subnet went) reaches the resumed run.
      remembered: facts(['eni-run1']),
    });
    expect(second.coordinator.state()!.discovered).toEqual(facts(['eni-run1', 'eni-run1']));
    expect(second.completion.completes).toEqual([
      { lifecycle: expect.objectContaining({ token: 'tok-1' }), result: 'CONTINUE' },
    ]);
    // The SQS message comes back after its visibility timeout: held by the episode, deleted.
    const again = await second.coordinator.accept(lifecycleNotice('tok-1', 'msg-1'), { messageId: 'msg-1' });
    expect(again.message).toEqual({ action: 'delete', reason: `already handled by episode ${episode}` });
  });

  it('a crash after the report was written does not tear down again: it completes', async () => {
    const first = setup({ autoFinish: 'clean' });
    await first.coordinator.start();
    // Complete hangs (crash during completion); like every real call it ends only when aborted.
    let completing = false;
    first.completion.complete = ({ signal }) => {
      completing = true;
      return new Promise((_, reject) =>
        signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
      );
    };
    await first.coordinator.accept(lifecycleNotice('tok-1', 'msg-1'), { messageId: 'msg-1' });
    await until(() => completing, 3000, 'completion started (report journaled)');
    const second = setup();
    second.teardown.readReport = async (path) => fakeReport('clean', path.replace(/^.*\/|\.json$/g, ''));
    const resumed = await second.coordinator.start();
    expect(resumed!.report).toMatchObject({ outcome: 'clean', exitCode: 0 });
    await second.coordinator.idle();
    expect(second.teardown.requests).toHaveLength(0);
    expect(second.completion.completes).toHaveLength(1);
    expect(second.coordinator.state()!.closed).toBe(true);
    expect(second.teardown.written).toEqual([
      {
        ...fakeReport('clean', resumed!.episode),
        completion: {
          lifecycle: [expect.objectContaining({ result: 'completed', token: 'tok-1' })],
          shipped: null,
        },
      },
    ]);
  });

  it('an unfinished episode of an earlier boot is closed, never resumed (the instance came back)', async () => {
    const first = setup({ bootId: 'boot-1' });
    await first.coordinator.start();
    await first.coordinator.accept(notice());
    await until(() => first.teardown.requests.length === 1);
    const after = setup({ bootId: 'boot-2', autoFinish: 'clean' });
    expect(await after.coordinator.start()).toBeUndefined();
    await after.coordinator.idle();
    expect(after.teardown.requests).toHaveLength(0);
    // A new notice in the new boot is a new episode.
    expect((await after.coordinator.accept(notice({ sourceId: 'spot/terminate/new' }))).status).toBe(
      'opened',
    );
  });
});

describe('what is not a teardown', () => {
  it('rebalance is advisory unless sources.teardownOnRebalance', async () => {
    const { coordinator, teardown } = setup({ autoFinish: 'clean' });
    await coordinator.start();
    const r = await coordinator.accept(notice({ kind: 'rebalance', deadline: null }), { messageId: 'm' });
    expect(r).toMatchObject({ status: 'advisory', message: { action: 'delete' } });
    expect(coordinator.activeEpisode).toBeUndefined();
    const acting = setup({ autoFinish: 'clean', config: { sources: { teardownOnRebalance: true } } });
    await acting.coordinator.start();
    expect((await acting.coordinator.accept(notice({ kind: 'rebalance', deadline: null }))).status).toBe(
      'opened',
    );
    await acting.coordinator.idle();
    expect(acting.teardown.requests).toHaveLength(1);
    expect(teardown.requests).toHaveLength(0);
  });

  it('a scheduled retirement weeks ahead is not due: the message comes back when it is', async () => {
    const { coordinator, clock } = setup();
    await coordinator.start();
    const inTwoDays = new Date(clock.now() + 2 * 86400000).toISOString();
    const r = await coordinator.accept(
      notice({ kind: 'scheduled-retire', deadline: inTwoDays, source: 'sqs' }),
      { messageId: 'm' },
    );
    expect(r.status).toBe('not-due');
    expect(r.message).toMatchObject({ action: 'release', visibilitySeconds: 43200 });
    const soon = new Date(clock.now() + 60000).toISOString();
    expect(
      (await coordinator.accept(notice({ kind: 'scheduled-retire', deadline: soon, sourceId: 'ev-2' })))
        .status,
    ).toBe('opened');
  });

  it('a stop (spot stop / hibernate, scheduled stop) is not the end of the host unless sources.teardownOnStop', async () => {
    const { coordinator, teardown } = setup({ autoFinish: 'clean' });
    await coordinator.start();
    for (const kind of ['spot-stop', 'spot-hibernate', 'scheduled-stop'] as const) {
      const r = await coordinator.accept(notice({ kind, sourceId: kind }), { messageId: kind });
      expect(r).toMatchObject({ status: 'advisory', message: { action: 'delete' } });
    }
    expect(coordinator.activeEpisode).toBeUndefined();
    expect(teardown.requests).toHaveLength(0);
    const acting = setup({ autoFinish: 'clean', config: { sources: { teardownOnStop: true } } });
    await acting.coordinator.start();
    expect((await acting.coordinator.accept(notice({ kind: 'spot-stop' }))).status).toBe('opened');
    await acting.coordinator.idle();
    expect(acting.teardown.requests).toHaveLength(1);
  });

  it('scheduled reboot never opens an episode', async () => {
    const { coordinator } = setup();
    await coordinator.start();
    expect((await coordinator.accept(notice({ kind: 'scheduled-reboot' }))).status).toBe('advisory');
  });

  it('a notice about another instance is refused', async () => {
    const { coordinator } = setup();
    await coordinator.start();
    expect((await coordinator.accept(notice({ instanceId: 'i-other' }))).status).toBe('wrong-instance');
  });
});

describe('a handover is not final', () => {
  it('re-examined: the gate decides again and the teardown runs again; the lifecycle is completed once', async () => {
    const { coordinator, teardown, completion } = setup();
    teardown.nextOutcomes.push('handover', 'clean');
    await coordinator.start();
    await coordinator.accept(lifecycleNotice('tok-1', 'm-1'), { messageId: 'm-1' });
    await coordinator.idle();
    expect(coordinator.state()).toMatchObject({ closed: true, report: { outcome: 'handover' } });
    expect(coordinator.handoverPending).toBe(true);
    expect(completion.completes).toEqual([
      { lifecycle: expect.objectContaining({ token: 'tok-1' }), result: 'CONTINUE' },
    ]);

    expect(await coordinator.reexamine('the peer is ending')).toBe(true);
    await coordinator.idle();
    expect(teardown.requests).toHaveLength(2);
    expect(teardown.requests[1].gateDecision).toBeUndefined();
    expect(teardown.requests[1].redecided).toMatchObject({
      reason: 'the peer is ending',
      previous: { scope: 'full', reason: 'last node' },
    });
    expect(coordinator.state()).toMatchObject({ closed: true, report: { outcome: 'clean' } });
    expect(completion.completes).toHaveLength(1);
    expect(completion.heartbeats).toHaveLength(1);
    // A clean (or full) result is final.
    expect(coordinator.handoverPending).toBe(false);
    expect(await coordinator.reexamine('again')).toBe(false);
    expect(teardown.requests).toHaveLength(2);
  });

  it('a restarted daemon still knows its episode handed over, and re-examines it', async () => {
    const first = setup();
    first.teardown.nextOutcomes.push('handover');
    await first.coordinator.start();
    await first.coordinator.accept(notice());
    await first.coordinator.idle();
    const second = setup({ autoFinish: 'clean' });
    await second.coordinator.start();
    expect(second.coordinator.handoverPending).toBe(true);
    expect(await second.coordinator.reexamine('SIGTERM shutdown probe')).toBe(true);
    await second.coordinator.idle();
    expect(second.teardown.requests).toHaveLength(1);
    expect(second.coordinator.state()?.report?.outcome).toBe('clean');
  });

  it('an episode of another outcome is never re-examined', async () => {
    const { coordinator, teardown } = setup({ autoFinish: 'left-behind' });
    await coordinator.start();
    await coordinator.accept(notice());
    await coordinator.idle();
    expect(await coordinator.reexamine('probe')).toBe(false);
    expect(teardown.requests).toHaveLength(1);
  });
});

describe('dry-run', () => {
  it('teardown runs in dry-run; no heartbeat, no completion, no message change', async () => {
    const { coordinator, teardown, completion, messages, clock } = setup({ dryRun: true });
    await coordinator.start();
    await coordinator.accept(lifecycleNotice('tok-1', 'msg-1'), { messageId: 'msg-1' });
    await clock.advance(60000);
    teardown.finish.resolve('dry-run');
    await coordinator.idle();
    expect(teardown.requests[0].dryRun).toBe(true);
    expect(completion.heartbeats).toEqual([]);
    expect(completion.completes).toEqual([]);
    expect(messages.extended).toEqual([]);
    expect(messages.deleted).toEqual([]);
    expect(messages.released).toEqual([]);
    expect(coordinator.state()!.completions).toEqual([
      expect.objectContaining({ result: 'skipped-dry-run', token: 'tok-1' }),
    ]);
    // Seen again later: left alone for a real handler.
    expect(
      (await coordinator.accept(lifecycleNotice('tok-1', 'msg-1'), { messageId: 'msg-1' })).message!.action,
    ).toBe('retain');
  });
});

describe('while the teardown runs', () => {
  it('extends the visibility of held messages every half visibility timeout', async () => {
    const { coordinator, teardown, messages, clock } = setup({
      config: { sources: { sqs: { visibilityTimeoutSeconds: 30 } } },
    });
    await coordinator.start();
    await coordinator.accept(lifecycleNotice('tok-1', 'msg-1'), { messageId: 'msg-1' });
    await clock.advance(14000);
    expect(messages.extended).toEqual([]);
    await clock.advance(1000);
    expect(messages.extended).toEqual([['msg-1']]);
    await clock.advance(15000);
    expect(messages.extended).toHaveLength(2);
    teardown.finish.resolve('clean');
    await coordinator.idle();
    await clock.advance(60000);
    expect(messages.extended).toHaveLength(2);
  });

  it('a report shipper that hangs is cut at shipTimeoutMs and completion still happens', async () => {
    // The real shipper (its bound is the only one) against an S3 endpoint that never answers.
    const s3 = mockClient(S3Client);
    let shipping = 0;
    s3.on(PutObjectCommand).callsFake(() => {
      shipping++;
      return new Promise(() => undefined);
    });
    try {
      const config = parseConfig({
        stateDir,
        reports: { shipTimeoutMs: 500, s3: { bucket: 'ops-reports' } },
      });
      const clock = new ManualClock();
      const ship = createEpisodeShipper({
        deps: { s3: new S3Client({ region: 'us-east-1' }), clock, logger: nullLogger(), config },
        config: config.reports,
      });
      const { coordinator, completion, teardown } = setup({
        autoFinish: 'clean',
        config: { reports: config.reports },
        ship,
        clock,
      });
      await coordinator.start();
      await coordinator.accept(lifecycleNotice('tok-1', 'msg-1'), { messageId: 'msg-1' });
      await until(() => shipping === 1, 3000, 'shipping started');
      await flush(20);
      expect(completion.completes).toHaveLength(0);
      await clock.advance(500);
      await coordinator.idle();
      expect(completion.completes).toHaveLength(1);
      expect(coordinator.state()!.shipped).toBe(false);
      expect(teardown.requests).toHaveLength(1);
      // The journal says why: the one bound cut the S3 upload; the report says it was not shipped.
      const file = join(stateDir, 'episodes', `${coordinator.activeEpisode}.json`);
      const { steps } = JSON.parse(readFileSync(file, 'utf8')) as { steps: Array<{ type: string }> };
      expect(steps.find((st) => st.type === 'shipped')).toMatchObject({
        ok: false,
        detail: expect.stringMatching(
          /S3: failed \(ShipTimeout: did not finish within reports\.shipTimeoutMs \(500 ms\)/,
        ),
      });
      expect(teardown.written.at(-1)?.completion).toMatchObject({ shipped: false });
    } finally {
      s3.restore();
    }
  });

  it('stop() aborts the teardown; the journal keeps the episode open for the next start', async () => {
    const { coordinator, teardown } = setup();
    await coordinator.start();
    await coordinator.accept(notice());
    await until(() => teardown.requests.length === 1);
    const signal = teardown.requests[0].signal!;
    const stopping = coordinator.stop();
    expect(signal.aborted).toBe(true);
    teardown.finish.reject(signal.reason);
    await stopping;
    expect(coordinator.state()!.closed).toBe(false);
    // Once stop() has resolved, every step of the aborted teardown is on disk: a fresh start sees
    // the gate decision and the finished action, and nothing writes to the state dir any more.
    const reloaded = await new Journal(stateDir).load();
    const episode = reloaded.episodes.find((e) => e.episode === coordinator.activeEpisode)!;
    expect(episode.gateDecision).toBeDefined();
    expect(episode.actionsFinished).toHaveLength(1);
    expect(episode.closed).toBe(false);
  });

  it('stop() waits for journal writes that are still landing when the teardown is aborted', async () => {
    const { coordinator, teardown } = setup();
    // A slow disk: each append takes a while, so the event writes are still queued at stop().
    const journal = (coordinator as unknown as { deps: { journal: Journal } }).deps.journal;
    const append = journal.append.bind(journal);
    let landed = 0;
    journal.append = async (ep, step) => {
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setTimeout(r, 20));
      const s = await append(ep, step);
      landed++;
      return s;
    };
    await coordinator.start();
    await coordinator.accept(notice());
    await until(() => teardown.requests.length === 1);
    const before = landed;
    const stopping = coordinator.stop();
    teardown.finish.reject(teardown.requests[0].signal!.reason);
    await stopping;
    const after = landed;
    await new Promise((r) => setTimeout(r, 100));
    expect(after).toBeGreaterThan(before);
    expect(landed).toBe(after);
  });
});
