import { Model, createTypeMetaGuard, type ModelData, type TypeMeta } from "@kubernetes-models/base";
import { z } from "zod";

/** An object read from (or about to be sent to) the API server does not match the OCM schema we rely on. */
export class OcmObjectInvalidError extends Error {
  override readonly name = "OcmObjectInvalidError";
  readonly kind: string;
  readonly objectName: string;
  readonly issues: readonly z.core.$ZodIssue[];
  constructor(
    kind: string,
    objectName: string,
    issues: readonly z.core.$ZodIssue[],
  ) {
    super(`${kind} ${objectName} is not valid: ${formatIssues(issues)}`);
    this.kind = kind;
    this.objectName = objectName;
    this.issues = issues;
  }
}

/** "spec.workload.manifests[0].kind: Invalid input…; …" — paths as a user would write them in YAML. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((i) => {
      const path = i.path
        .map((p, n) => (typeof p === "number" ? `[${p}]` : `${n === 0 ? "" : "."}${String(p)}`))
        .join("");
      return path === "" ? i.message : `${path}: ${i.message}`;
    })
    .join("; ");
}

function describeName(value: unknown): string {
  const parsed = z
    .object({ metadata: z.object({ name: z.string().optional(), namespace: z.string().optional() }).optional() })
    .safeParse(value);
  if (!parsed.success) return "<unnamed>";
  const meta = parsed.data.metadata;
  const name = meta?.name ?? "<unnamed>";
  return meta?.namespace ? `${meta.namespace}/${name}` : name;
}

/** Validates `value` with `schema`, throwing an error that names the object and every failing field. */
export function parseOcmObject<S extends z.ZodType>(schema: S, kind: string, value: unknown): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new OcmObjectInvalidError(kind, describeName(value), result.error.issues);
  return result.data;
}

/**
 * A model class for one OCM kind: `new ManifestWork({ metadata, spec })` fills in apiVersion and kind,
 * `validate()` runs the zod schema (the single source of truth), and the statics parse or recognise
 * plain objects coming from the API.
 */
export interface OcmModelClass<T extends TypeMeta> {
  new (data: ModelData<T>): Model<T> & T;
  readonly apiVersion: T["apiVersion"];
  readonly kind: T["kind"];
  readonly schema: z.ZodType<T>;
  /** Cheap TypeMeta check (apiVersion and kind only), e.g. to route watch events. */
  is(value: unknown): value is T;
  /** Full validation; throws OcmObjectInvalidError. */
  parse(value: unknown): T;
}

export function defineOcmModel<T extends TypeMeta>(
  schema: z.ZodType<T>,
  typeMeta: { apiVersion: T["apiVersion"]; kind: T["kind"] },
): OcmModelClass<T> {
  const { apiVersion, kind } = typeMeta;
  class OcmModel extends Model<T> {
    static readonly apiVersion = apiVersion;
    static readonly kind = kind;
    static readonly schema = schema;
    static readonly is = createTypeMetaGuard<T>({ apiVersion, kind });
    static parse(value: unknown): T {
      return parseOcmObject(schema, kind, value);
    }
    constructor(data: ModelData<T>) {
      // TypeMeta goes first so serialised objects read like hand-written manifests.
      super({ apiVersion, kind, ...data });
    }
    override validate(): void {
      parseOcmObject(schema, kind, this.toJSON());
    }
  }
  return OcmModel as unknown as OcmModelClass<T>;
}

/** `x-kubernetes-embedded-resource` + `x-kubernetes-preserve-unknown-fields`: any object with TypeMeta. */
export const embeddedResourceSchema = z.looseObject({
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
  metadata: z.looseObject({ name: z.string().optional(), namespace: z.string().optional() }).optional(),
});
export type EmbeddedResource = z.infer<typeof embeddedResourceSchema>;

/** metav1.Condition as OCM uses it (status restricted to the three values its CRDs enumerate). */
export const ocmConditionSchema = z.object({
  type: z.string().min(1),
  status: z.enum(["True", "False", "Unknown"]),
  reason: z.string(),
  message: z.string(),
  lastTransitionTime: z.string(),
  observedGeneration: z.int().optional(),
});
export type OcmCondition = z.infer<typeof ocmConditionSchema>;

/** Finds a condition by type; `undefined` when the controller has not reported it yet. */
export function findCondition(conditions: readonly OcmCondition[] | undefined, type: string): OcmCondition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** True only when the condition is present and "True" (absent or Unknown count as not true). */
export function isConditionTrue(conditions: readonly OcmCondition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === "True";
}
