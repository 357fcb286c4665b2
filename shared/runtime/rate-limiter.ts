// Rate limiters with client-go's semantics (util/workqueue/default_rate_limiters.go):
// `when(key)` says how long to wait before the key may be retried.
import { type Clock, realClock } from "./clock.ts";

export interface RateLimiter {
  /** delay in ms before `key` may be processed again; records one more failure */
  when(key: string): number;
  /** the key succeeded: its failure history is dropped */
  forget(key: string): void;
  numRequeues(key: string): number;
}

/** Per-key exponential backoff: base·2^failures, capped. */
export class ItemExponentialFailureRateLimiter implements RateLimiter {
  private readonly failures = new Map<string, number>();

  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  constructor(
    baseDelayMs = 5,
    maxDelayMs = 1_000_000,
  ) {
    this.baseDelayMs = baseDelayMs;
    this.maxDelayMs = maxDelayMs;
  }

  when(key: string): number {
    const exp = this.failures.get(key) ?? 0;
    this.failures.set(key, exp + 1);
    const backoff = this.baseDelayMs * 2 ** exp;
    return Number.isFinite(backoff) && backoff <= this.maxDelayMs ? backoff : this.maxDelayMs;
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }
}

/**
 * Global token bucket (golang.org/x/time/rate reservation semantics): a burst of
 * `burst` tokens refilled at `qps`; a retry that finds the bucket empty reserves
 * a future token and waits for it, so a storm of failures is spread out.
 */
export class BucketRateLimiter implements RateLimiter {
  private tokens: number;
  private last: number;

  readonly qps: number;
  readonly burst: number;
  private readonly clock: Clock;
  constructor(
    qps = 10,
    burst = 100,
    clock: Clock = realClock,
  ) {
    this.qps = qps;
    this.burst = burst;
    this.clock = clock;
    this.tokens = burst;
    this.last = clock.now();
  }

  when(_key: string): number {
    const now = this.clock.now();
    const elapsedS = Math.max(0, now - this.last) / 1000;
    this.tokens = Math.min(this.burst, this.tokens + elapsedS * this.qps);
    this.last = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.qps) * 1000;
  }

  forget(_key: string): void {
    // The bucket is global: a key's success does not refund tokens.
  }

  numRequeues(_key: string): number {
    return 0;
  }
}

/** The slowest of several limiters wins. */
export class MaxOfRateLimiter implements RateLimiter {
  private readonly limiters: readonly RateLimiter[];

  constructor(...limiters: RateLimiter[]) {
    this.limiters = limiters;
  }

  when(key: string): number {
    let max = 0;
    for (const l of this.limiters) max = Math.max(max, l.when(key));
    return max;
  }

  forget(key: string): void {
    for (const l of this.limiters) l.forget(key);
  }

  numRequeues(key: string): number {
    let max = 0;
    for (const l of this.limiters) max = Math.max(max, l.numRequeues(key));
    return max;
  }
}

/** controller-runtime's default: 5 ms → 1000 s per key, and 10 qps / burst 100 overall. */
export function defaultControllerRateLimiter(clock: Clock = realClock): RateLimiter {
  return new MaxOfRateLimiter(new ItemExponentialFailureRateLimiter(5, 1_000_000), new BucketRateLimiter(10, 100, clock));
}
