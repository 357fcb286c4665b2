// KMM-Hub installed on the demo's fleet as users install it, from the images in the fleet's registry:
// the hub from its one install file (images/manifests.ts hubManifests, what `npm run images --
// --manifests` writes as kmm-hub.yaml) as its Deployment, 2 replicas with leader election on the hub's
// two real nodes; the spoke edition on each spoke's real node through the Policy of gen:policy, which
// the real placement controller, propagator and config policy controller turn into its Deployment.
// What the rig adds is what a user of tainted nodes and a private registry adds (toleration, node
// selector, pull secrets), plus ports of its own per pod: every real node shares the machine's
// network (README "Real nodes"), so the hub's replicas bind to their pods' addresses and each
// spoke's edition gets its own health and metrics ports, through one Policy per spoke.
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
import { FLEET_PULL_SECRET, podReady, podsOf, realNodePlacement, type KmmPod } from "../support/real-node-pods.ts";
import { applyManifests, editPodSpec, parseManifests, type ManifestObject } from "../support/manifests.ts";

/** The ManagedCluster label each spoke's own Policy selects it by (value: the cluster's name). */
const SPOKE_EDITION_LABEL = "kmm.demo/spoke-edition";
/** The ConfigMap (carried by the Policy) that gives a spoke edition its ports. */
const SPOKE_CONFIG = "kmm-spoke-config";
const SPOKE_CONFIG_DIR = "/etc/kmm-spoke";
const SPOKE_DEPLOYMENT = "kmm-spoke";
const FIELD_MANAGER = "kubectl";
const policyApi = "/apis/policy.open-cluster-management.io/v1";

/** A pod of KMM-Hub running from its image on a real node. */
export interface DemoPod {
  cluster: string;
  pod: string;
  node: string;
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

/** Health and metrics ports of the spoke edition on the n-th spoke (from 0); away from the hub's 8081/8443. */
export const spokePorts = (n: number) => ({ health: 18181 + n, metrics: 18481 + n });

/** The namespace of the Policy for one spoke (gen:policy's, suffixed: one Policy per spoke). */
export const policyNamespace = (cluster: string) => `${POLICY_NAMESPACE}-${cluster}`;

const probe = z.looseObject({ httpGet: z.looseObject({ port: z.union([z.number(), z.string()]) }) });
const deploymentSpec = z.looseObject({
  spec: z.looseObject({
    template: z.looseObject({
      spec: z.looseObject({
        containers: z.array(z.looseObject({ name: z.string(), args: z.array(z.string()).default([]), livenessProbe: probe, readinessProbe: probe, volumeMounts: z.array(z.unknown()).default([]) })),
        volumes: z.array(z.unknown()).default([]),
      }),
    }),
  }),
});
const objectTemplate = z.looseObject({ complianceType: z.string(), objectDefinition: z.looseObject({ kind: z.string() }) });
const policyDoc = z.looseObject({
  spec: z.looseObject({ "policy-templates": z.array(z.looseObject({ objectDefinition: z.looseObject({ spec: z.looseObject({ "object-templates": z.array(objectTemplate) }) }) })) }),
});
const managedFields = z.looseObject({ metadata: z.looseObject({ managedFields: z.array(z.looseObject({ manager: z.string(), subresource: z.string().optional() })).optional() }) });

/**
 * The spoke Deployment of the Policy with its config (`--config`, the ConfigMap SPOKE_CONFIG mounted)
 * and its probes on `ports`; the ConfigMap is added to the Policy's objects just before it.
 */
function withPorts(policyObject: ManifestObject, ports: { health: number; metrics: number }): ManifestObject {
  const doc = policyDoc.parse(policyObject);
  const config = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: SPOKE_CONFIG, namespace: SPOKE_NAMESPACE }, data: { "config.yaml": `healthProbeBindAddress: ":${ports.health}"\nmetrics:\n  bindAddress: ":${ports.metrics}"\n` } };
  const templates = doc.spec["policy-templates"].map((t) => {
    const objects = t.objectDefinition.spec["object-templates"].flatMap((o): unknown[] => {
      if (o.objectDefinition.kind !== "Deployment") return [o];
      const podSpec = deploymentSpec.parse(o.objectDefinition).spec.template.spec;
      const containers = podSpec.containers.map((c) =>
        c.name !== "manager"
          ? c
          : {
              ...c,
              args: [...c.args, "--config", `${SPOKE_CONFIG_DIR}/config.yaml`],
              livenessProbe: { ...c.livenessProbe, httpGet: { ...c.livenessProbe.httpGet, port: ports.health } },
              readinessProbe: { ...c.readinessProbe, httpGet: { ...c.readinessProbe.httpGet, port: ports.health } },
              volumeMounts: [...c.volumeMounts, { name: "config", mountPath: SPOKE_CONFIG_DIR, readOnly: true }],
            },
      );
      const volumes = [...podSpec.volumes, { name: "config", configMap: { name: SPOKE_CONFIG } }];
      const deployment = editPodSpec(o.objectDefinition, (spec) => ({ ...spec, containers, volumes }));
      return [{ complianceType: o.complianceType, objectDefinition: config }, { ...o, objectDefinition: deployment }];
    });
    return { ...t, objectDefinition: { ...t.objectDefinition, spec: { ...t.objectDefinition.spec, "object-templates": objects } } };
  });
  return { ...policyObject, spec: { ...doc.spec, "policy-templates": templates } };
}

/**
 * gen:policy's Policy file (images by digest; --cluster-label, --node-selector, --toleration and
 * --image-pull-secret for the spoke's tainted real node and the fleet's registry) for the n-th spoke
 * alone, in its own namespace, with the spoke edition on that spoke's ports (spokePorts).
 */
