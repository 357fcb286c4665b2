// The spoke edition's command line: --help, usage errors, and the advice when no cluster is reachable.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const home = mkdtempSync(join(tmpdir(), "kmm-spoke-cli-"));
afterAll(() => rmSync(home, { recursive: true, force: true }));
const env = { PATH: process.env.PATH ?? "", HOME: home };
const run = (args: string[]) =>
  spawnSync(process.execPath, ["--disable-warning=ExperimentalWarning", fileURLToPath(new URL("./main.ts", import.meta.url)), ...args], { encoding: "utf8", env, timeout: 60_000 });

describe("kmm-spoke command line", () => {
  it("--help and -h print the usage on stdout and exit 0", () => {
    const answers = [run(["--help"]), run(["-h"])].map((r) => [r.status, r.stdout.split("\n")[0]]);
    expect(answers).toEqual([0, 0].map((status) => [status, "usage: kmm-spoke [--config FILE] [--health-probe-bind-address ADDR] [--metrics-bind-address ADDR]"]));
  });

  it("an unknown flag (--kubeconfig too) is one line and a hint, exit 2", () => {
    const r = run(["--kubeconfig", "x"]);
    expect(r.status).toBe(2);
    expect(r.stderr.split("\n")).toHaveLength(3);
    expect(r.stderr).toMatch(/^kmm-spoke: Unknown option '--kubeconfig'.*\ntry 'kmm-spoke --help' for usage\n$/);
  });

  it("with no cluster it advises $KUBECONFIG, not the --kubeconfig it refuses (exit 1)", () => {
    const r = run([]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^kmm-spoke: no API server to talk to: .*; set \$KUBECONFIG or run in a pod\n$/);
  });
});
