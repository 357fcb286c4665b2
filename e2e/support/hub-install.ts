// The hub's Deployment on the hub cluster's two real nodes, and reads of its pods and Lease: shared by
// e2e/real-hub.test.ts and the demo (e2e/demo/), which both run the hub from its image with leader
// election between 2 replicas. The rig's nodes share one machine's network (README "Real nodes"),
// so each replica binds its servers to its pod's address instead of the shipped ":8081"/":8443".
import { z } from "zod";
import type { RawClient } from "../../shared/kube/raw.ts";
import { editPodSpec, type ManifestObject } from "./manifests.ts";
import { boundToPodIP, podsOf, realNodePlacement, type KmmPod } from "./real-node-pods.ts";

/** The hub's namespace (hub/deploy/namespace.yaml). */
export const HUB_NAMESPACE = "kmm-hub";
/** The Lease the replicas elect a leader on (leaderElection.resourceID in hub/deploy/deployment.yaml). */
export const HUB_LEASE = "kmm-hub.hub.kmm.sigs.x-k8s.io";

/** What the tests read of the shipped Deployment (replicas, spread) besides what they change. */
export const hubDeploymentSchema = z.looseObject({
  kind: z.literal("Deployment"),
  spec: z.looseObject({
    replicas: z.number(),
    template: z.looseObject({
      spec: z.looseObject({
        containers: z.array(z.looseObject({ name: z.string() })),
        topologySpreadConstraints: z.array(z.looseObject({ topologyKey: z.string(), whenUnsatisfiable: z.string() })),
      }),
    }),
  }),
});

/**
 * An object of the hub's install (hub/deploy or the rendered kmm-hub.yaml) as the rig runs it: the
 * Deployment with `image` for its manager, placed on the real nodes (realNodePlacement), its
 * topology spread made strict (both replicas on one node would share its address) and the health
 * and metrics servers bound to $(POD_IP) with `kmm-hub run`'s flags (boundToPodIP).
 * Other objects are returned as they are. Throws ZodError when the Deployment lacks those fields.
 */
export function hubOnRealNodes(o: ManifestObject, image: string): ManifestObject {
  if (o.kind !== "Deployment") return o;
  const dep = hubDeploymentSchema.parse(o);
  return editPodSpec(o, (spec) => ({
    ...spec,
    containers: dep.spec.template.spec.containers.map((c) => (c.name === "manager" ? { ...boundToPodIP(c), image } : c)),
    ...realNodePlacement(),
    // Both replicas on one node would share its address: the shipped preference made a rule.
    topologySpreadConstraints: dep.spec.template.spec.topologySpreadConstraints.map((t) => ({ ...t, whenUnsatisfiable: "DoNotSchedule" })),
  }));
}

/** The hub's pods (label app.kubernetes.io/name=kmm-hub in HUB_NAMESPACE), deleted ones included. */
export function hubPods(raw: RawClient): Promise<KmmPod[]> {
  return podsOf(raw, HUB_NAMESPACE, "kmm-hub");
}

/** The identity holding the hub's Lease (its pod's name: POD_NAME), "" once released, undefined without a Lease. */
export async function leaseHolder(raw: RawClient): Promise<string | undefined> {
  const r = await raw.request("GET", `/apis/coordination.k8s.io/v1/namespaces/${HUB_NAMESPACE}/leases/${HUB_LEASE}`).catch(() => undefined);
  return r?.status === 200 ? z.looseObject({ spec: z.looseObject({ holderIdentity: z.string().optional() }) }).parse(r.body).spec.holderIdentity : undefined;
}
