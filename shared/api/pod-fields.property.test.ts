// Property checks of the admitted range: what Kubernetes and upstream KMM admit, the schemas admit.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { QUALIFIED_NAME_REGEX_MESSAGE, isDNS1123Label, isDNS1123Subdomain, isQualifiedName, isValidLabelValue } from "./k8s-validation.ts";
import { managedClusterModuleSchema } from "./managedclustermodule.ts";
import { moduleSchema } from "./module.ts";
import { ALLOWED_HOST_PATH_PREFIXES, FORMAT_CHECKS, isAllowedHostPath, isDns1123SubdomainByParts } from "./pod-fields.ts";
import { mcmObject, moduleObject, validSpec } from "./testdata/cases.ts";

/** Go's path/filepath.Clean on a slash path (lexical: repeated slashes, `.` and `..` elements). */
function goClean(p: string): string {
  const rooted = p.startsWith("/");
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!rooted) out.push("..");
      continue;
    }
    out.push(part);
  }
  const joined = out.join("/");
  return rooted ? `/${joined}` : joined === "" ? "." : joined;
}

/** Upstream KMM's webhook rule for a Module's hostPath volumes. */
function upstreamAllows(p: string): boolean {
  const c = goClean(p);
  return ALLOWED_HOST_PATH_PREFIXES.some((prefix) => c === prefix || c.startsWith(`${prefix}/`));
}

const segment = fc.constantFrom("dev", "sys", "var", "opt", "run", "etc", "usr", "variable", "devices", ".", "", "lib", "nvidia");
const hostPath = fc.array(segment, { minLength: 0, maxLength: 5 }).map((parts) => `/${parts.join("/")}`);

const alnum = fc.constantFrom(..."abcxyzABC019".split(""));
const labelChars = fc.constantFrom(..."abcXYZ09-_.".split(""));
const labelName = fc
  .tuple(alnum, fc.array(labelChars, { maxLength: 20 }), alnum)
  .map(([a, mid, b]) => `${a}${mid.join("")}${b}`);
const dnsPrefix = fc.constantFrom("example.com", "nvidia.com", "feature.node.kubernetes.io", "a-b.c");
const qualifiedName = fc.tuple(fc.option(dnsPrefix, { nil: undefined }), labelName).map(([p, n]) => (p === undefined ? n : `${p}/${n}`));
const labelValue = fc.option(labelName, { nil: "" });

const toleration = fc.oneof(
  fc.record({ key: qualifiedName, operator: fc.constantFrom("Equal", ""), value: labelValue, effect: fc.constantFrom("", "NoSchedule", "PreferNoSchedule") }),
  fc.record({ key: qualifiedName, operator: fc.constant("Exists"), effect: fc.constantFrom("", "NoSchedule", "PreferNoSchedule") }),
  fc.record({ operator: fc.constant("Exists") }),
  fc.record({ key: qualifiedName, operator: fc.constant("Exists"), effect: fc.constant("NoExecute"), tolerationSeconds: fc.integer({ min: 0, max: 3600 }) }),
);

