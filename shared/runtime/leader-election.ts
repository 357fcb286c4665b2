// Lease-based leader election (coordination.k8s.io/v1) with client-go's rules:
// - a candidate takes the Lease only when its holder has not renewed it for
//   leaseDuration, measured on the candidate's own clock from when it last saw
//   the record change (so clock skew between replicas does not matter);
// - the leader renews every retryPeriod and gives up if it cannot renew within
//   renewDeadline, which is shorter than leaseDuration, so it stops acting
//   before anyone else may start;
// - on shutdown the leader releases the Lease so a successor starts at once.
// Unlike client-go, a leader that sees another holder in the Lease stops at once
// instead of retrying until its deadline.
import { z } from "zod";
import type { KubeConnection } from "../kube/connection.ts";
import { ApiError, RawClient, isConflict } from "../kube/raw.ts";
import type { Logger } from "./logger.ts";

export class LeaderElectionConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LeaderElectionConfigError";
  }
}

export interface LeaderElectorOptions {
  connection: KubeConnection;
  namespace: string;
  /** Lease name (the config's leaderElection.resourceID) */
  name: string;
  /** unique per replica, e.g. pod name + random suffix */
  identity: string;
  logger: Logger;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** called once leadership is acquired; `signal` aborts when it is lost */
  onStartedLeading: (signal: AbortSignal) => void;
  /** called when leadership ends (lost, or released by stop()) */
  onStoppedLeading: () => void;
  /** called when the observed holder changes (including to us) */
  onNewLeader?: (identity: string) => void;
}

const leaseSpecSchema = z.object({
  holderIdentity: z.string().optional(),
  leaseDurationSeconds: z.number().int().optional(),
  acquireTime: z.coerce.date().optional(),
  renewTime: z.coerce.date().optional(),
  leaseTransitions: z.number().int().optional(),
});
const leaseSchema = z.object({
  metadata: z.object({ resourceVersion: z.string().optional() }).optional(),
  spec: leaseSpecSchema.optional(),
});
type LeaseRecord = z.infer<typeof leaseSpecSchema>;

function sameRecord(a: LeaseRecord | undefined, b: LeaseRecord): boolean {
  return (
    a !== undefined &&
    a.holderIdentity === b.holderIdentity &&
    a.leaseDurationSeconds === b.leaseDurationSeconds &&
    a.acquireTime?.getTime() === b.acquireTime?.getTime() &&
    a.renewTime?.getTime() === b.renewTime?.getTime() &&
    a.leaseTransitions === b.leaseTransitions
  );
}

/**
 * A timer that ends early when `signal` aborts, and that can be cancelled: the loser of a
 * Promise.race must not keep its timer and its abort listener until it fires (one pair per renewal).
 */
