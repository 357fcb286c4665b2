import { describe, expect, it } from "vitest";
import { ManifestWork } from "../shared/ocm/index.ts";
import { outcomes, planClusters } from "./plan.ts";
import { repins, warnings } from "./report.ts";
import { DIGEST_A, DIGEST_B, testCluster, testMcm } from "./testdata.ts";

const mcm = testMcm({
  moduleSpec: { selector: {}, moduleLoader: { container: { modprobe: { moduleName: "kmod" }, kernelMappings: [{ regexp: "^6\\.", containerImage: "r.example.com/kmm/${KERNEL_FULL_VERSION}:v1" }] } } },
});

describe("the Events of one reconcile", () => {
  it("groups clusters by reason: one Event each for invalid references, registry failures and kernels without a mapping", () => {
    const clusters = [
      ...Array.from({ length: 50 }, (_, i) => testCluster(`up-${i}`, { "wants-kmod": "true" }, "6.1.0-18-AMD64")),
      ...Array.from({ length: 50 }, (_, i) => testCluster(`down-${i}`, { "wants-kmod": "true" }, "6.1.0-18-amd64")),
      testCluster("five", { "wants-kmod": "true" }, "5.14.0"),
    ];
    const plans = planClusters(mcm, clusters);
    const outs = outcomes(mcm, plans, new Map([["r.example.com/kmm/6.1.0-18-amd64:v1", { error: "registry unreachable (image r.example.com/kmm/6.1.0-18-amd64:v1, registry r.example.com)", reason: "RegistryUnreachable" as const }]]));
    const evs = warnings(plans, outs, new Map());
    expect(evs.map((e) => [e.reason, e.problems.length])).toEqual([["RegistryError", 50], ["InvalidImageReference", 50], ["NoKernelMapping", 1]]);
  });

  it("names the kernels whose digest changed, and only those", () => {
    const work = (d1: string, d2: string) =>
      ManifestWork.parse({
        apiVersion: "work.open-cluster-management.io/v1",
        kind: "ManifestWork",
        metadata: { name: "kmod", namespace: "c1" },
        spec: { workload: { manifests: [{ apiVersion: "kmm.sigs.x-k8s.io/v1beta1", kind: "Module", metadata: { name: "kmod" }, spec: { moduleLoader: { container: { kernelMappings: [{ literal: "k1", containerImage: `r/x@${d1}` }, { literal: "k2", containerImage: `r/x@${d2}` }] } } } }] } },
      });
    expect(repins("c1", work(DIGEST_A, DIGEST_A), work(DIGEST_A, DIGEST_B))).toEqual([{ cluster: "c1", message: `kernel k2: image re-pinned from ${DIGEST_A} to ${DIGEST_B} (the tag moved)` }]);
    expect(repins("c1", undefined, work(DIGEST_A, DIGEST_B))).toEqual([]);
  });
});
