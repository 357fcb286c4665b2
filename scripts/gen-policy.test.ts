import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { describe, expect, it } from "vitest";
import { Placement, PlacementRule } from "../shared/ocm/placement.ts";
import { Policy, PlacementBinding, embeddedConfigurationPolicies } from "../shared/ocm/policy.ts";
import { UsageError } from "../shared/runtime/cli-args.ts";
import { readWithPyYaml } from "../shared/testing/yaml.ts";
import { POLICY_FILE, POLICY_FILES, WORK_AGENT_SA, WORK_AGGREGATION_LABEL, imageFlags, labelPairs, parseToleration, planGenPolicy, renderPolicy, schedulingFlags, spokeObjects } from "./gen-policy.ts";

const docs = (text: string): Record<string, unknown>[] => parseAllDocuments(text).map((d) => d.toJS() as Record<string, unknown>);
const byKind = (objs: Record<string, unknown>[], kind: string) => objs.filter((o) => o.kind === kind);

describe("spoke installation Policy", () => {
  const rendered = docs(renderPolicy());

  it("is what policies/install-kmm-spoke.yaml holds (regenerate with npm run gen:policy)", () => {
    expect(readFileSync(POLICY_FILE, "utf8")).toBe(renderPolicy());
  });

  it("is a valid Policy, Placement and PlacementBinding wired to each other", () => {
    const policy = Policy.parse(byKind(rendered, "Policy")[0]);
    const placement = Placement.parse(byKind(rendered, "Placement")[0]);
    const binding = PlacementBinding.parse(byKind(rendered, "PlacementBinding")[0]);
    expect(policy.spec.remediationAction).toBe("enforce");
    expect(binding.placementRef).toEqual({ apiGroup: "cluster.open-cluster-management.io", kind: "Placement", name: placement.metadata.name });
    expect(binding.subjects).toEqual([{ apiGroup: "policy.open-cluster-management.io", kind: "Policy", name: policy.metadata.name }]);
    expect(placement.spec.clusterSets).toEqual(["global"]);
  });

  it("enforces the Module CRD as generated, the spoke's RBAC, and a managed spoke Deployment", () => {
    const policy = Policy.parse(byKind(rendered, "Policy")[0]);
    const [config] = embeddedConfigurationPolicies(policy);
    const objects = (config?.spec["object-templates"] ?? []).map((t) => t.objectDefinition as Record<string, unknown>);
    expect(objects).toEqual(spokeObjects());

    const crdText = readFileSync(new URL("../crds/kmm.sigs.x-k8s.io_modules.yaml", import.meta.url), "utf8");
    expect(byKind(objects, "CustomResourceDefinition")).toEqual(docs(crdText));
    const rbacText = readFileSync(new URL("../spoke/deploy/rbac.yaml", import.meta.url), "utf8");
    for (const o of docs(rbacText)) expect(objects).toContainEqual(o);

    const deployment = byKind(objects, "Deployment")[0] as { spec: { template: { spec: { serviceAccountName: string; containers: { env: { name: string; value?: string }[] }[] } } } };
    expect(deployment.spec.template.spec.serviceAccountName).toBe("kmm-spoke");
    expect(deployment.spec.template.spec.containers[0]?.env).toContainEqual({ name: "KMM_MANAGED", value: "1" });
  });

  it("lets the OCM work agent manage Modules, and nothing else, by binding and by aggregation", () => {
    const objects = spokeObjects();
    const binding = objects.find((o) => o.kind === "ClusterRoleBinding" && o.metadata?.name === "klusterlet-kmm") as { subjects: unknown[]; roleRef: { name: string } } | undefined;
    expect(binding?.subjects).toEqual([{ kind: "ServiceAccount", ...WORK_AGENT_SA }]);
    const role = objects.find((o) => o.kind === "ClusterRole" && o.metadata?.name === binding?.roleRef.name) as
      | { metadata: { labels?: Record<string, string> }; rules: { apiGroups: string[]; resources: string[] }[] }
      | undefined;
    expect(role?.rules.map((r) => [r.apiGroups, r.resources])).toEqual([[["kmm.sigs.x-k8s.io"], ["modules"]]]);
    expect(role?.metadata.labels).toEqual({ [WORK_AGGREGATION_LABEL]: "true" });
  });

  it("comes in a PlacementRule flavour with the same Policy (policies/install-kmm-spoke-placementrule.yaml)", () => {
    const text = renderPolicy(undefined, undefined, "placementrule");
    expect(readFileSync(POLICY_FILES.placementrule, "utf8")).toBe(text);
    const legacy = docs(text);
    expect(byKind(legacy, "Policy")).toEqual(byKind(rendered, "Policy"));
    expect(byKind(legacy, "Placement")).toEqual([]);
    expect(byKind(legacy, "ManagedClusterSetBinding")).toEqual([]);
    const rule = PlacementRule.parse(byKind(legacy, "PlacementRule")[0]);
    const binding = PlacementBinding.parse(byKind(legacy, "PlacementBinding")[0]);
    expect(rule.spec.clusterSelector).toEqual({ matchExpressions: [] });
    expect(binding.placementRef).toEqual({ apiGroup: "apps.open-cluster-management.io", kind: "PlacementRule", name: rule.metadata.name });
    expect(binding.subjects).toEqual(byKind(rendered, "PlacementBinding").map((b) => (b as { subjects: unknown[] }).subjects[0]));
  });
});

