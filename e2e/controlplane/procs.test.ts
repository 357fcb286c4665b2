// The fleet's process group reports a component that dies at once, with its log tail — also one
// started after failOnExit() was called, as startFleet starts nearly everything after it.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ComponentExitedError, ProcessGroup } from "./procs.ts";

let dir = "";
let group: ProcessGroup | undefined;

afterEach(async () => {
  await group?.stopAll(500);
  group = undefined;
  if (dir !== "") await rm(dir, { recursive: true, force: true });
});

async function newGroup(): Promise<ProcessGroup> {
  dir = await mkdtemp(join(tmpdir(), "kmm-procs-"));
  group = new ProcessGroup(dir);
  return group;
}

describe("ProcessGroup.failOnExit", () => {
  it("rejects as soon as a process started after the call exits, naming it with its exit code and log tail", async () => {
    const g = await newGroup();
    const abort = g.failOnExit();
    g.start("steady", "sleep", ["30"]);
    const started = Date.now();
    g.start("etcd", "sh", ["-c", "echo 'listen tcp 127.0.0.1:2379: bind: address already in use'; exit 3"]);
    const err = await abort.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ComponentExitedError);
    const e = err as ComponentExitedError;
    expect(e.component).toBe("etcd");
    expect(e.message).toContain("etcd exited (code 3, signal null)");
    expect(e.message).toContain("bind: address already in use");
    expect(Date.now() - started).toBeLessThan(5_000);
    // A later caller hears of the same exit at once.
    await expect(g.failOnExit()).rejects.toBe(e);
  });

  it("stays quiet for processes stopped by stopAll", async () => {
    const g = await newGroup();
    let rejected = false;
    g.failOnExit().catch(() => {
      rejected = true;
    });
    g.start("steady", "sleep", ["30"]);
    await g.stopAll(500);
    group = undefined;
    await new Promise((r) => setTimeout(r, 100));
    expect(rejected).toBe(false);
  });
});

describe("ProcessGroup.start", () => {
  it("refuses to start a process once the group is stopping, so a late step of a failed start leaves no orphan", async () => {
    const g = await newGroup();
    await g.stopAll(500);
    expect(() => g.start("registry", "sleep", ["30"])).toThrow("not starting registry: the process group is stopping");
    group = undefined;
  });
});
