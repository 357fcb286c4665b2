// ManagedClusterModule status from the outcomes of a reconcile and the ManifestWorks in the cache.
import type { ClusterModuleStatus, Condition, DaemonSetStatus, ManagedClusterModule, ManagedClusterModuleStatus, ManifestWorkState } from "../shared/api/index.ts";
import { nextCondition } from "../shared/api/conditions.ts";
import { ManifestWorkConditions, feedbackValues, integerFeedback, isConditionTrue, type ManifestWorkObject } from "../shared/ocm/index.ts";
import { moduleIdentifier, type ClusterOutcome } from "./manifestwork.ts";

export const ConditionTypes = {
  /** Every tag of every selected cluster was resolved to a digest. */
  ImagesPinned: "ImagesPinned",
  /** Every selected cluster has its ManifestWork written as desired. */
  ManifestWorksWritten: "ManifestWorksWritten",
  /** Every desired ManifestWork is applied and available on its spoke. */
  Available: "Available",
} as const;

/** The state a ManifestWork reports through the work agent's conditions. */
export function manifestWorkState(work: ManifestWorkObject): { state: ManifestWorkState; message: string } {
  const conds = work.status?.conditions;
  const pick = (t: string) => conds?.find((c) => c.type === t);
  if (isConditionTrue(conds, ManifestWorkConditions.Degraded)) return { state: "Degraded", message: pick(ManifestWorkConditions.Degraded)?.message ?? "" };
  if (isConditionTrue(conds, ManifestWorkConditions.Available)) return { state: "Available", message: pick(ManifestWorkConditions.Available)?.message ?? "" };
  if (isConditionTrue(conds, ManifestWorkConditions.Applied)) return { state: "Applied", message: pick(ManifestWorkConditions.Applied)?.message ?? "" };
  const applied = pick(ManifestWorkConditions.Applied);
  return { state: "Pending", message: applied ? `not applied: ${applied.message}` : "waiting for the work agent" };
}

/** The spoke Module's status counters, as the feedback rules bring them back (absent ones left out). */
export function feedbackCounters(mcm: ManagedClusterModule, work: ManifestWorkObject): { moduleLoader?: DaemonSetStatus; devicePlugin?: DaemonSetStatus } {
  const values = feedbackValues(work, moduleIdentifier(mcm));
  const out: { moduleLoader?: DaemonSetStatus; devicePlugin?: DaemonSetStatus } = {};
  for (const part of ["moduleLoader", "devicePlugin"] as const) {
    const counters: DaemonSetStatus = {};
    for (const field of ["nodesMatchingSelectorNumber", "desiredNumber", "availableNumber"] as const) {
      const v = integerFeedback(values, `${part}.${field}`);
      if (v !== undefined) counters[field] = v;
    }
    if (Object.keys(counters).length > 0) out[part] = counters;
  }
  return out;
}

/**
 * Per-cluster detail gets this many bytes of JSON at most, so a ManagedClusterModule stays well
 * inside etcd's 1.5 MiB object limit however many clusters it selects. The counts cover all clusters.
 */
export const CLUSTER_DETAIL_BUDGET_BYTES = 640 * 1024;
/** Clusters needing attention are the ones kept when the detail does not fit. */
const ATTENTION: Record<ManifestWorkState, number> = { Blocked: 0, Degraded: 1, Pending: 2, Applied: 3, Available: 4 };
/** Clusters named in one condition message at most. */
const MAX_CLUSTERS_IN_MESSAGE = 20;

function fitDetail(entries: ClusterModuleStatus[], budget: number): { listed: ClusterModuleStatus[]; omitted: number } {
  const sizes = entries.map((e) => JSON.stringify(e).length + 1);
  if (sizes.reduce((a, b) => a + b, 0) <= budget) return { listed: entries, omitted: 0 };
  const order = entries.map((_, i) => i).sort((a, b) => ATTENTION[entries[a]!.manifestWork?.state ?? "Pending"] - ATTENTION[entries[b]!.manifestWork?.state ?? "Pending"] || a - b);
  const keep = new Set<number>();
  let used = 0;
  for (const i of order) {
    if (used + sizes[i]! > budget) break;
    used += sizes[i]!;
    keep.add(i);
  }
  return { listed: entries.filter((_, i) => keep.has(i)), omitted: entries.length - keep.size };
}

