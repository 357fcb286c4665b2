// Benchmark (issue 16): the hub's memory, write speed and reaction time at fleet scale, on a real
// local kube-apiserver (no spokes needed: the bench writes the ManagedClusters and their kernel
// claims as the registration agent would). Per size C (clusters) × M MCMs selecting all of them:
// a plain server-side-apply client writes the same C×M ManifestWorks first (the baseline, same
// run, same API server), then the hub as its own process from dist/ with its Deployment's
// NODE_OPTIONS: time to all works written, peak RSS, writes and Events while idle, steady RSS,
// and at the largest size the reaction to single changes (a kernel claim change on one cluster,
// a label that selects one more cluster) with the writes each one cost. Before the first size it
// measures the hub on an empty hub cluster. Prints one table with the targets and load averages.
// Run: npm run bench -- hub-scale   (env: BENCH_SIZES "200,1000" (5,000 × 10: BENCH_SIZES=5000),
// BENCH_SIZES=0: the empty hub only; BENCH_MCMS 10, BENCH_IDLE_SECONDS 120, BENCH_REACTIONS 100 (at the largest size, 0 = none),
// BENCH_HUB_HEAP_MIB = the hub's --max-old-space-size, BENCH_HUB_NODE_ARGS e.g. "--cpu-prof",
// BENCH_SKIP_BUILD=1 to run the dist/ already built, BENCH_METRICS_PORT 18443, BENCH_HEAP_SNAPSHOTS=<dir>:
// heap snapshots of the hub half-way through the rollout and after the idle time, written there)
import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { z } from "zod";
import { startFleet, type Fleet } from "../e2e/controlplane/fleet.ts";
import { connectionFrom } from "../e2e/controlplane/kube.ts";
import { KERNEL_VERSIONS_CLAIM, MCM_NAME_LABEL, manifestWorkPath } from "../hub/names.ts";
import { render } from "../hub/render.ts";
import { managedClusterModuleSchema, type ManagedClusterModule } from "../shared/api/index.ts";
import { RawClient, type WatchEvent } from "../shared/kube/raw.ts";
import { ManagedCluster, type ManagedClusterObject } from "../shared/ocm/index.ts";
import { RegistryClient, buildLayer, pushImage } from "../shared/registry/index.ts";
import { startRegistry } from "../shared/registry/testing/registry-server.ts";
import { FigureTable, apiServerQuiet, apiServerSecondsSpent, buildDist, cpuSecondsOf, heapSpaces, memoryOf, metric, mib, runtimeFloor, scrape as scrapeAt, scrapeOnce as scrapeOnceAt, sleep, socketsOf, sumMetric, type Row } from "./lib/measure.ts";
import { forEachLimit } from "../shared/runtime/for-each-limit.ts";
import { HEAP_SETTINGS, nodeFlags, spawnEnv } from "../shared/runtime/node-options.ts";

const SIZES = (process.env.BENCH_SIZES ?? "200,1000").split(",").map(Number).filter((n) => n > 0);
const MCMS = Number(process.env.BENCH_MCMS ?? 10);
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 120);
const REACTIONS = Number(process.env.BENCH_REACTIONS ?? 100);
const KERNELS = ["6.1.0-18-amd64", "6.1.0-20-amd64", "5.14.0-70.el9.x86_64", "5.14.0-362.el9.x86_64"];
const PLAIN_CONCURRENCY = 64;
const METRICS_PORT = Number(process.env.BENCH_METRICS_PORT ?? 18443);
const HUB_HEAP = { ...HEAP_SETTINGS.hub, ...(process.env.BENCH_HUB_HEAP_MIB !== undefined ? { oldSpaceMiB: Number(process.env.BENCH_HUB_HEAP_MIB) } : {}) };
const HEAP_SNAPSHOTS = process.env.BENCH_HEAP_SNAPSHOTS;
const EXTRA_NODE_ARGS = [
  ...(process.env.BENCH_HUB_NODE_ARGS ?? "").split(" ").filter((a) => a !== ""),
  ...(HEAP_SNAPSHOTS !== undefined ? ["--heapsnapshot-signal=SIGUSR2", `--diagnostic-dir=${HEAP_SNAPSHOTS}`] : []),
];
const tls = { insecure: true };

