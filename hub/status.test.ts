import { describe, expect, it } from "vitest";
import { managedClusterModuleStatusSchema } from "../shared/api/index.ts";
import { ManifestWork, type ManifestWorkObject } from "../shared/ocm/index.ts";
import { jsonEqual, jsonSubset } from "./compare.ts";
import { clusterOutcome, planKernels, type ClusterOutcome } from "./manifestwork.ts";
import { WRITTEN_STATUS_TRUST_MS, applyFailure, buildStatus, feedbackCounters, manifestWorkState, newestStatus, staleReport } from "./status.ts";
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
    const w = observed("a", { Applied: "True", Available: "True" }, { "moduleLoader.availableNumber": 2, "moduleLoader.desiredNumber": 3, "moduleLoader.nodesMatchingSelectorNumber": 3, "devicePlugin.desiredNumber": 0 });
    expect(feedbackCounters(mcm, w)).toEqual({ moduleLoader: { availableNumber: 2, desiredNumber: 3, nodesMatchingSelectorNumber: 3 }, devicePlugin: { desiredNumber: 0 } });
    const s = buildStatus({ mcm, outcomes: [workFor("a")], works: new Map([["a", w]]), now: T0 });
    expect(s.clusters?.[0]).toMatchObject({ moduleLoader: { availableNumber: 2, desiredNumber: 3, nodesMatchingSelectorNumber: 3 }, devicePlugin: { desiredNumber: 0 } });
    // The typed status validates against the schema the CRD is generated from.
    expect(managedClusterModuleStatusSchema.safeParse(s).success).toBe(true);
    expect(feedbackCounters(mcm, observed("a", { Applied: "True" }))).toEqual({});
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

  it("keeps per-cluster detail within its byte budget, clusters needing attention first, and counts every cluster", () => {
    const names = Array.from({ length: 40 }, (_, i) => `c${String(i).padStart(2, "0")}`);
    const works = new Map(names.map((n, i) => [n, observed(n, i % 10 === 3 ? { Applied: "True", Degraded: "True" } : { Applied: "True", Available: "True" })]));
    const pending: ClusterOutcome = { cluster: "z-pending", kind: "pending", message: "no claim", kernels: [] };
    const outcomes = [...names.map(workFor), pending];
    const whole = buildStatus({ mcm, outcomes, works, now: T0 });
    expect(whole.clusters).toHaveLength(41);
    expect(whole.clustersNotListed).toBeUndefined();

    const oneEntry = JSON.stringify(whole.clusters?.[0]).length + 1;
    const s = buildStatus({ mcm, outcomes, works, now: T0, detailBudgetBytes: oneEntry * 8 });
    const listed = s.clusters ?? [];
    expect(listed.reduce((n, c) => n + JSON.stringify(c).length + 1, 0)).toBeLessThanOrEqual(oneEntry * 8);
    expect(listed.length + (s.clustersNotListed ?? 0)).toBe(41);
    // The 4 degraded and the pending cluster come first, then the healthy ones in order.
    expect(listed.filter((c) => c.manifestWork?.state !== "Available").map((c) => c.cluster)).toEqual(["c03", "c13", "c23", "c33", "z-pending"]);
    const healthy = listed.filter((c) => c.manifestWork?.state === "Available").map((c) => c.cluster);
    expect(healthy.length).toBeGreaterThanOrEqual(2);
    expect(healthy).toEqual(names.filter((n) => !n.endsWith("3")).slice(0, healthy.length));
    expect([s.numberDesired, s.numberApplied, s.numberDegraded]).toEqual([41, 40, 4]);
    expect(managedClusterModuleStatusSchema.safeParse(s).success).toBe(true);
  });

  it("keeps condition messages short: a few clusters named per problem and how many more", () => {
    const long = `registry unreachable: ${"x".repeat(2000)}`;
    const outcomes: ClusterOutcome[] = Array.from({ length: 1000 }, (_, i) => ({ cluster: `c${String(i).padStart(4, "0")}`, kind: "blocked", reason: "RegistryUnreachable", message: i % 2 === 0 ? long : "image a:b does not exist", kernels: [] }));
    const s = buildStatus({ mcm, outcomes, works: new Map(), now: T0 });
    for (const c of s.conditions ?? []) expect(c.message.length).toBeLessThanOrEqual(1000);
    const msg = s.conditions?.find((c) => c.type === "ManifestWorksWritten")?.message ?? "";
    expect(msg).toContain("(clusters c0000, c0002, c0004 and 497 more)");
    expect(msg).toContain("image a:b does not exist (clusters c0001, c0003, c0005 and 497 more)");
    expect(msg).not.toContain("c0006");
    // The detail is per cluster, in status.clusters.
    expect(s.clusters?.find((c) => c.cluster === "c0006")?.manifestWork?.message).toBe(long);
  });

  it("brings the work agent's own reason for not applying into the cluster's entry and the Available condition", () => {
    const o = workFor("spoke1");
    if (o.kind !== "work") throw new Error("expected a work");
    const work = ManifestWork.parse({
      ...o.work,
      metadata: { ...o.work.metadata, generation: 1 },
      status: {
        conditions: [{ type: "Applied", status: "False", reason: "AppliedManifestWorkFailed", message: "Failed to apply manifest work", lastTransitionTime: T0, observedGeneration: 1 }],
        resourceStatus: {
          manifests: [{
            resourceMeta: { ordinal: 0, group: "kmm.sigs.x-k8s.io", version: "v1beta1", kind: "Module", resource: "modules", name: "kmod", namespace: "kmm-ns" },
            conditions: [{ type: "Applied", status: "False", reason: "AppliedManifestFailed", message: 'namespaces "kmm-ns" not found', lastTransitionTime: T0 }],
          }],
        },
      },
    });
    expect(applyFailure(work)).toBe('Module kmm-ns/kmod: namespaces "kmm-ns" not found');
    const s = buildStatus({ mcm, outcomes: [o], works: new Map([["spoke1", work]]), now: T0 });
    expect(s.clusters?.[0]?.manifestWork).toMatchObject({ state: "Pending", message: 'not applied: Failed to apply manifest work: Module kmm-ns/kmod: namespaces "kmm-ns" not found' });
    expect(s.conditions?.find((c) => c.type === "Available")).toMatchObject({ status: "False", reason: "ManifestWorkNotApplied" });
    expect(s.conditions?.find((c) => c.type === "Available")?.message).toContain('namespaces "kmm-ns" not found (cluster spoke1)');
  });

  it("shows a cluster whose work agent has not reported on the ManifestWork's generation as stale (Pending), not as Available", () => {
    const fresh = observed("c1", { Applied: "True", Available: "True" });
    const atGeneration = (w: ManifestWorkObject, generation: number, observedGeneration: number): ManifestWorkObject => ({
      ...w,
      metadata: { ...w.metadata, generation },
      status: { ...w.status, conditions: (w.status?.conditions ?? []).map((c) => ({ ...c, observedGeneration })) },
    });
    const current = atGeneration(fresh, 3, 3);
    const stale = atGeneration(fresh, 4, 3);
    expect(staleReport(current)).toBeUndefined();
    expect(staleReport(fresh)).toBeUndefined();
    expect(staleReport(stale)).toMatch(/^stale: the work agent has not reported on generation 4 .* about generation 3/);
    expect(manifestWorkState(stale)).toEqual({ state: "Pending", message: staleReport(stale) });
    const status = buildStatus({ mcm, outcomes: [workFor("c1"), workFor("c2")], works: new Map([["c1", current], ["c2", stale]]), now: T1 });
    expect(status.numberApplied).toBe(1);
    expect(status.clusters?.find((c) => c.cluster === "c2")?.manifestWork?.state).toBe("Pending");
    expect(status.conditions?.find((c) => c.type === "Available")).toMatchObject({ status: "False", reason: "Progressing", message: "available on 1 of 2 cluster(s)" });
  });

  it("is Available with no cluster selected", () => {
    const s = buildStatus({ mcm, outcomes: [], works: new Map(), now: T0 });
    expect(s.conditions?.find((c) => c.type === "Available")).toMatchObject({ status: "True", reason: "NoClusterSelected" });
  });
});

