// Runs a level-based reconciler over a WorkQueue with bounded concurrency,
// translating results the way controller-runtime's reconcileHandler does.
import type { Registry } from "prom-client";
import { type Clock, realClock } from "./clock.ts";
import type { Logger } from "./logger.ts";
import { type RuntimeMetrics, runtimeMetrics } from "./metrics.ts";
import type { RateLimiter } from "./rate-limiter.ts";
import { WorkQueue } from "./workqueue.ts";

export interface ReconcileResult {
  /** reconcile the key again after this many ms (the rate limiter's history is reset) */
  requeueAfter?: number;
  /** reconcile again with rate-limited backoff */
  requeue?: boolean;
}

/** A failure that retrying cannot fix: logged and counted, never retried. */
export class TerminalError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TerminalError";
  }
}

/** True when `err` or any error in its `cause` chain is a TerminalError. */
export function isTerminal(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) {
    if (e instanceof TerminalError) return true;
  }
  return false;
}

export type Reconcile = (key: string, signal: AbortSignal) => Promise<ReconcileResult | undefined>;

export interface ControllerOptions {
  name: string;
  reconcile: Reconcile;
  logger: Logger;
  registry: Registry;
  /** parallel reconciles (distinct keys); controller-runtime's default is 1 */
  maxConcurrentReconciles?: number;
  clock?: Clock;
  rateLimiter?: RateLimiter;
}

export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  readonly workers: number;
  private readonly reconcile: Reconcile;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly metrics: RuntimeMetrics;
  private readonly abort = new AbortController();
  private running: Promise<void>[] = [];
  private started = false;

  constructor(opts: ControllerOptions) {
    const workers = opts.maxConcurrentReconciles ?? 1;
    if (!Number.isInteger(workers) || workers < 1) {
      throw new RangeError(`controller ${opts.name}: maxConcurrentReconciles must be a positive integer, got ${workers}`);
    }
    this.name = opts.name;
    this.workers = workers;
    this.reconcile = opts.reconcile;
    this.clock = opts.clock ?? realClock;
    this.log = opts.logger.child({ controller: opts.name });
    this.metrics = runtimeMetrics(opts.registry);
    this.queue = new WorkQueue({
      name: opts.name,
      clock: this.clock,
      registry: opts.registry,
      ...(opts.rateLimiter ? { rateLimiter: opts.rateLimiter } : {}),
    });
    this.metrics.maxConcurrentReconciles.set({ controller: this.name }, workers);
    this.metrics.activeWorkers.set({ controller: this.name }, 0);
    for (const result of ["success", "error", "requeue", "requeue_after"]) {
      this.metrics.reconcileTotal.inc({ controller: this.name, result }, 0);
    }
    this.metrics.reconcileErrors.inc({ controller: this.name }, 0);
    this.metrics.terminalReconcileErrors.inc({ controller: this.name }, 0);
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  start(): void {
    if (this.started) throw new Error(`controller ${this.name} was already started; create a new one after stop()`);
    this.started = true;
    this.log.info({ workers: this.workers }, "starting workers");
    this.running = Array.from({ length: this.workers }, () => this.worker());
  }

  /**
   * Stops taking work at once and aborts the signal given to reconciles in flight;
   * resolves when they have returned.
   */
  async stop(): Promise<void> {
    this.abort.abort(new Error(`controller ${this.name} is stopping`));
    await this.queue.shutDown();
    await Promise.all(this.running);
    this.log.info("workers stopped");
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      if (this.abort.signal.aborted) {
        // Handed out just before stop(): do not start work that would be aborted at once.
        this.queue.done(key);
        return;
      }
      this.metrics.activeWorkers.inc({ controller: this.name });
      try {
        await this.handle(key);
      } finally {
        this.metrics.activeWorkers.dec({ controller: this.name });
        this.queue.done(key);
      }
    }
  }

  private async handle(key: string): Promise<void> {
    const labels = { controller: this.name };
    const start = this.clock.now();
    let result: ReconcileResult | undefined;
    try {
      result = await this.reconcile(key, this.abort.signal);
    } catch (err: unknown) {
      this.metrics.reconcileTime.observe(labels, (this.clock.now() - start) / 1000);
      this.metrics.reconcileErrors.inc(labels);
      this.metrics.reconcileTotal.inc({ ...labels, result: "error" });
      if (this.abort.signal.aborted) return;
      if (isTerminal(err)) {
        this.metrics.terminalReconcileErrors.inc(labels);
        this.queue.forget(key);
        this.log.error({ key, err }, "reconciler error (terminal, not retried)");
        return;
      }
      this.queue.addRateLimited(key);
      this.log.error({ key, err, retries: this.queue.numRequeues(key) }, "reconciler error, will retry");
      return;
    }
    const seconds = (this.clock.now() - start) / 1000;
    this.metrics.reconcileTime.observe(labels, seconds);
    const after = result?.requeueAfter ?? 0;
    // As controller-runtime's "Reconcile successful" at V(1): when and how long, for fault analysis.
    this.log.debug({ key, seconds, ...(after > 0 ? { requeueAfterMs: after } : {}) }, "reconciled");
    if (after > 0) {
      this.queue.forget(key);
      this.queue.addAfter(key, after);
      this.metrics.reconcileTotal.inc({ ...labels, result: "requeue_after" });
    } else if (result?.requeue === true) {
      this.queue.addRateLimited(key);
      this.metrics.reconcileTotal.inc({ ...labels, result: "requeue" });
    } else {
      this.queue.forget(key);
      this.metrics.reconcileTotal.inc({ ...labels, result: "success" });
    }
  }
}
