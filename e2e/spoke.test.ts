// The spoke edition on spoke1 of the local fleet, running under its own ServiceAccount with the RBAC
// it ships (spoke/deploy/rbac.yaml): kernel claim up to the hub, module-loader DaemonSets per kernel,
// ready labels, device plugin on ready nodes, kernel changes, deletion, ManifestWork delivery, and
// an ordered upgrade.
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { isDeepStrictEqual } from "node:util";
import { ApiException } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseKubeDocuments } from "../shared/yaml/read.ts";
import { z } from "zod";
import { RawClient } from "../shared/kube/raw.ts";
import { parseConfig } from "../shared/runtime/config.ts";
import { createLogger } from "../shared/runtime/logger.ts";
import { kernelClaim, KERNEL_CLAIM_NAME } from "../spoke/claim.ts";
import { KERNEL_LABEL, MODULE_FINALIZER, MODULE_NAME_LABEL } from "../spoke/labels.ts";
import { createSpoke, type Spoke } from "../spoke/main.ts";
import { connectionFrom } from "./controlplane/kube.ts";
import { clientsFor, eventually } from "./support/clients.ts";
import { serviceAccountConnection } from "./support/service-account.ts";

const fleet = inject("fleet");
const spokeInfo = fleet.spokes[0]!;
const admin = clientsFor(spokeInfo.kubeconfig);
const adminConn = await connectionFrom(spokeInfo.kubeconfig);
const adminRaw = new RawClient(adminConn);
const hub = clientsFor(fleet.hub.kubeconfig);
const suffix = randomBytes(3).toString("hex");
const OPERATOR_NS = "kmm-operator-system";
const ns = `e2e-spoke-${suffix}`;
const selectorLabel = `e2e-spoke-${suffix}`;
const KERNEL_A = "6.1.0-18-amd64";
const KERNEL_B = "5.14.0-70.el9.x86_64";
const KERNEL_UNMAPPED = "4.18.0-80.el8.x86_64";
const nodeNames = [1, 2, 3, 4].map((i) => `e2e-spoke-${suffix}-${i}`);
const nodeKernels = [KERNEL_A, KERNEL_A, KERNEL_B, KERNEL_UNMAPPED];

let spoke: Spoke | undefined;
let running: Promise<void> | undefined;

const dsListSchema = z.object({
  items: z.array(
    z.looseObject({
      metadata: z.looseObject({ name: z.string(), labels: z.record(z.string(), z.string()).optional() }),
      spec: z.looseObject({
        template: z.looseObject({
          spec: z.looseObject({
            nodeSelector: z.record(z.string(), z.string()).optional(),
            serviceAccountName: z.string().optional(),
            imagePullSecrets: z.array(z.object({ name: z.string() })).optional(),
            initContainers: z.array(z.looseObject({ image: z.string() })).optional(),
          }),
        }),
      }),
      status: z.looseObject({ desiredNumberScheduled: z.number().optional(), numberAvailable: z.number().optional() }).optional(),
    }),
  ),
});
const podListSchema = z.object({
  items: z.array(
    z.looseObject({
      metadata: z.looseObject({ name: z.string(), labels: z.record(z.string(), z.string()).optional(), ownerReferences: z.array(z.looseObject({ name: z.string() })).optional() }),
      spec: z.looseObject({ nodeName: z.string().optional() }),
      status: z.looseObject({ phase: z.string().optional(), conditions: z.array(z.looseObject({ type: z.string(), status: z.string() })).optional() }).optional(),
    }),
  ),
});
const moduleReadSchema = z.looseObject({
  metadata: z.looseObject({ finalizers: z.array(z.string()).optional() }),
  status: z
    .looseObject({
      moduleLoader: z.looseObject({}).optional(),
      devicePlugin: z.looseObject({}).optional(),
      conditions: z.array(z.looseObject({ type: z.string(), status: z.string(), reason: z.string(), message: z.string() })).optional(),
    })
    .optional(),
});

async function daemonSets(moduleName: string, role: string) {
  const body = (await adminRaw.request("GET", `/apis/apps/v1/namespaces/${ns}/daemonsets?labelSelector=${encodeURIComponent(`${MODULE_NAME_LABEL}=${moduleName},kmm.node.kubernetes.io/role=${role}`)}`)).body;
  return dsListSchema.parse(body).items;
}

async function pods(moduleName: string, role: string) {
  const body = (await adminRaw.request("GET", `/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(`${MODULE_NAME_LABEL}=${moduleName},kmm.node.kubernetes.io/role=${role}`)}`)).body;
  return podListSchema.parse(body).items;
}

