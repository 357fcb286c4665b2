// Gives the memory of a burst of work back to the node once the process has been idle for a while
// (issue 16, README "Hub memory"). Go operators get this from their runtime: its background
// scavenger returns unused heap to the OS. V8 has a memory reducer that does the same, but it only
// starts after a mark-compact or when the old generation grows on the JavaScript thread itself; a
// hub that starts and syncs its caches without a full collection never starts it. Measured on an
// empty hub (hub-scale, 2 Dec evening): 88-89 MiB after 2 minutes of idle with no memory-reducing
// GC at all (V8's trace shows none), the young generation shrunk to its minimum but its 7 MiB of
// pages kept in V8's page pool; one last-resort collection took it to 75-78 MiB in 80-110 ms.
import { type Clock, type TimerHandle, realClock } from "./clock.ts";
import type { Logger } from "./logger.ts";

/** One synchronous, memory-reducing full collection. */
export type MemoryReducingGc = () => void;

/**
 * V8's last-resort collection (`gc({ type: "major", execution: "sync", flavor: "last-resort" })`
 * of V8's gc extension: mark-compacts with the memory-reducing flag until nothing more is freed,
 * the young generation shrunk to its minimum, pooled pages unmapped), or undefined when node runs
 * without `--expose-gc` (HeapSettings.releaseWhenIdleMs in node-options.ts adds the flag).
 * @param gc the gc extension's function; default `globalThis.gc`
 */
export function lastResortGc(gc: unknown = (globalThis as { gc?: unknown }).gc): MemoryReducingGc | undefined {
  if (typeof gc !== "function") return undefined;
  return () => {
    (gc as (options: { type: string; execution: string; flavor: string }) => void)({ type: "major", execution: "sync", flavor: "last-resort" });
  };
}

export interface IdleMemoryReleaseOptions {
  /** quiet time after the last work, ms, before the collection runs */
  idleMs: number;
  collect: MemoryReducingGc;
  clock?: Clock;
  logger?: Logger;
  /** resident set size, bytes, logged before and after; default process.memoryUsage.rss */
  rss?: () => number;
}

/** True while work is under way that the collection must not pause (a reconcile, a status write). */
export type BusyCheck = () => boolean;

/**
 * Runs `collect` once after each burst of work: `idleMs` after the last `activity()`, and not again
 * until the next `activity()`. An idle process is never woken: no timer is pending between bursts.
 * When the time comes while a busy check says work is under way (a reconcile longer than `idleMs`,
 * keys queued, a status write), the collection waits another `idleMs`. The collection blocks the
 * event loop while it runs (80-110 ms on an empty hub, 104 ms at 5,000 x 10; a last-resort GC of a
 * 180 MiB heap takes ~450 ms), so only a change that arrives in that moment waits for it. A failure
 * of the collection or of reading the RSS is logged and never ends the process.
 */
export class IdleMemoryRelease {
  private readonly opts: IdleMemoryReleaseOptions;
  private readonly clock: Clock;
  private timer: TimerHandle | undefined;
  private lastActivity = 0;
  private stopped = false;
  private readonly busyChecks: BusyCheck[] = [];
  /** collections run so far */
  releases = 0;

  /** @throws RangeError when idleMs is not a positive number */
  constructor(opts: IdleMemoryReleaseOptions) {
    this.opts = opts;
    if (!Number.isFinite(opts.idleMs) || opts.idleMs <= 0) throw new RangeError(`idleMs must be a positive number of milliseconds, got ${opts.idleMs}`);
    this.clock = opts.clock ?? realClock;
  }

  /**
   * Work was done: collect once nothing more has been done for idleMs. Called after every reconcile,
   * so it only notes the time; the one pending timer re-arms itself for what is left of idleMs.
   */
  activity(): void {
    if (this.stopped) return;
    this.lastActivity = this.clock.now();
    this.timer ??= this.clock.setTimer(() => { this.due(); }, this.opts.idleMs);
  }

  /** Adds a check of work under way: while any says true, the collection waits. */
  addBusyCheck(check: BusyCheck): void {
    this.busyChecks.push(check);
  }

  /** No collection after this one. */
  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private due(): void {
    if (this.stopped) return;
    if (this.busyChecks.some((busy) => busy())) this.lastActivity = this.clock.now();
    const quietFor = this.clock.now() - this.lastActivity;
    if (quietFor < this.opts.idleMs) {
      this.timer = this.clock.setTimer(() => { this.due(); }, this.opts.idleMs - quietFor);
      return;
    }
    this.timer = undefined;
    this.release();
  }

  private release(): void {
    const mib = (b: number): number => Math.round((b / 2 ** 20) * 10) / 10;
    try {
      const rss = this.opts.rss ?? (() => process.memoryUsage.rss());
      const before = rss();
      const started = this.clock.now();
      this.opts.collect();
      this.releases += 1;
      this.opts.logger?.info(
        { idleMs: this.opts.idleMs, rssMiBBefore: mib(before), rssMiBAfter: mib(rss()), gcMs: Math.round(this.clock.now() - started) },
        "released memory after a burst of work (memory-reducing full GC)",
      );
    } catch (err: unknown) {
      // process.memoryUsage.rss() throws when no file descriptor is left (EMFILE reading /proc).
      this.opts.logger?.warn({ err: err instanceof Error ? err.message : String(err) }, "memory release after a burst of work failed; carrying on without it");
    }
  }
}
