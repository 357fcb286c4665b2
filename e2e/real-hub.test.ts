// The hub from its image, installed from hub/deploy (rbac.yaml, deployment.yaml) on the hub
// cluster's two real nodes: both replicas run, one holds the Lease, and the MCM's ManifestWork
// reaches the spoke through the leader; when the leader's pod is deleted, the follower takes the
// Lease over and a change of the MCM is still delivered. What the test changes in the shipped
// manifests: the image (the fleet registry's, by digest), the placement on the real nodes with
// their pull secret, the spread made strict, and the health and metrics servers bound to the pod's
// address — the rig's two nodes share one machine's network (README "Real nodes"), where two
// replicas binding ":8081" would collide; in a real cluster each pod has its own network.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { ApiError, RawClient } from "../shared/kube/raw.ts";
import { KERNEL_VERSIONS_CLAIM, MCM_NAME_LABEL } from "../hub/names.ts";
import { ManifestWork } from "../shared/ocm/index.ts";
import { connectionFrom } from "./controlplane/kube.ts";
import { registryPullSecret } from "./controlplane/node-agent/test-images.ts";
import { eventually } from "./support/clients.ts";
import { HUB_NAMESPACE as NAMESPACE, hubDeploymentSchema, hubOnRealNodes, hubPods as hubPodsOf, leaseHolder as leaseHolderOf } from "./support/hub-install.ts";
import { podReady as ready } from "./support/real-node-pods.ts";
import { readManifests, type ManifestObject } from "./support/manifests.ts";

const fleet = inject("fleet");
const images = inject("productImages");
const node = fleet.hub.realNode;
const registry = fleet.registry;
if (node === undefined || registry === undefined) throw new Error("this suite needs a fleet with real nodes (startFleet({ realNodes: true }), two on the hub)");
const hubRaw = new RawClient(await connectionFrom(fleet.hub.kubeconfig));
const spoke = fleet.spokes[1]!;
const spokeRaw = new RawClient(await connectionFrom(spoke.kubeconfig));
const suffix = randomBytes(3).toString("hex");
const mcmName = `real-hub-${suffix}`;
const clusterLabel = `kmm-e2e-real-hub-${suffix}`;
const spokeNamespace = `kmm-real-hub-${suffix}`;
const KERNEL = "6.1.0-77-amd64";
const kmodImage = `${registry.host}/e2e/kmm-ci-kmod@sha256:${"1".repeat(64)}`;

const rbac = await readManifests(new URL("../hub/deploy/rbac.yaml", import.meta.url));
const shipped = await readManifests(new URL("../hub/deploy/deployment.yaml", import.meta.url));

const hubPods = () => hubPodsOf(hubRaw);
const leaseHolder = () => leaseHolderOf(hubRaw);

