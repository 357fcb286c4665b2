import { describe, expect, it } from "vitest";
import { resolveKernelMapping, type ResolvedKernelMapping } from "../shared/kernel-mapping/kernel-mapping.ts";
import type { Module } from "../shared/api/module.ts";
import {
  WORKER_CONFIG_ANNOTATION,
  WorkerConfigBuildError,
  devicePluginDaemonSet,
  moduleLoaderDaemonSet,
  moduleLoaderName,
  serviceAccountFor,
} from "./daemonset.ts";
import { HASH_ANNOTATION, KERNEL_LABEL, MODULE_NAME_LABEL, ROLE_LABEL } from "./labels.ts";
import { workerConfigSchema } from "./worker/config.ts";
import { module, settings } from "./testdata.ts";

function mappingFor(mod: Module, kernel: string): ResolvedKernelMapping {
  const r = resolveKernelMapping(mod.spec, kernel, { moduleName: mod.metadata.name ?? "", moduleNamespace: mod.metadata.namespace ?? "" });
  if (!r.found) throw new Error(r.reason);
  return r.mapping;
}

describe("module-loader DaemonSet", () => {
  const mod = module();
  const ds = moduleLoaderDaemonSet({ module: mod, mapping: mappingFor(mod, "5.14.0-70.el9.x86_64"), settings });
  const pod = ds.spec.template.spec;

  it("selects the Module's nodes running the kernel", () => {
    expect(ds.metadata.name).toBe(moduleLoaderName({ namespace: "apps", name: "kmod-a" }, "5.14.0-70.el9.x86_64"));
    expect(ds.metadata.name).toMatch(/^kmod-a-ml-[0-9a-f]{10}$/);
    expect(ds.metadata.namespace).toBe("apps");
    expect(pod.nodeSelector).toEqual({ "node-role.kubernetes.io/worker": "", [KERNEL_LABEL]: "5.14.0-70.el9.x86_64" });
    expect(ds.spec.selector.matchLabels).toEqual({ [MODULE_NAME_LABEL]: "kmod-a", [ROLE_LABEL]: "module-loader", [KERNEL_LABEL]: "5.14.0-70.el9.x86_64" });
    expect(ds.spec.template.metadata.labels).toEqual(ds.spec.selector.matchLabels);
    expect(ds.metadata.ownerReferences).toEqual([{ apiVersion: "kmm.sigs.x-k8s.io/v1beta1", kind: "Module", name: "kmod-a", uid: "uid-1", controller: true }]);
  });

  it("copies the kmod image's files in an init container pulled with the Module's secret", () => {
    expect(pod.imagePullSecrets).toEqual([{ name: "pull-secret" }]);
    const init = pod.initContainers?.[0];
    expect(init?.image).toBe("registry.example.com/kmod-a:5.14.0-70.el9.x86_64");
    expect(init?.command?.slice(3)).toEqual(["kmod-image", "/opt"]);
    expect(init?.volumeMounts).toEqual([{ name: "kmm-image", mountPath: "/kmm-image" }]);
  });

  it("runs the worker with only SYS_MODULE, host module trees read-only, and its config", () => {
    const worker = pod.containers[0]!;
    expect(worker.image).toBe(settings.workerImage);
    expect(worker.args).toEqual(["kmod", "load", "/etc/kmm-worker/config.yaml"]);
    expect(worker.securityContext?.capabilities).toEqual({ drop: ["ALL"], add: ["SYS_MODULE"] });
    expect(worker.securityContext?.privileged).toBeUndefined();
    const mounts = Object.fromEntries((worker.volumeMounts ?? []).map((v) => [v.mountPath, v]));
    expect(mounts["/lib/modules"]?.readOnly).toBe(true);
    expect(mounts["/usr/lib/modules"]?.readOnly).toBe(true);
    expect(mounts["/var/lib/firmware"]).toBeUndefined();
    expect(worker.readinessProbe?.exec?.command).toEqual(["cat", "/var/run/kmm-worker/ready"]);
    const hostPaths = (pod.volumes ?? []).filter((v) => v.hostPath).map((v) => v.hostPath?.path);
    expect(hostPaths.sort()).toEqual(["/lib/modules", "/usr/lib/modules"]);
    const cfg = workerConfigSchema.parse(JSON.parse(ds.spec.template.metadata.annotations?.[WORKER_CONFIG_ANNOTATION] ?? ""));
    expect(cfg).toMatchObject({
      containerImage: "registry.example.com/kmod-a:5.14.0-70.el9.x86_64",
      kernelVersion: "5.14.0-70.el9.x86_64",
      imageRoot: "/kmm-image",
      modprobe: { moduleName: "kmod_a", parameters: ["debug=1"], dirName: "/opt" },
    });
    const cfgVolume = pod.volumes?.find((v) => v.name === "worker-config");
    expect(cfgVolume?.downwardAPI?.items?.[0]).toEqual({ path: "config.yaml", fieldRef: { fieldPath: `metadata.annotations['${WORKER_CONFIG_ANNOTATION}']` } });
    expect(pod.serviceAccountName).toBe("default");
  });

  it("mounts the firmware host path and runs privileged only when firmwarePath is set", () => {
    const fw = module({ container: { modprobe: { moduleName: "kmod_a", firmwarePath: "/firmware" } } });
    const d = moduleLoaderDaemonSet({ module: fw, mapping: mappingFor(fw, "6.1.0-18-amd64"), settings: { ...settings, firmwareHostPath: "/lib/firmware/updates" } });
    const worker = d.spec.template.spec.containers[0]!;
    expect(worker.securityContext?.privileged).toBe(true);
    expect(worker.volumeMounts?.find((v) => v.mountPath === "/lib/firmware/updates")?.readOnly).toBeUndefined();
    expect(d.spec.template.spec.volumes?.find((v) => v.name === "firmware")?.hostPath).toEqual({ path: "/lib/firmware/updates", type: "DirectoryOrCreate" });
    expect(d.spec.template.spec.initContainers?.[0]?.command?.slice(3)).toEqual(["kmod-image", "/opt", "/firmware"]);
    const cfg = workerConfigSchema.parse(JSON.parse(d.spec.template.metadata.annotations?.[WORKER_CONFIG_ANNOTATION] ?? ""));
    expect(cfg.firmwareHostPath).toBe("/lib/firmware/updates");
    expect(cfg.modprobe.firmwarePath).toBe("/firmware");
    expect(cfg.firmwareClassPath).toBeUndefined();
  });

  it("passes worker.setFirmwareClassPath to workers that load firmware, and only to those", () => {
    const withClassPath = { ...settings, firmwareHostPath: "/var/lib/firmware", firmwareClassPath: "/var/lib/firmware" };
    const fw = module({ container: { modprobe: { moduleName: "kmod_a", firmwarePath: "/firmware" } } });
    const d = moduleLoaderDaemonSet({ module: fw, mapping: mappingFor(fw, "6.1.0-18-amd64"), settings: withClassPath });
    const cfg = workerConfigSchema.parse(JSON.parse(d.spec.template.metadata.annotations?.[WORKER_CONFIG_ANNOTATION] ?? ""));
    expect(cfg.firmwareClassPath).toBe("/var/lib/firmware");

    const plain = module({ container: { modprobe: { moduleName: "kmod_a" } } });
    const p = moduleLoaderDaemonSet({ module: plain, mapping: mappingFor(plain, "6.1.0-18-amd64"), settings: withClassPath });
    const plainCfg = workerConfigSchema.parse(JSON.parse(p.spec.template.metadata.annotations?.[WORKER_CONFIG_ANNOTATION] ?? ""));
    expect(plainCfg.firmwareClassPath).toBeUndefined();
    expect(p.spec.template.spec.containers[0]?.securityContext?.privileged).toBeUndefined();
  });

  it("adds the Module's tolerations and the version label for ordered upgrades", () => {
    const v = module({
      container: { version: "v2" },
      spec: { tolerations: [{ key: "dedicated", operator: "Equal", value: "gpu", effect: "NoSchedule" }] },
    });
    const d = moduleLoaderDaemonSet({ module: v, mapping: mappingFor(v, "6.1.0-18-amd64"), settings });
    expect(d.spec.template.spec.tolerations).toEqual([{ key: "dedicated", operator: "Equal", value: "gpu", effect: "NoSchedule" }]);
    expect(d.spec.template.spec.nodeSelector["beta.kmm.node.kubernetes.io/version-worker-pod.apps.kmod-a"]).toBe("v2");
    expect(d.metadata.name).not.toBe(moduleLoaderName({ namespace: "apps", name: "kmod-a" }, "6.1.0-18-amd64"));
  });

  it("refuses settings the worker could not run, naming Module and kernel", () => {
    const bad = module({ container: { modprobe: { moduleName: "kmod_a", parameters: ["-x"] } } });
    expect(() => moduleLoaderDaemonSet({ module: bad, mapping: mappingFor(bad, "6.1.0-18-amd64"), settings })).toThrow(WorkerConfigBuildError);
    expect(() => moduleLoaderDaemonSet({ module: bad, mapping: mappingFor(bad, "6.1.0-18-amd64"), settings })).toThrow(/apps\/kmod-a, kernel 6\.1\.0-18-amd64.*parameters/);
  });

  it("carries a hash that changes exactly when the desired object changes", () => {
    const again = moduleLoaderDaemonSet({ module: mod, mapping: mappingFor(mod, "5.14.0-70.el9.x86_64"), settings });
    expect(again.metadata.annotations?.[HASH_ANNOTATION]).toBe(ds.metadata.annotations?.[HASH_ANNOTATION]);
    const other = moduleLoaderDaemonSet({ module: mod, mapping: mappingFor(mod, "5.14.0-70.el9.x86_64"), settings: { ...settings, workerImage: "w:2" } });
    expect(other.metadata.annotations?.[HASH_ANNOTATION]).not.toBe(ds.metadata.annotations?.[HASH_ANNOTATION]);
  });
});