/** "a: …\nb: …" for the first clusters, then how many more. */
function clusterLines(lines: string[]): string {
  if (lines.length <= MAX_CLUSTERS_IN_MESSAGE) return lines.join("\n");
  return [...lines.slice(0, MAX_CLUSTERS_IN_MESSAGE), `… and ${lines.length - MAX_CLUSTERS_IN_MESSAGE} more cluster(s)`].join("\n");
}

function condition(mcm: ManagedClusterModule, previous: readonly Condition[] | undefined, now: string, c: Omit<Condition, "lastTransitionTime" | "observedGeneration">): Condition {
  return nextCondition(previous, c, now, mcm.metadata.generation);
}

export interface StatusInput {
  mcm: ManagedClusterModule;
  outcomes: readonly ClusterOutcome[];
  /** Owned ManifestWorks by cluster (namespace), as the cache has them. */
  works: ReadonlyMap<string, ManifestWorkObject>;
  /** A kernel mapping problem that stops everything (set instead of outcomes). */
  invalidSpec?: string;
  now: string;
  /** Bytes of per-cluster detail at most (tests use small budgets). */
  detailBudgetBytes?: number;
}

export function buildStatus(input: StatusInput): ManagedClusterModuleStatus {
  const { mcm, outcomes, works, now } = input;
  const prev = mcm.status;
  const prevClusters = new Map((prev?.clusters ?? []).map((c) => [c.cluster, c]));

  const clusters: ClusterModuleStatus[] = outcomes.map((o) => {
    const existing = works.get(o.cluster);
    let state: ManifestWorkState;
    let message: string;
    if (o.kind === "work") {
      ({ state, message } = existing ? manifestWorkState(existing) : { state: "Pending", message: "ManifestWork not written yet" });
    } else {
      state = o.kind === "blocked" ? "Blocked" : "Pending";
      message = o.message;
      if (existing) message += `; the ManifestWork already there stays as it is (${manifestWorkState(existing).state})`;
    }
    const old = prevClusters.get(o.cluster)?.manifestWork;
    const entry: ClusterModuleStatus = {
      cluster: o.cluster,
      manifestWork: { state, message, lastTransitionTime: old?.state === state && old.lastTransitionTime !== undefined ? old.lastTransitionTime : now },
    };
    if (o.kernels.length > 0) entry.kernels = o.kernels.map((k) => ({ ...k }));
    // A blocked cluster may still run the previous work: its counters stay meaningful.
    if (existing) Object.assign(entry, feedbackCounters(mcm, existing));
    return entry;
  });

  const owned = outcomes.flatMap((o) => works.get(o.cluster) ?? []);
  const numberApplied = owned.filter((w) => isConditionTrue(w.status?.conditions, ManifestWorkConditions.Applied)).length;
  const numberDegraded = owned.filter((w) => isConditionTrue(w.status?.conditions, ManifestWorkConditions.Degraded)).length;
  const numberDesired = outcomes.length;

  const conditions: Condition[] = [];
  const pc = prev?.conditions;
  const pinFailures = outcomes.filter((o) => o.kind === "blocked" && !o.reason.startsWith("ManifestWork") && o.reason !== "TooManyKernels");
  conditions.push(
    condition(mcm, pc, now, input.invalidSpec !== undefined
      ? { type: ConditionTypes.ImagesPinned, status: "Unknown", reason: "InvalidKernelMapping", message: input.invalidSpec }
      : pinFailures.length === 0
        ? { type: ConditionTypes.ImagesPinned, status: "True", reason: "AllImagesPinned", message: "every image is pinned to a digest" }
        : { type: ConditionTypes.ImagesPinned, status: "False", reason: pinFailures[0]?.kind === "blocked" ? pinFailures[0].reason : "RegistryError", message: clusterLines(pinFailures.map((o) => `${o.cluster}: ${o.kind === "blocked" ? o.message : ""}`)) }),
  );
  const notWritten = outcomes.filter((o): o is Exclude<ClusterOutcome, { kind: "work" }> => o.kind !== "work");
  const firstBlocked = outcomes.find((o) => o.kind === "blocked");
  conditions.push(
    condition(mcm, pc, now, input.invalidSpec !== undefined
      ? { type: ConditionTypes.ManifestWorksWritten, status: "False", reason: "InvalidKernelMapping", message: input.invalidSpec }
      : notWritten.length === 0
        ? { type: ConditionTypes.ManifestWorksWritten, status: "True", reason: "AllWritten", message: `${outcomes.length} ManifestWork(s) up to date` }
        : {
            type: ConditionTypes.ManifestWorksWritten,
            status: "False",
            reason: firstBlocked?.kind === "blocked" ? firstBlocked.reason : "ClustersPending",
            message: clusterLines(notWritten.map((o) => `${o.cluster}: ${o.message}`)),
          }),
  );
  const available = owned.filter((w) => isConditionTrue(w.status?.conditions, ManifestWorkConditions.Available)).length;
  conditions.push(
    condition(mcm, pc, now, numberDesired === 0
      ? { type: ConditionTypes.Available, status: "True", reason: "NoClusterSelected", message: "no ManagedCluster matches spec.selector" }
      : numberDegraded > 0
        ? { type: ConditionTypes.Available, status: "False", reason: "Degraded", message: `${numberDegraded} of ${numberDesired} ManifestWorks are degraded` }
        : available === numberDesired && notWritten.length === 0
          ? { type: ConditionTypes.Available, status: "True", reason: "AllAvailable", message: `available on all ${numberDesired} cluster(s)` }
          : { type: ConditionTypes.Available, status: "False", reason: "Progressing", message: `available on ${available} of ${numberDesired} cluster(s)` }),
  );

  const { listed, omitted } = fitDetail(clusters, input.detailBudgetBytes ?? CLUSTER_DETAIL_BUDGET_BYTES);
  return { numberDesired, numberApplied, numberDegraded, conditions, clusters: listed, ...(omitted > 0 ? { clustersNotListed: omitted } : {}) };
}

