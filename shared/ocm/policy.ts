// Policy and PlacementBinding (policy.open-cluster-management.io/v1, CRDs in
// open-cluster-management.io/governance-policy-propagator v0.18.0 deploy/crds) and ConfigurationPolicy
// (policy.open-cluster-management.io/v1, open-cluster-management.io/config-policy-controller v0.18.0 deploy/crds).
import { z } from "zod";
import { labelSelectorSchema, objectMetaSchema } from "../k8s/core.generated.ts";
import { PLACEMENT_API_VERSION, PLACEMENTRULE_API_VERSION } from "./placement.ts";
import { defineOcmModel, embeddedResourceSchema, OcmObjectInvalidError, type EmbeddedResource } from "./model.ts";

export const POLICY_API_VERSION = "policy.open-cluster-management.io/v1";
const POLICY_GROUP = "policy.open-cluster-management.io";

// The CRDs accept both spellings; the propagator treats them case-insensitively.
const remediationActionSchema = z.enum(["Inform", "inform", "Enforce", "enforce"]);
const complianceStateSchema = z.enum(["Compliant", "Pending", "NonCompliant"]);

const policyDependencySchema = z.object({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  name: z.string(),
  namespace: z.string().optional(),
  compliance: complianceStateSchema,
});

export const policyTemplateSchema = z.object({
  objectDefinition: embeddedResourceSchema,
  extraDependencies: z.array(policyDependencySchema).optional(),
  ignorePending: z.boolean().optional(),
});
export type PolicyTemplate = z.infer<typeof policyTemplateSchema>;

export const policySchema = z.object({
  apiVersion: z.literal(POLICY_API_VERSION),
  kind: z.literal("Policy"),
  metadata: objectMetaSchema,
  spec: z.object({
    disabled: z.boolean(),
    remediationAction: remediationActionSchema.optional(),
    "policy-templates": z.array(policyTemplateSchema),
    copyPolicyMetadata: z.boolean().optional(),
    dependencies: z.array(policyDependencySchema).optional(),
    hubTemplateOptions: z.object({ serviceAccountName: z.string().optional() }).optional(),
  }),
  status: z
    .object({
      compliant: complianceStateSchema.optional(),
      placement: z
        .array(
          z.object({
            placement: z.string().optional(),
            placementBinding: z.string().optional(),
            placementRule: z.string().optional(),
            policySet: z.string().optional(),
            decisions: z
              .array(z.object({ clusterName: z.string().optional(), clusterNamespace: z.string().optional() }))
              .optional(),
          }),
        )
        .optional(),
      status: z
        .array(
          z.object({
            clustername: z.string().optional(),
            clusternamespace: z.string().optional(),
            compliant: complianceStateSchema.optional(),
          }),
        )
        .optional(),
      details: z
        .array(
          z.object({
            compliant: complianceStateSchema.optional(),
            history: z
              .array(
                z.object({
                  eventName: z.string().optional(),
                  lastTimestamp: z.string().optional(),
                  message: z.string().optional(),
                }),
              )
              .optional(),
            templateMeta: z.looseObject({}).optional(),
          }),
        )
        .optional(),
    })
    .optional(),
});
export type PolicyObject = z.infer<typeof policySchema>;

export const Policy = defineOcmModel(policySchema, { apiVersion: POLICY_API_VERSION, kind: "Policy" });

const complianceTypeSchema = z.enum([
  "MustHave",
  "Musthave",
  "musthave",
  "MustOnlyHave",
  "Mustonlyhave",
  "mustonlyhave",
  "MustNotHave",
  "Mustnothave",
  "mustnothave",
]);

export const objectTemplateSchema = z.object({
  complianceType: complianceTypeSchema,
  objectDefinition: embeddedResourceSchema,
  metadataComplianceType: z.enum(["MustHave", "Musthave", "musthave", "MustOnlyHave", "Mustonlyhave", "mustonlyhave"]).optional(),
  objectSelector: labelSelectorSchema.optional(),
  recordDiff: z.enum(["Log", "InStatus", "None"]).optional(),
  recreateOption: z.enum(["None", "IfRequired", "Always"]).optional(),
});
export type ObjectTemplate = z.infer<typeof objectTemplateSchema>;

export const configurationPolicySchema = z.object({
  apiVersion: z.literal(POLICY_API_VERSION),
  kind: z.literal("ConfigurationPolicy"),
  metadata: objectMetaSchema,
  spec: z
    .object({
      // Required with a default in the CRD; optional here because a ConfigurationPolicy embedded in a
      // Policy usually inherits it from the Policy and is read before any API server defaulted it.
      remediationAction: remediationActionSchema.optional(),
      severity: z.enum(["low", "Low", "medium", "Medium", "high", "High", "critical", "Critical"]).optional(),
      "object-templates": z.array(objectTemplateSchema).optional(),
      "object-templates-raw": z.string().optional(),
      namespaceSelector: labelSelectorSchema
        .extend({
          include: z.array(z.string()).optional(),
          exclude: z.array(z.string()).optional(),
          terminatingInclusion: z.enum(["IfMatch", "Never", "Default"]).optional(),
        })
        .optional(),
      pruneObjectBehavior: z.enum(["DeleteAll", "DeleteIfCreated", "None"]).optional(),
      evaluationInterval: z.object({ compliant: z.string().optional(), noncompliant: z.string().optional() }).optional(),
      customMessage: z.object({ compliant: z.string().optional(), noncompliant: z.string().optional() }).optional(),
    }),
  status: z
    .object({
      compliant: z.enum(["Compliant", "Pending", "NonCompliant", "Terminating"]).optional(),
      lastEvaluated: z.string().optional(),
      lastEvaluatedGeneration: z.int().optional(),
      compliancyDetails: z.array(z.looseObject({})).optional(),
      history: z.array(z.object({ lastTimestamp: z.string().optional(), message: z.string().optional() })).optional(),
      relatedObjects: z.array(z.looseObject({})).optional(),
    })
    .optional(),
});
export type ConfigurationPolicyObject = z.infer<typeof configurationPolicySchema>;

