// The part of a Pod the node agent reads, as a zod schema built from the generated core types
// (shared/k8s), so a pod the agent cannot understand is reported, not half-run.
import { z } from "zod";
import { containerSchema, localObjectReferenceSchema, objectMetaSchema, volumeSchema } from "../../../shared/k8s/core.generated.ts";

export const podSecurityContextSchema = z.looseObject({
  runAsUser: z.number().int().optional(),
  runAsGroup: z.number().int().optional(),
  runAsNonRoot: z.boolean().optional(),
  supplementalGroups: z.array(z.number().int()).optional(),
  fsGroup: z.number().int().optional(),
});

export const podSchema = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: objectMetaSchema.extend({ name: z.string(), namespace: z.string(), uid: z.string() }),
  spec: z.looseObject({
    nodeName: z.string().optional(),
    containers: z.array(containerSchema).min(1),
    initContainers: z.array(containerSchema).optional(),
    volumes: z.array(volumeSchema).optional(),
    restartPolicy: z.enum(["Always", "OnFailure", "Never"]).optional(),
    serviceAccountName: z.string().optional(),
    imagePullSecrets: z.array(localObjectReferenceSchema).optional(),
    terminationGracePeriodSeconds: z.number().int().optional(),
    securityContext: podSecurityContextSchema.optional(),
    hostNetwork: z.boolean().optional(),
    hostname: z.string().optional(),
  }),
  status: z.looseObject({ phase: z.string().optional() }).optional(),
});
export type Pod = z.infer<typeof podSchema>;
export type PodContainer = Pod["spec"]["containers"][number];
export type PodVolume = NonNullable<Pod["spec"]["volumes"]>[number];

/** `namespace/name` for messages and logs. */
export function podKey(pod: { metadata: { namespace: string; name: string } }): string {
  return `${pod.metadata.namespace}/${pod.metadata.name}`;
}
