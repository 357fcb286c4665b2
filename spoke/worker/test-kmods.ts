// Test support: builds real kernel modules against Debian's linux-headers
// package and lays them out as a kmod image does. Used by the worker tests.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { cp, mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

// kmm_ci_a needs a symbol that kmm_ci_b exports (a real depmod dependency) and
// takes an int parameter; kmm_ci_c has no dependencies and a string parameter,
// so it can only come before kmm_ci_a through a softdep.
const SOURCES: Record<string, string> = {
  "kmm_ci_b.c": `#include <linux/module.h>
int kmm_ci_b_value(void) { return 42; }
EXPORT_SYMBOL_GPL(kmm_ci_b_value);
static int __init kmm_ci_b_init(void) { return 0; }
static void __exit kmm_ci_b_exit(void) {}
module_init(kmm_ci_b_init);
module_exit(kmm_ci_b_exit);
MODULE_LICENSE("GPL");
`,
  "kmm_ci_a.c": `#include <linux/module.h>
extern int kmm_ci_b_value(void);
static int level = 1;
module_param(level, int, 0444);
static int __init kmm_ci_a_init(void) { return kmm_ci_b_value() == 42 ? 0 : -EINVAL; }
static void __exit kmm_ci_a_exit(void) {}
module_init(kmm_ci_a_init);
module_exit(kmm_ci_a_exit);
MODULE_LICENSE("GPL");
`,
  "kmm_ci_c.c": `#include <linux/module.h>
static char *mode = "plain";
module_param(mode, charp, 0444);
static int __init kmm_ci_c_init(void) { return 0; }
static void __exit kmm_ci_c_exit(void) {}
module_init(kmm_ci_c_init);
module_exit(kmm_ci_c_exit);
MODULE_LICENSE("GPL");
`,
  Kbuild: "obj-m := kmm_ci_a.o kmm_ci_b.o kmm_ci_c.o\n",
};

export const TEST_MODULES = ["kmm_ci_a", "kmm_ci_b", "kmm_ci_c"] as const;

export class KernelHeadersMissingError extends Error {
  override name = "KernelHeadersMissingError";
}

// The Debian kernel the headers are for (not `uname -r`, which is the sandbox's own kernel).
export async function findHeaders(): Promise<{ kernelVersion: string; buildDir: string }> {
  const entries = await readdir("/usr/src").catch(() => [] as string[]);
  const candidates: string[] = [];
  for (const name of entries) {
    const m = /^linux-headers-(.+-amd64)$/.exec(name);
    if (m?.[1] === undefined) continue;
    const ok = await stat(path.join("/usr/src", name, "Makefile")).then(
      () => true,
      () => false,
    );
    if (ok) candidates.push(m[1]);
  }
  candidates.sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const kernelVersion = candidates.at(-1);
  if (kernelVersion === undefined) {
    throw new KernelHeadersMissingError(
      "no /usr/src/linux-headers-*-amd64 found: run `apt-get install -y linux-headers-amd64 kmod make gcc` (listed in .ci/apt-packages.txt)",
    );
  }
  return { kernelVersion, buildDir: `/usr/src/linux-headers-${kernelVersion}` };
}

export interface BuiltModules {
  readonly kernelVersion: string;
  /** directory holding kmm_ci_{a,b,c}.ko */
  readonly dir: string;
}

let building: Promise<BuiltModules> | undefined;

const CACHE_DIR = path.join(import.meta.dirname, "..", "..", ".cache", "test-kmods");

// Built once per machine and kernel: the cache directory is named after the
// sources and the kernel, and filled by an atomic rename so test files running
// in parallel never see half a build.
export function buildTestModules(): Promise<BuiltModules> {
  building ??= (async () => {
    const { kernelVersion, buildDir } = await findHeaders();
    const hash = createHash("sha256").update(JSON.stringify([SOURCES, kernelVersion])).digest("hex").slice(0, 12);
    // A cache of the project (git-ignored .cache), not of the system temp folder: test runs leave
    // nothing there, and the modules are still built once per machine.
    await mkdir(CACHE_DIR, { recursive: true });
    const dir = path.join(CACHE_DIR, `kmm-ci-kmods-${hash}`);
    const isDone = () =>
      stat(path.join(dir, "kmm_ci_c.ko")).then(
        () => true,
        () => false,
      );
    if (await isDone()) return { kernelVersion, dir };
    // Test files run in parallel: one builds, the others wait for its result
    // (a lock older than two minutes is a crashed run and is taken over).
    const lock = `${dir}.lock`;
    for (;;) {
      const got = await mkdir(lock).then(
        () => true,
        () => false,
      );
      if (got) break;
      if (await isDone()) return { kernelVersion, dir };
      const age = await stat(lock).then(
        (st) => Date.now() - st.mtimeMs,
        () => 0,
      );
      if (age > 120_000) await rm(lock, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 100));
    }
    try {
      if (await isDone()) return { kernelVersion, dir };
      await build(buildDir, dir);
    } finally {
      await rm(lock, { recursive: true, force: true });
    }
    return { kernelVersion, dir };
  })();
  return building;
}

async function build(buildDir: string, dir: string): Promise<void> {
  const work = await mkdtemp(path.join(tmpdir(), "kmm-ci-kmods-build-"));
  try {
    for (const [name, text] of Object.entries(SOURCES)) await writeFile(path.join(work, name), text);
    try {
      await run("make", ["-C", buildDir, `M=${work}`, "modules"], { maxBuffer: 16 * 1024 * 1024 });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`building the test kernel modules against ${buildDir} failed: ${e.stderr ?? e.message}`);
    }
    // Beside the cache entry, so that the rename below stays on one file system.
    const out = await mkdtemp(path.join(path.dirname(dir), "kmm-ci-kmods-out-"));
    for (const m of TEST_MODULES) await cp(path.join(work, `${m}.ko`), path.join(out, `${m}.ko`));
    await rename(out, dir).catch(async () => {
      // Another test file finished the same build first.
      await rm(out, { recursive: true, force: true });
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

// <root><dirName>/lib/modules/<kernel>/extra/*.ko plus depmod's index files,
// which is what a kmod image carries.
export async function layoutKmodTree(built: BuiltModules, root: string, dirName = "/opt", modules: readonly string[] = TEST_MODULES): Promise<string> {
  const base = path.join(root, dirName);
  const extra = path.join(base, "lib/modules", built.kernelVersion, "extra");
  await mkdir(extra, { recursive: true });
  for (const m of modules) await cp(path.join(built.dir, `${m}.ko`), path.join(extra, `${m}.ko`));
  await run("depmod", ["-b", base, built.kernelVersion]);
  return extra;
}