export function cancellableSleep(ms: number, signal: AbortSignal): { done: Promise<void>; cancel: () => void } {
  let cancel = (): void => undefined;
  const done = new Promise<void>((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const finish = (): void => {
      clearTimeout(t);
      signal.removeEventListener("abort", finish);
      resolve();
    };
    const t = setTimeout(finish, ms);
    signal.addEventListener("abort", finish, { once: true });
    cancel = finish;
  });
  return { done, cancel };
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> => cancellableSleep(ms, signal).done;

const jitter = (ms: number): number => ms * (1 + Math.random() * 0.2);

export class LeaderElector {
  readonly identity: string;
  private readonly opts: LeaderElectorOptions;
  private readonly raw: RawClient;
  private readonly log: Logger;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly stopping = new AbortController();
  private leading: AbortController | undefined;
  private observed: LeaseRecord | undefined;
  private observedAt = 0;
  private observedResourceVersion: string | undefined;
  private reportedLeader: string | undefined;
  private running: Promise<void> | undefined;
  // The renewal that lost the race against the renew deadline or stop() may still be waiting for
  // the API server: release() must not run until it is done, or it could write after the release.
  private attempt: Promise<boolean> | undefined;

  constructor(opts: LeaderElectorOptions) {
    this.opts = opts;
    this.identity = opts.identity;
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    if (opts.identity === "") throw new LeaderElectionConfigError("leader election identity must not be empty");
    if (this.leaseDurationMs <= this.renewDeadlineMs) {
      throw new LeaderElectionConfigError(`leaseDuration (${this.leaseDurationMs} ms) must be greater than renewDeadline (${this.renewDeadlineMs} ms)`);
    }
    if (this.renewDeadlineMs <= 1.2 * this.retryPeriodMs) {
      throw new LeaderElectionConfigError(`renewDeadline (${this.renewDeadlineMs} ms) must be greater than 1.2 × retryPeriod (${this.retryPeriodMs} ms)`);
    }
    this.raw = new RawClient(opts.connection);
    this.log = opts.logger.child({ lease: `${opts.namespace}/${opts.name}`, identity: opts.identity });
  }

  // A method, not a property read, so the compiler does not assume it stays unchanged across awaits.
  private isStopping(): boolean {
    return this.stopping.signal.aborted;
  }

  isLeader(): boolean {
    return this.leading !== undefined && !this.leading.signal.aborted;
  }

  /**
   * Campaigns until elected, leads until the Lease is lost or `stop()` is called.
   * Resolves when leadership has ended (or stop() was called before winning).
   */
  run(): Promise<void> {
    this.running ??= this.campaign();
    return this.running;
  }

  /** Stops campaigning or leading; a leader releases the Lease. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.running;
    this.raw.close();
  }

  private async campaign(): Promise<void> {
    this.log.info("attempting to acquire leader lease");
    while (!this.isStopping()) {
      if (await this.tryAcquireOrRenew()) break;
      await sleep(jitter(this.retryPeriodMs), this.stopping.signal);
    }
    if (this.isStopping()) {
      // stop() came while the winning write was in flight: hand the Lease straight back.
      await this.release();
      return;
    }
    this.leading = new AbortController();
    this.log.info("acquired leader lease");
    try {
      this.opts.onStartedLeading(this.leading.signal);
    } catch (err: unknown) {
      this.log.error({ err }, "onStartedLeading threw");
    }
    await this.renewLoop();
    let released = false;
    if (this.isStopping()) {
      await this.settleAttempt();
      released = await this.release();
    }
    this.leading.abort();
    this.log.info({ released }, "leadership ended");
    try {
      this.opts.onStoppedLeading();
    } catch (err: unknown) {
      this.log.error({ err }, "onStoppedLeading threw");
    }
  }

  private async renewLoop(): Promise<void> {
    for (;;) {
      await sleep(this.retryPeriodMs, this.stopping.signal);
      if (this.isStopping()) return;
      const deadline = performance.now() + this.renewDeadlineMs;
      let renewed = false;
      while (performance.now() < deadline && !this.isStopping()) {
        // A request stalled by a network partition must not hold us past the deadline.
        const abandoned = new AbortController();
        const attempt = this.tryAcquireOrRenew(abandoned.signal);
        this.attempt = attempt;
        const timer = cancellableSleep(Math.max(0, deadline - performance.now()), this.stopping.signal);
        try {
          renewed = await Promise.race([attempt, timer.done.then(() => false)]);
        } finally {
          timer.cancel();
        }
        // Past the deadline we are no longer leader: a late answer must not renew the Lease for us.
        if (!renewed) abandoned.abort();
        if (renewed) break;
        if (this.observed?.holderIdentity !== undefined && this.observed.holderIdentity !== "" && this.observed.holderIdentity !== this.identity) {
          this.log.warn({ holder: this.observed.holderIdentity }, "leader lease taken by another candidate");
          return;
        }
        await sleep(Math.min(this.retryPeriodMs, Math.max(0, deadline - performance.now())), this.stopping.signal);
      }
      if (this.isStopping()) return;
      if (!renewed) {
        this.log.error({ renewDeadlineMs: this.renewDeadlineMs }, "failed to renew leader lease within the renew deadline");
        return;
      }
    }
  }

  /**
   * Waits for a renewal still in flight, so its write (if it made one) lands before the release and
   * the release sees the resourceVersion it produced. Bounded: a request stalled by a partition
   * must not hold up shutdown, and once stopping it makes no further write anyway.
   */
  private async settleAttempt(): Promise<void> {
    const attempt = this.attempt;
    if (attempt === undefined) return;
    const timer = cancellableSleep(this.renewDeadlineMs, new AbortController().signal);
    try {
      await Promise.race([attempt, timer.done]);
    } finally {
      timer.cancel();
    }
  }

  private observe(record: LeaseRecord, resourceVersion: string | undefined): void {
    this.observedResourceVersion = resourceVersion;
    if (!sameRecord(this.observed, record)) {
      this.observed = record;
      this.observedAt = performance.now();
    }
    const holder = record.holderIdentity ?? "";
    if (holder !== "" && holder !== this.reportedLeader) {
      this.reportedLeader = holder;
      this.log.info({ holder }, "new leader observed");
      try {
        this.opts.onNewLeader?.(holder);
      } catch (err: unknown) {
        this.log.error({ err }, "onNewLeader threw");
      }
    }
  }

  private leasesPath(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.opts.namespace)}/leases`;
  }

  private leasePath(): string {
    return `${this.leasesPath()}/${encodeURIComponent(this.opts.name)}`;
  }

  private leaseBody(record: LeaseRecord, resourceVersion: string | undefined): object {
    return {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: this.opts.name, namespace: this.opts.namespace, ...(resourceVersion ? { resourceVersion } : {}) },
      spec: {
        holderIdentity: record.holderIdentity ?? "",
        leaseDurationSeconds: record.leaseDurationSeconds ?? 1,
        ...(record.acquireTime ? { acquireTime: microTime(record.acquireTime) } : {}),
        ...(record.renewTime ? { renewTime: microTime(record.renewTime) } : {}),
        leaseTransitions: record.leaseTransitions ?? 0,
      },
    };
  }

  private async tryAcquireOrRenew(abandoned?: AbortSignal): Promise<boolean> {
    // Checked after every await that precedes a write: a stopping process, or a renewal given up on,
    // must not take the Lease.
    const mayWrite = (): boolean => !this.isStopping() && abandoned?.aborted !== true;
    const now = new Date();
    const desired: LeaseRecord = {
      holderIdentity: this.identity,
      leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
      acquireTime: now,
      renewTime: now,
      leaseTransitions: 0,
    };
    let current: z.infer<typeof leaseSchema>;
    try {
      current = leaseSchema.parse((await this.raw.request("GET", this.leasePath())).body);
    } catch (err: unknown) {
      if (!(err instanceof ApiError) || err.code !== 404) {
        this.log.warn({ err: describe(err) }, "cannot read leader lease");
        return false;
      }
      if (!mayWrite()) return false;
      try {
        const created = leaseSchema.parse(
          (await this.raw.request("POST", this.leasesPath(), this.leaseBody(desired, undefined))).body,
        );
        this.observe(created.spec ?? desired, created.metadata?.resourceVersion);
        return true;
      } catch (createErr: unknown) {
        if (!(createErr instanceof ApiError) || createErr.code !== 409) this.log.warn({ err: describe(createErr) }, "cannot create leader lease");
        return false;
      }
    }
    const record = current.spec ?? {};
    this.observe(record, current.metadata?.resourceVersion);
    const holder = record.holderIdentity ?? "";
    const durationMs = (record.leaseDurationSeconds ?? 0) * 1000;
    if (holder !== "" && holder !== this.identity && this.observedAt + durationMs > performance.now()) {
      return false;
    }
    if (holder === this.identity) {
      desired.acquireTime = record.acquireTime ?? now;
      desired.leaseTransitions = record.leaseTransitions ?? 0;
    } else {
      desired.leaseTransitions = (record.leaseTransitions ?? 0) + 1;
    }
    // Else an attempt whose GET is answered after the release would see an empty holder and take the
    // Lease back, leaving a stopped process as holder and its successor waiting a full leaseDuration.
    if (!mayWrite()) return false;
    try {
      const updated = leaseSchema.parse(
        (await this.raw.request("PUT", this.leasePath(), this.leaseBody(desired, this.observedResourceVersion))).body,
      );
      this.observe(updated.spec ?? desired, updated.metadata?.resourceVersion);
      return true;
    } catch (err: unknown) {
      // 409: someone else wrote the Lease since we read it; re-read next round.
      if (!(err instanceof ApiError) || err.code !== 409) this.log.warn({ err: describe(err) }, "cannot update leader lease");
      return false;
    }
  }

  /** Hands the Lease over: empty holder, so the next candidate need not wait for expiry. */
  private async release(): Promise<boolean> {
    // A renewal still in flight when stop() came may land first and bump the resourceVersion:
    // on a conflict, re-read and release again if the Lease is still ours.
    for (let attempt = 0; attempt < 3; attempt++) {
      if (this.observed?.holderIdentity !== this.identity) return false;
      const now = new Date();
      try {
        await this.raw.request(
          "PUT",
          this.leasePath(),
          this.leaseBody(
            { holderIdentity: "", leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: this.observed.leaseTransitions ?? 0 },
            this.observedResourceVersion,
          ),
        );
        return true;
      } catch (err: unknown) {
        if (!isConflict(err) || attempt === 2) {
          this.log.warn({ err: describe(err) }, "cannot release leader lease");
          return false;
        }
      }
      try {
        const current = leaseSchema.parse((await this.raw.request("GET", this.leasePath())).body);
        this.observe(current.spec ?? {}, current.metadata?.resourceVersion);
      } catch (err: unknown) {
        this.log.warn({ err: describe(err) }, "cannot release leader lease");
        return false;
      }
    }
    return false;
  }
}

/** A Lease's MicroTime: RFC 3339 with microseconds (we only have milliseconds). */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

function describe(err: unknown): string {
  if (err instanceof ApiError) return `HTTP ${err.code}: ${err.message.slice(0, 300)}`;
  return err instanceof Error ? err.message : String(err);
}
