// Issue 13 kind 8: the project's other command-line programs (the fleet CLI, the policy generator)
// end with one line and exit 1 when their output cannot be written, instead of a stack trace.
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const cwd = join(import.meta.dirname, "..");
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "guard-output-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs `node <args> >/dev/full` and returns what it wrote to stderr, then its exit status. */
async function toFullDevice(args: string): Promise<string> {
  const { stderr } = await run("bash", ["-c", `"${process.execPath}" ${args} >/dev/full; echo "rc=$?" >&2`], { cwd });
  return stderr;
}

describe("output that cannot be written ends in one line and exit 1", () => {
  it("npm run fleet (status)", async () => {
    expect(await toFullDevice("e2e/fleet-cli.ts status")).toBe("fleet: cannot write output: no space left on device\nrc=1\n");
  });

  it("npm run gen:policy (--out)", async () => {
    expect(await toFullDevice(`scripts/gen-policy.ts --image r.example.com/s@sha256:${"a".repeat(64)} --worker-image r.example.com/w@sha256:${"a".repeat(64)} --out "${join(dir, "policy.yaml")}"`)).toBe(
      "gen-policy: cannot write output: no space left on device\nrc=1\n",
    );
  });
});
