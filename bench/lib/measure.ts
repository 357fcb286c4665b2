// What the benchmarks share: the figure table they print, process memory from /proc, and the
// Prometheus text of an operator's metrics endpoint. (A folder, so bench/run.ts does not run it.)
import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { stripTypeScriptTypes } from "node:module";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { socketInodes } from "../../shared/testing/sockets.ts";

/** One line of a benchmark's final table. */
export interface Row {
  figure: string;
  target: string;
  measured: string;
  /** 1-minute load average when it was measured (the machine is shared). */
  load: string;
  /** whether the target held; absent when the figure has no target */
  held?: boolean;
}

/** The rows of one benchmark run: `report` prints each as it is measured, `print` the table at the end. */
export class FigureTable {
  readonly rows: Row[] = [];

  report(r: Omit<Row, "load">): void {
    const row = { ...r, load: loadavg()[0]!.toFixed(1) };
    this.rows.push(row);
    console.log(`→ ${row.figure}: ${row.measured} (target ${row.target}; load ${row.load})`);
  }

  /** Prints the Markdown table (as the README carries it) under `title`. */
  print(title: string): void {
    console.log(`\n${title}; load = 1-minute load average of this 2-core machine at the time`);
    console.log("| figure | target | measured | held | load |\n|---|---|---|---|---|");
    for (const r of this.rows) console.log(`| ${r.figure} | ${r.target} | ${r.measured} | ${r.held === undefined ? "-" : r.held ? "yes" : "**no**"} | ${r.load} |`);
  }
}

/** Bytes → MiB, no decimals. */
export const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(0);

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Memory of a running process from /proc/<pid>/status, bytes: VmRSS, VmHWM (peak RSS), RssAnon, RssFile. */
export async function memoryOf(pid: number): Promise<{ rss: number; hwm: number; anon: number; file: number }> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb("VmRSS"), hwm: kb("VmHWM"), anon: kb("RssAnon"), file: kb("RssFile") };
}

/** Open sockets of one process (socketInodes): TCP connections to the API server, the metrics listener and the like. */
export async function socketsOf(pid: number): Promise<number> {
  return (await socketInodes(pid)).size;
}

/** CPU seconds (user + system) of one process, from /proc/<pid>/stat (100 ticks/s on Linux). */
export async function cpuSecondsOf(pid: number): Promise<number> {
  const stat = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]?.split(" ") ?? [];
  return (Number(stat[11]) + Number(stat[12])) / 100;
}

/** The metrics endpoint's text at http://127.0.0.1:PORT/metrics; throws when it does not answer. */
export async function scrapeOnce(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  return res.text();
}

/** As scrapeOnce, tried again (up to 10 times, 0.5 s apart) when a saturated machine drops a scrape. */
export async function scrape(port: number): Promise<string> {
  for (let i = 0; ; i++) {
    try {
      return await scrapeOnce(port);
    } catch (err: unknown) {
      if (i >= 9) throw err;
      await sleep(500);
    }
  }
}

/** The value of one unlabelled (or exactly labelled) sample; 0 when absent. */
export function metric(text: string, name: string, labels = ""): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? 0 : Number(line.split(" ")[1]);
}

/**
 * The V8 heap by space from one scrape of prom-client's default metrics
 * (`nodejs_heap_space_size_{total,used}_bytes{space=…}`), as "new 8.0/1.2, old 20.1/15.3, …" in
 * MiB (total / used), spaces under 0.1 MiB left out: where the heap's total beyond its used goes.
 */
export function heapSpaces(text: string): string {
  const re = /^nodejs_heap_space_size_(total|used)_bytes\{space="([a-z_]+)"\} (\S+)$/gm;
  const spaces = new Map<string, { total: number; used: number }>();
  for (const [, kind, space, value] of text.matchAll(re)) {
    const s = spaces.get(space ?? "") ?? { total: 0, used: 0 };
    s[kind === "total" ? "total" : "used"] = Number(value);
    spaces.set(space ?? "", s);
  }
  const mib = (b: number): string => (b / 2 ** 20).toFixed(1);
  return [...spaces]
    .filter(([, s]) => s.total >= 0.1 * 2 ** 20)
    .map(([name, s]) => `${name} ${mib(s.total)}/${mib(s.used)}`)
    .join(", ");
}

/** The sum of every sample of one metric, whatever its labels. */
export function sumMetric(text: string, name: string): number {
  return text
    .split("\n")
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .reduce((s, l) => s + Number(l.split(" ").at(-1)), 0);
}

/**
 * Bundles the programs into dist/ (npm run build: images/stage.ts, the bundles the images hold)
 * unless BENCH_SKIP_BUILD=1: operators run as their images run them.
 * @throws Error when the bundler fails
 */
export function buildDist(): void {
  if (process.env.BENCH_SKIP_BUILD === "1") return;
  const build = spawnSync("npm", ["run", "--silent", "build"], { stdio: "inherit" });
  if (build.status !== 0) throw new Error("npm run build failed");
}