const table = new FigureTable();
const report = (r: Omit<Row, "load">): void => table.report(r);
const scrapeOnce = (): Promise<string> => scrapeOnceAt(METRICS_PORT);
const scrape = (): Promise<string> => scrapeAt(METRICS_PORT);

const eventListSchema = z.looseObject({
  items: z.array(z.looseObject({ reportingComponent: z.string().optional(), source: z.looseObject({ component: z.string().optional() }).optional(), count: z.number().optional() })),
});

/** Event occurrences the hub reported so far (all namespaces; a repeated Event counts its count). */
async function hubEventCount(raw: RawClient): Promise<number> {
  const res = await raw.request("GET", "/api/v1/events");
  return eventListSchema
    .parse(res.body)
    .items.filter((e) => (e.reportingComponent ?? e.source?.component ?? "").startsWith("kmm-hub"))
    .reduce((s, e) => s + (e.count ?? 1), 0);
}

const statusSchema = z.looseObject({
  status: z.looseObject({ numberDesired: z.number().optional(), conditions: z.array(z.looseObject({ type: z.string(), status: z.string() })).optional() }).optional(),
});

/** The hub as its own process, as its Deployment runs it: compiled JavaScript, the V8 settings of node-options.ts. */
class HubProcess {
  readonly proc: ChildProcess;
  readonly pid: number;
  constructor(fleet: Fleet, configFile: string) {
    this.proc = spawn(
      process.execPath,
      [...nodeFlags(HUB_HEAP), ...EXTRA_NODE_ARGS, "dist/hub/cli.js", "run", "--config", configFile, "--kubeconfig", fleet.info.hub.kubeconfig, "--namespace", "kmm-hub"],
      // The Deployment's environment (MALLOC_*); its NODE_OPTIONS are the flags above.
      { stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, ...spawnEnv(HUB_HEAP) } },
    );
    if (this.proc.pid === undefined) throw new Error("the hub did not start");
    this.pid = this.proc.pid;
  }

  /** Resolves once the metrics endpoint answers (caches synced, controllers running). */
  async ready(): Promise<void> {
    for (let i = 0; ; i++) {
      if (this.proc.exitCode !== null) throw new Error(`the hub exited with ${this.proc.exitCode}`);
      try {
        await scrapeOnce();
        return;
      } catch {
        if (i > 480) throw new Error("the hub did not start serving metrics within 2 minutes");
        await sleep(250);
      }
    }
  }

  /** A heap snapshot into BENCH_HEAP_SNAPSHOTS (the hub pauses while it writes it). */
  heapSnapshot(what: string): void {
    if (HEAP_SNAPSHOTS === undefined) return;
    console.log(`heap snapshot of the hub: ${what}`);
    this.proc.kill("SIGUSR2");
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const exited = new Promise<boolean>((r) => this.proc.once("exit", () => r(true)));
    this.proc.kill("SIGTERM");
    if (!(await Promise.race([exited, sleep(10_000).then(() => false)]))) this.proc.kill("SIGKILL");
  }
}

async function writeHubConfig(dir: string): Promise<string> {
  const file = join(dir, "kmm-hub-bench.yaml");
  await writeFile(
    file,
    [
      'healthProbeBindAddress: "127.0.0.1:0"',
      "metrics:",
      `  bindAddress: "127.0.0.1:${METRICS_PORT}"`,
      "  secureServing: false",
      "  enableAuthnAuthz: false",
      "leaderElection:",
      "  enabled: false",
      `maxConcurrentReconciles: ${MCMS}`,
      "digestRefreshInterval: 30m",
      "logLevel: warn",
    ].join("\n"),
  );
  return file;
}

function clusterName(i: number): string {
  return `cluster-${String(i).padStart(5, "0")}`;
}

function claimOf(i: number, shift = 0): string {
  return [KERNELS[(i + shift) % KERNELS.length]!, KERNELS[(i + shift + 1) % KERNELS.length]!].sort().join("\n");
}

