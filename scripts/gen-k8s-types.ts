// Generates shared/k8s/core.generated.ts: zod schemas for the Kubernetes core and meta
// types the KMM API embeds, read from the real OpenAPI v3 document of the pinned
// Kubernetes release in the Go module cache, so the CRDs carry the true shapes.
//
//   node scripts/gen-k8s-types.ts          write the file
//   node scripts/gen-k8s-types.ts --check  exit 1 when the committed file is stale
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { guardOutput } from "../shared/runtime/exit.ts";

export const KUBERNETES_VERSION = "v1.34.4";

/** Definitions the KMM API uses directly; everything they reference is emitted too. */
export const ROOT_DEFINITIONS = [
  "io.k8s.api.core.v1.Container",
  "io.k8s.api.core.v1.EnvVar",
  "io.k8s.api.core.v1.LocalObjectReference",
  "io.k8s.api.core.v1.ObjectReference",
  "io.k8s.api.core.v1.Probe",
  "io.k8s.api.core.v1.ResourceRequirements",
  "io.k8s.api.core.v1.Toleration",
  "io.k8s.api.core.v1.Volume",
  "io.k8s.api.core.v1.VolumeMount",
  "io.k8s.apimachinery.pkg.apis.meta.v1.Condition",
  "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
  "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
];

const INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
const QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity";
const MAX_DESCRIPTION = 200;

const OUTPUT = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "shared", "k8s", "core.generated.ts");

// Only the parts of the OpenAPI document the generator understands; anything else fails loudly.
interface OpenAPISchema {
  type?: string | undefined;
  format?: string | undefined;
  description?: string | undefined;
  $ref?: string | undefined;
  allOf?: OpenAPISchema[] | undefined;
  oneOf?: OpenAPISchema[] | undefined;
  items?: OpenAPISchema | undefined;
  properties?: Record<string, OpenAPISchema> | undefined;
  additionalProperties?: OpenAPISchema | boolean | undefined;
  required?: string[] | undefined;
  default?: unknown;
  "x-kubernetes-list-type"?: string | undefined;
  "x-kubernetes-list-map-keys"?: string[] | undefined;
  "x-kubernetes-map-type"?: string | undefined;
}

const openAPISchema: z.ZodType<OpenAPISchema> = z.lazy(() =>
  z.object({
    type: z.string().optional(),
    format: z.string().optional(),
    description: z.string().optional(),
    $ref: z.string().optional(),
    allOf: z.array(openAPISchema).optional(),
    oneOf: z.array(openAPISchema).optional(),
    items: openAPISchema.optional(),
    properties: z.record(z.string(), openAPISchema).optional(),
    additionalProperties: z.union([openAPISchema, z.boolean()]).optional(),
    required: z.array(z.string()).optional(),
    default: z.unknown().optional(),
    "x-kubernetes-list-type": z.string().optional(),
    "x-kubernetes-list-map-keys": z.array(z.string()).optional(),
    "x-kubernetes-map-type": z.string().optional(),
  }),
);

const documentSchema = z.object({
  components: z.object({ schemas: z.record(z.string(), openAPISchema) }),
});

export class OpenAPIDocumentError extends Error {
  override name = "OpenAPIDocumentError";
}

export function openAPIDocumentPath(): string {
  const override = process.env.K8S_OPENAPI_V3_DIR;
  const dir =
    override ??
    path.join(
      execFileSync("go", ["env", "GOMODCACHE"], { encoding: "utf8", env: { ...process.env, GOTOOLCHAIN: "local" } }).trim(),
      `k8s.io/kubernetes@${KUBERNETES_VERSION}`,
      "api/openapi-spec/v3",
    );
  const file = path.join(dir, "api__v1_openapi.json");
  if (!existsSync(file)) {
    throw new OpenAPIDocumentError(
      `${file} not found: run 'GOTOOLCHAIN=local go mod download k8s.io/kubernetes@${KUBERNETES_VERSION}' (or set K8S_OPENAPI_V3_DIR)`,
    );
  }
  return file;
}

function refName(s: OpenAPISchema): string | undefined {
  const ref = s.$ref ?? (s.allOf?.length === 1 ? s.allOf[0]?.$ref : undefined);
  return ref?.replace("#/components/schemas/", "");
}

/** "HTTPGetAction" → "httpGetAction", "ObjectMeta" → "objectMeta". */
export function schemaConstName(definition: string): string {
  const short = definition.slice(definition.lastIndexOf(".") + 1);
  const lead = /^[A-Z]+(?=[A-Z][a-z]|$)/.exec(short)?.[0] ?? short.charAt(0);
  return `${lead.toLowerCase()}${short.slice(lead.length)}Schema`;
}

function typeName(definition: string): string {
  return definition.slice(definition.lastIndexOf(".") + 1);
}

function shortDescription(text: string | undefined): string | undefined {
  if (text === undefined || text === "") return undefined;
  const firstSentence = (/^.*?\.(?=\s|$)/s.exec(text)?.[0] ?? text).replace(/\s+/g, " ").trim();
  return firstSentence.length > MAX_DESCRIPTION ? `${firstSentence.slice(0, MAX_DESCRIPTION - 1)}…` : firstSentence;
}

class Generator {
  private readonly emitted = new Set<string>();
  private readonly visiting = new Set<string>();
  private readonly out: string[] = [];

  private readonly defs: Record<string, OpenAPISchema>;
  constructor(defs: Record<string, OpenAPISchema>) {
    this.defs = defs;
  }

