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

export default function setup(): () => void {
  const systemTmp = tmpdir();
  const dir = mkdtempSync(join(systemTmp, "kmm-test-run-"));
  const names = ["TMPDIR", "TMP", "TEMP"] as const;
  const saved = names.map((k) => [k, process.env[k]] as const);
  // Set before the test workers start: they inherit it.
  for (const k of names) process.env[k] = dir;
  return () => {
    for (const [k, v] of saved) {
      if (v === undefined) Reflect.deleteProperty(process.env, k);
      else process.env[k] = v;
    }
    const left = leftovers(dir);
    rmSync(dir, { recursive: true, force: true });
    if (left.length > 0) {
      // Vitest reports an error thrown here but keeps its exit status: make the run fail.
      process.exitCode = 1;
      throw new TempLeftoversError(`tests left ${left.length} entries in the temporary folder (removed now; fix the test that creates them): ${left.join(", ")}`);
    }
  };
}
