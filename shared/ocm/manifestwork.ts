// ManifestWork (work.open-cluster-management.io/v1), field names from the CRD in
// open-cluster-management.io/api v1.2.0 (work/v1/0000_00_work.open-cluster-management.io_manifestworks.crd.yaml).
import { z } from "zod";
import { objectMetaSchema, type OwnerReference } from "../k8s/core.generated.ts";
import { defineOcmModel, embeddedResourceSchema, ocmConditionSchema, type EmbeddedResource } from "./model.ts";

export const MANIFESTWORK_API_VERSION = "work.open-cluster-management.io/v1";

export const resourceIdentifierSchema = z.object({
  group: z.string().optional(),
  resource: z.string().min(1),
  name: z.string().min(1),
  namespace: z.string().optional(),
});
export type ResourceIdentifier = z.infer<typeof resourceIdentifierSchema>;

export const jsonPathSchema = z.object({
  name: z.string().min(1),
  path: z.string().min(1),
  version: z.string().optional(),
});
export type JsonPath = z.infer<typeof jsonPathSchema>;

export const feedbackRuleSchema = z.object({
  type: z.enum(["WellKnownStatus", "JSONPaths"]),
  jsonPaths: z.array(jsonPathSchema).optional(),
});
export type FeedbackRule = z.infer<typeof feedbackRuleSchema>;

export const conditionRuleSchema = z.object({
  type: z.enum(["WellKnownConditions", "CEL"]),
  condition: z.string().min(1),
  celExpressions: z.array(z.string()).optional(),
  message: z.string().optional(),
  messageExpression: z.string().optional(),
});

export const updateStrategySchema = z.object({
  type: z.enum(["Update", "CreateOnly", "ServerSideApply", "ReadOnly"]),
  serverSideApply: z
    .object({
      fieldManager: z.string().optional(),
      force: z.boolean().optional(),
      ignoreFields: z
        .array(
          z.object({
            condition: z.enum(["OnSpokePresent", "OnSpokeChange"]),
            jsonPaths: z.array(z.string()),
          }),
        )
        .optional(),
    })
    .optional(),
});
export type UpdateStrategy = z.infer<typeof updateStrategySchema>;

export const manifestConfigOptionSchema = z.object({
  resourceIdentifier: resourceIdentifierSchema,
  feedbackRules: z.array(feedbackRuleSchema).optional(),
  feedbackScrapeType: z.enum(["Poll", "Watch"]).optional(),
  conditionRules: z.array(conditionRuleSchema).optional(),
  updateStrategy: updateStrategySchema.optional(),
});
export type ManifestConfigOption = z.infer<typeof manifestConfigOptionSchema>;

const orphaningRuleSchema = z.object({
  group: z.string().optional(),
  resource: z.string().min(1),
  name: z.string().min(1),
  namespace: z.string().optional(),
});

export const deleteOptionSchema = z.object({
  propagationPolicy: z.enum(["Foreground", "Orphan", "SelectivelyOrphan"]).optional(),
  selectivelyOrphans: z.object({ orphaningRules: z.array(orphaningRuleSchema).optional() }).optional(),
  ttlSecondsAfterFinished: z.int().optional(),
});
export type DeleteOption = z.infer<typeof deleteOptionSchema>;

export const manifestWorkSpecSchema = z.object({
  workload: z.object({ manifests: z.array(embeddedResourceSchema).optional() }).optional(),
  deleteOption: deleteOptionSchema.optional(),
  manifestConfigs: z.array(manifestConfigOptionSchema).optional(),
  executor: z
    .object({
      subject: z
        .object({
          type: z.literal("ServiceAccount"),
          serviceAccount: z.object({ name: z.string(), namespace: z.string() }).optional(),
        })
        .optional(),
    })
    .optional(),
});
export type ManifestWorkSpec = z.infer<typeof manifestWorkSpecSchema>;

export const fieldValueSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("Integer"), integer: z.int() }),
  z.object({ type: z.literal("String"), string: z.string() }),
  z.object({ type: z.literal("Boolean"), boolean: z.boolean() }),
  z.object({ type: z.literal("JsonRaw"), jsonRaw: z.string() }),
]);
export type FieldValue = z.infer<typeof fieldValueSchema>;

export const feedbackValueSchema = z.object({ name: z.string(), fieldValue: fieldValueSchema });
export type FeedbackValue = z.infer<typeof feedbackValueSchema>;

