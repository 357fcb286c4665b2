// ManagedClusterModule status from the outcomes of a reconcile and the ManifestWorks in the cache.
import type { ClusterModuleStatus, Condition, DaemonSetStatus, ManagedClusterModule, ManagedClusterModuleStatus, ManifestWorkState } from "../shared/api/index.ts";
import { nextCondition } from "../shared/api/conditions.ts";
import { ManifestWorkConditions, feedbackValues, integerFeedback, isConditionTrue, type ManifestWorkObject } from "../shared/ocm/index.ts";
import { moduleIdentifier, type ClusterOutcome, type PinFailureReason } from "./manifestwork.ts";
import { jsonEqual } from "./compare.ts";
import { summarize, type ClusterProblem } from "./summary.ts";

export const ConditionTypes = {
  /** Every tag of every selected cluster was resolved to a digest. */
  ImagesPinned: "ImagesPinned",
  /** Every selected cluster has its ManifestWork written as desired. */
  ManifestWorksWritten: "ManifestWorksWritten",
  /** Every desired ManifestWork is applied and available on its spoke. */
  Available: "Available",
} as const;

/** Characters of a work agent's message kept per resource (they can quote whole objects). */
const MAX_AGENT_MESSAGE = 300;

/**
 * What the work agent said about each manifest whose condition `type` is False ("namespaces
 * \"kmm\" not found"): the work's own condition only says "Failed to apply manifest work".
 * Source: OCM work agent, status.resourceStatus.manifests[].conditions.
 */
export function agentMessages(work: ManifestWorkObject, type: string): string[] {
  const out: string[] = [];
  for (const m of work.status?.resourceStatus?.manifests ?? []) {
    const c = m.conditions.find((x) => x.type === type && x.status === "False");
    if (c === undefined || c.message === "") continue;
    const meta = m.resourceMeta;
    const what = `${meta.kind ?? meta.resource ?? "resource"} ${meta.namespace !== undefined && meta.namespace !== "" ? `${meta.namespace}/` : ""}${meta.name ?? ""}`;
    const msg = c.message;
    out.push(`${what}: ${msg.length > MAX_AGENT_MESSAGE ? `${msg.slice(0, MAX_AGENT_MESSAGE - 1)}…` : msg}`);
  }
  return out;
}

/**
 * Why the work agent's report on this ManifestWork is stale, or undefined when it is current: its
 * conditions speak of an older generation than the ManifestWork's own (the agent is stopped, or
 * cut off from the hub, and has not applied the spec the hub last wrote). Source: OCM work agent,
 * status.conditions[].observedGeneration.
 */
export function staleReport(work: ManifestWorkObject): string | undefined {
  const generation = work.metadata.generation;
  const seen = (work.status?.conditions ?? []).flatMap((c) => (c.observedGeneration === undefined ? [] : [c.observedGeneration]));
  if (generation === undefined || seen.length === 0) return undefined;
  const last = Math.max(...seen);
  if (last >= generation) return undefined;
  return `stale: the work agent has not reported on generation ${generation} of the ManifestWork (its last report is about generation ${last}); the spoke may still run the previous one`;
}

/** The state a ManifestWork reports through the work agent's conditions, with the agent's own reasons. */
export function manifestWorkState(work: ManifestWorkObject): { state: ManifestWorkState; message: string } {
  const stale = staleReport(work);
  if (stale !== undefined) return { state: "Pending", message: stale };
  const conds = work.status?.conditions;
  const pick = (t: string) => conds?.find((c) => c.type === t);
  const withDetail = (message: string | undefined, type: string): string => {
    const detail = agentMessages(work, type);
    return detail.length === 0 ? (message ?? "") : `${message ?? ""}: ${detail.join("; ")}`;
  };
  if (isConditionTrue(conds, ManifestWorkConditions.Degraded)) return { state: "Degraded", message: pick(ManifestWorkConditions.Degraded)?.message ?? "" };
  if (isConditionTrue(conds, ManifestWorkConditions.Available)) return { state: "Available", message: pick(ManifestWorkConditions.Available)?.message ?? "" };
  if (isConditionTrue(conds, ManifestWorkConditions.Applied)) return { state: "Applied", message: withDetail(pick(ManifestWorkConditions.Applied)?.message, ManifestWorkConditions.Available) };
  const applied = pick(ManifestWorkConditions.Applied);
  return { state: "Pending", message: applied ? `not applied: ${withDetail(applied.message, ManifestWorkConditions.Applied)}` : "waiting for the work agent" };
}

