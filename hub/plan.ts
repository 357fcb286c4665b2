// The whole desired state of one ManagedClusterModule: clusters selected, kernels per cluster,
// mappings per kernel, then (once digests are known) the outcome per cluster. Pure. Whatever fails
// (a kernel mapping, an image reference, a builder) fails for that kernel or cluster only: it
// becomes that cluster's "blocked" outcome, and every other cluster goes on (issue 14).
import type { KernelImageStatus, ManagedClusterModule } from "../shared/api/index.ts";
import { KernelMappingError } from "../shared/kernel-mapping/index.ts";
import type { ManagedClusterObject } from "../shared/ocm/index.ts";
import { InvalidReferenceError, parseReference } from "../shared/registry/index.ts";
import { clusterKernels, kernelClaimValue, selectClusters, type ClusterKernels } from "./clusters.ts";
import {
  clusterOutcome,
  devicePluginImages,
  imagesToPin,
  planKernels,
  type BlockReason,
  type ClusterOutcome,
  type ImageToPin,
  type KernelPlan,
  type PinMap,
} from "./manifestwork.ts";

/** A kernel of a cluster that cannot be planned: no ManifestWork for its cluster until it is fixed. */
export interface KernelFailure {
  kernel: string;
  reason: BlockReason;
  message: string;
  /** The image the mapping resolved to, when it got that far. */
  image?: string;
}

