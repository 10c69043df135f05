import { Clock } from '../clock';
import { DeadlineExceededError } from './errors';

/**
 * Client-side pacing of mutating EC2 calls. EC2 meters API requests per account and region with
 * token buckets; the one for mutating actions holds 50 tokens and refills 5 per second. A 100-ENI
 * host makes ~600 mutating calls: sent as fast as the executor allows, most of them are refused
 * with RequestLimitExceeded and retried, which burns the same bucket again. One bucket per process,
 * sized like EC2's (config `aws.mutatingBucket`), makes the daemon wait for a token instead.
 *
 * Waiters are served in arrival order: `take` reserves its token at once (the count may go below
 * zero) and sleeps until the refill has paid for it. A caller that gives up returns its token.
 */
export interface BucketSpec {
  capacity: number;
  refillPerSecond: number;
}

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly spec: BucketSpec,
    private readonly clock: Clock,
  ) {
    this.tokens = spec.capacity;
    this.last = clock.now();
  }

  /** Tokens available now (negative: that many are owed to waiting callers). */
  available(): number {
    this.refill();
    return this.tokens;
  }

  /**
   * Takes one token, waiting for it. Returns how long it waited (ms). Rejects with the signal's
   * reason when aborted, and at once with DeadlineExceeded when the token would come after
   * `deadlineAt` (waiting would only hide that the call cannot be made in time).
   */
  async take(opts: { signal?: AbortSignal; deadlineAt?: number; action?: string } = {}): Promise<number> {
    opts.signal?.throwIfAborted();
    this.refill();
    const waitMs = this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.spec.refillPerSecond) * 1000);
    if (opts.deadlineAt !== undefined && this.clock.now() + waitMs > opts.deadlineAt) {
      throw new DeadlineExceededError(
        opts.action ?? 'mutating call',
        `no pacing token before the deadline (aws.mutatingBucket would make it wait ${waitMs} ms)`,
      );
    }
    this.tokens -= 1;
    if (waitMs === 0) return 0;
    try {
      await this.clock.sleep(waitMs, opts.signal);
    } catch (err) {
      this.refill();
      this.tokens = Math.min(this.spec.capacity, this.tokens + 1);
      throw err;
    }
    return waitMs;
  }

  private refill(): void {
    const now = this.clock.now();
    const elapsed = Math.max(0, now - this.last);
    this.last = now;
    this.tokens = Math.min(this.spec.capacity, this.tokens + (elapsed / 1000) * this.spec.refillPerSecond);
  }
}
