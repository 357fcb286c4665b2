// KMM-Hub installed as users install it, end to end on the fleet, every hop asserted: the hub from
// the one install file (`npm run images -- --manifests`: namespace, CRD, RBAC, config, Deployment)
// runs from its image on the hub's real node; the Policy written by `npm run gen:policy` with the
// spoke and worker images by digest goes through the real placement controller, propagator and
// config policy controller, which creates the spoke Deployment; the spoke edition runs from its
// image on spoke1's real node, reports the kernel claim, and an MCM on the hub becomes a
// ManifestWork, a Module on the spoke and a module-loader DaemonSet. The test's own additions are
// what a user of a private registry on tainted nodes adds: the pull secret on each side, the hub's
// placement on the real node, and gen:policy's --node-selector/--toleration/--image-pull-secret for
// the spoke; and, because real-node pods share the host's network, one hub replica on ports of its own.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { RawClient, isNotFound } from "../shared/kube/raw.ts";
import { KERNEL_VERSIONS_CLAIM, MCM_NAME_LABEL } from "../hub/names.ts";
import { ManifestWork } from "../shared/ocm/index.ts";
import { decidedClusters, PlacementDecision, PLACEMENT_LABEL } from "../shared/ocm/placement.ts";
import { Policy } from "../shared/ocm/policy.ts";
import { parseKubeDocuments } from "../shared/yaml/read.ts";
import { KERNEL_LABEL, MODULE_NAME_LABEL } from "../spoke/labels.ts";
import { POLICY_NAMESPACE, SPOKE_NAMESPACE } from "../scripts/gen-policy.ts";
import { hubManifests, imageReferences } from "../images/manifests.ts";
import { connectionFrom } from "./controlplane/kube.ts";
import { REAL_NODE_LABEL } from "./controlplane/node-agent/node.ts";
import { registryPullSecret } from "./controlplane/node-agent/test-images.ts";
import { clientsFor, eventually } from "./support/clients.ts";
import { applyManifests, type ManifestObject } from "./support/manifests.ts";
import { podReady, podsOf } from "./support/real-node-pods.ts";

const fleet = inject("fleet");
const images = inject("productImages");
const registry = fleet.registry;
const hubNode = fleet.hub.realNode;
const spoke = fleet.spokes[0]!;
const other = fleet.spokes[1]!;
const spokeNode = spoke.realNode;
if (registry === undefined || hubNode === undefined || spokeNode === undefined) throw new Error("this suite needs a fleet with real nodes (startFleet({ realNodes: true }))");
const hubRaw = new RawClient(await connectionFrom(fleet.hub.kubeconfig));
const spokeRaw = new RawClient(await connectionFrom(spoke.kubeconfig));
const spokeAdmin = clientsFor(spoke.kubeconfig);

const suffix = randomBytes(3).toString("hex");
const HUB_NAMESPACE = "kmm-hub";
const PULL_SECRET = "fleet-registry";
const POLICY = "install-kmm-spoke";
const PLACEMENT = "all-managed-clusters";
const clusterLabel = `kmm-e2e-install-chain-${suffix}`;
// MCM name and spokeNamespace together at most 41 characters (node labels are built from them).
const mcmName = `chain-${suffix}`;
const moduleNamespace = `kmm-chain-${suffix}`;
const kwokNode = `e2e-install-chain-${suffix}`;
const nodeLabel = `e2e-install-chain-${suffix}`;
const KWOK_KERNEL = "5.14.0-427.el9.x86_64";
const kmodImage = `${registry.host}/e2e/kmm-ci-kmod@sha256:${"2".repeat(64)}`;
const policyApi = "/apis/policy.open-cluster-management.io/v1";
const repoRoot = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const workDir = await mkdtemp(path.join(tmpdir(), "kmm-install-chain-"));

const manifestSchema = z.looseObject({ apiVersion: z.string(), kind: z.string(), metadata: z.looseObject({ name: z.string(), namespace: z.string().optional() }) });
const managedFieldsSchema = z.looseObject({
  metadata: z.looseObject({
    managedFields: z.array(z.looseObject({ manager: z.string(), subresource: z.string().optional(), fieldsV1: z.record(z.string(), z.unknown()).optional() })).optional(),
  }),
});
const compliantSchema = z.looseObject({ status: z.looseObject({ compliant: z.string().optional() }).optional() });

