// The fleet and demo programs' command lines: --help, usage errors (no fleet is started).
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { UsageError } from "../../shared/runtime/cli-args.ts";
import { parseFleetArgs } from "../fleet-cli.ts";

const run = (program: string, args: string[]) =>
  spawnSync(process.execPath, ["--disable-warning=ExperimentalWarning", fileURLToPath(new URL(`../${program}`, import.meta.url)), ...args], { encoding: "utf8", timeout: 60_000 });

describe("npm run fleet / npm run demo command lines", () => {
  it("fleet reads up/down/status and refuses anything else as a usage error", () => {
    expect(parseFleetArgs(["up", "--spokes", "1", "--real-nodes"])).toEqual({ command: "up", spokes: 1, realNodes: true });
    expect(parseFleetArgs(["status"])).toEqual({ command: "status", spokes: 2, realNodes: false });
    for (const args of [[], ["sideways"], ["up", "--spokes", "11"], ["up", "--bogus"], ["down", "now"]]) expect(() => parseFleetArgs(args)).toThrow(UsageError);
  });

  for (const program of ["fleet-cli.ts", "demo.ts"]) {
    it(`${program}: --help and -h print the usage on stdout (exit 0); an unknown option is one line and a hint (exit 2)`, () => {
      for (const flag of ["--help", "-h"]) {
        const help = run(program, [flag]);
        expect(help.stderr).toBe("");
        expect(help.status).toBe(0);
        expect(help.stdout).toMatch(/^usage: npm run (fleet|demo)/);
      }
      const bad = run(program, ["--bogus"]);
      expect(bad.status).toBe(2);
      expect(bad.stdout).toBe("");
      expect(bad.stderr).toMatch(/^(fleet|demo): Unknown option '--bogus'.*\ntry 'npm run (fleet|demo) -- --help' for usage\n$/);
    });
  }
});
