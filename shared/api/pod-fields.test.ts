import { describe, expect, it } from "vitest";
import { isDNS1123Label, isQualifiedName, isRelaxedEnvVarName, isValidLabelValue, isQuantity, unsupportedValue } from "./k8s-validation.ts";
import { managedClusterModuleSchema } from "./managedclustermodule.ts";
import { moduleSchema, upstreamRuleProblems } from "./module.ts";
import { isAllowedHostPath, isNegativeQuantity, quantityValue, resourceNameProblems } from "./pod-fields.ts";
import { mcmObject, moduleObject } from "./testdata/cases.ts";
import { invalidPodFieldCases, validPodFieldCases } from "./testdata/pod-field-cases.ts";

interface Issue {
  message: string;
  path: PropertyKey[];
}

/** A zod issue path in the API server's notation: spec.tolerations[0].effect. */
function fieldPath(path: PropertyKey[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : `${i === 0 ? "" : "."}${String(p)}`)).join("");
}

function issues(result: { error?: { issues: Issue[] } | undefined }): { field: string; message: string }[] {
  return (result.error?.issues ?? []).map((i) => ({ field: fieldPath(i.path), message: i.message }));
}

const zodCases = invalidPodFieldCases.filter((c) => c.celOnly === undefined && c.controllerOnly === undefined);
const celOnlyCases = invalidPodFieldCases.filter((c) => c.celOnly === true);
const controllerOnlyCases = invalidPodFieldCases.filter((c) => c.controllerOnly === true);

describe("embedded Kubernetes types and upstream rules in zod (the CRD's CEL twins)", () => {
  it.each(zodCases.map((c) => [c.name, c] as const))("Module rejects: %s", (_name, c) => {
    const found = issues(moduleSchema.safeParse(moduleObject("m", "default", c.spec)));
    expect(found.map((i) => i.field)).toContain(c.field);
    expect(found.find((i) => i.field === c.field)?.message).toContain(c.expect);
  });

  it.each(zodCases.map((c) => [c.name, c] as const))("MCM rejects: %s", (_name, c) => {
    const found = issues(managedClusterModuleSchema.safeParse(mcmObject("m", "kmm", c.spec)));
    const field = c.field.replace(/^spec\./, "spec.moduleSpec.");
    expect(found.find((i) => i.field === field)?.message).toContain(c.expect);
  });

  it.each(validPodFieldCases.map((c) => [c.name, c] as const))("accepts: %s", (_name, c) => {
    expect(issues(moduleSchema.safeParse(moduleObject("m", "default", c.spec)))).toEqual([]);
    expect(issues(managedClusterModuleSchema.safeParse(mcmObject("m", "kmm", c.spec)))).toEqual([]);
    expect(upstreamRuleProblems(moduleSchema.parse(moduleObject("m", "default", c.spec)).spec)).toEqual([]);
  });

  it.each(celOnlyCases.map((c) => [c.name, c] as const))(
    "CRD-only rule, parsed by zod and reported by upstreamRuleProblems: %s",
    (_name, c) => {
      const parsed = moduleSchema.parse(moduleObject("m", "default", c.spec));
      const problems = upstreamRuleProblems(parsed.spec).map((p) => ({ ...p, field: `spec.${p.field}` }));
      expect(problems.find((p) => p.field === c.field)?.message).toContain(c.expect);
    },
  );

  it.each(controllerOnlyCases.map((c) => [c.name, c] as const))(
    "Kubernetes' rule left to the controllers (CEL cost), admitted by zod and reported by upstreamRuleProblems: %s",
    (_name, c) => {
      const module = moduleSchema.safeParse(moduleObject("m", "default", c.spec));
      expect(issues(module)).toEqual([]);
      expect(issues(managedClusterModuleSchema.safeParse(mcmObject("m", "kmm", c.spec)))).toEqual([]);
      const problems = upstreamRuleProblems(moduleSchema.parse(moduleObject("m", "default", c.spec)).spec).map((p) => ({ ...p, field: `spec.${p.field}` }));
      expect(problems.find((p) => p.field === c.field)?.message).toContain(c.expect);
    },
  );

  it("refuses a spokeNamespace that is not a namespace name", () => {
    const found = issues(managedClusterModuleSchema.safeParse(mcmObject("m", "Kmm_Ns", { selector: {}, moduleLoader: undefined })));
    expect(found.find((i) => i.field === "spec.spokeNamespace")?.message).toContain("a lowercase RFC 1123 label must consist of");
  });
});

