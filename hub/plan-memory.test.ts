import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ManifestWork, type ManagedClusterObject, type ManifestWorkObject } from "../shared/ocm/index.ts";
import type { Pin } from "./manifestwork.ts";
import { PlanMemory } from "./plan-memory.ts";
import { outcomes, planClusters, planImages } from "./plan.ts";
import { StatusMemo, buildStatus } from "./status.ts";
import { DIGEST_A, DIGEST_B, testCluster, testMcm } from "./testdata.ts";

// The kernel goes into the repository part of the regexp mapping: an upper-case kernel makes a
// reference no registry accepts (a blocked cluster); "4.x" kernels no mapping serves; the device
// plugin's image is pinned as soon as any cluster is selected.
const kernelMappings = [
  { literal: "5.14.0-70.el9.x86_64", containerImage: "registry.example.com/kmm/kmod:el9" },
  { regexp: "^6\\.", containerImage: "registry.example.com/kmm/${KERNEL_FULL_VERSION}:v1" },
];
const devicePlugin = { container: { image: "registry.example.com/kmm/device-plugin:v1" } };
const mcm = testMcm({ selector: { "wants-kmod": "true" }, moduleSpec: { selector: {}, moduleLoader: { container: { modprobe: { moduleName: "kmod" }, kernelMappings } }, devicePlugin } });

const KERNELS = ["6.1.0-18-amd64", "6.1.0-20-amd64", "5.14.0-70.el9.x86_64", "6.1.0-18-AMD64", "4.19.0-1-amd64"];
const CLAIMS = [undefined, "", KERNELS[0], `${KERNELS[0]}\n${KERNELS[2]}`, `${KERNELS[1]}\n${KERNELS[3]}`, KERNELS[4], `${KERNELS[2]}\n${KERNELS[4]}`, "not a kernel"];
const LABELS: Record<string, string>[] = [{ "wants-kmod": "true" }, { "wants-kmod": "false" }, {}];
const WORK_STATES = [undefined, {}, { Applied: "True" }, { Applied: "True", Available: "True" }, { Applied: "True", Degraded: "True" }, { Applied: "False" }] as const;

const allImages = planImages(mcm, planClusters(mcm, CLAIMS.map((c, i) => testCluster(`u${i}`, { "wants-kmod": "true" }, c))));
/** Two sets of digests: every image pinned, or one image unknown to its registry. */
const PINS: Map<string, Pin>[] = [
  new Map(allImages.map((i) => [i.image, { digest: DIGEST_A }])),
  new Map(allImages.map((i, n) => [i.image, n === 0 ? { error: `${i.image}: not found`, reason: "ImageNotFound" as const } : { digest: DIGEST_B }])),
];

interface ClusterState {
  labels: number;
  claim: number;
  deleting: boolean;
  work: number;
}
const clusterState = fc.record({ labels: fc.nat(LABELS.length - 1), claim: fc.nat(CLAIMS.length - 1), deleting: fc.boolean(), work: fc.nat(WORK_STATES.length - 1) });

function clusterOf(name: string, s: ClusterState): ManagedClusterObject {
  const c = testCluster(name, LABELS[s.labels]!, CLAIMS[s.claim]);
  return s.deleting ? { ...c, metadata: { ...c.metadata, deletionTimestamp: "2026-12-01T00:00:00Z" } } : c;
}

function workOf(name: string, s: ClusterState): ManifestWorkObject | undefined {
  const conds = WORK_STATES[s.work];
  if (conds === undefined) return undefined;
  return ManifestWork.parse({
    apiVersion: "work.open-cluster-management.io/v1",
    kind: "ManifestWork",
    metadata: { name: "kmod", namespace: name, generation: 1 },
    status: { conditions: Object.entries(conds).map(([type, status]) => ({ type, status, reason: "R", message: `${type} is ${status}`, lastTransitionTime: "2026-12-01T00:00:00Z", observedGeneration: 1 })) },
  });
}

const byImage = (a: { image: string }, b: { image: string }): number => (a.image < b.image ? -1 : a.image > b.image ? 1 : 0);

