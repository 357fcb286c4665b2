// What the hub's informer caches keep of each object. A hub with 1,000 clusters and 10 MCMs caches
// 10,000 ManifestWorks, and most of each one is the same as its neighbours': the Module it carries
// differs per kernel set, not per cluster. Equal parts are kept once, frozen, and shared.
import { createHash } from "node:crypto";
import { managedClusterModuleSchema, type ManagedClusterModule, type ManagedClusterModuleStatus } from "../shared/api/index.ts";
import type { ObjectMeta } from "../shared/k8s/core.generated.ts";
import { managedClusterSchema, manifestWorkSchema, type ManagedClusterObject, type ManifestWorkObject } from "../shared/ocm/index.ts";
import { KERNEL_VERSIONS_CLAIM } from "./names.ts";

/**
 * managedFields are often the largest part of an object and the reconciler never reads them:
 * the caches keep objects without them.
 */
export function withoutManagedFields<T extends { metadata: { managedFields?: unknown } }>(o: T): T {
  if (o.metadata.managedFields === undefined) return o;
  const { managedFields: _dropped, ...metadata } = o.metadata;
  return { ...o, metadata };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * Hands out one frozen copy of structurally equal JSON values. Copies nobody holds any more are
 * forgotten (weak references), so the table only lists what some cached object still uses.
 * Equality is by the JSON text, keys in the order given: the API server writes them sorted, so
 * equal values from it always match; a miss only costs memory, never correctness.
 */
export class SharedValues {
  private readonly byDigest = new Map<string, WeakRef<object>>();
  private readonly forget = new FinalizationRegistry<string>((digest) => {
    if (this.byDigest.get(digest)?.deref() === undefined) this.byDigest.delete(digest);
  });

  share<T>(value: T): T {
    if (value === null || typeof value !== "object") return value;
    const digest = createHash("sha256").update(JSON.stringify(value)).digest("base64");
    const known = this.byDigest.get(digest)?.deref();
    if (known !== undefined) return known as T;
    deepFreeze(value);
    this.byDigest.set(digest, new WeakRef(value));
    this.forget.register(value, digest);
    return value;
  }

  /** Distinct values currently shared (tests, metrics). */
  get size(): number {
    return this.byDigest.size;
  }
}

/** Parts of MCM statuses that repeat from cluster to cluster, kept once (see sharedStatus). */
const statusParts = new SharedValues();

/**
 * `status` with each cluster's kernel list and ManifestWork state shared with every other cluster
 * (of any MCM) that has equal ones, frozen. A status lists up to 640 KiB of per-cluster detail,
 * ~3.7 MiB of heap per MCM as parsed; most clusters of a fleet run the same few kernel sets and
 * their works reached the same state in the same reconcile, so what is left per cluster is its
 * name and one small object (issue 16).
 */
export function sharedStatus(status: ManagedClusterModuleStatus): ManagedClusterModuleStatus {
  if (status.clusters === undefined) return status;
  const clusters = status.clusters.map((c) => ({
    ...c,
    ...(c.kernels !== undefined ? { kernels: statusParts.share(c.kernels) } : {}),
    ...(c.manifestWork !== undefined ? { manifestWork: statusParts.share(c.manifestWork) } : {}),
  }));
  return { ...status, clusters };
}

function cachedMcm(m: ManagedClusterModule): ManagedClusterModule {
  const out = withoutManagedFields(m);
  return out.status === undefined ? out : { ...out, status: sharedStatus(out.status) };
}

/** MCMs as the hub caches them: no managedFields, status parts shared (sharedStatus). */
export const cachedMcmSchema = managedClusterModuleSchema.transform(cachedMcm);

/** The metadata the reconciler reads of a cached ManifestWork or ManagedCluster; the rest is not kept. */
type KeptMeta = Pick<ObjectMeta, "name" | "namespace" | "labels" | "ownerReferences" | "deletionTimestamp" | "generation" | "resourceVersion">;

function keptMeta(m: ObjectMeta, shared: SharedValues): KeptMeta {
  const out: KeptMeta = {};
  if (m.name !== undefined) out.name = m.name;
  if (m.namespace !== undefined) out.namespace = m.namespace;
  if (m.labels !== undefined) out.labels = shared.share(m.labels);
  if (m.ownerReferences !== undefined) out.ownerReferences = shared.share(m.ownerReferences);
  if (m.deletionTimestamp !== undefined) out.deletionTimestamp = m.deletionTimestamp;
  if (m.generation !== undefined) out.generation = m.generation;
  if (m.resourceVersion !== undefined) out.resourceVersion = m.resourceVersion;
  return out;
}

/**
 * ManagedClusters as the hub caches them: name, labels (shared), deletion, version, and of the
 * status only the kernel claim (a real cluster reports a dozen claims, conditions, capacity).
 */
export function cachedClusterSchema(shared: SharedValues) {
  return managedClusterSchema.transform((c): ManagedClusterObject => {
    const claims = c.status?.clusterClaims?.filter((x) => x.name === KERNEL_VERSIONS_CLAIM);
    return { apiVersion: c.apiVersion, kind: c.kind, metadata: keptMeta(c.metadata, shared), ...(claims !== undefined ? { status: { clusterClaims: claims } } : {}) };
  });
}

/**
 * ManifestWorks as the hub caches them: the metadata the reconciler compares (labels, owners,
 * generation, deletion; not uid, timestamps, finalizers, managedFields), spec, labels and owners
 * shared, the work agent's status as it is. 50,000 works at 5,000 × 10 (issue 16).
 */
export function cachedWorkSchema(shared: SharedValues) {
  return manifestWorkSchema.transform((w): ManifestWorkObject => ({
    apiVersion: w.apiVersion,
    kind: w.kind,
    metadata: keptMeta(w.metadata, shared),
    ...(w.spec !== undefined ? { spec: shared.share(w.spec) } : {}),
    ...(w.status !== undefined ? { status: w.status } : {}),
  }));
}
