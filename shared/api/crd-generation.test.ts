import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseKubeDocuments } from "../yaml/read.ts";
import { z } from "zod";
import { CRD_DIR, driftedFiles, generateFiles, SchemaConversionError, toStructural } from "../../scripts/gen-crds.ts";

type Schema = Record<string, unknown>;

function crd(file: string): Schema {
  const docs = parseKubeDocuments(generateFiles().get(file) ?? "").map((d) => d.toJSON() as Schema);
  const doc = docs[0];
  if (doc === undefined) throw new Error(`${file} was not generated`);
  return doc;
}

function version(doc: Schema): Schema {
  const spec = doc.spec as { versions: Schema[] };
  const v = spec.versions[0];
  if (v === undefined) throw new Error("CRD without versions");
  return v;
}

/** Every node of a structural schema: typed, or an int-or-string / preserve-unknown-fields leaf. */
function walk(node: Schema, where: string, visit: (n: Schema, where: string) => void): void {
  visit(node, where);
  const props = node.properties as Record<string, Schema> | undefined;
  for (const [k, v] of Object.entries(props ?? {})) walk(v, `${where}.${k}`, visit);
  if (node.items !== undefined) walk(node.items as Schema, `${where}[]`, visit);
  if (typeof node.additionalProperties === "object") walk(node.additionalProperties as Schema, `${where}{}`, visit);
}

describe("CRD generation", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it("is deterministic", () => {
    expect([...generateFiles()]).toEqual([...generateFiles()]);
  });

  it("matches what is committed in crds/ (npm run check:crds)", () => {
    const existing = readdirSync(CRD_DIR).filter((f) => f.endsWith(".yaml"));
    expect(driftedFiles(CRD_DIR, generateFiles(), existing)).toEqual([]);
  });

  it("detects changed, missing and stray files", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "crds-"));
    dirs.push(dir);
    const files = generateFiles();
    for (const [name, content] of files) writeFileSync(path.join(dir, name), content);
    const names = [...files.keys()];
    expect(driftedFiles(dir, files, names)).toEqual([]);

    const [first, second] = names;
    if (first === undefined || second === undefined) throw new Error("expected at least two generated files");
    writeFileSync(path.join(dir, first), readFileSync(path.join(dir, first), "utf8").replace("maxItems: 128", "maxItems: 129"));
    rmSync(path.join(dir, second));
    writeFileSync(path.join(dir, "old.yaml"), "kind: Stale\n");
    expect(driftedFiles(dir, files, [...names, "old.yaml"])).toEqual([first, second, "old.yaml (not generated)"]);
  });

  it("--check exits non-zero on drift and zero once regenerated", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "crds-"));
    dirs.push(dir);
    const script = path.join(CRD_DIR, "..", "scripts", "gen-crds.ts");
    const run = (...args: string[]) => spawnSync(process.execPath, [script, ...args, "--dir", dir], { encoding: "utf8" });

    const stale = run("--check");
    expect(stale.status).toBe(1);
    expect(stale.stderr).toContain("is out of date");
    expect(run().status).toBe(0);
    expect(run("--check").status).toBe(0);
  });

  it("emits structural schemas: every node typed, no references or unions", () => {
    for (const file of ["kmm.sigs.x-k8s.io_modules.yaml", "hub.kmm.sigs.x-k8s.io_managedclustermodules.yaml"]) {
      const schema = (version(crd(file)).schema as { openAPIV3Schema: Schema }).openAPIV3Schema;
      walk(schema, "$", (n, where) => {
        const typed =
          typeof n.type === "string" ||
          n["x-kubernetes-int-or-string"] === true ||
          n["x-kubernetes-preserve-unknown-fields"] === true;
        expect(typed, `${file} ${where} has no type`).toBe(true);
        for (const banned of ["$ref", "oneOf", "anyOf", "allOf", "const", "propertyNames"]) {
          expect(n[banned], `${file} ${where} has ${banned}`).toBeUndefined();
        }
      });
      expect(generateFiles().get(file)?.length).toBeLessThan(1024 * 1024);
    }
  });

  it("uses the real Kubernetes shapes for core types", () => {
    const schema = (version(crd("kmm.sigs.x-k8s.io_modules.yaml")).schema as { openAPIV3Schema: Schema }).openAPIV3Schema;
    const at = (p: string[]): Schema =>
      p.reduce<Schema>((n, k) => (k === "[]" ? (n.items as Schema) : (n.properties as Record<string, Schema>)[k] as Schema), schema);
    const volume = at(["spec", "devicePlugin", "volumes", "[]"]);
    expect(volume.required).toEqual(["name"]);
    expect(Object.keys(volume.properties as Schema)).toContain("configMap");
    expect(at(["spec", "devicePlugin", "container", "resources", "limits"]).additionalProperties).toEqual({
      "x-kubernetes-int-or-string": true,
      maxLength: 64,
    });
    expect(at(["spec", "devicePlugin", "container", "livenessProbe", "httpGet", "port"])["x-kubernetes-int-or-string"]).toBe(
      true,
    );
    expect(at(["spec", "tolerations", "[]", "tolerationSeconds"])).toMatchObject({ type: "integer", format: "int64" });
    expect(at(["spec", "moduleLoader", "container", "modprobe", "dirName"]).default).toBe("/opt");
    expect(at(["status", "conditions"])).toMatchObject({
      "x-kubernetes-list-type": "map",
      "x-kubernetes-list-map-keys": ["type"],
    });
  });

  it("declares scope, names, status subresource and printer columns", () => {
    const module = crd("kmm.sigs.x-k8s.io_modules.yaml");
    const mcm = crd("hub.kmm.sigs.x-k8s.io_managedclustermodules.yaml");
    expect(module.spec).toMatchObject({ scope: "Namespaced", group: "kmm.sigs.x-k8s.io", names: { kind: "Module" } });
    expect(mcm.spec).toMatchObject({
      scope: "Cluster",
      group: "hub.kmm.sigs.x-k8s.io",
      names: { kind: "ManagedClusterModule", shortNames: ["mcm"] },
    });
    for (const doc of [module, mcm]) expect(version(doc).subresources).toEqual({ status: {} });
    const columns = (doc: Schema) => (version(doc).additionalPrinterColumns as { name: string }[]).map((c) => c.name);
    expect(columns(module)).toEqual(["Available", "Desired", "Device-Plugin-Available", "Age"]);
    expect(columns(mcm)).toEqual(["Desired", "Applied", "Degraded", "Age"]);
  });

  it("enforces Module name + namespace through a ValidatingAdmissionPolicy and its binding", () => {
    const docs = parseKubeDocuments(generateFiles().get("kmm.sigs.x-k8s.io_modules_admission-policy.yaml") ?? "").map(
      (d) => d.toJSON() as Schema,
    );
    expect(docs.map((d) => d.kind)).toEqual(["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"]);
    expect(JSON.stringify(docs[0])).toContain("size(object.metadata.name) + size(object.metadata.namespace) <= 41");
  });
});