  emit(definition: string): void {
    if (this.emitted.has(definition) || definition === INT_OR_STRING || definition === QUANTITY) return;
    if (this.visiting.has(definition)) {
      throw new OpenAPIDocumentError(`${definition} is recursive; the generator only supports acyclic core types`);
    }
    const def = this.defs[definition];
    if (def === undefined) throw new OpenAPIDocumentError(`definition ${definition} is missing from the OpenAPI document`);
    this.visiting.add(definition);
    const body = this.expression(def, true);
    this.visiting.delete(definition);
    this.emitted.add(definition);
    const name = schemaConstName(definition);
    const description = shortDescription(def.description);
    this.out.push(`/** ${description ?? typeName(definition)} (${definition}) */`);
    this.out.push(`export const ${name} = ${body};`);
    this.out.push(`export type ${typeName(definition)} = z.infer<typeof ${name}>;`, "");
  }

  private expression(s: OpenAPISchema, topLevel = false): string {
    const ref = refName(s);
    if (ref !== undefined) {
      if (ref === INT_OR_STRING || ref === QUANTITY) return "intOrString()";
      this.emit(ref);
      return schemaConstName(ref);
    }
    switch (s.type) {
      case "string":
        // date-time matters to CEL (timestamps) and to clients; other formats are informative only.
        return s.format === "date-time" ? 'z.string().meta({ format: "date-time" })' : "z.string()";
      case "boolean":
        return "z.boolean()";
      case "number":
        return "z.number()";
      case "integer":
        return s.format === "int32" ? "int32()" : "int64()";
      case "array": {
        if (s.items === undefined) throw new OpenAPIDocumentError("array schema without items");
        return `z.array(${this.expression(s.items)})`;
      }
      case "object": {
        if (s.properties !== undefined) return this.object(s);
        if (typeof s.additionalProperties === "object") {
          // stringMap (shared/k8s/maps.ts): z.record that refuses a "__proto__" key instead of dropping it.
          return `stringMap(${this.expression(s.additionalProperties)})`;
        }
        // Free-form objects (FieldsV1, RawExtension) are opaque by design upstream too.
        return 'z.record(z.string(), z.unknown()).meta({ "x-kubernetes-preserve-unknown-fields": true })';
      }
      case undefined:
        if (topLevel && s.properties !== undefined) return this.object(s);
        throw new OpenAPIDocumentError(`schema without type or $ref: ${JSON.stringify(s).slice(0, 200)}`);
      default:
        throw new OpenAPIDocumentError(`unsupported OpenAPI type ${s.type}`);
    }
  }

  private object(s: OpenAPISchema): string {
    const required = new Set(s.required ?? []);
    const lines = Object.keys(s.properties ?? {})
      .sort()
      .map((key) => {
        const prop = (s.properties ?? {})[key];
        if (prop === undefined) throw new OpenAPIDocumentError(`property ${key} vanished`);
        let expr = this.expression(prop);
        const meta: Record<string, unknown> = {};
        const description = shortDescription(prop.description);
        if (description !== undefined) meta.description = description;
        // "" and {} defaults would let a missing required field pass validation; keep only meaningful ones.
        if (prop.default !== undefined && prop.default !== "" && !(typeof prop.default === "object")) {
          meta.default = prop.default;
        }
        for (const ext of ["x-kubernetes-list-type", "x-kubernetes-list-map-keys", "x-kubernetes-map-type"] as const) {
          if (prop[ext] !== undefined) meta[ext] = prop[ext];
        }
        if (Object.keys(meta).length > 0) expr += `.meta(${JSON.stringify(meta)})`;
        if (!required.has(key)) expr += ".optional()";
        return `  ${/^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key)}: ${expr},`;
      });
    return `z.object({\n${lines.join("\n")}\n})`;
  }

  render(): string {
    return [
      `// GENERATED by \`npm run gen:k8s-types\` (node scripts/gen-k8s-types.ts) from the OpenAPI v3`,
      `// document of Kubernetes ${KUBERNETES_VERSION} (api/openapi-spec/v3/api__v1_openapi.json). Do not edit.`,
      `import { z } from "zod";`,
      `import { stringMap } from "./maps.ts";`,
      ``,
      `/** IntOrString and Quantity: a number or a string, as the API server accepts them. */`,
      `export function intOrString() {`,
      `  return z.union([z.int(), z.string()]).meta({ "x-kubernetes-int-or-string": true });`,
      `}`,
      `export function int32() {`,
      `  return z.int32().meta({ format: "int32" });`,
      `}`,
      `export function int64() {`,
      `  return z.int().meta({ format: "int64" });`,
      `}`,
      ``,
      ...this.out,
    ].join("\n");
  }
}

export function generateCoreTypes(documentText: string): string {
  const doc = documentSchema.parse(JSON.parse(documentText));
  const gen = new Generator(doc.components.schemas);
  for (const root of ROOT_DEFINITIONS) gen.emit(root);
  return gen.render();
}

function main(): void {
  const generated = generateCoreTypes(readFileSync(openAPIDocumentPath(), "utf8"));
  if (process.argv.includes("--check")) {
    const current = existsSync(OUTPUT) ? readFileSync(OUTPUT, "utf8") : "";
    if (current !== generated) {
      console.error(`${path.relative(process.cwd(), OUTPUT)} is out of date: run npm run gen:k8s-types`);
      process.exitCode = 1;
      return;
    }
    console.log(`${path.relative(process.cwd(), OUTPUT)} is up to date`);
    return;
  }
  writeFileSync(OUTPUT, generated);
  console.log(`wrote ${path.relative(process.cwd(), OUTPUT)}`);
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  guardOutput("gen-k8s-types");
  main();
}
