import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CLUSTER_CLAIM_VALUE_MAX_LENGTH,
  ClusterClaim,
  clusterClaim,
  ManagedCluster,
  ManagedClusterConditions,
  readClusterClaims,
} from "./managedcluster.ts";
import { isConditionTrue, OcmObjectInvalidError } from "./model.ts";

const KERNEL_CLAIM = "kernel-versions.kmm.node.kubernetes.io";

// A joined spoke as the registration controller reports it.
const spoke1: unknown = {
  apiVersion: "cluster.open-cluster-management.io/v1",
  kind: "ManagedCluster",
  metadata: { name: "spoke1", labels: { "wants-my-mcm": "true", "cluster.open-cluster-management.io/clusterset": "default" } },
  spec: { hubAcceptsClient: true, leaseDurationSeconds: 60, managedClusterClientConfigs: [{ url: "https://127.0.0.1:6443", caBundle: "LS0t" }] },
  status: {
    conditions: [
      { type: "HubAcceptedManagedCluster", status: "True", reason: "HubClusterAdminAccepted", message: "Accepted by hub cluster admin", lastTransitionTime: "2026-11-23T14:00:00Z" },
      { type: "ManagedClusterJoined", status: "True", reason: "ManagedClusterJoined", message: "Managed cluster joined", lastTransitionTime: "2026-11-23T14:00:02Z" },
      { type: "ManagedClusterConditionAvailable", status: "True", reason: "ManagedClusterAvailable", message: "Managed cluster is available", lastTransitionTime: "2026-11-23T14:00:03Z" },
    ],
    clusterClaims: [
      { name: "id.k8s.io", value: "spoke1" },
      { name: KERNEL_CLAIM, value: "5.14.0-70.el9.x86_64\n6.1.0-18-amd64" },
    ],
    capacity: { cpu: "4", memory: "16Gi", pods: 110 },
    allocatable: { cpu: "4", memory: "15Gi" },
    version: { kubernetes: "v1.34.4" },
  },
};

describe("ManagedCluster", () => {
  it("parses a joined cluster and reads its claims", () => {
    const mc = ManagedCluster.parse(spoke1);
    expect(isConditionTrue(mc.status?.conditions, ManagedClusterConditions.Available)).toBe(true);
    expect(readClusterClaims(mc)).toEqual(
      new Map([
        ["id.k8s.io", "spoke1"],
        [KERNEL_CLAIM, "5.14.0-70.el9.x86_64\n6.1.0-18-amd64"],
      ]),
    );
  });

  it("reads no claims from a cluster that has not reported status yet", () => {
    const mc = ManagedCluster.parse({ apiVersion: "cluster.open-cluster-management.io/v1", kind: "ManagedCluster", metadata: { name: "new" }, spec: { hubAcceptsClient: false } });
    expect(readClusterClaims(mc).size).toBe(0);
  });

  it("ignores nameless claims and keeps the last of a repeated name", () => {
    const mc = ManagedCluster.parse({
      apiVersion: "cluster.open-cluster-management.io/v1",
      kind: "ManagedCluster",
      metadata: { name: "c" },
      status: { clusterClaims: [{ value: "orphan" }, { name: "a", value: "1" }, { name: "a", value: "2" }, { name: "b" }] },
    });
    expect([...readClusterClaims(mc)]).toEqual([
      ["a", "2"],
      ["b", ""],
    ]);
  });

  it("reads back exactly the claims it was given (property)", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(fc.string({ minLength: 1 }), fc.string()), { selector: ([n]) => n }), (claims) => {
        const mc = ManagedCluster.parse({
          apiVersion: "cluster.open-cluster-management.io/v1",
          kind: "ManagedCluster",
          metadata: { name: "c" },
          status: { clusterClaims: claims.map(([name, value]) => ({ name, value })) },
        });
        expect(readClusterClaims(mc)).toEqual(new Map(claims));
      }),
    );
  });

  it("rejects a malformed cluster with a message naming the field", () => {
    const broken = structuredClone(spoke1) as { spec: { taints?: unknown } };
    broken.spec.taints = [{ key: "k", effect: "NoSchedule" }];
    expect(() => ManagedCluster.parse(broken)).toThrow(OcmObjectInvalidError);
    expect(() => ManagedCluster.parse(broken)).toThrow(/ManagedCluster spoke1 is not valid: spec\.taints\[0\]\.effect/);
    expect(() => ManagedCluster.parse({ ...(spoke1 as object), status: { clusterClaims: "x" } })).toThrow(/status\.clusterClaims/);
  });
});

describe("ClusterClaim", () => {
  it("builds a claim the schema accepts", () => {
    expect(clusterClaim(KERNEL_CLAIM, "6.1.0-18-amd64", { "app.kubernetes.io/managed-by": "kmm-spoke" })).toEqual({
      apiVersion: "cluster.open-cluster-management.io/v1alpha1",
      kind: "ClusterClaim",
      metadata: { name: KERNEL_CLAIM, labels: { "app.kubernetes.io/managed-by": "kmm-spoke" } },
      spec: { value: "6.1.0-18-amd64" },
    });
  });

  it("accepts a value of exactly the CRD limit and refuses one character more, or an empty one", () => {
    expect(clusterClaim("c", "x".repeat(CLUSTER_CLAIM_VALUE_MAX_LENGTH)).spec?.value).toHaveLength(1024);
    expect(() => clusterClaim("c", "x".repeat(CLUSTER_CLAIM_VALUE_MAX_LENGTH + 1))).toThrow(/ClusterClaim c is not valid: spec\.value/);
    expect(() => clusterClaim("c", "")).toThrow(/spec\.value/);
  });

  it("recognises claims by TypeMeta", () => {
    expect(ClusterClaim.is(clusterClaim("c", "v"))).toBe(true);
    expect(ClusterClaim.is(spoke1)).toBe(false);
  });
});