async function nodeLabels(): Promise<Map<string, Record<string, string>>> {
  const out = new Map<string, Record<string, string>>();
  for (const n of nodeNames) {
    const node = await admin.core.readNode({ name: n });
    out.set(n, node.metadata?.labels ?? {});
  }
  return out;
}

async function readModule(name: string) {
  return moduleReadSchema.parse(await admin.custom.getNamespacedCustomObject({ group: "kmm.sigs.x-k8s.io", version: "v1beta1", namespace: ns, plural: "modules", name }));
}

const gone = (p: Promise<unknown>): Promise<boolean> => p.then(() => false, (e: unknown) => e instanceof ApiException && e.code === 404);

/** Polls `fn` until it returns true; the last failed state is in the timeout message. */
function until(what: string, fn: () => Promise<true | string>, timeoutMs = 60_000): Promise<true> {
  return eventually(what, async () => {
    const r = await fn();
    if (r !== true) throw new Error(r);
    return true;
  }, timeoutMs);
}

function moduleManifest(name: string, extra: { version?: string; image?: string; devicePlugin?: boolean } = {}) {
  return {
    apiVersion: "kmm.sigs.x-k8s.io/v1beta1",
    kind: "Module",
    metadata: { name, namespace: ns },
    spec: {
      selector: { [selectorLabel]: "true" },
      imageRepoSecret: { name: "kmod-pull" },
      moduleLoader: {
        container: {
          modprobe: { moduleName: "kmm_ci_a" },
          kernelMappings: [
            { literal: KERNEL_A, containerImage: extra.image ?? "registry.example/kmm/kmod-a:6.1" },
            { regexp: "^5\\.14\\..+$", containerImage: "registry.example/kmm/kmod-a:${KERNEL_FULL_VERSION}" },
          ],
          ...(extra.version !== undefined ? { version: extra.version } : {}),
        },
      },
      ...(extra.devicePlugin === true ? { devicePlugin: { container: { image: "registry.example/kmm/dp:1" } } } : {}),
    },
  };
}

async function createNode(name: string, kernel: string): Promise<void> {
  await admin.core.createNode({
    body: {
      metadata: { name, labels: { "kubernetes.io/hostname": name, [selectorLabel]: "true" }, annotations: { "kwok.x-k8s.io/node": "fake" } },
      spec: {},
      status: { nodeInfo: { kernelVersion: kernel, architecture: "amd64", bootID: "", containerRuntimeVersion: "", kubeProxyVersion: "", kubeletVersion: "", machineID: "", operatingSystem: "linux", osImage: "", systemUUID: "" } },
    },
  });
}

beforeAll(async () => {
  await admin.core.createNamespace({ body: { metadata: { name: OPERATOR_NS } } }).catch((e: unknown) => {
    if (!(e instanceof ApiException && e.code === 409)) throw e;
  });
  for (const doc of parseKubeDocuments(await readFile(new URL("../spoke/deploy/rbac.yaml", import.meta.url), "utf8"))) {
    const obj = z.looseObject({ apiVersion: z.string(), kind: z.string(), metadata: z.looseObject({ name: z.string(), namespace: z.string().optional() }) }).parse(doc.toJS());
    await adminRaw.apply(obj, "kmm-e2e");
  }
  await admin.core.createNamespace({ body: { metadata: { name: ns } } });
  for (const [i, n] of nodeNames.entries()) await createNode(n, nodeKernels[i]!);

  const config = parseConfig(
    [
      `healthProbeBindAddress: "0"`,
      `metrics: { bindAddress: "0" }`,
      `leaderElection: { namespace: ${OPERATOR_NS}, resourceID: kmm-spoke-e2e-${suffix} }`,
    ].join("\n"),
    "spoke",
  );
  spoke = createSpoke({
    connection: await serviceAccountConnection({ core: admin.core, admin: adminConn, namespace: OPERATOR_NS, serviceAccount: "kmm-spoke" }),
    config,
    env: { KMM_MANAGED: "1", OPERATOR_NAMESPACE: OPERATOR_NS, RELATED_IMAGE_WORKER: "registry.example/kmm/worker:e2e" },
    logger: createLogger({ name: "kmm-spoke-e2e", level: "warn" }),
  });
  running = spoke.manager.run();
  await eventually("spoke leader", () => Promise.resolve(spoke?.manager.isLeader()), 30_000);
});

