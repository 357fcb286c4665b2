// npm run images' command line: checked before any build starts.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { UsageError } from "../shared/runtime/cli-args.ts";
import { parseImagesArgs } from "./images.ts";

const run = (args: string[]) =>
  spawnSync(process.execPath, ["--disable-warning=ExperimentalWarning", fileURLToPath(new URL("./images.ts", import.meta.url)), ...args], { encoding: "utf8", timeout: 60_000 });

describe("npm run images command line", () => {
  it("reads the registry and flags; refuses a bad registry in one line naming the flag", () => {
    expect(parseImagesArgs(["--registry", "127.0.0.1:5000/kmm", "--tls-verify=false", "--push"])).toMatchObject({ registry: "127.0.0.1:5000/kmm", tlsVerify: false, push: true });
    expect(() => parseImagesArgs(["--registry", "https://x/y"])).toThrow(new UsageError("--registry https://x/y: registry must be HOST[:PORT][/PREFIX] (lower-case path, no scheme, no trailing slash)"));
    expect(() => parseImagesArgs([])).toThrow(/--registry is required/);
    expect(() => parseImagesArgs(["--registry", "r/k", "--tls-verify", "maybe"])).toThrow(/--tls-verify must be true or false/);
    expect(() => parseImagesArgs(["--registry", "r/k", "--manifests", "d"])).toThrow(/--manifests needs --push/);
  });

  it("--help prints the usage (exit 0); unknown options and a bad --registry are one line and a hint (exit 2)", () => {
    const help = run(["-h"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^usage: npm run images -- --registry/);
    const unknown = run(["--bogus"]);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/^images: Unknown option '--bogus'.*\ntry 'npm run images -- --help' for usage\n$/);
    const registry = run(["--registry", "https://x/y"]);
    expect(registry.status).toBe(2);
    expect(registry.stderr).toBe("images: --registry https://x/y: registry must be HOST[:PORT][/PREFIX] (lower-case path, no scheme, no trailing slash)\ntry 'npm run images -- --help' for usage\n");
  });
});
