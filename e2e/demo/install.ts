// KMM-Hub installed on the demo's fleet as users install it, from the images in the fleet's registry:
// the hub from its one install file (images/manifests.ts hubManifests, what `npm run images --
// --manifests` writes as kmm-hub.yaml) as its Deployment, 2 replicas with leader election on the hub's
// two real nodes; the spoke edition on every spoke's real node through the one Policy of gen:policy,
// which the real placement controller, propagator and config policy controller turn into its
// Deployment on each spoke. What the rig adds is what a user of tainted nodes and a private registry
// adds (toleration, node selector, pull secrets), plus servers bound to each pod's address: every real
// node shares the machine's network on an address of its own (README "Real nodes"), so the hub's
// replicas and the spoke editions take `--health-probe-bind-address=$(POD_IP):8081` and
// `--metrics-bind-address=$(POD_IP):8443`.
import { z } from "zod";
import { isNotFound, type RawClient } from "../../shared/kube/raw.ts";
import { hubManifests } from "../../images/manifests.ts";
import { POLICY_NAMESPACE, SPOKE_NAMESPACE, renderPolicy } from "../../scripts/gen-policy.ts";
import { Policy } from "../../shared/ocm/policy.ts";
import type { ClusterInfo, FleetRegistry } from "../fleet-types.ts";
import { registryPullSecret } from "../controlplane/node-agent/test-images.ts";
import { waitFor } from "../controlplane/procs.ts";
import type { FleetImages } from "../support/fleet-images.ts";
import { HUB_NAMESPACE, hubOnRealNodes, hubPods, leaseHolder } from "../support/hub-install.ts";
import { boundToPodIP, FLEET_PULL_SECRET, podReady, podsOf, realNodePlacement, type KmmPod } from "../support/real-node-pods.ts";
import { applyManifests, editPodSpec, parseManifests, type ManifestObject } from "../support/manifests.ts";

/** The ManagedCluster label the demo's Policy selects the spokes by (gen:policy --cluster-label). */
const SPOKE_EDITION_LABEL = "kmm.demo/spoke-edition";
/** gen:policy's Policy (and ConfigurationPolicy) name. */
const POLICY = "install-kmm-spoke";
/** The one root Policy on the hub that installs every spoke's edition, `<namespace>/<name>`. */
export const SPOKE_POLICY = `${POLICY_NAMESPACE}/${POLICY}`;
const SPOKE_DEPLOYMENT = "kmm-spoke";
const FIELD_MANAGER = "kubectl";
const policyApi = "/apis/policy.open-cluster-management.io/v1";

/** A pod of KMM-Hub running from its image on a real node. */
export interface DemoPod {
  cluster: string;
  pod: string;
  node: string;
  /** the pod's address (podIP): its real node's own loopback address, which its servers bind to */
  address: string;
  image: string;
  restarts: number;
}

export interface SpokeEdition extends DemoPod {
  /** who wrote the spoke Deployment's spec (managedFields): the config policy controller, through the Policy */
  writtenBy: string[];
  /** the root Policy's compliance for this cluster on the hub */
  compliant: string;
}

/** A spoke of the demo that has a real node. */
export interface InstallSpoke {
  info: ClusterInfo;
  raw: RawClient;
  realNode: string;
}

const deploymentSpec = z.looseObject({ spec: z.looseObject({ template: z.looseObject({ spec: z.looseObject({ containers: z.array(z.looseObject({ name: z.string() })) }) }) }) });
const objectTemplate = z.looseObject({ objectDefinition: z.looseObject({ kind: z.string() }) });
const policyDoc = z.looseObject({
  spec: z.looseObject({ "policy-templates": z.array(z.looseObject({ objectDefinition: z.looseObject({ spec: z.looseObject({ "object-templates": z.array(objectTemplate) }) }) })) }),
});
const managedFields = z.looseObject({ metadata: z.looseObject({ managedFields: z.array(z.looseObject({ manager: z.string(), subresource: z.string().optional() })).optional() }) });

/**
 * The Policy with its spoke Deployment's manager bound to its pod's address (boundToPodIP: the POD_IP
 * variable from the downward API and the spoke edition's bind-address flags); everything else as
 * gen:policy wrote it. Throws ZodError when the Policy has no such Deployment.
 */
export function withPodAddresses(policyObject: ManifestObject): ManifestObject {
  const doc = policyDoc.parse(policyObject);
  let edited = 0;
  const templates = doc.spec["policy-templates"].map((t) => {
    const objects = t.objectDefinition.spec["object-templates"].map((o) => {
      if (o.objectDefinition.kind !== "Deployment") return o;
      edited++;
      const containers = deploymentSpec.parse(o.objectDefinition).spec.template.spec.containers.map((c) => (c.name === "manager" ? boundToPodIP(c) : c));
      return { ...o, objectDefinition: editPodSpec(o.objectDefinition, (spec) => ({ ...spec, containers })) };
    });
    return { ...t, objectDefinition: { ...t.objectDefinition, spec: { ...t.objectDefinition.spec, "object-templates": objects } } };
  });
  if (edited !== 1) throw new Error(`the Policy ${policyObject.metadata.name} holds ${edited} Deployments, not the spoke edition's one`);
  return { ...policyObject, spec: { ...doc.spec, "policy-templates": templates } };
}