export function spokePolicy(cluster: string, n: number, images: FleetImages): ManifestObject[] {
  const placement = realNodePlacement();
  const text = renderPolicy(images.refs.spoke, images.refs.worker, "placement", { [SPOKE_EDITION_LABEL]: cluster }, {
    nodeSelector: placement.nodeSelector,
    tolerations: placement.tolerations,
    imagePullSecrets: placement.imagePullSecrets.map((p) => p.name),
  });
  const namespace = policyNamespace(cluster);
  return parseManifests(text, `the Policy of gen:policy for ${cluster}`).map((o) => {
    if (o.kind === "Namespace") return { ...o, metadata: { ...o.metadata, name: namespace } };
    const moved = { ...o, metadata: { ...o.metadata, namespace } };
    return o.kind === "Policy" ? withPorts(moved, spokePorts(n)) : moved;
  });
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
 * On each spoke the user's part (the spoke edition's namespace and the registry's pull secret in it), then
 * each spoke's Policy on the hub; waits until every spoke's edition is Ready on its real node and its
 * Policy Compliant. Resolves with the spoke editions' pods.
 */
export async function installSpokes(hubRaw: RawClient, spokes: InstallSpoke[], registry: FleetRegistry, images: FleetImages, timeoutMs: number): Promise<SpokeEdition[]> {
  for (const [n, s] of spokes.entries()) {
    await s.raw.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: SPOKE_NAMESPACE } }, FIELD_MANAGER);
    await s.raw.apply(registryPullSecret(registry, SPOKE_NAMESPACE, FLEET_PULL_SECRET), FIELD_MANAGER);
    await hubRaw.request("PATCH", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${s.info.name}`, { metadata: { labels: { [SPOKE_EDITION_LABEL]: s.info.name } } }, "application/merge-patch+json");
    await applyManifests(hubRaw, spokePolicy(s.info.name, n, images), { fieldManager: FIELD_MANAGER });
  }
  return Promise.all(
    spokes.map(async (s) => {
      const p = await waitFor(`the spoke edition Ready on ${s.realNode}`, async () => (await spokePods(s.raw)).find((x) => x.spec.nodeName === s.realNode && podReady(x)), { timeoutMs, intervalMs: 1000 });
      const compliant = await waitFor(`the Policy Compliant for ${s.info.name}`, async () => {
        const root = Policy.parse((await hubRaw.request("GET", `${policyApi}/namespaces/${policyNamespace(s.info.name)}/policies/install-kmm-spoke`)).body);
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
 * removed: the Policies (so nothing re-creates the spoke Deployments), the spoke Deployments and
 * their pods, the hub's Deployment, config and Service and its pods. The namespaces, CRDs and RBAC
 * stay, as the e2e suites share them. Each step is tried; failures are passed to `warn`.
 */
export async function uninstall(hubRaw: RawClient, spokes: InstallSpoke[], hubObjects: ManifestObject[], warn: (msg: string) => void): Promise<void> {
  const quietly = (what: string, p: Promise<unknown>) => p.catch((e: unknown) => warn(`${what}: ${e instanceof Error ? e.message : String(e)}`));
  await Promise.all(
    spokes.map(async (s) => {
      await quietly(`${s.info.name}: Policy`, hubRaw.request("DELETE", `/api/v1/namespaces/${policyNamespace(s.info.name)}`));
      await quietly(`${s.info.name}: ConfigurationPolicy gone`, waitFor(`the ConfigurationPolicy gone from ${s.info.name}`, () => absent(s.raw, `${policyApi}/namespaces/${s.info.name}/configurationpolicies/install-kmm-spoke`), { timeoutMs: 120_000, intervalMs: 1000 }));
      // The config policy controller may enforce once more from its cache: delete until it stays gone.
      const deployment = `/apis/apps/v1/namespaces/${SPOKE_NAMESPACE}/deployments/${SPOKE_DEPLOYMENT}`;
      await quietly(`${s.info.name}: spoke edition gone`, waitFor(`the spoke edition gone from ${s.info.name}`, async () => {
        if (!(await absent(s.raw, deployment))) {
          await s.raw.request("DELETE", `${deployment}?propagationPolicy=Foreground`).catch(() => undefined);
          return false;
        }
        return (await spokePods(s.raw)).length === 0;
      }, { timeoutMs: 120_000, intervalMs: 1000 }));
      for (const path of [`/api/v1/namespaces/${SPOKE_NAMESPACE}/configmaps/${SPOKE_CONFIG}`, `/api/v1/namespaces/${SPOKE_NAMESPACE}/secrets/${FLEET_PULL_SECRET}`]) {
        await quietly(`${s.info.name}: ${path}`, s.raw.request("DELETE", path).catch((e: unknown) => {
          if (!isNotFound(e)) throw e;
        }));
      }
      await quietly(`${s.info.name}: label`, hubRaw.request("PATCH", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${s.info.name}`, { metadata: { labels: { [SPOKE_EDITION_LABEL]: null } } }, "application/merge-patch+json"));
    }),
  );
  for (const o of hubObjects.filter((x) => ["Deployment", "ConfigMap", "Service"].includes(x.kind))) await quietly(`${o.kind} ${o.metadata.name}`, hubRaw.delete(o));
  await quietly("hub pods gone", waitFor("the kmm-hub pods gone", async () => (await hubPods(hubRaw)).length === 0, { timeoutMs: 90_000, intervalMs: 1000 }));
}
