// The worker as the container runs it: a separate process, a YAML config file,
// JSON logs, exit codes and SIGTERM, with the real modprobe in dry-run mode.
import { spawn } from "node:child_process";
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { z } from "zod";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_CONFIG_PATH, UsageError, parseCli, writeTerminationMessage } from "./main.ts";
import { buildTestModules, layoutKmodTree, type BuiltModules } from "./test-kmods.ts";

const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));
const MODPROBE = "/sbin/modprobe";

let built: BuiltModules;
let base: string;
let imageRoot: string;
let hostRoot: string;
let extra: string;

beforeAll(async () => {
  built = await buildTestModules();
  base = await mkdtemp(path.join(tmpdir(), "kmm-worker-cli-"));
  imageRoot = path.join(base, "image");
  hostRoot = path.join(base, "host");
  extra = await layoutKmodTree(built, imageRoot, "/opt");
  await layoutKmodTree(built, hostRoot, "/", ["kmm_ci_c"]);
  await mkdir(path.join(imageRoot, "firmware"), { recursive: true });
  await writeFile(path.join(imageRoot, "firmware/kmm_ci.bin"), "blob");
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

const logLineSchema = z.looseObject({ level: z.string(), time: z.iso.datetime(), name: z.literal("kmm-worker"), msg: z.string() });

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function logs(stdout: string) {
  return stdout
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => logLineSchema.parse(JSON.parse(l)));
}

// Lines modprobe printed, as the worker logged them.
function modprobeOutput(stdout: string): string[] {
  return logs(stdout).flatMap((l) => z.array(z.string()).optional().parse(l.output) ?? []).map((s) => s.trimEnd());
}

function startWorker(args: readonly string[], wrap?: string) {
  const node = [process.execPath, MAIN, ...args];
  const child =
    wrap === undefined
      ? spawn(node[0] ?? "node", node.slice(1), { stdio: ["ignore", "pipe", "pipe"] })
      : spawn("unshare", ["--mount", "sh", "-c", wrap, "sh", ...node], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<Run>((resolve) => {
    child.on("close", (code, signal) => {
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done };
}

async function caseDir(name: string) {
  const dir = path.join(base, name);
  await mkdir(path.join(dir, "etc/modprobe.d"), { recursive: true });
  return dir;
}

async function writeConfig(dir: string, cfg: Record<string, unknown>): Promise<string> {
  const file = path.join(dir, "config.yaml");
  await writeFile(
    file,
    stringify({
      containerImage: "registry.example/kmm/kmm-ci@sha256:" + "0".repeat(64),
      kernelVersion: built.kernelVersion,
      imageRoot,
      hostModulesRoot: hostRoot,
      modprobeConfigDir: path.join(dir, "etc/modprobe.d"),
      stateDir: path.join(dir, "state"),
      firmwareHostPath: path.join(dir, "host-firmware"),
      sysModuleDir: path.join(dir, "sys/module"),
      ...cfg,
    }),
  );
  return file;
}

const dryRun = (dir: string) => [`--modprobe=${MODPROBE}`, "--modprobe-arg=-n", "--modprobe-arg=-C", `--modprobe-arg=${path.join(dir, "etc/modprobe.d")}`];

async function waitFor(file: string, child: { exitCode: number | null }, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await lstat(file).then(() => true, () => false)) return;
    if (child.exitCode !== null) throw new Error(`worker exited (${String(child.exitCode)}) before ${file} appeared`);
    if (Date.now() > deadline) throw new Error(`${file} did not appear within ${String(timeoutMs)} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("worker CLI", () => {
  it("loads, reports ready, and unloads on SIGTERM, removing its firmware", async () => {
    const dir = await caseDir("lifecycle");
    const config = await writeConfig(dir, {
      modprobe: { moduleName: "kmm_ci_a", parameters: ["level=7"], firmwarePath: "/firmware", modulesLoadingOrder: ["kmm_ci_a", "kmm_ci_c"] },
    });
    const { child, done } = startWorker(["kmod", "load", config, ...dryRun(dir)]);
    await waitFor(path.join(dir, "state/ready"), child);
    expect(await readFile(path.join(dir, "host-firmware/kmm_ci.bin"), "utf8")).toBe("blob");
    child.kill("SIGTERM");
    const r = await done;

    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(modprobeOutput(r.stdout)).toEqual([`insmod ${extra}/kmm_ci_b.ko`, `insmod ${extra}/kmm_ci_c.ko`, `insmod ${extra}/kmm_ci_a.ko level=7`]);
    const messages = logs(r.stdout).map((l) => l.msg);
    expect(messages).toContain("termination requested; unloading");
    expect(messages.at(-1)).toBe("kernel module unloaded");
    expect(await readdir(path.join(dir, "host-firmware"))).toEqual([]);
    expect(await lstat(path.join(dir, "state/ready")).catch(() => undefined)).toBeUndefined();
  });

  it("exits 1 naming module, kernel, command and modprobe's error when modprobe fails", async () => {
    const dir = await caseDir("unknown-module");
    const config = await writeConfig(dir, { modprobe: { moduleName: "kmm_ci_nope" } });
    const r = await startWorker(["load", "--config", config, "--once", ...dryRun(dir)]).done;
    expect(r.code).toBe(1);
    const expected =
      `module kmm_ci_nope, kernel ${built.kernelVersion}: load module failed: ${MODPROBE} -n -C ${dir}/etc/modprobe.d ` +
      `-v -d ${imageRoot}/opt -S ${built.kernelVersion} -- kmm_ci_nope failed (exit 1): ` +
      `modprobe: FATAL: Module kmm_ci_nope not found in directory ${imageRoot}/opt/lib/modules/${built.kernelVersion}`;
    expect(r.stderr).toBe(`error: ${expected}\n`);
    const last = logs(r.stdout).at(-1);
    expect(last?.level).toBe("fatal");
    expect(last?.msg).toBe(expected);
  });

  it("exits 2 on an invalid config or command line, naming the problem", async () => {
    const dir = await caseDir("invalid");
    const config = await writeConfig(dir, { modprobe: { moduleName: "kmm_ci_a", parameters: ["--force"] } });
    const bad = await startWorker(["kmod", "load", config]).done;
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`worker config ${config} is not valid: modprobe.parameters.0: must be 'name' or 'name=value'`);

    const usage = await startWorker(["reload", config]).done;
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^worker: command: .*\ntry 'worker --help' for usage\n$/);
  });

  it("--help and -h print the usage on stdout, not in a log line, and exit 0", async () => {
    for (const flag of ["--help", "-h"]) {
      const help = await startWorker([flag]).done;
      expect(help.code).toBe(0);
      expect(help.stderr).toBe("");
      expect(help.stdout).toMatch(/^usage: worker \[kmod\] load\|unload/);
      expect(help.stdout).not.toContain('"level"');
    }
  });

  // Nothing is really loaded in the sandbox, so modprobe -r has nothing to
  // remove. In a private mount namespace, /sys/module is replaced by a tmpfs
  // saying which modules are live: the real modprobe then prints the rmmod
  // lines it would run, and the worker's default sysfs paths are exercised.
  const sysfs = (live: string[], holders: [string, string][]) =>
    [
      "set -e",
      "mount -t tmpfs kmm-test-sysfs /sys/module",
      ...live.map((m) => `mkdir -p /sys/module/${m}/holders && echo live > /sys/module/${m}/initstate && echo 0 > /sys/module/${m}/refcnt`),
      ...holders.map(([m, h]) => `mkdir -p /sys/module/${m}/holders/${h}`),
      "mkdir -p /sys/module/firmware_class/parameters && : > /sys/module/firmware_class/parameters/path",
      `"$@"`,
      // The sysfs tmpfs disappears with the namespace: report the path file now.
      "cat /sys/module/firmware_class/parameters/path >&2",
    ].join("\n");

  it("removes a loaded in-tree module from the host tree and sets firmware_class.path (real sysfs paths)", async () => {
    const dir = await caseDir("in-tree");
    const config = await writeConfig(dir, { sysModuleDir: "/sys/module", inTreeModulesToRemove: ["kmm_ci_c"], modprobe: { moduleName: "kmm_ci_a" } });
    const r = await startWorker(
      ["kmod", "load", config, "--once", "--set-firmware-class-path", "/var/lib/firmware", ...dryRun(dir)],
      sysfs(["kmm_ci_c"], []),
    ).done;
    expect(r.stderr).toBe("/var/lib/firmware");
    expect(r.code).toBe(0);
    expect(modprobeOutput(r.stdout)).toEqual(["rmmod kmm_ci_c", `insmod ${extra}/kmm_ci_b.ko`, `insmod ${extra}/kmm_ci_a.ko`]);
  });

  it("unloads the whole loading order (real sysfs paths)", async () => {
    const dir = await caseDir("unload-order");
    const config = await writeConfig(dir, { sysModuleDir: "/sys/module", modprobe: { moduleName: "kmm_ci_a", modulesLoadingOrder: ["kmm_ci_a", "kmm_ci_c"] } });
    const r = await startWorker(["kmod", "unload", config, ...dryRun(dir)], sysfs(["kmm_ci_a", "kmm_ci_b", "kmm_ci_c"], [["kmm_ci_b", "kmm_ci_a"]])).done;
    expect(r.code).toBe(0);
    expect(modprobeOutput(r.stdout)).toEqual(["rmmod kmm_ci_a", "rmmod kmm_ci_b", "rmmod kmm_ci_c"]);
  });
});

describe("parseCli", () => {
  it("takes upstream's form and the short form, with the default config path", () => {
    expect(parseCli(["kmod", "load", "/etc/kmm/c.yaml", "--set-firmware-class-path", "/var/lib/firmware", "--set-firmware-mount-path", "/host/fw"])).toEqual({
      command: "load",
      configPath: "/etc/kmm/c.yaml",
      firmwareClassPath: "/var/lib/firmware",
      firmwareMountPath: "/host/fw",
      modprobe: "modprobe",
      modprobeArgs: [],
      once: false,
    });
    const short = parseCli(["unload", "--modprobe=/sbin/modprobe", "--modprobe-arg=-n", "--modprobe-arg=-C", "--modprobe-arg=/tmp/d"]);
    expect(short.configPath).toBe(DEFAULT_CONFIG_PATH);
    expect(short.modprobeArgs).toEqual(["-n", "-C", "/tmp/d"]);
  });

  it("refuses unknown commands, extra arguments and two config paths", () => {
    expect(() => parseCli(["insert"])).toThrow(UsageError);
    expect(() => parseCli(["load", "a.yaml", "b.yaml"])).toThrow("unexpected arguments: b.yaml");
    expect(() => parseCli(["load", "a.yaml", "--config", "b.yaml"])).toThrow("either as an argument or with --config");
    expect(() => parseCli(["load", "--set-firmware-class-path", "relative"])).toThrow("firmwareClassPath");
    expect(() => parseCli(["load", "--bogus"])).toThrow(UsageError);
  });
});

describe("writeTerminationMessage", () => {
  it("replaces the content of an existing termination log, and creates no file where there is none", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "kmm-worker-termlog-"));
    try {
      const file = path.join(dir, "termination-log");
      await writeFile(file, "an older and longer message from a previous run");
      writeTerminationMessage("module kmm_ci_a failed", file);
      expect(await readFile(file, "utf8")).toBe("module kmm_ci_a failed");
      writeTerminationMessage("x".repeat(5000), file);
      expect((await readFile(file, "utf8")).length).toBe(4096);
      const absent = path.join(dir, "absent");
      writeTerminationMessage("nothing", absent);
      await expect(lstat(absent)).rejects.toThrow("ENOENT");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
