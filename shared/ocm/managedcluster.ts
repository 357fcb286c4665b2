// ManagedCluster (cluster.open-cluster-management.io/v1) and ClusterClaim (…/v1alpha1), field names from
// the CRDs in open-cluster-management.io/api v1.2.0 (cluster/v1 and cluster/v1alpha1).
import { z } from "zod";
import { objectMetaSchema } from "../k8s/core.generated.ts";
import { defineOcmModel, ocmConditionSchema } from "./model.ts";

export const MANAGEDCLUSTER_API_VERSION = "cluster.open-cluster-management.io/v1";
export const CLUSTERCLAIM_API_VERSION = "cluster.open-cluster-management.io/v1alpha1";

/** The ClusterClaim CRD caps spec.value at this many characters (maxLength in cluster/v1alpha1). */
export const CLUSTER_CLAIM_VALUE_MAX_LENGTH = 1024;

const quantityMapSchema = z.record(z.string(), z.union([z.int(), z.string()]));

export const managedClusterSchema = z.object({
  apiVersion: z.literal(MANAGEDCLUSTER_API_VERSION),
  kind: z.literal("ManagedCluster"),
  metadata: objectMetaSchema,
  spec: z
    .object({
      hubAcceptsClient: z.boolean().optional(),
      leaseDurationSeconds: z.int().optional(),
      managedClusterClientConfigs: z.array(z.object({ url: z.string(), caBundle: z.string().optional() })).optional(),
      taints: z
        .array(
          z.object({
            key: z.string(),
            value: z.string().optional(),
            effect: z.enum(["NoSelect", "PreferNoSelect", "NoSelectIfNew"]),
            timeAdded: z.string().optional(),
          }),
        )
        .optional(),
    })
    .optional(),
  status: z
    .object({
      conditions: z.array(ocmConditionSchema).optional(),
      clusterClaims: z.array(z.object({ name: z.string().optional(), value: z.string().optional() })).optional(),
      capacity: quantityMapSchema.optional(),
      allocatable: quantityMapSchema.optional(),
      version: z.object({ kubernetes: z.string().optional() }).optional(),
      managedNamespaces: z
        .array(
          z.object({
            name: z.string(),
            clusterSet: z.string(),
            conditions: z.array(ocmConditionSchema).optional(),
          }),
        )
        .optional(),
    })
    .optional(),
});
export type ManagedClusterObject = z.infer<typeof managedClusterSchema>;

export const ManagedCluster = defineOcmModel(managedClusterSchema, {
  apiVersion: MANAGEDCLUSTER_API_VERSION,
  kind: "ManagedCluster",
});

/** ManagedCluster condition types set by the OCM registration controller. */
export const ManagedClusterConditions = {
  Joined: "ManagedClusterJoined",
  Available: "ManagedClusterConditionAvailable",
  HubAccepted: "HubAcceptedManagedCluster",
} as const;

/**
 * The claims a cluster reports, by name. Entries without a name are ignored (the CRD allows them;
 * they cannot be looked up); for a repeated name the last one wins, as it is the latest the agent synced.
 */
export function readClusterClaims(mc: ManagedClusterObject): Map<string, string> {
  const claims = new Map<string, string>();
  for (const c of mc.status?.clusterClaims ?? []) {
    if (c.name) claims.set(c.name, c.value ?? "");
  }
  return claims;
}

export const clusterClaimSchema = z.object({
  apiVersion: z.literal(CLUSTERCLAIM_API_VERSION),
  kind: z.literal("ClusterClaim"),
  metadata: objectMetaSchema,
  spec: z.object({ value: z.string().min(1).max(CLUSTER_CLAIM_VALUE_MAX_LENGTH).optional() }).optional(),
});
export type ClusterClaimObject = z.infer<typeof clusterClaimSchema>;

export const ClusterClaim = defineOcmModel(clusterClaimSchema, {
  apiVersion: CLUSTERCLAIM_API_VERSION,
  kind: "ClusterClaim",
});

/** A validated ClusterClaim (cluster-scoped, on the spoke); throws OcmObjectInvalidError if the value is too long. */
export function clusterClaim(name: string, value: string, labels?: Record<string, string>): ClusterClaimObject {
  const metadata: ClusterClaimObject["metadata"] = { name };
  if (labels) metadata.labels = { ...labels };
  return ClusterClaim.parse({ apiVersion: CLUSTERCLAIM_API_VERSION, kind: "ClusterClaim", metadata, spec: { value } });
}
