import { describe, expect, it } from "vitest";
import { parseConfig } from "../shared/runtime/config.ts";
import { DEFAULT_WORKER_IMAGE, SettingsError, settingsFrom } from "./settings.ts";

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

  it("default to the published worker image, the pod's namespace and unmanaged mode", () => {
    const s = settingsFrom({ POD_NAMESPACE: "ops" }, config);
    expect(s.workerImage).toBe(DEFAULT_WORKER_IMAGE);
    expect(s.operatorNamespace).toBe("ops");
    expect(s.managed).toBe(false);
  });

  it("refuse values they cannot use, naming the variable", () => {
    expect(() => settingsFrom({ KMM_MANAGED: "yes" }, config)).toThrow(SettingsError);
    expect(() => settingsFrom({ RELATED_IMAGE_WORKER: "a b" }, config)).toThrow(/RELATED_IMAGE_WORKER/);
  });
});