/**
 * The runtime floor (bench/lib/runtime-floor.ts) with these node flags and environment: its memory
 * (as memoryOf) `settleMs` after every watch answered, the settle time the operator figures use.
 * Throws when it exits or is not ready within 60 s.
 */
export async function runtimeFloor(kubeconfig: string, flags: readonly string[], env: Record<string, string>, settleMs: number): Promise<Awaited<ReturnType<typeof memoryOf>>> {
  // Run as JavaScript, as the operators' dist/ bundles are: a .ts entry would load Node's
  // TypeScript stripper (WebAssembly) into the process measured.
  const dir = await mkdtemp(join(tmpdir(), "kmm-runtime-floor-"));
  const program = join(dir, "runtime-floor.mjs");
  await writeFile(program, stripTypeScriptTypes(await readFile(new URL("./runtime-floor.ts", import.meta.url), "utf8")));
  const proc = spawn(process.execPath, [...flags, program, kubeconfig], { stdio: ["ignore", "pipe", "inherit"], env: { PATH: process.env.PATH ?? "", ...env } });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the runtime floor was not ready within 60 s")), 60_000);
      proc.stdout.on("data", (d: Buffer) => {
        if (d.toString().includes("ready")) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`the runtime floor exited with ${code}`));
      });
    });
    await sleep(settleMs);
    if (proc.pid === undefined) throw new Error("the runtime floor has no pid");
    return await memoryOf(proc.pid);
  } finally {
    proc.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The kube-apiserver's own request time, seconds, summed per `verb resource[/subresource]` from
 * `apiserver_request_duration_seconds_sum` in its /metrics text (watches excluded: their time is
 * how long they stay open). Subtract two readings to see what one phase of a benchmark cost it.
 */
export function apiServerSeconds(text: string): Map<string, { seconds: number; count: number }> {
  const out = new Map<string, { seconds: number; count: number }>();
  const sample = /^apiserver_request_duration_seconds_(sum|count)\{([^}]*)\} (\S+)$/;
  for (const line of text.split("\n")) {
    const m = sample.exec(line);
    if (m === null) continue;
    const labels = new Map([...(m[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1] ?? "", l[2] ?? ""]));
    const verb = labels.get("verb") ?? "";
    if (verb === "WATCH" || verb === "CONNECT") continue;
    const sub = labels.get("subresource") ?? "";
    const key = `${verb} ${labels.get("resource") ?? ""}${sub === "" ? "" : `/${sub}`}`;
    const e = out.get(key) ?? { seconds: 0, count: 0 };
    if (m[1] === "sum") e.seconds += Number(m[3]);
    else e.count += Number(m[3]);
    out.set(key, e);
  }
  return out;
}

/**
 * What changed between two apiServerSeconds readings, largest time first, as one line:
 * "APPLY manifestworks 50000 × 3.1 ms = 155.2 s, …" (at most `top` entries).
 */
export function apiServerSecondsSpent(before: string, after: string, top = 6): string {
  const a = apiServerSeconds(before);
  const rows = [...apiServerSeconds(after)]
    .map(([k, v]) => ({ k, seconds: v.seconds - (a.get(k)?.seconds ?? 0), count: v.count - (a.get(k)?.count ?? 0) }))
    .filter((r) => r.count > 0)
    .sort((x, y) => y.seconds - x.seconds);
  const total = rows.reduce((s, r) => s + r.seconds, 0);
  return `${total.toFixed(1)} s in all: ${rows
    .slice(0, top)
    .map((r) => `${r.k} ${r.count} × ${((r.seconds / r.count) * 1000).toFixed(1)} ms = ${r.seconds.toFixed(1)} s`)
    .join(", ")}`;
}

/**
 * Waits until the API server has written nothing for `quietMs` (every request but reads and Lease
 * renewals, from apiServerSeconds of `readMetrics`, which leaves watches out; polled every
 * second): the controllers' catch-up after a setup step (kube-controller-manager's default
 * ServiceAccount and kube-root-ca.crt per new namespace, OCM's registration controller on new
 * ManagedClusters) then no longer shares the API server with the client being timed. At 5,000
 * new namespaces that catch-up took ~290 s (243 s after the last namespace was made): two of
 * kube-controller-manager's controllers each write one object per namespace, a ServiceAccount and
 * a ConfigMap, each client at its default 20 requests per second (--kube-api-qps).
 * Returns the seconds waited; gives up after `timeoutMs` and returns what it waited.
 */
export async function apiServerQuiet(readMetrics: () => Promise<string>, quietMs = 3000, timeoutMs = 900_000): Promise<number> {
  const writes = (text: string): number =>
    [...apiServerSeconds(text)].filter(([k]) => !/^(GET|LIST) /.test(k) && !k.endsWith(" leases")).reduce((n, [, v]) => n + v.count, 0);
  const start = performance.now();
  let last = writes(await readMetrics());
  let quietSince = performance.now();
  while (performance.now() - start < timeoutMs) {
    await sleep(1000);
    const now = writes(await readMetrics());
    if (now !== last) {
      last = now;
      quietSince = performance.now();
    } else if (performance.now() - quietSince >= quietMs) break;
  }
  return (performance.now() - start) / 1000;
}