describe("Kubernetes' string checks (k8s.io/apimachinery/pkg/util/validation)", () => {
  it("qualified names", () => {
    expect(isQualifiedName("nvidia.com/gpu")).toEqual([]);
    expect(isQualifiedName("a")).toEqual([]);
    expect(isQualifiedName("/a")).toEqual(["prefix part must be non-empty"]);
    expect(isQualifiedName("a".repeat(64))).toEqual(["name part must be no more than 63 characters"]);
    expect(isQualifiedName("a/b/c")[0]).toMatch(/^a qualified name must consist of/);
    expect(isQualifiedName("Example.com/a")[0]).toMatch(/^prefix part a lowercase RFC 1123 subdomain must consist of/);
    expect(isQualifiedName("bad key")).toEqual([
      "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
    ]);
  });

  it("label values, DNS labels, env names", () => {
    expect(isValidLabelValue("")).toEqual([]);
    expect(isValidLabelValue("a".repeat(64))).toEqual(["must be no more than 63 characters"]);
    expect(isValidLabelValue("-a")[0]).toMatch(/^a valid label must be an empty string/);
    expect(isDNS1123Label("a.b")).toEqual(["must not contain dots"]);
    expect(isDNS1123Label("kmm-ns")).toEqual([]);
    expect(isRelaxedEnvVarName("my.env-name 1")).toEqual([]);
    expect(isRelaxedEnvVarName("A=B")).toEqual([
      "a valid environment variable name must consist only of printable ASCII characters other than '='",
    ]);
    expect(isRelaxedEnvVarName("")).toEqual(["environment variable name must be non-empty"]);
    expect(unsupportedValue("X", ["A", "B"])).toBe('Unsupported value: "X": supported values: "A", "B"');
  });

  it("quantities", () => {
    for (const q of ["1", "500m", "1.5Gi", "1e3", "-1", ".5", "2Ki", "+3"]) expect(isQuantity(q), q).toBe(true);
    for (const q of ["2 cores", "", "1GB", "Gi", "1.2.3"]) expect(isQuantity(q), q).toBe(false);
    expect(quantityValue("1Gi")).toBe(2 ** 30);
    expect(quantityValue("500m")).toBe(0.5);
    expect(quantityValue("2e3")).toBe(2000);
    expect(isNegativeQuantity("-1")).toBe(true);
    expect(isNegativeQuantity("-0")).toBe(false);
    expect(isNegativeQuantity("-0.5m")).toBe(true);
  });

  it("container resource names", () => {
    for (const n of ["cpu", "memory", "ephemeral-storage", "hugepages-2Mi", "example.com/gpu", "nvidia.com/gpu"]) {
      expect(resourceNameProblems(n), n).toEqual([]);
    }
    expect(resourceNameProblems("gpu")).toEqual(["must be a standard resource for containers"]);
  });
});

describe("upstream KMM's hostPath rule (filepath.Clean, then /dev, /sys, /var, /opt, /run)", () => {
  it.each([
    ["/dev", true],
    ["/var/lib/x", true],
    ["//run/./nvidia", true],
    ["/opt/", true],
    ["/./sys", true],
    ["/etc", false],
    ["/variable", false],
    ["var/lib", false],
    ["/", false],
  ])("%s → %s", (path, allowed) => {
    expect(isAllowedHostPath(path)).toBe(allowed);
  });
});

describe("projected volumes writing a path twice (Kubernetes refuses the pod; the CRD cannot afford the check)", () => {
  const withProjected = (sources: unknown[]) => {
    const spec = validPodFieldCases[0]?.spec ?? {};
    return { ...spec, devicePlugin: { container: { image: "registry.example.com/org/dp:v1" }, volumes: [{ name: "p", projected: { sources } }] } };
  };
  const paths = (...ps: string[]) => ps.map((path, i) => ({ key: `k${i}`, path }));

  it("is admitted by zod and reported by upstreamRuleProblems, naming the paths", () => {
    const parsed = moduleSchema.parse(moduleObject("m", "default", withProjected([{ configMap: { name: "c", items: paths("a", "b") } }, { secret: { name: "s", items: paths("b") } }])));
    expect(upstreamRuleProblems(parsed.spec)).toEqual([{ field: "devicePlugin.volumes[0].projected", message: 'conflicting duplicate paths: "b"' }]);
  });

  it("counts paths within one source and downward API files too, and leaves distinct paths alone", () => {
    const dup = moduleSchema.parse(moduleObject("m", "default", withProjected([{ configMap: { name: "c", items: paths("a", "a") } }])));
    expect(upstreamRuleProblems(dup.spec)).toHaveLength(1);
    const downward = [{ downwardAPI: { items: [{ path: "a", fieldRef: { fieldPath: "metadata.name" } }] } }, { secret: { name: "s", items: paths("a") } }];
    expect(upstreamRuleProblems(moduleSchema.parse(moduleObject("m", "default", withProjected(downward))).spec)).toHaveLength(1);
    const distinct = moduleSchema.parse(moduleObject("m", "default", withProjected([{ configMap: { name: "c", items: paths("a") } }, { secret: { name: "s", items: paths("b") } }])));
    expect(upstreamRuleProblems(distinct.spec)).toEqual([]);
  });
});
