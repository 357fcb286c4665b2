// The hub from its image, installed from hub/deploy (rbac.yaml, deployment.yaml) on the hub's real
// node, writes the ManifestWork of an MCM for the cluster it selects, and the work agent delivers
// the trimmed Module. What the test changes in the shipped manifests: the image (the fleet
// registry's, by digest), the placement on the real node with its pull secret, and one replica —
// every real-node pod shares the host's network, where a second replica could not bind the
// health and metrics ports (the README's real-node limits).
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { ApiError, RawClient } from "../shared/kube/raw.ts";
import { KERNEL_VERSIONS_CLAIM, MCM_NAME_LABEL } from "../hub/names.ts";
import { ManifestWork } from "../shared/ocm/index.ts";
import { connectionFrom } from "./controlplane/kube.ts";
import { REAL_NODE_LABEL } from "./controlplane/node-agent/node.ts";
import { registryPullSecret } from "./controlplane/node-agent/test-images.ts";
import { eventually } from "./support/clients.ts";
import { readManifests, type ManifestObject } from "./support/manifests.ts";

const fleet = inject("fleet");
const images = inject("productImages");
const node = fleet.hub.realNode;
const registry = fleet.registry;
if (node === undefined || registry === undefined) throw new Error("this suite needs a fleet with real nodes (startFleet({ realNodes: true }))");
const hubRaw = new RawClient(await connectionFrom(fleet.hub.kubeconfig));
const spoke = fleet.spokes[1]!;
const spokeRaw = new RawClient(await connectionFrom(spoke.kubeconfig));
const suffix = randomBytes(3).toString("hex");
const NAMESPACE = "kmm-hub";
const mcmName = `real-hub-${suffix}`;
const clusterLabel = `kmm-e2e-real-hub-${suffix}`;
const spokeNamespace = `kmm-real-hub-${suffix}`;
const KERNEL = "6.1.0-77-amd64";
const kmodImage = `${registry.host}/e2e/kmm-ci-kmod@sha256:${"1".repeat(64)}`;

const rbac = await readManifests(new URL("../hub/deploy/rbac.yaml", import.meta.url));
const shipped = await readManifests(new URL("../hub/deploy/deployment.yaml", import.meta.url));

const deploymentSchema = z.looseObject({
  kind: z.literal("Deployment"),
  spec: z.looseObject({
    template: z.looseObject({ spec: z.looseObject({ containers: z.array(z.looseObject({ name: z.string(), image: z.string() })) }) }),
  }),
});

/** deployment.yaml with the fleet's image, placement and pull secret, one replica. */
function onRealNode(o: ManifestObject): ManifestObject {
  if (o.kind !== "Deployment") return o;
  const dep = deploymentSchema.parse(o);
  return {
    ...o,
    spec: {
      ...dep.spec,
      replicas: 1,
      template: {
        ...dep.spec.template,
        spec: {
          ...dep.spec.template.spec,
          containers: dep.spec.template.spec.containers.map((c) => (c.name === "manager" ? { ...c, image: images.refs.hub } : c)),
          nodeSelector: { [REAL_NODE_LABEL]: "true", "kubernetes.io/hostname": node!.name },
          tolerations: [{ key: REAL_NODE_LABEL, operator: "Exists", effect: "NoSchedule" }],
          imagePullSecrets: [{ name: "fleet-registry" }],
        },
      },
    },
  };
}

const podListSchema = z.object({
  items: z.array(
    z.looseObject({
      spec: z.looseObject({ nodeName: z.string().optional() }),
      status: z
        .looseObject({
          conditions: z.array(z.looseObject({ type: z.string(), status: z.string() })).optional(),
          containerStatuses: z.array(z.looseObject({ image: z.string(), restartCount: z.number() })).optional(),
        })
        .optional(),
    }),
  ),
});

async function hubPods() {
  return podListSchema.parse((await hubRaw.request("GET", `/api/v1/namespaces/${NAMESPACE}/pods?labelSelector=${encodeURIComponent("app.kubernetes.io/name=kmm-hub")}`)).body).items;
}

async function gone(obj: ManifestObject): Promise<boolean> {
  try {
    await hubRaw.get(obj);
    return false;
  } catch (err: unknown) {
    if (err instanceof ApiError && err.code === 404) return true;
    throw err;
  }
}

