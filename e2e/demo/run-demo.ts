// The whole KMM-Hub flow on a local fleet, end to end:
//   a kmod image pushed to a local registry by tag → spoke editions (KMM_MANAGED=1) report their
//   nodes' kernels as a ClusterClaim → the hub pins the image and writes a ManifestWork per selected
//   cluster → the real OCM work agent creates the trimmed Module on each spoke → the spoke runs one
//   module-loader DaemonSet per kernel and labels the nodes where the module is ready.
// Used by `npm run demo` and by e2e/demo.test.ts.
import { createWriteStream } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import type { FleetInfo } from "../fleet-types.ts";
import { createHub, type Hub } from "../../hub/main.ts";
import { RawClient, isConflict } from "../../shared/kube/raw.ts";
import { connectionFrom } from "../controlplane/kube.ts";
import { RegistryClient, buildLayer, pushImage } from "../../shared/registry/index.ts";
import { startRegistry, type RegistryServer } from "../../shared/registry/testing/registry-server.ts";
import { createLogger, parseConfig, type Manager } from "../../shared/runtime/index.ts";
import { createSpoke } from "../../spoke/main.ts";
import { waitFor } from "../controlplane/procs.ts";

export const DEMO_MCM = "kmm-demo";
export const DEMO_SPOKE_NAMESPACE = "kmm-demo";
const HUB_NAMESPACE = "kmm-hub";
const CLUSTER_LABEL = "kmm.demo/kernel-modules";
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

export interface Demo {
  rows: DemoRow[];
  /** The MCM status per cluster, with the spoke Module's counters brought back by the feedback rules. */
  clusters: DemoClusterStatus[];
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
const moduleSchema = z.looseObject({ spec: z.looseObject({ moduleLoader: z.looseObject({ container: z.looseObject({ kernelMappings: z.array(z.looseObject({ literal: z.string().optional(), containerImage: z.string().optional() })) }) }) }) });

async function ignoreExists(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err: unknown) {
    if (!isConflict(err)) throw err;
  }
}

export async function runDemo(fleet: FleetInfo, log: (msg: string) => void = () => undefined): Promise<Demo> {
  const managers: { manager: Manager; run: Promise<void> }[] = [];
  const hubRaw = new RawClient(await connectionFrom(fleet.hub.kubeconfig));
  const spokes = await Promise.all(fleet.spokes.map(async (s, i) => ({ info: s, raw: new RawClient(await connectionFrom(s.kubeconfig)), kernels: KERNELS[i % 2] ?? [] })));
  const registry: RegistryServer = await startRegistry();
  const registryClient = new RegistryClient();
  const logFile = (name: string) => createLogger({ name, level: "info", destination: createWriteStream(join(fleet.hub.logDir, `${name}.log`), { flags: "a" }) });

  const stop = async (): Promise<void> => {
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
      const spoke = createSpoke({ connection: await connectionFrom(s.info.kubeconfig), config: quietConfig("spoke"), env: { KMM_MANAGED: "1", OPERATOR_NAMESPACE: "kmm-operator-system", RELATED_IMAGE_WORKER: "registry.example/kmm/worker:demo" }, logger: logFile(`kmm-spoke-${s.info.name}`) });
      managers.push({ manager: spoke.manager, run: spoke.manager.run() });
      log(`${s.info.name}: ${s.kernels.length} kwok node(s) with kernel(s) ${s.kernels.join(", ")}; spoke edition started`);
    }

    await ignoreExists(hubRaw.request("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: HUB_NAMESPACE } }));
    const hub: Hub = await createHub({ config: quietConfig("hub"), kubeconfigPath: fleet.hub.kubeconfig, namespace: HUB_NAMESPACE, logger: logFile("kmm-hub") });
    managers.push({ manager: hub.manager, run: hub.manager.run() });
    log("hub started");

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
          moduleLoader: {
            container: {
              modprobe: { moduleName: "gpu_driver" },
              registryTLS: { insecure: true },
              // Only the kernels the demo pushed images for: the fleet's real nodes report kernels of their own.
              kernelMappings: [{ regexp: `^(${allKernels.map((k) => k.replace(/[.+]/g, "\\$&")).join("|")})$`, containerImage: `${repo}:\${KERNEL_FULL_VERSION}` }],
            },
          },
        },
      },
    };
    await hubRaw.apply(mcm, "kmm-demo");
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
        const nodes = nodeListSchema.parse((await s.raw.request("GET", `/api/v1/nodes?labelSelector=${encodeURIComponent(readySelector)}`)).body).items;
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
        if (c?.manifestWork?.state !== "Available" || c.moduleLoader?.availableNumber !== s.kernels.length) return undefined;
        out.push({ cluster: c.cluster, state: c.manifestWork.state, moduleLoader: c.moduleLoader });
      }
      return out;
    }, { timeoutMs: 60_000, intervalMs: 500 });
    log(`MCM status: ${clusters.map((c) => `${c.cluster} ${c.state}, module loaded on ${String(c.moduleLoader.availableNumber)}/${String(c.moduleLoader.desiredNumber)} nodes`).join("; ")}`);
    return { rows, clusters, registry: registry.host, stop };
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
    await raw.request("DELETE", `/api/v1/nodes?labelSelector=${encodeURIComponent(`${NODE_LABEL}=true`)}`).catch(() => undefined);
    await raw.request("DELETE", "/apis/cluster.open-cluster-management.io/v1alpha1/clusterclaims/kernel-versions.kmm.node.kubernetes.io").catch(() => undefined);
  }
}