describe("gen-policy image flags", () => {
  const spoke = `registry.example.com/kmm/kmm-hub-spoke@sha256:${"b".repeat(64)}`;
  const worker = `registry.example.com/kmm/kmm-hub-worker@sha256:${"c".repeat(64)}`;
  const run = (args: string[]) => spawnSync(process.execPath, ["--disable-warning=ExperimentalWarning", fileURLToPath(new URL("./gen-policy.ts", import.meta.url)), ...args], { encoding: "utf8" });

  it("takes --image and --worker-image by digest and refuses tags, naming the flag", () => {
    expect(imageFlags({ image: spoke, "worker-image": worker })).toEqual({ image: spoke, worker });
    expect(imageFlags({})).toEqual({});
    expect(() => imageFlags({ image: "registry.example.com/kmm/kmm-hub-spoke:0.1.0" })).toThrow(/--image must name the image by digest/);
    expect(() => imageFlags({ "worker-image": "kmm-hub-worker" })).toThrow(/--worker-image must name the image by digest/);
  });

  it("--out writes a Policy whose spoke Deployment runs those digests; a tag exits 2 with the flag's message", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "kmm-gen-policy-"));
    try {
      const out = path.join(dir, "policy.yaml");
      const ok = run(["--image", spoke, "--worker-image", worker, "--out", out]);
      expect(ok.stderr).toBe("");
      expect(ok.status).toBe(0);
      const deployment = embeddedConfigurationPolicies(Policy.parse(byKind(docs(readFileSync(out, "utf8")), "Policy")[0]))
        .flatMap((c) => (c.spec["object-templates"] ?? []).map((t) => t.objectDefinition as Record<string, unknown>))
        .find((o) => o.kind === "Deployment") as { spec: { template: { spec: { containers: { image: string; env: { name: string; value?: string }[] }[] } } } };
      const [manager] = deployment.spec.template.spec.containers;
      expect(manager?.image).toBe(spoke);
      expect(manager?.env.find((e) => e.name === "RELATED_IMAGE_WORKER")?.value).toBe(worker);
      const bad = run(["--image", "registry.example.com/kmm/kmm-hub-spoke:latest", "--worker-image", worker, "--out", out]);
      expect(bad.status).toBe(2);
      expect(bad.stderr).toMatch(/^gen-policy: --image must name the image by digest, REPO@sha256:<64 hex>/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the committed Policy names the images by their bare names only, no registry or tag", () => {
    const objects = spokeObjects();
    const deployment = objects.find((o) => o.kind === "Deployment") as unknown as { spec: { template: { spec: { containers: { image: string; env: { name: string; value?: string }[] }[] } } } };
    expect(deployment.spec.template.spec.containers[0]?.image).toBe("kmm-hub-spoke");
    expect(deployment.spec.template.spec.containers[0]?.env.find((e) => e.name === "RELATED_IMAGE_WORKER")?.value).toBe("kmm-hub-worker");
  });
});