export interface ClusterPlan {
  cluster: string;
  kernels: ClusterKernels;
  /** Kernels planned without trouble; empty while the cluster has no usable kernel claim. */
  plans: KernelPlan[];
  /** Kernels that failed (bad mapping, bad image reference); they block this cluster only. */
  failures?: KernelFailure[];
  /** The cluster as a whole could not be planned (a bug or an object we cannot read). */
  error?: { reason: BlockReason; message: string };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * One kernel: its mapping, and the image reference checked (a `${KERNEL_FULL_VERSION}` of
 * "6.1.0-18-AMD64" in the repository part makes a reference no registry accepts). `checked`
 * memoizes reference checks across the clusters of one MCM.
 */
function planKernel(mcm: ManagedClusterModule, kernel: string, checked: Map<string, string | undefined>): KernelPlan | KernelFailure {
  let plan: KernelPlan | undefined;
  try {
    plan = planKernels(mcm, [kernel])[0];
  } catch (err: unknown) {
    return { kernel, reason: err instanceof KernelMappingError ? "InvalidKernelMapping" : "PlanningFailed", message: messageOf(err) };
  }
  if (plan === undefined) return { kernel, reason: "PlanningFailed", message: `kernel ${kernel} could not be planned` };
  const image = plan.mapping?.containerImage;
  if (image === undefined) return plan;
  if (!checked.has(image)) {
    try {
      parseReference(image);
      checked.set(image, undefined);
    } catch (err: unknown) {
      checked.set(image, err instanceof InvalidReferenceError ? `kernel mapping ${plan.mapping?.mappingIndex ?? "?"} gives ${err.message}` : messageOf(err));
    }
  }
  const problem = checked.get(image);
  return problem === undefined ? plan : { kernel, reason: "InvalidReference", message: problem, image };
}

function isFailure(p: KernelPlan | KernelFailure): p is KernelFailure {
  return "reason" in p;
}

/**
 * What the clusters of one MCM share while they are planned: each kernel is planned once (clusters
 * running it share the plan: thousands of clusters, a handful of kernels, issue 16) and each image
 * reference is checked once.
 */
export interface PlanContext {
  byKernel: Map<string, KernelPlan | KernelFailure>;
  checked: Map<string, string | undefined>;
  /** The kernels, plans and failures of a kernel claim value, shared by the clusters reporting it. */
  byClaim: Map<string, Pick<ClusterPlan, "kernels" | "plans" | "failures">>;
}

export function newPlanContext(): PlanContext {
  return { byKernel: new Map(), checked: new Map(), byClaim: new Map() };
}

/** One selected cluster's plan. Never throws: a failure stays in the plan of its cluster. */
export function planCluster(mcm: ManagedClusterModule, c: ManagedClusterObject, ctx: PlanContext): ClusterPlan {
  const cluster = c.metadata.name ?? "";
  try {
    const claim = kernelClaimValue(c);
    const known = claim === undefined ? undefined : ctx.byClaim.get(claim);
    if (known !== undefined) return { cluster, ...known };
    const kernels = clusterKernels(c);
    const plans: KernelPlan[] = [];
    const failures: KernelFailure[] = [];
    if (kernels.ready) for (const k of kernels.kernels) {
      let p = ctx.byKernel.get(k);
      if (p === undefined) {
        p = planKernel(mcm, k, ctx.checked);
        ctx.byKernel.set(k, p);
      }
      if (isFailure(p)) failures.push(p);
      else plans.push(p);
    }
    // A claim that is not ready names its cluster in the reason: not shared.
    if (claim !== undefined && kernels.ready) ctx.byClaim.set(claim, { kernels, plans, failures });
    return { cluster, kernels, plans, failures };
  } catch (err: unknown) {
    return { cluster, kernels: { ready: false, reason: messageOf(err) }, plans: [], failures: [], error: { reason: "PlanningFailed", message: `cluster ${cluster} could not be planned: ${messageOf(err)}` } };
  }
}

/** Selected clusters (sorted) with their kernels resolved. Never throws: failures stay in the plan of their cluster. */
export function planClusters(mcm: ManagedClusterModule, clusters: readonly ManagedClusterObject[]): ClusterPlan[] {
  const ctx = newPlanContext();
  return selectClusters(mcm.spec.selector, clusters).map((c) => planCluster(mcm, c, ctx));
}

/** Every distinct tagged image the plans need pinned (kmod images, then device plugin images). Never throws. */
export function planImages(mcm: ManagedClusterModule, plans: readonly ClusterPlan[]): ImageToPin[] {
  return imagesOfKernelPlans(mcm, plans.map((p) => p.plans), plans.length > 0);
}

/**
 * The tagged images of some groups of kernel plans (kmod images first, in order of appearance),
 * then the device plugin images when `anySelected`. Never throws.
 */
export function imagesOfKernelPlans(mcm: ManagedClusterModule, groups: Iterable<readonly KernelPlan[]>, anySelected: boolean): ImageToPin[] {
  const seen = new Map<string, ImageToPin>();
  for (const g of groups) {
    try {
      for (const img of imagesToPin(g)) if (!seen.has(img.image)) seen.set(img.image, img);
    } catch {
      // Its cluster's outcome reports the same error (outcomes() runs the same builders).
    }
  }
  if (anySelected) {
    try {
      for (const img of devicePluginImages(mcm)) if (!seen.has(img.image)) seen.set(img.image, img);
    } catch {
      // As above: an invalid device plugin image blocks every cluster, each with the reason.
    }
  }
  return [...seen.values()];
}

function blocked(cluster: string, reason: BlockReason, message: string, kernels: KernelImageStatus[]): ClusterOutcome {
  return { cluster, kind: "blocked", reason, message, kernels };
}

function reasonOf(err: unknown): BlockReason {
  return err instanceof InvalidReferenceError ? "InvalidReference" : err instanceof KernelMappingError ? "InvalidKernelMapping" : "PlanningFailed";
}

/** The outcome of one cluster's plan given the digests known. Never throws. */
export function outcome(mcm: ManagedClusterModule, p: ClusterPlan, pins: PinMap): ClusterOutcome {
  if (p.error) return blocked(p.cluster, p.error.reason, p.error.message, []);
  if (!p.kernels.ready && mcm.spec.moduleSpec.moduleLoader !== undefined) return { cluster: p.cluster, kind: "pending", message: p.kernels.reason, kernels: [] };
  let built: ClusterOutcome;
  try {
    built = clusterOutcome(mcm, p.cluster, p.plans, pins);
  } catch (err: unknown) {
    built = blocked(p.cluster, reasonOf(err), `cluster ${p.cluster}: ${messageOf(err)}`, []);
  }
  const failures = p.failures ?? [];
  if (failures.length === 0) return built;
  // A kernel that failed keeps the whole cluster's work as it is: a work without that kernel would
  // unload the module there.
  const kernels: KernelImageStatus[] = [
    ...built.kernels,
    ...failures.map((f): KernelImageStatus => ({ kernelVersion: f.kernel, ...(f.image !== undefined ? { image: f.image } : {}), message: f.message })),
  ].sort((a, b) => a.kernelVersion.localeCompare(b.kernelVersion));
  const messages = failures.map((f) => `kernel ${f.kernel}: ${f.message}`);
  if (built.kind === "blocked") messages.push(built.message);
  return blocked(p.cluster, failures[0]!.reason, messages.join("; "), kernels);
}

export function outcomes(mcm: ManagedClusterModule, plans: readonly ClusterPlan[], pins: PinMap): ClusterOutcome[] {
  return plans.map((p) => outcome(mcm, p, pins));
}