describe("the newest status known", () => {
  const works = new Map([["a", observed("a", { Applied: "True" })]]);
  const cached = { ...mcm, metadata: { ...mcm.metadata, resourceVersion: "100" } };
  const ours = buildStatus({ mcm: cached, outcomes: [workFor("a")], works, now: T0 });
  const written = { status: ours, resourceVersion: "101", uid: mcm.metadata.uid, at: 1_000 };

  it("builds on the status just written while the cache lags, so the same state is not written again", () => {
    const { previous, keep } = newestStatus(cached, written, 2_000);
    expect([previous, keep]).toEqual([ours, true]);
    // An hour later nothing changed: the same status, transition times included.
    const again = buildStatus({ mcm: { ...cached, status: previous }, outcomes: [workFor("a")], works, now: T1 });
    expect(jsonEqual(again, previous)).toBe(true);
    // Built on the stale cache instead, the times would move and the status be written again.
    expect(jsonEqual(buildStatus({ mcm: cached, outcomes: [workFor("a")], works, now: T1 }), ours)).toBe(false);
  });

  it("trusts the cache once it shows the write, for another object of that name, and after a while", () => {
    expect(newestStatus({ ...cached, metadata: { ...cached.metadata, resourceVersion: "101" }, status: ours }, written, 2_000)).toEqual({ previous: ours, keep: false });
    const recreated = { ...cached, metadata: { ...cached.metadata, uid: "another-uid" } };
    expect(newestStatus(recreated, written, 2_000)).toEqual({ previous: undefined, keep: false });
    expect(newestStatus(cached, written, 1_000 + WRITTEN_STATUS_TRUST_MS + 1)).toEqual({ previous: undefined, keep: false });
    expect(newestStatus(cached, undefined, 2_000)).toEqual({ previous: undefined, keep: false });
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
