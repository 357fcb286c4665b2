// Names shared by the hub's builders, reconciler and CLI; values follow upstream KMM-Hub
// so that tools written for it (label selectors, claim readers) keep working.

/** Label on every ManifestWork the hub writes: the name of the ManagedClusterModule it comes from. */
export const MCM_NAME_LABEL = "kmm.node.kubernetes.io/managedclustermodule.name";

/** ClusterClaim (copied by OCM into ManagedCluster.status.clusterClaims) listing a spoke's kernels. */
export const KERNEL_VERSIONS_CLAIM = "kernel-versions.kmm.node.kubernetes.io";

/** Field manager of every server-side apply the hub sends. */
export const FIELD_MANAGER = "kmm-hub";

/** Component name on the Events the hub records. */
export const EVENT_SOURCE = "kmm-hub";

/** OCM's hub webhook refuses ManifestWorks whose manifests exceed this; a bare API server does not. */
export const MAX_MANIFESTWORK_BYTES = 500 * 1024;

/** AppliedManifestWork names are `<64-char hub hash>-<work name>` and must stay within 253 characters. */
export const MAX_MANIFESTWORK_NAME_LENGTH = 188;

export function manifestWorkPath(namespace: string, name: string): string {
  return `/apis/work.open-cluster-management.io/v1/namespaces/${encodeURIComponent(namespace)}/manifestworks/${encodeURIComponent(name)}`;
}

export function mcmStatusPath(name: string): string {
  return `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${encodeURIComponent(name)}/status`;
}
