import { describe, expect, it } from "vitest";
import { KernelMappingError } from "../shared/kernel-mapping/index.ts";
import { ManifestWork } from "../shared/ocm/index.ts";
import { clusterKernels, selectClusters, selectorMatches } from "./clusters.ts";
import {
  MODULE_STATUS_FEEDBACK,
  clusterOutcome,
  goJsonByteLength,
  imagesToPin,
  manifestWorkProblem,
  pinnedImage,
  planKernels,
  type Pin,
  type PinMap,
} from "./manifestwork.ts";
import { MCM_NAME_LABEL } from "./names.ts";
import { outcomes, planClusters, planImages } from "./plan.ts";
import { DIGEST_A, DIGEST_B, testCluster, testMcm } from "./testdata.ts";

const debianImage = "registry.example.com/kmm/kmm-ns-kmod:6.1.0-18-amd64";
const el9Image = "registry.example.com/kmm/kmod:el9-5.14.0";
const pins: PinMap = new Map([
  [debianImage, { digest: DIGEST_A }],
  [el9Image, { digest: DIGEST_B }],
]);

describe("cluster selection and kernels", () => {
  it("selects clusters whose labels carry every selector pair, sorted by name", () => {
    const clusters = [
      testCluster("b", { "wants-kmod": "true", env: "prod" }),
      testCluster("a", { "wants-kmod": "true" }),
      testCluster("c", { "wants-kmod": "false" }),
      testCluster("d", {}),
    ];
    expect(selectClusters({ "wants-kmod": "true" }, clusters).map((c) => c.metadata.name)).toEqual(["a", "b"]);
    expect(selectClusters({ "wants-kmod": "true", env: "prod" }, clusters).map((c) => c.metadata.name)).toEqual(["b"]);
    // As upstream's labels.Set(...).AsSelector(): an empty selector selects everything.
    expect(selectClusters({}, clusters)).toHaveLength(4);
    expect(selectorMatches({ k: "" }, {})).toBe(false);
  });

  it("reads kernels from the claim: split on newlines, trimmed, de-duplicated, sorted", () => {
    expect(clusterKernels(testCluster("a", {}, "6.1.0-18-amd64\n5.14.0-70.el9.x86_64\n\n 6.1.0-18-amd64 \n"))).toEqual({
      ready: true,
      kernels: ["5.14.0-70.el9.x86_64", "6.1.0-18-amd64"],
    });
  });

  it("leaves a cluster pending when the claim is missing or empty", () => {
    const missing = clusterKernels(testCluster("a", {}));
    expect(missing.ready).toBe(false);
    expect(missing.ready ? "" : missing.reason).toContain("reports no kernel-versions.kmm.node.kubernetes.io claim");
    const empty = clusterKernels(testCluster("a", {}, "\n"));
    expect(empty.ready ? "" : empty.reason).toContain("lists no kernel");
  });
});

describe("kernel planning", () => {
  it("substitutes MOD_NAMESPACE with spokeNamespace and MOD_NAME with the MCM name", () => {
    const [p] = planKernels(testMcm({ name: "mymod", spokeNamespace: "drivers" }), ["6.1.0-18-amd64"]);
    expect(p?.mapping?.containerImage).toBe("registry.example.com/kmm/drivers-mymod:6.1.0-18-amd64");
  });

  it("skips kernels without a mapping, and empty kernels, with a reason", () => {
    const plans = planKernels(testMcm(), ["3.10.0-1160.el7.x86_64", "not-a-kernel", ""]);
    expect(plans.map((p) => p.mapping)).toEqual([undefined, undefined, undefined]);
    expect(plans[0]?.skipped).toContain("none of the 3 kernel mappings matches 3.10.0-1160.el7.x86_64");
    expect(plans[1]?.skipped).toContain("none of the 3 kernel mappings matches not-a-kernel");
    expect(plans[2]?.skipped).toContain("not valid: it is empty");
  });

  it("throws for a mapping that can never work (invalid RE2)", () => {
    const mcm = testMcm({
      moduleSpec: {
        selector: {},
        moduleLoader: { container: { modprobe: { moduleName: "m" }, kernelMappings: [{ regexp: "^(6", containerImage: "r.example.com/m:1" }] } },
      },
    });
    expect(() => planKernels(mcm, ["6.1.0"])).toThrow(KernelMappingError);
  });

  it("lists each tagged image once, with its TLS settings and whether the hub would produce it", () => {
    const plans = planClusters(testMcm(), [
      testCluster("a", { "wants-kmod": "true" }, "6.1.0-18-amd64\n5.14.0-70.el9.x86_64\n4.18.0-372.el8.x86_64"),
      testCluster("b", { "wants-kmod": "true" }, "6.1.0-18-amd64"),
    ]);
    expect(planImages(testMcm(), plans)).toEqual([
      { image: el9Image, tls: { insecureSkipTLSVerify: true }, producedOnHub: true },
      { image: debianImage, tls: {}, producedOnHub: true },
    ]);
    expect(imagesToPin([])).toEqual([]);
  });
});