async function getOrUndefined(raw: RawClient, p: string): Promise<unknown> {
  try {
    return (await raw.request("GET", p)).body;
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

/** The Ready pod of `app` on `node`, with its container's image and restarts, within `timeoutMs`. */
async function readyPodOn(raw: RawClient, namespace: string, app: string, node: string, timeoutMs: number) {
  return eventually(
    `a Ready ${app} pod on ${node}`,
    async () => (await podsOf(raw, namespace, app)).find((p) => p.spec.nodeName === node && podReady(p)),
    timeoutMs,
  );
}

async function labelCluster(name: string, value: string | null): Promise<void> {
  await hubRaw.request("PATCH", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${name}`, { metadata: { labels: { [clusterLabel]: value } } }, "application/merge-patch+json");
}

/**
 * Real-node pods share the host's network, where the spoke edition (on spoke1's real node) serves
 * health and metrics on the same ports as the hub: the hub's move to these.
 */
const HUB_PORTS: Record<string, number> = { health: 18081, metrics: 18443 };
const SHIPPED_PORTS: Record<string, number> = { health: 8081, metrics: 8443 };

/**
 * What the one install file holds, with the placement a tainted real node and a private registry
 * need, and the hub's ports moved off the spoke's (HUB_PORTS) in its config and container.
 */
function forRealNode(o: ManifestObject): ManifestObject {
  if (o.kind === "ConfigMap") {
    const cm = manifestSchema.extend({ data: z.record(z.string(), z.string()) }).parse(o);
    const config = cm.data["config.yaml"] ?? "";
    for (const [name, port] of Object.entries(SHIPPED_PORTS)) expect(config, `the shipped config binds ${name} on :${port}`).toContain(`":${port}"`);
    const moved = Object.entries(SHIPPED_PORTS).reduce((text, [name, port]) => text.replace(`":${port}"`, `":${HUB_PORTS[name]}"`), config);
    return { ...cm, data: { ...cm.data, "config.yaml": moved } };
  }
  if (o.kind !== "Deployment") return o;
  const containerSchema = z.looseObject({ ports: z.array(z.looseObject({ name: z.string(), containerPort: z.number() })).optional() });
  const dep = manifestSchema.extend({ spec: z.looseObject({ template: z.looseObject({ spec: z.looseObject({ containers: z.array(containerSchema) }) }) }) }).parse(o);
  const containers = dep.spec.template.spec.containers.map((c) => ({ ...c, ports: c.ports?.map((p) => ({ ...p, containerPort: HUB_PORTS[p.name] ?? p.containerPort })) }));
  return {
    ...dep,
    spec: {
      ...dep.spec,
      replicas: 1,
      template: {
        ...dep.spec.template,
        spec: {
          ...dep.spec.template.spec,
          containers,
          nodeSelector: { [REAL_NODE_LABEL]: "true", "kubernetes.io/hostname": hubNode!.name },
          tolerations: [{ key: REAL_NODE_LABEL, operator: "Exists", effect: "NoSchedule" }],
          imagePullSecrets: [{ name: PULL_SECRET }],
        },
      },
    },
  };
}

let hubObjects: ManifestObject[] = [];

beforeAll(async () => {
  // The user's part on the spoke: a pull secret for the private registry where the Policy's pod will look for it.
  await spokeRaw.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: SPOKE_NAMESPACE } }, "kmm-e2e");
  await spokeRaw.apply(registryPullSecret(registry, SPOKE_NAMESPACE, PULL_SECRET), "kmm-e2e");
  // The Module's namespace (the ManifestWork carries only the Module) and a kwok node with a second kernel for its DaemonSet.
  await spokeRaw.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: moduleNamespace } }, "kmm-e2e");
  await spokeAdmin.core.createNode({
    body: {
      metadata: { name: kwokNode, labels: { "kubernetes.io/hostname": kwokNode, [nodeLabel]: "true" }, annotations: { "kwok.x-k8s.io/node": "fake" } },
      spec: {},
      status: { nodeInfo: { kernelVersion: KWOK_KERNEL, architecture: "amd64", bootID: "", containerRuntimeVersion: "", kubeProxyVersion: "", kubeletVersion: "", machineID: "", operatingSystem: "linux", osImage: "", systemUUID: "" } },
    },
  });
  await labelCluster(spoke.name, "true");
});

afterAll(async () => {
  const quietly = (what: string, p: Promise<unknown>) => p.catch((e: unknown) => console.warn(`[install-chain] cleanup: ${what}: ${e instanceof Error ? e.message : String(e)}`));
  // The running hub removes the MCM's work (the work agent the Module, the running spoke its finalizer): before either stops.
  await quietly("MCM", hubRaw.request("DELETE", `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${mcmName}`));
  await quietly("MCM gone", eventually("the MCM and its Module gone", async () =>
    (await getOrUndefined(hubRaw, `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${mcmName}`)) === undefined &&
    (await getOrUndefined(spokeRaw, `/apis/kmm.sigs.x-k8s.io/v1beta1/namespaces/${moduleNamespace}/modules/${mcmName}`)) === undefined, 120_000));
  // The Policy first, so nothing re-creates the spoke Deployment (the ConfigurationPolicy does not prune it).
  await quietly("policy namespace", hubRaw.delete({ apiVersion: "v1", kind: "Namespace", metadata: { name: POLICY_NAMESPACE } }));
  await quietly("replicated policy gone", eventually("the ConfigurationPolicy gone from the spoke", async () =>
    (await getOrUndefined(spokeRaw, `${policyApi}/namespaces/${spoke.name}/configurationpolicies/${POLICY}`)) === undefined, 120_000));
  // The config policy controller may still enforce once more from its cache: delete until it stays gone.
  const deploymentPath = `/apis/apps/v1/namespaces/${SPOKE_NAMESPACE}/deployments/kmm-spoke`;
  await quietly("spoke Deployment and pods gone", eventually("the spoke Deployment and its pods gone", async () => {
    if ((await getOrUndefined(spokeRaw, deploymentPath)) !== undefined) {
      await spokeRaw.request("DELETE", `${deploymentPath}?propagationPolicy=Foreground`).catch(() => undefined);
      return false;
    }
    return (await podsOf(spokeRaw, SPOKE_NAMESPACE, "kmm-spoke")).length === 0;
  }, 120_000));
  await quietly("pull secret", spokeRaw.request("DELETE", `/api/v1/namespaces/${SPOKE_NAMESPACE}/secrets/${PULL_SECRET}`));
  await quietly("claim", spokeRaw.delete({ apiVersion: "cluster.open-cluster-management.io/v1alpha1", kind: "ClusterClaim", metadata: { name: KERNEL_VERSIONS_CLAIM } }));
  await quietly("module namespace", spokeRaw.request("DELETE", `/api/v1/namespaces/${moduleNamespace}`));
  await quietly("kwok node", spokeAdmin.core.deleteNode({ name: kwokNode }));
  await quietly("cluster label", labelCluster(spoke.name, null));
  // The hub's Deployment, config and Service go (e2e/hub-deploy.test.ts checks its dry runs store none of
  // them); namespace, CRD and RBAC stay, as other suites share them.
  for (const o of hubObjects.filter((x) => ["Deployment", "ConfigMap", "Service"].includes(x.kind))) await quietly(`${o.kind} ${o.metadata.name}`, hubRaw.delete(o));
  await quietly("hub pods gone", eventually("hub pods gone", async () => (await podsOf(hubRaw, HUB_NAMESPACE, "kmm-hub")).length === 0, 90_000));
  await quietly("hub pull secret", hubRaw.request("DELETE", `/api/v1/namespaces/${HUB_NAMESPACE}/secrets/${PULL_SECRET}`));
  await rm(workDir, { recursive: true, force: true });
  hubRaw.close();
  spokeRaw.close();
});

describe("install as users do: hub install file, gen:policy Policy, MCM → module-loader DaemonSet", () => {
  it("the hub's one install file (namespace, CRD, RBAC, config, Deployment) brings the hub up from its image on the hub's real node", async () => {
    const text = await hubManifests({ hub: images.refs.hub, signer: images.refs.signer });
    // (kubectl skips the file's empty documents, and so does this.)
    const objects = parseKubeDocuments(text)
      .map((d) => d.toJS() as unknown)
      .filter((v) => v !== null)
      .map((v) => manifestSchema.parse(v));
    expect(objects.slice(0, 2).map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(["Namespace/kmm-hub", "CustomResourceDefinition/managedclustermodules.hub.kmm.sigs.x-k8s.io"]);
    expect(new Set(objects.map((o) => o.kind))).toEqual(new Set(["Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ConfigMap", "Deployment", "Service"]));
    // One apply of the file, in its order (as `kubectl apply --server-side -f kmm-hub.yaml`), plus the registry's pull secret once the namespace exists.
    hubObjects = objects.map(forRealNode);
    const [namespace, ...rest] = hubObjects;
    const started = Date.now();
    await applyManifests(hubRaw, [namespace!, registryPullSecret(registry, HUB_NAMESPACE, PULL_SECRET), ...rest], { fieldManager: "kubectl" });
    const pod = await readyPodOn(hubRaw, HUB_NAMESPACE, "kmm-hub", hubNode.name, 170_000);
    console.log(`[install-chain] kmm-hub pod Ready ${((Date.now() - started) / 1000).toFixed(1)} s after the install file was applied`);
    expect(pod.status?.containerStatuses?.[0]?.image).toBe(images.refs.hub);
    expect(pod.status?.containerStatuses?.[0]?.restartCount).toBe(0);
  }, 200_000);

  it("npm run gen:policy with the images by digest → placement → propagator → config policy controller creates the spoke Deployment, Compliant on the hub", async () => {
    const file = path.join(workDir, "install-kmm-spoke.yaml");
    const args = [
      "--image", images.refs.spoke,
      "--worker-image", images.refs.worker,
      "--cluster-label", `${clusterLabel}=true`,
      "--node-selector", `${REAL_NODE_LABEL}=true`,
      "--toleration", `${REAL_NODE_LABEL}=true:NoSchedule`,
      "--image-pull-secret", PULL_SECRET,
      "--out", file,
    ];
    await promisify(execFile)(process.execPath, ["--disable-warning=ExperimentalWarning", path.join(repoRoot, "scripts", "gen-policy.ts"), ...args], { cwd: repoRoot });
    const text = await readFile(file, "utf8");
    // Read as kubectl reads it (YAML 1.1): the Deployment's image and RELATED_IMAGE_WORKER are the digests given.
    expect(imageReferences(text)).toEqual(expect.arrayContaining([images.refs.spoke, images.refs.worker]));
    for (const d of parseKubeDocuments(text)) if (d.toJS() !== null) await hubRaw.apply(manifestSchema.parse(d.toJS()), "kubectl");

    // The real placement controller decides on the labelled spoke only.
    await eventually("the placement to decide on spoke1 alone", async () => {
      const list = z.object({ items: z.array(z.unknown()) }).parse(
        (await hubRaw.request("GET", `/apis/cluster.open-cluster-management.io/v1beta1/namespaces/${POLICY_NAMESPACE}/placementdecisions?labelSelector=${encodeURIComponent(`${PLACEMENT_LABEL}=${PLACEMENT}`)}`)).body,
      );
      return decidedClusters(list.items.map((x) => PlacementDecision.parse(x))).join() === spoke.name;
    }, 120_000);
    // The propagator's replica on the hub; the spoke's copy (policy sync) and the config policy controller's ConfigurationPolicy.
    await eventually("the replicated Policy on the hub and the ConfigurationPolicy on the spoke", async () =>
      (await getOrUndefined(hubRaw, `${policyApi}/namespaces/${spoke.name}/policies/${POLICY_NAMESPACE}.${POLICY}`)) !== undefined &&
      (await getOrUndefined(spokeRaw, `${policyApi}/namespaces/${spoke.name}/configurationpolicies/${POLICY}`)) !== undefined, 120_000);
    expect(await getOrUndefined(hubRaw, `${policyApi}/namespaces/${other.name}/policies/${POLICY_NAMESPACE}.${POLICY}`)).toBeUndefined();

    // The Deployment as the config policy controller wrote it: the digests and the placement of the flags.
    const deployment = await eventually("the spoke Deployment", async () => (await getOrUndefined(spokeRaw, `/apis/apps/v1/namespaces/${SPOKE_NAMESPACE}/deployments/kmm-spoke`)), 120_000);
    const managedFields = managedFieldsSchema.parse(deployment).metadata.managedFields ?? [];
    // Written by the config policy controller (the test applied nothing on the spoke but the pull secret). The
    // Deployment controller (kube-controller-manager; the fleet's all-in-one binary names itself kcp) may have
    // written the status and its revision annotation since: no other writer owns anything else.
    expect(managedFields.map((f) => f.manager)).toContain("config-policy-controller");
    const byOthers = managedFields
      .filter((f) => f.manager !== "config-policy-controller" && f.subresource !== "status")
      .map((f) => ({ manager: f.manager, fields: f.fieldsV1 }));
    const owned = (fields: Record<string, unknown> | undefined): string[] =>
      Object.entries(fields ?? {}).flatMap(([k, v]) => (k === "." ? [] : v !== null && typeof v === "object" && Object.keys(v).length > 0 ? owned(v as Record<string, unknown>).map((c) => `${k}/${c}`) : [k]));
    for (const o of byOthers) expect(owned(o.fields), `fields owned by ${o.manager}`).toEqual(["f:metadata/f:annotations/f:deployment.kubernetes.io/revision"]);
    const spec = z
      .looseObject({
        spec: z.looseObject({
          template: z.looseObject({
            spec: z.looseObject({
              nodeSelector: z.record(z.string(), z.string()),
              tolerations: z.array(z.looseObject({ key: z.string() })),
              imagePullSecrets: z.array(z.looseObject({ name: z.string() })),
              containers: z.array(z.looseObject({ image: z.string(), env: z.array(z.looseObject({ name: z.string(), value: z.string().optional() })) })),
            }),
          }),
        }),
      })
      .parse(deployment).spec.template.spec;
    expect(spec.containers[0]?.image).toBe(images.refs.spoke);
    expect(spec.containers[0]?.env).toContainEqual({ name: "RELATED_IMAGE_WORKER", value: images.refs.worker });
    expect(spec.containers[0]?.env).toContainEqual({ name: "KMM_MANAGED", value: "1" });
    expect(spec.nodeSelector).toEqual({ [REAL_NODE_LABEL]: "true" });
    expect(spec.tolerations).toEqual([{ key: REAL_NODE_LABEL, operator: "Equal", value: "true", effect: "NoSchedule" }]);
    expect(spec.imagePullSecrets).toEqual([{ name: PULL_SECRET }]);

    // Compliant per cluster on the hub's root Policy, and on the spoke.
    await eventually("the root Policy Compliant for spoke1", async () => {
      const p = Policy.parse((await hubRaw.request("GET", `${policyApi}/namespaces/${POLICY_NAMESPACE}/policies/${POLICY}`)).body);
      return (p.status?.status ?? []).some((s) => s.clustername === spoke.name && s.compliant === "Compliant");
    }, 180_000);
    expect(compliantSchema.parse(await getOrUndefined(spokeRaw, `${policyApi}/namespaces/${spoke.name}/configurationpolicies/${POLICY}`)).status?.compliant).toBe("Compliant");
  }, 300_000);

  it("the spoke edition runs from its image on spoke1's real node and its kernel claim reaches the hub", async () => {
    const pod = await readyPodOn(spokeRaw, SPOKE_NAMESPACE, "kmm-spoke", spokeNode.name, 170_000);
    expect(pod.status?.containerStatuses?.[0]?.image).toBe(images.refs.spoke);
    expect(pod.status?.containerStatuses?.[0]?.restartCount).toBe(0);
    const kernels = (value: string) => value.split("\n");
    await eventually("the kernel claim on the spoke with the real node's and the kwok node's kernels", async () => {
      const claim = z.object({ spec: z.object({ value: z.string() }) }).parse(await spokeRaw.get({ apiVersion: "cluster.open-cluster-management.io/v1alpha1", kind: "ClusterClaim", metadata: { name: KERNEL_VERSIONS_CLAIM } }));
      return kernels(claim.spec.value).includes(spokeNode.kernelVersion) && kernels(claim.spec.value).includes(KWOK_KERNEL);
    }, 90_000);
    const claim = await spokeRaw.get({ apiVersion: "cluster.open-cluster-management.io/v1alpha1", kind: "ClusterClaim", metadata: { name: KERNEL_VERSIONS_CLAIM } });
    expect(managedFieldsSchema.parse(claim).metadata.managedFields?.map((f) => f.manager)).toContain("kmm-spoke");
    await eventually("the claim on the hub's ManagedCluster", async () => {
      const mc = z
        .object({ status: z.object({ clusterClaims: z.array(z.object({ name: z.string(), value: z.string() })).optional() }).optional() })
        .parse((await hubRaw.request("GET", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${spoke.name}`)).body);
      const value = mc.status?.clusterClaims?.find((c) => c.name === KERNEL_VERSIONS_CLAIM)?.value ?? "";
      return kernels(value).includes(KWOK_KERNEL) && kernels(value).includes(spokeNode.kernelVersion);
    }, 150_000);
  }, 300_000);

  it("an MCM on the hub → the hub's ManifestWork → the work agent's Module → the spoke's module-loader DaemonSet with the worker image", async () => {
    await hubRaw.request("POST", "/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules", {
      apiVersion: "hub.kmm.sigs.x-k8s.io/v1beta1",
      kind: "ManagedClusterModule",
      metadata: { name: mcmName },
      spec: {
        spokeNamespace: moduleNamespace,
        selector: { [clusterLabel]: "true" },
        moduleSpec: {
          selector: { [nodeLabel]: "true" },
          moduleLoader: { container: { modprobe: { moduleName: "kmm_ci_a" }, kernelMappings: [{ regexp: "^5\\.14\\..+$", containerImage: kmodImage }] } },
        },
      },
    });
    const work = await eventually(`ManifestWork ${spoke.name}/${mcmName}`, async () => {
      const body = await getOrUndefined(hubRaw, `/apis/work.open-cluster-management.io/v1/namespaces/${spoke.name}/manifestworks/${mcmName}`);
      return body === undefined ? undefined : ManifestWork.parse(body);
    }, 90_000);
    expect(work.metadata.labels?.[MCM_NAME_LABEL]).toBe(mcmName);
    expect(work.metadata.managedFields?.map((f) => f.manager)).toContain("kmm-hub");
    // Only the labelled cluster gets a work.
    expect(await getOrUndefined(hubRaw, `/apis/work.open-cluster-management.io/v1/namespaces/${other.name}/manifestworks/${mcmName}`)).toBeUndefined();

    const module = await eventually(`Module ${moduleNamespace}/${mcmName} on ${spoke.name}`, async () => getOrUndefined(spokeRaw, `/apis/kmm.sigs.x-k8s.io/v1beta1/namespaces/${moduleNamespace}/modules/${mcmName}`), 90_000);
    const mappings = z.looseObject({ spec: z.looseObject({ moduleLoader: z.looseObject({ container: z.looseObject({ kernelMappings: z.array(z.looseObject({ literal: z.string().optional(), containerImage: z.string() })) }) }) }) }).parse(module).spec.moduleLoader.container.kernelMappings;
    // The regexp resolved on the hub against the claimed kernels: one literal mapping for the kwok node's kernel.
    expect(mappings.map((m) => ({ literal: m.literal, containerImage: m.containerImage }))).toEqual([{ literal: KWOK_KERNEL, containerImage: kmodImage }]);

    const ds = await eventually("the module-loader DaemonSet", async () => {
      const list = z
        .object({
          items: z.array(
            z.looseObject({
              metadata: z.looseObject({ managedFields: z.array(z.looseObject({ manager: z.string() })).optional() }),
              spec: z.looseObject({ template: z.looseObject({ spec: z.looseObject({ containers: z.array(z.looseObject({ name: z.string(), image: z.string() })), nodeSelector: z.record(z.string(), z.string()) }) }) }),
            }),
          ),
        })
        .parse((await spokeRaw.request("GET", `/apis/apps/v1/namespaces/${moduleNamespace}/daemonsets?labelSelector=${encodeURIComponent(`${MODULE_NAME_LABEL}=${mcmName}`)}`)).body);
      return list.items.length > 0 ? list.items : undefined;
    }, 90_000);
    expect(ds).toHaveLength(1);
    expect(ds[0]!.spec.template.spec.containers.find((c) => c.name === "worker")?.image).toBe(images.refs.worker);
    expect(ds[0]!.spec.template.spec.nodeSelector[KERNEL_LABEL]).toBe(KWOK_KERNEL);
    expect(ds[0]!.metadata.managedFields?.map((f) => f.manager)).toContain("kmm-spoke");
  }, 300_000);
});
