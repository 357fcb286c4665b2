// The hub and spoke processes must not load @kubernetes/client-node: importing it alone costs
// ~80 MiB of RSS (its generated API is loaded even for KubeConfig). Checked in a fresh process
// that records every module it loads, ESM and CommonJS alike.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { z } from "zod";

const CLIENT_NODE = "node_modules/@kubernetes/client-node/";

/** URLs of every module loaded while importing `specifiers` in a new Node process. */
async function modulesLoadedBy(specifiers: string[]): Promise<string[]> {
  const script = `
    import { createRequire, registerHooks } from "node:module";
    const loaded = new Set();
    registerHooks({ load(url, context, next) { loaded.add(url); return next(url, context); } });
    for (const s of ${JSON.stringify(specifiers)}) await import(s);
    for (const k of Object.keys(createRequire(import.meta.url).cache)) loaded.add(k);
    process.stdout.write(JSON.stringify([...loaded]));
    process.exit(0);
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], {
    cwd: new URL("../..", import.meta.url).pathname,
    maxBuffer: 64 * 1024 * 1024,
    // Neither must reach out to a cluster at import time; make sure they could not.
    env: { ...process.env, KUBECONFIG: "/nonexistent", KUBERNETES_SERVICE_HOST: "" },
  });
  return z.array(z.string()).parse(JSON.parse(stdout));
}

describe("process start-up without @kubernetes/client-node", () => {
  it("importing hub/main.ts and spoke/main.ts loads nothing from @kubernetes/client-node", async () => {
    const hub = new URL("../../hub/main.ts", import.meta.url).href;
    const spoke = new URL("../../spoke/main.ts", import.meta.url).href;
    const loaded = await modulesLoadedBy([hub, spoke]);
    // The recorder saw the entry points and their npm dependencies...
    expect(loaded).toContain(hub);
    expect(loaded).toContain(spoke);
    expect(loaded.some((u) => u.includes("node_modules/zod/"))).toBe(true);
    // ...and none of client-node.
    expect(loaded.filter((u) => u.includes(CLIENT_NODE))).toEqual([]);
  }, 30_000);

  it("the check notices client-node when it is loaded", async () => {
    const loaded = await modulesLoadedBy(["@kubernetes/client-node"]);
    expect(loaded.some((u) => u.includes(CLIENT_NODE))).toBe(true);
  }, 30_000);
});
