// Which ManagedClusters a ManagedClusterModule goes to, and which kernels each one runs.
import type { ManagedClusterObject } from "../shared/ocm/index.ts";
import { readClusterClaims } from "../shared/ocm/index.ts";
import { selectorMatches } from "../shared/kube/labels.ts";
import { KERNEL_VERSIONS_CLAIM } from "./names.ts";

export { selectorMatches };

/** Whether a selector picks this cluster (a cluster being deleted is picked by none). */
export function isSelected(selector: Readonly<Record<string, string>>, cluster: ManagedClusterObject): boolean {
  return cluster.metadata.deletionTimestamp === undefined && selectorMatches(selector, cluster.metadata.labels);
}

/** The order of clusters in plans, ManifestWork lists and status. */
export function compareClusterNames(a: string, b: string): number {
  return a.localeCompare(b);
}

/** The clusters a selector picks, sorted by name so every output built from them is stable. */
export function selectClusters(
  selector: Readonly<Record<string, string>>,
  clusters: readonly ManagedClusterObject[],
): ManagedClusterObject[] {
  return clusters.filter((c) => isSelected(selector, c)).sort((a, b) => compareClusterNames(a.metadata.name ?? "", b.metadata.name ?? ""));
}

export type ClusterKernels =
  | { ready: true; kernels: string[] }
  /** No usable claim yet: the cluster waits (shown in status), it is not an error to retry. */
  | { ready: false; reason: string };

/**
 * Kernels from the `kernel-versions.kmm.node.kubernetes.io` claim: one per line, blank lines and
 * surrounding spaces ignored, de-duplicated and sorted. Kernels are kept exactly as reported
 * (no trailing "+" trimming): the spoke matches the literal mappings against the nodes' own strings.
 */
export function clusterKernels(cluster: ManagedClusterObject): ClusterKernels {
  const name = cluster.metadata.name ?? "<unnamed>";
  const value = readClusterClaims(cluster).get(KERNEL_VERSIONS_CLAIM);
  if (value === undefined) {
    return {
      ready: false,
      reason: `ManagedCluster ${name} reports no ${KERNEL_VERSIONS_CLAIM} claim yet; it appears once the KMM spoke edition runs there`,
    };
  }
  const kernels = [...new Set(value.split("\n").map((k) => k.trim()).filter((k) => k !== ""))].sort();
  if (kernels.length === 0) {
    return { ready: false, reason: `the ${KERNEL_VERSIONS_CLAIM} claim of ManagedCluster ${name} lists no kernel (no node reported one)` };
  }
  return { ready: true, kernels };
}

/** The kernel claim's value, or undefined (used to notice claim changes). */
export function kernelClaimValue(cluster: ManagedClusterObject | undefined): string | undefined {
  return cluster === undefined ? undefined : readClusterClaims(cluster).get(KERNEL_VERSIONS_CLAIM);
}