describe("PlanMemory: a change to one cluster replans that cluster only", () => {
  it("equals the full plan, outcomes, images and status after any sequence of cluster, work and digest changes", () => {
    fc.assert(
      fc.property(
        fc.array(clusterState, { maxLength: 10 }),
        fc.array(fc.record({ cluster: fc.nat(12), state: fc.option(clusterState), pins: fc.nat(PINS.length - 1), written: fc.boolean() }), { minLength: 1, maxLength: 25 }),
        (initial, changes) => {
          const fleet = new Map<string, ManagedClusterObject>();
          const works = new Map<string, ManifestWorkObject>();
          const set = (name: string, s: ClusterState | null): void => {
            if (s === null) {
              fleet.delete(name);
              works.delete(name);
              return;
            }
            fleet.set(name, clusterOf(name, s));
            const w = workOf(name, s);
            if (w === undefined) works.delete(name);
            else works.set(name, w);
          };
          initial.forEach((s, i) => set(`c${i}`, s));
          const source = { get: (n: string) => fleet.get(n), list: () => [...fleet.values()] };
          const memory = PlanMemory.full(mcm, source);
          const statusMemo = new StatusMemo();
          let pins = PINS[0]!;
          memory.setPins(pins);
          let minute = 0;
          let previous = buildStatus({ mcm, outcomes: memory.outcomes(mcm), works, now: "2026-12-01T00:00:00Z", memo: statusMemo });
          changes.forEach((c, step) => {
            const name = `c${c.cluster}`;
            set(name, c.state);
            memory.replan(mcm, source, [name]);
            pins = PINS[c.pins]!;
            const repinned = memory.setPins(pins);

            const full = planClusters(mcm, [...fleet.values()]);
            expect(memory.plans()).toEqual(full);
            expect(memory.selected()).toEqual(full.map((p) => p.cluster));
            const fullOutcomes = outcomes(mcm, full, pins);
            expect(memory.outcomes(mcm)).toEqual(fullOutcomes);
            expect(memory.images(mcm).sort(byImage)).toEqual(planImages(mcm, full).sort(byImage));

            // The clock moves on once a status is written (a deferred one waits a second at most;
            // the times have second resolution): a part remembered keeps the time it was made at.
            if (step === 0 || changes[step - 1]!.written) minute++;
            const now = `2026-12-01T00:${String(minute).padStart(2, "0")}:00Z`;
            const withPrevious = { ...mcm, status: previous };
            const whole = buildStatus({ mcm: withPrevious, outcomes: fullOutcomes, works, now });
            // The reconciler asks first whether the last status still stands (a digest change looks at every cluster).
            const reused = repinned ? undefined : statusMemo.unchanged(mcm, previous, [{ cluster: name, outcome: memory.outcome(mcm, name), work: works.get(name) }], now);
            if (reused !== undefined) expect(reused).toEqual(whole);
            const remembered = buildStatus({ mcm: withPrevious, outcomes: memory.outcomes(mcm), works, now, memo: statusMemo });
            expect(remembered).toEqual(whole);
            // A status not written (deferred) leaves the previous one in place.
            if (c.written) previous = remembered;
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it("keeps the plan of a cluster whose claim did not change, and plans again one whose claim did", () => {
    const fleet = new Map([["a", testCluster("a", { "wants-kmod": "true" }, KERNELS[0])], ["b", testCluster("b", { "wants-kmod": "true" }, KERNELS[2])]]);
    const source = { get: (n: string) => fleet.get(n), list: () => [...fleet.values()] };
    const memory = PlanMemory.full(mcm, source);
    const [a, b] = memory.plans();
    fleet.set("a", testCluster("a", { "wants-kmod": "true", other: "label" }, KERNELS[0]));
    fleet.set("b", testCluster("b", { "wants-kmod": "true" }, KERNELS[1]));
    memory.replan(mcm, source, ["a", "b"]);
    expect(memory.plan("a")).toBe(a);
    expect(memory.plan("b")).not.toBe(b);
    expect(memory.plan("b")?.kernels).toEqual({ ready: true, kernels: [KERNELS[1]] });
  });

  it("remakes outcomes only when the digests differ", () => {
    const fleet = new Map([["a", testCluster("a", { "wants-kmod": "true" }, KERNELS[0])]]);
    const memory = PlanMemory.full(mcm, { get: (n) => fleet.get(n), list: () => [...fleet.values()] });
    expect(memory.setPins(PINS[0]!)).toBe(true);
    const first = memory.outcome(mcm, "a");
    expect(memory.setPins(new Map(PINS[0]))).toBe(false);
    expect(memory.outcome(mcm, "a")).toBe(first);
    expect(memory.setPins(PINS[1]!)).toBe(true);
    expect(memory.outcome(mcm, "a")).not.toBe(first);
  });

  it("tells MCM versions apart by uid and generation", () => {
    expect(PlanMemory.versionOf(mcm)).not.toBe(PlanMemory.versionOf({ ...mcm, metadata: { ...mcm.metadata, generation: 4 } }));
    expect(PlanMemory.versionOf(mcm)).not.toBe(PlanMemory.versionOf({ ...mcm, metadata: { ...mcm.metadata, uid: "other" } }));
    expect(PlanMemory.versionOf(mcm)).toBe(PlanMemory.versionOf({ ...mcm, metadata: { ...mcm.metadata, resourceVersion: "99" } }));
  });
});