/**
 * gen:policy's Policy file (images by digest; --cluster-label selecting every spoke the demo labels,
 * --node-selector, --toleration and --image-pull-secret for the spokes' tainted real nodes and the
 * fleet's registry), its spoke Deployment bound to its pod's address (withPodAddresses).
 */
export function spokePolicy(images: FleetImages): ManifestObject[] {
  const placement = realNodePlacement();
  const text = renderPolicy(images.refs.spoke, images.refs.worker, "placement", { [SPOKE_EDITION_LABEL]: "true" }, {
    nodeSelector: placement.nodeSelector,
    tolerations: placement.tolerations,
    imagePullSecrets: placement.imagePullSecrets.map((p) => p.name),
  });
  return parseManifests(text, "the Policy of gen:policy").map((o) => (o.kind === "Policy" ? withPodAddresses(o) : o));
}

/** Whether GET `path` answers 404. */
function absent(raw: RawClient, path: string): Promise<boolean> {
  return raw.request("GET", path).then(
    () => false,
    (e: unknown) => {
      if (isNotFound(e)) return true;
      throw e;
    },
  );
}

/** The spoke edition's pods on a spoke. */
const spokePods = (raw: RawClient): Promise<KmmPod[]> => podsOf(raw, SPOKE_NAMESPACE, SPOKE_DEPLOYMENT);

const asPod = (cluster: string, p: KmmPod): DemoPod => ({
  cluster,
  pod: p.metadata.name,
  node: p.spec.nodeName ?? "",
  address: p.status?.podIP ?? "",
  image: p.status?.containerStatuses?.[0]?.image ?? "",
  restarts: p.status?.containerStatuses?.[0]?.restartCount ?? 0,
});

/** The hub's install file (kmm-hub.yaml: namespace, CRD, RBAC, config, Deployment, Service) with the images by digest, as the rig runs it (hubOnRealNodes). */
export async function hubInstallObjects(images: FleetImages): Promise<ManifestObject[]> {
  const objects = parseManifests(await hubManifests({ hub: images.refs.hub, signer: images.refs.signer }), "kmm-hub.yaml").map((o) => hubOnRealNodes(o, images.refs.hub));
  if (objects[0]?.kind !== "Namespace") throw new Error(`kmm-hub.yaml does not open with the hub's Namespace (found ${objects[0]?.kind ?? "nothing"})`);
  return objects;
}

/**
 * Applies the hub's install objects (hubInstallObjects) in their order, with the fleet registry's
 * pull secret once the namespace exists, and waits until both replicas are Ready on two real nodes
 * and one holds the Lease. Resolves with the pods and the leader's name.
 */
export async function installHub(hubRaw: RawClient, hub: ClusterInfo, registry: FleetRegistry, objects: ManifestObject[], timeoutMs: number): Promise<{ pods: DemoPod[]; leader: string }> {
  const [namespace, ...rest] = objects;
  await applyManifests(hubRaw, [...(namespace ? [namespace] : []), registryPullSecret(registry, HUB_NAMESPACE, FLEET_PULL_SECRET), ...rest], { fieldManager: FIELD_MANAGER });
  const ready = await waitFor(`2 Ready kmm-hub pods on ${hub.name}'s two real nodes`, async () => {
    const r = (await hubPods(hubRaw)).filter(podReady);
    return r.length === 2 && new Set(r.map((p) => p.spec.nodeName)).size === 2 ? r : undefined;
  }, { timeoutMs, intervalMs: 1000 });
  const leader = await waitFor("a kmm-hub pod holding the Lease", async () => {
    const h = await leaseHolder(hubRaw);
    return h !== undefined && ready.some((p) => p.metadata.name === h) ? h : undefined;
  }, { timeoutMs: 60_000, intervalMs: 500 });
  return { pods: ready.map((p) => asPod(hub.name, p)), leader };
}

/**
 * On each spoke the user's part (the spoke edition's namespace and the registry's pull secret in it,
 * the ManagedCluster's SPOKE_EDITION_LABEL on the hub), then the one Policy on the hub; waits until
 * every spoke's edition is Ready on its real node and the Policy Compliant on every spoke. Resolves
 * with the spoke editions' pods.
 */
