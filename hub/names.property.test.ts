// Kinds 1 and 4 of issue 13 on the hub: for every ManagedClusterModule the CRD admits (name +
// spokeNamespace ≤ 41) and every cluster name, the ManifestWork the hub writes has a valid name,
// namespace and labels, an AppliedManifestWork name (`<sha256 of the hub URL>-<work name>`) within 253,
// and whatever the MCM's shape (device plugin only, no kernels, many kernels), no work over OCM's
// limits ever comes out of clusterOutcome: it is blocked with the reason instead.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_NAME_AND_NAMESPACE_LENGTH, managedClusterModuleSchema } from "../shared/api/index.ts";
import { isDnsLabel, isDnsSubdomain, isLabelValue, isQualifiedName } from "../shared/kube/names.ts";
import { jobName, kernelLabelValue as buildKernelLabelValue } from "./buildsign/names.ts";
import { clusterOutcome, manifestWorkProblem, planKernels, type PinMap } from "./manifestwork.ts";
import { MAX_MANIFESTWORK_BYTES } from "./names.ts";
import { DIGEST_A } from "./testdata.ts";

const alnum = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789");
const dnsChar = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789-");
const dnsLabel = (max: number) =>
  fc.tuple(alnum, fc.string({ unit: dnsChar, maxLength: Math.max(0, max - 2) }), alnum, fc.boolean()).map(([a, mid, z, one]) => (one ? a : `${a}${mid}${z}`));

/** MCM name (a DNS subdomain, dots allowed) and spokeNamespace, biased to the longest admitted (41). */
const mcmNames = fc.tuple(dnsLabel(40), fc.constantFrom(0, 0, 1, 10, 30), fc.array(dnsLabel(20), { minLength: 1, maxLength: 3 })).map(([ns, slack, parts]) => {
  const length = Math.max(1, MAX_NAME_AND_NAMESPACE_LENGTH - ns.length - slack);
  const name = `${parts.join(".")}${"a".repeat(length)}`.slice(0, length).replace(/[-.]+$/, "") || "a";
  return { name, ns };
});

const DP_IMAGE = `registry.example.com/dp@${DIGEST_A}`;

function mcm(name: string, ns: string, shape: "dp-only" | "loader" | "both", envBytes: number) {
  const env = envBytes > 0 ? [{ name: "CFG", value: "x".repeat(envBytes) }] : undefined;
  return managedClusterModuleSchema.parse({
    apiVersion: "hub.kmm.sigs.x-k8s.io/v1beta1",
    kind: "ManagedClusterModule",
    metadata: { name, uid: "u1" },
    spec: {
      spokeNamespace: ns,
      selector: {},
      moduleSpec: {
        selector: {},
        ...(shape !== "dp-only"
          ? { moduleLoader: { container: { modprobe: { moduleName: "m" }, kernelMappings: [{ regexp: "^.+$", containerImage: `registry.example.com/m@${DIGEST_A}` }] } } }
          : {}),
        ...(shape !== "loader" ? { devicePlugin: { container: { image: DP_IMAGE, ...(env ? { env } : {}) } } } : {}),
      },
    },
  });
}

describe("ManifestWorks of every admitted MCM (property)", () => {
  it("have valid names, namespaces and labels, an AppliedManifestWork name within 253, and never pass OCM's size limit", () => {
    fc.assert(
      fc.property(
        mcmNames,
        dnsLabel(63),
        fc.constantFrom<"dp-only" | "loader" | "both">("dp-only", "loader", "both"),
        fc.constantFrom(0, 1000, 300_000, 520_000),
        fc.array(fc.constantFrom("6.1.0-18-amd64", "5.14.0-70.el9.x86_64", "6.1", "odd+kernel"), { maxLength: 4 }),
        ({ name, ns }, cluster, shape, envBytes, kernels) => {
          const bytes = shape === "loader" ? 0 : envBytes;
          const m = mcm(name, ns, shape, bytes);
          const o = clusterOutcome(m, cluster, planKernels(m, [...new Set(kernels)]), new Map() as PinMap);
          if (o.kind !== "work") {
            if (o.kind === "blocked" && bytes >= 520_000) expect(o.reason).toBe("ManifestWorkTooLarge");
            return;
          }
          const w = o.work;
          const workName = w.metadata.name ?? "";
          expect(isDnsSubdomain(workName)).toBe(true);
          expect(isDnsLabel(w.metadata.namespace ?? "")).toBe(true);
          for (const [k, v] of Object.entries(w.metadata.labels ?? {})) expect(isQualifiedName(k) && isLabelValue(v)).toBe(true);
          expect(`${"0".repeat(64)}-${workName}`.length).toBeLessThanOrEqual(253);
          expect(Buffer.byteLength(JSON.stringify(w.spec?.workload?.manifests ?? []))).toBeLessThanOrEqual(MAX_MANIFESTWORK_BYTES);
          expect(manifestWorkProblem(w)).toBeUndefined();
          expect(bytes).toBeLessThan(520_000);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe("build and sign Job names and labels (property)", () => {
  it("are DNS labels of at most 63 characters (the Job controller copies the name into a pod label) for any image and kernel", () => {
    const repo = fc.array(fc.string({ unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789-_."), minLength: 1, maxLength: 80 }).filter((p) => /^[a-z0-9]/.test(p) && /[a-z0-9]$/.test(p) && !/[-_.]{2}/.test(p)), { minLength: 1, maxLength: 3 });
    fc.assert(
      fc.property(repo, fc.string({ minLength: 1, maxLength: 64 }), fc.constantFrom<"build" | "sign">("build", "sign"), (parts, kernel, type) => {
        const name = jobName(type, `registry.example.com/${parts.join("/")}:v1`, kernel);
        expect(isDnsLabel(name), name).toBe(true);
        expect(isLabelValue(buildKernelLabelValue(kernel))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});
