import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WorkerConfigError, parseWorkerConfig, readWorkerConfig } from "./config.ts";
import { softdepConfig } from "./worker.ts";

const minimal = { containerImage: "registry.example/org/kmod:6.1.0-56-amd64", kernelVersion: "6.1.0-56-amd64" };

function withModprobe(modprobe: Record<string, unknown>, extra: Record<string, unknown> = {}): unknown {
  return { ...minimal, modprobe, ...extra };
}

function problems(data: unknown): string {
  try {
    parseWorkerConfig(data, "cfg.yaml");
  } catch (err) {
    expect(err).toBeInstanceOf(WorkerConfigError);
    return (err as Error).message;
  }
  throw new Error("expected the config to be rejected");
}

describe("workerConfigSchema", () => {
  it("applies upstream's defaults and the host path defaults", () => {
    const cfg = parseWorkerConfig(withModprobe({ moduleName: "kmm_ci_a" }), "cfg.yaml");
    expect(cfg.modprobe.dirName).toBe("/opt");
    expect(cfg.modprobe.parameters).toEqual([]);
    expect(cfg.inTreeModulesToRemove).toEqual([]);
    expect(cfg.firmwareHostPath).toBe("/var/lib/firmware");
    expect(cfg.firmwareClassPathFile).toBe("/sys/module/firmware_class/parameters/path");
    expect(cfg.firmwareClassPath).toBeUndefined();
    expect(cfg.modprobeConfigDir).toBe("/etc/modprobe.d");
    expect(cfg.imageRoot).toBe("/");
  });

  it("accepts upstream's worker config fields, merging the deprecated inTreeModuleToRemove", () => {
    const cfg = parseWorkerConfig(
      withModprobe(
        {
          moduleName: "test",
          parameters: ["key0=value0", "key1=value1"],
          dirName: "/path",
          args: { load: ["--first-time"], unload: ["--syslog"] },
          rawArgs: { load: ["load", "rawargs"], unload: ["unload", "rawargs"] },
          firmwarePath: "/some/path",
          modulesLoadingOrder: ["test", "mod2"],
        },
        { insecurePull: true, inTreeModulesToRemove: ["intree1"], inTreeModuleToRemove: "intree2" },
      ),
      "cfg.yaml",
    );
    expect(cfg.inTreeModulesToRemove).toEqual(["intree1", "intree2"]);
    expect(cfg.modprobe.rawArgs?.unload).toEqual(["unload", "rawargs"]);
  });

  it("refuses parameters and module names that modprobe would read as options", () => {
    expect(problems(withModprobe({ moduleName: "kmm_ci_a", parameters: ["--force"] }))).toMatch(/modprobe\.parameters\.0: must be 'name' or 'name=value'/);
    expect(problems(withModprobe({ moduleName: "kmm_ci_a", parameters: ["-f"] }))).toContain("modprobe.parameters.0");
    expect(problems(withModprobe({ moduleName: "-f" }))).toContain("modprobe.moduleName: must be a kernel module name");
    expect(problems(withModprobe({ moduleName: "a b" }))).toContain("modprobe.moduleName");
    expect(problems(withModprobe({ moduleName: "kmm_ci_a" }, { inTreeModulesToRemove: ["--all"] }))).toContain("inTreeModulesToRemove.0");
    expect(problems(withModprobe({ moduleName: "kmm_ci_a", modulesLoadingOrder: ["kmm_ci_a", "-r"] }))).toContain("modprobe.modulesLoadingOrder.1");
  });

  it("keeps args to options and refuses a bare '--'", () => {
    expect(problems(withModprobe({ moduleName: "a", args: { load: ["othermodule"] } }))).toContain("modprobe.args.load.0: must be a modprobe option");
    expect(problems(withModprobe({ moduleName: "a", args: { unload: ["--"] } }))).toContain("modprobe.args.unload.0");
  });

  it("requires moduleName unless rawArgs is set, and both rawArgs lists", () => {
    expect(problems(withModprobe({}))).toContain("modprobe.moduleName: moduleName is required unless rawArgs is set");
    expect(parseWorkerConfig(withModprobe({ rawArgs: { load: ["x"], unload: ["y"] } }), "c").modprobe.moduleName).toBeUndefined();
    expect(problems(withModprobe({ rawArgs: { load: ["x"] } }))).toContain("modprobe.rawArgs.unload");
  });

  it("checks modulesLoadingOrder as upstream's webhook does", () => {
    expect(problems(withModprobe({ moduleName: "a", modulesLoadingOrder: ["b", "a"] }))).toContain(
      "modprobe.modulesLoadingOrder.0: the first module of modulesLoadingOrder (loaded last) must be moduleName 'a'",
    );
    expect(problems(withModprobe({ moduleName: "a", modulesLoadingOrder: ["a", "b", "b"] }))).toContain("duplicate module 'b'");
    expect(problems(withModprobe({ moduleName: "a", modulesLoadingOrder: ["a"] }))).toContain("at least two modules");
  });

  it("refuses relative and escaping paths and odd kernel versions", () => {
    expect(problems(withModprobe({ moduleName: "a", dirName: "opt" }))).toContain("modprobe.dirName: must be an absolute path");
    expect(problems(withModprobe({ moduleName: "a", firmwarePath: "/firmware/../../etc" }))).toContain("modprobe.firmwarePath: must not contain '..'");
    expect(problems({ ...minimal, kernelVersion: "../6.1", modprobe: { moduleName: "a" } })).toContain("kernelVersion");
    expect(problems({ containerImage: "x", modprobe: { moduleName: "a" } })).toContain("kernelVersion");
  });
});

