import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../shared/runtime/config.ts";
import { configFromArgs, SettingsError, settingsFrom } from "./settings.ts";

const config = parseConfig("worker:\n  firmwareHostPath: /lib/firmware/updates\n  runAsUser: 0\n", "spoke");

describe("spoke settings", () => {
  it("take upstream's variables and the worker settings of the config file", () => {
    const s = settingsFrom({ RELATED_IMAGE_WORKER: "registry.example.com/w:1", OPERATOR_NAMESPACE: "kmm", KMM_MANAGED: "1" }, config);
    expect(s).toEqual({
      workerImage: "registry.example.com/w:1",
      operatorNamespace: "kmm",
      managed: true,
      runAsUser: 0,
      seLinuxType: "spc_t",
      firmwareHostPath: "/lib/firmware/updates",
    });
  });

  it("default to the pod's namespace and unmanaged mode", () => {
    const s = settingsFrom({ POD_NAMESPACE: "ops", RELATED_IMAGE_WORKER: "registry.example.com/w@sha256:" + "0".repeat(64) }, config);
    expect(s.operatorNamespace).toBe("ops");
    expect(s.managed).toBe(false);
  });

  it("refuse values they cannot use, naming the variable", () => {
    expect(() => settingsFrom({ KMM_MANAGED: "yes", RELATED_IMAGE_WORKER: "w:1" }, config)).toThrow(SettingsError);
    expect(() => settingsFrom({ RELATED_IMAGE_WORKER: "a b" }, config)).toThrow(/RELATED_IMAGE_WORKER/);
  });

  it("require RELATED_IMAGE_WORKER, as upstream KMM does: no placeholder worker image", () => {
    for (const env of [{}, { RELATED_IMAGE_WORKER: "" }]) {
      expect(() => settingsFrom(env, config)).toThrow(SettingsError);
      expect(() => settingsFrom(env, config)).toThrow(/RELATED_IMAGE_WORKER: is not set: the spoke needs the worker image/);
    }
  });
});

describe("the spoke's command line", () => {
  it("binds to the config file's addresses, or the defaults without one", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kmm-spoke-args-"));
    try {
      await writeFile(join(dir, "c.yaml"), 'healthProbeBindAddress: ":18081"\nmetrics:\n  bindAddress: "127.0.0.1:18443"\n  secureServing: false\n');
      const fromFile = await configFromArgs(["--config", join(dir, "c.yaml")]);
      expect([fromFile.healthProbeBindAddress, fromFile.metrics.bindAddress, fromFile.metrics.secureServing]).toEqual([":18081", "127.0.0.1:18443", false]);
      const defaults = await configFromArgs([]);
      expect([defaults.healthProbeBindAddress, defaults.metrics.bindAddress]).toEqual([":8081", "0.0.0.0:8443"]);
      // The flags win over the file; the file's other metrics settings stay.
      const flagged = await configFromArgs(["--config", join(dir, "c.yaml"), "--health-probe-bind-address=127.0.0.3:8081", "--metrics-bind-address", "127.0.0.3:8443"]);
      expect([flagged.healthProbeBindAddress, flagged.metrics.bindAddress, flagged.metrics.secureServing]).toEqual(["127.0.0.3:8081", "127.0.0.3:8443", false]);
      // One flag alone leaves the other address as the file has it.
      const one = await configFromArgs(["--config", join(dir, "c.yaml"), "--metrics-bind-address=0"]);
      expect([one.healthProbeBindAddress, one.metrics.bindAddress]).toEqual([":18081", "0"]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses a bad address, naming the flag's key, and an unknown flag", async () => {
    // An unexpanded $(POD_IP): the pod spec lacks the POD_IP variable.
    await expect(configFromArgs(["--health-probe-bind-address=$(POD_IP):8081"])).rejects.toThrow(ConfigError);
    await expect(configFromArgs(["--health-probe-bind-address=$(POD_IP):8081"])).rejects.toThrow('invalid configuration in the command-line flags:\n  healthProbeBindAddress: "$(POD_IP):8081" is not a bind address');
    await expect(configFromArgs(["--metrics-bind-address=127.0.0.3:http"])).rejects.toThrow(/metrics\.bindAddress: "127\.0\.0\.3:http" is not a bind address/);
    await expect(configFromArgs(["--metrics-bind-adress=:1"])).rejects.toMatchObject({ code: "ERR_PARSE_ARGS_UNKNOWN_OPTION" });
  });
});
