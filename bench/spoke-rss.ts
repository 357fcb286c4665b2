// Benchmark (issue 16): the spoke edition's memory on a spoke with 100 kwok nodes and 10 Modules.
// A one-spoke fleet; the bench creates 100 Nodes (kwok keeps them Ready; two kernels, 50 each) and
// 10 Modules selecting all of them, then starts the spoke edition as its image runs it (dist/,
// KMM_MANAGED=1, the Deployment's V8 flags and MALLOC_ARENA_MAX) and measures how long it takes
// to write every module-loader DaemonSet (seconds and its CPU-seconds: the price of V8's lite
// mode), its RSS 10 s after its caches are synced, and after the DaemonSets' pods exist (kwok
// plays their kubelet, so the pod informer holds them as on a real spoke).
// Run: npm run bench -- spoke-rss   (env: BENCH_SPOKE_NODES 100, BENCH_SPOKE_MODULES 10,
// BENCH_SPOKE_NODE_ARGS extra node flags e.g. "--optimize-for-size", BENCH_SKIP_BUILD=1 to run the
// dist/ already built, BENCH_METRICS_PORT 18444)
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { z } from "zod";
import { startFleet } from "../e2e/controlplane/fleet.ts";
import { connectionFrom } from "../e2e/controlplane/kube.ts";
import { RawClient } from "../shared/kube/raw.ts";
import { HEAP_SETTINGS, nodeFlags, spawnEnv } from "../shared/runtime/node-options.ts";
import { ROLE_LABEL } from "../spoke/labels.ts";
import { FigureTable, buildDist, cpuSecondsOf, memoryOf, metric, mib, runtimeFloor, scrape, scrapeOnce, sleep } from "./lib/measure.ts";

const NODES = Number(process.env.BENCH_SPOKE_NODES ?? 100);
const MODULES = Number(process.env.BENCH_SPOKE_MODULES ?? 10);
const METRICS_PORT = Number(process.env.BENCH_METRICS_PORT ?? 18444);
const EXTRA_NODE_ARGS = (process.env.BENCH_SPOKE_NODE_ARGS ?? "").split(" ").filter((a) => a !== "");
const KERNELS = ["6.1.0-18-amd64", "5.14.0-70.el9.x86_64"];
const OPERATOR_NS = "kmm-operator-system";
const MODULE_NS = "bench-spoke";
const table = new FigureTable();

const listSchema = z.object({ items: z.array(z.looseObject({ metadata: z.looseObject({ name: z.string() }) })) });

async function count(raw: RawClient, path: string): Promise<number> {
  return listSchema.parse((await raw.request("GET", path)).body).items.length;
}

async function createNodes(raw: RawClient): Promise<void> {
  for (let i = 0; i < NODES; i++) {
    const name = `bench-node-${i}`;
    await raw.request("POST", "/api/v1/nodes", {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name, labels: { "kubernetes.io/hostname": name, "node-role.kubernetes.io/worker": "" }, annotations: { "kwok.x-k8s.io/node": "fake" } },
      spec: {},
      status: { nodeInfo: { kernelVersion: KERNELS[i % KERNELS.length]!, architecture: "amd64", bootID: "", containerRuntimeVersion: "", kubeProxyVersion: "", kubeletVersion: "", machineID: "", operatingSystem: "linux", osImage: "", systemUUID: "" } },
    });
  }
}

function benchModule(i: number): Record<string, unknown> {
  const digest = `sha256:${i.toString(16).padStart(64, "0")}`;
  return {
    apiVersion: "kmm.sigs.x-k8s.io/v1beta1",
    kind: "Module",
    metadata: { name: `bench-kmod-${i}`, namespace: MODULE_NS },
    spec: {
      selector: { "node-role.kubernetes.io/worker": "" },
      moduleLoader: {
        container: {
          modprobe: { moduleName: `bench_kmod_${i}` },
          kernelMappings: KERNELS.map((k) => ({ literal: k, containerImage: `registry.example/bench/kmod-${i}@${digest}` })),
        },
      },
    },
  };
}

