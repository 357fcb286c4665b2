// Placement and PlacementDecision (cluster.open-cluster-management.io/v1beta1, CRDs in
// open-cluster-management.io/api v1.2.0 cluster/v1beta1) and the legacy PlacementRule
// (apps.open-cluster-management.io/v1, CRD in open-cluster-management.io/multicloud-operators-subscription v0.16.0),
// which the RHACM Policy that installs the spoke edition still binds to.
import { z } from "zod";
import { labelSelectorSchema, objectMetaSchema } from "../k8s/core.generated.ts";
import { defineOcmModel, ocmConditionSchema } from "./model.ts";

export const PLACEMENT_API_VERSION = "cluster.open-cluster-management.io/v1beta1";
export const PLACEMENTRULE_API_VERSION = "apps.open-cluster-management.io/v1";

/** Label the placement controller puts on every PlacementDecision it owns. */
export const PLACEMENT_LABEL = "cluster.open-cluster-management.io/placement";

const claimSelectorSchema = z.object({
  matchExpressions: z
    .array(z.object({ key: z.string(), operator: z.string(), values: z.array(z.string()).optional() }))
    .optional(),
});

// Decision groups select by labels and claims only; predicates may also use CEL.
const groupClusterSelectorSchema = z.object({
  labelSelector: labelSelectorSchema.optional(),
  claimSelector: claimSelectorSchema.optional(),
});
const clusterSelectorSchema = groupClusterSelectorSchema.extend({
  celSelector: z.object({ celExpressions: z.array(z.string()).optional() }).optional(),
});

export const placementSpecSchema = z.object({
  clusterSets: z.array(z.string()).optional(),
  numberOfClusters: z.int().optional(),
  predicates: z.array(z.object({ requiredClusterSelector: clusterSelectorSchema.optional() })).optional(),
  prioritizerPolicy: z
    .object({
      mode: z.string().optional(),
      configurations: z
        .array(
          z.object({
            scoreCoordinate: z.object({
              type: z.enum(["BuiltIn", "AddOn"]),
              builtIn: z.string().optional(),
              addOn: z.object({ resourceName: z.string(), scoreName: z.string() }).optional(),
            }),
            weight: z.int().optional(),
          }),
        )
        .optional(),
    })
    .optional(),
  spreadPolicy: z
    .object({
      spreadConstraints: z
        .array(
          z.object({
            topologyKey: z.string(),
            topologyKeyType: z.enum(["Label", "Claim"]),
            maxSkew: z.int().optional(),
            whenUnsatisfiable: z.enum(["DoNotSchedule", "ScheduleAnyway"]).optional(),
          }),
        )
        .optional(),
    })
    .optional(),
  tolerations: z
    .array(
      z.object({
        key: z.string().optional(),
        operator: z.string().optional(),
        value: z.string().optional(),
        effect: z.enum(["NoSelect", "PreferNoSelect", "NoSelectIfNew"]).optional(),
        tolerationSeconds: z.int().optional(),
      }),
    )
    .optional(),
  decisionStrategy: z
    .object({
      groupStrategy: z
        .object({
          clustersPerDecisionGroup: z.union([z.int(), z.string()]).optional(),
          decisionGroups: z
            .array(z.object({ groupName: z.string(), groupClusterSelector: groupClusterSelectorSchema }))
            .optional(),
        })
        .optional(),
    })
    .optional(),
});
export type PlacementSpec = z.infer<typeof placementSpecSchema>;

export const placementSchema = z.object({
  apiVersion: z.literal(PLACEMENT_API_VERSION),
  kind: z.literal("Placement"),
  metadata: objectMetaSchema,
  spec: placementSpecSchema,
  status: z
    .object({
      numberOfSelectedClusters: z.int().optional(),
      decisionGroups: z
        .array(
          z.object({
            decisionGroupIndex: z.int().optional(),
            decisionGroupName: z.string().optional(),
            decisions: z.array(z.string()).optional(),
            clusterCount: z.int().optional(),
          }),
        )
        .optional(),
      conditions: z.array(ocmConditionSchema).optional(),
    })
    .optional(),
});
export type PlacementObject = z.infer<typeof placementSchema>;

