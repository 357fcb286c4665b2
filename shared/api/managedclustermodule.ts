// hub.kmm.sigs.x-k8s.io/v1beta1 ManagedClusterModule: a Module spec plus the clusters it
// goes to. Spec fields follow upstream KMM-Hub; the status adds per-cluster detail that
// upstream does not keep (it only counts ManifestWorks).
import { z } from "zod";
import { int32, objectMetaSchema } from "../k8s/core.generated.ts";
import { conditionsSchema } from "./conditions.ts";
import { MAX_NAME_AND_NAMESPACE_LENGTH, daemonSetStatusSchema, moduleSpecSchema, nameLengthMessage } from "./module.ts";
import { refusingProtoKey } from "../k8s/maps.ts";
import { PROTO_LABEL_KEY_MESSAGES, kubernetesName } from "./pod-fields.ts";
import { withRules } from "./rules.ts";

export const HUB_GROUP = "hub.kmm.sigs.x-k8s.io";
export const HUB_VERSION = "v1beta1";
export const HUB_API_VERSION = `${HUB_GROUP}/${HUB_VERSION}`;
export const MANAGED_CLUSTER_MODULE_KIND = "ManagedClusterModule";
export const MANAGED_CLUSTER_MODULE_PLURAL = "managedclustermodules";
export const MANAGED_CLUSTER_MODULE_SHORT_NAME = "mcm";

const MAX_NAMESPACE_LENGTH = 63;

export const managedClusterModuleSpecSchema = z
  .object({
    moduleSpec: moduleSpecSchema.meta({
      description: "The Module spec deployed to the selected clusters (build and sign run on the hub).",
    }),
    spokeNamespace: kubernetesName(
      "dns1123Label",
      "Namespace of the spoke clusters in which the Module is created (a namespace name: a lowercase RFC 1123 label).",
    )
      .min(1)
      .max(MAX_NAMESPACE_LENGTH),
    jobNamespace: kubernetesName(
      "dns1123Label",
      "Hub namespace for build and sign Jobs; the operator's namespace when unset.",
    )
      .max(MAX_NAMESPACE_LENGTH)
      .optional(),
    // A "__proto__" key, which zod would drop (the selector would then select every cluster), is
    // refused: the MCM does not match its schema and the hub leaves it alone (shared/k8s/maps.ts).
    selector: refusingProtoKey(z.record(z.string(), z.string()), PROTO_LABEL_KEY_MESSAGES)
      .meta({ description: "Labels of the ManagedClusters the Module goes to." }),
  })
  .meta({ description: "Desired state of a ManagedClusterModule." });
export type ManagedClusterModuleSpec = z.infer<typeof managedClusterModuleSpecSchema>;

export const manifestWorkStateSchema = z
  .enum(["Pending", "Blocked", "Applied", "Available", "Degraded"])
  .meta({
    description:
      "Pending: not written yet; Blocked: an image could not be resolved; Applied/Available/Degraded: as reported by the ManifestWork.",
  });
export type ManifestWorkState = z.infer<typeof manifestWorkStateSchema>;

export const kernelImageStatusSchema = z.object({
  kernelVersion: z.string().meta({ description: "Kernel version running on the cluster's nodes." }),
  image: z.string().meta({ description: "Image resolved from the kernel mappings." }).optional(),
  digest: z.string().meta({ description: "Digest the image was pinned to (sha256:…)." }).optional(),
  message: z.string().meta({ description: "Why no image or digest is available, when that is the case." }).optional(),
  buildSign: z
    .object({
      state: z.enum(["Building", "Signing", "Failed"]).meta({ description: "How far the hub's build and signing of this image got." }),
      job: z.string().meta({ description: "The build or sign Job in the hub namespace." }).optional(),
    })
    .meta({ description: "For an image the hub builds or signs and that is not ready yet: the step it is at, and its Job." })
    .optional(),
});
export type KernelImageStatus = z.infer<typeof kernelImageStatusSchema>;

export const clusterModuleStatusSchema = z.object({
  cluster: z.string().meta({ description: "ManagedCluster name." }),
  kernels: z
    .array(kernelImageStatusSchema)
    .meta({
      description: "Per kernel version: the image and the digest it was pinned to.",
      "x-kubernetes-list-type": "map",
      "x-kubernetes-list-map-keys": ["kernelVersion"],
    })
    .optional(),
  manifestWork: z
    .object({
      state: manifestWorkStateSchema,
      message: z.string().optional(),
      lastTransitionTime: z.string().meta({ format: "date-time" }).optional(),
    })
    .optional(),
  moduleLoader: daemonSetStatusSchema
    .meta({ description: "The spoke Module's status.moduleLoader counters, brought back by the ManifestWork's status feedback." })
    .optional(),
  devicePlugin: daemonSetStatusSchema
    .meta({ description: "The spoke Module's status.devicePlugin counters, brought back by the ManifestWork's status feedback." })
    .optional(),
});
export type ClusterModuleStatus = z.infer<typeof clusterModuleStatusSchema>;

export const managedClusterModuleStatusSchema = z
  .object({
    numberDesired: int32().meta({ description: "ManifestWorks to apply." }).optional(),
    numberApplied: int32().meta({ description: "ManifestWorks applied successfully." }).optional(),
    numberDegraded: int32().meta({ description: "ManifestWorks that could not be applied." }).optional(),
    conditions: conditionsSchema.optional(),
    clusters: z
      .array(clusterModuleStatusSchema)
      .meta({
        description: "Per selected cluster: kernels, images and digests, ManifestWork state, the spoke Module's counters.",
        // Written whole by the hub alone. As a map list, server-side apply would track every field of
        // every cluster in managedFields: thousands of entries on a big fleet, on every status write.
        "x-kubernetes-list-type": "atomic",
      })
      .optional(),
    clustersNotListed: int32()
      .meta({
        description:
          "Selected clusters left out of clusters to keep this object small (clusters needing attention are listed first); the counts include them.",
      })
      .optional(),
    imageRebuildTriggerGeneration: z
      .int()
      .meta({ description: "Last spec.moduleSpec.imageRebuildTriggerGeneration whose rebuild of the hub-made images finished (upstream Module status' field)." })
      .optional(),
  })
  .meta({ description: "Observed state of a ManagedClusterModule." });
export type ManagedClusterModuleStatus = z.infer<typeof managedClusterModuleStatusSchema>;

export const MCM_NAME_LENGTH_MESSAGE = nameLengthMessage(
  "metadata.name and spec.spokeNamespace of a ManagedClusterModule",
);

export const managedClusterModuleSchema = withRules(
  z
    .object({
      apiVersion: z.literal(HUB_API_VERSION),
      kind: z.literal(MANAGED_CLUSTER_MODULE_KIND),
      metadata: objectMetaSchema,
      spec: managedClusterModuleSpecSchema,
      status: managedClusterModuleStatusSchema.optional(),
    })
    .meta({ description: "A Module spec deployed to every ManagedCluster matching a selector." }),
  [
    {
      rule: `size(self.metadata.name) + size(self.spec.spokeNamespace) <= ${MAX_NAME_AND_NAMESPACE_LENGTH}`,
      message: MCM_NAME_LENGTH_MESSAGE,
      fieldPath: ".spec.spokeNamespace",
      check: (m) => (m.metadata.name ?? "").length + m.spec.spokeNamespace.length <= MAX_NAME_AND_NAMESPACE_LENGTH,
    },
  ],
);
export type ManagedClusterModule = z.infer<typeof managedClusterModuleSchema>;