export const ConfigurationPolicy = defineOcmModel(configurationPolicySchema, {
  apiVersion: POLICY_API_VERSION,
  kind: "ConfigurationPolicy",
});

export const placementBindingSchema = z.object({
  apiVersion: z.literal(POLICY_API_VERSION),
  kind: z.literal("PlacementBinding"),
  metadata: objectMetaSchema,
  placementRef: z.object({
    apiGroup: z.enum(["apps.open-cluster-management.io", "cluster.open-cluster-management.io"]),
    kind: z.enum(["PlacementRule", "Placement"]),
    name: z.string(),
  }),
  subjects: z.array(
    z.object({ apiGroup: z.literal(POLICY_GROUP), kind: z.enum(["Policy", "PolicySet"]), name: z.string() }),
  ),
  bindingOverrides: z.object({ remediationAction: z.enum(["Enforce", "enforce"]).optional() }).optional(),
  subFilter: z.literal("restricted").optional(),
  status: z.looseObject({}).optional(),
});
export type PlacementBindingObject = z.infer<typeof placementBindingSchema>;

export const PlacementBinding = defineOcmModel(placementBindingSchema, {
  apiVersion: POLICY_API_VERSION,
  kind: "PlacementBinding",
});

type ComplianceType = z.infer<typeof complianceTypeSchema>;

/** A ConfigurationPolicy, ready to embed in a Policy's policy-templates. */
export function configurationPolicy(input: {
  name: string;
  severity?: ConfigurationPolicyObject["spec"]["severity"];
  remediationAction?: z.infer<typeof remediationActionSchema>;
  objects: { complianceType: ComplianceType; objectDefinition: EmbeddedResource }[];
}): ConfigurationPolicyObject {
  const spec: ConfigurationPolicyObject["spec"] = {
    "object-templates": input.objects.map((o) => ({ ...o })),
  };
  if (input.severity) spec.severity = input.severity;
  if (input.remediationAction) spec.remediationAction = input.remediationAction;
  return ConfigurationPolicy.parse({
    apiVersion: POLICY_API_VERSION,
    kind: "ConfigurationPolicy",
    metadata: { name: input.name },
    spec,
  });
}

/** A Policy wrapping the given templates (usually ConfigurationPolicies). */
export function policy(input: {
  name: string;
  namespace: string;
  remediationAction?: z.infer<typeof remediationActionSchema>;
  disabled?: boolean;
  templates: EmbeddedResource[];
}): PolicyObject {
  return Policy.parse({
    apiVersion: POLICY_API_VERSION,
    kind: "Policy",
    metadata: { name: input.name, namespace: input.namespace },
    spec: {
      disabled: input.disabled ?? false,
      ...(input.remediationAction ? { remediationAction: input.remediationAction } : {}),
      "policy-templates": input.templates.map((objectDefinition) => ({ objectDefinition })),
    },
  });
}

/** A PlacementBinding from a Placement (or legacy PlacementRule) to Policies. */
export function placementBinding(input: {
  name: string;
  namespace: string;
  placement: { kind: "Placement" | "PlacementRule"; name: string };
  policies: string[];
}): PlacementBindingObject {
  const apiVersion = input.placement.kind === "Placement" ? PLACEMENT_API_VERSION : PLACEMENTRULE_API_VERSION;
  return PlacementBinding.parse({
    apiVersion: POLICY_API_VERSION,
    kind: "PlacementBinding",
    metadata: { name: input.name, namespace: input.namespace },
    placementRef: { apiGroup: apiVersion.split("/")[0], kind: input.placement.kind, name: input.placement.name },
    subjects: input.policies.map((name) => ({ apiGroup: POLICY_GROUP, kind: "Policy", name })),
  });
}

/**
 * The ConfigurationPolicies embedded in a Policy, validated. Templates of other kinds (OperatorPolicy,
 * CertificatePolicy…) are skipped; a malformed ConfigurationPolicy throws, naming the Policy and the template.
 */
export function embeddedConfigurationPolicies(p: PolicyObject): ConfigurationPolicyObject[] {
  const out: ConfigurationPolicyObject[] = [];
  p.spec["policy-templates"].forEach((t, i) => {
    if (!ConfigurationPolicy.is(t.objectDefinition)) return;
    try {
      out.push(ConfigurationPolicy.parse(t.objectDefinition));
    } catch (e) {
      if (!(e instanceof OcmObjectInvalidError)) throw e;
      const where = `Policy ${p.metadata.namespace ?? ""}/${p.metadata.name ?? ""} policy-templates[${i}]`;
      throw new OcmObjectInvalidError(`ConfigurationPolicy in ${where}`, e.objectName, e.issues);
    }
  });
  return out;
}