/** A status this hub wrote, as the API server stored it. */
export interface WrittenStatus {
  status: ManagedClusterModuleStatus;
  /** resourceVersion the API server answered the write with */
  resourceVersion: string;
  uid: string | undefined;
  /** when it was written (ms since the epoch) */
  at: number;
}

/** How long a status the hub wrote counts as newer than the cache's (watch events lag by far less). */
export const WRITTEN_STATUS_TRUST_MS = 30_000;

/**
 * The newest status known for an MCM: the one this hub last wrote while the cache has not shown it
 * yet (a reconcile triggered by its works' events often runs first), else the cache's. Building on
 * it carries transition times over, so an unchanged status is not written again. `keep` says
 * whether the record of the write is still needed.
 */
export function newestStatus(mcm: ManagedClusterModule, written: WrittenStatus | undefined, nowMs: number): { previous: ManagedClusterModuleStatus | undefined; keep: boolean } {
  if (written === undefined) return { previous: mcm.status, keep: false };
  const caughtUp = written.resourceVersion === mcm.metadata.resourceVersion;
  // Only for the same object (not one deleted and recreated under its name), and only for a while.
  const trusted = !caughtUp && written.uid === mcm.metadata.uid && nowMs - written.at <= WRITTEN_STATUS_TRUST_MS;
  return trusted ? { previous: written.status, keep: true } : { previous: mcm.status, keep: false };
}