describe("gen-policy scheduling and selection flags", () => {
  const images = ["--image", `r.example.com/kmm-hub-spoke@sha256:${"b".repeat(64)}`, "--worker-image", `r.example.com/kmm-hub-worker@sha256:${"c".repeat(64)}`];
  type PodSpec = { nodeSelector?: unknown; tolerations?: unknown; imagePullSecrets?: unknown };
  const podSpec = (text: string): PodSpec => {
    const deployment = embeddedConfigurationPolicies(Policy.parse(byKind(docs(text), "Policy")[0]))
      .flatMap((c) => (c.spec["object-templates"] ?? []).map((t) => t.objectDefinition as Record<string, unknown>))
      .find((o) => o.kind === "Deployment") as { spec: { template: { spec: PodSpec } } };
    return deployment.spec.template.spec;
  };
  const run = (args: string[]) => spawnSync(process.execPath, ["--disable-warning=ExperimentalWarning", fileURLToPath(new URL("./gen-policy.ts", import.meta.url)), ...args], { encoding: "utf8" });

  it("reads tolerations as kubectl taint writes taints: Exists without a value, Equal with one, any effect without one", () => {
    expect(parseToleration("node-role.kubernetes.io/infra:NoSchedule")).toEqual({ key: "node-role.kubernetes.io/infra", operator: "Exists", effect: "NoSchedule" });
    expect(parseToleration("dedicated=kmm:NoExecute")).toEqual({ key: "dedicated", operator: "Equal", value: "kmm", effect: "NoExecute" });
    expect(parseToleration("dedicated")).toEqual({ key: "dedicated", operator: "Exists" });
    expect(() => parseToleration("dedicated=kmm:Never")).toThrow(/--toleration dedicated=kmm:Never: effect 'Never' is not one of NoSchedule, PreferNoSchedule, NoExecute/);
    expect(() => parseToleration("bad key:NoSchedule")).toThrow(/'bad key' is not a label key/);
    expect(() => parseToleration("k=v v")).toThrow(/'v v' is not a label value/);
  });

  it("reads KEY=VALUE pairs (empty values allowed) and refuses others naming the flag", () => {
    expect(labelPairs("--node-selector", ["node-role.kubernetes.io/infra=", "zone=a"])).toEqual({ "node-role.kubernetes.io/infra": "", zone: "a" });
    expect(() => labelPairs("--cluster-label", ["environment"])).toThrow(/^--cluster-label environment: expected KEY=VALUE/);
    expect(() => schedulingFlags({ "image-pull-secret": ["Not_A_Name"] })).toThrow(/--image-pull-secret Not_A_Name: not a Secret name/);
  });

  it("the default Deployment has no node selector, toleration or pull secret; the flags add exactly what they say", () => {
    expect(podSpec(renderPolicy())).not.toHaveProperty("nodeSelector");
    expect(podSpec(renderPolicy())).not.toHaveProperty("tolerations");
    expect(podSpec(renderPolicy())).not.toHaveProperty("imagePullSecrets");
    const scheduling = schedulingFlags({ "node-selector": ["node-role.kubernetes.io/infra="], toleration: ["node-role.kubernetes.io/infra:NoSchedule"], "image-pull-secret": ["my-registry"] });
    expect(podSpec(renderPolicy(undefined, undefined, "placement", undefined, scheduling))).toMatchObject({
      nodeSelector: { "node-role.kubernetes.io/infra": "" },
      tolerations: [{ key: "node-role.kubernetes.io/infra", operator: "Exists", effect: "NoSchedule" }],
      imagePullSecrets: [{ name: "my-registry" }],
    });
  });

  it("--out with --cluster-label, --node-selector, --toleration and --image-pull-secret renders them; a bad one exits 2 naming the flag", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "kmm-gen-policy-"));
    try {
      const out = path.join(dir, "policy.yaml");
      const ok = run([...images, "--cluster-label", "kmm=enabled", "--node-selector", "pool=infra", "--toleration", "pool=infra:NoSchedule", "--toleration", "gpu", "--image-pull-secret", "pull", "--out", out]);
      expect(ok.stderr).toBe("");
      expect(ok.status).toBe(0);
      const text = readFileSync(out, "utf8");
      expect(podSpec(text)).toMatchObject({
        nodeSelector: { pool: "infra" },
        tolerations: [{ key: "pool", operator: "Equal", value: "infra", effect: "NoSchedule" }, { key: "gpu", operator: "Exists" }],
        imagePullSecrets: [{ name: "pull" }],
      });
      const placement = Placement.parse(byKind(docs(text), "Placement")[0]);
      expect(JSON.stringify(placement.spec)).toContain('"kmm":"enabled"');
      const bad = run([...images, "--toleration", "pool=infra:Sometimes", "--out", out]);
      expect(bad.status).toBe(2);
      expect(bad.stderr).toMatch(/^gen-policy: --toleration pool=infra:Sometimes: effect 'Sometimes'/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("gen-policy output read as YAML 1.1 (field case 15's kind)", () => {
  it("label, node-selector and toleration values such as yes, on, n and e0 read back as those strings with PyYAML and the yaml library's 1.1 reader, as kubectl reads them", () => {
    const values = ["yes", "on", "n", "e0", "0755", "1_000", "null", "true"];
    const clusterLabels = Object.fromEntries(values.map((v, i) => [`label${i}`, v]));
    const scheduling = schedulingFlags({ "node-selector": values.map((v, i) => `sel${i}=${v}`), toleration: values.map((v, i) => `taint${i}=${v}:NoSchedule`) });
    const text = renderPolicy(`registry.example.com/kmm/kmm-hub-spoke@sha256:${"b".repeat(64)}`, `registry.example.com/kmm/kmm-hub-worker@sha256:${"c".repeat(64)}`, "placement", clusterLabels, scheduling);
    const expected = docs(text);
    expect(JSON.stringify(expected)).toContain(JSON.stringify(clusterLabels));
    expect(JSON.stringify(expected)).toContain(JSON.stringify(Object.fromEntries(values.map((v, i) => [`sel${i}`, v]))));
    expect(readWithPyYaml(text)).toEqual(expected);
    expect(parseAllDocuments(text, { version: "1.1" }).map((d) => d.toJS() as unknown)).toEqual(expected);
  });
});

describe("gen-policy command line", () => {
  const spoke = `registry.example.com/kmm/kmm-hub-spoke@sha256:${"b".repeat(64)}`;
  const worker = `registry.example.com/kmm/kmm-hub-worker@sha256:${"c".repeat(64)}`;
  const run = (args: string[]) => spawnSync(process.execPath, ["--disable-warning=ExperimentalWarning", fileURLToPath(new URL("./gen-policy.ts", import.meta.url)), ...args], { encoding: "utf8" });

  it("without options rewrites (or --check compares) the committed templates", () => {
    expect(planGenPolicy([])).toEqual({ kind: "templates", check: false });
    expect(planGenPolicy(["--check"])).toEqual({ kind: "templates", check: true });
  });

  it("refuses user options without --out: they would rewrite the committed templates", () => {
    for (const args of [["--toleration", "k:NoSchedule"], ["--node-selector", "a=b"], ["--image", spoke, "--worker-image", worker], ["--cluster-label", "a=b"]]) {
      expect(() => planGenPolicy(args)).toThrow(UsageError);
      expect(() => planGenPolicy(args)).toThrow(/need --out FILE \(or --out - for stdout\)/);
    }
    expect(() => planGenPolicy(["--check", "--out", "x.yaml"])).toThrow(UsageError);
  });

  it("refuses --out without both images by digest: a bare name cannot be pulled", () => {
    expect(() => planGenPolicy(["--out", "x.yaml"])).toThrow(/--out needs --image REPO@sha256:… and --worker-image REPO@sha256:…/);
    expect(() => planGenPolicy(["--image", spoke, "--out", "x.yaml"])).toThrow(/--out needs --worker-image REPO@sha256:…/);
    expect(() => planGenPolicy(["--node-selector", "a=b", "--out", "x.yaml"])).toThrow(UsageError);
    const plan = planGenPolicy(["--image", spoke, "--worker-image", worker, "--out", "-"]);
    expect(plan).toMatchObject({ kind: "render", out: "-" });
    expect(plan.kind === "render" ? plan.text : "").not.toMatch(/kmm-hub-(spoke|worker)\n/);
  });

  it("--out - prints the Policy on stdout; --help prints the usage (exit 0); a usage error is one line and a hint (exit 2)", () => {
    const out = run(["--image", spoke, "--worker-image", worker, "--out", "-"]);
    expect(out.status).toBe(0);
    expect(out.stdout).toBe(renderPolicy(spoke, worker));
    for (const flag of ["--help", "-h"]) {
      const help = run([flag]);
      expect(help.status).toBe(0);
      expect(help.stdout).toMatch(/^usage: npm run gen:policy/);
    }
    const bad = run(["--toleration", "k:NoSchedule"]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^gen-policy: --toleration need --out FILE .*\ntry 'npm run gen:policy -- --help' for usage\n$/);
    const unknown = run(["--bogus"]);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr.split("\n")).toHaveLength(3);
  });
});
