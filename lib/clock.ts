/** Time as a side effect: passed in so tests can drive it. */
export interface Clock {
  now(): number;
  /** Resolves after `ms`, or rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /**
   * The same as `sleep`, for a guard against something taking too long (a per-call timeout, a
   * deadline cut in lib/aws/call.ts) rather than a wait that is part of the work. A test clock that
   * jumps to its next timer whenever the code looks idle must not jump to a guard while a request
   * is merely in flight; it fires guards only when a test moves time on purpose.
   */
  guard(ms: number, signal?: AbortSignal): Promise<void>;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new Error('aborted'));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason ?? new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export const systemClock: Clock = { now: () => Date.now(), sleep, guard: sleep };
