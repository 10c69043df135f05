import { Clock } from '../../lib/clock';

interface Timer {
  at: number;
  seq: number;
  resolve: () => void;
  /** A guard (per-call timeout): `run` does not jump to it while anything else could still happen. */
  guard: boolean;
}

/** Lets pending promise callbacks and I/O callbacks run. */
export async function flush(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}

/**
 * A clock the test drives: `sleep` only resolves when the test advances time, so retries, backoff and
 * detach polls run in virtual time and no test ever really sleeps.
 */
export class ManualClock implements Clock {
  private t: number;
  private seq = 0;
  private timers: Timer[] = [];
  /** Every sleep requested, in order (ms). */
  readonly sleeps: number[] = [];
  /**
   * Whether real I/O started by the code under test is still in flight (an emulator call). `run`
   * lets it land before it moves virtual time, so a sleep never fires ahead of an answer merely
   * because the machine is slow; a call that never answers is given up on after ~2 s of real time.
   */
  ioInFlight: () => boolean = () => false;

  constructor(start = Date.UTC(2025, 0, 1, 12, 0, 0)) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    return this.timer(ms, false, signal);
  }

  /** Fired by `advance`, and by `run` only once nothing else can happen (a request that never answers). */
  guard(ms: number, signal?: AbortSignal): Promise<void> {
    return this.timer(ms, true, signal);
  }

  private timer(ms: number, guard: boolean, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason ?? new Error('aborted'));
      const timer: Timer = {
        at: this.t + Math.max(0, ms),
        seq: this.seq++,
        guard,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.timers = this.timers.filter((x) => x !== timer);
        reject(signal?.reason ?? new Error('aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.timers.push(timer);
    });
  }

  /** Pending sleeps (guards not counted). */
  get pendingTimers(): number {
    return this.timers.filter((x) => !x.guard).length;
  }

  /** Pending sleeps and guards. */
  get pending(): number {
    return this.timers.length;
  }

  /** Moves time forward by `ms`, firing due timers in order and letting their callbacks run. */
  async advance(ms: number): Promise<void> {
    const target = this.t + ms;
    for (;;) {
      await flush();
      const next = this.nextTimer();
      if (!next || next.at > target) break;
      this.fire(next);
    }
    this.t = target;
    await flush();
  }

  /**
   * Runs `promise` to completion in virtual time: whenever nothing else can happen, jumps to the next
   * timer. Fails (instead of hanging) when the promise can never settle.
   */
  async run<T>(promise: Promise<T>, maxSteps = 100000): Promise<T> {
    let settled = false;
    let value: T | undefined;
    let error: unknown;
    let failed = false;
    let idle = 0;
    let waitedForIo = 0;
    promise.then(
      (v) => {
        settled = true;
        value = v;
      },
      (e) => {
        settled = true;
        failed = true;
        error = e;
      },
    );
    for (let step = 0; step < maxSteps; step++) {
      await flush();
      if (settled) break;
      const next = this.nextTimer(false);
      if (!next) {
        // Maybe real I/O (a socket) is still in flight: give it a moment before calling it stuck.
        await new Promise((r) => setTimeout(r, 5));
        if (!settled && !this.nextTimer(false) && ++idle > 200) {
          // Nothing but a guard can end this (a request that never answers): time it out.
          const guard = this.nextTimer(true);
          if (!guard) throw new Error('ManualClock.run: the promise can never settle');
          this.fire(guard);
          idle = 0;
        }
        continue;
      }
      idle = 0;
      if (this.ioInFlight() && ++waitedForIo <= 400) {
        await new Promise((r) => setTimeout(r, 5));
        continue;
      }
      waitedForIo = 0;
      this.fire(next);
    }
    if (!settled) throw new Error(`ManualClock.run: not settled after ${maxSteps} steps`);
    if (failed) throw error;
    return value as T;
  }

  private nextTimer(includeGuards = true): Timer | undefined {
    let best: Timer | undefined;
    for (const x of this.timers) {
      if (x.guard && !includeGuards) continue;
      if (!best || x.at < best.at || (x.at === best.at && x.seq < best.seq)) best = x;
    }
    return best;
  }

  private fire(timer: Timer): void {
    this.timers = this.timers.filter((x) => x !== timer);
    if (timer.at > this.t) this.t = timer.at;
    timer.resolve();
  }
}

/**
 * Waits (in real time, bounded) until `check` holds; for effects behind real file I/O. The bound is
 * generous on purpose: it only ends a test that would otherwise hang, on a loaded 2-core CI too.
 */
export async function until(check: () => boolean, timeoutMs = 20000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
