// ManagedClusterModule status from the outcomes of a reconcile and the ManifestWorks in the cache.
import type { ClusterModuleStatus, Condition, ManagedClusterModule, ManagedClusterModuleStatus, ManifestWorkState } from "../shared/api/index.ts";
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

/** "moduleLoader 2/2 available on 2 matching nodes; devicePlugin …" from the spoke Module's counters. */
export function feedbackSummary(mcm: ManagedClusterModule, work: ManifestWorkObject): string | undefined {
  const values = feedbackValues(work, moduleIdentifier(mcm));
  const parts: string[] = [];
  for (const part of ["moduleLoader", "devicePlugin"]) {
    const avail = integerFeedback(values, `${part}.availableNumber`);
    const desired = integerFeedback(values, `${part}.desiredNumber`);
    const matching = integerFeedback(values, `${part}.nodesMatchingSelectorNumber`);
    if (avail === undefined && desired === undefined && matching === undefined) continue;
    parts.push(`${part} ${avail ?? 0}/${desired ?? 0} available on ${matching ?? 0} matching nodes`);
  }
  return parts.length === 0 ? undefined : parts.join("; ");
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
      const fb = existing ? feedbackSummary(mcm, existing) : undefined;
      if (fb !== undefined) message = message === "" ? fb : `${message}; ${fb}`;
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
        : { type: ConditionTypes.ImagesPinned, status: "False", reason: pinFailures[0]?.kind === "blocked" ? pinFailures[0].reason : "RegistryError", message: pinFailures.map((o) => `${o.cluster}: ${o.kind === "blocked" ? o.message : ""}`).join("\n") }),
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
            message: notWritten.map((o) => `${o.cluster}: ${o.message}`).join("\n"),
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

  return { numberDesired, numberApplied, numberDegraded, conditions, clusters };
}
