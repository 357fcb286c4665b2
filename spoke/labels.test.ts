import { describe, expect, it } from "vitest";
import {
  devicePluginReadyLabel,
  devicePluginVersionLabel,
  isValidLabelValue,
  kernelLabelValue,
  loaderVersionLabel,
  moduleVersionLabel,
  readyLabel,
  versionReadyLabel,
} from "./labels.ts";

describe("node labels", () => {
  const m = { namespace: "kmm-ops", name: "my-kmod" };
  it("follow upstream KMM's names", () => {
    expect(readyLabel(m)).toBe("kmm.node.kubernetes.io/kmm-ops.my-kmod.ready");
    expect(devicePluginReadyLabel(m)).toBe("kmm.node.kubernetes.io/kmm-ops.my-kmod.device-plugin-ready");
    expect(moduleVersionLabel(m)).toBe("kmm.node.kubernetes.io/version-module.kmm-ops.my-kmod");
    expect(loaderVersionLabel(m)).toBe("beta.kmm.node.kubernetes.io/version-worker-pod.kmm-ops.my-kmod");
    expect(versionReadyLabel(m)).toBe("kmm.node.kubernetes.io/kmm-ops.my-kmod.version.ready");
    expect(devicePluginVersionLabel(m)).toBe("beta.kmm.node.kubernetes.io/version-schedule-pod.kmm-ops.my-kmod");
  });

  it("keep a real kernel version as the kernel label value", () => {
    expect(kernelLabelValue("6.1.0-18-amd64")).toBe("6.1.0-18-amd64");
    expect(kernelLabelValue("5.14.0-284.30.1.el9_2.x86_64")).toBe("5.14.0-284.30.1.el9_2.x86_64");
  });

  it("turn other kernel versions into distinct valid label values", () => {
    const plus = kernelLabelValue("6.1.0+custom");
    const under = kernelLabelValue("6.1.0_custom");
    expect(isValidLabelValue(plus)).toBe(true);
    expect(plus).not.toBe(under);
    expect(plus.startsWith("6.1.0_custom-")).toBe(true);
    const long = `6.1.0-${"x".repeat(80)}`;
    const v = kernelLabelValue(long);
    expect(isValidLabelValue(v)).toBe(true);
    expect(v).not.toBe(kernelLabelValue(`${long}y`));
    expect(isValidLabelValue(kernelLabelValue("+++"))).toBe(true);
  });
});
