// A keyed work queue with client-go's semantics (util/workqueue):
// - a key added while it is queued is queued once (dirty set);
// - a key is handed to at most one worker at a time; a key added while it is
//   being processed is queued again when the worker calls `done`;
// - `addAfter` delays, keeping the earliest deadline per key;
// - `addRateLimited` delays by the rate limiter (per-key backoff, global bucket).
import type { Registry } from "prom-client";
import { type Clock, type TimerHandle, realClock } from "./clock.ts";
import { type InFlightReporter, type RuntimeMetrics, runtimeMetrics } from "./metrics.ts";
import { type RateLimiter, defaultControllerRateLimiter } from "./rate-limiter.ts";

export interface WorkQueueOptions {
  name: string;
  clock?: Clock;
  rateLimiter?: RateLimiter;
  /** metrics are registered here; omitted → no metrics */
  registry?: Registry;
}

interface Waiting {
  at: number;
  timer: TimerHandle;
}

export class WorkQueue implements InFlightReporter {
  readonly name: string;
  private readonly clock: Clock;
  private readonly rateLimiter: RateLimiter;
  private readonly metrics: RuntimeMetrics | undefined;

  // Insertion-ordered set used as a FIFO: O(1) push, pop and membership.
  private readonly queue = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly processing = new Map<string, number>();
  private readonly addedAt = new Map<string, number>();
  private readonly waiting = new Map<string, Waiting>();
  private readonly getters: ((key: string | undefined) => void)[] = [];
  private readonly drainWaiters: (() => void)[] = [];
  private readonly doneListeners: (() => void)[] = [];
  private shutting = false;

  constructor(opts: WorkQueueOptions) {
    this.name = opts.name;
    this.clock = opts.clock ?? realClock;
    this.rateLimiter = opts.rateLimiter ?? defaultControllerRateLimiter(this.clock);
    this.metrics = opts.registry ? runtimeMetrics(opts.registry) : undefined;
    this.metrics?.reporters.add(this);
  }

  private get labels(): { name: string; controller: string } {
    return { name: this.name, controller: this.name };
  }

  add(key: string): void {
    if (this.shutting) return;
    if (this.dirty.has(key)) return;
    this.metrics?.adds.inc(this.labels);
    this.metrics?.depth.inc(this.labels);
    if (!this.addedAt.has(key)) this.addedAt.set(key, this.clock.now());
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    this.push(key);
  }

  /** Adds `key` once `ms` have passed; if it is already waiting, the earlier deadline wins. */
  addAfter(key: string, ms: number): void {
    if (this.shutting) return;
    this.metrics?.retries.inc(this.labels);
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.clock.now() + ms;
    const existing = this.waiting.get(key);
    if (existing) {
      if (existing.at <= at) return;
      existing.timer.cancel();
    }
    const timer = this.clock.setTimer(() => {
      const w = this.waiting.get(key);
      if (w?.timer !== timer) return;
      this.waiting.delete(key);
      this.add(key);
    }, ms);
    this.waiting.set(key, { at, timer });
  }

  addRateLimited(key: string): void {
    this.addAfter(key, this.rateLimiter.when(key));
  }

  forget(key: string): void {
    this.rateLimiter.forget(key);
  }

  numRequeues(key: string): number {
    return this.rateLimiter.numRequeues(key);
  }

  /** Next key to process, or undefined once the queue is shut down. Call `done(key)` afterwards. */
  get(): Promise<string | undefined> {
    if (this.shutting) return Promise.resolve(undefined);
    const key = this.pop();
    if (key !== undefined) return Promise.resolve(key);
    return new Promise((resolve) => this.getters.push(resolve));
  }

  done(key: string): void {
    const started = this.processing.get(key);
    if (started === undefined) return;
    this.processing.delete(key);
    this.metrics?.workDuration.observe(this.labels, (this.clock.now() - started) / 1000);
    if (this.dirty.has(key) && !this.shutting) this.push(key);
    if (this.processing.size === 0) {
      for (const w of this.drainWaiters.splice(0)) w();
    }
    for (const l of this.doneListeners) l();
  }

  /** Calls `listener` after each `done` (the manager's IdleMemoryRelease counts work with it). */
  onDone(listener: () => void): void {
    this.doneListeners.push(listener);
  }

  /** keys ready to be handed out */
  len(): number {
    return this.queue.size;
  }

  /** keys waiting for a delay (addAfter / addRateLimited) */
  waitingLen(): number {
    return this.waiting.size;
  }

  /** keys handed out and not yet done */
  processingLen(): number {
    return this.processing.size;
  }

  isProcessing(key: string): boolean {
    return this.processing.has(key);
  }

  shuttingDown(): boolean {
    return this.shutting;
  }

  /**
   * Stops handing out work and resolves once every key already handed out is `done`.
   * Unlike client-go, keys still queued are dropped rather than handed out: the
   * reconcilers are level-based and rediscover them when they start again, and a
   * replica that lost its lease must stop acting at once.
   */
  shutDown(): Promise<void> {
    if (!this.shutting) {
      this.shutting = true;
      for (const w of this.waiting.values()) w.timer.cancel();
      this.waiting.clear();
      for (const g of this.getters.splice(0)) g(undefined);
      this.metrics?.depth.dec(this.labels, this.dirty.size);
      this.queue.clear();
      this.dirty.clear();
      this.addedAt.clear();
      this.metrics?.reporters.delete(this);
    }
    if (this.processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  inFlightSeconds(): number[] {
    const now = this.clock.now();
    return [...this.processing.values()].map((s) => (now - s) / 1000);
  }

  private push(key: string): void {
    const getter = this.getters.shift();
    if (getter) {
      this.start(key);
      getter(key);
      return;
    }
    this.queue.add(key);
  }

  private pop(): string | undefined {
    const first = this.queue.values().next();
    if (first.done === true) return undefined;
    const key = first.value;
    this.queue.delete(key);
    this.start(key);
    return key;
  }

  private start(key: string): void {
    const now = this.clock.now();
    this.processing.set(key, now);
    this.dirty.delete(key);
    this.metrics?.depth.dec(this.labels);
    const added = this.addedAt.get(key);
    if (added !== undefined) this.metrics?.queueDuration.observe(this.labels, (now - added) / 1000);
    this.addedAt.delete(key);
  }
}
