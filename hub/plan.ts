// The whole desired state of one ManagedClusterModule: clusters selected, kernels per cluster,
// mappings per kernel, then (once digests are known) the outcome per cluster. Pure.
import type { ManagedClusterModule } from "../shared/api/index.ts";
import type { ManagedClusterObject } from "../shared/ocm/index.ts";
import { clusterKernels, selectClusters, type ClusterKernels } from "./clusters.ts";
import { clusterOutcome, devicePluginImages, imagesToPin, planKernels, type ClusterOutcome, type ImageToPin, type KernelPlan, type PinMap } from "./manifestwork.ts";

export interface ClusterPlan {
  cluster: string;
  kernels: ClusterKernels;
  /** Empty while the cluster has no usable kernel claim. */
  plans: KernelPlan[];
}

/** Selected clusters (sorted) with their kernels resolved; throws KernelMappingError for an unusable MCM. */
export function planClusters(mcm: ManagedClusterModule, clusters: readonly ManagedClusterObject[]): ClusterPlan[] {
  return selectClusters(mcm.spec.selector, clusters).map((c) => {
    const kernels = clusterKernels(c);
    return { cluster: c.metadata.name ?? "", kernels, plans: kernels.ready ? planKernels(mcm, kernels.kernels) : [] };
  });
}

/** Every distinct tagged image the plans need pinned (kmod images, then device plugin images). */
export function planImages(mcm: ManagedClusterModule, plans: readonly ClusterPlan[]): ImageToPin[] {
  const seen = new Map<string, ImageToPin>();
  for (const img of imagesToPin(plans.flatMap((p) => p.plans))) seen.set(img.image, img);
  if (plans.length > 0) for (const img of devicePluginImages(mcm)) if (!seen.has(img.image)) seen.set(img.image, img);
  return [...seen.values()];
}

export function outcomes(mcm: ManagedClusterModule, plans: readonly ClusterPlan[], pins: PinMap): ClusterOutcome[] {
  return plans.map((p) =>
    p.kernels.ready || mcm.spec.moduleSpec.moduleLoader === undefined
      ? clusterOutcome(mcm, p.cluster, p.plans, pins)
      : { cluster: p.cluster, kind: "pending", message: p.kernels.reason, kernels: [] },
  );
}
