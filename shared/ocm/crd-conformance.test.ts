// Drift check: every field, enum value and required field of the hand-written zod schemas must agree
// with the real OCM CRDs (read from the Go module cache), so a typo or a field the API server would
// prune fails here rather than silently on a cluster.
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { crdPath, OCM_CRD_SOURCES } from "./crd-sources.ts";
import { clusterClaimSchema, managedClusterSchema } from "./managedcluster.ts";
import { manifestWorkSchema } from "./manifestwork.ts";
import { placementDecisionSchema, placementRuleSchema, placementSchema } from "./placement.ts";
import { configurationPolicySchema, placementBindingSchema, policySchema } from "./policy.ts";

const schemaNode = z.looseObject({
  type: z.union([z.string(), z.array(z.string())]).optional(),
  get properties() {
    return z.record(z.string(), schemaNode).optional();
  },
  get items() {
    return schemaNode.optional();
  },
  get additionalProperties() {
    return z.union([z.boolean(), schemaNode]).optional();
  },
  get anyOf() {
    return z.array(schemaNode).optional();
  },
  get oneOf() {
    return z.array(schemaNode).optional();
  },
  required: z.array(z.string()).optional(),
  enum: z.array(z.unknown()).optional(),
  const: z.unknown().optional(),
  "x-kubernetes-preserve-unknown-fields": z.boolean().optional(),
  "x-kubernetes-int-or-string": z.boolean().optional(),
});
type SchemaNode = z.infer<typeof schemaNode>;

const crdFileSchema = z.object({
  kind: z.literal("CustomResourceDefinition"),
  spec: z.object({
    names: z.object({ kind: z.string() }),
    versions: z.array(z.object({ name: z.string(), storage: z.boolean(), schema: z.object({ openAPIV3Schema: schemaNode }) })),
  }),
});

// Fields the CRD requires that our schema deliberately leaves optional.
const OPTIONAL_ON_PURPOSE = new Set(["ConfigurationPolicy spec.remediationAction"]);

function typesOf(n: SchemaNode): string[] {
  if (n["x-kubernetes-int-or-string"]) return ["integer", "string"];
  if (n.anyOf) return n.anyOf.flatMap(typesOf);
  if (n.type === undefined) return [];
  return Array.isArray(n.type) ? n.type : [n.type];
}

function compare(kind: string, mine: SchemaNode, crd: SchemaNode, path: string, errors: string[]): void {
  const here = path === "" ? "<root>" : path;
  const options = mine.anyOf ?? mine.oneOf;
  if (options) {
    for (const o of options) compare(kind, o, crd, path, errors);
    return;
  }
  if (crd["x-kubernetes-preserve-unknown-fields"] && !crd.properties) return;
  // The API server handles metadata itself; the CRD only says "object".
  if (path === "metadata") return;

  const mineTypes = typesOf(mine).filter((t) => t !== "null");
  const crdTypes = typesOf(crd);
  for (const t of mineTypes) {
    const ok = crdTypes.includes(t) || (t === "integer" && crdTypes.includes("number"));
    if (!ok && crdTypes.length > 0) errors.push(`${here}: ours is ${t}, the CRD says ${crdTypes.join("|")}`);
  }
  const allowed = crd.enum;
  if (allowed) {
    for (const v of mine.enum ?? (mine.const !== undefined ? [mine.const] : [])) {
      if (!allowed.includes(v)) errors.push(`${here}: value ${JSON.stringify(v)} is not in the CRD enum`);
    }
  }
  if (mine.properties) {
    for (const [key, sub] of Object.entries(mine.properties)) {
      const target = crd.properties?.[key];
      const p = path === "" ? key : `${path}.${key}`;
      if (target) compare(kind, sub, target, p, errors);
      else if (!crd["x-kubernetes-preserve-unknown-fields"]) errors.push(`${p}: not in the CRD`);
    }
    for (const req of crd.required ?? []) {
      const p = path === "" ? req : `${path}.${req}`;
      if (!(mine.required ?? []).includes(req) && !OPTIONAL_ON_PURPOSE.has(`${kind} ${p}`)) {
        errors.push(`${p}: required by the CRD, optional in ours`);
      }
    }
  }
  // A loose object (`additionalProperties: {}`) only passes through what it does not model.
  const mineMap = mine.additionalProperties;
  if (mineMap && typeof mineMap === "object" && Object.keys(mineMap).length > 0) {
    const target = crd.additionalProperties;
    if (target && typeof target === "object") compare(kind, mineMap, target, `${path}[*]`, errors);
    else if (!crd["x-kubernetes-preserve-unknown-fields"]) errors.push(`${here}: ours is a map, the CRD is not`);
  }
  if (mine.items) {
    if (crd.items) compare(kind, mine.items, crd.items, `${path}[]`, errors);
    else errors.push(`${here}: ours is a list, the CRD is not`);
  }
}

const ours: Record<string, z.ZodType> = {
  ManifestWork: manifestWorkSchema,
  ManagedCluster: managedClusterSchema,
  ClusterClaim: clusterClaimSchema,
  Placement: placementSchema,
  PlacementDecision: placementDecisionSchema,
  Policy: policySchema,
  PlacementBinding: placementBindingSchema,
  ConfigurationPolicy: configurationPolicySchema,
  PlacementRule: placementRuleSchema,
};

describe("OCM schemas agree with the real CRDs", () => {
  it("covers every kind it has a CRD source for", () => {
    expect(OCM_CRD_SOURCES.map((s) => s.kind).sort()).toEqual(Object.keys(ours).sort());
  });

  for (const source of OCM_CRD_SOURCES) {
    it(`${source.kind} (${source.module}@${source.version})`, async () => {
      const file = crdFileSchema.parse(parseYaml(await readFile(await crdPath(source), "utf8")));
      expect(file.spec.names.kind).toBe(source.kind);
      const storage = file.spec.versions.find((v) => v.storage);
      if (!storage) throw new Error(`${source.kind} CRD has no storage version`);
      const schema = ours[source.kind];
      if (!schema) throw new Error(`no schema for ${source.kind}`);
      const mine = schemaNode.parse(z.toJSONSchema(schema, { unrepresentable: "any" }));
      const errors: string[] = [];
      compare(source.kind, mine, storage.schema.openAPIV3Schema, "", errors);
      expect(errors).toEqual([]);
    });
  }

  it("detects a field the CRD does not have", () => {
    const bogus = schemaNode.parse(
      z.toJSONSchema(z.object({ spec: z.object({ workloadd: z.string(), deleteOption: z.object({ propagationPolicy: z.literal("Never") }) }) })),
    );
    const crd = schemaNode.parse({
      type: "object",
      properties: {
        spec: {
          type: "object",
          required: ["workload"],
          properties: {
            workload: { type: "object" },
            deleteOption: { type: "object", properties: { propagationPolicy: { type: "string", enum: ["Orphan"] } } },
          },
        },
      },
    });
    const errors: string[] = [];
    compare("X", bogus, crd, "", errors);
    expect(errors.sort()).toEqual([
      'spec.deleteOption.propagationPolicy: value "Never" is not in the CRD enum',
      "spec.workload: required by the CRD, optional in ours",
      "spec.workloadd: not in the CRD",
    ]);
  });
});
