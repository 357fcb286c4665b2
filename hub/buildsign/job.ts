// The batch/v1 Job the builders produce (typed by the generated core schemas), the parts of Jobs
// and pods the hub reads back from its informers, and the skeleton both builders share: one pod,
// no retries (backoffLimit 0, as upstream: a failed build stays failed until an administrator
// deletes it), labels on the Job and its pod, owners, and the input hash.
import { z } from "zod";
import { stringMap } from "../../shared/k8s/maps.ts";
import type { ManagedClusterModule } from "../../shared/api/managedclustermodule.ts";
import { HUB_API_VERSION, MANAGED_CLUSTER_MODULE_KIND } from "../../shared/api/managedclustermodule.ts";
import {
  containerSchema,
  localObjectReferenceSchema,
  objectMetaSchema,
  tolerationSchema,
  volumeSchema,
  type Container,
  type OwnerReference,
  type Toleration,
  type Volume,
} from "../../shared/k8s/core.generated.ts";
import { isDnsLabel, shortHash } from "../../shared/kube/names.ts";
import { inputHash } from "./hash.ts";
import {
  DESTINATION_IMAGE_ANNOTATION,
  INPUT_HASH_ANNOTATION,
  JOB_TYPE_LABEL,
  jobName,
  KERNEL_ANNOTATION,
  kernelLabelValue,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  MODULE_NAME_LABEL,
  TARGET_KERNEL_LABEL,
  type JobType,
} from "./names.ts";

const podSecurityContextSchema = z.object({
  runAsNonRoot: z.boolean().optional(),
  runAsUser: z.number().int().optional(),
  runAsGroup: z.number().int().optional(),
  fsGroup: z.number().int().optional(),
  seccompProfile: z.object({ type: z.string() }).optional(),
});

export const jobPodSpecSchema = z.object({
  containers: z.array(containerSchema),
  volumes: z.array(volumeSchema).optional(),
  restartPolicy: z.literal("Never"),
  nodeSelector: stringMap(z.string()).optional(),
  tolerations: z.array(tolerationSchema).optional(),
  automountServiceAccountToken: z.boolean().optional(),
  securityContext: podSecurityContextSchema.optional(),
  imagePullSecrets: z.array(localObjectReferenceSchema).optional(),
});
export type JobPodSpec = z.infer<typeof jobPodSpecSchema>;

/** The Job object the builders return, ready for server-side apply (or create). */
export const jobSchema = z.object({
  apiVersion: z.literal("batch/v1"),
  kind: z.literal("Job"),
  metadata: objectMetaSchema,
  spec: z.object({
    completions: z.literal(1),
    backoffLimit: z.literal(0),
    template: z.object({
      metadata: z.object({ labels: stringMap(z.string()) }),
      spec: jobPodSpecSchema,
    }),
  }),
});
export type Job = z.infer<typeof jobSchema>;

