// The settings of shared/runtime/node-options.ts as a container runs them: NODE_OPTIONS in the
// environment and the V8 flags on the command. Node refuses some flags in NODE_OPTIONS and V8
// exits on a flag it does not know, so each program's settings are started for real here.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { HEAP_SETTINGS, nodeCommand, processEnv, type HeapSettings } from "./node-options.ts";

/** Runs `script` the way the container runs its program: nodeCommand's flags, processEnv's environment. */
function runAsContainer(s: HeapSettings, script: string): { status: number | null; stdout: string; stderr: string } {
  const env = { ...process.env, ...Object.fromEntries(processEnv(s).map((e) => [e.name, e.value])) };
  const [, ...flags] = nodeCommand(s, "-e");
  const r = spawnSync(process.execPath, [...flags, script], { env, encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe.each(Object.entries(HEAP_SETTINGS))("HEAP_SETTINGS.%s", (_name, s) => {
  it("starts node with its command's flags and NODE_OPTIONS, and V8 applies the heap sizes", () => {
    const r = runAsContainer(s, 'const v8 = require("node:v8"); console.log(JSON.stringify({ limit: v8.getHeapStatistics().heap_size_limit, argv: process.execArgv }))');
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { limit: number; argv: string[] };
    // execArgv: the flags before the program, here the command's and `-e` with its script.
    expect(out.argv.slice(0, s.v8Flags.length)).toEqual([...s.v8Flags]);
    // heap_size_limit is the old space plus the young generation (3 semi-spaces' worth in V8 13).
    expect(out.limit).toBeGreaterThanOrEqual(s.oldSpaceMiB * 1024 * 1024);
    expect(out.limit).toBeLessThanOrEqual((s.oldSpaceMiB + 3 * s.semiSpaceMiB) * 1024 * 1024);
  });
});