async function spokeModuleImage(): Promise<string | undefined> {
  const r = await spokeRaw.request("GET", `/apis/kmm.sigs.x-k8s.io/v1beta1/namespaces/${spokeNamespace}/modules/${mcmName}`).catch(() => undefined);
  if (r?.status !== 200) return undefined;
  const mappings = z.looseObject({ spec: z.looseObject({ moduleLoader: z.looseObject({ container: z.looseObject({ kernelMappings: z.array(z.looseObject({ literal: z.string(), containerImage: z.string() })) }) }) }) }).parse(r.body).spec.moduleLoader.container.kernelMappings;
  return mappings.find((m) => m.literal === KERNEL)?.containerImage;
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

describe("the hub from its image, as hub/deploy's Deployment on the hub's two real nodes", () => {
  let leader = "";
  let follower = "";

  it("runs 2 replicas under its ServiceAccount, one per node, both Ready, one holding the Lease", async () => {
    const started = Date.now();
    const shippedDeployment = hubDeploymentSchema.parse(shipped.find((o) => o.kind === "Deployment"));
    expect(shippedDeployment.spec.replicas).toBe(2);
    expect(shippedDeployment.spec.template.spec.topologySpreadConstraints.map((t) => t.topologyKey)).toEqual(["kubernetes.io/hostname"]);
    for (const o of shipped) await hubRaw.apply(hubOnRealNodes(o, images.refs.hub), "kmm-e2e");
    const pods = await eventually(
      "2 Ready kmm-hub pods on two real nodes",
      async () => {
        const r = (await hubPods()).filter(ready);
        return r.length === 2 && new Set(r.map((p) => p.spec.nodeName)).size === 2 ? r : undefined;
      },
      180_000,
    );
    console.log(`[real-hub] 2 kmm-hub pods Ready on ${pods.map((p) => p.spec.nodeName ?? "").join(" and ")} ${((Date.now() - started) / 1000).toFixed(1)} s after the Deployment was applied`);
    expect(pods.map((p) => p.spec.nodeName).sort()).toEqual([node.name, `${node.name}-2`]);
    for (const p of pods) {
      expect(p.status?.containerStatuses?.[0]?.image).toBe(images.refs.hub);
      expect(p.status?.containerStatuses?.[0]?.restartCount).toBe(0);
    }
    leader = await eventually("a Lease holder among the pods", async () => {
      const h = await leaseHolder();
      return h !== undefined && pods.some((p) => p.metadata.name === h) ? h : undefined;
    }, 60_000);
    follower = pods.find((p) => p.metadata.name !== leader)!.metadata.name;
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
    // One literal mapping for the claimed kernel, the image by digest kept as given.
    expect(await eventually(`Module ${spokeNamespace}/${mcmName} on ${spoke.name}`, spokeModuleImage, 90_000)).toBe(kmodImage);
  });

  it("when the leader's pod is deleted, another live replica takes the Lease over and a change of the MCM still reaches the spoke", async () => {
    const deleted = Date.now();
    await hubRaw.request("DELETE", `/api/v1/namespaces/${NAMESPACE}/pods/${leader}`);
    // Released first (holder ""), then taken.
    const holder = await eventually("a new Lease holder", async () => {
      const h = await leaseHolder();
      return h !== undefined && h !== "" && h !== leader ? h : undefined;
    }, 90_000);
    console.log(`[real-hub] Lease held by ${holder} ${((Date.now() - deleted) / 1000).toFixed(1)} s after leader ${leader}'s pod was deleted`);
    // The leader releases the Lease when it stops; whichever candidate asks first takes it: usually the running
    // follower, sometimes the ReplicaSet's replacement pod (both are live replicas of the Deployment).
    const pods = (await hubPods()).filter((p) => p.metadata.deletionTimestamp === undefined).map((p) => p.metadata.name);
    expect(pods).toContain(holder);
    console.log(`[real-hub] the new holder is ${holder === follower ? "the follower" : "the replacement pod"}`);
    const moved = `${registry.host}/e2e/kmm-ci-kmod@sha256:${"2".repeat(64)}`;
    await hubRaw.request(
      "PATCH",
      `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${mcmName}`,
      { spec: { moduleSpec: { moduleLoader: { container: { kernelMappings: [{ literal: KERNEL, containerImage: moved }] } } } } },
      "application/merge-patch+json",
    );
    expect(await eventually("the changed image in the spoke's Module", async () => ((await spokeModuleImage()) === moved ? moved : undefined), 90_000)).toBe(moved);
    console.log(`[real-hub] the MCM's change reached the spoke ${((Date.now() - deleted) / 1000).toFixed(1)} s after the leader's pod was deleted`);
    const work = ManifestWork.parse((await hubRaw.request("GET", `/apis/work.open-cluster-management.io/v1/namespaces/${spoke.name}/manifestworks/${mcmName}`)).body);
    expect(work.metadata.managedFields?.map((f) => f.manager)).toContain("kmm-hub");
  });
});
