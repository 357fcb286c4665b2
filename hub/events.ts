// core/v1 Events on ManagedClusterModules (cluster-scoped, so in "default"), one series per MCM,
// type and reason, as Kubernetes' own event aggregation keeps them: the first occurrence creates
// the Event, later ones raise its count and lastTimestamp. A registry outage across 1,000 clusters
// is one Event per MCM with a message that names a few clusters and how many more — never one
// Event per cluster, and never a new Event because the clusters named changed.
import { createHash } from "node:crypto";
import { eventCount, eventName, postEvent, updateEventSeries } from "../shared/kube/events.ts";
import { isConflict, isNotFound, type RawClient } from "../shared/kube/raw.ts";
import type { Logger } from "../shared/runtime/index.ts";
import { HUB_API_VERSION, MANAGED_CLUSTER_MODULE_KIND } from "../shared/api/index.ts";
import { EVENT_SOURCE } from "./names.ts";
import { problemSignature, summarize, type ClusterProblem } from "./summary.ts";

export const EventReasons = {
  NoKernelMapping: "NoKernelMapping",
  ImageRepinned: "ImageRepinned",
  RegistryError: "RegistryError",
  InvalidKernelMapping: "InvalidKernelMapping",
  InvalidImageReference: "InvalidImageReference",
  ManifestWorkRefused: "ManifestWorkRefused",
  ManifestWorkNotApplied: "ManifestWorkNotApplied",
  StatusRefused: "StatusRefused",
  PullSecretMissing: "PullSecretMissing",
  PullSecretInvalid: "PullSecretInvalid",
  ManifestWorkDeleted: "ManifestWorkDeleted",
  ReconcileFailed: "ReconcileFailed",
  /** A build or sign Job cannot be described (missing Dockerfile ConfigMap or Secret, RELATED_IMAGE_* unset). */
  BuildInputInvalid: "BuildInputInvalid",
  /** Two MCMs want the same image and kernel built or signed differently. */
  BuildConflict: "BuildConflict",
} as const;

export interface EventTarget {
  name: string;
  uid?: string | undefined;
}

/**
 * An unchanged problem updates its Event's count at most this often (client-go's correlator
 * likewise rate-limits a series): a blocked cluster is retried every 30 s, and an idle hub writes
 * nothing. A changed problem (not just other clusters named) updates it at once.
 */
export const SERIES_UPDATE_INTERVAL_MS = 10 * 60_000;
const MAX_SERIES = 10_000;

interface Series {
  name: string;
  /** Count stored in the Event. */
  count: number;
  /** Occurrences since the last write. */
  unwritten: number;
  signature: string;
  writtenAt: number;
  first: number;
}

/** The Event name of a series: stable, so a restarted hub continues the Event it finds. */
export function seriesName(target: EventTarget, type: string, reason: string): string {
  const h = createHash("sha256").update(`${target.uid ?? target.name}\0${type}\0${reason}`).digest("hex").slice(0, 16);
  return eventName(target.name, h);
}

export class EventRecorder {
  private readonly series = new Map<string, Series>();
  /** Per series, the write in flight: occurrences of one series are written one after another. */
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly kube: RawClient;
  private readonly log: Logger;
  private readonly now: () => number;
  /** Event writes the API server accepted (tests, the fault suite). */
  writes = 0;

  constructor(kube: RawClient, log: Logger, now: () => number = Date.now) {
    this.kube = kube;
    this.log = log;
    this.now = now;
  }

  /** Records one occurrence of a single-message Event. Failures are logged, never thrown. */
  record(target: EventTarget, type: "Normal" | "Warning", reason: string, message: string): Promise<void> {
    return this.occurrence(target, type, reason, message, message);
  }

  /**
   * Records one occurrence of a problem spread over clusters: the message names a few clusters
   * and how many more; which clusters are named does not make it a new occurrence.
   */
  recordProblems(target: EventTarget, type: "Normal" | "Warning", reason: string, problems: readonly ClusterProblem[]): Promise<void> {
    if (problems.length === 0) return Promise.resolve();
    return this.occurrence(target, type, reason, summarize(problems), problemSignature(problems));
  }

  /** Drops what is remembered of an MCM's series (it was deleted). */
  forget(target: EventTarget): void {
    const prefix = `${target.uid ?? target.name}\0`;
    for (const key of this.series.keys()) if (key.startsWith(prefix)) this.series.delete(key);
  }

  private occurrence(target: EventTarget, type: "Normal" | "Warning", reason: string, message: string, signature: string): Promise<void> {
    const key = `${target.uid ?? target.name}\0${type}\0${reason}`;
    const before = this.inFlight.get(key) ?? Promise.resolve();
    const next = before.then(() => this.write(key, target, type, reason, message, signature));
    this.inFlight.set(key, next);
    void next.finally(() => {
      if (this.inFlight.get(key) === next) this.inFlight.delete(key);
    });
    return next;
  }

  private async write(key: string, target: EventTarget, type: "Normal" | "Warning", reason: string, message: string, signature: string): Promise<void> {
    const now = this.now();
    const s = this.series.get(key);
    if (s !== undefined && s.signature === signature && now - s.writtenAt < SERIES_UPDATE_INTERVAL_MS) {
      s.unwritten++;
      return;
    }
    const involvedObject = { apiVersion: HUB_API_VERSION, kind: MANAGED_CLUSTER_MODULE_KIND, name: target.name, ...(target.uid ? { uid: target.uid } : {}) };
    const name = s?.name ?? seriesName(target, type, reason);
    try {
      let count = (s?.count ?? 0) + (s?.unwritten ?? 0) + 1;
      let first = s?.first ?? now;
      if (s === undefined) {
        try {
          await postEvent(this.kube, { involvedObject, type, reason, message, component: EVENT_SOURCE, at: new Date(now), name });
        } catch (err: unknown) {
          // Written by this hub before a restart (or another replica): continue that series.
          if (!isConflict(err)) throw err;
          count = (await eventCount(this.kube, "default", name)) + 1;
          await updateEventSeries(this.kube, "default", name, { count, message, at: new Date(now) });
        }
      } else {
        try {
          await updateEventSeries(this.kube, "default", name, { count, message, at: new Date(now) });
        } catch (err: unknown) {
          // Expired (the API server keeps Events for an hour): a new Event starts the series again.
          if (!isNotFound(err)) throw err;
          count = 1;
          first = now;
          await postEvent(this.kube, { involvedObject, type, reason, message, component: EVENT_SOURCE, at: new Date(now), name });
        }
      }
      this.writes++;
      this.series.delete(key);
      this.series.set(key, { name, count, unwritten: 0, signature, writtenAt: now, first });
      if (this.series.size > MAX_SERIES) {
        const oldest = this.series.keys().next();
        if (oldest.done !== true) this.series.delete(oldest.value);
      }
    } catch (err: unknown) {
      this.log.warn({ err, reason, mcm: target.name }, "could not record event");
    }
  }
}