const readMeta = z.looseObject({
  name: z.string(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  labels: stringMap(z.string()).optional(),
  annotations: stringMap(z.string()).optional(),
  deletionTimestamp: z.string().optional(),
  ownerReferences: z
    .array(z.looseObject({ apiVersion: z.string().optional(), kind: z.string(), name: z.string(), uid: z.string(), controller: z.boolean().optional(), blockOwnerDeletion: z.boolean().optional() }))
    .optional(),
});

/** A Job as the hub's informer keeps it. */
export const observedJobSchema = z.looseObject({
  metadata: readMeta,
  status: z
    .looseObject({
      active: z.number().optional(),
      succeeded: z.number().optional(),
      failed: z.number().optional(),
      completionTime: z.string().optional(),
      conditions: z.array(z.looseObject({ type: z.string(), status: z.string(), reason: z.string().optional(), message: z.string().optional() })).optional(),
    })
    .optional(),
});
export type ObservedJob = z.infer<typeof observedJobSchema>;

/** A Job's pod as the hub's informer keeps it: enough to read the termination message. */
export const observedPodSchema = z.looseObject({
  metadata: readMeta,
  status: z
    .looseObject({
      phase: z.string().optional(),
      containerStatuses: z
        .array(
          z.looseObject({
            name: z.string(),
            state: z
              .looseObject({
                terminated: z.looseObject({ exitCode: z.number(), reason: z.string().optional(), message: z.string().optional() }).optional(),
              })
              .optional(),
          }),
        )
        .optional(),
    })
    .optional(),
});
export type ObservedPod = z.infer<typeof observedPodSchema>;

/** The MCMs a Job is for: each is an owner, the first (by name) its controller and its module.name label. */
export function ownerReferences(mcms: readonly ManagedClusterModule[]): OwnerReference[] {
  const sorted = [...mcms].sort((a, b) => ((a.metadata.name ?? "") < (b.metadata.name ?? "") ? -1 : 1));
  return sorted.map((m, i) => ({
    apiVersion: HUB_API_VERSION,
    kind: MANAGED_CLUSTER_MODULE_KIND,
    name: m.metadata.name ?? "",
    uid: m.metadata.uid ?? "",
    ...(i === 0 ? { controller: true } : {}),
    blockOwnerDeletion: true,
  }));
}

export interface JobParts {
  type: JobType;
  mcm: ManagedClusterModule;
  namespace: string;
  destinationImage: string;
  kernel: string;
  container: Container;
  volumes: Volume[];
  nodeSelector: Record<string, string> | undefined;
  tolerations: Toleration[] | undefined;
  securityContext?: JobPodSpec["securityContext"];
  /** Inputs that shape the result but are not in the pod spec (Dockerfile text, secret versions). */
  extraInputs: Record<string, unknown>;
  /** The container's args as the hash counts them, when not all of them shape the result. */
  hashArgs?: string[];
}

/** Assembles a Job; its input hash covers the pod spec and `extraInputs`. */
export function assembleJob(p: JobParts): Job {
  const labels = {
    [MODULE_NAME_LABEL]: p.mcm.metadata.name ?? "",
    [TARGET_KERNEL_LABEL]: kernelLabelValue(p.kernel),
    [JOB_TYPE_LABEL]: p.type,
    [MANAGED_BY_LABEL]: MANAGED_BY,
    "app.kubernetes.io/name": "kmm",
    "app.kubernetes.io/component": p.type,
    "app.kubernetes.io/part-of": "kmm",
  };
  const podSpec: JobPodSpec = {
    containers: [p.container],
    volumes: p.volumes,
    restartPolicy: "Never",
    // Neither kaniko nor the signer talks to the API server.
    automountServiceAccountToken: false,
    ...(p.nodeSelector && Object.keys(p.nodeSelector).length > 0 ? { nodeSelector: p.nodeSelector } : {}),
    ...(p.tolerations && p.tolerations.length > 0 ? { tolerations: p.tolerations } : {}),
    ...(p.securityContext ? { securityContext: p.securityContext } : {}),
  };
  const hashed = p.hashArgs === undefined ? podSpec : { ...podSpec, containers: [{ ...p.container, args: p.hashArgs }] };
  const hash = inputHash({ type: p.type, podSpec: hashed, ...p.extraInputs });
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name: jobName(p.type, p.destinationImage, p.kernel),
      namespace: p.namespace,
      labels,
      annotations: {
        [INPUT_HASH_ANNOTATION]: hash,
        [DESTINATION_IMAGE_ANNOTATION]: p.destinationImage,
        [KERNEL_ANNOTATION]: p.kernel,
      },
      ownerReferences: ownerReferences([p.mcm]),
    },
    spec: {
      completions: 1,
      backoffLimit: 0,
      template: { metadata: { labels }, spec: podSpec },
    },
  };
}

/** Name of the volume holding the imageRepoSecret as a docker config.json. */
export const REGISTRY_CONFIG_VOLUME = "registry-config";

/** Secret volume for the imageRepoSecret as a docker config.json (kaniko's and the signer's credentials). */
export function registrySecretVolume(secretName: string): Volume {
  return {
    name: REGISTRY_CONFIG_VOLUME,
    secret: { secretName, items: [{ key: ".dockerconfigjson", path: "config.json" }], defaultMode: 0o440 },
  };
}

/** A DNS-label volume name for a user-named Secret: `secret-<name>`, or a hash when the name does not fit. */
export function secretVolumeName(secretName: string): string {
  const name = `secret-${secretName}`;
  return isDnsLabel(name) ? name : `secret-${shortHash(secretName, 16)}`;
}
