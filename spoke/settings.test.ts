import { describe, expect, it } from "vitest";
import { parseConfig } from "../shared/runtime/config.ts";
import { SettingsError, settingsFrom } from "./settings.ts";

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