afterAll(async () => {
  await spoke?.manager.stop();
  await running?.catch(() => undefined);
  for (const n of nodeNames) await admin.core.deleteNode({ name: n }).catch(() => undefined);
  await admin.core.deleteNamespace({ name: ns }).catch(() => undefined);
  await adminRaw.delete({ apiVersion: "cluster.open-cluster-management.io/v1alpha1", kind: "ClusterClaim", metadata: { name: KERNEL_CLAIM_NAME } }).catch(() => undefined);
});

describe("spoke edition", () => {
  it("publishes the nodes' kernels as the ClusterClaim, which reaches the hub", async () => {
    await until("kernel claim matches the nodes", async () => {
      const nodes = await admin.core.listNode();
      const expected = kernelClaim(nodes.items.map((n) => n.status?.nodeInfo?.kernelVersion ?? "")).value;
      const claim = await adminRaw.get({ apiVersion: "cluster.open-cluster-management.io/v1alpha1", kind: "ClusterClaim", metadata: { name: KERNEL_CLAIM_NAME } });
      const value = z.object({ spec: z.object({ value: z.string() }) }).parse(claim).spec.value;
      return value === expected && [KERNEL_A, KERNEL_B, KERNEL_UNMAPPED].every((k) => value.split("\n").includes(k)) ? true : `claim ${JSON.stringify(value)}, want ${JSON.stringify(expected)}`;
    });
    await until("claim on the hub's ManagedCluster", async () => {
      const mc = z
        .object({ status: z.object({ clusterClaims: z.array(z.object({ name: z.string(), value: z.string() })).optional() }).optional() })
        .parse(await hub.custom.getClusterCustomObject({ group: "cluster.open-cluster-management.io", version: "v1", plural: "managedclusters", name: spokeInfo.name }));
      const value = mc.status?.clusterClaims?.find((c) => c.name === KERNEL_CLAIM_NAME)?.value ?? "";
      return [KERNEL_A, KERNEL_B].every((k) => value.split("\n").includes(k)) ? true : `hub sees ${JSON.stringify(value)}`;
    }, 150_000);
  });

  it("labels every node with its kernel", async () => {
    await until("kernel labels", async () => {
      const labels = await nodeLabels();
      const wrong = nodeNames.filter((n, i) => labels.get(n)?.[KERNEL_LABEL] !== nodeKernels[i]);
      return wrong.length === 0 ? true : `nodes without the right kernel label: ${wrong.join(", ")}`;
    });
  });

  it("runs one module-loader DaemonSet per kernel, labels ready nodes, runs the device plugin only there, and counts", async () => {
    const name = "kmod-a";
    await adminRaw.apply(moduleManifest(name, { devicePlugin: true }), "kmm-e2e");
    await until("two module-loader DaemonSets with pods on three nodes", async () => {
      const sets = await daemonSets(name, "module-loader");
      const running = (await pods(name, "module-loader")).filter((p) => p.status?.phase === "Running");
      return sets.length === 2 && running.length === 3 ? true : `${sets.length} DaemonSets, ${running.length} running pods`;
    });
    const sets = await daemonSets(name, "module-loader");
    expect(sets.map((d) => d.spec.template.spec.nodeSelector?.[KERNEL_LABEL]).sort()).toEqual([KERNEL_B, KERNEL_A].sort());
    for (const d of sets) {
      expect(d.spec.template.spec.nodeSelector?.[selectorLabel]).toBe("true");
      expect(d.spec.template.spec.serviceAccountName).toBe("default");
      expect(d.spec.template.spec.imagePullSecrets).toEqual([{ name: "kmod-pull" }]);
    }
    expect(sets.flatMap((d) => d.spec.template.spec.initContainers?.map((c) => c.image) ?? []).sort()).toEqual([`registry.example/kmm/kmod-a:${KERNEL_B}`, "registry.example/kmm/kmod-a:6.1"]);

    const ready = `kmm.node.kubernetes.io/${ns}.${name}.ready`;
    await until("ready labels on the three mapped nodes only", async () => {
      const labels = await nodeLabels();
      const state = nodeNames.map((n) => labels.get(n)?.[ready] !== undefined);
      return JSON.stringify(state) === JSON.stringify([true, true, true, false]) ? true : `ready: ${JSON.stringify(state)}`;
    });
    await until("device plugin pods on ready nodes only", async () => {
      const dp = (await pods(name, "device-plugin")).filter((p) => p.status?.phase === "Running");
      const on = dp.map((p) => p.spec.nodeName).sort();
      return JSON.stringify(on) === JSON.stringify(nodeNames.slice(0, 3).sort()) ? true : `device plugin on ${JSON.stringify(on)}`;
    });
    await until("status counters", async () => {
      const m = await readModule(name);
      const want = {
        moduleLoader: { nodesMatchingSelectorNumber: 4, desiredNumber: 3, availableNumber: 3 },
        devicePlugin: { nodesMatchingSelectorNumber: 4, desiredNumber: 3, availableNumber: 3 },
      };
      const got = { moduleLoader: m.status?.moduleLoader, devicePlugin: m.status?.devicePlugin };
      return isDeepStrictEqual(got, want) ? true : `status ${JSON.stringify(got)}`;
    });
    const m = await readModule(name);
    expect(m.metadata.finalizers).toContain(MODULE_FINALIZER);
    const mapped = m.status?.conditions?.find((c) => c.type === "KernelsMapped");
    expect(mapped?.status).toBe("False");
    expect(mapped?.message).toContain(KERNEL_UNMAPPED);

    const events = await admin.core.listNamespacedEvent({ namespace: "default", fieldSelector: `involvedObject.name=${nodeNames[0]!},reason=ModuleLoaded` });
    expect(events.items.map((e) => e.message)).toContain(`Module ${ns}/${name} loaded into the kernel`);
    const moduleEvents = await admin.core.listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.name=${name},reason=KernelMappingNotFound` });
    expect(moduleEvents.items.length).toBeGreaterThan(0);
    await until("device-plugin-ready labels where the device plugin runs", async () => {
      const labels = await nodeLabels();
      const state = nodeNames.map((n) => labels.get(n)?.[`kmm.node.kubernetes.io/${ns}.${name}.device-plugin-ready`] !== undefined);
      return isDeepStrictEqual(state, [true, true, true, false]) ? true : `device-plugin-ready: ${JSON.stringify(state)}`;
    });

    // A reconcile with nothing to change writes nothing: poke the Module and watch versions stay put.
    const versionsOf = async () => ({
      sets: (await daemonSets(name, "module-loader")).concat(await daemonSets(name, "device-plugin")).map((d) => `${d.metadata.name}@${String(d.metadata.resourceVersion)}`).sort(),
      module: z.object({ metadata: z.object({ resourceVersion: z.string() }) }).parse(
        await adminRaw.request("PATCH", `/apis/kmm.sigs.x-k8s.io/v1beta1/namespaces/${ns}/modules/${name}`, { metadata: { annotations: { "e2e.kmm/poke": suffix } } }, "application/merge-patch+json").then((r) => r.body),
      ).metadata.resourceVersion,
    });
    const before = await versionsOf();
    await new Promise((r) => setTimeout(r, 3000));
    const after = {
      sets: (await daemonSets(name, "module-loader")).concat(await daemonSets(name, "device-plugin")).map((d) => `${d.metadata.name}@${String(d.metadata.resourceVersion)}`).sort(),
      module: z.object({ metadata: z.object({ resourceVersion: z.string() }) }).parse(await readModule(name)).metadata.resourceVersion,
    };
    expect(after).toEqual(before);
  });

  it("moves a node to the DaemonSet of its new kernel", async () => {
    const name = "kmod-a";
    const moved = nodeNames[2]!;
    await adminRaw.request("PATCH", `/api/v1/nodes/${moved}/status`, { status: { nodeInfo: { kernelVersion: KERNEL_A } } }, "application/merge-patch+json");
    await until("the kernel-B DaemonSet is gone and the kernel-A one covers the node", async () => {
      const sets = await daemonSets(name, "module-loader");
      const loaders = (await pods(name, "module-loader")).filter((p) => p.spec.nodeName === moved && p.status?.phase === "Running");
      const kernels = sets.map((d) => d.spec.template.spec.nodeSelector?.[KERNEL_LABEL]);
      const onMoved = loaders.map((p) => p.metadata.labels?.[KERNEL_LABEL]);
      return JSON.stringify(kernels) === JSON.stringify([KERNEL_A]) && JSON.stringify(onMoved) === JSON.stringify([KERNEL_A])
        ? true
        : `DaemonSets for ${JSON.stringify(kernels)}, pods on ${moved}: ${JSON.stringify(onMoved)}`;
    });
    const labels = await nodeLabels();
    expect(labels.get(moved)?.[KERNEL_LABEL]).toBe(KERNEL_A);
    await until("node ready again", async () => ((await nodeLabels()).get(moved)?.[`kmm.node.kubernetes.io/${ns}.${name}.ready`] === "" ? true : "not ready"));
  });

  it("unloads everywhere, removes DaemonSets and labels, then releases the Module", async () => {
    const name = "kmod-a";
    await admin.custom.deleteNamespacedCustomObject({ group: "kmm.sigs.x-k8s.io", version: "v1beta1", namespace: ns, plural: "modules", name });
    await until("Module gone", async () => {
      const sets = [...(await daemonSets(name, "module-loader")), ...(await daemonSets(name, "device-plugin"))];
      const left = [...(await pods(name, "module-loader")), ...(await pods(name, "device-plugin"))];
      const labelled = [...(await nodeLabels()).values()].filter((l) => Object.keys(l).some((k) => k.startsWith(`kmm.node.kubernetes.io/${ns}.${name}.`)));
      const deleted = await gone(readModule(name));
      return sets.length === 0 && left.length === 0 && labelled.length === 0 && deleted
        ? true
        : `${sets.length} DaemonSets, ${left.length} pods, ${labelled.length} labelled nodes, module deleted: ${deleted}`;
    });
  });

  it("handles a Module delivered by a hub ManifestWork the same way", async () => {
    const name = "kmod-mw";
    const work = {
      apiVersion: "work.open-cluster-management.io/v1",
      kind: "ManifestWork",
      metadata: { name: `e2e-spoke-${suffix}`, namespace: spokeInfo.name },
      spec: { workload: { manifests: [moduleManifest(name)] } },
    };
    await hub.custom.createNamespacedCustomObject({ group: "work.open-cluster-management.io", version: "v1", namespace: spokeInfo.name, plural: "manifestworks", body: work });
    await until("module loaded on the three kernel-A nodes", async () => {
      const m = await readModule(name).catch(() => undefined);
      const want = { nodesMatchingSelectorNumber: 4, desiredNumber: 3, availableNumber: 3 };
      return isDeepStrictEqual(m?.status?.moduleLoader, want) ? true : `status ${JSON.stringify(m?.status?.moduleLoader)}`;
    }, 90_000);
    expect((await readModule(name)).metadata.finalizers).toContain(MODULE_FINALIZER);
    await hub.custom.deleteNamespacedCustomObject({ group: "work.open-cluster-management.io", version: "v1", namespace: spokeInfo.name, plural: "manifestworks", name: work.metadata.name });
    await until("Module, DaemonSets and labels gone", async () => {
      const sets = await daemonSets(name, "module-loader");
      const labelled = [...(await nodeLabels()).values()].filter((l) => Object.keys(l).some((k) => k.startsWith(`kmm.node.kubernetes.io/${ns}.${name}.`)));
      const deleted = await gone(readModule(name));
      return sets.length === 0 && labelled.length === 0 && deleted ? true : `${sets.length} DaemonSets, ${labelled.length} labelled nodes, deleted ${deleted}`;
    }, 90_000);
  });

  it("publishes only whole kernels when they do not fit in a claim, and says so", async () => {
    // 30 kernels of 40 characters cannot fit in 1024 characters.
    const many = Array.from({ length: 30 }, (_, i) => `9.${String(i).padStart(2, "0")}.0-overflow-${suffix}-${"x".repeat(18)}`);
    const extra = many.map((_, i) => `e2e-spoke-${suffix}-of-${i}`);
    try {
      for (const [i, n] of extra.entries()) await createNode(n, many[i]!);
      await until("claim within the limit, made of whole kernels", async () => {
        const claim = await adminRaw.get({ apiVersion: "cluster.open-cluster-management.io/v1alpha1", kind: "ClusterClaim", metadata: { name: KERNEL_CLAIM_NAME } });
        const value = z.object({ spec: z.object({ value: z.string() }) }).parse(claim).spec.value;
        const nodes = await admin.core.listNode();
        const all = new Set(nodes.items.map((n) => n.status?.nodeInfo?.kernelVersion ?? ""));
        const parts = value.split("\n");
        const ours = parts.filter((k) => k.includes(`-overflow-${suffix}-`));
        return value.length <= 1024 && parts.every((k) => all.has(k)) && ours.length > 0 && ours.length < many.length && isDeepStrictEqual(parts, [...parts].sort())
          ? true
          : `claim of ${value.length} characters with ${ours.length} of our kernels`;
      });
      await until("overflow event", async () => {
        const events = await admin.core.listNamespacedEvent({ namespace: "default", fieldSelector: `involvedObject.name=${KERNEL_CLAIM_NAME},reason=KernelClaimOverflow` });
        return events.items.some((e) => e.message?.includes(`-overflow-${suffix}-`) === true) ? true : "no KernelClaimOverflow event";
      });
    } finally {
      for (const n of extra) await admin.core.deleteNode({ name: n }).catch(() => undefined);
    }
    await until("claim back to every kernel", async () => {
      const claim = await adminRaw.get({ apiVersion: "cluster.open-cluster-management.io/v1alpha1", kind: "ClusterClaim", metadata: { name: KERNEL_CLAIM_NAME } });
      const value = z.object({ spec: z.object({ value: z.string() }) }).parse(claim).spec.value;
      return !value.includes("-overflow-") && value.split("\n").includes(KERNEL_UNMAPPED) ? true : `claim ${JSON.stringify(value)}`;
    });
  });

  it("walks an ordered upgrade node by node", async () => {
    const name = "kmod-v";
    const ref = `${ns}.${name}`;
    const userLabel = `kmm.node.kubernetes.io/version-module.${ref}`;
    const loaderLabel = `beta.kmm.node.kubernetes.io/version-worker-pod.${ref}`;
    const dpLabel = `beta.kmm.node.kubernetes.io/version-schedule-pod.${ref}`;
    const [n1, n2] = [nodeNames[0]!, nodeNames[1]!];
    const setUserLabel = (node: string, v: string | null) => adminRaw.request("PATCH", `/api/v1/nodes/${node}`, { metadata: { labels: { [userLabel]: v } } }, "application/merge-patch+json");
    await setUserLabel(n1, "v1");
    await setUserLabel(n2, "v1");
    await adminRaw.apply(moduleManifest(name, { version: "v1", devicePlugin: true }), "kmm-e2e");
    await until("v1 loaded and device plugin labelled on both nodes", async () => {
      const labels = await nodeLabels();
      const s = [n1, n2].map((n) => [labels.get(n)?.[loaderLabel], labels.get(n)?.[dpLabel]]);
      return JSON.stringify(s) === JSON.stringify([["v1", "v1"], ["v1", "v1"]]) ? true : `labels ${JSON.stringify(s)}`;
    });
    await until("device plugins running on both", async () => {
      const on = (await pods(name, "device-plugin")).filter((p) => p.status?.phase === "Running").map((p) => p.spec.nodeName).sort();
      return JSON.stringify(on) === JSON.stringify([n1, n2].sort()) ? true : `device plugin on ${JSON.stringify(on)}`;
    });

    await adminRaw.apply(moduleManifest(name, { version: "v2", image: "registry.example/kmm/kmod-a:6.1-v2", devicePlugin: true }), "kmm-e2e");
    await setUserLabel(n1, "v2");
    const imageOn = async (node: string) => {
      const p = (await pods(name, "module-loader")).filter((x) => x.spec.nodeName === node && x.status?.phase === "Running");
      const sets = await daemonSets(name, "module-loader");
      return p.map((x) => sets.find((d) => x.metadata.ownerReferences?.some((o) => o.name === d.metadata.name))?.spec.template.spec.initContainers?.[0]?.image);
    };
    await until("node 1 upgraded to v2 with its device plugin back; node 2 still on v1", async () => {
      const labels = await nodeLabels();
      const state = {
        n1: [labels.get(n1)?.[loaderLabel], labels.get(n1)?.[dpLabel], await imageOn(n1)],
        n2: [labels.get(n2)?.[loaderLabel], labels.get(n2)?.[dpLabel], await imageOn(n2)],
      };
      const want = {
        n1: ["v2", "v2", ["registry.example/kmm/kmod-a:6.1-v2"]],
        n2: ["v1", "v1", ["registry.example/kmm/kmod-a:6.1"]],
      };
      return JSON.stringify(state) === JSON.stringify(want) ? true : `state ${JSON.stringify(state)}`;
    });
    await until("version.ready labels name the loaded versions (upstream's label, field case 10)", async () => {
      const labels = await nodeLabels();
      const got = [n1, n2].map((n) => labels.get(n)?.[`kmm.node.kubernetes.io/${ref}.version.ready`]);
      return isDeepStrictEqual(got, ["v2", "v1"]) ? true : `version.ready ${JSON.stringify(got)}`;
    });
    // The ready label went away between the two versions: v1 was unloaded before v2 was loaded.
    await until("node 1 events: loaded v1, unloaded, loaded v2", async () => {
      const n1Events = await admin.core.listNamespacedEvent({ namespace: "default", fieldSelector: `involvedObject.name=${n1}` });
      const reasons = n1Events.items.filter((e) => e.message?.includes(`${ns}/${name} `) === true).map((e) => e.reason).sort();
      return isDeepStrictEqual(reasons, ["ModuleLoaded", "ModuleLoaded", "ModuleUnloaded"]) ? true : `events ${JSON.stringify(reasons)}`;
    }, 15_000);
    await setUserLabel(n2, "v2");
    await until("both on v2 and the v1 DaemonSet removed", async () => {
      const sets = await daemonSets(name, "module-loader");
      const images = [...(await imageOn(n1)), ...(await imageOn(n2))];
      const labels = await nodeLabels();
      const dp = [labels.get(n1)?.[dpLabel], labels.get(n2)?.[dpLabel]];
      return sets.length === 1 && JSON.stringify(images) === JSON.stringify(["registry.example/kmm/kmod-a:6.1-v2", "registry.example/kmm/kmod-a:6.1-v2"]) && JSON.stringify(dp) === `["v2","v2"]`
        ? true
        : `${sets.length} DaemonSets, images ${JSON.stringify(images)}, device plugin labels ${JSON.stringify(dp)}`;
    });
    await admin.custom.deleteNamespacedCustomObject({ group: "kmm.sigs.x-k8s.io", version: "v1beta1", namespace: ns, plural: "modules", name });
    await until("versioned Module released", async () => ((await gone(readModule(name))) ? true : "still there"));
    const labels = await nodeLabels();
    expect([n1, n2].map((n) => [labels.get(n)?.[loaderLabel], labels.get(n)?.[dpLabel]])).toEqual([[undefined, undefined], [undefined, undefined]]);
  });

  it("serves a Module whose name + namespace take the 41 characters the CRD admits, with version (field case 01)", async () => {
    const name = `gpu-driver-ordered-${"u".repeat(41 - ns.length - "gpu-driver-ordered-".length)}`;
    expect(name.length + ns.length).toBe(41);
    const ref = `${ns}.${name}`;
    const node = nodeNames[0]!;
    await adminRaw.request("PATCH", `/api/v1/nodes/${node}`, { metadata: { labels: { [`kmm.node.kubernetes.io/version-module.${ref}`]: "1.0" } } }, "application/merge-patch+json");
    await adminRaw.apply(moduleManifest(name, { version: "1.0" }), "kmm-e2e");
    await until("module loaded with its version labels on the node", async () => {
      const labels = (await nodeLabels()).get(node) ?? {};
      const got = [labels[`beta.kmm.node.kubernetes.io/version-worker-pod.${ref}`], labels[`kmm.node.kubernetes.io/${ref}.ready`], labels[`kmm.node.kubernetes.io/${ref}.version.ready`]];
      return isDeepStrictEqual(got, ["1.0", "", "1.0"]) ? true : `labels ${JSON.stringify(got)}`;
    });
    const m = await readModule(name);
    expect(m.status?.conditions?.find((c) => c.type === "WriteRefused")).toBeUndefined();
    await admin.custom.deleteNamespacedCustomObject({ group: "kmm.sigs.x-k8s.io", version: "v1beta1", namespace: ns, plural: "modules", name });
    await until("Module released", async () => ((await gone(readModule(name))) ? true : "still there"));
    await adminRaw.request("PATCH", `/api/v1/nodes/${node}`, { metadata: { labels: { [`kmm.node.kubernetes.io/version-module.${ref}`]: null } } }, "application/merge-patch+json");
  });

  it("reports a DaemonSet the API server refuses in the Module's status and an Event, and writes the rest", async () => {
    const name = "kmod-refused";
    const policy = `e2e-refuse-${suffix}`;
    const message = `e2e policy ${suffix}: module-loader DaemonSets of ${name} are not allowed`;
    const moduleLabel = "object.metadata.labels['kmm.node.kubernetes.io/module.name']";
    // A real refusal of the real API server: a ValidatingAdmissionPolicy bound to this namespace.
    const validatingPolicy = {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicy",
      metadata: { name: policy },
      spec: {
        failurePolicy: "Fail",
        matchConstraints: { resourceRules: [{ apiGroups: ["apps"], apiVersions: ["v1"], operations: ["CREATE", "UPDATE"], resources: ["daemonsets"] }] },
        validations: [
          {
            expression: `!has(object.metadata.labels) || !('kmm.node.kubernetes.io/module.name' in object.metadata.labels) || ${moduleLabel} != '${name}' || object.metadata.labels['kmm.node.kubernetes.io/role'] != 'module-loader'`,
            message,
          },
        ],
      },
    };
    await adminRaw.apply(validatingPolicy, "kmm-e2e");
    const binding = {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicyBinding",
      metadata: { name: policy },
      spec: { policyName: policy, validationActions: ["Deny"], matchResources: { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } } } },
    };
    await adminRaw.apply(binding, "kmm-e2e");
    try {
      // The policy is enforced once the API server's policy informer has it: wait for a refusal.
      await until("policy enforced", async () => {
        const probe = { apiVersion: "apps/v1", kind: "DaemonSet", metadata: { name: "probe", namespace: ns, labels: { [MODULE_NAME_LABEL]: name, "kmm.node.kubernetes.io/role": "module-loader" } }, spec: { selector: { matchLabels: { a: "b" } }, template: { metadata: { labels: { a: "b" } }, spec: { containers: [{ name: "c", image: "x:1" }] } } } };
        return adminRaw.request("POST", `/apis/apps/v1/namespaces/${ns}/daemonsets?dryRun=All`, probe).then(() => "not refused yet", () => true as const);
      });
      await adminRaw.apply(moduleManifest(name, { devicePlugin: true }), "kmm-e2e");
      await until("WriteRefused condition with the server's message", async () => {
        const c = (await readModule(name)).status?.conditions?.find((x) => x.type === "WriteRefused");
        return c?.status === "True" && c.message.includes(message) && c.message.includes(`DaemonSet ${ns}/${name}-ml-`) ? true : `condition ${JSON.stringify(c)}`;
      });
      const m = await readModule(name);
      // The rest went on: status counters and the device plugin DaemonSet were written.
      expect(m.status?.moduleLoader).toBeDefined();
      expect((await daemonSets(name, "device-plugin")).length).toBe(1);
      expect(await daemonSets(name, "module-loader")).toEqual([]);
      const events = await admin.core.listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.name=${name},reason=WriteRefused` });
      expect(events.items.some((e) => e.type === "Warning" && e.message?.includes(message) === true)).toBe(true);
    } finally {
      await adminRaw.delete({ apiVersion: binding.apiVersion, kind: binding.kind, metadata: { name: policy } }).catch(() => undefined);
      await adminRaw.delete({ apiVersion: "admissionregistration.k8s.io/v1", kind: "ValidatingAdmissionPolicy", metadata: { name: policy } }).catch(() => undefined);
    }
    await until("retried: the DaemonSets are written and the condition is gone once the policy is", async () => {
      const c = (await readModule(name)).status?.conditions?.find((x) => x.type === "WriteRefused");
      const sets = await daemonSets(name, "module-loader");
      return c === undefined && sets.length > 0 ? true : `condition ${JSON.stringify(c)}, ${sets.length} module-loader DaemonSets`;
    }, 120_000);
    await admin.custom.deleteNamespacedCustomObject({ group: "kmm.sigs.x-k8s.io", version: "v1beta1", namespace: ns, plural: "modules", name });
    await until("Module released", async () => ((await gone(readModule(name))) ? true : "still there"), 90_000);
  });

  it("reports a spec the API server admits but Kubernetes would refuse in the pods (projected paths written twice), and writes nothing for it (issue 13)", async () => {
    const name = "kmod-dup-paths";
    const manifest = moduleManifest(name, { devicePlugin: true });
    const sources = [
      { configMap: { name: "plugin-config", items: [{ key: "a", path: "conf" }] } },
      { secret: { name: "plugin-secret", items: [{ key: "b", path: "conf" }] } },
    ];
    Object.assign(manifest.spec, { devicePlugin: { container: { image: "registry.example/kmm/dp:1" }, volumes: [{ name: "config", projected: { sources } }] } });
    // The CRD admits it: the check costs more than the API server's CEL budget allows.
    await adminRaw.apply(manifest, "kmm-e2e");
    await until("SpecValid False with Kubernetes' words", async () => {
      const c = (await readModule(name)).status?.conditions?.find((x) => x.type === "SpecValid");
      return c?.status === "False" && c.reason === "InvalidSpec" && c.message.includes('spec.devicePlugin.volumes[0].projected: conflicting duplicate paths: "conf"') ? true : `condition ${JSON.stringify(c)}`;
    });
    const events = await admin.core.listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.name=${name},reason=InvalidSpec` });
    expect(events.items.some((e) => e.type === "Warning" && e.message?.includes("conflicting duplicate paths") === true)).toBe(true);
    // Nothing was written for it: no finalizer, no DaemonSet.
    expect((await readModule(name)).metadata.finalizers ?? []).toEqual([]);
    expect(await daemonSets(name, "module-loader")).toEqual([]);
    expect(await daemonSets(name, "device-plugin")).toEqual([]);
    await admin.custom.deleteNamespacedCustomObject({ group: "kmm.sigs.x-k8s.io", version: "v1beta1", namespace: ns, plural: "modules", name });
    await until("Module gone", async () => ((await gone(readModule(name))) ? true : "still there"));
  });
});