export async function installSpokes(hubRaw: RawClient, spokes: InstallSpoke[], registry: FleetRegistry, images: FleetImages, timeoutMs: number): Promise<SpokeEdition[]> {
  for (const s of spokes) {
    await s.raw.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: SPOKE_NAMESPACE } }, FIELD_MANAGER);
    await s.raw.apply(registryPullSecret(registry, SPOKE_NAMESPACE, FLEET_PULL_SECRET), FIELD_MANAGER);
    await hubRaw.request("PATCH", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${s.info.name}`, { metadata: { labels: { [SPOKE_EDITION_LABEL]: "true" } } }, "application/merge-patch+json");
  }
  // A suite before (install-chain) may still be deleting the same namespace: objects cannot go into it then.
  await waitFor(`namespace ${POLICY_NAMESPACE} not terminating`, async () => {
    const r = await hubRaw.request("GET", `/api/v1/namespaces/${POLICY_NAMESPACE}`).catch((e: unknown) => {
      if (isNotFound(e)) return undefined;
      throw e;
    });
    return r === undefined || z.looseObject({ metadata: z.looseObject({ deletionTimestamp: z.string().optional() }) }).parse(r.body).metadata.deletionTimestamp === undefined;
  }, { timeoutMs, intervalMs: 500 });
  await applyManifests(hubRaw, spokePolicy(images), { fieldManager: FIELD_MANAGER });
  return Promise.all(
    spokes.map(async (s) => {
      const p = await waitFor(`the spoke edition Ready on ${s.realNode}`, async () => (await spokePods(s.raw)).find((x) => x.spec.nodeName === s.realNode && podReady(x)), { timeoutMs, intervalMs: 1000 });
      const compliant = await waitFor(`the Policy Compliant for ${s.info.name}`, async () => {
        const root = Policy.parse((await hubRaw.request("GET", `${policyApi}/namespaces/${POLICY_NAMESPACE}/policies/${POLICY}`)).body);
        return root.status?.status?.find((c) => c.clustername === s.info.name && c.compliant === "Compliant")?.compliant;
      }, { timeoutMs, intervalMs: 1000 });
      const dep = managedFields.parse(await s.raw.request("GET", `/apis/apps/v1/namespaces/${SPOKE_NAMESPACE}/deployments/${SPOKE_DEPLOYMENT}`).then((r) => r.body));
      const writtenBy = [...new Set((dep.metadata.managedFields ?? []).filter((f) => f.subresource === undefined).map((f) => f.manager))];
      return { ...asPod(s.info.name, p), writtenBy, compliant };
    }),
  );
}

/**
 * Removes what installSpokes and installHub put on a shared fleet, in the order that keeps it
 * removed: the Policy's namespace (so nothing re-creates the spoke Deployments), the spoke Deployments
 * and their pods, the hub's Deployment, config and Service and its pods. The spoke namespaces, CRDs
 * and RBAC stay, as the e2e suites share them. Each step is tried; failures are passed to `warn`.
 */
export async function uninstall(hubRaw: RawClient, spokes: InstallSpoke[], hubObjects: ManifestObject[], warn: (msg: string) => void): Promise<void> {
  const quietly = (what: string, p: Promise<unknown>) => p.catch((e: unknown) => warn(`${what}: ${e instanceof Error ? e.message : String(e)}`));
  await quietly("Policy", hubRaw.request("DELETE", `/api/v1/namespaces/${POLICY_NAMESPACE}`));
  await Promise.all(
    spokes.map(async (s) => {
      await quietly(`${s.info.name}: ConfigurationPolicy gone`, waitFor(`the ConfigurationPolicy gone from ${s.info.name}`, () => absent(s.raw, `${policyApi}/namespaces/${s.info.name}/configurationpolicies/${POLICY}`), { timeoutMs: 120_000, intervalMs: 1000 }));
      // The config policy controller may enforce once more from its cache: delete until it stays gone.
      const deployment = `/apis/apps/v1/namespaces/${SPOKE_NAMESPACE}/deployments/${SPOKE_DEPLOYMENT}`;
      await quietly(`${s.info.name}: spoke edition gone`, waitFor(`the spoke edition gone from ${s.info.name}`, async () => {
        if (!(await absent(s.raw, deployment))) {
          await s.raw.request("DELETE", `${deployment}?propagationPolicy=Foreground`).catch(() => undefined);
          return false;
        }
        return (await spokePods(s.raw)).length === 0;
      }, { timeoutMs: 120_000, intervalMs: 1000 }));
      await quietly(`${s.info.name}: pull secret`, s.raw.request("DELETE", `/api/v1/namespaces/${SPOKE_NAMESPACE}/secrets/${FLEET_PULL_SECRET}`).catch((e: unknown) => {
        if (!isNotFound(e)) throw e;
      }));
      await quietly(`${s.info.name}: label`, hubRaw.request("PATCH", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${s.info.name}`, { metadata: { labels: { [SPOKE_EDITION_LABEL]: null } } }, "application/merge-patch+json"));
    }),
  );
  await quietly("Policy namespace gone", waitFor(`namespace ${POLICY_NAMESPACE} gone`, () => absent(hubRaw, `/api/v1/namespaces/${POLICY_NAMESPACE}`), { timeoutMs: 60_000, intervalMs: 500 }));
  for (const o of hubObjects.filter((x) => ["Deployment", "ConfigMap", "Service"].includes(x.kind))) await quietly(`${o.kind} ${o.metadata.name}`, hubRaw.delete(o));
  await quietly("hub pods gone", waitFor("the kmm-hub pods gone", async () => (await hubPods(hubRaw)).length === 0, { timeoutMs: 90_000, intervalMs: 1000 }));
}
