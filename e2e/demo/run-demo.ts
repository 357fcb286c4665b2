// The whole KMM-Hub flow on a local fleet, end to end:
//   a kmod image pushed to a local registry by tag → spoke editions (KMM_MANAGED=1) report their
//   nodes' kernels as a ClusterClaim → the hub pins the image and writes a ManifestWork per selected
//   cluster → the real OCM work agent creates the trimmed Module on each spoke → the spoke runs one
//   module-loader DaemonSet per kernel and labels the nodes where the module is ready.
// With real nodes and the product images (the default of `npm run demo`), KMM-Hub is installed as
// users install it (./install.ts): the hub from its install file as its Deployment, 2 replicas with
// leader election on the hub's real nodes, and the spoke editions from their image through one
// Policy on every spoke's real node; the spokes' nodes are kwok nodes (nothing runs on them) plus that
// real node, where the module-loader pod really runs the worker and the summary says what the real
// kernel answered (on this machine ENOSYS: no module loading). Without real nodes nothing can run an
// image: hub and spoke editions then run in this process (createHub, createSpoke), on kwok nodes only.
// Used by `npm run demo` and by e2e/demo.test.ts.
import { createWriteStream } from "node:fs";
import { cp, mkdir, mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { join, relative } from "node:path";
import { z } from "zod";
import type { FleetInfo } from "../fleet-types.ts";
import { createHub, type Hub } from "../../hub/main.ts";
import { RawClient, isConflict } from "../../shared/kube/raw.ts";
import { connectionFrom } from "../controlplane/kube.ts";
import { RegistryClient, buildLayer, pushImage } from "../../shared/registry/index.ts";
import { startRegistry, type RegistryServer } from "../../shared/registry/testing/registry-server.ts";
import type { FleetImages } from "../support/fleet-images.ts";
import { HUB_NAMESPACE, leaseHolder } from "../support/hub-install.ts";
import { FLEET_PULL_SECRET } from "../support/real-node-pods.ts";
import type { ManifestObject } from "../support/manifests.ts";
import { SPOKE_POLICY, hubInstallObjects, installHub, installSpokes, uninstall, type DemoPod, type InstallSpoke, type SpokeEdition } from "./install.ts";
import { createLogger, parseConfig, type Manager } from "../../shared/runtime/index.ts";
import { createSpoke } from "../../spoke/main.ts";
import { waitFor } from "../controlplane/procs.ts";
import { cacheDir } from "../controlplane/binaries.ts";
import { REAL_NODE_LABEL } from "../controlplane/node-agent/node.ts";
import { pushBusybox, registryPullSecret } from "../controlplane/node-agent/test-images.ts";
import { buildTestModules, layoutKmodTree } from "../../spoke/worker/test-kmods.ts";
import type { Layer } from "../../shared/registry/index.ts";
import type { TarWriteEntry } from "../../shared/registry/tar.ts";

export const DEMO_MCM = "kmm-demo";
export const DEMO_SPOKE_NAMESPACE = "kmm-demo";
const CLUSTER_LABEL = "kmm.demo/kernel-modules";
/** How long the hub's replicas and the spoke editions may take to be Ready from their images (pulls included). */
const INSTALL_TIMEOUT_MS = 300_000;
const NODE_LABEL = "kmm.demo/gpu";
/** Nodes per spoke and their kernels: spoke2 runs two kernels, so it gets two DaemonSets. */
const KERNELS: Record<number, string[]> = { 0: ["6.1.0-18-amd64"], 1: ["6.1.0-18-amd64", "6.1.0-21-amd64"] };

export interface DemoRow {
  cluster: string;
  kernel: string;
  image: string;
  daemonSet: string;
  readyNodes: string[];
}

/** What the hub's MCM status says of one cluster once the spoke's counters came back. */
export interface DemoClusterStatus {
  cluster: string;
  state: string;
  moduleLoader: { nodesMatchingSelectorNumber?: number | undefined; desiredNumber?: number | undefined; availableNumber?: number | undefined };
}

/** One node the demo's Module selects: a kwok node (simulated: nothing runs) or a real one. */
export interface DemoNode {
  cluster: string;
  node: string;
  kind: "kwok" | "real";
  kernel: string;
  /** "loaded" (the ready label), or what the Module's status says failed there */
  outcome: string;
}

export interface DemoOptions {
  /**
   * The product's images in the fleet's registry (by digest): with them and a fleet with real nodes
   * KMM-Hub runs from its images on the real nodes; without, in this process on kwok nodes only.
   */
  images?: FleetImages;
}

/** Where the demo's hub ran, and which of its pods led when the MCM went through it. */
export interface DemoHub {
  runs: "image" | "in-process";
  /** the hub's pods on the hub's real nodes (none in-process) */
  pods: DemoPod[];
  /** the Lease holder once the spokes had the MCM's Modules (a pod's name; undefined in-process) */
  leader?: string | undefined;
}

export interface Demo {
  rows: DemoRow[];
  /** Every node the Module selects, kwok or real, and what happened there. */
  nodes: DemoNode[];
  /** The MCM status per cluster, with the spoke Module's counters brought back by the feedback rules. */
  clusters: DemoClusterStatus[];
  hub: DemoHub;
  /** the spoke editions' pods, installed through the Policy (none in-process) */
  spokeEditions: SpokeEdition[];
  /** wall times: KMM-Hub installed and running (s); from the MCM's apply to its Modules on every spoke's nodes (s) */
  timings: { installSeconds: number; mcmSeconds: number };
  registry: string;
  stop(): Promise<void>;
}

const quietConfig = (edition: "hub" | "spoke") =>
  parseConfig(['healthProbeBindAddress: "0"', "metrics:", '  bindAddress: "0"', "leaderElection:", "  enabled: false", "digestRefreshInterval: 30s"].join("\n"), edition, "demo config");

const moduleListSchema = z.object({
  items: z.array(z.looseObject({ metadata: z.looseObject({ name: z.string() }), spec: z.looseObject({ template: z.looseObject({ spec: z.looseObject({ nodeSelector: z.record(z.string(), z.string()).optional(), containers: z.array(z.looseObject({ image: z.string().optional() })) }) }) }) })),
});
const mcmStatusSchema = z.looseObject({
  status: z
    .looseObject({
      clusters: z
        .array(
          z.looseObject({
            cluster: z.string(),
            manifestWork: z.looseObject({ state: z.string() }).optional(),
            moduleLoader: z.object({ nodesMatchingSelectorNumber: z.number().optional(), desiredNumber: z.number().optional(), availableNumber: z.number().optional() }).optional(),
          }),
        )
        .optional(),
    })
    .optional(),
});
const nodeListSchema = z.object({ items: z.array(z.looseObject({ metadata: z.looseObject({ name: z.string(), labels: z.record(z.string(), z.string()).optional() }) })) });
const moduleStatusSchema = z.looseObject({
  status: z.looseObject({ conditions: z.array(z.looseObject({ type: z.string(), status: z.string(), reason: z.string(), message: z.string() })).optional() }).optional(),
});
const moduleSchema = z.looseObject({ spec: z.looseObject({ moduleLoader: z.looseObject({ container: z.looseObject({ kernelMappings: z.array(z.looseObject({ literal: z.string().optional(), containerImage: z.string().optional() })) }) }) }) });

async function ignoreExists(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err: unknown) {
    if (!isConflict(err)) throw err;
  }
}