/** A cluster whose ManifestWork the work agent could not apply, with the agent's reasons. */
export function applyFailure(work: ManifestWorkObject): string | undefined {
  const applied = work.status?.conditions?.find((c) => c.type === ManifestWorkConditions.Applied);
  if (applied === undefined || applied.status !== "False") return undefined;
  // A condition about an older spec is not about this one.
  if (applied.observedGeneration !== undefined && work.metadata.generation !== undefined && applied.observedGeneration !== work.metadata.generation) return undefined;
  const detail = agentMessages(work, ManifestWorkConditions.Applied);
  return detail.length > 0 ? detail.join("; ") : applied.message !== "" ? applied.message : applied.reason;
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
/** Block reasons that mean "no digest for an image" (the ImagesPinned condition). */
const PIN_FAILURES: ReadonlySet<string> = new Set<PinFailureReason>([
  "ImageNotFound",
  "RegistryUnreachable",
  "RegistryAuth",
  "RegistryError",
  "InvalidReference",
  "Building",
  "Signing",
  "BuildFailed",
  "SignFailed",
  "BuildInputInvalid",
  "BuildConflict",
]);

function fitDetail(parts: readonly ClusterPart[], budget: number): { listed: ClusterModuleStatus[]; omitted: number } {
  let total = 0;
  for (const p of parts) total += p.size;
  if (total <= budget) return { listed: parts.map((p) => p.entry), omitted: 0 };
  // By attention, then in cluster order: one pass into buckets (a sort of 5,000 parts per status build was its largest cost).
  const buckets: number[][] = Object.values(ATTENTION).map(() => []);
  parts.forEach((p, i) => buckets[ATTENTION[p.entry.manifestWork?.state ?? "Pending"]]!.push(i));
  const order = buckets.flat();
  const keep = new Set<number>();
  let used = 0;
  for (const i of order) {
    if (used + parts[i]!.size > budget) break;
    used += parts[i]!.size;
    keep.add(i);
  }
  const listed: ClusterModuleStatus[] = [];
  parts.forEach((p, i) => {
    if (keep.has(i)) listed.push(p.entry);
  });
  return { listed, omitted: parts.length - keep.size };
}


function condition(mcm: ManagedClusterModule, previous: readonly Condition[] | undefined, now: string, c: Omit<Condition, "lastTransitionTime" | "observedGeneration">): Condition {
  return nextCondition(previous, c, now, mcm.metadata.generation);
}

export interface StatusInput {
  mcm: ManagedClusterModule;
  outcomes: readonly ClusterOutcome[];
  /** Owned ManifestWorks by cluster (namespace), as the cache has them. */
  works: Pick<ReadonlyMap<string, ManifestWorkObject>, "get">;
  now: string;
  /** Bytes of per-cluster detail at most (tests use small budgets). */
  detailBudgetBytes?: number;
  /** Per-cluster parts of the last status built for this MCM (see StatusMemo). */
  memo?: StatusMemo;
}

/** One cluster's entry in status.clusters and what the MCM's counts and conditions take from it. */
interface ClusterPart {
  entry: ClusterModuleStatus;
  /** Bytes of the entry as JSON, plus a separator. */
  size: number;
  /** The work's report, when there is one and it is about the spec last written (not stale). */
  applied: boolean;
  degraded: boolean;
  available: boolean;
  /** The work agent could not apply the work: its words. */
  notApplied: string | undefined;
}

function clusterPart(mcm: ManagedClusterModule, o: ClusterOutcome, existing: ManifestWorkObject | undefined, old: ClusterModuleStatus["manifestWork"] | undefined, now: string): ClusterPart {
  let state: ManifestWorkState;
  let message: string;
  if (o.kind === "work") {
    ({ state, message } = existing ? manifestWorkState(existing) : { state: "Pending", message: "ManifestWork not written yet" });
  } else {
    state = o.kind === "blocked" ? "Blocked" : "Pending";
    message = o.message;
    if (existing) message += `; the ManifestWork already there stays as it is (${manifestWorkState(existing).state})`;
  }
  const entry: ClusterModuleStatus = {
    cluster: o.cluster,
    manifestWork: { state, message, lastTransitionTime: old?.state === state && old.lastTransitionTime !== undefined ? old.lastTransitionTime : now },
  };
  // The outcome's own list (clusters with equal kernels share one, see PlanMemory): never changed after.
  if (o.kernels.length > 0) entry.kernels = o.kernels;
  // A blocked cluster may still run the previous work: its counters stay meaningful.
  if (existing) Object.assign(entry, feedbackCounters(mcm, existing));
  // A stale report says nothing about the spec the hub last wrote.
  const current = existing !== undefined && staleReport(existing) === undefined;
  const conditions = existing?.status?.conditions;
  return {
    entry,
    size: JSON.stringify(entry).length + 1,
    applied: current && isConditionTrue(conditions, ManifestWorkConditions.Applied),
    degraded: current && isConditionTrue(conditions, ManifestWorkConditions.Degraded),
    available: current && isConditionTrue(conditions, ManifestWorkConditions.Available),
    notApplied: existing === undefined ? undefined : applyFailure(existing),
  };
}

interface RememberedPart {
  o: ClusterOutcome;
  work: ManifestWorkObject | undefined;
  /** The part's transition time came from the previous status (same state there), not from `now`. */
  fromPrevious: boolean;
  part: ClusterPart;
  /** The build that last used it. */
  build: number;
}

/** Whether a part of this state gets its transition time from the previous status's entry `old`. */
function takesTime(old: ClusterModuleStatus["manifestWork"] | undefined, state: ManifestWorkState): old is NonNullable<ClusterModuleStatus["manifestWork"]> & { lastTransitionTime: string } {
  return old?.state === state && old.lastTransitionTime !== undefined;
}

/** Equal entries and equal counts: a cluster's part that a new work object did not change. */
function samePart(a: ClusterPart, b: ClusterPart): boolean {
  return a.applied === b.applied && a.degraded === b.degraded && a.available === b.available && a.notApplied === b.notApplied && jsonEqual(a.entry, b.entry);
}

/**
 * The per-cluster parts of the last status built for one MCM. A part is made again only when its
 * cluster's outcome or ManifestWork is another object than last time, or the previous status
 * gives it another transition time: a reconcile after a change to one cluster of 5,000 remakes one
 * part (issue 16). A part whose state the previous status does not show yet (a status not written
 * yet, or a cluster not listed) keeps the time it was first made at.
 */
export class StatusMemo {
  private readonly parts = new Map<string, RememberedPart>();
  private builds = 0;
  /** The last status built with this memo and the previous status it was built on. */
  private last: { previous: ManagedClusterModuleStatus | undefined; built: ManagedClusterModuleStatus } | undefined;
  /** status.clusters of previous statuses by cluster, made once per status object. */
  private readonly byCluster = new WeakMap<ManagedClusterModuleStatus, Map<string, ClusterModuleStatus["manifestWork"]>>();

  /** The previous status's entry of each cluster. */
  previousEntries(previous: ManagedClusterModuleStatus | undefined): ReadonlyMap<string, ClusterModuleStatus["manifestWork"]> {
    if (previous === undefined) return new Map();
    let m = this.byCluster.get(previous);
    if (m === undefined) {
      m = new Map((previous.clusters ?? []).map((c) => [c.cluster, c.manifestWork]));
      this.byCluster.set(previous, m);
    }
    return m;
  }

  /**
   * The status built last, when building again would give it again: the previous status is the
   * one it was built on, or the status built last itself (as written and read back), and each of
   * `clusters` has the same outcome as then and a part equal to its last one (or still none). The
   * caller names every cluster whose outcome or work may have changed.
   */
  unchanged(mcm: ManagedClusterModule, previous: ManagedClusterModuleStatus | undefined, clusters: Iterable<{ cluster: string; outcome: ClusterOutcome | undefined; work: ManifestWorkObject | undefined }>, now: string): ManagedClusterModuleStatus | undefined {
    const last = this.last;
    if (last === undefined) return undefined;
    // A status once written comes back with the hub's other fields (imageRebuildTriggerGeneration).
    if (previous !== last.previous && (previous === undefined || !jsonEqual({ ...previous, imageRebuildTriggerGeneration: undefined }, last.built))) return undefined;
    const old = this.previousEntries(previous);
    const checked: { m: RememberedPart; work: ManifestWorkObject | undefined }[] = [];
    for (const c of clusters) {
      const m = this.parts.get(c.cluster);
      if (c.outcome === undefined) {
        if (m !== undefined) return undefined;
        continue;
      }
      if (m === undefined || m.o !== c.outcome) return undefined;
      if (m.work !== c.work) {
        if (!samePart(clusterPart(mcm, c.outcome, c.work, old.get(c.cluster), now), m.part)) return undefined;
        checked.push({ m, work: c.work });
      }
    }
    // Equal parts: remember the new work objects, so the next build finds them.
    for (const { m, work } of checked) m.work = work;
    this.last = { previous, built: last.built };
    return last.built;
  }

  /** The part of one cluster, remembered or made now. */
  part(mcm: ManagedClusterModule, o: ClusterOutcome, work: ManifestWorkObject | undefined, old: ClusterModuleStatus["manifestWork"] | undefined, now: string): ClusterPart {
    const m = this.parts.get(o.cluster);
    if (m !== undefined && m.o === o && m.work === work) {
      const mw = m.part.entry.manifestWork!;
      const fromPrevious = takesTime(old, mw.state);
      if (fromPrevious ? old.lastTransitionTime === mw.lastTransitionTime : !m.fromPrevious) {
        m.build = this.builds;
        return m.part;
      }
    }
    const part = clusterPart(mcm, o, work, old, now);
    this.parts.set(o.cluster, { o, work, fromPrevious: takesTime(old, part.entry.manifestWork!.state), part, build: this.builds });
    return part;
  }

  /** Starts a build. */
  begin(): void {
    this.builds++;
  }

  /** Ends a build: parts it did not use (clusters no longer selected) are forgotten. */
  end(previous: ManagedClusterModuleStatus | undefined, built: ManagedClusterModuleStatus): void {
    if (this.parts.size > (built.numberDesired ?? 0)) for (const [k, m] of this.parts) if (m.build !== this.builds) this.parts.delete(k);
    this.last = { previous, built };
  }
}

export function buildStatus(input: StatusInput): ManagedClusterModuleStatus {
  const { mcm, outcomes, works, now, memo } = input;
  const prev = mcm.status;
  const prevClusters = memo !== undefined ? memo.previousEntries(prev) : new Map((prev?.clusters ?? []).map((c) => [c.cluster, c.manifestWork]));

  memo?.begin();
  const parts: ClusterPart[] = outcomes.map((o) =>
    memo !== undefined ? memo.part(mcm, o, works.get(o.cluster), prevClusters.get(o.cluster), now) : clusterPart(mcm, o, works.get(o.cluster), prevClusters.get(o.cluster), now),
  );

  let numberApplied = 0;
  let numberDegraded = 0;
  let available = 0;
  for (const p of parts) {
    if (p.applied) numberApplied++;
    if (p.degraded) numberDegraded++;
    if (p.available) available++;
  }
  const numberDesired = outcomes.length;

  const conditions: Condition[] = [];
  const pc = prev?.conditions;
  const blockedOnes = outcomes.filter((o): o is Extract<ClusterOutcome, { kind: "blocked" }> => o.kind === "blocked");
  const pinFailures = blockedOnes.filter((o) => PIN_FAILURES.has(o.reason));
  conditions.push(
    condition(mcm, pc, now, pinFailures.length === 0
      ? { type: ConditionTypes.ImagesPinned, status: "True", reason: "AllImagesPinned", message: "every image is pinned to a digest" }
      : { type: ConditionTypes.ImagesPinned, status: "False", reason: pinFailures[0]!.reason, message: summarize(pinFailures) }),
  );
  const notWritten = outcomes.filter((o): o is Exclude<ClusterOutcome, { kind: "work" }> => o.kind !== "work");
  conditions.push(
    condition(mcm, pc, now, notWritten.length === 0
      ? { type: ConditionTypes.ManifestWorksWritten, status: "True", reason: "AllWritten", message: `${outcomes.length} ManifestWork(s) up to date` }
      : {
          type: ConditionTypes.ManifestWorksWritten,
          status: "False",
          reason: blockedOnes[0]?.reason ?? "ClustersPending",
          message: summarize(notWritten),
        }),
  );
  const notApplied: ClusterProblem[] = [];
  for (const p of parts) if (p.notApplied !== undefined) notApplied.push({ cluster: p.entry.cluster, message: p.notApplied });
  conditions.push(
    condition(mcm, pc, now, numberDesired === 0
      ? { type: ConditionTypes.Available, status: "True", reason: "NoClusterSelected", message: "no ManagedCluster matches spec.selector" }
      : numberDegraded > 0
        ? { type: ConditionTypes.Available, status: "False", reason: "Degraded", message: `${numberDegraded} of ${numberDesired} ManifestWorks are degraded` }
        : notApplied.length > 0
          ? { type: ConditionTypes.Available, status: "False", reason: "ManifestWorkNotApplied", message: `the work agent could not apply ${notApplied.length} of ${numberDesired} ManifestWork(s): ${summarize(notApplied)}` }
          : available === numberDesired && notWritten.length === 0
            ? { type: ConditionTypes.Available, status: "True", reason: "AllAvailable", message: `available on all ${numberDesired} cluster(s)` }
            : { type: ConditionTypes.Available, status: "False", reason: "Progressing", message: `available on ${available} of ${numberDesired} cluster(s)` }),
  );

  const { listed, omitted } = fitDetail(parts, input.detailBudgetBytes ?? CLUSTER_DETAIL_BUDGET_BYTES);
  const status = { numberDesired, numberApplied, numberDegraded, conditions, clusters: listed, ...(omitted > 0 ? { clustersNotListed: omitted } : {}) };
  memo?.end(prev, status);
  return status;
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

/**
 * The status of an MCM seen for the first time, written before its images are looked up and its
 * works written (minutes on a big fleet): it says the hub is at work on it.
 */
export function progressingStatus(mcm: ManagedClusterModule, selected: number, now: string): ManagedClusterModuleStatus {
  return {
    numberDesired: selected,
    numberApplied: 0,
    numberDegraded: 0,
    conditions: [
      condition(mcm, undefined, now, { type: ConditionTypes.Available, status: "False", reason: "Progressing", message: `the hub is working on ${selected} selected cluster(s)` }),
    ],
  };
}
