// Benchmark: the hub against 1,000 ManagedClusters (with kernel claims) and 10 MCMs selecting all
// of them = 10,000 ManifestWorks, on a real local kube-apiserver (no spokes needed).
// Compared in the same run with a plain parallel client creating the same 10,000 ManifestWorks.
// Reports: time to all works written, hub peak RSS (VmHWM of the hub process), API writes per
// reconcile, and writes during an idle period afterwards (expected 0).
// Run: node bench/hub-scale.ts   (env: BENCH_CLUSTERS, BENCH_MCMS, BENCH_IDLE_SECONDS,
// BENCH_HUB_HEAP_MIB = the hub's --max-old-space-size, BENCH_HUB_NODE_ARGS e.g. "--cpu-prof")
import { spawn, spawnSync } from "node:child_process";
import { readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { z } from "zod";
import { startFleet } from "../e2e/controlplane/fleet.ts";
import { connectionFrom } from "../e2e/controlplane/kube.ts";
import { KERNEL_VERSIONS_CLAIM, manifestWorkPath } from "../hub/names.ts";
import { render } from "../hub/render.ts";
import { managedClusterModuleSchema, type ManagedClusterModule } from "../shared/api/index.ts";
import { RawClient } from "../shared/kube/raw.ts";
import { ManagedCluster, type ManagedClusterObject } from "../shared/ocm/index.ts";
import { RegistryClient, buildLayer, pushImage } from "../shared/registry/index.ts";
import { startRegistry } from "../shared/registry/testing/registry-server.ts";
import { forEachLimit } from "../shared/runtime/for-each-limit.ts";
import { HEAP_SETTINGS, nodeFlags } from "../shared/runtime/node-options.ts";

const CLUSTERS = Number(process.env.BENCH_CLUSTERS ?? 1000);
const MCMS = Number(process.env.BENCH_MCMS ?? 10);
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 120);
const KERNELS = ["6.1.0-18-amd64", "6.1.0-20-amd64", "5.14.0-70.el9.x86_64", "5.14.0-362.el9.x86_64"];
const PLAIN_CONCURRENCY = 64;
const HUB_HEAP = { ...HEAP_SETTINGS.hub, ...(process.env.BENCH_HUB_HEAP_MIB !== undefined ? { oldSpaceMiB: Number(process.env.BENCH_HUB_HEAP_MIB) } : {}) };
const tls = { insecure: true };


const statusSchema = z.looseObject({
  status: z.looseObject({ numberDesired: z.number().optional(), conditions: z.array(z.looseObject({ type: z.string(), status: z.string() })).optional() }).optional(),
});

async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  return res.text();
}

