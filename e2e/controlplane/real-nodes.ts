// The fleet's real nodes and the registry they pull from: per cluster one node agent process
// (node-agent/; two on the hub, for its two leader-electing replicas) running pods as podman
// containers, and one docker-registry with TLS and htpasswd
// auth, both in the fleet's process group; a clean-up removes what outlives a killed agent.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFile, mkdir, rm, symlink } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { z } from "zod";
import { findHeaders, KernelHeadersMissingError } from "../../spoke/worker/test-kmods.ts";
import { createTestPki } from "../../shared/registry/testing/pki.ts";
import { REGISTRY_BINARY, writeRegistryConfig } from "../../shared/registry/testing/registry-server.ts";
import { RawClient } from "../../shared/kube/raw.ts";
import type { FleetRegistry, RealNodeInfo } from "../fleet-types.ts";
import { repoRoot } from "./binaries.ts";
import type { LocalCluster } from "./cluster.ts";
import { connectionFrom, httpsGet } from "./kube.ts";
import { globalFlags, removeAllCommand } from "./node-agent/podman.ts";
import { freePort, waitFor, type ProcessGroup } from "./procs.ts";

const run = promisify(execFile);

/** Fails with the fix when podman or runc is missing (instead of a node that never turns Ready). */
async function requireTools(): Promise<void> {
  for (const tool of ["podman", "runc"]) {
    try {
      await run(tool, ["--version"]);
    } catch {
      throw new Error(`real nodes need Debian's ${tool}: apt-get install podman runc busybox-static (listed in .ci/apt-packages.txt)`);
    }
  }
}

/** Kernel the real nodes report when the fleet is not told one: that of Debian's installed headers. */
export async function defaultRealNodeKernel(): Promise<string> {
  try {
    return (await findHeaders()).kernelVersion;
  } catch (err) {
    if (err instanceof KernelHeadersMissingError) return "6.1.0-0-amd64";
    throw err;
  }
}

/** Starts the fleet's registry (TLS from its own CA, htpasswd user) and waits until it answers. */
export async function startFleetRegistry(dir: string, group: ProcessGroup, abort?: Promise<never>): Promise<FleetRegistry> {
  await mkdir(join(dir, "certs"), { recursive: true });
  const pki = await createTestPki(dir);
  // podman --cert-dir trusts every *.crt in the folder.
  await copyFile(pki.caFile, join(dir, "certs", "ca.crt"));
  const username = "kmm-e2e";
  const password = randomBytes(12).toString("hex");
  const host = `127.0.0.1:${await freePort()}`;
  const config = await writeRegistryConfig(dir, host, { tls: { certFile: pki.serverCertFile, keyFile: pki.serverKeyFile }, auth: { kind: "htpasswd", users: { [username]: password } } });
  group.start("registry", REGISTRY_BINARY, ["serve", config]);
  const ca = Buffer.from(pki.caPem);
  await waitFor("the fleet's registry", async () => (await httpsGet(`https://${host}/v2/`, { ca })).status === 401, { timeoutMs: 20_000, intervalMs: 100, ...(abort ? { abort } : {}) });
  return { host, caFile: pki.caFile, certDir: join(dir, "certs"), username, password };
}

const nodeSchema = z.looseObject({ status: z.looseObject({ conditions: z.array(z.looseObject({ type: z.string(), status: z.string() })).optional() }).optional() });

export interface StartRealNodeOptions {
  cluster: LocalCluster;
  /** the node's folder: host root, pod folders, container storage */
  dir: string;
  group: ProcessGroup;
  kernelVersion: string;
  kubeletVersion: string;
  registryCertDir: string;
  /** Node name; `<cluster>-real` by default. */
  name?: string;
  /** the node's own loopback address (InternalIP, hostIP, podIP): realNodeLayout's */
  hostIP: string;
  abort?: Promise<never>;
}