async function main(): Promise<void> {
  buildDist();
  const fleet = await startFleet({ spokes: 1, policy: false, log: (m) => console.log(`[fleet] ${m}`) });
  const spokeInfo = fleet.info.spokes[0]!;
  const raw = new RawClient(await connectionFrom(spokeInfo.kubeconfig));
  let proc: ReturnType<typeof spawn> | undefined;
  try {
    for (const name of [OPERATOR_NS, MODULE_NS]) await raw.request("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name } });
    await createNodes(raw);
    for (let i = 0; i < MODULES; i++) await raw.apply(benchModule(i), "kmm-bench");
    const config = join(fleet.info.dir, "kmm-spoke-bench.yaml");
    await writeFile(config, ['healthProbeBindAddress: "127.0.0.1:0"', "metrics:", `  bindAddress: "127.0.0.1:${METRICS_PORT}"`, "  secureServing: false", "  enableAuthnAuthz: false", "leaderElection:", "  enabled: false", "logLevel: warn"].join("\n"));
    const flags = [...nodeFlags(HEAP_SETTINGS.spoke), ...EXTRA_NODE_ARGS];
    // The Deployment's environment besides NODE_OPTIONS (given as flags above): MALLOC_*.
    const deployEnv = spawnEnv(HEAP_SETTINGS.spoke);
    console.log(`${NODES} nodes, ${MODULES} Modules; the spoke edition runs with ${flags.join(" ")} ${JSON.stringify(deployEnv)}`);
    const spawned = performance.now();
    proc = spawn(process.execPath, [...flags, "dist/spoke/main.js", "--config", config], {
      stdio: ["ignore", "inherit", "inherit"],
      env: { PATH: process.env.PATH ?? "", KUBECONFIG: spokeInfo.kubeconfig, KMM_MANAGED: "1", OPERATOR_NAMESPACE: OPERATOR_NS, RELATED_IMAGE_WORKER: "registry.example/kmm/worker@sha256:" + "1".repeat(64), ...deployEnv },
    });
    const pid = proc.pid;
    if (pid === undefined) throw new Error("the spoke edition did not start");
    for (let i = 0; ; i++) {
      if (proc.exitCode !== null) throw new Error(`the spoke edition exited with ${proc.exitCode}`);
      try {
        await scrapeOnce(METRICS_PORT);
        break;
      } catch {
        if (i > 480) throw new Error("the spoke edition did not serve metrics within 2 minutes");
        await sleep(250);
      }
    }
    const wantDaemonSets = MODULES * KERNELS.length;
    const dsPath = `/apis/apps/v1/namespaces/${MODULE_NS}/daemonsets?labelSelector=${encodeURIComponent(ROLE_LABEL)}`;
    const podPath = `/api/v1/namespaces/${MODULE_NS}/pods?labelSelector=${encodeURIComponent(ROLE_LABEL)}`;
    // How long its first reconciles take (V8 flags such as --lite-mode trade speed for memory).
    const metricsAt = performance.now();
    while ((await count(raw, dsPath).catch(() => 0)) < wantDaemonSets && performance.now() - metricsAt < 120_000) await sleep(100);
    const reconciledSeconds = (performance.now() - spawned) / 1000;
    const reconcileCpu = await cpuSecondsOf(pid);
    await sleep(Math.max(0, 10_000 - (performance.now() - metricsAt)));
    const started = await memoryOf(pid);
    const heap = await scrape(METRICS_PORT);
    table.report({
      figure: `spoke edition RSS after start and cache sync (${NODES} kwok nodes, ${MODULES} Modules)`,
      target: "≤ 60 MiB",
      measured: `${mib(started.rss)} MiB (anonymous ${mib(started.anon)}, file-backed ${mib(started.file)}; V8 heap ${mib(metric(heap, "nodejs_heap_size_total_bytes"))} MiB, ${mib(metric(heap, "nodejs_heap_size_used_bytes"))} used; external ${mib(metric(heap, "nodejs_external_memory_bytes"))} MiB)`,
      held: started.rss <= 60 * 1024 * 1024,
    });
    // The same flags and environment with no KMM-Hub code: four TLS watches and an HTTP server.
    const floor = await runtimeFloor(spokeInfo.kubeconfig, flags, deployEnv, 10_000);
    table.report({
      figure: "runtime floor: node with the spoke edition's flags and environment, 4 TLS watches and an HTTP server, no KMM-Hub code",
      target: "-",
      measured: `${mib(floor.rss)} MiB (anonymous ${mib(floor.anon)}, file-backed ${mib(floor.file)})`,
    });
    table.report({
      figure: `spoke edition start to all ${wantDaemonSets} module-loader DaemonSets written, and its CPU by then`,
      target: "-",
      measured: `${reconciledSeconds.toFixed(1)} s, ${reconcileCpu.toFixed(2)} CPU-s`,
    });
    const deadline = Date.now() + 300_000;
    let daemonSets = 0;
    let pods = 0;
    while (Date.now() < deadline) {
      try {
        daemonSets = await count(raw, dsPath);
        pods = await count(raw, podPath);
      } catch (err: unknown) {
        // A saturated API server (the scheduler is placing a thousand pods) may not answer in time.
        console.log(`counting DaemonSets and pods: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (daemonSets >= wantDaemonSets && pods >= NODES * MODULES) break;
      await sleep(2000);
    }
    await sleep(10_000);
    const settled = await memoryOf(pid);
    table.report({
      figure: `spoke edition RSS with ${daemonSets} module-loader DaemonSets and ${pods} of their pods in its caches`,
      target: "-",
      measured: `${mib(settled.rss)} MiB (peak ${mib(settled.hwm)} MiB)`,
    });
  } finally {
    if (proc !== undefined && proc.exitCode === null) {
      const exited = new Promise((r) => proc?.once("exit", r));
      proc.kill("SIGTERM");
      if (!(await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]))) proc.kill("SIGKILL");
    }
    raw.close();
    await fleet.stop();
  }
  table.print(`spoke edition memory, ${new Date().toISOString()}, ${[...nodeFlags(HEAP_SETTINGS.spoke), ...EXTRA_NODE_ARGS].join(" ")}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