describe("service accounts", () => {
  it("use the Module's, else KMM's own in the operator namespace, else default", () => {
    expect(serviceAccountFor(module({ spec: { moduleLoader: { serviceAccountName: "sa", container: module().spec.moduleLoader?.container } } }), "module-loader", "kmm")).toBe("sa");
    expect(serviceAccountFor(module({ namespace: "kmm" }), "module-loader", "kmm")).toBe("kmm-operator-module-loader");
    expect(serviceAccountFor(module({ namespace: "kmm" }), "device-plugin", "kmm")).toBe("kmm-operator-device-plugin");
    expect(serviceAccountFor(module({ namespace: "apps" }), "device-plugin", "kmm")).toBe("default");
  });
});

describe("device-plugin DaemonSet", () => {
  it("runs on every selected node when the Module has no module loader", () => {
    const mod = module({ spec: { moduleLoader: undefined, devicePlugin: { container: { image: "registry.example.com/dp:1" } } } });
    expect(devicePluginDaemonSet(mod, settings)?.spec.template.spec.nodeSelector).toEqual({ "node-role.kubernetes.io/worker": "" });
  });

  it("is absent without devicePlugin", () => {
    expect(devicePluginDaemonSet(module(), settings)).toBeUndefined();
  });

  it("runs privileged on nodes where the module is ready, with the kubelet socket dir and the user's volumes", () => {
    const mod = module({
      spec: {
        devicePlugin: {
          container: { image: "registry.example.com/dp:1", args: ["--x"], volumeMounts: [{ name: "cfg", mountPath: "/cfg" }] },
          volumes: [{ name: "cfg", configMap: { name: "dp-config" } }],
          serviceAccountName: "dp-sa",
        },
      },
    });
    const ds = devicePluginDaemonSet(mod, settings)!;
    const pod = ds.spec.template.spec;
    expect(ds.metadata.name).toBe("kmod-a-dp");
    expect(pod.nodeSelector).toEqual({ "node-role.kubernetes.io/worker": "", "kmm.node.kubernetes.io/apps.kmod-a.ready": "" });
    const c = pod.containers[0]!;
    expect(c.securityContext).toEqual({ privileged: true });
    expect(c.args).toEqual(["--x"]);
    expect(c.volumeMounts).toEqual([{ name: "kubelet-device-plugins", mountPath: "/var/lib/kubelet/device-plugins" }, { name: "cfg", mountPath: "/cfg" }]);
    expect(pod.volumes).toEqual([
      { name: "kubelet-device-plugins", hostPath: { path: "/var/lib/kubelet/device-plugins" } },
      { name: "cfg", configMap: { name: "dp-config" } },
    ]);
    expect(pod.serviceAccountName).toBe("dp-sa");
    expect(pod.imagePullSecrets).toEqual([{ name: "pull-secret" }]);
  });
});