describe("the ManifestWork for a cluster", () => {
  const mcm = testMcm();
  const plans = planKernels(mcm, ["4.18.0-372.el8.x86_64", "5.14.0-70.el9.x86_64", "6.1.0-18-amd64"]);
  const outcome = clusterOutcome(mcm, "spoke1", plans, pins);
  if (outcome.kind !== "work") throw new Error(`expected a work, got ${outcome.kind}`);
  const work = outcome.work;
  const module = work.spec?.workload?.manifests?.[0] as unknown as Record<string, unknown> & { spec: { moduleLoader: { container: Record<string, unknown> } } };

  it("is named after the MCM, lives in the cluster namespace, is labelled and owned by the MCM", () => {
    expect(work.metadata).toEqual({
      name: "kmod",
      namespace: "spoke1",
      labels: { [MCM_NAME_LABEL]: "kmod" },
      ownerReferences: [
        { apiVersion: "hub.kmm.sigs.x-k8s.io/v1beta1", kind: "ManagedClusterModule", name: "kmod", uid: mcm.metadata.uid, controller: true, blockOwnerDeletion: true },
      ],
    });
    expect(() => ManifestWork.parse(work)).not.toThrow();
  });

  it("holds one Module named after the MCM in spokeNamespace with no build or sign anywhere", () => {
    expect(module.apiVersion).toBe("kmm.sigs.x-k8s.io/v1beta1");
    expect(module.kind).toBe("Module");
    expect(module.metadata).toEqual({ name: "kmod", namespace: "kmm-ns" });
    const text = JSON.stringify(module);
    expect(text).not.toContain('"build"');
    expect(text).not.toContain('"sign"');
    // Everything else is kept.
    expect(module.spec).toMatchObject({ selector: { "node-role.kubernetes.io/worker": "" }, imageRepoSecret: { name: "pull" } });
    expect(module.spec.moduleLoader.container.modprobe).toMatchObject({ moduleName: "kmod" });
  });

  it("has one literal mapping per kernel, with the pinned image and its in-tree modules", () => {
    expect(module.spec.moduleLoader.container.kernelMappings).toEqual([
      { literal: "4.18.0-372.el8.x86_64", containerImage: `registry.example.com/kmm/kmod@${DIGEST_B}`, inTreeModulesToRemove: ["intree"] },
      {
        literal: "5.14.0-70.el9.x86_64",
        containerImage: `registry.example.com/kmm/kmod@${DIGEST_B}`,
        inTreeModulesToRemove: ["other"],
        registryTLS: { insecureSkipTLSVerify: true },
      },
      { literal: "6.1.0-18-amd64", containerImage: `registry.example.com/kmm/kmm-ns-kmod@${DIGEST_A}`, inTreeModulesToRemove: ["intree"] },
    ]);
    expect(outcome.kernels.map((k) => [k.kernelVersion, k.digest])).toEqual([
      ["4.18.0-372.el8.x86_64", DIGEST_B],
      ["5.14.0-70.el9.x86_64", DIGEST_B],
      ["6.1.0-18-amd64", DIGEST_A],
    ]);
  });

  it("asks the work agent for the Module's status counters through JSONPaths feedback rules", () => {
    expect(work.spec?.manifestConfigs).toEqual([
      {
        resourceIdentifier: { group: "kmm.sigs.x-k8s.io", resource: "modules", name: "kmod", namespace: "kmm-ns" },
        feedbackRules: [{ type: "JSONPaths", jsonPaths: Object.entries(MODULE_STATUS_FEEDBACK).map(([name, path]) => ({ name, path })) }],
      },
    ]);
    expect(Object.values(MODULE_STATUS_FEEDBACK)).toContain(".status.moduleLoader.availableNumber");
  });

  it("keeps an image given by digest and pins a tag as repo@digest", () => {
    expect(pinnedImage(`r.example.com/x:1@${DIGEST_A}`, new Map())).toEqual({ image: `r.example.com/x:1@${DIGEST_A}`, digest: DIGEST_A });
    expect(pinnedImage("r.example.com/x:1", new Map([["r.example.com/x:1", { digest: DIGEST_B }]]))).toEqual({ image: `r.example.com/x@${DIGEST_B}`, digest: DIGEST_B });
  });

  it("is blocked, not written, when a tag could not be resolved or is still being built on the hub", () => {
    const partial: PinMap = new Map([
      [debianImage, { error: `${debianImage} does not exist`, reason: "ImageNotFound" }],
      [el9Image, { digest: DIGEST_B }],
    ]);
    const o = clusterOutcome(mcm, "spoke1", plans, partial);
    expect(o.kind).toBe("blocked");
    if (o.kind !== "blocked") return;
    expect(o.reason).toBe("ImageNotFound");
    expect(o.message).toContain("kernel 6.1.0-18-amd64");
    const building = clusterOutcome(mcm, "spoke1", plans, new Map<string, Pin>([
      [debianImage, { error: "building: Job kmod-build-x", reason: "Building", buildSign: { state: "Building", job: "kmod-build-x" } }],
      [el9Image, { digest: DIGEST_B }],
    ]));
    expect(building.kind === "blocked" && building.reason).toBe("Building");
    expect(building.kernels.find((k) => k.kernelVersion === "6.1.0-18-amd64")?.buildSign).toEqual({ state: "Building", job: "kmod-build-x" });
    const unreachable = clusterOutcome(mcm, "spoke1", plans, new Map([[debianImage, { error: "registry unreachable", reason: "RegistryUnreachable" }], [el9Image, { digest: DIGEST_B }]]));
    expect(unreachable.kind === "blocked" && unreachable.reason).toBe("RegistryUnreachable");
  });

  it("pins the device plugin images too, and drops the tagged default containerImage", () => {
    const base = testMcm();
    const withDp = testMcm({
      moduleSpec: {
        ...structuredClone(base.spec.moduleSpec),
        moduleLoader: { container: { ...structuredClone(base.spec.moduleSpec.moduleLoader!.container), containerImage: "registry.example.com/kmm/default:${KERNEL_XYZ}" } },
        devicePlugin: { container: { image: "registry.example.com/kmm/dp:v1" }, initContainer: { image: `registry.example.com/kmm/init@${DIGEST_A}` } },
      },
    });
    const kernelPlans = planKernels(withDp, ["6.1.0-18-amd64"]);
    expect(planImages(withDp, [{ cluster: "spoke1", kernels: { ready: true, kernels: ["6.1.0-18-amd64"] }, plans: kernelPlans }]).map((i) => i.image)).toEqual([
      debianImage,
      "registry.example.com/kmm/dp:v1",
    ]);
    const o = clusterOutcome(withDp, "spoke1", kernelPlans, new Map([...pins, ["registry.example.com/kmm/dp:v1", { digest: DIGEST_B }]]));
    if (o.kind !== "work") throw new Error(`expected a work, got ${o.kind}`);
    const spec = (o.work.spec?.workload?.manifests?.[0] as unknown as { spec: { devicePlugin: { container: { image: string }; initContainer: { image: string } }; moduleLoader: { container: Record<string, unknown> } } }).spec;
    expect(spec.devicePlugin.container.image).toBe(`registry.example.com/kmm/dp@${DIGEST_B}`);
    expect(spec.devicePlugin.initContainer.image).toBe(`registry.example.com/kmm/init@${DIGEST_A}`);
    expect(spec.moduleLoader.container.containerImage).toBeUndefined();

    const blocked = clusterOutcome(withDp, "spoke1", kernelPlans, new Map([...pins, ["registry.example.com/kmm/dp:v1", { error: "registry unreachable", reason: "RegistryUnreachable" as const }]]));
    expect(blocked.kind === "blocked" && blocked.message).toContain("devicePlugin image: registry unreachable");
  });

  it("is pending when no kernel of the cluster has a mapping", () => {
    const o = clusterOutcome(mcm, "spoke1", planKernels(mcm, ["3.10.0-1160.el7.x86_64"]), pins);
    expect(o.kind).toBe("pending");
    expect(o.kernels[0]?.message).toContain("none of the 3 kernel mappings");
  });

  it("refuses a work over OCM's 500 KiB or with a name the work agent cannot handle", () => {
    const big = structuredClone(work);
    (big.spec!.workload!.manifests![0] as unknown as { spec: { pad?: string } }).spec.pad = "x".repeat(501 * 1024);
    expect(manifestWorkProblem(big)?.reason).toBe("ManifestWorkTooLarge");
    expect(manifestWorkProblem(big)?.message).toContain("500 KiB");
    const long = structuredClone(work);
    long.metadata.name = "n".repeat(189);
    expect(manifestWorkProblem(long)?.reason).toBe("ManifestWorkNameTooLong");
    long.metadata.name = "n".repeat(188);
    expect(manifestWorkProblem(long)).toBeUndefined();

    const spec = (n: number) => ({
      selector: {},
      moduleLoader: {
        container: {
          modprobe: { moduleName: "m", parameters: Array.from({ length: n }, (_, i) => `p${i}=${"v".repeat(100)}`) },
          kernelMappings: [{ regexp: "^6", containerImage: `registry.example.com/kmm/kmod@${DIGEST_A}` }],
        },
      },
    });
    const huge = testMcm({ moduleSpec: spec(5000) });
    const o = clusterOutcome(huge, "spoke1", planKernels(huge, ["6.1.0"]), new Map());
    expect(o.kind === "blocked" && o.reason).toBe("ManifestWorkTooLarge");
    const small = testMcm({ moduleSpec: spec(10) });
    expect(clusterOutcome(small, "spoke1", planKernels(small, ["6.1.0"]), new Map()).kind).toBe("work");

    const manyKernels = Array.from({ length: 129 }, (_, i) => `6.1.${i}-18-amd64`);
    const many = clusterOutcome(small, "spoke1", planKernels(small, manyKernels), new Map());
    expect(many.kind === "blocked" && many.reason).toBe("TooManyKernels");
  });

  it("measures the size as Go's encoding/json writes it: & < > and U+2028/U+2029 escaped to 6 bytes (issue 13 kind 4)", () => {
    expect(goJsonByteLength("a&<>\u2028\u2029é")).toBe(Buffer.byteLength('"a\\u0026\\u003c\\u003e\\u2028\\u2029é"'));
    // A device-plugin-only MCM whose env value is 105 KB as UTF-8 but 630 KB as the API server encodes it.
    const dp = testMcm({
      moduleSpec: {
        selector: {},
        devicePlugin: { container: { image: `registry.example.com/kmm/dp@${DIGEST_A}`, env: [{ name: "X", value: "&<>".repeat(35000) }] } },
      },
    });
    const o = clusterOutcome(dp, "spoke1", planKernels(dp, ["6.1.0"]), new Map());
    expect(o.kind === "blocked" && o.reason).toBe("ManifestWorkTooLarge");
    expect(o.kind === "blocked" && o.message).toMatch(/take 63\d{4} bytes/);
  });

  it("leaves clusters without a usable claim pending across a whole MCM", () => {
    const all = outcomes(mcm, planClusters(mcm, [testCluster("a", { "wants-kmod": "true" }), testCluster("b", { "wants-kmod": "true" }, "6.1.0-18-amd64")]), pins);
    expect(all.map((o) => [o.cluster, o.kind])).toEqual([
      ["a", "pending"],
      ["b", "work"],
    ]);
  });
});
