// Benchmark: the four images — cold build (empty buildah storage and base cache: mmdebstrap, every
// layer, push), warm build with nothing changed, warm rebuild after a one-line TypeScript change,
// and per image its uncompressed and compressed size and the layers the images share.
// Targets (issue 10): worker ≤ 180 MB uncompressed, the four ≤ 400 MB of distinct layers, warm
// rebuild after a one-line change ≤ 30 s (measured on hub-only code, and again on code all four
// load). Each line gives wall time, CPU-seconds (this process and buildah & co.) and the load
// average before and after: on a shared machine the CPU-seconds are the fairer figure. Builds a
// copy of the sources, so the work tree is not touched.
// Run: node bench/images.ts
import { appendFile, mkdtemp, readFile, rm } from "node:fs/promises";
import { loadavg } from "node:os";
import { tmpdir } from "node:os";
import path from "node:path";
import { buildah } from "../images/buildah.ts";
import { IMAGE_NAMES, buildImages, snapshotSources, sourceRevision, type BuildResult } from "../images/build.ts";
import { formatSizes, mb, measureImages } from "../images/sizes.ts";
import { startRegistry } from "../shared/registry/testing/registry-server.ts";

/** Hub-only code: only the hub image's staged program changes, so only the hub is built again. */
const EDITED_HUB = "hub/manifestwork.ts";
/** Code all four programs load: all four are built again. */
const EDITED = "shared/runtime/logger.ts";
const MB = 1_000_000;

/**
 * CPU seconds (user + system) of this process and of the children it has waited for (buildah,
 * mmdebstrap, …), from /proc/self/stat: on a loaded machine the wall time says more about the
 * other processes than about the build, the CPU time does not.
 */
async function cpuSeconds(): Promise<number> {
  const stat = await readFile("/proc/self/stat", "utf8");
  // Fields after the command name "(…)": utime stime cutime cstime are fields 14–17 of the whole line.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = [11, 12, 13, 14].reduce((n, i) => n + Number(fields[i]), 0);
  return ticks / 100;
}

async function main(): Promise<void> {
  const registry = await startRegistry();
  const work = await mkdtemp(path.join(tmpdir(), "kmm-bench-images-"));
  const root = path.join(work, "src");
  const cacheDir = path.join(work, "cache");
  let last: BuildResult | undefined;
  try {
    await snapshotSources(root);
    const { revision } = await sourceRevision();
    const load = (): string => loadavg().map((l) => l.toFixed(1)).join(" ");
    const build = async (label: string): Promise<{ result: BuildResult; seconds: number; cpuUsed: number }> => {
      const loadBefore = load();
      const started = performance.now();
      const cpu = await cpuSeconds();
      const result = await buildImages({ root, cacheDir, registry: `${registry.host}/bench`, tlsVerify: false, push: true, revision: revision.replace(/-dirty$/, "") });
      last = result;
      const seconds = (performance.now() - started) / 1000;
      const cpuUsed = (await cpuSeconds()) - cpu;
      const rebuilt = result.built ? "" : "  (build record: buildah not run)";
      console.log(`${label.padEnd(48)} ${seconds.toFixed(1).padStart(6)} s wall ${cpuUsed.toFixed(1).padStart(6)} s CPU  load (1/5/15 min) ${loadBefore} → ${load()}${rebuilt}`);
      return { result, seconds, cpuUsed };
    };
    console.log(`sources of ${revision}, copied to ${root}\n`);
    const { result: cold } = await build("cold build + push (mmdebstrap, all layers)");
    await build("warm, nothing changed");
    await appendFile(path.join(root, EDITED_HUB), "export const BENCH_EDIT = 1;\n");
    const { seconds: warm, cpuUsed: warmCpu } = await build(`warm, one line added to ${EDITED_HUB}`);
    await appendFile(path.join(root, EDITED), "export const BENCH_EDIT = 1;\n");
    const { seconds: warmShared, cpuUsed: warmSharedCpu } = await build(`warm, one line added to ${EDITED}`);

    const refs = Object.fromEntries(IMAGE_NAMES.map((n) => [n, cold.images[n].ref]));
    const sizes = await measureImages(refs, { insecure: true });
    console.log(`\n${formatSizes(sizes)}\n`);
    const worker = sizes.images.find((i) => i.name === "worker");
    const check = (ok: boolean, what: string) => console.log(`${ok ? "ok  " : "MISS"} ${what}`);
    check((worker?.uncompressed ?? Infinity) <= 180 * MB, `worker ${mb(worker?.uncompressed ?? 0)} uncompressed ≤ 180 MB`);
    check(sizes.distinct.uncompressed <= 400 * MB, `distinct layers of the four ${mb(sizes.distinct.uncompressed)} ≤ 400 MB`);
    check(warm <= 30, `warm rebuild after a one-line change in hub-only code ${warm.toFixed(1)} s ≤ 30 s (${warmCpu.toFixed(1)} CPU-seconds; load ${load()})`);
    check(warmShared <= 30, `warm rebuild after a one-line change in code all four load ${warmShared.toFixed(1)} s ≤ 30 s (${warmSharedCpu.toFixed(1)} CPU-seconds; load ${load()})`);
  } finally {
    if (last !== undefined) await buildah(last.storage, ["rmi", "--all", "--force"]).catch(() => "");
    await rm(work, { recursive: true, force: true });
    await registry.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
