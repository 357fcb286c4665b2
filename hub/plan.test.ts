import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ManagedClusterObject } from "../shared/ocm/index.ts";
import { outcomes, planClusters, planImages } from "./plan.ts";
import { DIGEST_A, DIGEST_B, testCluster, testMcm } from "./testdata.ts";

// The kernel goes into the repository part, as in the field case: a cluster that reports an
// upper-case kernel makes a reference no registry accepts.
const mcm = testMcm({
  moduleSpec: {
    selector: {},
    moduleLoader: {
      container: {
        modprobe: { moduleName: "kmod" },
        kernelMappings: [
          { regexp: "^6\\.", containerImage: "registry.example.com/kmm/${KERNEL_FULL_VERSION}:v1" },
          { regexp: "^5\\.", containerImage: "registry.example.com/kmm/kmod:${KERNEL_FULL_VERSION}" },
        ],
      },
    },
  },
});

function pinsFor(clusters: ManagedClusterObject[]) {
  return new Map(planImages(mcm, planClusters(mcm, clusters)).map((i) => [i.image, { digest: i.image.includes(":v1") ? DIGEST_A : DIGEST_B }]));
}

describe("planning is local to a cluster and a kernel", () => {
  it("blocks only the cluster whose kernel gives an invalid image reference, with the kernel and the reference named", () => {
    const clusters = [
      testCluster("good", { "wants-kmod": "true" }, "6.1.0-18-amd64"),
      testCluster("upper", { "wants-kmod": "true" }, "6.1.0-18-AMD64\n6.1.0-20-amd64"),
      testCluster("late", { "wants-kmod": "true" }, "6.1.0-20-amd64"),
    ];
    const plans = planClusters(mcm, clusters);
    const images = planImages(mcm, plans).map((i) => i.image);
    expect(images).toEqual(["registry.example.com/kmm/6.1.0-18-amd64:v1", "registry.example.com/kmm/6.1.0-20-amd64:v1"]);
    const out = outcomes(mcm, plans, pinsFor(clusters));
    expect(out.map((o) => [o.cluster, o.kind])).toEqual([["good", "work"], ["late", "work"], ["upper", "blocked"]]);
    const upper = out.find((o) => o.cluster === "upper")!;
    expect(upper.kind === "blocked" && upper.reason).toBe("InvalidReference");
    expect(upper.kind === "blocked" && upper.message).toMatch(/kernel 6\.1\.0-18-AMD64: kernel mapping 0 gives invalid image reference "registry\.example\.com\/kmm\/6\.1\.0-18-AMD64:v1"/);
    // Each kernel keeps its own outcome: the good kernel of the same cluster is resolved.
    expect(upper.kernels).toEqual([
      { kernelVersion: "6.1.0-18-AMD64", image: "registry.example.com/kmm/6.1.0-18-AMD64:v1", message: expect.stringContaining("invalid image reference") as string },
      { kernelVersion: "6.1.0-20-amd64", image: "registry.example.com/kmm/6.1.0-20-amd64:v1", digest: DIGEST_A },
    ]);
  });

  it("blocks every cluster, each with the reason, when the MCM's own device plugin image is invalid; nothing throws", () => {
    const bad = testMcm({ moduleSpec: { selector: {}, devicePlugin: { container: { image: "Registry.example.com/UPPER/dp:v1" } } } });
    const clusters = [testCluster("a", { "wants-kmod": "true" }, "6.1.0-18-amd64"), testCluster("b", { "wants-kmod": "true" })];
    const plans = planClusters(bad, clusters);
    expect(planImages(bad, plans)).toEqual([]);
    const out = outcomes(bad, plans, new Map());
    expect(out.map((o) => [o.cluster, o.kind, o.kind === "blocked" ? o.reason : ""])).toEqual([["a", "blocked", "InvalidReference"], ["b", "blocked", "InvalidReference"]]);
  });

  it("reports a kernel mapping that cannot be used as each cluster's outcome instead of throwing", () => {
    const bad = testMcm({
      moduleSpec: {
        selector: {},
        moduleLoader: { container: { modprobe: { moduleName: "m" }, kernelMappings: [{ literal: "6.1.0", containerImage: "r.example.com/m:1" }, { regexp: "^5", containerImage: "r.example.com/m:2" }] } },
      },
    });
    // The schema refuses bad RE2 at admission; an MCM stored before that rule still reaches the planner.
    bad.spec.moduleSpec.moduleLoader!.container.kernelMappings[1]!.regexp = "^(5";
    const plans = planClusters(bad, [testCluster("six", { "wants-kmod": "true" }, "6.1.0"), testCluster("five", { "wants-kmod": "true" }, "5.14.0")]);
    const out = outcomes(bad, plans, new Map([["r.example.com/m:1", { digest: DIGEST_A }]]));
    // The resolver checks every mapping's RE2 up front, so a bad one concerns every kernel.
    expect(out.map((o) => [o.cluster, o.kind, o.kind === "blocked" ? o.reason : ""])).toEqual([["five", "blocked", "InvalidKernelMapping"], ["six", "blocked", "InvalidKernelMapping"]]);
    for (const o of out) expect(o.kind === "blocked" && o.message).toMatch(/kernel mapping 1 of Module/);
  });

  it("property: random bad clusters next to good ones never stop the good ones", () => {
    const kernelChars = fc.constantFrom(..."0123456789.-_+ABCXYZabcxyz$%/:@ ".split(""));
    const badKernel = fc.string({ unit: kernelChars, minLength: 1, maxLength: 30 }).map((s) => `6.${s}`);
    const claim = fc.oneof(
      fc.array(badKernel, { minLength: 1, maxLength: 4 }).map((ks) => ks.join("\n")),
      fc.constant(undefined),
      fc.constant(""),
      fc.string({ maxLength: 60 }),
    );
    fc.assert(
      fc.property(fc.array(claim, { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 5 }), (badClaims, goodCount) => {
        const good = Array.from({ length: goodCount }, (_, i) => testCluster(`good-${i}`, { "wants-kmod": "true" }, i % 2 === 0 ? "6.1.0-18-amd64" : "5.14.0-70.el9.x86_64\n6.1.0-18-amd64"));
        const bad = badClaims.map((c, i) => testCluster(`bad-${i}`, { "wants-kmod": "true" }, c));
        const all = [...bad, ...good];
        const plans = planClusters(mcm, all);
        const out = outcomes(mcm, plans, pinsFor(all));
        expect(out).toHaveLength(all.length);
        for (const o of out) {
          if (o.cluster.startsWith("good-")) expect(o.kind).toBe("work");
          // Whatever a bad cluster gets, it says why.
          else if (o.kind !== "work") expect(o.message.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("what the works of one reconcile share (issue 16: all of them are alive at once)", () => {
  it("clusters with the same kernels share their kernel plans and their works' spec, labels and owners; names stay per cluster", () => {
    const clusters = ["a", "b", "c"].map((n) => testCluster(n, { "wants-kmod": "true" }, n === "c" ? "5.14.0-70.el9.x86_64" : "6.1.0-18-amd64"));
    expect(planClusters(mcm, clusters)).toHaveLength(3);
    const plans = planClusters(mcm, clusters);
    expect(plans[0]?.plans[0]).toBe(plans[1]?.plans[0]);
    expect(plans[2]?.plans[0]).not.toBe(plans[0]?.plans[0]);
    const [a, b, c] = outcomes(mcm, plans, pinsFor(clusters)).map((o) => (o.kind === "work" ? o.work : undefined));
    expect(a?.spec).toBe(b?.spec);
    expect(c?.spec).not.toBe(a?.spec);
    expect(a?.metadata.labels).toBe(c?.metadata.labels);
    expect(a?.metadata.ownerReferences).toBe(c?.metadata.ownerReferences);
    expect([a?.metadata.namespace, b?.metadata.namespace, c?.metadata.namespace]).toEqual(["a", "b", "c"]);
    // Equal to what a work built alone is: sharing changes nothing a reader can see.
    const alone = outcomes(mcm, planClusters(mcm, [clusters[1]!]), pinsFor(clusters))[0];
    expect(alone?.kind === "work" ? structuredClone(alone.work) : undefined).toEqual(structuredClone(b));
  });
});
