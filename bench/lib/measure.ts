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
