import { describe, expect, it } from "vitest";
import { SharedValues, cachedClusterSchema, cachedMcmSchema, cachedWorkSchema } from "./cache.ts";
import { kernelClaimValue } from "./clusters.ts";
import { KERNEL_VERSIONS_CLAIM } from "./names.ts";
import { clusterOutcome, planKernels } from "./manifestwork.ts";
import { DIGEST_A, DIGEST_B, testMcm } from "./testdata.ts";

const mcm = testMcm();
const pins = new Map([
  ["registry.example.com/kmm/kmm-ns-kmod:6.1.0-18-amd64", { digest: DIGEST_A }],
  ["registry.example.com/kmm/kmod:el9-5.14.0", { digest: DIGEST_B }],
]);

/** A ManifestWork as the API server sends it: a JSON copy, with managedFields and server fields. */
function fromServer(cluster: string, kernels: string[]): unknown {
  const o = clusterOutcome(mcm, cluster, planKernels(mcm, kernels), pins);
  if (o.kind !== "work") throw new Error("expected a work");
  const w = structuredClone(o.work);
  return {
    ...w,
    metadata: {
      ...w.metadata,
      uid: `uid-${cluster}`,
      resourceVersion: "42",
      managedFields: [{ manager: "kmm-hub", operation: "Apply", apiVersion: "work.open-cluster-management.io/v1", fieldsType: "FieldsV1", fieldsV1: { "f:spec": {} } }],
    },
  };
}

describe("the hub's ManifestWork cache", () => {
  it("keeps one frozen copy of the spec, labels and owners that clusters with the same kernels share", () => {
    const shared = new SharedValues();
    const schema = cachedWorkSchema(shared);
    const a = schema.parse(fromServer("a", ["6.1.0-18-amd64"]));
    const b = schema.parse(fromServer("b", ["6.1.0-18-amd64"]));
    const c = schema.parse(fromServer("c", ["6.1.0-18-amd64", "5.14.0-70.el9.x86_64"]));

    expect(a.spec).toBe(b.spec);
    expect(a.metadata.labels).toBe(b.metadata.labels);
    expect(a.metadata.ownerReferences).toBe(c.metadata.ownerReferences);
    expect(c.spec).not.toBe(a.spec);
    expect(c.spec).toEqual(structuredClone((fromServer("c", ["6.1.0-18-amd64", "5.14.0-70.el9.x86_64"]) as { spec: unknown }).spec));
    // What stays per object stays per object.
    expect([a.metadata.namespace, b.metadata.namespace, a.metadata.resourceVersion]).toEqual(["a", "b", "42"]);
    // What the reconciler never reads is not kept (50,000 works at 5,000 × 10).
    expect(a.metadata.managedFields).toBeUndefined();
    expect(a.metadata.uid).toBeUndefined();
    // A shared part cannot be changed through one object behind the others' backs.
    expect(Object.isFrozen(a.spec)).toBe(true);
    expect(() => {
      (a.spec!.workload!.manifests as unknown[]).push({});
    }).toThrow(TypeError);
    expect(b.spec?.workload?.manifests).toHaveLength(1);
  });

  it("keeps of a ManagedCluster its name, labels, deletion, version and kernel claim only", () => {
    const shared = new SharedValues();
    const fromServer = (name: string) => ({
      apiVersion: "cluster.open-cluster-management.io/v1",
      kind: "ManagedCluster",
      metadata: { name, uid: `uid-${name}`, resourceVersion: "7", labels: { env: "prod" }, deletionTimestamp: "2026-12-01T00:00:00Z", managedFields: [{ manager: "registration" }] },
      spec: { hubAcceptsClient: true },
      status: {
        conditions: [{ type: "ManagedClusterConditionAvailable", status: "True", reason: "R", message: "m", lastTransitionTime: "2026-12-01T00:00:00Z" }],
        clusterClaims: [{ name: "id.k8s.io", value: name }, { name: KERNEL_VERSIONS_CLAIM, value: "6.1.0-18-amd64" }],
        capacity: { cpu: "8" },
      },
    });
    const a = cachedClusterSchema(shared).parse(fromServer("a"));
    const b = cachedClusterSchema(shared).parse(fromServer("b"));
    expect(a).toEqual({
      apiVersion: "cluster.open-cluster-management.io/v1",
      kind: "ManagedCluster",
      metadata: { name: "a", resourceVersion: "7", labels: { env: "prod" }, deletionTimestamp: "2026-12-01T00:00:00Z" },
      status: { clusterClaims: [{ name: KERNEL_VERSIONS_CLAIM, value: "6.1.0-18-amd64" }] },
    });
    expect(a.metadata.labels).toBe(b.metadata.labels);
    expect(kernelClaimValue(a)).toBe("6.1.0-18-amd64");
  });

  it("shares only equal values", () => {
    const shared = new SharedValues();
    const x = shared.share({ a: [1, 2], b: "x" });
    expect(shared.share({ a: [1, 2], b: "x" })).toBe(x);
    expect(shared.share({ a: [1, 3], b: "x" })).not.toBe(x);
    expect(shared.share({ b: "x" })).toEqual({ b: "x" });
    expect(shared.size).toBe(3);
    expect(shared.share(undefined)).toBeUndefined();
    expect(shared.share("text")).toBe("text");
  });

  it("keeps the kernels and work state that clusters of cached MCM statuses have in common once, frozen", () => {
    const kernels = (digest: string) => [{ kernelVersion: "6.1.0-18-amd64", image: "registry.example.com/kmod:6.1.0-18-amd64", digest }];
    const work = { state: "Applied", message: "applied", lastTransitionTime: "2026-11-30T21:00:00Z" };
    const clusters = [
      { cluster: "a", manifestWork: { ...work }, kernels: kernels(DIGEST_A) },
      { cluster: "b", manifestWork: { ...work }, kernels: kernels(DIGEST_A) },
      { cluster: "c", manifestWork: { ...work, state: "Pending" }, kernels: kernels(DIGEST_B) },
    ];
    const stored = { ...structuredClone(mcm), metadata: { ...mcm.metadata, managedFields: [{ manager: "kmm-hub" }] }, status: { numberDesired: 3, clusters } };
    const fromServer = JSON.parse(JSON.stringify(stored)) as unknown;
    const cached = cachedMcmSchema.parse(fromServer);
    const [a, b, c] = cached.status?.clusters ?? [];

    expect(a?.kernels).toBe(b?.kernels);
    expect(a?.manifestWork).toBe(b?.manifestWork);
    expect(c?.kernels).not.toBe(a?.kernels);
    expect(c?.manifestWork).not.toBe(a?.manifestWork);
    // The status reads as it was written; only the sharing is new.
    expect(cached.status?.clusters).toEqual(clusters);
    expect(cached.metadata.managedFields).toBeUndefined();
    expect(Object.isFrozen(a?.kernels)).toBe(true);
    expect(() => {
      (a!.kernels as unknown[]).push({});
    }).toThrow(TypeError);
    // Another MCM's status shares the same parts.
    const other = cachedMcmSchema.parse(JSON.parse(JSON.stringify({ ...stored, metadata: { name: "other" } })) as unknown);
    expect(other.status?.clusters?.[0]?.kernels).toBe(a?.kernels);
  });
});
