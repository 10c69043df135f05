import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../../lib/config/load';
import { decideScope, GateDecision } from '../../../lib/gate/gate';
import { watchOnce } from '../../../lib/gate/handover-watch';
import { HaObserver, OBSERVATION_FILE } from '../../../lib/gate/ha-observer';
import { nullLogger } from '../../../lib/log';
import { captureLogger } from '../../helpers/log-capture';
import { createLoxilbApi } from '../../../lib/gate/loxilb-api';
import { bfdBody, ciStateBody, FakeLoxilb } from '../../../sim/loxilb/fake-peer';
import { ManualClock, until } from '../../helpers/manual-clock';

/**
 * The observation kept while the daemon runs: a later decision (loxilb dead, or a restarted daemon)
 * still knows what loxilb last said and how long ago; "unreachable" never overwrites it.
 */
describe('HA observer', () => {
  let fake: FakeLoxilb;
  let dir: string;
  beforeEach(async () => {
    fake = await FakeLoxilb.start({
      cistate: ciStateBody('MASTER'),
      bfd: bfdBody([{ remoteIp: '10.0.2.11', state: 'BFDDown' }]),
    });
    dir = mkdtempSync(join(tmpdir(), 'observe-'));
  });
  afterEach(async () => {
    await fake.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const observer = (clock: ManualClock, url = fake.url) =>
    new HaObserver({
      api: createLoxilbApi({ baseUrl: url, timeoutMs: 500, fetch }),
      clock,
      logger: nullLogger(),
      stateDir: dir,
    });

  it("read-only (the CLI): answers live but never writes the daemon's file", async () => {
    const clock = new ManualClock();
    const cli = new HaObserver({
      api: createLoxilbApi({ baseUrl: fake.url, timeoutMs: 500, fetch }),
      clock,
      logger: nullLogger(),
      stateDir: dir,
      readOnly: true,
    });
    expect(await cli.observeOnce()).toMatchObject({ live: true });
    expect(existsSync(join(dir, OBSERVATION_FILE))).toBe(false);
  });

  it('records when it saw this node promoted (BACKUP → MASTER), keeps it across a restart, forgets it when demoted', async () => {
    const clock = new ManualClock();
    const first = observer(clock);
    await first.observeOnce(); // MASTER from the start: no promotion seen
    expect((await first.lastObservation())!.promotedAt).toBeUndefined();
    fake.set({ cistate: ciStateBody('BACKUP'), bfd: bfdBody([{ remoteIp: '10.0.2.11', state: 'BFDUp' }]) });
    clock.advance(1000);
    await first.observeOnce();
    fake.set({ cistate: ciStateBody('MASTER'), bfd: bfdBody([{ remoteIp: '10.0.2.11', state: 'BFDDown' }]) });
    clock.advance(1000);
    const promotedAt = clock.now();
    await first.observeOnce();
    clock.advance(1000);
    expect((await first.observeOnce()).observation!.promotedAt).toBe(promotedAt);
    expect(JSON.parse(readFileSync(join(dir, OBSERVATION_FILE), 'utf8')).promotedAt).toBe(
      new Date(promotedAt).toISOString(),
    );

    const restarted = observer(clock);
    clock.advance(1000);
    expect((await restarted.observeOnce()).observation!.promotedAt).toBe(promotedAt);
    fake.set({ cistate: ciStateBody('BACKUP'), bfd: bfdBody([{ remoteIp: '10.0.2.11', state: 'BFDUp' }]) });
    expect((await restarted.observeOnce()).observation!.promotedAt).toBeUndefined();
    expect(JSON.parse(readFileSync(join(dir, OBSERVATION_FILE), 'utf8')).promotedAt).toBeUndefined();
  });

  it('keeps the last answer on disk; loxilb gone → the kept one, with its time, for a restarted daemon too', async () => {
    const clock = new ManualClock();
    const first = observer(clock);
    const seen = await first.observeOnce();
    expect(seen).toMatchObject({ live: true, observation: { observedAt: clock.now() } });
    const onDisk = JSON.parse(readFileSync(join(dir, OBSERVATION_FILE), 'utf8'));
    expect(onDisk).toMatchObject({
      schemaVersion: 1,
      observedAt: new Date(clock.now()).toISOString(),
      view: { bfdRunning: true, bfdSessions: [{ remoteIp: '10.0.2.11', state: 'BFDDown' }] },
    });

    const observedAt = clock.now();
    const url = fake.url;
    await fake.stop();
    await clock.advance(7000);
    const restarted = observer(clock, url);
    const answer = await restarted.observeOnce();
    expect(answer).toMatchObject({ live: false, errorCode: 'ECONNREFUSED', observation: { observedAt } });

    // The gate decides from it while it is recent, and names its age; past the limit it is unknown.
    const config = parseConfig({ gate: { observeIntervalMs: 5000, observationMaxAgeIntervals: 3 } });
    const d = decideScope({ config, loxilb: answer, now: clock.now() });
    expect(d).toMatchObject({ scope: 'full', observation: { ageMs: 7000, live: false } });
    await clock.advance(9000);
    expect(decideScope({ config, loxilb: answer, now: clock.now() }).scope).toBe('handover');
  });

  it('a kept observation of the wrong shape is ignored with a warning naming the file and the field', async () => {
    const file = join(dir, OBSERVATION_FILE);
    writeFileSync(
      file,
      JSON.stringify({
        schemaVersion: 1,
        observedAt: '2025-01-01T00:00:00.000Z',
        url: fake.url,
        view: { ciStates: [{ instance: 'llb-inst0', state: 'MASTER' }], bfdSessions: 'none' },
      }),
    );
    const { logger, lines } = captureLogger();
    const restarted = new HaObserver({
      api: createLoxilbApi({ baseUrl: fake.url, timeoutMs: 500, fetch }),
      clock: new ManualClock(),
      logger,
      stateDir: dir,
    });
    expect(await restarted.lastObservation()).toBeUndefined();
    const warning = lines.find((l) => l.level === 'warn');
    expect(warning).toMatchObject({ stage: 'observe', resource: file });
    expect(String(warning?.error)).toContain(`${file} is not a loxilb observation file`);
    expect(String(warning?.error)).toMatch(/view\.bfdSessions: /);
  });

  it('run() observes on its interval until stopped', async () => {
    const clock = new ManualClock();
    const o = observer(clock);
    const stop = new AbortController();
    const loop = o.run(1000, stop.signal);
    const requests = () => fake.requests.filter((p) => p.endsWith('cistate/all')).length;
    for (let i = 1; i <= 3; i++) {
      // The loop sleeps on the manual clock only after the read and the write: wait for that sleep.
      await until(() => clock.pending > 0, 3000, 'the observer to sleep');
      expect(requests()).toBe(i);
      await clock.advance(1000);
    }
    stop.abort();
    await loop;
  });
});

describe('handover watch', () => {
  const decision = (scope: GateDecision['scope'], haState = 'MASTER'): GateDecision => ({
    scope,
    source: 'loxilb-api',
    reason: scope === 'full' ? 'no peer that can take over' : 'peer alive',
    details: { haState },
  });
  const deps = (
    scope: GateDecision['scope'],
    pending = true,
    roles = { before: 'MASTER', now: 'MASTER' },
  ) => {
    const reexamined: string[] = [];
    return {
      reexamined,
      deps: {
        clock: new ManualClock(),
        logger: nullLogger(),
        instanceId: 'i-1',
        intervalMs: 1000,
        pending: () => pending,
        previous: () => decision('handover', roles.before),
        decide: async () => decision(scope, roles.now),
        reexamine: async (reason: string) => {
          reexamined.push(reason);
          return true;
        },
      },
    };
  };

  it('re-examines only once the decision is no longer handover', async () => {
    const still = deps('handover');
    expect(await watchOnce(still.deps, new AbortController().signal)).toBe('still-handover');
    expect(still.reexamined).toEqual([]);
    const changed = deps('full');
    expect(await watchOnce(changed.deps, new AbortController().signal)).toBe('reexamined');
    expect(changed.reexamined).toEqual(['the gate now decides full: no peer that can take over']);
    const idle = deps('full', false);
    expect(await watchOnce(idle.deps, new AbortController().signal)).toBe('idle');
    expect(idle.reexamined).toEqual([]);
  });

  it('leaves a BACKUP that became MASTER alone: its loxilb is taking over (the SIGTERM probe looks again)', async () => {
    const promoted = deps('full', true, { before: 'BACKUP', now: 'MASTER' });
    expect(await watchOnce(promoted.deps, new AbortController().signal)).toBe('still-handover');
    expect(promoted.reexamined).toEqual([]);
  });
});
