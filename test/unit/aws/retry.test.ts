import { DeadlineExceededError } from '../../../lib/aws/errors';
import { ATTEMPTS_UNDER_A_DEADLINE, AttemptedError, backoffDelayMs, withRetry } from '../../../lib/aws/retry';
import { ManualClock } from '../../helpers/manual-clock';

const throttled = () => Object.assign(new Error('Rate exceeded'), { name: 'RequestLimitExceeded' });
const denied = () => Object.assign(new Error('no'), { name: 'UnauthorizedOperation' });

/** A call that fails `failures` times with `make()`, then answers 'ok'. */
function flaky(failures: number, make: () => Error = throttled) {
  let calls = 0;
  const fn = async () => {
    calls++;
    if (calls <= failures) throw make();
    return 'ok';
  };
  return { fn, calls: () => calls };
}

const base = (clock: ManualClock) => ({
  maxAttempts: 4,
  baseDelayMs: 100,
  maxDelayMs: 1000,
  clock,
  random: () => 0.5,
});

async function rejection(p: Promise<unknown>): Promise<AttemptedError> {
  try {
    await p;
  } catch (err) {
    return err as AttemptedError;
  }
  throw new Error('expected a rejection');
}

describe('lib/aws/retry.ts', () => {
  it('full jitter: a delay in [1, min(max, base·2^(n-1))]', () => {
    expect(backoffDelayMs(1, 100, 1000, () => 0.5)).toBe(50);
    expect(backoffDelayMs(3, 100, 1000, () => 0.5)).toBe(200);
    expect(backoffDelayMs(10, 100, 1000, () => 0.999)).toBe(999);
    expect(backoffDelayMs(1, 100, 1000, () => 0)).toBe(1);
  });

  it('without a deadline: retries a retryable error up to maxAttempts, then gives up saying so', async () => {
    const clock = new ManualClock();
    const call = flaky(10);
    const err = await rejection(clock.run(withRetry(call.fn, base(clock))));
    expect(call.calls()).toBe(4);
    expect(err).toMatchObject({ name: 'RequestLimitExceeded', attempts: 4, gaveUp: 'max-attempts' });
    expect(clock.sleeps).toEqual([50, 100, 200]);
  });

  it('under a deadline: keeps retrying past maxAttempts until the next sleep would cross it', async () => {
    const clock = new ManualClock();
    const start = clock.now();
    const call = flaky(1000);
    const err = await rejection(clock.run(withRetry(call.fn, { ...base(clock), deadlineAt: start + 10000 })));
    expect(call.calls()).toBeGreaterThan(4);
    expect(err.gaveUp).toBe('deadline');
    // No sleep crossed the deadline.
    expect(clock.now()).toBeLessThan(start + 10000);
    expect(clock.now() + 500).toBeGreaterThanOrEqual(start + 10000);
  });

  it('under a deadline a flaky call that needs more than maxAttempts still succeeds', async () => {
    const clock = new ManualClock();
    const call = flaky(12);
    await expect(
      clock.run(withRetry(call.fn, { ...base(clock), deadlineAt: clock.now() + 60000 })),
    ).resolves.toBe('ok');
    expect(call.calls()).toBe(13);
  });

  it('a fatal error is thrown at once; a DeadlineExceeded ends the retries as "deadline"', async () => {
    const clock = new ManualClock();
    const fatal = flaky(1, denied);
    expect(await rejection(clock.run(withRetry(fatal.fn, base(clock))))).toMatchObject({
      attempts: 1,
      gaveUp: 'not-retryable',
    });
    const late = flaky(1, () => new DeadlineExceededError('DeleteSubnet'));
    expect(
      await rejection(clock.run(withRetry(late.fn, { ...base(clock), deadlineAt: clock.now() + 60000 }))),
    ).toMatchObject({ attempts: 1, gaveUp: 'deadline' });
  });

  it('retryOn and classify widen what is retried (the blocked retries of a delete)', async () => {
    const clock = new ManualClock();
    const call = flaky(2, denied);
    await expect(
      clock.run(withRetry(call.fn, { ...base(clock), classify: () => 'blocked', retryOn: ['blocked'] })),
    ).resolves.toBe('ok');
  });

  it('the signal ends a backoff at once, with the last error marked aborted', async () => {
    const clock = new ManualClock();
    const stop = new AbortController();
    const call = flaky(10);
    const onRetry = jest.fn(() => stop.abort(new Error('received SIGTERM')));
    const err = await rejection(
      clock.run(withRetry(call.fn, { ...base(clock), signal: stop.signal, onRetry })),
    );
    expect(err).toMatchObject({ name: 'RequestLimitExceeded', gaveUp: 'aborted' });
    expect(call.calls()).toBe(1);
    expect(onRetry).toHaveBeenCalledWith({
      attempt: 1,
      delayMs: 50,
      errorCode: 'RequestLimitExceeded',
      errorClass: 'retry',
    });
  });

  it('a clock that never moves cannot make the deadline loop endless', async () => {
    const frozen = { now: () => 0, sleep: async () => undefined, guard: async () => undefined };
    const call = flaky(Number.POSITIVE_INFINITY);
    const err = await rejection(
      withRetry(call.fn, { ...base(new ManualClock()), clock: frozen, deadlineAt: 1e9 }),
    );
    expect(err.gaveUp).toBe('max-attempts');
    expect(call.calls()).toBe(ATTEMPTS_UNDER_A_DEADLINE);
  });
  it('a first answer needs no sleep; only the `retry` class is retried by default', async () => {
    const clock = new ManualClock();
    await expect(clock.run(withRetry(flaky(0).fn, base(clock)))).resolves.toBe('ok');
    expect(clock.sleeps).toEqual([]);
    const blocked = flaky(1, () => Object.assign(new Error('in use'), { name: 'DependencyViolation' }));
    expect(await rejection(clock.run(withRetry(blocked.fn, base(clock))))).toMatchObject({
      name: 'DependencyViolation',
      attempts: 1,
      gaveUp: 'not-retryable',
    });
    const gone = flaky(1, () => Object.assign(new Error('gone'), { name: 'InvalidSubnetID.NotFound' }));
    expect(await rejection(clock.run(withRetry(gone.fn, base(clock))))).toMatchObject({
      attempts: 1,
      gaveUp: 'not-retryable',
    });
    expect(clock.sleeps).toEqual([]);
  });

  it('the attempt number is passed to each try', async () => {
    const clock = new ManualClock();
    const seen: number[] = [];
    const fn = async (attempt: number) => {
      seen.push(attempt);
      if (attempt < 3) throw throttled();
      return attempt;
    };
    await expect(clock.run(withRetry(fn, base(clock)))).resolves.toBe(3);
    expect(seen).toEqual([1, 2, 3]);
  });

  it('a first backoff that would reach the deadline is not slept: the error ends as "deadline" at once', async () => {
    const clock = new ManualClock();
    const call = flaky(10);
    const onRetry = jest.fn();
    // random 0.5 → the first delay is 50 ms: now + 50 reaches the deadline.
    const err = await rejection(
      clock.run(withRetry(call.fn, { ...base(clock), deadlineAt: clock.now() + 50, onRetry })),
    );
    expect(err).toMatchObject({ name: 'RequestLimitExceeded', attempts: 1, gaveUp: 'deadline' });
    expect(call.calls()).toBe(1);
    expect(clock.sleeps).toEqual([]);
    expect(onRetry).not.toHaveBeenCalled();
  });

  it('a signal aborted while the call ran: no retry, no backoff, marked aborted', async () => {
    const clock = new ManualClock();
    const stop = new AbortController();
    const fn = async () => {
      stop.abort(new Error('received SIGTERM'));
      throw throttled();
    };
    const onRetry = jest.fn();
    const err = await rejection(clock.run(withRetry(fn, { ...base(clock), signal: stop.signal, onRetry })));
    expect(err).toMatchObject({ name: 'RequestLimitExceeded', attempts: 1, gaveUp: 'aborted' });
    expect(onRetry).not.toHaveBeenCalled();
    expect(clock.sleeps).toEqual([]);
  });

  it('a thrown value that is not an object is rethrown as it is', async () => {
    const clock = new ManualClock();
    const fn = async () => {
      throw 'plain string';
    };
    await expect(clock.run(withRetry(fn, base(clock)))).rejects.toBe('plain string');
  });

  it('backoff is capped by maxDelayMs from the first attempt on', () => {
    expect(backoffDelayMs(1, 100, 40, () => 0.5)).toBe(20);
    expect(backoffDelayMs(0, 100, 1000, () => 0.5)).toBe(50);
  });
});
