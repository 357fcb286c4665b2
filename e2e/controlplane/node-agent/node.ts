// The real node's Node object and heartbeats: registered Ready with capacity, the kernel version
// the fleet chose and this machine's OS, a taint that keeps pods off it unless they opt in, and
// the status and Lease (kube-node-lease) renewed every 10 s as a kubelet does.
import { cpus, totalmem } from "node:os";
import { readFile } from "node:fs/promises";
import { isConflict, isNotFound, type RawClient } from "../../../shared/kube/raw.ts";

/** Label (and taint key) of real nodes: kwok leaves them alone, pods opt in by toleration. */
export const REAL_NODE_LABEL = "e2e.kmm.sigs.x-k8s.io/real-node";
export const HEARTBEAT_MS = 10_000;
const LEASE_SECONDS = 40;

export interface NodeFacts {
  name: string;
  kernelVersion: string;
  /** e.g. v1.34.4 */
  kubeletVersion: string;
  hostIP: string;
}

async function osImage(): Promise<string> {
  const text = await readFile("/etc/os-release", "utf8").catch(() => "");
  return /^PRETTY_NAME="?([^"\n]*)"?/m.exec(text)?.[1] ?? "Linux";
}

function conditions(now: string) {
  const c = (type: string, status: string, reason: string, message: string) => ({ type, status, reason, message, lastHeartbeatTime: now, lastTransitionTime: now });
  return [
    c("MemoryPressure", "False", "KubeletHasSufficientMemory", "node agent has sufficient memory available"),
    c("DiskPressure", "False", "KubeletHasNoDiskPressure", "node agent has no disk pressure"),
    c("PIDPressure", "False", "KubeletHasSufficientPID", "node agent has sufficient PID available"),
    c("Ready", "True", "KubeletReady", "the fleet's node agent is posting ready status (podman with runc)"),
  ];
}

/** The Node object as registered (status included: the API server keeps a new Node's status). */
export async function nodeObject(f: NodeFacts, now: string) {
  const capacity = { cpu: String(cpus().length), memory: `${Math.floor(totalmem() / 1024)}Ki`, pods: "110", "ephemeral-storage": "100Gi" };
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: f.name,
      labels: { "kubernetes.io/hostname": f.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", [REAL_NODE_LABEL]: "true" },
    },
    spec: { taints: [{ key: REAL_NODE_LABEL, value: "true", effect: "NoSchedule" }] },
    status: {
      capacity,
      allocatable: capacity,
      conditions: conditions(now),
      addresses: [{ type: "InternalIP", address: f.hostIP }, { type: "Hostname", address: f.name }],
      daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
      nodeInfo: {
        kernelVersion: f.kernelVersion,
        osImage: await osImage(),
        containerRuntimeVersion: "podman://4",
        kubeletVersion: f.kubeletVersion,
        kubeProxyVersion: "",
        operatingSystem: "linux",
        architecture: "amd64",
        machineID: "",
        systemUUID: "",
        bootID: "",
      },
    },
  };
}

const iso = (): string => new Date().toISOString().replace(/\.\d+Z$/, "Z");
const micro = (): string => new Date().toISOString().replace(/Z$/, "000Z");

/** Creates the Node (or takes over one of the same name) and sets its status. */
export async function registerNode(raw: RawClient, f: NodeFacts): Promise<void> {
  const node = await nodeObject(f, iso());
  try {
    await raw.request("POST", "/api/v1/nodes", node);
  } catch (err) {
    if (!isConflict(err)) throw err;
    await raw.request("PATCH", `/api/v1/nodes/${f.name}`, { metadata: node.metadata, spec: node.spec }, "application/strategic-merge-patch+json");
  }
  await raw.request("PATCH", `/api/v1/nodes/${f.name}/status`, { status: node.status }, "application/strategic-merge-patch+json");
}

/** One heartbeat: the node's conditions and its Lease. */
export async function heartbeat(raw: RawClient, f: NodeFacts): Promise<void> {
  // Conditions merge by type: only their heartbeat time moves.
  const now = iso();
  const beats = ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"].map((type) => ({ type, lastHeartbeatTime: now }));
  await raw.request("PATCH", `/api/v1/nodes/${f.name}/status`, { status: { conditions: beats } }, "application/strategic-merge-patch+json");
  const path = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${f.name}`;
  const spec = { holderIdentity: f.name, leaseDurationSeconds: LEASE_SECONDS, renewTime: micro() };
  try {
    await raw.request("PATCH", path, { spec }, "application/merge-patch+json");
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await raw.request("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name: f.name, namespace: "kube-node-lease" }, spec });
  }
}