export const Placement = defineOcmModel(placementSchema, { apiVersion: PLACEMENT_API_VERSION, kind: "Placement" });

export const placementDecisionSchema = z.object({
  apiVersion: z.literal(PLACEMENT_API_VERSION),
  kind: z.literal("PlacementDecision"),
  metadata: objectMetaSchema,
  status: z
    .object({ decisions: z.array(z.object({ clusterName: z.string(), reason: z.string() })) })
    .optional(),
});
export type PlacementDecisionObject = z.infer<typeof placementDecisionSchema>;

export const PlacementDecision = defineOcmModel(placementDecisionSchema, {
  apiVersion: PLACEMENT_API_VERSION,
  kind: "PlacementDecision",
});

/** Cluster names chosen by a set of PlacementDecisions (a Placement may spread them over several), sorted, unique. */
export function decidedClusters(decisions: readonly PlacementDecisionObject[]): string[] {
  const names = new Set<string>();
  for (const d of decisions) for (const c of d.status?.decisions ?? []) if (c.clusterName) names.add(c.clusterName);
  return [...names].sort();
}

/** A Placement selecting clusters by label (all cluster sets bound to the namespace), e.g. for a Policy. */
export function placement(input: {
  name: string;
  namespace: string;
  matchLabels?: Record<string, string>;
  clusterSets?: string[];
}): PlacementObject {
  const spec: PlacementSpec = {};
  if (input.clusterSets) spec.clusterSets = [...input.clusterSets];
  if (input.matchLabels) {
    spec.predicates = [{ requiredClusterSelector: { labelSelector: { matchLabels: { ...input.matchLabels } } } }];
  }
  return Placement.parse({
    apiVersion: PLACEMENT_API_VERSION,
    kind: "Placement",
    metadata: { name: input.name, namespace: input.namespace },
    spec,
  });
}

export const placementRuleSchema = z.object({
  apiVersion: z.literal(PLACEMENTRULE_API_VERSION),
  kind: z.literal("PlacementRule"),
  metadata: objectMetaSchema,
  spec: z.object({
    clusterSelector: labelSelectorSchema.optional(),
    clusterConditions: z.array(z.object({ type: z.string().optional(), status: z.string().optional() })).optional(),
    clusterReplicas: z.int().optional(),
    clusters: z.array(z.object({ name: z.string() })).optional(),
    policies: z
      .array(
        z.object({
          apiVersion: z.string().optional(),
          fieldPath: z.string().optional(),
          kind: z.string().optional(),
          name: z.string().optional(),
          namespace: z.string().optional(),
          resourceVersion: z.string().optional(),
          uid: z.string().optional(),
        }),
      )
      .optional(),
    resourceHint: z.object({ order: z.string().optional(), type: z.string().optional() }).optional(),
    schedulerName: z.string().optional(),
  }),
  status: z
    .object({
      decisions: z
        .array(z.object({ clusterName: z.string().optional(), clusterNamespace: z.string().optional() }))
        .optional(),
    })
    .optional(),
});
export type PlacementRuleObject = z.infer<typeof placementRuleSchema>;

export const PlacementRule = defineOcmModel(placementRuleSchema, {
  apiVersion: PLACEMENTRULE_API_VERSION,
  kind: "PlacementRule",
});

/**
 * A legacy PlacementRule (apps.open-cluster-management.io/v1) selecting managed clusters by label; an
 * empty selector selects every cluster, as in the RHACM Policy of the KMM documentation. Its decisions
 * are written to `status.decisions` by the PlacementRule controller (multicloud-operators-subscription).
 */
export function placementRule(input: {
  name: string;
  namespace: string;
  matchLabels?: Record<string, string>;
}): PlacementRuleObject {
  const clusterSelector = input.matchLabels && Object.keys(input.matchLabels).length > 0 ? { matchLabels: { ...input.matchLabels } } : { matchExpressions: [] };
  return PlacementRule.parse({
    apiVersion: PLACEMENTRULE_API_VERSION,
    kind: "PlacementRule",
    metadata: { name: input.name, namespace: input.namespace },
    spec: { clusterSelector },
  });
}
