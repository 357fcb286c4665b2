// Entry point of the node agent process the fleet starts, one per real node:
//   node e2e/controlplane/node-agent/main.ts --kubeconfig F --node N --kernel-version K --dir D --log-dir L [--cert-dir C] [--host-ip 127.0.0.N]
// --host-ip is the node's own loopback address (its InternalIP, hostIP and podIP): two real nodes of
// one cluster share the machine's network, and their pods tell themselves apart by it.
// Stops on SIGTERM/SIGINT, stopping its pods' containers first.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { loadKubeconfigFile } from "../../../shared/kube/connection.ts";
import { createLogger } from "../../../shared/runtime/logger.ts";
import { NodeAgent } from "./agent.ts";
import { KUBELET_BACKOFF } from "./pod-runner.ts";
import { Podman } from "./podman.ts";

const { values } = parseArgs({
  options: {
    kubeconfig: { type: "string" },
    node: { type: "string" },
    "kernel-version": { type: "string" },
    "kubelet-version": { type: "string", default: "v1.34.4" },
    dir: { type: "string" },
    "log-dir": { type: "string" },
    "runroot": { type: "string" },
    "cert-dir": { type: "string" },
    "backoff-initial-ms": { type: "string" },
    "host-ip": { type: "string", default: "127.0.0.1" },
  },
});
const args = z
  .object({
    kubeconfig: z.string().min(1),
    node: z.string().min(1),
    "kernel-version": z.string().min(1),
    "kubelet-version": z.string(),
    dir: z.string().min(1),
    "log-dir": z.string().min(1),
    runroot: z.string().min(1).max(50, "podman refuses a runroot longer than 50 characters"),
    "cert-dir": z.string().optional(),
    "backoff-initial-ms": z.coerce.number().int().positive().optional(),
    // This machine's rule: no address outside 127.0.0.0/8.
    "host-ip": z.string().regex(/^127(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/, "must be a loopback address (127.0.0.0/8)"),
  })
  .safeParse(values);
if (!args.success) {
  console.error(`node-agent: ${args.error.issues.map((i) => `--${i.path.join(".")}: ${i.message}`).join("; ")}`);
  process.exit(2);
}
const a = args.data;
const log = createLogger({ name: "node-agent" }).child({ node: a.node });
const podsDir = join(a.dir, "pods");
const hostRoot = join(a.dir, "root");
await Promise.all([podsDir, hostRoot, a["log-dir"]].map((d) => mkdir(d, { recursive: true })));

const agent = new NodeAgent({
  connection: await loadKubeconfigFile(a.kubeconfig),
  node: { name: a.node, kernelVersion: a["kernel-version"], kubeletVersion: a["kubelet-version"], hostIP: a["host-ip"] },
  podman: new Podman({ root: join(a.dir, "storage"), runroot: a.runroot }),
  podsDir,
  hostRoot,
  logDir: a["log-dir"],
  certDir: a["cert-dir"],
  backoff: a["backoff-initial-ms"] !== undefined ? { ...KUBELET_BACKOFF, initialMs: a["backoff-initial-ms"] } : KUBELET_BACKOFF,
  log,
});

let stopping = false;
const stop = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, "stopping");
  agent.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      log.error({ err: String(err) }, "stop failed");
      process.exit(1);
    },
  );
};
process.on("SIGTERM", () => stop("SIGTERM"));
process.on("SIGINT", () => stop("SIGINT"));
await agent.start();
