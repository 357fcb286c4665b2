// V8 settings the operator processes run with (NODE_OPTIONS in their Deployments, and in the hub
// benchmark). Measured with bench/hub-scale.ts on 10,000 ManifestWorks: with V8's defaults the
// hub's RSS peaked near 400 MiB for a live heap of ~60 MiB, most of it a young generation sized
// for throughput on big machines. 4 MiB semi-spaces cut the peak to ~210 MiB and were no slower;
// the old-space cap is the GOMEMLIMIT of Node: garbage is collected before the container limit.

export interface HeapSettings {
  /** --max-old-space-size, MiB: well above the live heap (the hub: ~40 MiB + ~3 KiB per ManifestWork). */
  oldSpaceMiB: number;
  /** --max-semi-space-size, MiB */
  semiSpaceMiB: number;
  /** The container's memory limit, MiB: old space + young generation + code, buffers and stacks. */
  containerLimitMiB: number;
}

export const HEAP_SETTINGS = {
  hub: { oldSpaceMiB: 256, semiSpaceMiB: 4, containerLimitMiB: 512 },
  spoke: { oldSpaceMiB: 128, semiSpaceMiB: 4, containerLimitMiB: 384 },
} as const satisfies Record<string, HeapSettings>;

/** The node flags for one process, e.g. for NODE_OPTIONS. */
export function nodeFlags(s: HeapSettings): string[] {
  return [`--max-old-space-size=${s.oldSpaceMiB}`, `--max-semi-space-size=${s.semiSpaceMiB}`];
}
