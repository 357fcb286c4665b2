// The worker against the real modprobe (kmod) in dry-run mode ("-n"), resolving
// real kernel modules built from source in beforeAll and laid out as a kmod
// image lays them out. Inserting modules is not possible in the sandbox; every
// insmod line asserted here is printed by modprobe itself.
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseWorkerConfig, type WorkerConfigInput } from "./config.ts";
import { ModprobeRunner } from "./modprobe.ts";
import { buildTestModules, layoutKmodTree, type BuiltModules } from "./test-kmods.ts";
import { FIRMWARE_RECORD_FILE, READY_FILE, SOFTDEP_FILE, WorkerError, loadKmod, unloadKmod } from "./worker.ts";

const MODPROBE = "/sbin/modprobe";
const logger = pino({ level: "silent" });

let built: BuiltModules;
let base: string;
let imageRoot: string;
let hostRoot: string;
let extra: string; // <image>/opt/lib/modules/<kernel>/extra

beforeAll(async () => {
  built = await buildTestModules();
  base = await mkdtemp(path.join(tmpdir(), "kmm-worker-test-"));
  imageRoot = path.join(base, "image");
  hostRoot = path.join(base, "host");
  extra = await layoutKmodTree(built, imageRoot, "/opt");
  // The host's own tree, where kmm_ci_c plays an in-tree module.
  await layoutKmodTree(built, hostRoot, "/", ["kmm_ci_c"]);
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

interface Env {
  dir: string;
  modprobeD: string;
  stateDir: string;
  firmwareHost: string;
  sysModule: string;
  runner: ModprobeRunner;
}

let envCount = 0;
async function env(): Promise<Env> {
  const dir = path.join(base, `case-${String(++envCount)}`);
  const e: Env = {
    dir,
    modprobeD: path.join(dir, "etc/modprobe.d"),
    stateDir: path.join(dir, "run/kmm-worker"),
    firmwareHost: path.join(dir, "host-firmware"),
    sysModule: path.join(dir, "sys/module"),
    // -C makes modprobe read the softdep file the worker writes instead of the machine's /etc/modprobe.d.
    runner: new ModprobeRunner({ binary: MODPROBE, extraArgs: ["-n", "-C", path.join(dir, "etc/modprobe.d")] }),
  };
  await mkdir(e.modprobeD, { recursive: true });
  await mkdir(e.sysModule, { recursive: true });
  return e;
}

function config(e: Env, modprobe: WorkerConfigInput["modprobe"], extraFields: Partial<WorkerConfigInput> = {}) {
  return parseWorkerConfig(
    {
      containerImage: "registry.example/kmm/kmm-ci:1",
      kernelVersion: built.kernelVersion,
      imageRoot,
      hostModulesRoot: hostRoot,
      modprobeConfigDir: e.modprobeD,
      stateDir: e.stateDir,
      firmwareHostPath: e.firmwareHost,
      sysModuleDir: e.sysModule,
      firmwareClassPathFile: path.join(e.dir, "firmware_class_path"),
      modprobe,
      ...extraFields,
    },
    "test",
  );
}

function lines(stdout: string): string[] {
  return stdout
    .split("\n")
    .map((l) => l.trimEnd())
    .filter((l) => l !== "");
}

const exists = (p: string) =>
  lstat(p).then(
    () => true,
    () => false,
  );

describe("load", () => {
  it("resolves the module and its symbol dependency from the image tree, with parameters", async () => {
    const e = await env();
    const cfg = config(e, { moduleName: "kmm_ci_a", parameters: ["level=3"] });
    const report = await loadKmod(cfg, { runner: e.runner, logger });

    expect(report.commands).toHaveLength(1);
    const [cmd] = report.commands;
    expect(cmd?.argv).toEqual([
      MODPROBE, "-n", "-C", e.modprobeD,
      "-v", "-d", path.join(imageRoot, "opt"), "-S", built.kernelVersion, "--", "kmm_ci_a", "level=3",
    ]);
    expect(lines(cmd?.stdout ?? "")).toEqual([`insmod ${extra}/kmm_ci_b.ko`, `insmod ${extra}/kmm_ci_a.ko level=3`]);
    expect(await readFile(path.join(e.stateDir, READY_FILE), "utf8")).toContain(`kmm_ci_a ${built.kernelVersion}`);
  });

  it("uses dirName under the image root and passes a parameter value with spaces as one argument", async () => {
    const e = await env();
    const kmodsExtra = await layoutKmodTree(built, imageRoot, "/kmods", ["kmm_ci_c"]);
    const cfg = config(e, { moduleName: "kmm_ci_c", dirName: "/kmods", parameters: ["mode=a b --force"] });
    const report = await loadKmod(cfg, { runner: e.runner, logger });
    expect(lines(report.commands[0]?.stdout ?? "")).toEqual([`insmod ${kmodsExtra}/kmm_ci_c.ko mode="a b --force"`]);
  });

  it("puts args.load before the module name", async () => {
    const e = await env();
    const cfg = config(e, { moduleName: "kmm_ci_c", args: { load: ["--first-time"], unload: ["--syslog"] } });
    const report = await loadKmod(cfg, { runner: e.runner, logger });
    const argv = report.commands[0]?.argv ?? [];
    expect(argv.slice(-3)).toEqual(["--first-time", "--", "kmm_ci_c"]);
    expect(lines(report.commands[0]?.stdout ?? "")).toEqual([`insmod ${extra}/kmm_ci_c.ko`]);

    const unload = await unloadKmod(cfg, { runner: e.runner, logger });
    expect(unload.commands[0]?.argv.slice(-3)).toEqual(["--syslog", "--", "kmm_ci_c"]);
  });

  it("writes softdep lines for modulesLoadingOrder that modprobe follows", async () => {
    const e = await env();
    // Without a loading order kmm_ci_c has no dependencies at all.
    const plain = await loadKmod(config(e, { moduleName: "kmm_ci_c" }), { runner: e.runner, logger });
    expect(lines(plain.commands[0]?.stdout ?? "")).toEqual([`insmod ${extra}/kmm_ci_c.ko`]);

    const cfg = config(e, { moduleName: "kmm_ci_c", parameters: ["mode=ordered"], modulesLoadingOrder: ["kmm_ci_c", "kmm_ci_b"] });
    const report = await loadKmod(cfg, { runner: e.runner, logger });
    expect(await readFile(path.join(e.modprobeD, SOFTDEP_FILE), "utf8")).toBe("softdep kmm_ci_c pre: kmm_ci_b\n");
    expect(lines(report.commands[0]?.stdout ?? "")).toEqual([`insmod ${extra}/kmm_ci_b.ko`, `insmod ${extra}/kmm_ci_c.ko mode=ordered`]);

    // Unloading names the whole order, first module first.
    const unload = await unloadKmod(cfg, { runner: e.runner, logger });
    expect(unload.commands[0]?.argv.slice(4)).toEqual([
      "-r", "-v", "-d", path.join(imageRoot, "opt"), "-S", built.kernelVersion, "--", "kmm_ci_c", "kmm_ci_b",
    ]);
    expect(await exists(path.join(e.modprobeD, SOFTDEP_FILE))).toBe(false);
    expect(await exists(path.join(e.stateDir, READY_FILE))).toBe(false);
  });

  it("puts a softdep module between the symbol dependency and the module", async () => {
    const e = await env();
    const cfg = config(e, { moduleName: "kmm_ci_a", modulesLoadingOrder: ["kmm_ci_a", "kmm_ci_c"] });
    const report = await loadKmod(cfg, { runner: e.runner, logger });
    expect(lines(report.commands[0]?.stdout ?? "")).toEqual([
      `insmod ${extra}/kmm_ci_b.ko`,
      `insmod ${extra}/kmm_ci_c.ko`,
      `insmod ${extra}/kmm_ci_a.ko`,
    ]);
  });

  it("runs rawArgs as given, after the runner's own options only", async () => {
    const e = await env();
    const dir = path.join(imageRoot, "opt");
    const cfg = config(e, {
      rawArgs: {
        load: ["-v", "-d", dir, "-S", built.kernelVersion, "kmm_ci_c", "mode=raw"],
        unload: ["-r", "-v", "-d", dir, "-S", built.kernelVersion, "kmm_ci_c"],
      },
      // Ignored when rawArgs is set, as upstream does.
      parameters: ["mode=ignored"],
    });
    const report = await loadKmod(cfg, { runner: e.runner, logger });
    expect(report.commands[0]?.argv).toEqual([MODPROBE, "-n", "-C", e.modprobeD, "-v", "-d", dir, "-S", built.kernelVersion, "kmm_ci_c", "mode=raw"]);
    expect(lines(report.commands[0]?.stdout ?? "")).toEqual([`insmod ${extra}/kmm_ci_c.ko mode=raw`]);

    const unload = await unloadKmod(cfg, { runner: e.runner, logger });
    expect(unload.commands[0]?.argv).toEqual([MODPROBE, "-n", "-C", e.modprobeD, "-r", "-v", "-d", dir, "-S", built.kernelVersion, "kmm_ci_c"]);
  });

  it("removes only the in-tree modules that are loaded, from the host's tree, before loading", async () => {
    const e = await env();
    await mkdir(path.join(e.sysModule, "kmm_ci_c"), { recursive: true });
    await writeFile(path.join(e.sysModule, "kmm_ci_c", "initstate"), "live\n");
    const cfg = config(e, { moduleName: "kmm_ci_a" }, { inTreeModulesToRemove: ["kmm-ci-c", "kmm_ci_absent"] });
    const report = await loadKmod(cfg, { runner: e.runner, logger });

    expect(report.inTreeRemoved).toEqual(["kmm-ci-c"]);
    expect(report.commands.map((c) => c.argv.slice(4))).toEqual([
      ["-r", "-v", "-d", hostRoot, "-S", built.kernelVersion, "--", "kmm-ci-c"],
      ["-v", "-d", path.join(imageRoot, "opt"), "-S", built.kernelVersion, "--", "kmm_ci_a"],
    ]);
  });

  it("stops before loading when removing an in-tree module fails", async () => {
    const e = await env();
    // Loaded according to sysfs but unknown to the host's modules.dep: modprobe -r refuses it.
    await mkdir(path.join(e.sysModule, "kmm_ci_stray"), { recursive: true });
    await writeFile(path.join(e.sysModule, "kmm_ci_stray", "initstate"), "live\n");
    const cfg = config(e, { moduleName: "kmm_ci_a" }, { inTreeModulesToRemove: ["kmm_ci_stray"] });
    const err = await loadKmod(cfg, { runner: e.runner, logger }).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(WorkerError);
    const msg = (err as WorkerError).message;
    expect(msg).toContain(`module kmm_ci_a, kernel ${built.kernelVersion}: remove in-tree modules failed`);
    expect(msg).toContain(`-r -v -d ${hostRoot} -S ${built.kernelVersion} -- kmm_ci_stray`);
    expect(msg).toContain("kmm_ci_stray not found");
    expect(await exists(path.join(e.stateDir, READY_FILE))).toBe(false);
  });

  it("sets firmware_class.path when configured and leaves it when not", async () => {
    const e = await env();
    const file = path.join(e.dir, "firmware_class_path");
    await writeFile(file, "\n");
    await loadKmod(config(e, { moduleName: "kmm_ci_c" }), { runner: e.runner, logger });
    expect(await readFile(file, "utf8")).toBe("\n");
    await loadKmod(config(e, { moduleName: "kmm_ci_c" }, { firmwareClassPath: "/var/lib/firmware" }), { runner: e.runner, logger });
    expect(await readFile(file, "utf8")).toBe("/var/lib/firmware");
  });

  it("fails naming module, kernel and command when firmware_class.path cannot be written", async () => {
    const e = await env();
    const cfg = config(e, { moduleName: "kmm_ci_c" }, { firmwareClassPath: "/var/lib/firmware", firmwareClassPathFile: path.join(e.dir, "no/such/file") });
    await expect(loadKmod(cfg, { runner: e.runner, logger })).rejects.toThrow(
      new RegExp(`module kmm_ci_c, kernel ${built.kernelVersion.replaceAll(".", "\\.")}: set firmware_class.path failed: writing '/var/lib/firmware' to .*no/such/file`),
    );
  });
});

describe("firmware", () => {
  it("copies firmwarePath/* to the host and removes exactly what it copied on unload", async () => {
    const e = await env();
    const fw = path.join(imageRoot, "firmware-a");
    await mkdir(path.join(fw, "vendor/sub"), { recursive: true });
    await mkdir(path.join(fw, "shared"), { recursive: true });
    await writeFile(path.join(fw, "kmm_ci.bin"), "blob-1");
    await writeFile(path.join(fw, "vendor/sub/deep.bin"), "blob-2");
    await writeFile(path.join(fw, "shared/ours.bin"), "blob-3");
    await symlink("kmm_ci.bin", path.join(fw, "kmm_ci-alias.bin"));
    // The host already has files and a directory of its own.
    await mkdir(path.join(e.firmwareHost, "shared"), { recursive: true });
    await writeFile(path.join(e.firmwareHost, "shared/theirs.bin"), "host");
    await writeFile(path.join(e.firmwareHost, "host.bin"), "host");

    const cfg = config(e, { moduleName: "kmm_ci_c", firmwarePath: "/firmware-a" });
    const report = await loadKmod(cfg, { runner: e.runner, logger });
    expect([...report.firmwareCopied].sort()).toEqual(["kmm_ci-alias.bin", "kmm_ci.bin", "shared/ours.bin", "vendor/sub/deep.bin"]);
    expect(await readFile(path.join(e.firmwareHost, "vendor/sub/deep.bin"), "utf8")).toBe("blob-2");
    expect(await readlink(path.join(e.firmwareHost, "kmm_ci-alias.bin"))).toBe("kmm_ci.bin");
    expect(await exists(path.join(e.stateDir, FIRMWARE_RECORD_FILE))).toBe(true);

    const unload = await unloadKmod(cfg, { runner: e.runner, logger });
    expect([...unload.firmwareRemoved].sort()).toEqual(["kmm_ci-alias.bin", "kmm_ci.bin", "shared/ours.bin", "vendor/sub/deep.bin"]);
    expect((await readdir(e.firmwareHost)).sort()).toEqual(["host.bin", "shared"]);
    expect(await readdir(path.join(e.firmwareHost, "shared"))).toEqual(["theirs.bin"]);
  });

  it("an unload without a record from load removes the image's firmware files but no directories", async () => {
    const e = await env();
    const fw = path.join(imageRoot, "firmware-b");
    await mkdir(path.join(fw, "dir"), { recursive: true });
    await writeFile(path.join(fw, "dir/x.bin"), "x");
    const cfg = config(e, { moduleName: "kmm_ci_c", firmwarePath: "/firmware-b" });
    await loadKmod(cfg, { runner: e.runner, logger });
    await rm(path.join(e.stateDir, FIRMWARE_RECORD_FILE));
    await writeFile(path.join(e.firmwareHost, "dir/host.bin"), "host");

    const unload = await unloadKmod(cfg, { runner: e.runner, logger });
    expect(unload.firmwareRemoved).toEqual(["dir/x.bin"]);
    expect(await readdir(path.join(e.firmwareHost, "dir"))).toEqual(["host.bin"]);
  });

  it("fails naming module and kernel when the image has no firmware at firmwarePath", async () => {
    const e = await env();
    const cfg = config(e, { moduleName: "kmm_ci_c", firmwarePath: "/no-firmware-here" });
    await expect(loadKmod(cfg, { runner: e.runner, logger })).rejects.toThrow(
      `module kmm_ci_c, kernel ${built.kernelVersion}: copy firmware failed: copying ${imageRoot}/no-firmware-here/* to ${e.firmwareHost}`,
    );
  });
});

describe("failures", () => {
  it("an unknown module fails with module, kernel, command and modprobe's stderr", async () => {
    const e = await env();
    const cfg = config(e, { moduleName: "kmm_ci_missing" });
    const err = await loadKmod(cfg, { runner: e.runner, logger }).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(WorkerError);
    const w = err as WorkerError;
    expect(w.step).toBe("load module");
    expect(w.message).toBe(
      `module kmm_ci_missing, kernel ${built.kernelVersion}: load module failed: ` +
        `${MODPROBE} -n -C ${e.modprobeD} -v -d ${imageRoot}/opt -S ${built.kernelVersion} -- kmm_ci_missing failed (exit 1): ` +
        `modprobe: FATAL: Module kmm_ci_missing not found in directory ${imageRoot}/opt/lib/modules/${built.kernelVersion}`,
    );
    expect(await exists(path.join(e.stateDir, READY_FILE))).toBe(false);
  });

  it("loads for the configured kernel, not the running one", async () => {
    const e = await env();
    const cfg = config(e, { moduleName: "kmm_ci_c" }, { kernelVersion: "9.9.9-kmm-other" });
    await expect(loadKmod(cfg, { runner: e.runner, logger })).rejects.toThrow(
      `Module kmm_ci_c not found in directory ${imageRoot}/opt/lib/modules/9.9.9-kmm-other`,
    );
  });

  it("an unload of an unknown module fails with module, kernel and command", async () => {
    const e = await env();
    const cfg = config(e, { moduleName: "kmm_ci_missing" });
    await expect(unloadKmod(cfg, { runner: e.runner, logger })).rejects.toThrow(
      `module kmm_ci_missing, kernel ${built.kernelVersion}: unload module failed: ${MODPROBE} -n -C ${e.modprobeD} -r -v -d ${imageRoot}/opt`,
    );
  });

  it("a missing modprobe binary is reported with the command", async () => {
    const e = await env();
    const runner = new ModprobeRunner({ binary: path.join(e.dir, "no-modprobe") });
    await expect(loadKmod(config(e, { moduleName: "kmm_ci_c" }), { runner, logger })).rejects.toThrow(
      /module kmm_ci_c, kernel .*: load module failed: .*no-modprobe -v -d .* -- kmm_ci_c failed \(exit ENOENT\)/,
    );
  });
  it("adds what to do about the kernel's answer: ENOSYS says the kernel cannot load modules", async () => {
    const e = await env();
    // Stands in for the kernel's answer only: modprobe's own words when init_module(2) fails with ENOSYS.
    const script = path.join(e.dir, "refusing-modprobe");
    await writeFile(script, `#!/bin/sh\necho "modprobe: ERROR: could not insert 'kmm_ci_c': Function not implemented" >&2\nexit 1\n`, { mode: 0o755 });
    const err = await loadKmod(config(e, { moduleName: "kmm_ci_c" }), { runner: new ModprobeRunner({ binary: script }), logger }).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(WorkerError);
    expect((err as WorkerError).message).toMatch(
      /^module kmm_ci_c, kernel .*: load module failed: .*refusing-modprobe -v -d .* -- kmm_ci_c failed \(exit 1\): modprobe: ERROR: could not insert 'kmm_ci_c': Function not implemented\nhint: the kernel cannot load modules \(ENOSYS\)/,
    );
  });
});
