import { SweepSchedule } from '../../../daemon/sweep-schedule';
import { captureLogger } from '../../helpers/log-capture';
import { ManualClock } from '../../helpers/manual-clock';

/**
 * The daemon's sweep schedule: the time each sweep is due comes from the sweep child (node-cron runs
 * there, never at rest); the daemon adds the jitter, runs one sweep at a time and stops promptly.
 */
describe('SweepSchedule', () => {
  const MIN = 60000;

  function schedule(opts: {
    first: Array<number | undefined>;
    afterSweep: Array<number | undefined>;
    jitter?: number;
    /** The first sweep throws (a child that could not even be started, say). */
    firstSweepThrows?: boolean;
  }) {
    const clock = new ManualClock();
    const { logger, lines } = captureLogger();
    const sweptAt: number[] = [];
    let running = 0;
    let maxRunning = 0;
    const asked: number[] = [];
    let threw = false;
    const s = new SweepSchedule({
      schedule: '*/10 * * * *',
      jitterMs: 30000,
      retryMs: MIN,
      clock,
      logger,
      random: () => opts.jitter ?? 0,
      nextDue: async () => {
        asked.push(clock.now());
        return opts.first.shift();
      },
      sweep: async (signal) => {
        if (opts.firstSweepThrows && !sweptAt.length && !threw) {
          threw = true;
          throw new Error('spawn EAGAIN');
        }
        running++;
        maxRunning = Math.max(maxRunning, running);
        sweptAt.push(clock.now());
        try {
          await clock.sleep(5000, signal); // the child's own work
        } finally {
          running--;
        }
        return opts.afterSweep.shift();
      },
    });
    return { s, clock, lines, sweptAt, asked, maxRunning: () => maxRunning };
  }

  it('sweeps when the child says the next sweep is due, plus the jitter, one at a time', async () => {
    const t0 = new ManualClock().now();
    const h = schedule({ first: [t0 + 10 * MIN], afterSweep: [t0 + 20 * MIN, t0 + 30 * MIN], jitter: 0.5 });
    h.s.start();
    await h.clock.advance(35 * MIN);
    await h.s.stop();
    // Due at 10, 20, 30 minutes; each 15 s late (half of the 30 s jitter).
    expect(h.sweptAt.map((t) => t - t0)).toEqual([10 * MIN + 15000, 20 * MIN + 15000, 30 * MIN + 15000]);
    expect(h.maxRunning()).toBe(1);
    expect(h.lines.find((l) => l.message === 'sweep scheduled')).toMatchObject({
      stage: 'sweep',
      schedule: '*/10 * * * *',
      jitterMs: 30000,
      nextSweepAt: new Date(t0 + 10 * MIN).toISOString(),
    });
  });

  it('a due time already past runs at once (after the jitter); a sweep that overran is not doubled', async () => {
    const t0 = new ManualClock().now();
    // The child says the next was due 1 minute ago (the sweep took longer than the period).
    const h = schedule({ first: [t0 - MIN], afterSweep: [t0 - MIN, undefined], jitter: 0 });
    h.s.start();
    await h.clock.advance(1000);
    expect(h.sweptAt.map((t) => t - t0)).toEqual([0]);
    // The second starts when the first has ended, not while it runs.
    await h.clock.advance(5000);
    expect(h.sweptAt.map((t) => t - t0)).toEqual([0, 5000]);
    await h.s.stop();
    expect(h.maxRunning()).toBe(1);
  });

  it('when a child could not tell, asks again after retryMs and says so', async () => {
    const t0 = new ManualClock().now();
    const h = schedule({ first: [undefined, t0 + 2 * MIN], afterSweep: [t0 + 12 * MIN] });
    h.s.start();
    await h.clock.advance(3 * MIN);
    expect(h.asked.map((t) => t - t0)).toEqual([0, MIN]);
    expect(h.sweptAt.map((t) => t - t0)).toEqual([2 * MIN]);
    expect(h.lines.some((l) => l.level === 'warn' && /next sweep is due/.test(String(l.message)))).toBe(true);
    await h.s.stop();
  });

  it('a sweep that throws is logged and the schedule goes on: asked again after retryMs', async () => {
    const t0 = new ManualClock().now();
    const h = schedule({
      first: [t0 + MIN, t0 + 5 * MIN],
      afterSweep: [t0 + 10 * MIN],
      firstSweepThrows: true,
    });
    h.s.start();
    await h.clock.advance(6 * MIN);
    expect(h.lines.find((l) => l.message === 'sweep failed')).toMatchObject({
      level: 'error',
      error: 'spawn EAGAIN',
    });
    // Failed at 1 min; asked again at 2 min (retryMs); due at 5 min: swept then.
    expect(h.asked.map((t) => t - t0)).toEqual([0, 2 * MIN]);
    expect(h.sweptAt.map((t) => t - t0)).toEqual([5 * MIN]);
    await h.s.stop();
  });

  it('stop() while waiting for the due time: no sweep ever starts', async () => {
    const t0 = new ManualClock().now();
    const h = schedule({ first: [t0 + 10 * MIN], afterSweep: [] });
    h.s.start();
    await h.clock.advance(MIN);
    await h.s.stop();
    await h.clock.advance(60 * MIN);
    expect(h.sweptAt).toEqual([]);
    expect(h.clock.pending).toBe(0);
  });

  it('stop() ends a running sweep through its signal and returns; nothing runs after it', async () => {
    const t0 = new ManualClock().now();
    const h = schedule({ first: [t0], afterSweep: [t0] });
    h.s.start();
    await h.clock.advance(1000);
    expect(h.sweptAt).toHaveLength(1);
    await h.s.stop(); // the sweep's 5 s sleep is aborted: stop() does not wait for virtual time
    await h.clock.advance(60 * MIN);
    expect(h.sweptAt).toHaveLength(1);
    expect(h.clock.pending).toBe(0);
  });
});