describe("toStructural", () => {
  it("refuses what a CRD cannot express", () => {
    const union = z.toJSONSchema(z.object({ a: z.union([z.string(), z.boolean()]) }));
    expect(() => toStructural(union as never)).toThrow(SchemaConversionError);
    expect(() => toStructural({ type: "object", properties: { a: { description: "untyped" } } })).toThrow(/\$\.a: schema has no type/);
  });

  it("keeps CEL rules, bounds and defaults, drops JavaScript's integer limits", () => {
    const json = z.toJSONSchema(
      z
        .object({ n: z.int(), s: z.string().max(3).default("x"), l: z.array(z.string()).max(2) })
        .meta({ "x-kubernetes-validations": [{ rule: "self.n > 0", message: "n must be positive" }] }),
      { io: "input" },
    );
    expect(toStructural(json as never)).toEqual({
      type: "object",
      properties: {
        n: { type: "integer" },
        s: { default: "x", type: "string", maxLength: 3 },
        l: { maxItems: 2, type: "array", items: { type: "string" } },
      },
      required: ["n", "l"],
      "x-kubernetes-validations": [{ rule: "self.n > 0", message: "n must be positive" }],
    });
  });
});

describe("Kubernetes' validation of the types a Module copies into pods (issue 13, kind 2)", () => {
  const rulesAt = (file: string, p: string[]): string[] => {
    const schema = (version(crd(file)).schema as { openAPIV3Schema: Schema }).openAPIV3Schema;
    const node = p.reduce<Schema>(
      (n, k) => (k === "[]" ? (n.items as Schema) : ((n.properties as Record<string, Schema>)[k] as Schema)),
      schema,
    );
    return ((node["x-kubernetes-validations"] ?? []) as { rule: string }[]).map((r) => r.rule);
  };

  it.each([
    [["tolerations", "[]"], "self.key.matches"],
    [["selector"], "self.all(k, self[k].matches"],
    [["devicePlugin", "container", "env", "[]"], "self.name.matches"],
    [["devicePlugin", "container", "resources"], "isQuantity"],
    [["devicePlugin", "container", "volumeMounts", "[]"], "mountPropagation"],
    [["devicePlugin", "container", "livenessProbe"], "has(self.exec)"],
    [["devicePlugin", "volumes", "[]"], "hostPath.path.matches"],
    [["devicePlugin"], "kubelet-device-plugins"],
    [["moduleLoader", "serviceAccountName"], "self.matches"],
  ])("Module and MCM: %j has a rule using %s", (p, needle) => {
    const module = rulesAt("kmm.sigs.x-k8s.io_modules.yaml", ["spec", ...p]);
    const mcm = rulesAt("hub.kmm.sigs.x-k8s.io_managedclustermodules.yaml", ["spec", "moduleSpec", ...p]);
    expect(module.some((r) => r.includes(needle))).toBe(true);
    expect(mcm).toEqual(module);
  });
});
