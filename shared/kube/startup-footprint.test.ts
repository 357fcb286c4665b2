// What the hub and spoke processes load at start (issue 16): neither undici (a static import of
// node:http reads its lazy WebSocket getters, which load undici and http2: ~9 MiB RSS) nor re2-wasm
// (16 MiB of WebAssembly memory, instantiated when loaded; needed only once a regexp mapping is seen).
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { z } from "zod";

/** Node's internal modules and the npm module files loaded while importing `specifiers` in a new process. */
async function loadedBy(specifiers: string[], after = ""): Promise<{ builtins: string[]; files: string[] }> {
  const script = `
    import { createRequire } from "node:module";
    for (const s of ${JSON.stringify(specifiers)}) await import(s);
    ${after}
    const files = Object.keys(createRequire(import.meta.url).cache);
    process.stdout.write(JSON.stringify({ builtins: process.moduleLoadList, files }));
    process.exit(0);
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], {
    cwd: new URL("../..", import.meta.url).pathname,
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, KUBECONFIG: "/nonexistent", KUBERNETES_SERVICE_HOST: "" },
  });
  return z.object({ builtins: z.array(z.string()), files: z.array(z.string()) }).parse(JSON.parse(stdout));
}

const UNDICI = "NativeModule internal/deps/undici/undici";

describe("process start-up footprint", () => {
  it("importing hub/main.ts and spoke/main.ts loads neither undici nor re2-wasm", async () => {
    const hub = new URL("../../hub/main.ts", import.meta.url).href;
    const spoke = new URL("../../spoke/main.ts", import.meta.url).href;
    const { builtins, files } = await loadedBy([hub, spoke]);
    expect(builtins).toContain("NativeModule https");
    expect(builtins).not.toContain(UNDICI);
    expect(files.filter((f) => f.includes("node_modules/re2-wasm/"))).toEqual([]);
  }, 30_000);

  it("the checks notice undici and re2-wasm once they are loaded", async () => {
    const regexp = new URL("../kernel-mapping/regexp.ts", import.meta.url).href;
    const { builtins, files } = await loadedBy(["node:http", regexp], `(await import(${JSON.stringify(regexp)})).matchRE2("^6\\\\.", "6.1.0");`);
    expect(builtins).toContain(UNDICI);
    expect(files.some((f) => f.includes("node_modules/re2-wasm/"))).toBe(true);
  }, 30_000);
});