/** Namespaces, ManagedClusters (labelled `bench=<label>`) and their kernel claims in status, as the registration agent writes them. */
async function createClusters(raw: RawClient, indexes: number[], label: string): Promise<ManagedClusterObject[]> {
  const out: ManagedClusterObject[] = [];
  await forEachLimit(indexes, PLAIN_CONCURRENCY, async (i) => {
    const name = clusterName(i);
    await raw.request("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name } });
    await raw.request("POST", "/apis/cluster.open-cluster-management.io/v1/managedclusters", {
      apiVersion: "cluster.open-cluster-management.io/v1",
      kind: "ManagedCluster",
      metadata: { name, labels: { bench: label } },
      spec: { hubAcceptsClient: false },
    });
    const claims = [{ name: KERNEL_VERSIONS_CLAIM, value: claimOf(i) }];
    await raw.request("PATCH", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${name}/status`, { status: { clusterClaims: claims } }, "application/merge-patch+json");
    out.push(ManagedCluster.parse({ apiVersion: "cluster.open-cluster-management.io/v1", kind: "ManagedCluster", metadata: { name, labels: { bench: label } }, status: { clusterClaims: claims } }));
  });
  return out;
}

function mcmsFor(registryHost: string): ManagedClusterModule[] {
  return Array.from({ length: MCMS }, (_, j) =>
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
              kernelMappings: [{ regexp: "^.+$", containerImage: `${registryHost}/bench/mcm-${j}:\${KERNEL_FULL_VERSION}` }],
            },
          },
        },
      },
    }),
  );
}

/**
 * The same works the hub will write (rendered by its own builder, digests resolved up front),
 * written under other names by a plain client with server-side apply, 64 in flight over one
 * keep-alive pool of 64 connections, then deleted. Each carries an ownerReference to a real
 * MCM that selects nothing, as the hub's do (the garbage collector tracks them). Returns seconds.
 */
async function plainApply(raw: RawClient, regClient: RegistryClient, registryHost: string, mcms: ManagedClusterModule[], clusters: ManagedClusterObject[]): Promise<number> {
  const digests = new Map<string, { digest: string }>();
  for (let j = 0; j < MCMS; j++) {
    for (const k of KERNELS) {
      const image = `${registryHost}/bench/mcm-${j}:${k}`;
      digests.set(image, { digest: await regClient.resolveDigest(image, { tls }) });
    }
  }
  const owners: ManagedClusterModule[] = [];
  for (const m of mcms) {
    const owner = { ...m, metadata: { name: `plain-${m.metadata.name ?? ""}` }, spec: { ...m.spec, selector: { "bench.kmm/none": "true" } } };
    owners.push(managedClusterModuleSchema.parse((await raw.request("POST", "/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules", owner)).body));
  }
  let seconds = 0;
  // One MCM's works at a time keeps the bench's own memory small at 50,000 works.
  for (const [j, o] of owners.entries()) {
    const works = render({ ...o, spec: mcms[j]!.spec }, clusters, digests).works;
    if (!works.every((w) => w.metadata.ownerReferences?.[0]?.uid !== undefined)) throw new Error("baseline works lack their ownerReference");
    for (const w of works) {
      w.metadata.labels = { "bench.kmm/plain": "true" };
      w.metadata.name = `plain-${w.metadata.name ?? ""}`;
    }
    const t = performance.now();
    await forEachLimit(works, PLAIN_CONCURRENCY, async (w) => {
      await raw.applyAt(manifestWorkPath(w.metadata.namespace ?? "", w.metadata.name ?? ""), w, "bench-plain");
    });
    seconds += (performance.now() - t) / 1000;
  }
  const t = performance.now();
  await forEachLimit(clusters, PLAIN_CONCURRENCY, async (c) => {
    await raw.request("DELETE", `/apis/work.open-cluster-management.io/v1/namespaces/${c.metadata.name ?? ""}/manifestworks?labelSelector=${encodeURIComponent("bench.kmm/plain=true")}`);
  });
  for (const o of owners) await raw.request("DELETE", `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${o.metadata.name ?? ""}`);
  console.log(`baseline works and owners deleted in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  return seconds;
}

/** ManifestWork events of the hub's works, by namespace, from a watch opened now. */
class WorkWatch {
  private readonly seen = new Map<string, Set<string>>();
  private readonly abort = new AbortController();
  private readonly done: Promise<void>;
  constructor(raw: RawClient, resourceVersion: string) {
    this.done = raw
      .watch(
        "/apis/work.open-cluster-management.io/v1/manifestworks",
        { resourceVersion, labelSelector: MCM_NAME_LABEL, allowWatchBookmarks: "false", timeoutSeconds: "3600" },
        (e: WatchEvent) => this.onEvent(e),
        this.abort.signal,
      )
      .catch((err: unknown) => console.error(`work watch ended: ${String(err)}`));
  }

  private onEvent(e: WatchEvent): void {
    if (e.type !== "ADDED" && e.type !== "MODIFIED") return;
    const meta = z.looseObject({ metadata: z.looseObject({ name: z.string(), namespace: z.string() }) }).safeParse(e.object);
    if (!meta.success) return;
    const { name, namespace } = meta.data.metadata;
    let names = this.seen.get(namespace);
    if (names === undefined) this.seen.set(namespace, (names = new Set()));
    names.add(name);
  }

  /** Forget what was seen in `namespace` (before a change there). */
  reset(namespace: string): void {
    this.seen.delete(namespace);
  }

  /** Resolves once `count` distinct works of `namespace` were added or modified since the last reset. */
  async waitFor(namespace: string, count: number, timeoutMs: number): Promise<void> {
    const giveUp = performance.now() + timeoutMs;
    while ((this.seen.get(namespace)?.size ?? 0) < count) {
      if (performance.now() > giveUp) throw new Error(`only ${this.seen.get(namespace)?.size ?? 0} of ${count} works of ${namespace} changed within ${timeoutMs / 1000} s`);
      await sleep(5);
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.done;
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

/**
 * REACTIONS single changes one at a time, half kernel-claim changes on selected clusters, half a
 * label that selects one of the spare clusters; each timed from the API server's answer to the
 * change until the watch saw every one of its MCMS works written.
 */
async function reactions(raw: RawClient, clusters: number, spare: number[]): Promise<void> {
  const list = z.looseObject({ metadata: z.looseObject({ resourceVersion: z.string() }) }).parse((await raw.request("GET", "/apis/work.open-cluster-management.io/v1/manifestworks?limit=1")).body);
  const watch = new WorkWatch(raw, list.metadata.resourceVersion);
  const times: number[] = [];
  /** Per change: MCM status writes and the hub's major-GC seconds between the change and its works being seen. */
  const during: { ms: number; statusWrites: number; majorGcSeconds: number }[] = [];
  let applies = 0;
  let statuses = 0;
  let other = 0;
  /** Claim shift per cluster changed so far (0 = as created); +1 always gives another kernel pair. */
  const shifts = new Map<number, number>();
  try {
    for (let n = 0; n < REACTIONS; n++) {
      const before = await scrape();
      const label = n % 2 === 1 && spare.length > 0;
      const i = label ? spare.shift()! : Math.floor((n * 7919) % clusters);
      const name = clusterName(i);
      watch.reset(name);
      const t = performance.now();
      if (label) {
        await raw.request("PATCH", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${name}`, { metadata: { labels: { bench: "true" } } }, "application/merge-patch+json");
      } else {
        const shift = (shifts.get(i) ?? 0) + 1;
        shifts.set(i, shift);
        const claims = [{ name: KERNEL_VERSIONS_CLAIM, value: claimOf(i, shift) }];
        await raw.request("PATCH", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${name}/status`, { status: { clusterClaims: claims } }, "application/merge-patch+json");
      }
      await watch.waitFor(name, MCMS, 60_000);
      const ms = performance.now() - t;
      times.push(ms);
      const seen = await scrape();
      during.push({
        ms,
        statusWrites: metric(seen, "kmm_hub_api_writes_total", '{verb="status"}') - metric(before, "kmm_hub_api_writes_total", '{verb="status"}'),
        majorGcSeconds: metric(seen, "nodejs_gc_duration_seconds_sum", '{kind="major"}') - metric(before, "nodejs_gc_duration_seconds_sum", '{kind="major"}'),
      });
      // Writes settle (status writes come after the works): wait until the hub's counters stop moving.
      let after = await scrape();
      for (let quiet = 0; quiet < 3; ) {
        await sleep(100);
        const next = await scrape();
        quiet = sumMetric(next, "kmm_hub_api_writes_total") === sumMetric(after, "kmm_hub_api_writes_total") ? quiet + 1 : 0;
        after = next;
      }
      applies += metric(after, "kmm_hub_api_writes_total", '{verb="apply"}') - metric(before, "kmm_hub_api_writes_total", '{verb="apply"}');
      statuses += metric(after, "kmm_hub_api_writes_total", '{verb="status"}') - metric(before, "kmm_hub_api_writes_total", '{verb="status"}');
      other += metric(after, "kmm_hub_api_writes_total", '{verb="delete"}') - metric(before, "kmm_hub_api_writes_total", '{verb="delete"}');
    }
  } finally {
    await watch.stop();
  }
  const sorted = [...times].sort((a, b) => a - b);
  const p99 = percentile(sorted, 99);
  report({
    figure: `reaction to ${times.length} single changes at ${clusters} × ${MCMS} (claim change / one more cluster selected), p50 / p99`,
    target: "p99 ≤ 1 s",
    measured: `${(percentile(sorted, 50) / 1000).toFixed(2)} / ${(p99 / 1000).toFixed(2)} s (max ${((sorted.at(-1) ?? NaN) / 1000).toFixed(2)} s)`,
    held: p99 <= 1000,
  });
  // What the slow changes had in common: an MCM status write (up to ~0.6 MiB at 5,000 clusters,
  // written beside the reconciles) or a major GC of the hub between the change and its works.
  const split = (rows: typeof during) => {
    const ms = rows.map((r) => r.ms).sort((a, b) => a - b);
    return rows.length === 0 ? "none" : `${rows.length} changes, p50 ${(percentile(ms, 50) / 1000).toFixed(2)} / p99 ${(percentile(ms, 99) / 1000).toFixed(2)} s`;
  };
  const slowest = [...during].sort((a, b) => b.ms - a.ms).slice(0, 5);
  report({
    figure: "… reactions with / without an MCM status write of the hub meanwhile; the 5 slowest",
    target: "-",
    measured: `with: ${split(during.filter((r) => r.statusWrites > 0))}; without: ${split(during.filter((r) => r.statusWrites === 0))}; slowest: ${slowest
      .map((r) => `${(r.ms / 1000).toFixed(2)} s (${r.statusWrites} status writes, major GC ${(r.majorGcSeconds * 1000).toFixed(0)} ms)`)
      .join(", ")}`,
  });
  report({
    figure: `writes per change (${MCMS} works each)`,
    target: `${MCMS} applies + the MCM status writes it changes`,
    measured: `${(applies / times.length).toFixed(1)} applies, ${(statuses / times.length).toFixed(1)} status writes, ${(other / times.length).toFixed(1)} deletes`,
    held: applies === times.length * MCMS && other === 0,
  });
}

/**
 * The empty-hub figure: the hub started against a hub cluster with no ManagedCluster and no MCM,
 * with its RSS split into anonymous and file-backed pages (the node binary's own code and data).
 */
async function emptyHub(fleet: Fleet, configFile: string): Promise<void> {
  const hub = new HubProcess(fleet, configFile);
  try {
    await hub.ready();
    // As an operator would read it: settled after start, not mid-start, and after the memory-reducing
    // GC the hub runs 10 s after its caches synced (HEAP_SETTINGS.hub.releaseWhenIdleMs). Without it
    // the RSS did not move between 10 s and 2 minutes after start (2 Dec evening).
    await sleep(15_000);
    const m = await memoryOf(hub.pid);
    const text = await scrape();
    report({
      figure: "hub RSS after start and cache sync, empty hub",
      target: "≤ 60 MiB",
      measured: `${mib(m.rss)} MiB (anonymous ${mib(m.anon)}, file-backed ${mib(m.file)}; V8 heap ${mib(metric(text, "nodejs_heap_size_total_bytes"))} MiB, ${mib(metric(text, "nodejs_heap_size_used_bytes"))} used (by space, total/used: ${heapSpaces(text)}); external ${mib(metric(text, "nodejs_external_memory_bytes"))} MiB)`,
      held: m.rss <= 60 * 1024 * 1024,
    });
  } finally {
    await hub.stop();
  }
  // The same flags and environment with no KMM-Hub code: four TLS watches and an HTTP server.
  const floor = await runtimeFloor(fleet.info.hub.kubeconfig, [...nodeFlags(HUB_HEAP), ...EXTRA_NODE_ARGS], spawnEnv(HUB_HEAP), 15_000);
  report({
    figure: "runtime floor: node with the hub's flags and environment, 4 TLS watches and an HTTP server, no KMM-Hub code",
    target: "-",
    measured: `${mib(floor.rss)} MiB (anonymous ${mib(floor.anon)}, file-backed ${mib(floor.file)})`,
  });
}

/** BENCH_SIZES=0: only the empty-hub figure, on a fleet of its own. */
async function emptyHubOnly(): Promise<void> {
  const fleet = await startFleet({ spokes: 0, log: (m) => console.log(`[fleet] ${m}`) });
  const raw = new RawClient(await connectionFrom(fleet.info.hub.kubeconfig));
  try {
    await raw.request("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "kmm-hub" } });
    await emptyHub(fleet, await writeHubConfig(fleet.info.dir));
  } finally {
    raw.close();
    await fleet.stop();
  }
}

async function runSize(clusters: number, first: boolean, last: boolean): Promise<void> {
  const total = clusters * MCMS;
  console.log(`\n=== ${clusters} ManagedClusters × ${MCMS} MCMs → ${total} ManifestWorks; hub runs with ${[...nodeFlags(HUB_HEAP), ...EXTRA_NODE_ARGS].join(" ")}`);
  const fleet = await startFleet({ spokes: 0, log: (m) => console.log(`[fleet] ${m}`) });
  const registry = await startRegistry();
  const regClient = new RegistryClient();
  // The plain client's pool: one connection per request in flight, as when these figures began (the hub's own cap is 32).
  const raw = new RawClient(await connectionFrom(fleet.info.hub.kubeconfig), { maxConnections: PLAIN_CONCURRENCY });
  let hub: HubProcess | undefined;
  try {
    const configFile = await writeHubConfig(fleet.info.dir);
    await raw.request("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "kmm-hub" } });
    if (first) await emptyHub(fleet, configFile);

    const layer = buildLayer([{ path: "opt/lib/modules/bench.ko", content: "bench" }]);
    for (let j = 0; j < MCMS; j++) {
      for (const k of KERNELS) await pushImage(regClient, `${registry.host}/bench/mcm-${j}:${k}`, { layers: [layer] }, { tls });
    }
    let t = performance.now();
    const selected = await createClusters(raw, Array.from({ length: clusters }, (_, i) => i), "true");
    // Spare clusters, selected one by one in the reaction test.
    const spareCount = last ? Math.ceil(REACTIONS / 2) : 0;
    const spare = Array.from({ length: spareCount }, (_, i) => clusters + i);
    await createClusters(raw, spare, "spare");
    console.log(`setup: ${clusters + spareCount} namespaces + ManagedClusters in ${((performance.now() - t) / 1000).toFixed(1)} s`);

    const mcms = mcmsFor(registry.host);
    // The API server's own time per request kind, for each phase: what each client cost it.
    const apiServerMetrics = async (): Promise<string> => String((await raw.request("GET", "/metrics")).body);
    // Each client is timed on an API server that has caught up with the setup (the namespaces'
    // ServiceAccounts and ConfigMaps, the registration controller's work on new clusters).
    console.log(`API server quiet after ${(await apiServerQuiet(apiServerMetrics)).toFixed(1)} s`);
    const plainBefore = await apiServerMetrics();
    const plainSeconds = await plainApply(raw, regClient, registry.host, mcms, selected);
    console.log(`plain client, server-side apply (${PLAIN_CONCURRENCY} in flight): ${total} ManifestWorks in ${plainSeconds.toFixed(1)} s`);
    const plainServer = apiServerSecondsSpent(plainBefore, await apiServerMetrics());
    await sleep(5000);

    hub = new HubProcess(fleet, configFile);
    await hub.ready();
    await sleep(2000);
    const started = await memoryOf(hub.pid);
    console.log(`hub started, caches synced: RSS ${mib(started.rss)} MiB`);

    // Memory as the hub sees it, sampled from its metrics while it works: what the peak is made of.
    let peak = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, spaces: "" };
    const hubPid = hub.pid;
    const startSockets = await socketsOf(hubPid);
    let maxSockets = startSockets;
    // The split of the largest RSS sampled from /proc: anonymous (heaps, malloc) or file-backed (the binary's pages).
    let peakProc = { rss: 0, anon: 0, file: 0 };
    const sampler = setInterval(() => {
      socketsOf(hubPid).then((n) => {
        maxSockets = Math.max(maxSockets, n);
      }, () => undefined);
      memoryOf(hubPid).then((p) => {
        if (p.rss > peakProc.rss) peakProc = p;
      }, () => undefined);
      scrape().then((m) => {
        const rss = metric(m, "process_resident_memory_bytes");
        if (rss > peak.rss) peak = { rss, heapTotal: metric(m, "nodejs_heap_size_total_bytes"), heapUsed: metric(m, "nodejs_heap_size_used_bytes"), external: metric(m, "nodejs_external_memory_bytes"), spaces: heapSpaces(m) };
      }, () => undefined);
    }, 500);
    console.log(`API server quiet after ${(await apiServerQuiet(apiServerMetrics)).toFixed(1)} s`);
    const hubBefore = await apiServerMetrics();
    t = performance.now();
    for (const m of mcms) await raw.request("POST", "/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules", m);
    // The hub's own count of applies tells when the last one returned; the MCMs' status then
    // confirms every work is written as desired (polled only at the end: objects of ~0.5 MB each).
    const giveUp = performance.now() + 60 * 60_000;
    let snapshot = HEAP_SNAPSHOTS !== undefined;
    for (let applied = 0; applied < total; applied = metric(await scrape(), "kmm_hub_api_writes_total", '{verb="apply"}')) {
      if (performance.now() > giveUp) throw new Error("the hub did not write all ManifestWorks within an hour");
      if (snapshot && applied >= total / 2) {
        hub.heapSnapshot(`${applied} of ${total} works written`);
        snapshot = false;
      }
      await sleep(100);
    }
    const writtenSeconds = (performance.now() - t) / 1000;
    const hubServer = apiServerSecondsSpent(hubBefore, await apiServerMetrics());
    const done = new Set<string>();
    while (done.size < MCMS) {
      for (const m of mcms) {
        const name = m.metadata.name ?? "";
        if (done.has(name)) continue;
        // A busy API server may time a poll out: that is not a result, poll again.
        const got = await raw.request("GET", `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${name}`).catch(() => undefined);
        const s = got === undefined ? undefined : statusSchema.parse(got.body).status;
        if (s?.numberDesired === clusters && s.conditions?.some((c) => c.type === "ManifestWorksWritten" && c.status === "True")) done.add(name);
      }
      if (done.size < MCMS) {
        if (performance.now() > giveUp) throw new Error("the MCM statuses did not confirm every ManifestWork within an hour");
        await sleep(500);
      }
    }
    clearInterval(sampler);
    const confirmedSeconds = (performance.now() - t) / 1000;
    const afterRun = await scrape();
    const applies = metric(afterRun, "kmm_hub_api_writes_total", '{verb="apply"}');
    const statuses = metric(afterRun, "kmm_hub_api_writes_total", '{verb="status"}');
    const reconciles = sumMetric(afterRun, "controller_runtime_reconcile_total");
    console.log(`hub: ${applies} applies, ${statuses} status writes over ${reconciles} reconciles, 0 reads (caches only); every MCM status confirmed after ${confirmedSeconds.toFixed(1)} s; hub CPU ${(await cpuSecondsOf(hub.pid)).toFixed(1)} s`);
    const ratio = writtenSeconds / plainSeconds;
    report({
      figure: `${total} ManifestWorks written (${clusters} × ${MCMS}): hub / plain SSA client`,
      target: "≤ 1.2× plain",
      measured: `${writtenSeconds.toFixed(1)} s / ${plainSeconds.toFixed(1)} s = ${ratio.toFixed(2)}×`,
      held: ratio <= 1.2,
    });
    report({
      figure: `… the API server's request time while each wrote them (apiserver_request_duration_seconds, watches aside): hub; plain client`,
      target: "-",
      measured: `hub ${hubServer}; plain ${plainServer}`,
    });
    const rolloutPeak = (await memoryOf(hub.pid)).hwm;
    const peakTarget = clusters <= 200 ? 105 : clusters <= 1000 ? 160 : clusters <= 5000 ? 300 : undefined;
    report({
      figure: `hub peak RSS during the rollout at ${clusters} × ${MCMS}`,
      target: peakTarget === undefined ? "-" : `≤ ${peakTarget} MiB${clusters === 200 || clusters === 1000 || clusters === 5000 ? "" : " (target of the next size up)"}`,
      measured: `${mib(rolloutPeak)} MiB (at the sampled peak: V8 heap ${mib(peak.heapTotal)} MiB, ${mib(peak.heapUsed)} used (by space, total/used: ${peak.spaces}); external ${mib(peak.external)} MiB; largest sampled from /proc ${mib(peakProc.rss)} MiB: anonymous ${mib(peakProc.anon)}, file-backed ${mib(peakProc.file)}; started at ${mib(started.rss)} MiB: anonymous ${mib(started.anon)}, file-backed ${mib(started.file)}; sockets ${startSockets} at start, at most ${maxSockets})`,
      ...(peakTarget !== undefined ? { held: rolloutPeak <= peakTarget * 1024 * 1024 } : {}),
    });

    console.log(`idle for ${IDLE_SECONDS} s…`);
    const writesBefore = sumMetric(afterRun, "kmm_hub_api_writes_total");
    const eventsBefore = await hubEventCount(raw);
    const gcBefore = await scrape();
    await sleep(IDLE_SECONDS * 1000);
    const idleEnd = await scrape();
    const writesIdle = sumMetric(idleEnd, "kmm_hub_api_writes_total") - writesBefore;
    // Full collections in the idle time: the hub's memory-reducing GC after the burst (idle-release.ts)
    // and any of V8's memory reducer, with their time (the event loop is blocked meanwhile).
    const majorGcs = metric(idleEnd, "nodejs_gc_duration_seconds_count", '{kind="major"}') - metric(gcBefore, "nodejs_gc_duration_seconds_count", '{kind="major"}');
    const majorGcMs = (metric(idleEnd, "nodejs_gc_duration_seconds_sum", '{kind="major"}') - metric(gcBefore, "nodejs_gc_duration_seconds_sum", '{kind="major"}')) * 1000;
    const eventsIdle = (await hubEventCount(raw)) - eventsBefore;
    report({ figure: `hub writes / Events in ${IDLE_SECONDS} s idle at ${clusters} × ${MCMS}`, target: "0 / 0", measured: `${writesIdle} / ${eventsIdle}`, held: writesIdle === 0 && eventsIdle === 0 });
    const steady = await memoryOf(hub.pid);
    const steadySockets = await socketsOf(hub.pid);
    const steadyMetrics = await scrape();
    hub.heapSnapshot("after the idle time");
    const steadyTarget = clusters === 1000 ? 120 : undefined;
    report({
      figure: `hub steady RSS after the rollout and ${IDLE_SECONDS} s idle at ${clusters} × ${MCMS}`,
      target: steadyTarget === undefined ? "-" : `≤ ${steadyTarget} MiB`,
      measured: `${mib(steady.rss)} MiB (anonymous ${mib(steady.anon)}, file-backed ${mib(steady.file)}; V8 heap ${mib(metric(steadyMetrics, "nodejs_heap_size_total_bytes"))} MiB, ${mib(metric(steadyMetrics, "nodejs_heap_size_used_bytes"))} used (by space, total/used: ${heapSpaces(steadyMetrics)}); external ${mib(metric(steadyMetrics, "nodejs_external_memory_bytes"))} MiB; ${steadySockets} sockets; ${majorGcs} full GCs in the idle time, ${majorGcMs.toFixed(0)} ms)`,
      ...(steadyTarget !== undefined ? { held: steady.rss <= steadyTarget * 1024 * 1024 } : {}),
    });
    if (last && REACTIONS > 0) {
      await reactions(raw, clusters, spare);
      report({ figure: `hub peak RSS over the whole run at ${clusters} × ${MCMS} (rollout, idle, reactions)`, target: "-", measured: `${mib((await memoryOf(hub.pid)).hwm)} MiB` });
    }
  } finally {
    await hub?.stop();
    raw.close();
    regClient.close();
    await registry.stop();
    await fleet.stop();
  }
}

async function main(): Promise<void> {
  buildDist();
  const sizes = [...SIZES].sort((a, b) => a - b);
  if (sizes.length === 0) await emptyHubOnly();
  for (const [n, clusters] of sizes.entries()) await runSize(clusters, n === 0, n === sizes.length - 1);
  table.print(`hub at scale, ${new Date().toISOString()}, ${nodeFlags(HUB_HEAP).join(" ")}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
