// kmm-signer's command line: --help and usage errors, without a registry.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const run = (args: string[]) =>
  spawnSync(process.execPath, ["--disable-warning=ExperimentalWarning", fileURLToPath(new URL("./main.ts", import.meta.url)), ...args], {
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "", KMM_TERMINATION_LOG: "/nonexistent/termination-log" },
    timeout: 60_000,
  });

describe("kmm-signer command line", () => {
  it("--help and -h print the usage on stdout and exit 0", () => {
    for (const flag of ["--help", "-h"]) {
      const r = run([flag]);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^usage: kmm-signer /);
    }
  });

  it("an unknown flag is one line and a hint on stderr, exit 2", () => {
    const r = run(["--bogus"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^kmm-signer: Unknown option '--bogus'.*\ntry 'kmm-signer --help' for usage\n/);
  });
});
