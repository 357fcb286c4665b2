// The spoke edition from its image, installed as the Policy installs it (spoke/deploy/rbac.yaml and
// the Deployment of scripts/gen-policy.ts: KMM_MANAGED=1, ServiceAccount kmm-spoke), running on
// spoke1's real node: it reports the kernel ClusterClaim, which reaches the hub, and turns a Module
// into module-loader DaemonSets. Only the placement is the test's: a toleration and node selector
// for the real node, and the fleet registry's pull secret.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { RawClient } from "../shared/kube/raw.ts";
import { KERNEL_CLAIM_NAME } from "../spoke/claim.ts";
import { KERNEL_LABEL, MODULE_NAME_LABEL } from "../spoke/labels.ts";
import { SPOKE_NAMESPACE, spokeObjects } from "../scripts/gen-policy.ts";
import { connectionFrom } from "./controlplane/kube.ts";
import { registryPullSecret } from "./controlplane/node-agent/test-images.ts";
import { clientsFor, eventually } from "./support/clients.ts";
import { editPodSpec, type ManifestObject } from "./support/manifests.ts";
import { realNodePlacement } from "./support/real-node-pods.ts";

const fleet = inject("fleet");
const images = inject("productImages");
const cluster = fleet.spokes[0]!;
const node = cluster.realNode;
const registry = fleet.registry;
if (node === undefined || registry === undefined) throw new Error("this suite needs a fleet with real nodes (startFleet({ realNodes: true }))");
const admin = clientsFor(cluster.kubeconfig);
const raw = new RawClient(await connectionFrom(cluster.kubeconfig));
const hubRaw = new RawClient(await connectionFrom(fleet.hub.kubeconfig));
const suffix = randomBytes(3).toString("hex");
const ns = `e2e-real-spoke-${suffix}`;
const kwokNode = `e2e-real-spoke-${suffix}`;
const KWOK_KERNEL = "5.14.0-284.el9.x86_64";
const MODULE = "kmm-ci";

const podSchema = z.looseObject({
  metadata: z.looseObject({ name: z.string() }),
  spec: z.looseObject({ nodeName: z.string().optional() }),
  status: z
    .looseObject({
      phase: z.string().optional(),
      conditions: z.array(z.looseObject({ type: z.string(), status: z.string() })).optional(),
      containerStatuses: z.array(z.looseObject({ name: z.string(), image: z.string(), restartCount: z.number() })).optional(),
    })
    .optional(),
});
const podListSchema = z.object({ items: z.array(podSchema) });

/** The spoke's objects as the Policy carries them, minus the CRDs (the fleet installed those). */
const manifestSchema = z.looseObject({ apiVersion: z.string(), kind: z.string(), metadata: z.looseObject({ name: z.string(), namespace: z.string().optional() }) });
function installObjects(): ManifestObject[] {
  const objects = spokeObjects(images.refs.spoke, images.refs.worker).filter((o) => o.kind !== "CustomResourceDefinition" && !o.kind.startsWith("ValidatingAdmissionPolicy"));
  return objects.map((o) => {
    if (o.kind !== "Deployment") return manifestSchema.parse(o);
    return editPodSpec(o, (spec) => ({ ...spec, ...realNodePlacement() }));
  });
}

async function spokePods(): Promise<z.infer<typeof podSchema>[]> {
  return podListSchema.parse((await raw.request("GET", `/api/v1/namespaces/${SPOKE_NAMESPACE}/pods?labelSelector=${encodeURIComponent("app.kubernetes.io/name=kmm-spoke")}`)).body).items;
}

beforeAll(async () => {
  await raw.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: SPOKE_NAMESPACE } }, "kmm-e2e");
  await raw.apply(registryPullSecret(registry, SPOKE_NAMESPACE), "kmm-e2e");
  await raw.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } }, "kmm-e2e");
  await raw.apply(registryPullSecret(registry, ns), "kmm-e2e");
  await admin.core.createNode({
    body: {
      metadata: { name: kwokNode, labels: { "kubernetes.io/hostname": kwokNode, [`e2e-real-spoke-${suffix}`]: "true" }, annotations: { "kwok.x-k8s.io/node": "fake" } },
      spec: {},
      status: { nodeInfo: { kernelVersion: KWOK_KERNEL, architecture: "amd64", bootID: "", containerRuntimeVersion: "", kubeProxyVersion: "", kubeletVersion: "", machineID: "", operatingSystem: "linux", osImage: "", systemUUID: "" } },
    },
  });
});

afterAll(async () => {
  // The Module's finalizer is the running spoke's: delete it first, then the spoke.
  await raw.request("DELETE", `/apis/kmm.sigs.x-k8s.io/v1beta1/namespaces/${ns}/modules/${MODULE}`).catch(() => undefined);
  await eventually("Module deleted", async () => (await raw.request("GET", `/apis/kmm.sigs.x-k8s.io/v1beta1/namespaces/${ns}/modules/${MODULE}`).catch(() => ({ status: 404 }))).status === 404, 60_000).catch(() => undefined);
  await raw.request("DELETE", `/apis/apps/v1/namespaces/${SPOKE_NAMESPACE}/deployments/kmm-spoke`).catch(() => undefined);
  await eventually("spoke pods gone", async () => (await spokePods()).length === 0, 60_000).catch(() => undefined);
  await admin.core.deleteNamespace({ name: ns }).catch(() => undefined);
  await admin.core.deleteNode({ name: kwokNode }).catch(() => undefined);
  await raw.delete({ apiVersion: "cluster.open-cluster-management.io/v1alpha1", kind: "ClusterClaim", metadata: { name: KERNEL_CLAIM_NAME } }).catch(() => undefined);
  raw.close();
  hubRaw.close();
});

