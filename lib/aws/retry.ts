import { Clock } from '../clock';
import { classifyAwsError, ErrorClass, errorCodeOf } from './errors';

/**
 * Our retry policy owns retries for EC2 and Auto Scaling calls (the SDK clients are built with
 * maxAttempts 1), so that a deadline bounds every wait and each attempt can be logged.
 */
export interface RetryOptions {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  clock: Clock;
  signal?: AbortSignal;
  /** Epoch ms; no retry is started that would sleep past it. */
  deadlineAt?: number;
  /** Which classes to retry; default only `retry`. */
  retryOn?: ErrorClass[];
  classify?: (err: unknown) => ErrorClass;
  /** Called before each sleep, for logs and counters. */
  onRetry?: (info: { attempt: number; delayMs: number; errorCode: string; errorClass: ErrorClass }) => void;
  random?: () => number;
}

/** Full jitter: a random delay in [0, min(max, base·2^attempt)], never below 1 ms. */
export function backoffDelayMs(
  attempt: number,
  baseDelayMs: number,
  maxDelayMs: number,
  random = Math.random,
): number {
  const cap = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.max(1, Math.floor(random() * cap));
}

export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const classify = opts.classify ?? classifyAwsError;
  const retryOn = opts.retryOn ?? ['retry'];
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      const errorClass = classify(err);
      if (!retryOn.includes(errorClass) || attempt >= opts.maxAttempts || opts.signal?.aborted) throw err;
      const delayMs = backoffDelayMs(attempt, opts.baseDelayMs, opts.maxDelayMs, opts.random);
      if (opts.deadlineAt !== undefined && opts.clock.now() + delayMs >= opts.deadlineAt) throw err;
      opts.onRetry?.({ attempt, delayMs, errorCode: errorCodeOf(err), errorClass });
      await opts.clock.sleep(delayMs, opts.signal);
    }
  }
}
