// KMM-Hub's own pods on the fleet's real nodes: where the suites and the demo place them (the real
// node's taint tolerated, the fleet registry's pull secret) and how they read them back.
import { z } from "zod";
import type { RawClient } from "../../shared/kube/raw.ts";
import { REAL_NODE_LABEL } from "../controlplane/node-agent/node.ts";

/** The pull secret for the fleet's registry the pods name (e2e/controlplane/node-agent/test-images.ts registryPullSecret's default). */
export const FLEET_PULL_SECRET = "fleet-registry";

/** The PodSpec fields that put a pod on a real node (labelled and tainted REAL_NODE_LABEL) and let it pull from the fleet's registry. */
export function realNodePlacement() {
  return {
    nodeSelector: { [REAL_NODE_LABEL]: "true" },
    tolerations: [{ key: REAL_NODE_LABEL, operator: "Exists" as const, effect: "NoSchedule" as const }],
    imagePullSecrets: [{ name: FLEET_PULL_SECRET }],
  };
}

const bindable = z.looseObject({ args: z.array(z.string()).default([]), env: z.array(z.unknown()).default([]) });

/**
 * A manager container (the hub's or the spoke edition's) with its health and metrics servers bound
 * to its pod's address: POD_IP from the downward API (status.podIP) and the programs'
 * `--health-probe-bind-address=$(POD_IP):8081 --metrics-bind-address=$(POD_IP):8443` after its args.
 * Every real node shares the machine's network on its own loopback address, so pods bound to the
 * shipped wildcard ports would collide. Throws ZodError when args or env is not a list.
 */
export function boundToPodIP(container: unknown): z.infer<typeof bindable> {
  const c = bindable.parse(container);
  return {
    ...c,
    env: [...c.env, { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } }],
    args: [...c.args, "--health-probe-bind-address=$(POD_IP):8081", "--metrics-bind-address=$(POD_IP):8443"],
  };
}

/** A pod list as the suites read KMM-Hub's pods: name, node, address, Ready, the first container's image and restarts. */
export const podListSchema = z.object({
  items: z.array(
    z.looseObject({
      metadata: z.looseObject({ name: z.string(), deletionTimestamp: z.string().optional() }),
      spec: z.looseObject({ nodeName: z.string().optional() }),
      status: z
        .looseObject({
          podIP: z.string().optional(),
          conditions: z.array(z.looseObject({ type: z.string(), status: z.string() })).optional(),
          containerStatuses: z.array(z.looseObject({ image: z.string(), restartCount: z.number() })).optional(),
        })
        .optional(),
    }),
  ),
});
export type KmmPod = z.infer<typeof podListSchema>["items"][number];

/** The pods labelled app.kubernetes.io/name=`app` in `namespace`, deleted ones included. */
export async function podsOf(raw: RawClient, namespace: string, app: string): Promise<KmmPod[]> {
  return podListSchema.parse((await raw.request("GET", `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(`app.kubernetes.io/name=${app}`)}`)).body).items;
}

/** Whether a pod is Ready and not being deleted. */
export const podReady = (p: KmmPod): boolean => p.metadata.deletionTimestamp === undefined && p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true;