/** Every file and folder under `root` as layer entries (paths relative to it). */
async function treeEntries(root: string, dir = root): Promise<TarWriteEntry[]> {
  const out: TarWriteEntry[] = [];
  for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const full = join(dir, e.name);
    if (e.isDirectory()) out.push({ path: relative(root, full), type: "directory", mode: 0o755 }, ...(await treeEntries(root, full)));
    else out.push({ path: relative(root, full), content: await readFile(full), mode: 0o644 });
  }
  return out;
}

/**
 * The kmod image layer for a real node: a real .ko built against Debian's headers (the CI test
 * module without dependencies, filed as gpu_driver.ko so modprobe finds the demo's module name)
 * with depmod's index files, under /opt as upstream KMM lays kmod images out.
 */
async function realKmodLayer(): Promise<{ kernel: string; layer: Layer }> {
  const built = await buildTestModules();
  await mkdir(join(cacheDir, "tmp"), { recursive: true });
  const work = await mkdtemp(join(cacheDir, "tmp", "demo-kmod-"));
  try {
    await mkdir(join(work, "ko"));
    await cp(join(built.dir, "kmm_ci_c.ko"), join(work, "ko", "gpu_driver.ko"));
    await layoutKmodTree({ kernelVersion: built.kernelVersion, dir: join(work, "ko") }, join(work, "tree"), "/opt", ["gpu_driver"]);
    return { kernel: built.kernelVersion, layer: buildLayer(await treeEntries(join(work, "tree"))) };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export async function runDemo(fleet: FleetInfo, log: (msg: string) => void = () => undefined, opts: DemoOptions = {}): Promise<Demo> {
  const managers: { manager: Manager; run: Promise<void> }[] = [];
  const hubRaw = new RawClient(await connectionFrom(fleet.hub.kubeconfig));
  const fleetRegistry = opts.images !== undefined ? fleet.registry : undefined;
  const spokes = await Promise.all(
    fleet.spokes.map(async (s, i) => ({ info: s, raw: new RawClient(await connectionFrom(s.kubeconfig)), kernels: KERNELS[i % 2] ?? [], real: fleetRegistry !== undefined ? s.realNode : undefined })),
  );
  // From the images when every cluster has a real node to run them; otherwise in this process.
  const images = fleetRegistry !== undefined && fleet.hub.realNode !== undefined && spokes.every((s) => s.real !== undefined) ? opts.images : undefined;
  const installSpokesOf: InstallSpoke[] = spokes.flatMap((s) => (s.real !== undefined ? [{ info: s.info, raw: s.raw, realNode: s.real.name }] : []));
  let hubObjects: ManifestObject[] = [];
  const registry: RegistryServer = await startRegistry();
  const registryClient = new RegistryClient();
  const logFile = (name: string) => createLogger({ name, level: "info", destination: createWriteStream(join(fleet.hub.logDir, `${name}.log`), { flags: "a" }) });

  const stop = async (): Promise<void> => {
    // The spokes unload (and remove the module-loader pods from the real nodes) before they stop.
    await hubRaw.request("DELETE", `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${DEMO_MCM}`).catch(() => undefined);
    if (spokes.some((s) => s.real !== undefined) || images !== undefined) {
      await waitFor("the demo's Modules gone from the spokes", async () => {
        for (const s of spokes) {
          const r = await s.raw.request("GET", `/apis/kmm.sigs.x-k8s.io/v1beta1/namespaces/${DEMO_SPOKE_NAMESPACE}/modules/${DEMO_MCM}`).catch(() => ({ status: 404 }));
          if (r.status !== 404) return false;
        }
        return true;
      }, { timeoutMs: 90_000, intervalMs: 1000 }).catch(() => log("the demo's Modules were not gone from the spokes within 90 s"));
    }
    if (images !== undefined) await uninstall(hubRaw, installSpokesOf, hubObjects, (m) => log(`clean-up: ${m}`));
    await Promise.all(managers.map((m) => m.manager.stop()));
    await Promise.all(managers.map((m) => m.run.catch(() => undefined)));
    registryClient.close();
    await registry.stop();
  };

  try {
    const repo = `${registry.host}/kmm-demo/gpu-driver`;
    const allKernels = [...new Set(spokes.flatMap((s) => s.kernels))];
    for (const kernel of allKernels) {
      const layer = buildLayer([{ path: `opt/lib/modules/${kernel}/extra/gpu_driver.ko`, content: `driver for ${kernel}` }]);
      await pushImage(registryClient, `${repo}:${kernel}`, { layers: [layer] }, { tls: { insecure: true } });
    }
    log(`pushed ${repo}:{${allKernels.join(",")}} to the local registry`);
    // The real nodes' kmod image, in the fleet registry the real nodes pull from, given by digest.
    const real = fleetRegistry !== undefined && spokes.some((s) => s.real !== undefined) ? await realKmodLayer() : undefined;
    const realImage = real !== undefined && fleetRegistry !== undefined ? (await pushBusybox(fleetRegistry, "kmm-demo/gpu-driver", real.kernel, {}, [real.layer])).pinned : undefined;
    if (realImage !== undefined) log(`pushed ${realImage} (a real .ko for kernel ${real?.kernel ?? ""}) to the fleet registry for the real nodes`);

    for (const s of spokes) {
      for (const [i, kernel] of s.kernels.entries()) {
        const name = `${s.info.name}-gpu-${i}`;
        await ignoreExists(
          s.raw.request("POST", "/api/v1/nodes", {
            apiVersion: "v1",
            kind: "Node",
            metadata: { name, labels: { [NODE_LABEL]: "true", "kubernetes.io/hostname": name }, annotations: { "kwok.x-k8s.io/node": "fake" } },
            status: { nodeInfo: { kernelVersion: kernel, architecture: "amd64", operatingSystem: "linux", bootID: "", containerRuntimeVersion: "", kubeProxyVersion: "", kubeletVersion: "", machineID: "", osImage: "", systemUUID: "" } },
          }),
        );
      }
      await ignoreExists(s.raw.request("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: DEMO_SPOKE_NAMESPACE } }));
      if (s.real !== undefined && fleetRegistry !== undefined) {
        await s.raw.request("PATCH", `/api/v1/nodes/${s.real.name}`, { metadata: { labels: { [NODE_LABEL]: "true" } } }, "application/merge-patch+json");
        await s.raw.apply(registryPullSecret(fleetRegistry, DEMO_SPOKE_NAMESPACE), "kmm-demo");
      }
      log(`${s.info.name}: ${s.kernels.length} kwok node(s) with kernel(s) ${s.kernels.join(", ")}${s.real !== undefined ? ` and real node ${s.real.name} (kernel ${s.real.kernelVersion})` : ""}`);
      if (images !== undefined) continue;
      const worker = opts.images?.refs.worker ?? "registry.example/kmm/worker:demo";
      const spoke = createSpoke({ connection: await connectionFrom(s.info.kubeconfig), config: quietConfig("spoke"), env: { KMM_MANAGED: "1", OPERATOR_NAMESPACE: "kmm-operator-system", RELATED_IMAGE_WORKER: worker }, logger: logFile(`kmm-spoke-${s.info.name}`) });
      managers.push({ manager: spoke.manager, run: spoke.manager.run() });
      log(`${s.info.name}: spoke edition started in this process`);
    }

    const installStarted = Date.now();
    let hubPods: DemoPod[] = [];
    let spokeEditions: SpokeEdition[] = [];
    if (images !== undefined && fleetRegistry !== undefined) {
      log(`installing KMM-Hub from its images: kmm-hub.yaml on ${fleet.hub.name}'s real nodes, gen:policy's Policy ${SPOKE_POLICY} for ${installSpokesOf.map((s) => s.realNode).join(" and ")}`);
      hubObjects = await hubInstallObjects(images);
      const [hub, editions] = await Promise.all([
        installHub(hubRaw, fleet.hub, fleetRegistry, hubObjects, INSTALL_TIMEOUT_MS).then((h) => {
          log(`hub running from ${images.refs.hub}: ${h.pods.map((p) => `${p.pod} on ${p.node}`).join(", ")}; ${h.leader} holds the Lease`);
          return h;
        }),
        installSpokes(hubRaw, installSpokesOf, fleetRegistry, images, INSTALL_TIMEOUT_MS).then((e) => {
          log(`spoke editions running from ${images.refs.spoke}: ${e.map((p) => `${p.pod} on ${p.node} (Policy ${p.compliant})`).join(", ")}`);
          return e;
        }),
      ]);
      hubPods = hub.pods;
      spokeEditions = editions;
    } else {
      await ignoreExists(hubRaw.request("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: HUB_NAMESPACE } }));
      if (realImage !== undefined && fleetRegistry !== undefined) await hubRaw.apply(registryPullSecret(fleetRegistry, HUB_NAMESPACE, FLEET_PULL_SECRET), "kmm-demo");
      const hub: Hub = await createHub({ config: quietConfig("hub"), kubeconfigPath: fleet.hub.kubeconfig, namespace: HUB_NAMESPACE, logger: logFile("kmm-hub") });
      managers.push({ manager: hub.manager, run: hub.manager.run() });
      log("hub started in this process (no real nodes to run its image)");
    }
    const installSeconds = (Date.now() - installStarted) / 1000;

    for (const s of spokes) {
      await hubRaw.request("PATCH", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${s.info.name}`, { metadata: { labels: { [CLUSTER_LABEL]: "true" } } }, "application/merge-patch+json");
    }
    const mcm = {
      apiVersion: "hub.kmm.sigs.x-k8s.io/v1beta1",
      kind: "ManagedClusterModule",
      metadata: { name: DEMO_MCM },
      spec: {
        spokeNamespace: DEMO_SPOKE_NAMESPACE,
        selector: { [CLUSTER_LABEL]: "true" },
        moduleSpec: {
          selector: { [NODE_LABEL]: "true" },
          ...(realImage !== undefined
            ? { imageRepoSecret: { name: "fleet-registry" }, tolerations: [{ key: REAL_NODE_LABEL, operator: "Exists", effect: "NoSchedule" }] }
            : {}),
          moduleLoader: {
            container: {
              modprobe: { moduleName: "gpu_driver" },
              registryTLS: { insecure: true },
              // Only the kernels the demo pushed images for: the kwok nodes' by tag, the real nodes' by digest.
              kernelMappings: [
                ...(realImage !== undefined && real !== undefined ? [{ literal: real.kernel, containerImage: realImage }] : []),
                { regexp: `^(${allKernels.map((k) => k.replace(/[.+]/g, "\\$&")).join("|")})$`, containerImage: `${repo}:\${KERNEL_FULL_VERSION}` },
              ],
            },
          },
        },
      },
    };
    await hubRaw.apply(mcm, "kmm-demo");
    const mcmApplied = Date.now();
    log(`applied ManagedClusterModule ${DEMO_MCM} selecting clusters with ${CLUSTER_LABEL}=true`);

    const rows: DemoRow[] = [];
    for (const s of spokes) {
      const expected = s.kernels.length;
      const found = await waitFor(`${s.info.name}: ${expected} module-loader DaemonSet(s) with ready nodes`, async () => {
        const mod = moduleSchema.parse(await s.raw.get({ apiVersion: "kmm.sigs.x-k8s.io/v1beta1", kind: "Module", metadata: { name: DEMO_MCM, namespace: DEMO_SPOKE_NAMESPACE } }));
        const images = Object.fromEntries(mod.spec.moduleLoader.container.kernelMappings.map((k) => [k.literal ?? "", k.containerImage ?? ""]));
        const ds = moduleListSchema.parse((await s.raw.request("GET", `/apis/apps/v1/namespaces/${DEMO_SPOKE_NAMESPACE}/daemonsets`)).body).items;
        // Only the demo's nodes count: a shared fleet may run other nodes (and kernels) too.
        const readySelector = `kmm.node.kubernetes.io/${DEMO_SPOKE_NAMESPACE}.${DEMO_MCM}.ready,${NODE_LABEL}=true`;
        // The real node reports its own outcome below (on this machine its kernel refuses to load).
        const nodes = nodeListSchema.parse((await s.raw.request("GET", `/api/v1/nodes?labelSelector=${encodeURIComponent(`${readySelector},!${REAL_NODE_LABEL}`)}`)).body).items;
        if (s.kernels.some((k) => images[k] === undefined) || nodes.length !== expected) return undefined;
        const out: DemoRow[] = [];
        for (const kernel of s.kernels) {
          const d = ds.find((x) => Object.values(x.spec.template.spec.nodeSelector ?? {}).includes(kernel) || x.spec.template.spec.containers.some((c) => c.image === images[kernel]));
          if (!d) return undefined;
          const readyNodes = nodes.filter((n) => n.metadata.labels?.["kmm.node.kubernetes.io/kernel-version.full"] === kernel).map((n) => n.metadata.name);
          out.push({ cluster: s.info.name, kernel, image: images[kernel] ?? "", daemonSet: d.metadata.name, readyNodes });
        }
        return out;
      }, { timeoutMs: 120_000, intervalMs: 500 });
      rows.push(...found);
    }
    // Spoke Module status → the work agent's feedback rules → ManifestWork status → MCM status.
    const clusters = await waitFor("the MCM status showing every spoke's module loaded on its nodes", async () => {
      const status = mcmStatusSchema.parse((await hubRaw.request("GET", `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${DEMO_MCM}`)).body).status;
      const out: DemoClusterStatus[] = [];
      for (const s of spokes) {
        const c = status?.clusters?.find((x) => x.cluster === s.info.name);
        if (c?.manifestWork?.state !== "Available" || c.moduleLoader === undefined || (c.moduleLoader.availableNumber ?? 0) < s.kernels.length) return undefined;
        // Every selected node has its module-loader pod (the real node's too), whatever it made of it.
        if (c.moduleLoader.desiredNumber !== c.moduleLoader.nodesMatchingSelectorNumber) return undefined;
        out.push({ cluster: c.cluster, state: c.manifestWork.state, moduleLoader: c.moduleLoader });
      }
      return out;
    }, { timeoutMs: 60_000, intervalMs: 500 });
    // Each selected node, kwok or real, and what happened there: a real node's module-loader pod
    // really ran the worker, and the Module's status says what its kernel answered.
    const nodes: DemoNode[] = [];
    for (const s of spokes) {
      for (const r of rows.filter((x) => x.cluster === s.info.name)) {
        for (const n of r.readyNodes) nodes.push({ cluster: s.info.name, node: n, kind: "kwok", kernel: r.kernel, outcome: "loaded (simulated: kwok runs nothing)" });
      }
      const realNode = s.real;
      if (realNode === undefined) continue;
      const outcome = await waitFor(`${s.info.name}: the outcome on real node ${realNode.name}`, async () => {
        const node = nodeListSchema.parse((await s.raw.request("GET", `/api/v1/nodes?fieldSelector=${encodeURIComponent(`metadata.name=${realNode.name}`)}`)).body).items[0];
        if (node?.metadata.labels?.[`kmm.node.kubernetes.io/${DEMO_SPOKE_NAMESPACE}.${DEMO_MCM}.ready`] !== undefined) return "loaded";
        const status = moduleStatusSchema.parse(await s.raw.get({ apiVersion: "kmm.sigs.x-k8s.io/v1beta1", kind: "Module", metadata: { name: DEMO_MCM, namespace: DEMO_SPOKE_NAMESPACE } })).status;
        const loader = status?.conditions?.find((c) => c.type === "ModuleLoaderAvailable");
        return loader?.reason === "ModuleLoadFailed" ? `not loaded: ${loader.message.slice(loader.message.indexOf("; ") + 2)}` : undefined;
      }, { timeoutMs: 180_000, intervalMs: 1000 });
      nodes.push({ cluster: s.info.name, node: realNode.name, kind: "real", kernel: realNode.kernelVersion, outcome });
    }
    const mcmSeconds = (Date.now() - mcmApplied) / 1000;
    log(`MCM status: ${clusters.map((c) => `${c.cluster} ${c.state}, module loaded on ${String(c.moduleLoader.availableNumber)}/${String(c.moduleLoader.desiredNumber)} nodes`).join("; ")}`);
    // The hub replica that led while the MCM went through (the Lease names the pod).
    const hub: DemoHub = images !== undefined ? { runs: "image", pods: hubPods, leader: await leaseHolder(hubRaw) } : { runs: "in-process", pods: [] };
    return { rows, nodes, clusters, hub, spokeEditions, timings: { installSeconds, mcmSeconds }, registry: registry.host, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Removes what runDemo created, so a shared fleet is left as it was (the spokes' kwok nodes too). */
export async function cleanUpDemo(fleet: FleetInfo): Promise<void> {
  const hubRaw = new RawClient(await connectionFrom(fleet.hub.kubeconfig));
  await hubRaw.request("DELETE", `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${DEMO_MCM}`).catch(() => undefined);
  for (const s of fleet.spokes) {
    const raw = new RawClient(await connectionFrom(s.kubeconfig));
    await hubRaw.request("PATCH", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${s.name}`, { metadata: { labels: { [CLUSTER_LABEL]: null } } }, "application/merge-patch+json").catch(() => undefined);
    if (s.realNode !== undefined) await raw.request("PATCH", `/api/v1/nodes/${s.realNode.name}`, { metadata: { labels: { [NODE_LABEL]: null } } }, "application/merge-patch+json").catch(() => undefined);
    await raw.request("DELETE", `/api/v1/nodes?labelSelector=${encodeURIComponent(`${NODE_LABEL}=true`)}`).catch(() => undefined);
    await raw.request("DELETE", "/apis/cluster.open-cluster-management.io/v1alpha1/clusterclaims/kernel-versions.kmm.node.kubernetes.io").catch(() => undefined);
  }
}
