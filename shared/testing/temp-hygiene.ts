// Vitest global setup: every test run gets its own temporary folder (TMPDIR, which os.tmpdir() and
// the tools the tests start — openssl, make, skopeo, podman — all use), and the run fails when a
// test leaves anything in it. The folder is removed either way, so nothing stays on the machine.
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Files and folders directly in `dir`, sorted (empty when `dir` is gone). */
export function leftovers(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

export class TempLeftoversError extends Error {
  override readonly name = "TempLeftoversError";
}

interface RunFolder {
  dir: string;
  saved: (readonly [string, string | undefined])[];
  /** Projects of this run whose teardown has not run yet. */
  users: number;
}

/**
 * One folder per vitest process: the unit and e2e projects both list this setup, and their global
 * setups run in the same process. A second call must not nest a folder inside the first's (which the
 * first's check would then report as left behind); the last teardown checks and removes it.
 */
const RUN = Symbol.for("kmm-hub.temp-hygiene");
type WithRun = typeof globalThis & { [RUN]?: RunFolder };

export default function setup(): () => void {
  const g = globalThis as WithRun;
  let run = g[RUN];
  if (run === undefined) {
    const dir = mkdtempSync(join(tmpdir(), "kmm-test-run-"));
    const names = ["TMPDIR", "TMP", "TEMP"] as const;
    run = { dir, saved: names.map((k) => [k, process.env[k]] as const), users: 0 };
    // Set before the test workers start: they inherit it.
    for (const k of names) process.env[k] = dir;
    g[RUN] = run;
  }
  run.users += 1;
  const mine = run;
  return () => {
    mine.users -= 1;
    if (mine.users > 0) return;
    Reflect.deleteProperty(g, RUN);
    for (const [k, v] of mine.saved) {
      if (v === undefined) Reflect.deleteProperty(process.env, k);
      else process.env[k] = v;
    }
    const left = leftovers(mine.dir);
    rmSync(mine.dir, { recursive: true, force: true });
    if (left.length > 0) {
      // Vitest reports an error thrown here but keeps its exit status: make the run fail.
      process.exitCode = 1;
      throw new TempLeftoversError(`tests left ${left.length} entries in the temporary folder (removed now; fix the test that creates them): ${left.join(", ")}`);
    }
  };
}
