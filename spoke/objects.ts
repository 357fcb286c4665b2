// The parts of core and apps objects the spoke edition reads from its informers, validated at the
// boundary, and the shapes of the objects it writes. The read schemas drop what the spoke does not
// read (managedFields, pod specs but their node, node status but its kernel), so its caches hold
// only that: with 100 nodes and 1,000 module-loader pods, managedFields alone were a third of its
// heap (issue 16, README "Spoke edition memory").
import { z } from "zod";
import { stringMap } from "../shared/k8s/maps.ts";
import {
  containerSchema,
  localObjectReferenceSchema,
  objectMetaSchema,
  tolerationSchema,
  volumeSchema,
} from "../shared/k8s/core.generated.ts";

const metaSchema = z.object({
  name: z.string(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  generation: z.number().optional(),
  labels: stringMap(z.string()).optional(),
  annotations: stringMap(z.string()).optional(),
  deletionTimestamp: z.string().optional(),
  finalizers: z.array(z.string()).optional(),
});

const taintSchema = z.looseObject({ key: z.string(), value: z.string().optional(), effect: z.string() });

export const nodeSchema = z.looseObject({
  metadata: metaSchema,
  spec: z.object({ unschedulable: z.boolean().optional(), taints: z.array(taintSchema).optional() }).optional(),
  status: z.object({ nodeInfo: z.object({ kernelVersion: z.string().optional() }).optional() }).optional(),
});
export type Node = z.infer<typeof nodeSchema>;
export type Taint = z.infer<typeof taintSchema>;

export const podSchema = z.looseObject({
  metadata: metaSchema,
  spec: z.object({ nodeName: z.string().optional() }).optional(),
  status: z
    .looseObject({
      phase: z.string().optional(),
      conditions: z.array(z.looseObject({ type: z.string(), status: z.string() })).optional(),
    })
    .optional(),
});
export type Pod = z.infer<typeof podSchema>;

export const daemonSetReadSchema = z.looseObject({
  metadata: metaSchema,
  status: z
    .looseObject({
      desiredNumberScheduled: z.number().optional(),
      numberAvailable: z.number().optional(),
      numberReady: z.number().optional(),
    })
    .optional(),
});
export type DaemonSetRead = z.infer<typeof daemonSetReadSchema>;

/** The pod template the builders produce: every field typed by the generated core schemas. */
export const podSpecSchema = z.object({
  initContainers: z.array(containerSchema).optional(),
  containers: z.array(containerSchema),
  volumes: z.array(volumeSchema).optional(),
  tolerations: z.array(tolerationSchema).optional(),
  nodeSelector: stringMap(z.string()),
  serviceAccountName: z.string().optional(),
  automountServiceAccountToken: z.boolean().optional(),
  imagePullSecrets: z.array(localObjectReferenceSchema).optional(),
  terminationGracePeriodSeconds: z.number().int().optional(),
  priorityClassName: z.string().optional(),
});
export type PodSpec = z.infer<typeof podSpecSchema>;

export const daemonSetSchema = z.object({
  apiVersion: z.literal("apps/v1"),
  kind: z.literal("DaemonSet"),
  metadata: objectMetaSchema,
  spec: z.object({
    selector: z.object({ matchLabels: stringMap(z.string()) }),
    updateStrategy: z.object({ type: z.enum(["RollingUpdate", "OnDelete"]) }).optional(),
    template: z.object({
      metadata: z.object({
        labels: stringMap(z.string()),
        annotations: stringMap(z.string()).optional(),
      }),
      spec: podSpecSchema,
    }),
  }),
});
export type DaemonSet = z.infer<typeof daemonSetSchema>;

export function podIsReady(pod: Pod): boolean {
  if (pod.metadata.deletionTimestamp !== undefined) return false;
  return (pod.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
}
