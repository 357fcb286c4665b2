// What the hub and spoke processes load at start (issue 16): neither undici (a static import of
// node:http reads its lazy WebSocket getters, which load undici and http2: ~9 MiB RSS) nor re2js
// (~4 MiB RSS to evaluate; needed only once a regexp mapping is seen). regexp.ts requires it through
// a CommonJS seam (re2js-loader.cjs), which the bundle keeps: rolldown wraps a required module to
// run on its first require(), so what holds for the sources here holds for dist/ too.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { z } from "zod";

/**
 * Node's internal modules and the module files loaded while importing `specifiers` in a new process:
 * those required (CommonJS) and those imported (ES modules: re2js has both builds, and an import
 * would load build/index.js, which require's cache never holds).
 */
async function loadedBy(specifiers: string[], after = ""): Promise<{ builtins: string[]; files: string[] }> {
  const script = `
    import { createRequire, registerHooks } from "node:module";
    import { fileURLToPath } from "node:url";
    const imported = new Set();
    registerHooks({ load: (url, context, next) => (url.startsWith("file:") && imported.add(fileURLToPath(url)), next(url, context)) });
    for (const s of ${JSON.stringify(specifiers)}) await import(s);
    ${after}
    const files = [...new Set([...Object.keys(createRequire(import.meta.url).cache), ...imported])];
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
  it("importing hub/main.ts and spoke/main.ts loads neither undici nor re2js", async () => {
    const hub = new URL("../../hub/main.ts", import.meta.url).href;
    const spoke = new URL("../../spoke/main.ts", import.meta.url).href;
    const { builtins, files } = await loadedBy([hub, spoke]);
    expect(builtins).toContain("NativeModule https");
    expect(builtins).not.toContain(UNDICI);
    expect(files.filter((f) => f.includes("node_modules/re2js/"))).toEqual([]);
  }, 30_000);

  it("the checks notice undici and re2js once they are loaded", async () => {
    const regexp = new URL("../kernel-mapping/regexp.ts", import.meta.url).href;
    const { builtins, files } = await loadedBy(["node:http", regexp], `(await import(${JSON.stringify(regexp)})).matchRE2("^6\\\\.", "6.1.0");`);
    expect(builtins).toContain(UNDICI);
    expect(files.some((f) => f.includes("node_modules/re2js/"))).toBe(true);
  }, 30_000);
});