beforeAll(async () => {
  await hubRaw.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: NAMESPACE } }, "kmm-e2e");
  await hubRaw.apply(registryPullSecret(registry, NAMESPACE), "kmm-e2e");
  for (const o of rbac) await hubRaw.apply(o, "kmm-e2e");
  // The ManifestWork carries the Module only: its namespace is the spoke's to have.
  await spokeRaw.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: spokeNamespace } }, "kmm-e2e");
  await spokeRaw.apply({ apiVersion: "cluster.open-cluster-management.io/v1alpha1", kind: "ClusterClaim", metadata: { name: KERNEL_VERSIONS_CLAIM }, spec: { value: KERNEL } } as ManifestObject, "kmm-e2e");
  await hubRaw.request("PATCH", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${spoke.name}`, { metadata: { labels: { [clusterLabel]: "true" } } }, "application/merge-patch+json");
});

afterAll(async () => {
  await hubRaw.request("DELETE", `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${mcmName}`).catch(() => undefined);
  await eventually("ManifestWork removed", async () => (await hubRaw.request("GET", `/apis/work.open-cluster-management.io/v1/namespaces/${spoke.name}/manifestworks/${mcmName}`).catch(() => ({ status: 404 }))).status === 404, 60_000).catch(() => undefined);
  // deployment.yaml's objects go again: e2e/hub-deploy.test.ts checks that its dry runs store nothing.
  for (const o of shipped) await hubRaw.delete(o).catch(() => undefined);
  await eventually("deployment.yaml's objects and pods gone", async () => (await Promise.all(shipped.map(gone))).every(Boolean) && (await hubPods()).length === 0, 60_000).catch(() => undefined);
  await hubRaw.request("PATCH", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${spoke.name}`, { metadata: { labels: { [clusterLabel]: null } } }, "application/merge-patch+json").catch(() => undefined);
  await spokeRaw.delete({ apiVersion: "cluster.open-cluster-management.io/v1alpha1", kind: "ClusterClaim", metadata: { name: KERNEL_VERSIONS_CLAIM } }).catch(() => undefined);
  await spokeRaw.request("DELETE", `/api/v1/namespaces/${spokeNamespace}`).catch(() => undefined);
  hubRaw.close();
  spokeRaw.close();
});

describe("the hub from its image, as hub/deploy's Deployment on the hub's real node", () => {
  it("runs under its ServiceAccount and becomes Ready", async () => {
    const started = Date.now();
    for (const o of shipped) await hubRaw.apply(onRealNode(o), "kmm-e2e");
    const pod = await eventually(
      "a Ready kmm-hub pod on the real node",
      async () => (await hubPods()).find((p) => p.spec.nodeName === node.name && p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true),
      150_000,
    );
    console.log(`[real-hub] kmm-hub pod Ready ${((Date.now() - started) / 1000).toFixed(1)} s after the Deployment was applied`);
    expect(pod.status?.containerStatuses?.[0]?.image).toBe(images.refs.hub);
    expect(pod.status?.containerStatuses?.[0]?.restartCount).toBe(0);
  });

  it("writes the ManifestWork of an MCM for the selected cluster, and the work agent creates the Module", async () => {
    await hubRaw.request("POST", "/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules", {
      apiVersion: "hub.kmm.sigs.x-k8s.io/v1beta1",
      kind: "ManagedClusterModule",
      metadata: { name: mcmName },
      spec: {
        spokeNamespace,
        selector: { [clusterLabel]: "true" },
        moduleSpec: {
          selector: { "kmm-e2e": "true" },
          moduleLoader: { container: { modprobe: { moduleName: "kmm_ci_a" }, kernelMappings: [{ literal: KERNEL, containerImage: kmodImage }] } },
        },
      },
    });
    const work = await eventually(
      `ManifestWork ${spoke.name}/${mcmName}`,
      async () => {
        try {
          return ManifestWork.parse((await hubRaw.request("GET", `/apis/work.open-cluster-management.io/v1/namespaces/${spoke.name}/manifestworks/${mcmName}`)).body);
        } catch (err: unknown) {
          if (err instanceof ApiError && err.code === 404) return undefined;
          throw err;
        }
      },
      90_000,
    );
    expect(work.metadata.labels?.[MCM_NAME_LABEL]).toBe(mcmName);
    expect(work.metadata.managedFields?.map((f) => f.manager)).toContain("kmm-hub");
    const module = await eventually(
      `Module ${spokeNamespace}/${mcmName} on ${spoke.name}`,
      async () => {
        const r = await spokeRaw.request("GET", `/apis/kmm.sigs.x-k8s.io/v1beta1/namespaces/${spokeNamespace}/modules/${mcmName}`).catch(() => undefined);
        return r?.status === 200 ? r.body : undefined;
      },
      90_000,
    );
    const mappings = z.looseObject({ spec: z.looseObject({ moduleLoader: z.looseObject({ container: z.looseObject({ kernelMappings: z.array(z.looseObject({ literal: z.string(), containerImage: z.string() })) }) }) }) }).parse(module).spec.moduleLoader.container.kernelMappings;
    // One literal mapping for the claimed kernel, the image by digest kept as given.
    expect(mappings.map((m) => ({ literal: m.literal, containerImage: m.containerImage }))).toEqual([{ literal: KERNEL, containerImage: kmodImage }]);
  });
});