describe("softdepConfig", () => {
  it("chains each module after the next one in the list", () => {
    expect(softdepConfig(["a", "b", "c"])).toBe("softdep a pre: b\nsoftdep b pre: c\n");
    expect(softdepConfig(["a"])).toBe("");
  });
});

describe("readWorkerConfig", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "kmm-worker-config-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("reads YAML as the DaemonSet builder writes it", async () => {
    const file = path.join(dir, "config.yaml");
    await writeFile(
      file,
      "containerImage: registry.example/kmod@sha256:" + "a".repeat(64) + "\nkernelVersion: 6.1.0-56-amd64\nmodprobe:\n  moduleName: kmm_ci_a\n  parameters: [level=2]\n",
    );
    const cfg = await readWorkerConfig(file);
    expect(cfg.modprobe.parameters).toEqual(["level=2"]);
  });

  it("reads the file as upstream's worker (sigs.k8s.io/yaml, YAML 1.1) does: a parameter 0o17 stays a string", async () => {
    const file = path.join(dir, "yaml11.yaml");
    await writeFile(file, "containerImage: registry.example/kmod@sha256:" + "a".repeat(64) + "\nkernelVersion: 6.1.0-56-amd64\nmodprobe:\n  moduleName: kmm_ci_a\n  parameters: [0o17]\n");
    expect((await readWorkerConfig(file)).modprobe.parameters).toEqual(["0o17"]);
  });

  it("names the file in every error", async () => {
    const bad = path.join(dir, "bad.yaml");
    await writeFile(bad, "modprobe: [unclosed\n");
    await expect(readWorkerConfig(bad)).rejects.toThrow(`worker config ${bad} is not valid YAML`);
    await expect(readWorkerConfig(path.join(dir, "missing.yaml"))).rejects.toThrow(`cannot read worker config ${dir}/missing.yaml`);
    const invalid = path.join(dir, "invalid.yaml");
    await writeFile(invalid, "containerImage: x\nkernelVersion: 6.1.0-56-amd64\nmodprobe: {moduleName: kmm_ci_a, parameters: [--force]}\n");
    await expect(readWorkerConfig(invalid)).rejects.toThrow(`worker config ${invalid} is not valid: modprobe.parameters.0`);
  });
});
