// V8 and C-library settings the operator processes run with (NODE_OPTIONS and MALLOC_ARENA_MAX in
// their Deployments, and in the benchmarks that run them). Each one is here because a benchmark
// paid for it (issue 16, README "Hub memory" and "Spoke edition memory"):
// - 4 MiB semi-spaces: with V8's defaults a burst of 10,000 ManifestWorks took the hub's RSS near
//   400 MiB for a live heap of ~60 MiB (a young generation sized for throughput on big machines);
//   4 MiB cut the peak to ~210 MiB and were no slower. The old-space cap is the GOMEMLIMIT of
//   Node: garbage is collected before the container limit.
// - MALLOC_ARENA_MAX=2: glibc gives each thread that mallocs (V8's compiler and GC workers, libuv's
//   pool) an arena of its own; two arenas cost the hub 1.5-2 MiB less RSS after start and no speed
//   (the JavaScript, and so nearly every allocation, runs on one thread).
// - The hub's fixed glibc thresholds (MALLOC_MMAP_THRESHOLD_=64 KiB, MALLOC_TRIM_THRESHOLD_=128 KiB,
//   mallopt(3)): glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), so
//   after a rollout the buffers of watch events and status writes were carved from the brk heap,
//   which only shrinks from its top. At 1,000 x 10 (hub-scale, 1 Dec 06:05, load 2-3) the main arena
//   held 28 MiB after 30 s idle; with the thresholds fixed 18 MiB, and the hub's steady RSS went from
//   148-149 to 136-138 MiB, its rollout peak from 156-160 to 145-147 MiB, at the same write speed
//   (within the noise of the run-to-run ratio: 0.98-1.38x without, 1.06-1.27x with). Fixing them
//   turns the dynamic adjustment off. The spoke edition measured no difference (74 MiB at start).
// - The spoke edition runs V8 in --lite-mode (interpreter only, no optimising compilers, feedback
//   allocated lazily) with 1 MiB semi-spaces: in one spoke-rss session (100 nodes, 10 Modules)
//   75 MiB after start against 108 MiB without them, 77 against 112 MiB with 1,000 loader pods
//   cached, and all 20 DaemonSets written 1.5 s after start either way (0.52 against 0.59
//   CPU-seconds): its work waits on the API server. NODE_OPTIONS refuses --lite-mode, so it goes
//   on the container's command (nodeCommand). The hub keeps V8's defaults: its write path must
//   stay within 1.2x of a plain client at 5,000 clusters, and --optimize-for-size (empty hub
//   86 -> 79 MiB) took 2,000 works from 6.0 s / 2.0 CPU-s to 7.1 s / 2.8 CPU-s in hub-scale;
//   --lite-mode (-> 68 MiB) gives up the optimising compilers altogether.
// - The hub's memory-reducing GC 10 s after its caches synced and after each burst of reconciles
//   (releaseWhenIdleMs; --expose-gc): V8's memory reducer never ran in an idle hub (no full GC in
//   2 minutes after start; the shrunk young generation's pages stayed in V8's page pool), so an
//   empty hub sat at 88-89 MiB; one last-resort GC took it to 75-78 MiB in 80-110 ms (hub-scale,
//   2 Dec evening). The spoke edition (lite mode, 1 MiB semi-spaces) gained 1 MiB and goes without.

export interface HeapSettings {
  /** --max-old-space-size, MiB: well above the live heap (the hub: ~40 MiB + ~3 KiB per ManifestWork). */
  oldSpaceMiB: number;
  /** --max-semi-space-size, MiB */
  semiSpaceMiB: number;
  /** The container's memory limit, MiB: old space + young generation + code, buffers and stacks. */
  containerLimitMiB: number;
  /** Further V8 flags, each justified in the header of this file. */
  v8Flags: readonly string[];
  /** MALLOC_ARENA_MAX: glibc malloc arenas for the whole process. */
  mallocArenas: number;
  /**
   * MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_, bytes (mallopt(3)): blocks from this size up
   * are mapped on their own and given back when freed; free memory above the trim threshold at the
   * top of the heap is given back. Unset: glibc's dynamic thresholds.
   */
  mallocThresholds?: { mmapBytes: number; trimBytes: number };
  /**
   * Quiet time, ms, after the caches synced and after each burst of reconciles before the manager
   * runs one memory-reducing full GC (shared/runtime/idle-release.ts). Set: NODE_OPTIONS gets
   * --expose-gc, which that GC needs. Unset: V8's own memory reducer only.
   */
  releaseWhenIdleMs?: number;
}

export const HEAP_SETTINGS = {
  hub: { oldSpaceMiB: 256, semiSpaceMiB: 4, containerLimitMiB: 512, v8Flags: [], mallocArenas: 2, mallocThresholds: { mmapBytes: 65536, trimBytes: 131072 }, releaseWhenIdleMs: 10_000 },
  spoke: { oldSpaceMiB: 128, semiSpaceMiB: 1, containerLimitMiB: 384, v8Flags: ["--lite-mode"], mallocArenas: 2 },
} as const satisfies Record<string, HeapSettings>;

/**
 * The flags Node accepts in NODE_OPTIONS: the heap sizes, and --expose-gc when releaseWhenIdleMs is
 * set (Node refuses --lite-mode there).
 */
export function nodeOptions(s: HeapSettings): string {
  return `--max-old-space-size=${s.oldSpaceMiB} --max-semi-space-size=${s.semiSpaceMiB}${s.releaseWhenIdleMs !== undefined ? " --expose-gc" : ""}`;
}

/** Every node flag of one process, for a command line (the benchmarks): nodeOptions and v8Flags. */
export function nodeFlags(s: HeapSettings): string[] {
  return [...nodeOptions(s).split(" "), ...s.v8Flags];
}

/** A container's command for `program` (a path in the image's WORKDIR): node, v8Flags, the program. */
export function nodeCommand(s: HeapSettings, program: string): string[] {
  return ["node", ...s.v8Flags, program];
}

/**
 * A container's environment entries for these settings: NODE_OPTIONS (nodeOptions),
 * MALLOC_ARENA_MAX and, when set, MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_. The
 * benchmarks spawn the processes with the same.
 */
export function processEnv(s: HeapSettings): { name: string; value: string }[] {
  return [
    { name: "NODE_OPTIONS", value: nodeOptions(s) },
    { name: "MALLOC_ARENA_MAX", value: String(s.mallocArenas) },
    ...(s.mallocThresholds !== undefined
      ? [
          { name: "MALLOC_MMAP_THRESHOLD_", value: String(s.mallocThresholds.mmapBytes) },
          { name: "MALLOC_TRIM_THRESHOLD_", value: String(s.mallocThresholds.trimBytes) },
        ]
      : []),
  ];
}

/**
 * processEnv without NODE_OPTIONS, as a record: the environment the benchmarks spawn a process with,
 * giving its NODE_OPTIONS as command-line flags (nodeFlags) instead.
 */
export function spawnEnv(s: HeapSettings): Record<string, string> {
  return Object.fromEntries(processEnv(s).filter((e) => e.name !== "NODE_OPTIONS").map((e) => [e.name, e.value]));
}