describe("admitted range (property checks)", () => {
  it("hostPath: the CRD's rule equals upstream's filepath.Clean + prefix rule for every path without '..'", () => {
    fc.assert(
      fc.property(hostPath, (p) => {
        expect(isAllowedHostPath(p)).toBe(upstreamAllows(p));
      }),
      { numRuns: 2000 },
    );
  });

  it("tolerations Kubernetes admits are admitted", () => {
    fc.assert(
      fc.property(fc.array(toleration, { maxLength: 5 }), (tolerations) => {
        const result = moduleSchema.safeParse(moduleObject("m", "default", { ...validSpec(), tolerations }));
        expect(result.error?.issues ?? []).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it("node selectors of valid label keys and values are admitted, and every refusal is one Kubernetes makes", () => {
    const key = fc.oneof(qualifiedName, fc.string({ maxLength: 12 }));
    const value = fc.oneof(labelValue, fc.string({ maxLength: 12 }));
    fc.assert(
      fc.property(fc.dictionary(key, value, { maxKeys: 5 }), (selector) => {
        const kubernetesValid = Object.entries(selector).every(([k, v]) => isQualifiedName(k).length === 0 && isValidLabelValue(v).length === 0);
        const result = moduleSchema.safeParse(moduleObject("m", "default", { ...validSpec(), selector }));
        expect(result.success).toBe(kubernetesValid);
      }),
      { numRuns: 500 },
    );
  });
});

describe("a node selector key named __proto__ (fast-check's counterexample of 3 Dec: zod drops that key)", () => {
  it("is refused with the message Kubernetes gives for it, as the property above requires", () => {
    const selector = JSON.parse('{"__proto__": ""}') as Record<string, string>;
    expect(Object.keys(selector)).toEqual(["__proto__"]);
    expect(isQualifiedName("__proto__")).toEqual([QUALIFIED_NAME_REGEX_MESSAGE]);
    const result = moduleSchema.safeParse(moduleObject("m", "default", { ...validSpec(), selector }));
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => [i.path.join("."), i.message])).toEqual([["spec.selector.__proto__", QUALIFIED_NAME_REGEX_MESSAGE]]);
  });

  it("is refused in the build's node selector too, next to a valid key", () => {
    const selector = JSON.parse('{"kubernetes.io/arch": "amd64", "__proto__": "x"}') as Record<string, string>;
    const container = {
      modprobe: { moduleName: "kmm_ci_a" },
      kernelMappings: [{ regexp: "^.+$", containerImage: "registry.example.com/org/kmm-ci:${KERNEL_FULL_VERSION}" }],
      build: { dockerfileConfigMap: { name: "d" }, selector },
    };
    const result = moduleSchema.safeParse(moduleObject("m", "default", { ...validSpec(), moduleLoader: { container } }));
    expect(result.error?.issues.map((i) => i.path.join("."))).toEqual(["spec.moduleLoader.container.build.selector.__proto__"]);
  });
});

describe("an MCM's cluster selector with a __proto__ key", () => {
  it("is refused, not read as an empty selector that would select every ManagedCluster", () => {
    const selector = JSON.parse('{"__proto__": "x"}') as Record<string, string>;
    const result = managedClusterModuleSchema.safeParse(mcmObject("m", "kmm", validSpec()));
    expect(result.success).toBe(true);
    const bad = mcmObject("m", "kmm", validSpec()) as { spec: Record<string, unknown> } & Record<string, unknown>;
    bad.spec = { ...bad.spec, selector };
    const refused = managedClusterModuleSchema.safeParse(bad);
    expect(refused.error?.issues.map((i) => [i.path.join("."), i.message])).toEqual([["spec.selector.__proto__", QUALIFIED_NAME_REGEX_MESSAGE]]);
  });
});

describe("DNS-1123 names checked part by part (the CRD's cheaper CEL form)", () => {
  const name = fc.string({ unit: fc.constantFrom(..."ab09-.A_/ "), maxLength: 12 });
  const regexOk = (v: string) => isDNS1123Subdomain(v).every((m) => m.startsWith("must be no more"));

  it("admits exactly the subdomains Kubernetes' regex admits", () => {
    fc.assert(fc.property(name, (v) => isDns1123SubdomainByParts(v) === regexOk(v)), { numRuns: 5000 });
  });

  it("gives a DNS label the message Kubernetes gives: the regex one, or 'must not contain dots'", () => {
    fc.assert(
      fc.property(name, (v) => {
        const expected = isDNS1123Label(v).filter((m) => !m.startsWith("must be no more"));
        const got = FORMAT_CHECKS.dns1123Label.filter((c) => !c.ok(v)).map((c) => c.message);
        return JSON.stringify(got) === JSON.stringify(expected);
      }),
      { numRuns: 5000 },
    );
  });
});
