import { describe, expect, it } from "vitest";
import { ManifestWork, type ManifestWorkObject } from "../shared/ocm/index.ts";
import { jsonEqual, jsonSubset } from "./compare.ts";
import { clusterOutcome, planKernels, type ClusterOutcome } from "./manifestwork.ts";
import { buildStatus, feedbackSummary, manifestWorkState } from "./status.ts";
import { DIGEST_A, DIGEST_B, testMcm } from "./testdata.ts";

const mcm = testMcm();
const T0 = "2026-11-23T10:00:00Z";
const T1 = "2026-11-23T11:00:00Z";
const pins = new Map([
  ["registry.example.com/kmm/kmm-ns-kmod:6.1.0-18-amd64", { digest: DIGEST_A }],
  ["registry.example.com/kmm/kmod:el9-5.14.0", { digest: DIGEST_B }],
]);

function workFor(cluster: string): ClusterOutcome {
  return clusterOutcome(mcm, cluster, planKernels(mcm, ["6.1.0-18-amd64"]), pins);
}

function observed(cluster: string, conds: Record<string, "True" | "False">, feedback: Record<string, number> = {}): ManifestWorkObject {
  const o = workFor(cluster);
  if (o.kind !== "work") throw new Error("expected a work");
  return ManifestWork.parse({
    ...o.work,
    status: {
      conditions: Object.entries(conds).map(([type, status]) => ({ type, status, reason: "R", message: `${type} is ${status}`, lastTransitionTime: T0 })),
      resourceStatus: {
        manifests: [
          {
            resourceMeta: { ordinal: 0, group: "kmm.sigs.x-k8s.io", version: "v1beta1", kind: "Module", resource: "modules", name: "kmod", namespace: "kmm-ns" },
            statusFeedback: { values: Object.entries(feedback).map(([name, integer]) => ({ name, fieldValue: { type: "Integer", integer } })) },
            conditions: [],
          },
        ],
      },
    },
  });
}

describe("status aggregation", () => {
  it("counts desired, applied and degraded from the ManifestWorks' conditions", () => {
    const outs = [workFor("a"), workFor("b"), workFor("c"), { cluster: "d", kind: "pending", message: "no claim", kernels: [] } as ClusterOutcome];
    const works = new Map([
      ["a", observed("a", { Applied: "True", Available: "True" })],
      ["b", observed("b", { Applied: "True", Degraded: "True" })],
      ["c", observed("c", { Applied: "False" })],
    ]);
    const s = buildStatus({ mcm, outcomes: outs, works, now: T0 });
    expect([s.numberDesired, s.numberApplied, s.numberDegraded]).toEqual([4, 2, 1]);
    expect(s.clusters?.map((c) => [c.cluster, c.manifestWork?.state])).toEqual([
      ["a", "Available"],
      ["b", "Degraded"],
      ["c", "Pending"],
      ["d", "Pending"],
    ]);
    expect(s.clusters?.[0]?.kernels).toEqual([{ kernelVersion: "6.1.0-18-amd64", image: "registry.example.com/kmm/kmm-ns-kmod:6.1.0-18-amd64", digest: DIGEST_A }]);
    const avail = s.conditions?.find((c) => c.type === "Available");
    expect(avail).toMatchObject({ status: "False", reason: "Degraded", observedGeneration: 3 });
    expect(s.conditions?.find((c) => c.type === "ManifestWorksWritten")).toMatchObject({ status: "False", reason: "ClustersPending" });
  });

  it("reports the spoke Module's counters brought back by the feedback rules", () => {
    const w = observed("a", { Applied: "True", Available: "True" }, { "moduleLoader.availableNumber": 2, "moduleLoader.desiredNumber": 3, "moduleLoader.nodesMatchingSelectorNumber": 3 });
    expect(feedbackSummary(mcm, w)).toBe("moduleLoader 2/3 available on 3 matching nodes");
    const s = buildStatus({ mcm, outcomes: [workFor("a")], works: new Map([["a", w]]), now: T0 });
    expect(s.clusters?.[0]?.manifestWork?.message).toContain("moduleLoader 2/3 available on 3 matching nodes");
    expect(manifestWorkState(observed("a", {})).state).toBe("Pending");
  });

  it("shows a registry failure as ImagesPinned=False and keeps the existing work visible", () => {
    const blocked: ClusterOutcome = { cluster: "a", kind: "blocked", reason: "RegistryUnreachable", message: "registry unreachable: connect ECONNREFUSED", kernels: [] };
    const s = buildStatus({ mcm, outcomes: [blocked], works: new Map([["a", observed("a", { Applied: "True", Available: "True" })]]), now: T0 });
    expect(s.conditions?.find((c) => c.type === "ImagesPinned")).toMatchObject({ status: "False", reason: "RegistryUnreachable" });
    expect(s.clusters?.[0]?.manifestWork).toMatchObject({ state: "Blocked" });
    expect(s.clusters?.[0]?.manifestWork?.message).toContain("stays as it is (Available)");
    expect(s.numberApplied).toBe(1);
  });

  it("keeps lastTransitionTime while a condition or state does not change, so an idle hub writes nothing", () => {
    const works = new Map([["a", observed("a", { Applied: "True", Available: "True" })]]);
    const first = buildStatus({ mcm, outcomes: [workFor("a")], works, now: T0 });
    const again = buildStatus({ mcm: { ...mcm, status: first }, outcomes: [workFor("a")], works, now: T1 });
    expect(jsonEqual(first, again)).toBe(true);
    const changed = buildStatus({ mcm: { ...mcm, status: first }, outcomes: [workFor("a")], works: new Map([["a", observed("a", { Applied: "True", Degraded: "True" })]]), now: T1 });
    expect(changed.conditions?.find((c) => c.type === "Available")?.lastTransitionTime).toBe(T1);
    expect(changed.conditions?.find((c) => c.type === "ImagesPinned")?.lastTransitionTime).toBe(T0);
    expect(changed.clusters?.[0]?.manifestWork?.lastTransitionTime).toBe(T1);
  });

  it("is Available with no cluster selected", () => {
    const s = buildStatus({ mcm, outcomes: [], works: new Map(), now: T0 });
    expect(s.conditions?.find((c) => c.type === "Available")).toMatchObject({ status: "True", reason: "NoClusterSelected" });
  });
});

describe("change detection", () => {
  it("compares JSON regardless of key order and undefined fields", () => {
    expect(jsonEqual({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1, d: undefined })).toBe(true);
    expect(jsonEqual({ a: 1 }, { a: 2 })).toBe(false);
    expect(jsonEqual([1, 2], [2, 1])).toBe(false);
  });

  it("accepts fields added by the server but not missing or changed ones", () => {
    expect(jsonSubset({ a: { b: 1 }, l: [{ x: 1 }] }, { a: { b: 1, defaulted: true }, l: [{ x: 1, y: 2 }] })).toBe(true);
    expect(jsonSubset({ a: { b: 1 } }, { a: { b: 2 } })).toBe(false);
    expect(jsonSubset({ l: [1, 2] }, { l: [1] })).toBe(false);
    expect(jsonSubset({ a: 1 }, {})).toBe(false);
  });
});