function metric(text: string, name: string, labels = ""): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `) || (labels === "" && l.startsWith(`${name} `)));
  return line === undefined ? 0 : Number(line.split(" ")[1]);
}

function sumMetric(text: string, name: string): number {
  return text
    .split("\n")
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .reduce((s, l) => s + Number(l.split(" ").at(-1)), 0);
}

const COMPONENTS = ["kube-apiserver", "etcd", "kube-controller-manager"] as const;

/** CPU seconds (user + system) of one process, from /proc/<pid>/stat (100 ticks/s on Linux). */
async function cpuSecondsOf(pid: number): Promise<number> {
  const stat = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]?.split(" ") ?? [];
  return (Number(stat[11]) + Number(stat[12])) / 100;
}

/** CPU seconds so far of the fleet's control-plane processes, by component. */
async function controlPlaneCpu(fleetDir: string): Promise<Record<string, number>> {
  const out: Record<string, number> = Object.fromEntries(COMPONENTS.map((c) => [c, 0]));
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = (await readFile(`/proc/${entry}/cmdline`, "utf8")).split("\0");
      if (!argv.some((a) => a.includes(fleetDir))) continue;
      const component = COMPONENTS.find((c) => argv[1] === c);
      if (component !== undefined) out[component] = (out[component] ?? 0) + (await cpuSecondsOf(Number(entry)));
    } catch {
      // The process ended while we looked.
    }
  }
  return out;
}

function cpuDelta(before: Record<string, number>, after: Record<string, number>): string {
  return COMPONENTS.map((c) => `${c} ${((after[c] ?? 0) - (before[c] ?? 0)).toFixed(1)} s`).join(", ");
}

async function main(): Promise<void> {
  console.log(`${CLUSTERS} ManagedClusters, ${MCMS} MCMs → ${CLUSTERS * MCMS} ManifestWorks; hub runs with ${nodeFlags(HUB_HEAP).join(" ")} (its Deployment's NODE_OPTIONS)`);
  // The hub runs as an image would run it: compiled JavaScript (npm run build), no TypeScript stripper.
  const build = spawnSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json"], { stdio: "inherit" });
  if (build.status !== 0) throw new Error("npm run build failed");
  const fleet = await startFleet({ spokes: 0, log: (m) => console.log(`[fleet] ${m}`) });
  const registry = await startRegistry();
  const regClient = new RegistryClient();
  const hubConn = await connectionFrom(fleet.info.hub.kubeconfig);
  const raw = new RawClient(hubConn);
  let hubProc: ReturnType<typeof spawn> | undefined;
  try {
    // Images: one repository per MCM, one tag per kernel.
    const layer = buildLayer([{ path: "opt/lib/modules/bench.ko", content: "bench" }]);
    for (let j = 0; j < MCMS; j++) {
      for (const k of KERNELS) await pushImage(regClient, `${registry.host}/bench/mcm-${j}:${k}`, { layers: [layer] }, { tls });
    }

    // Clusters: namespaces, ManagedClusters, then their claims in status (as the registration agent would).
    await raw.request("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "kmm-hub" } });
    const names = Array.from({ length: CLUSTERS }, (_, i) => `cluster-${String(i).padStart(4, "0")}`);
    const clusterObjs: ManagedClusterObject[] = [];
    let t = performance.now();
    await forEachLimit(names, PLAIN_CONCURRENCY, async (name) => {
      const i = Number(name.slice(-4));
      const claim = [KERNELS[i % KERNELS.length]!, KERNELS[(i + 1) % KERNELS.length]!].sort().join("\n");
      await raw.request("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name } });
      await raw.request("POST", "/apis/cluster.open-cluster-management.io/v1/managedclusters", {
        apiVersion: "cluster.open-cluster-management.io/v1",
        kind: "ManagedCluster",
        metadata: { name, labels: { bench: "true" } },
        spec: { hubAcceptsClient: false },
      });
      await raw.request(
        "PATCH",
        `/apis/cluster.open-cluster-management.io/v1/managedclusters/${name}/status`,
        { status: { clusterClaims: [{ name: KERNEL_VERSIONS_CLAIM, value: claim }] } },
        "application/merge-patch+json",
      );
      clusterObjs.push(
        ManagedCluster.parse({
          apiVersion: "cluster.open-cluster-management.io/v1",
          kind: "ManagedCluster",
          metadata: { name, labels: { bench: "true" } },
          status: { clusterClaims: [{ name: KERNEL_VERSIONS_CLAIM, value: claim }] },
        }),
      );
    });
    console.log(`setup: ${CLUSTERS} namespaces + ManagedClusters in ${((performance.now() - t) / 1000).toFixed(1)} s`);

    const mcms: ManagedClusterModule[] = Array.from({ length: MCMS }, (_, j) =>
      managedClusterModuleSchema.parse({
        apiVersion: "hub.kmm.sigs.x-k8s.io/v1beta1",
        kind: "ManagedClusterModule",
        metadata: { name: `bench-${j}` },
        spec: {
          spokeNamespace: "kmm",
          selector: { bench: "true" },
          moduleSpec: {
            selector: { "kmm.bench": "true" },
            moduleLoader: {
              container: {
                modprobe: { moduleName: `bench_${j}` },
                registryTLS: tls,
                kernelMappings: [{ regexp: "^.+$", containerImage: `${registry.host}/bench/mcm-${j}:\${KERNEL_FULL_VERSION}` }],
              },
            },
          },
        },
      }),
    );

    // Baseline: the same 10,000 works (rendered by the hub's own builder, digests resolved up front),
    // created by a plain parallel client under other names.
    const digests = new Map<string, { digest: string }>();
    for (let j = 0; j < MCMS; j++) {
      for (const k of KERNELS) {
        const image = `${registry.host}/bench/mcm-${j}:${k}`;
        digests.set(image, { digest: await regClient.resolveDigest(image, { tls }) });
      }
    }
    // Each baseline work carries an ownerReference to a real ManagedClusterModule, as the hub's do
    // (the garbage collector in kube-controller-manager tracks them): owners that select nothing.
    const owners: ManagedClusterModule[] = [];
    for (const m of mcms) {
      const owner = { ...m, metadata: { name: `plain-${m.metadata.name ?? ""}` }, spec: { ...m.spec, selector: { "bench.kmm/none": "true" } } };
      const created = await raw.request("POST", "/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules", owner);
      owners.push(managedClusterModuleSchema.parse(created.body));
    }
    const plain = owners.flatMap((o, j) => render({ ...o, spec: mcms[j]!.spec }, clusterObjs, digests).works);
    if (!plain.every((w) => w.metadata.ownerReferences?.[0]?.uid !== undefined)) throw new Error("baseline works lack their ownerReference");
    for (const w of plain) w.metadata.labels = { "bench.kmm/plain": "true" };
    let cpu = await controlPlaneCpu(fleet.info.dir);
    t = performance.now();
    // Same connection handling as the hub's writer (one keep-alive pool), so only the work differs.
    const plainClient = new RawClient(hubConn);
    await forEachLimit(plain, PLAIN_CONCURRENCY, async (w) => {
      await plainClient.request("POST", `/apis/work.open-cluster-management.io/v1/namespaces/${w.metadata.namespace ?? ""}/manifestworks`, w);
    });
    const plainSeconds = (performance.now() - t) / 1000;
    let cpuNow = await controlPlaneCpu(fleet.info.dir);
    console.log(`plain client, POST (${PLAIN_CONCURRENCY} in flight): ${plain.length} ManifestWorks created in ${plainSeconds.toFixed(1)} s; CPU: ${cpuDelta(cpu, cpuNow)}`);
    cpu = cpuNow;
    // The same again with server-side apply, the write the hub uses (the server does more work per apply).
    for (const w of plain) w.metadata.name = `ssa-${w.metadata.name ?? ""}`;
    t = performance.now();
    await forEachLimit(plain, PLAIN_CONCURRENCY, async (w) => {
      await plainClient.applyAt(manifestWorkPath(w.metadata.namespace ?? "", w.metadata.name ?? ""), w, "bench-plain");
    });
    const ssaSeconds = (performance.now() - t) / 1000;
    cpuNow = await controlPlaneCpu(fleet.info.dir);
    console.log(`plain client, server-side apply (${PLAIN_CONCURRENCY} in flight): ${plain.length} ManifestWorks created in ${ssaSeconds.toFixed(1)} s; CPU: ${cpuDelta(cpu, cpuNow)}`);
    // Remove the baselines so the hub meets the same API server load the baselines did.
    t = performance.now();
    await forEachLimit(names, PLAIN_CONCURRENCY, async (ns) => {
      await plainClient.request("DELETE", `/apis/work.open-cluster-management.io/v1/namespaces/${ns}/manifestworks?labelSelector=${encodeURIComponent("bench.kmm/plain=true")}`);
    });
    for (const o of owners) await plainClient.request("DELETE", `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${o.metadata.name ?? ""}`);
    console.log(`baseline works and owners deleted in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    plainClient.close();
    await new Promise((r) => setTimeout(r, 5000));

    // The hub as its own process, so its memory is measured alone.
    const configFile = join(fleet.info.dir, "kmm-hub-bench.yaml");
    await writeFile(
      configFile,
      [
        'healthProbeBindAddress: "127.0.0.1:0"',
        "metrics:",
        '  bindAddress: "127.0.0.1:18443"',
        "  secureServing: false",
        "  enableAuthnAuthz: false",
        "leaderElection:",
        "  enabled: false",
        `maxConcurrentReconciles: ${MCMS}`,
        "digestRefreshInterval: 30m",
        "logLevel: warn",
      ].join("\n"),
    );
    // As its Deployment runs it: the V8 settings of shared/runtime/node-options.ts.
    const extraNodeArgs = (process.env.BENCH_HUB_NODE_ARGS ?? "").split(" ").filter((a) => a !== "");
    hubProc = spawn(process.execPath, [...nodeFlags(HUB_HEAP), ...extraNodeArgs, "dist/hub/cli.js", "run", "--config", configFile, "--kubeconfig", fleet.info.hub.kubeconfig, "--namespace", "kmm-hub"], {
      stdio: ["ignore", "inherit", "inherit"],
    });
    const pid = hubProc.pid!;
    // Wait for the metrics endpoint (caches synced and serving).
    for (let i = 0; ; i++) {
      try {
        await scrape(18443);
        break;
      } catch {
        if (i > 200) throw new Error("the hub did not start serving metrics");
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    await new Promise((r) => setTimeout(r, 2000));
    const startRss = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, "utf8"))?.[1];
    console.log(`hub started, caches synced: RSS ${(Number(startRss) / 1024).toFixed(0)} MiB`);

    cpu = await controlPlaneCpu(fleet.info.dir);
    t = performance.now();
    // Memory as the hub sees it, sampled from its metrics while it works: where the peak is.
    let peak = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0 };
    const sampler = setInterval(() => {
      scrape(18443).then((m) => {
        const rss = metric(m, "process_resident_memory_bytes");
        if (rss > peak.rss) peak = { rss, heapTotal: metric(m, "nodejs_heap_size_total_bytes"), heapUsed: metric(m, "nodejs_heap_size_used_bytes"), external: metric(m, "nodejs_external_memory_bytes") };
      }, () => undefined);
    }, 500);
    for (const m of mcms) await raw.request("POST", "/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules", m);
    // The hub's own count of applies tells when the last one returned; the MCMs' status then
    // confirms every work is written as desired. Polling status (objects of ~0.5 MB each) only at
    // the end keeps the benchmark from loading the API server it measures.
    const giveUp = performance.now() + 15 * 60_000;
    while (metric(await scrape(18443), "kmm_hub_api_writes_total", '{verb="apply"}') < CLUSTERS * MCMS) {
      if (performance.now() > giveUp) throw new Error("the hub did not write all ManifestWorks within 15 minutes");
      await new Promise((r) => setTimeout(r, 100));
    }
    const writtenSeconds = (performance.now() - t) / 1000;
    const done = new Set<string>();
    while (done.size < MCMS) {
      for (const m of mcms) {
        const name = m.metadata.name ?? "";
        if (done.has(name)) continue;
        // A busy API server may time a poll out: that is not a result, poll again.
        const got = await raw.request("GET", `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${name}`).catch(() => undefined);
        if (got === undefined) continue;
        const s = statusSchema.parse(got.body).status;
        if (s?.numberDesired === CLUSTERS && s.conditions?.some((c) => c.type === "ManifestWorksWritten" && c.status === "True")) done.add(name);
      }
      if (done.size < MCMS) {
        if (performance.now() > giveUp) throw new Error("the MCM statuses did not confirm every ManifestWork within 15 minutes");
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    clearInterval(sampler);
    const hubSeconds = (performance.now() - t) / 1000;
    cpuNow = await controlPlaneCpu(fleet.info.dir);
    const afterRun = await scrape(18443);
    const applies = metric(afterRun, "kmm_hub_api_writes_total", '{verb="apply"}');
    const statuses = metric(afterRun, "kmm_hub_api_writes_total", '{verb="status"}');
    const reconciles = sumMetric(afterRun, "controller_runtime_reconcile_total");
    console.log(
      `hub: ${CLUSTERS * MCMS} ManifestWorks written in ${writtenSeconds.toFixed(1)} s (${(writtenSeconds / plainSeconds).toFixed(2)}× plain POST, ${(writtenSeconds / ssaSeconds).toFixed(2)}× plain apply), every MCM status saying so after ${hubSeconds.toFixed(1)} s; ` +
        `${applies} applies, ${statuses} status writes over ${reconciles} reconciles (${((applies + statuses) / Math.max(1, reconciles)).toFixed(0)} writes/reconcile, 0 reads: caches only); ` +
        `CPU: ${cpuDelta(cpu, cpuNow)}, hub ${(await cpuSecondsOf(pid)).toFixed(1)} s`,
    );

    console.log(`idle for ${IDLE_SECONDS} s…`);
    const before = sumMetric(afterRun, "kmm_hub_api_writes_total");
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    const end = await scrape(18443);
    const idle = sumMetric(end, "kmm_hub_api_writes_total") - before;
    console.log(`hub CPU time since start: ${(await cpuSecondsOf(pid)).toFixed(1)} s`);
    const statusText = await readFile(`/proc/${pid}/status`, "utf8");
    const hwm = /VmHWM:\s+(\d+) kB/.exec(statusText)?.[1];
    const mib = (b: number) => (b / 1024 / 1024).toFixed(0);
    console.log(
      `hub writes while idle: ${idle}; hub peak RSS (VmHWM): ${(Number(hwm) / 1024).toFixed(0)} MiB; ` +
        `at the sampled peak: RSS ${mib(peak.rss)} MiB = V8 heap ${mib(peak.heapTotal)} MiB (${mib(peak.heapUsed)} used) + external ${mib(peak.external)} MiB + the rest (code, stacks, malloc); ` +
        `at the end: RSS ${mib(metric(end, "process_resident_memory_bytes"))} MiB, V8 heap used ${mib(metric(end, "nodejs_heap_size_used_bytes"))} MiB`,
    );
  } finally {
    hubProc?.kill("SIGTERM");
    regClient.close();
    await registry.stop();
    await fleet.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
