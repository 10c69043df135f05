import { CallRecord, ServiceName } from './types';

/**
 * Fault injection. A rule matches by service and/or action (a string, a RegExp, or any) and applies
 * to the next `count` matching calls (default: all until removed).
 *  latency  – delay the answer by `ms`
 *  error    – answer with an AWS error (`code`, `status`, `message`) in the service's format
 *  throttle – answer RequestLimitExceeded (EC2) / Throttling (Auto Scaling) / ThrottlingException
 *  drop     – destroy the socket without answering (connection fault)
 *  hang     – never answer (until the client times out or the server stops)
 *  before   – run `run(call)` just before the call is answered: a second actor changing the state at
 *             that moment (through the same-process API), or an answer decided by the call itself —
 *             an EmulatorError it throws is the call's answer (recorded as injected `before`)
 */
export type FaultRule =
  | (FaultMatch & { kind: 'latency'; ms: number })
  | (FaultMatch & { kind: 'error'; code: string; status?: number; message?: string })
  | (FaultMatch & { kind: 'throttle' })
  | (FaultMatch & { kind: 'drop' })
  | (FaultMatch & { kind: 'hang' })
  | (FaultMatch & { kind: 'before'; run: (call: CallRecord) => void });

export interface FaultMatch {
  service?: ServiceName;
  action?: string | RegExp;
  /** Apply to this many matching calls, then retire. */
  count?: number;
  /** Fraction of matching calls affected (0..1), drawn from the emulator's seeded random. */
  probability?: number;
}

/** Token bucket like EC2's per-account buckets: `capacity` burst, `refillPerSecond` steady state. */
export interface BucketSpec {
  service: ServiceName;
  /** Only calls whose action matches; default all of the service. */
  action?: string | RegExp;
  capacity: number;
  refillPerSecond: number;
}

interface LiveRule {
  id: number;
  rule: FaultRule;
  remaining: number;
}

interface LiveBucket {
  spec: BucketSpec;
  tokens: number;
  last: number;
}

function actionMatches(pattern: string | RegExp | undefined, action: string): boolean {
  if (pattern === undefined) return true;
  return typeof pattern === 'string' ? pattern === action : pattern.test(action);
}

/** Seeded so a failing test can be replayed: mulberry32. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class FaultInjector {
  private rules: LiveRule[] = [];
  private buckets: LiveBucket[] = [];
  private nextId = 1;
  /** Latency added to every call of every service (ms), e.g. the benchmark's 50 ms. */
  baseLatencyMs = 0;

  constructor(
    private readonly random: () => number = seededRandom(42),
    private readonly now: () => number = Date.now,
  ) {}

  /** Adds a rule; returns a function that removes it. */
  add(rule: FaultRule): () => void {
    const id = this.nextId++;
    this.rules.push({ id, rule, remaining: rule.count ?? Number.POSITIVE_INFINITY });
    return () => {
      this.rules = this.rules.filter((r) => r.id !== id);
    };
  }

  /** Adds a throttling token bucket; returns a function that removes it. */
  addBucket(spec: BucketSpec): () => void {
    const bucket: LiveBucket = { spec, tokens: spec.capacity, last: this.now() };
    this.buckets.push(bucket);
    return () => {
      this.buckets = this.buckets.filter((b) => b !== bucket);
    };
  }

  clear(): void {
    this.rules = [];
    this.buckets = [];
    this.baseLatencyMs = 0;
  }

  /** Rules that apply to this call, in order; consumes their counts. */
  match(service: ServiceName, action: string): FaultRule[] {
    const hits: FaultRule[] = [];
    for (const live of this.rules) {
      const r = live.rule;
      if (r.service !== undefined && r.service !== service) continue;
      if (!actionMatches(r.action, action)) continue;
      if (live.remaining <= 0) continue;
      if (r.probability !== undefined && this.random() >= r.probability) continue;
      live.remaining--;
      hits.push(r);
    }
    this.rules = this.rules.filter((r) => r.remaining > 0);
    return hits;
  }

  /** True when a token bucket refuses this call. */
  throttled(service: ServiceName, action: string): boolean {
    const t = this.now();
    let refused = false;
    for (const b of this.buckets) {
      if (b.spec.service !== service || !actionMatches(b.spec.action, action)) continue;
      b.tokens = Math.min(b.spec.capacity, b.tokens + ((t - b.last) / 1000) * b.spec.refillPerSecond);
      b.last = t;
      if (b.tokens >= 1) b.tokens -= 1;
      else refused = true;
    }
    return refused;
  }
}