describe("the spoke edition from its image, as a Deployment on a real node", () => {
  it("runs under its ServiceAccount and becomes Ready", async () => {
    const started = Date.now();
    for (const o of installObjects()) await raw.apply(o, "kmm-e2e");
    const pod = await eventually(
      "a Ready kmm-spoke pod on the real node",
      async () => {
        const p = (await spokePods()).find((x) => x.spec.nodeName === node.name);
        return p?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true ? p : undefined;
      },
      150_000,
    );
    console.log(`[real-spoke] kmm-spoke pod Ready ${((Date.now() - started) / 1000).toFixed(1)} s after the Deployment was applied`);
    expect(pod.status?.containerStatuses?.[0]?.image).toBe(images.refs.spoke);
    expect(pod.status?.containerStatuses?.[0]?.restartCount).toBe(0);
  });

  it("reports the nodes' kernels as the ClusterClaim, which reaches the hub, and labels the nodes", async () => {
    await eventually(
      "kernel claim with the real node's and the kwok node's kernels",
      async () => {
        const claim = z.object({ spec: z.object({ value: z.string() }) }).parse(await raw.get({ apiVersion: "cluster.open-cluster-management.io/v1alpha1", kind: "ClusterClaim", metadata: { name: KERNEL_CLAIM_NAME } }));
        const kernels = claim.spec.value.split("\n");
        return kernels.includes(node.kernelVersion) && kernels.includes(KWOK_KERNEL);
      },
      90_000,
    );
    await eventually(
      "the claim on the hub's ManagedCluster",
      async () => {
        const mc = z
          .object({ status: z.object({ clusterClaims: z.array(z.object({ name: z.string(), value: z.string() })).optional() }).optional() })
          .parse((await hubRaw.request("GET", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${cluster.name}`)).body);
        const value = mc.status?.clusterClaims?.find((c) => c.name === KERNEL_CLAIM_NAME)?.value ?? "";
        return value.split("\n").includes(node.kernelVersion) && value.split("\n").includes(KWOK_KERNEL);
      },
      150_000,
    );
    const n = await admin.core.readNode({ name: node.name });
    expect(n.metadata?.labels?.[KERNEL_LABEL]).toBe(node.kernelVersion);
  });

  it("turns a Module into a module-loader DaemonSet running the worker image it was given", async () => {
    const module = {
      apiVersion: "kmm.sigs.x-k8s.io/v1beta1",
      kind: "Module",
      metadata: { name: MODULE, namespace: ns },
      spec: {
        selector: { [`e2e-real-spoke-${suffix}`]: "true" },
        imageRepoSecret: { name: "fleet-registry" },
        moduleLoader: { container: { modprobe: { moduleName: "kmm_ci_a" }, kernelMappings: [{ literal: KWOK_KERNEL, containerImage: `${registry.host}/e2e/kmm-ci-kmod@sha256:${"0".repeat(64)}` }] } },
      },
    };
    await raw.apply(module, "kmm-e2e");
    const ds = await eventually(
      "the module-loader DaemonSet",
      async () => {
        const list = z
          .object({
            items: z.array(
              z.looseObject({
                metadata: z.looseObject({ name: z.string(), managedFields: z.array(z.looseObject({ manager: z.string() })).optional() }),
                spec: z.looseObject({ template: z.looseObject({ spec: z.looseObject({ containers: z.array(z.looseObject({ name: z.string(), image: z.string() })), nodeSelector: z.record(z.string(), z.string()) }) }) }),
              }),
            ),
          })
          .parse((await raw.request("GET", `/apis/apps/v1/namespaces/${ns}/daemonsets?labelSelector=${encodeURIComponent(`${MODULE_NAME_LABEL}=${MODULE}`)}`)).body);
        return list.items[0];
      },
      90_000,
    );
    expect(ds.spec.template.spec.containers.find((c) => c.name === "worker")?.image).toBe(images.refs.worker);
    expect(ds.spec.template.spec.nodeSelector[KERNEL_LABEL]).toBe(KWOK_KERNEL);
    expect(ds.metadata.managedFields?.map((f) => f.manager)).toContain("kmm-spoke");
    // The Module's finalizer and status are the running spoke's writes, too.
    await eventually("Module status from the spoke", async () => {
      const m = z.looseObject({ metadata: z.looseObject({ finalizers: z.array(z.string()).optional() }), status: z.looseObject({ moduleLoader: z.looseObject({ nodesMatchingSelectorNumber: z.number() }).optional() }).optional() }).parse((await raw.request("GET", `/apis/kmm.sigs.x-k8s.io/v1beta1/namespaces/${ns}/modules/${MODULE}`)).body);
      return (m.metadata.finalizers ?? []).length > 0 && m.status?.moduleLoader?.nodesMatchingSelectorNumber === 1;
    }, 60_000);
  });
});
