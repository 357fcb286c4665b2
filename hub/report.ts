// Which Events one reconcile of an MCM records: one per reason, each naming a few clusters and how
// many more (hub/events.ts turns repeats into a series). Pure: the reconciler records what this returns.
import type { ManifestWorkObject } from "../shared/ocm/index.ts";
import { EventReasons } from "./events.ts";
import type { BlockReason, ClusterOutcome } from "./manifestwork.ts";
import type { ClusterPlan } from "./plan.ts";
import { applyFailure } from "./status.ts";
import type { ClusterProblem } from "./summary.ts";

export interface EventToRecord {
  type: "Normal" | "Warning";
  reason: string;
  problems: ClusterProblem[];
}

/**
 * The Event reason for a cluster that got no (new) ManifestWork; undefined when the build and sign
 * step records its own Events (BuildCreated, BuildFailed, SignFailed, …) for it.
 */
export function eventReason(reason: BlockReason): string | undefined {
  switch (reason) {
    case "Building":
    case "Signing":
    case "BuildFailed":
    case "SignFailed":
      return undefined;
    case "BuildInputInvalid":
      return EventReasons.BuildInputInvalid;
    case "BuildConflict":
      return EventReasons.BuildConflict;
    case "ImageNotFound":
    case "RegistryUnreachable":
    case "RegistryAuth":
    case "RegistryError":
      return EventReasons.RegistryError;
    case "InvalidReference":
      return EventReasons.InvalidImageReference;
    case "InvalidKernelMapping":
      return EventReasons.InvalidKernelMapping;
    case "ManifestWorkTooLarge":
    case "ManifestWorkNameTooLong":
    case "ManifestWorkNameInvalid":
    case "TooManyKernels":
    case "ManifestWorkRefused":
      return EventReasons.ManifestWorkRefused;
    case "PlanningFailed":
    case "WriteFailed":
      return EventReasons.ReconcileFailed;
  }
}

function add(out: Map<string, EventToRecord>, type: "Normal" | "Warning", reason: string, p: ClusterProblem): void {
  const e = out.get(reason);
  if (e) e.problems.push(p);
  else out.set(reason, { type, reason, problems: [p] });
}

/**
 * Warnings of one reconcile: blocked clusters by reason, kernels no mapping serves, works the
 * agent could not apply (with the agent's message). `works` are the MCM's works by cluster.
 */
export function warnings(plans: readonly ClusterPlan[], outcomes: readonly ClusterOutcome[], works: ReadonlyMap<string, ManifestWorkObject>): EventToRecord[] {
  const out = new Map<string, EventToRecord>();
  for (const o of outcomes) {
    const reason = o.kind === "blocked" ? eventReason(o.reason) : undefined;
    if (o.kind === "blocked" && reason !== undefined) add(out, "Warning", reason, { cluster: o.cluster, message: o.message });
  }
  for (const p of plans) {
    const skipped = p.plans.filter((k) => k.mapping === undefined);
    if (skipped.length > 0) add(out, "Warning", EventReasons.NoKernelMapping, { cluster: p.cluster, message: skipped.map((k) => k.skipped ?? `no kernel mapping serves ${k.kernel}`).join("; ") });
  }
  for (const o of outcomes) {
    const w = works.get(o.cluster);
    const why = w === undefined ? undefined : applyFailure(w);
    if (why !== undefined) add(out, "Warning", EventReasons.ManifestWorkNotApplied, { cluster: o.cluster, message: `the work agent could not apply ManifestWork ${o.cluster}/${w?.metadata.name ?? ""}: ${why}` });
  }
  return [...out.values()];
}

/** Tagged image → digest per literal kernel, as written in a ManifestWork's Module. */
export function pinnedByKernel(work: ManifestWorkObject | undefined): Map<string, string> {
  const out = new Map<string, string>();
  const module = work?.spec?.workload?.manifests?.[0] as { spec?: { moduleLoader?: { container?: { kernelMappings?: unknown } } } } | undefined;
  const mappings = module?.spec?.moduleLoader?.container?.kernelMappings;
  if (!Array.isArray(mappings)) return out;
  for (const m of mappings as { literal?: unknown; containerImage?: unknown }[]) {
    if (typeof m.literal === "string" && typeof m.containerImage === "string") {
      const at = m.containerImage.indexOf("@");
      if (at > 0) out.set(m.literal, m.containerImage.slice(at + 1));
    }
  }
  return out;
}

/** Kernels whose digest changed between two versions of a cluster's work ("the tag moved"). */
export function repins(cluster: string, before: ManifestWorkObject | undefined, after: ManifestWorkObject): ClusterProblem[] {
  if (!before) return [];
  const old = pinnedByKernel(before);
  const out: ClusterProblem[] = [];
  for (const [kernel, digest] of pinnedByKernel(after)) {
    const was = old.get(kernel);
    if (was !== undefined && was !== digest) out.push({ cluster, message: `kernel ${kernel}: image re-pinned from ${was} to ${digest} (the tag moved)` });
  }
  return out;
}