export const manifestConditionSchema = z.object({
  resourceMeta: z.object({
    ordinal: z.int(),
    group: z.string().optional(),
    version: z.string().optional(),
    kind: z.string().optional(),
    resource: z.string().optional(),
    name: z.string().optional(),
    namespace: z.string().optional(),
  }),
  statusFeedback: z.object({ values: z.array(feedbackValueSchema).optional() }).optional(),
  conditions: z.array(ocmConditionSchema),
});
export type ManifestCondition = z.infer<typeof manifestConditionSchema>;

export const manifestWorkStatusSchema = z.object({
  conditions: z.array(ocmConditionSchema).optional(),
  resourceStatus: z.object({ manifests: z.array(manifestConditionSchema).optional() }).optional(),
});
export type ManifestWorkStatus = z.infer<typeof manifestWorkStatusSchema>;

export const manifestWorkSchema = z.object({
  apiVersion: z.literal(MANIFESTWORK_API_VERSION),
  kind: z.literal("ManifestWork"),
  metadata: objectMetaSchema,
  spec: manifestWorkSpecSchema.optional(),
  status: manifestWorkStatusSchema.optional(),
});
export type ManifestWorkObject = z.infer<typeof manifestWorkSchema>;

export const ManifestWork = defineOcmModel(manifestWorkSchema, {
  apiVersion: MANIFESTWORK_API_VERSION,
  kind: "ManifestWork",
});

/** ManifestWork condition types reported by the work agent. */
export const ManifestWorkConditions = {
  Applied: "Applied",
  Available: "Available",
  Progressing: "Progressing",
  Degraded: "Degraded",
} as const;

export interface ManifestWorkInput {
  name: string;
  /** The ManagedCluster name: a ManifestWork lives in its cluster's namespace on the hub. */
  namespace: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  manifests: EmbeddedResource[];
  manifestConfigs?: ManifestConfigOption[];
  deleteOption?: DeleteOption;
}

/** Builds a validated ManifestWork (throws OcmObjectInvalidError on a malformed input). */
export function manifestWork(input: ManifestWorkInput): ManifestWorkObject {
  const metadata: ManifestWorkObject["metadata"] = { name: input.name, namespace: input.namespace };
  if (input.labels) metadata.labels = { ...input.labels };
  if (input.annotations) metadata.annotations = { ...input.annotations };
  if (input.ownerReferences) metadata.ownerReferences = input.ownerReferences.map((o) => ({ ...o }));
  const spec: ManifestWorkSpec = { workload: { manifests: input.manifests } };
  if (input.manifestConfigs) spec.manifestConfigs = input.manifestConfigs;
  if (input.deleteOption) spec.deleteOption = input.deleteOption;
  return ManifestWork.parse({ apiVersion: MANIFESTWORK_API_VERSION, kind: "ManifestWork", metadata, spec });
}

/** A JSONPaths feedback rule set, e.g. `{ desired: ".status.moduleLoader.desiredNumber" }`. */
export function jsonPathsFeedback(paths: Record<string, string>): FeedbackRule {
  return { type: "JSONPaths", jsonPaths: Object.entries(paths).map(([name, path]) => ({ name, path })) };
}

function sameResource(meta: ManifestCondition["resourceMeta"], id: ResourceIdentifier): boolean {
  return (
    (meta.group ?? "") === (id.group ?? "") &&
    meta.resource === id.resource &&
    meta.name === id.name &&
    (meta.namespace ?? "") === (id.namespace ?? "")
  );
}

/** The status of one manifest of the work, matched the way the work agent identifies it. */
export function manifestStatus(work: ManifestWorkObject, id: ResourceIdentifier): ManifestCondition | undefined {
  return work.status?.resourceStatus?.manifests?.find((m) => sameResource(m.resourceMeta, id));
}

/** The statusFeedback values of one manifest by name (empty when the agent has reported nothing yet). */
export function feedbackValues(work: ManifestWorkObject, id: ResourceIdentifier): Map<string, FieldValue> {
  const values = manifestStatus(work, id)?.statusFeedback?.values ?? [];
  return new Map(values.map((v) => [v.name, v.fieldValue]));
}

/** An Integer feedback value; `undefined` when absent or of another type (e.g. the field is not set yet). */
export function integerFeedback(values: ReadonlyMap<string, FieldValue>, name: string): number | undefined {
  const v = values.get(name);
  return v?.type === "Integer" ? v.integer : undefined;
}

/** A String feedback value; `undefined` when absent or of another type. */
export function stringFeedback(values: ReadonlyMap<string, FieldValue>, name: string): string | undefined {
  const v = values.get(name);
  return v?.type === "String" ? v.string : undefined;
}