/** Starts the node agent of one cluster and waits until its Node is Ready. */
export async function startRealNode(o: StartRealNodeOptions): Promise<RealNodeInfo> {
  const name = o.name ?? `${o.cluster.info.name}-real`;
  await mkdir(join(o.dir, "run"), { recursive: true });
  // podman refuses a runroot over 50 characters: a short link to the node's own folder.
  const runroot = `/tmp/kmm-rn-${randomBytes(4).toString("hex")}`;
  await rm(runroot, { force: true });
  await symlink(join(o.dir, "run"), runroot);
  const storage = { root: join(o.dir, "storage"), runroot };
  o.group.addCleanup(removeAllCommand(storage));
  o.group.addCleanup([`podman ${globalFlags(storage).map((a) => `'${a}'`).join(" ")} system reset --force >/dev/null 2>&1`, `rm -rf '${storage.root}' '${join(o.dir, "run")}' '${runroot}'`].join("; "));
  const logDir = o.cluster.info.logDir;
  o.group.start(`${o.cluster.info.name}-node-agent`, process.execPath, [
    join(repoRoot, "e2e/controlplane/node-agent/main.ts"),
    `--kubeconfig=${o.cluster.kubeconfigs.admin!}`,
    `--node=${name}`,
    `--kernel-version=${o.kernelVersion}`,
    `--kubelet-version=${o.kubeletVersion}`,
    `--dir=${o.dir}`,
    `--log-dir=${logDir}`,
    `--runroot=${runroot}`,
    `--cert-dir=${o.registryCertDir}`,
    `--host-ip=${o.hostIP}`,
  ]);
  const raw = new RawClient(await connectionFrom(o.cluster.info.kubeconfig));
  try {
    await waitFor(`real node ${name} Ready`, async () => {
      const node = nodeSchema.parse((await raw.request("GET", `/api/v1/nodes/${name}`)).body);
      return (node.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
    }, { timeoutMs: 60_000, intervalMs: 200, ...(o.abort ? { abort: o.abort } : {}) });
  } finally {
    raw.close();
  }
  return { name, hostIP: o.hostIP, kernelVersion: o.kernelVersion, hostRoot: join(o.dir, "root"), storage };
}

export interface RealNodesOptions {
  /** `status.nodeInfo.kernelVersion` of every real node; Debian's installed headers' by default */
  kernelVersion?: string;
  /**
   * Real nodes of the hub cluster (default 2): the hub's Deployment runs 2 replicas with leader
   * election, one per node as in production. The first is in FleetInfo (`hub.realNode`); the others
   * are found by the real-node label, named `hub-real-<n>` (realNodeLayout).
   */
  hubNodes?: number;
}

/** One real node of the fleet as realNodeLayout places it. */
export interface RealNodeSlot {
  cluster: string;
  /** `<cluster>-real`, and `hub-real-<n>` for the hub's n-th node (n ≥ 2) */
  name: string;
  /** its own loopback address: its InternalIP, its pods' hostIP and podIP */
  hostIP: string;
  /** the node FleetInfo shows as the cluster's `realNode` (the first of its cluster) */
  first: boolean;
}

/**
 * Where each real node goes: the hub's nodes `hub-real` on 127.0.0.1 and `hub-real-<n>` on
 * 127.0.0.<n>, then one node per spoke on the next addresses in the order of `clusters` (with 2 hub
 * nodes: spoke1-real 127.0.0.3, spoke2-real 127.0.0.4). Pods bound to $(POD_IP) on different nodes
 * never collide, although every node shares the machine's network. Throws past 127.0.0.254.
 */
export function realNodeLayout(clusters: readonly string[], hubNodes: number): RealNodeSlot[] {
  const slots: Omit<RealNodeSlot, "hostIP">[] = [];
  for (const cluster of clusters.filter((c) => c === "hub")) {
    for (let n = 1; n <= Math.max(1, hubNodes); n++) slots.push({ cluster, name: n === 1 ? `${cluster}-real` : `${cluster}-real-${n}`, first: n === 1 });
  }
  for (const cluster of clusters.filter((c) => c !== "hub")) slots.push({ cluster, name: `${cluster}-real`, first: true });
  if (slots.length > 254) throw new Error(`${slots.length} real nodes do not fit in 127.0.0.1-127.0.0.254, one address each`);
  return slots.map((s, i) => ({ ...s, hostIP: `127.0.0.${i + 1}` }));
}

/** The registry and the real nodes of realNodeLayout, started together; resolves with what FleetInfo shows (each cluster's first node). */
export async function startRealNodes(o: {
  dir: string;
  group: ProcessGroup;
  clusters: LocalCluster[];
  kubernetesVersion: string;
  options: RealNodesOptions;
  abort?: Promise<never>;
}): Promise<{ registry: FleetRegistry; nodes: Map<string, RealNodeInfo> }> {
  await requireTools();
  const registry = await startFleetRegistry(join(o.dir, "registry"), o.group, o.abort);
  const kernelVersion = o.options.kernelVersion ?? (await defaultRealNodeKernel());
  const common = { group: o.group, kernelVersion, kubeletVersion: o.kubernetesVersion, registryCertDir: registry.certDir, ...(o.abort ? { abort: o.abort } : {}) };
  const byName = new Map(o.clusters.map((c) => [c.info.name, c]));
  const slots = realNodeLayout([...byName.keys()], o.options.hubNodes ?? 2);
  const started = await Promise.all(
    slots.map((s) => {
      // The first node's folder keeps its name (real-node), the hub's others are real-node-<n>.
      const folder = s.first ? "real-node" : `real-node-${s.name.slice(s.name.lastIndexOf("-") + 1)}`;
      return startRealNode({ ...common, cluster: byName.get(s.cluster)!, dir: join(o.dir, s.cluster, folder), name: s.name, hostIP: s.hostIP });
    }),
  );
  return { registry, nodes: new Map(slots.flatMap((s, i) => (s.first ? [[s.cluster, started[i]!] as const] : []))) };
}
