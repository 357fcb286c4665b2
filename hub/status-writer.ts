// Writes ManagedClusterModule statuses beside the reconciles instead of inside them: a reconcile
// hands over the status it built and goes on. One write per MCM at a time; a status handed over
// while one is being written replaces any other still waiting, so only the newest is written. At
// 1,000 × 10 the next change's reconcile of an MCM otherwise waited behind its 600 KB status write
// (the queue never runs one key twice at once): p50 3.6 s, p99 18 s per change (issue 16).
//
// Large statuses are also written one at a time hub-wide: the writes in flight hold at most
// maxClustersInFlight per-cluster entries between them (always at least one write). At 5,000 × 10
// the ten MCMs' deferred statuses (~640 KiB each) came due together, and a change whose ten work
// applies met such a burst waited for the API server: p50 0.73 s against 0.06 s for the others,
// p99 1.24 s over 100 changes (hub-scale, 2 Dec). Small statuses still go out side by side.
import type { ManagedClusterModule, ManagedClusterModuleStatus } from "../shared/api/index.ts";

/** The outcome of one status write, as the reconciler's write reports it. */
export interface StatusWriteResult {
  /** The API server's refusal, for an Event. */
  refused?: string;
  /** The write did not get through: look again later. */
  retry?: boolean;
}

export interface StatusWriterOptions {
  /** One write of one status (the reconciler's server-side apply); never throws. */
  write: (mcm: ManagedClusterModule, status: ManagedClusterModuleStatus) => Promise<StatusWriteResult>;
  /** A write that was refused or did not get through (Events, a later reconcile). */
  failed: (mcm: ManagedClusterModule, result: StatusWriteResult) => Promise<void>;
  /** Whether writing must stop (the leader lost its lease): waiting statuses are dropped. */
  stopped: () => boolean;
  /**
   * Per-cluster entries (status.clusters, +1 per status) the writes in flight may hold between
   * them; a status above it is written alone. Default STATUS_CLUSTERS_IN_FLIGHT.
   */
  maxClustersInFlight?: number;
  /** Called after each write ended, refused or not (the manager's memory release counts work with it). */
  written?: () => void;
}

/**
 * Default of StatusWriterOptions.maxClustersInFlight: a status listing 1,000 clusters or more
 * (~130 KiB and up) is written alone, nine of 100 clusters (weight 101 each) side by side.
 */
export const STATUS_CLUSTERS_IN_FLIGHT = 1000;

interface Handed {
  mcm: ManagedClusterModule;
  status: ManagedClusterModuleStatus;
}

/** What a status weighs against maxClustersInFlight: its listed clusters, plus one for the rest. */
function weight(status: ManagedClusterModuleStatus): number {
  return (status.clusters?.length ?? 0) + 1;
}

export class StatusWriter {
  private readonly opts: StatusWriterOptions;
  private readonly maxInFlight: number;
  /** The newest status handed over per MCM and not written yet. */
  private readonly waiting = new Map<string, Handed>();
  /** MCMs with a status waiting and no write under way, in the order they are to be written. */
  private readonly queue = new Set<string>();
  /** The status being written per MCM. */
  private readonly writing = new Map<string, ManagedClusterModuleStatus>();
  /** Sum of weight() of the statuses being written. */
  private inFlight = 0;
  /** Resolvers of idle() callers, called after every finished write. */
  private waiters: (() => void)[] = [];

  constructor(opts: StatusWriterOptions) {
    this.opts = opts;
    this.maxInFlight = opts.maxClustersInFlight ?? STATUS_CLUSTERS_IN_FLIGHT;
  }

  /** The newest status handed over for this MCM and not written yet (waiting, else being written). */
  pending(name: string): ManagedClusterModuleStatus | undefined {
    return this.waiting.get(name)?.status ?? this.writing.get(name);
  }

  /** Hands over a status to write; returns at once. */
  submit(mcm: ManagedClusterModule, status: ManagedClusterModuleStatus): void {
    const name = mcm.metadata.name ?? "";
    this.waiting.set(name, { mcm, status });
    if (!this.writing.has(name)) this.queue.add(name);
    this.pump();
  }

  /** Drops what waits for this MCM (deleted); a write under way ends on its own. */
  forget(name: string): void {
    this.waiting.delete(name);
    this.queue.delete(name);
    this.wake();
  }

  /** Whether a status is waiting or being written for any MCM. */
  busy(): boolean {
    return this.writing.size > 0 || this.queue.size > 0;
  }

  /** Resolves when nothing is waiting or being written for this MCM (tests). */
  async idle(name: string): Promise<void> {
    while (this.writing.has(name) || this.queue.has(name)) await new Promise<void>((r) => this.waiters.push(r));
  }

  /** Starts the queued writes that fit, in queue order (a large one waits for the room it needs). */
  private pump(): void {
    for (const name of this.queue) {
      const handed = this.waiting.get(name);
      if (handed === undefined || this.opts.stopped()) {
        this.queue.delete(name);
        this.waiting.delete(name);
        continue;
      }
      const w = weight(handed.status);
      if (this.inFlight > 0 && this.inFlight + w > this.maxInFlight) break;
      this.queue.delete(name);
      this.waiting.delete(name);
      this.start(name, handed, w);
    }
    this.wake();
  }

  private start(name: string, handed: Handed, w: number): void {
    this.writing.set(name, handed.status);
    this.inFlight += w;
    void (async () => {
      // The room is given back once the API server answered: reporting a failure (an Event) does
      // not hold up the other MCMs' statuses, only this MCM's next one.
      const result = await this.opts.write(handed.mcm, handed.status).finally(() => {
        this.inFlight -= w;
        this.pump();
      });
      if (result.refused !== undefined || result.retry === true) await this.opts.failed(handed.mcm, result);
    })()
      .catch(() => undefined)
      .then(() => {
        this.writing.delete(name);
        this.opts.written?.();
        // A status handed over meanwhile goes to the back: the other MCMs' turn comes first.
        if (this.waiting.has(name)) this.queue.add(name);
        this.pump();
      });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const r of waiters) r();
  }
}
