import { Writable } from 'node:stream';
import { ConfigError } from '../../../lib/config/load';
import { createLogger } from '../../../lib/log';
import {
  CronApi,
  JitteredSchedule,
  nextCronRun,
  validateCronExpression,
} from '../../../lib/sweeper/scheduler';
import { flush, ManualClock } from '../../helpers/manual-clock';

/** A logger whose JSON lines the test can read. */
function captured() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write: (chunk, _e, cb) => {
      for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { logger: createLogger({ stream, level: 'debug' }), lines };
}

/** node-cron stand-in: the test fires the schedule by hand. */
function fakeCron() {
  const state = {
    fire: undefined as undefined | (() => void),
    expression: '',
    stopped: false,
    destroyed: false,
  };
  const api: CronApi = {
    validate: (e) => e !== 'bad',
    schedule: (expression, fn) => {
      state.expression = expression;
      state.fire = fn;
      return { stop: () => void (state.stopped = true), destroy: () => void (state.destroyed = true) };
    },
  };
  return { api, state };
}

/** A run the test finishes by hand, recording the signal it got. */
function controllableRun() {
  const calls: AbortSignal[] = [];
  let finish: (() => void) | undefined;
  const run = (signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      calls.push(signal);
      finish = resolve;
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
  return { run, calls, finish: () => finish?.() };
}

describe('JitteredSchedule', () => {
  it('waits a random delay below jitterMs before each run', async () => {
    const clock = new ManualClock();
    const { api, state } = fakeCron();
    const r = controllableRun();
    const s = new JitteredSchedule({
      name: 'sweep',
      expression: '*/10 * * * *',
      jitterMs: 30000,
      clock,
      logger: captured().logger,
      random: () => 0.25,
      cron: api,
      run: r.run,
    });
    s.start();
    expect(state.expression).toBe('*/10 * * * *');
    state.fire!();
    await clock.advance(7499);
    expect(r.calls).toHaveLength(0);
    await clock.advance(1);
    expect(r.calls).toHaveLength(1);
    r.finish();
    await flush();
    expect(s.busy).toBe(false);
    await s.stop();
  });

  it('never runs two at once: a firing during a run (or its jitter) is skipped and logged', async () => {
    const clock = new ManualClock();
    const { api, state } = fakeCron();
    const r = controllableRun();
    const { logger, lines } = captured();
    const s = new JitteredSchedule({
      name: 'sweep',
      expression: 'x',
      jitterMs: 1000,
      clock,
      logger,
      random: () => 0.5,
      cron: api,
      run: r.run,
    });
    s.start();
    const first = s.tick();
    expect(await s.tick()).toBe('overlap');
    await clock.advance(500);
    expect(await s.tick()).toBe('overlap');
    state.fire!();
    expect(r.calls).toHaveLength(1);
    r.finish();
    expect(await first).toBe('ran');
    // Once it is over, the next one runs (by hand: no jitter).
    const second = s.tick({ jitter: false });
    await flush();
    expect(r.calls).toHaveLength(2);
    r.finish();
    expect(await second).toBe('ran');
    expect(lines.filter((l) => String(l.message).includes('still going')).length).toBeGreaterThanOrEqual(2);
    await s.stop();
  });

  it('stop() cancels a pending jitter delay: the run never starts', async () => {
    const clock = new ManualClock();
    const { api, state } = fakeCron();
    const r = controllableRun();
    const s = new JitteredSchedule({
      name: 'sweep',
      expression: 'x',
      jitterMs: 60000,
      clock,
      logger: captured().logger,
      random: () => 0.9,
      cron: api,
      run: r.run,
    });
    s.start();
    const pending = s.tick();
    await s.stop();
    expect(await pending).toBe('stopped');
    await clock.advance(60000);
    expect(r.calls).toHaveLength(0);
    expect(state).toMatchObject({ stopped: true, destroyed: true });
    expect(await s.tick()).toBe('stopped');
  });

  it('stop() aborts a running run through its signal and waits for it to return', async () => {
    const clock = new ManualClock();
    const { api } = fakeCron();
    const r = controllableRun();
    const s = new JitteredSchedule({
      name: 'sweep',
      expression: 'x',
      jitterMs: 0,
      clock,
      logger: captured().logger,
      cron: api,
      run: r.run,
    });
    s.start();
    const running = s.tick();
    await flush();
    expect(r.calls).toHaveLength(1);
    expect(r.calls[0].aborted).toBe(false);
    await s.stop();
    expect(r.calls[0].aborted).toBe(true);
    expect(s.busy).toBe(false);
    expect(await running).toBe('ran');
  });

  it('a failing run is logged and the next firing runs again', async () => {
    const clock = new ManualClock();
    const { api } = fakeCron();
    const { logger, lines } = captured();
    let n = 0;
    const s = new JitteredSchedule({
      name: 'sweep',
      expression: 'x',
      jitterMs: 0,
      clock,
      logger,
      cron: api,
      run: async () => {
        if (++n === 1) throw new Error('EC2 unreachable');
      },
    });
    s.start();
    expect(await s.tick()).toBe('failed');
    expect(await s.tick()).toBe('ran');
    await flush();
    expect(lines.find((l) => l.message === 'sweep run failed')).toMatchObject({
      level: 'error',
      error: 'EC2 unreachable',
      stage: 'sweep',
    });
    await s.stop();
  });

  it('a bad cron expression is a config error naming sweeper.schedule', () => {
    expect(() => validateCronExpression('every ten minutes')).toThrow(ConfigError);
    expect(() => validateCronExpression('every ten minutes')).toThrow(
      /sweeper\.schedule: "every ten minutes" is not a valid cron expression/,
    );
    expect(() => validateCronExpression('*/10 * * * *')).not.toThrow();
    const { api } = fakeCron();
    const s = new JitteredSchedule({
      name: 'sweep',
      expression: 'bad',
      jitterMs: 0,
      clock: new ManualClock(),
      logger: captured().logger,
      cron: api,
      run: async () => undefined,
    });
    expect(() => s.start()).toThrow(/sweeper\.schedule/);
  });

  it('with the real node-cron: fires on its schedule, logs through our logger, and stops', async () => {
    const { logger, lines } = captured();
    let runs = 0;
    const s = new JitteredSchedule({
      name: 'sweep',
      expression: '* * * * * *',
      jitterMs: 0,
      clock: new ManualClock(),
      logger,
      run: async () => {
        runs++;
      },
    });
    s.start();
    try {
      const deadline = Date.now() + 3000;
      while (runs === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(runs).toBeGreaterThan(0);
    } finally {
      await s.stop();
    }
    const after = runs;
    await new Promise((r) => setTimeout(r, 1100));
    expect(runs).toBe(after);
    expect(lines.find((l) => l.message === 'sweep scheduled')).toMatchObject({
      schedule: '* * * * * *',
      jitterMs: 0,
    });
  });
});

describe('nextCronRun', () => {
  it('is the next time the expression fires after now (the sweep child tells the daemon)', () => {
    const before = Date.now();
    const next = nextCronRun('*/10 * * * *');
    expect(next.getTime()).toBeGreaterThan(before);
    expect(next.getTime() - before).toBeLessThanOrEqual(10 * 60000);
    expect([next.getMinutes() % 10, next.getSeconds(), next.getMilliseconds()]).toEqual([0, 0, 0]);
  });
});
