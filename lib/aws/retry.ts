import { Clock } from '../clock';
import { classifyAwsError, ErrorClass, errorCodeOf, isDeadlineExceeded } from './errors';

/**
 * The retry loop of the one AWS call path (lib/aws/call.ts). The SDK clients run with maxAttempts 1,
 * so this is the only retry policy: errors of the classes in `retryOn` are retried with full-jitter
 * backoff — until `deadlineAt` when the caller has one (a throttling storm must not make us give up
 * with budget left), else up to `maxAttempts`. No sleep crosses the deadline; the signal ends it.
 */
export interface RetryOptions {
  /** Bound on attempts when there is no deadline. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  clock: Clock;
  signal?: AbortSignal;
  /** Epoch ms: retries continue until the next sleep would end past it; no sleep crosses it. */
  deadlineAt?: number;
  /** Which classes to retry; default only `retry`. */
  retryOn?: ErrorClass[];
  classify?: (err: unknown) => ErrorClass;
  /** Called before each sleep, for logs and counters. */
  onRetry?: (info: { attempt: number; delayMs: number; errorCode: string; errorClass: ErrorClass }) => void;
  random?: () => number;
}

/**
 * Under a deadline the deadline bounds the retries; this only keeps the loop finite should the
 * clock not move (≈ 40 min of backoff at the default 5 s cap, far beyond any deadline).
 */
export const ATTEMPTS_UNDER_A_DEADLINE = 1000;

/** Why the loop stopped retrying the error it throws. */
export type GaveUp = 'not-retryable' | 'max-attempts' | 'deadline' | 'aborted';

/** The error of the last attempt, annotated with the attempts made and why retrying stopped. */
export type AttemptedError = Error & { attempts?: number; gaveUp?: GaveUp };

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

function annotate(err: unknown, attempts: number, gaveUp: GaveUp): unknown {
  if (err && typeof err === 'object') Object.assign(err, { attempts, gaveUp });
  return err;
}

export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const classify = opts.classify ?? classifyAwsError;
  const retryOn = opts.retryOn ?? ['retry'];
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (opts.signal?.aborted) throw annotate(err, attempt, 'aborted');
      if (isDeadlineExceeded(err)) throw annotate(err, attempt, 'deadline');
      const errorClass = classify(err);
      if (!retryOn.includes(errorClass)) throw annotate(err, attempt, 'not-retryable');
      const bound = opts.deadlineAt === undefined ? opts.maxAttempts : ATTEMPTS_UNDER_A_DEADLINE;
      if (attempt >= bound) throw annotate(err, attempt, 'max-attempts');
      const delayMs = backoffDelayMs(attempt, opts.baseDelayMs, opts.maxDelayMs, opts.random);
      if (opts.deadlineAt !== undefined && opts.clock.now() + delayMs >= opts.deadlineAt)
        throw annotate(err, attempt, 'deadline');
      opts.onRetry?.({ attempt, delayMs, errorCode: errorCodeOf(err), errorClass });
      try {
        await opts.clock.sleep(delayMs, opts.signal);
      } catch {
        throw annotate(err, attempt, 'aborted');
      }
    }
  }
}
