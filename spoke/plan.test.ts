import { describe, expect, it } from "vitest";
import { moduleLoaderName } from "./daemonset.ts";
import { HASH_ANNOTATION, KERNEL_LABEL, MODULE_NAME_LABEL, ROLE_LABEL, VERSION_LABEL } from "./labels.ts";
import type { DaemonSetRead } from "./objects.ts";
import { plan, targetNodes, toleratesTaints, versionStep } from "./plan.ts";
import { statusUnchanged } from "./status.ts";
import { module, node, pod, settings } from "./testdata.ts";

const now = new Date("2026-11-23T12:00:00Z");
const ref = { namespace: "apps", name: "kmod-a" };
const loaderLabels = (kernel: string) => ({ [MODULE_NAME_LABEL]: "kmod-a", [ROLE_LABEL]: "module-loader", [KERNEL_LABEL]: kernel });
const dpLabels = { [MODULE_NAME_LABEL]: "kmod-a", [ROLE_LABEL]: "device-plugin" };
const READY = "kmm.node.kubernetes.io/apps.kmod-a.ready";
const VERSION_READY = "kmm.node.kubernetes.io/apps.kmod-a.version.ready";
const LOADER_V = "beta.kmm.node.kubernetes.io/version-worker-pod.apps.kmod-a";

function existing(name: string, labels: Record<string, string>, desired: number, available: number, hash?: string): DaemonSetRead {
  return {
    metadata: { name, namespace: "apps", labels, ...(hash !== undefined ? { annotations: { [HASH_ANNOTATION]: hash } } : {}) },
    status: { desiredNumberScheduled: desired, numberAvailable: available },
  };
}

describe("target nodes", () => {
  it("are schedulable, match the selector and tolerate the NoSchedule/NoExecute taints", () => {
    const tainted = node("t", "6.1.0-18-amd64", { taints: [{ key: "dedicated", value: "gpu", effect: "NoSchedule" }] });
    const nodes = [
      node("a", "6.1.0-18-amd64"),
      node("cordoned", "6.1.0-18-amd64", { unschedulable: true }),
      { ...node("other", "6.1.0-18-amd64"), metadata: { name: "other", labels: {} } },
      tainted,
      node("soft", "6.1.0-18-amd64", { taints: [{ key: "x", effect: "PreferNoSchedule" }] }),
    ];
    expect(targetNodes(module(), nodes).map((n) => n.metadata.name)).toEqual(["a", "soft"]);
    const tolerant = module({ spec: { tolerations: [{ key: "dedicated", operator: "Equal", value: "gpu", effect: "NoSchedule" }] } });
    expect(targetNodes(tolerant, nodes).map((n) => n.metadata.name)).toEqual(["a", "t", "soft"]);
    expect(toleratesTaints([{ key: "a", effect: "NoExecute" }], [{ operator: "Exists" }])).toBe(true);
    expect(toleratesTaints([{ key: "a", value: "1", effect: "NoExecute" }], [{ key: "a", value: "2" }])).toBe(false);
  });
});

describe("plan", () => {
  it("wants one module-loader DaemonSet per mapped kernel and reports kernels without mapping", () => {
    const nodes = [node("a", "6.1.0-18-amd64"), node("b", "5.14.0-70.el9.x86_64"), node("c", "6.1.0-18-amd64"), node("d", "4.18.0-1.el8")];
    const p = plan(module(), { nodes, pods: [], daemonSets: [] }, settings, now);
    expect(p.apply.map((d) => d.metadata.name).sort()).toEqual(
      [moduleLoaderName(ref, "5.14.0-70.el9.x86_64"), moduleLoaderName(ref, "6.1.0-18-amd64")].sort(),
    );
    expect(p.unmapped.map((u) => u.kernel)).toEqual(["4.18.0-1.el8"]);
    const mapped = p.status.conditions?.find((c) => c.type === "KernelsMapped");
    expect(mapped).toMatchObject({ status: "False", reason: "KernelsWithoutMapping", observedGeneration: 3 });
    expect(mapped?.message).toContain("4.18.0-1.el8");
    expect(p.status.moduleLoader).toEqual({ nodesMatchingSelectorNumber: 4, desiredNumber: 0, availableNumber: 0 });
    expect(p.remove).toEqual([]);
  });

  it("does not rewrite a DaemonSet whose hash is unchanged and removes stale ones", () => {
    const nodes = [node("a", "6.1.0-18-amd64")];
    const first = plan(module(), { nodes, pods: [], daemonSets: [] }, settings, now);
    const ds = first.apply[0]!;
    const observed = {
      nodes,
      pods: [],
      daemonSets: [
        existing(ds.metadata.name ?? "", loaderLabels("6.1.0-18-amd64"), 1, 1, ds.metadata.annotations?.[HASH_ANNOTATION]),
        existing("kmod-a-ml-old", loaderLabels("5.0.0-old"), 0, 0),
        existing("other-ml-x", { [MODULE_NAME_LABEL]: "other", [ROLE_LABEL]: "module-loader" }, 1, 1),
      ],
    };
    const second = plan(module(), observed, settings, now);
    expect(second.apply).toEqual([]);
    expect(second.remove).toEqual(["kmod-a-ml-old"]);
    expect(second.status.moduleLoader).toEqual({ nodesMatchingSelectorNumber: 1, desiredNumber: 1, availableNumber: 1 });
    expect(second.status.conditions?.find((c) => c.type === "ModuleLoaderAvailable")?.status).toBe("True");
  });

  it("labels nodes whose worker is ready, with ModuleLoaded, and unlabels them with ModuleUnloaded", () => {
    const nodes = [node("a", "6.1.0-18-amd64"), node("b", "6.1.0-18-amd64", { labels: { [READY]: "" } }), node("c", "6.1.0-18-amd64", { labels: { [READY]: "" } })];
    const pods = [
      pod("w-a", "a", loaderLabels("6.1.0-18-amd64"), true),
      pod("w-b", "b", loaderLabels("6.1.0-18-amd64"), false),
      pod("w-c", "c", loaderLabels("6.1.0-18-amd64"), true),
      pod("w-x", "a", loaderLabels("6.1.0-18-amd64"), true, "elsewhere"),
    ];
    const p = plan(module(), { nodes, pods, daemonSets: [] }, settings, now);
    expect(p.nodeLabels).toEqual(new Map([["a", { [READY]: "" }], ["b", { [READY]: null }]]));
    expect(p.nodeEvents).toEqual([
      { node: "a", reason: "ModuleLoaded", message: "Module apps/kmod-a loaded into the kernel" },
      { node: "b", reason: "ModuleUnloaded", message: "Module apps/kmod-a unloaded from the kernel" },
    ]);
  });

  it("wants the device plugin and counts it separately", () => {
    const mod = module({ spec: { devicePlugin: { container: { image: "registry.example.com/dp:1" } } } });
    const p = plan(mod, { nodes: [node("a", "6.1.0-18-amd64")], pods: [pod("dp-a", "a", dpLabels, true)], daemonSets: [existing("kmod-a-dp", dpLabels, 1, 1)] }, settings, now);
    expect(p.apply.map((d) => d.metadata.name)).toContain("kmod-a-dp");
    expect(p.status.devicePlugin).toEqual({ nodesMatchingSelectorNumber: 1, desiredNumber: 1, availableNumber: 1 });
    expect(p.nodeLabels.get("a")).toEqual({ "kmm.node.kubernetes.io/apps.kmod-a.device-plugin-ready": "" });
  });

  it("reports build and sign as ignored", () => {
    const mod = module({ container: { build: { dockerfileConfigMap: { name: "df" } } } });
    const p = plan(mod, { nodes: [], pods: [], daemonSets: [] }, settings, now);
    expect(p.buildOrSignIgnored).toBe(true);
    expect(p.status.conditions?.find((c) => c.type === "BuildAndSignIgnored")?.status).toBe("True");
    expect(plan(module(), { nodes: [], pods: [], daemonSets: [] }, settings, now).buildOrSignIgnored).toBe(false);
  });

  it("on deletion removes every DaemonSet and releases only when the pods are gone", () => {
    const mod = module({ metadata: { deletionTimestamp: "2026-11-23T11:00:00Z", finalizers: ["kmm.node.kubernetes.io/module-finalizer"] } });
    const nodes = [node("a", "6.1.0-18-amd64", { labels: { [READY]: "" } })];
    const ds = existing("kmod-a-ml-1", loaderLabels("6.1.0-18-amd64"), 1, 1);
    const busy = plan(mod, { nodes, pods: [pod("w-a", "a", loaderLabels("6.1.0-18-amd64"), true)], daemonSets: [ds] }, settings, now);
    expect(busy.apply).toEqual([]);
    expect(busy.remove).toEqual(["kmod-a-ml-1"]);
    expect(busy.released).toBe(false);
    expect(busy.nodeLabels.size).toBe(0);
    const done = plan(mod, { nodes, pods: [], daemonSets: [] }, settings, now);
    expect(done.released).toBe(true);
    expect(done.nodeLabels.get("a")).toEqual({ [READY]: null });
  });

  it("keeps condition transition times when nothing changed", () => {
    const nodes = [node("a", "6.1.0-18-amd64")];
    const first = plan(module(), { nodes, pods: [], daemonSets: [] }, settings, now);
    const mod = { ...module(), status: first.status };
    const later = plan(mod, { nodes, pods: [], daemonSets: [] }, settings, new Date("2026-11-23T13:00:00Z"));
    expect(statusUnchanged(first.status, later.status)).toBe(true);
    const changed = plan(mod, { nodes: [...nodes, node("b", "9.9.9-x")] , pods: [], daemonSets: [] }, settings, new Date("2026-11-23T13:00:00Z"));
    expect(statusUnchanged(first.status, changed.status)).toBe(false);
    expect(changed.status.conditions?.find((c) => c.type === "KernelsMapped")?.lastTransitionTime).toBe("2026-11-23T13:00:00Z");
  });
});

describe("ordered upgrade", () => {
  const base = { hasDevicePlugin: true, loaderPodPresent: false, loaderReady: false, devicePluginPodPresent: false };

  it("walks a node from v1 to v2: device plugin off, unload, load, device plugin on", () => {
    // The user moved the node's label to v2.
    const s = { ...base, target: "v2", loader: "v1", devicePlugin: "v1", loaderPodPresent: true, loaderReady: true, devicePluginPodPresent: true };
    expect(versionStep(s)).toEqual({ loader: "v1", devicePlugin: undefined });
    // Device plugin pod still there: the module stays loaded.
    expect(versionStep({ ...s, devicePlugin: undefined })).toEqual({ loader: "v1", devicePlugin: undefined });
    expect(versionStep({ ...s, devicePlugin: undefined, devicePluginPodPresent: false })).toEqual({ loader: undefined, devicePlugin: undefined });
    // Old worker still unloading: wait.
    expect(versionStep({ ...base, target: "v2", loader: undefined, devicePlugin: undefined, loaderPodPresent: true })).toEqual({ loader: undefined, devicePlugin: undefined });
    expect(versionStep({ ...base, target: "v2", loader: undefined, devicePlugin: undefined })).toEqual({ loader: "v2", devicePlugin: undefined });
    // New worker not ready yet, then ready.
    expect(versionStep({ ...base, target: "v2", loader: "v2", devicePlugin: undefined, loaderPodPresent: true })).toEqual({ loader: "v2", devicePlugin: undefined });
    expect(versionStep({ ...base, target: "v2", loader: "v2", devicePlugin: undefined, loaderPodPresent: true, loaderReady: true })).toEqual({ loader: "v2", devicePlugin: "v2" });
  });

  it("unloads when the user removes the label, and never sets a device plugin label without a device plugin", () => {
    expect(versionStep({ ...base, target: undefined, loader: "v1", devicePlugin: undefined })).toEqual({ loader: undefined, devicePlugin: undefined });
    expect(versionStep({ ...base, hasDevicePlugin: false, target: "v1", loader: "v1", devicePlugin: undefined, loaderReady: true })).toEqual({ loader: "v1", devicePlugin: undefined });
  });

  it("keeps the previous version's DaemonSet while a node still runs it", () => {
    const v2 = module({ container: { version: "v2" } });
    const nodes = [node("a", "6.1.0-18-amd64", { labels: { "kmm.node.kubernetes.io/version-module.apps.kmod-a": "v2", [LOADER_V]: "v1" } })];
    const oldLabels = { ...loaderLabels("6.1.0-18-amd64"), [VERSION_LABEL]: "v1" };
    const old = existing("kmod-a-ml-v1", oldLabels, 1, 1);
    const p = plan(v2, { nodes, pods: [pod("w-a", "a", oldLabels, true)], daemonSets: [old] }, settings, now);
    expect(p.remove).toEqual([]);
    // No device plugin: the old module is unloaded at once by moving its loader label away.
    expect(p.nodeLabels.get("a")).toEqual({ [READY]: "", [VERSION_READY]: "v1", [LOADER_V]: null });
    expect(p.apply[0]?.spec.template.spec.nodeSelector[LOADER_V]).toBe("v2");
    const gone = plan(v2, { nodes, pods: [], daemonSets: [{ ...old, status: { desiredNumberScheduled: 0 } }] }, settings, now);
    expect(gone.remove).toEqual(["kmod-a-ml-v1"]);
  });
});

describe("ordered upgrade labels", () => {
  it("reads a loader label of the earlier name as the current step and replaces it", () => {
    const v2 = module({ container: { version: "v2" } });
    const legacy = "beta.kmm.node.kubernetes.io/version-module-loader.apps.kmod-a";
    const labels = { ...loaderLabels("6.1.0-18-amd64"), [VERSION_LABEL]: "v2" };
    const nodes = [node("a", "6.1.0-18-amd64", { labels: { "kmm.node.kubernetes.io/version-module.apps.kmod-a": "v2", [legacy]: "v2" } })];
    const p = plan(v2, { nodes, pods: [pod("w-a", "a", labels, true)], daemonSets: [] }, settings, now);
    expect(p.nodeLabels.get("a")).toEqual({ [READY]: "", [VERSION_READY]: "v2", [LOADER_V]: "v2", [legacy]: null });
  });

  it("removes version.ready with the ready label, and never sets it for a Module without version", () => {
    const v2 = module({ container: { version: "v2" } });
    const nodes = [node("a", "6.1.0-18-amd64", { labels: { [READY]: "", [VERSION_READY]: "v2", [LOADER_V]: "v2", "kmm.node.kubernetes.io/version-module.apps.kmod-a": "v2" } })];
    const p = plan(v2, { nodes, pods: [], daemonSets: [] }, settings, now);
    expect(p.nodeLabels.get("a")).toEqual({ [READY]: null, [VERSION_READY]: null });
    const plain = plan(module(), { nodes: [node("b", "6.1.0-18-amd64")], pods: [pod("w-b", "b", loaderLabels("6.1.0-18-amd64"), true)], daemonSets: [] }, settings, now);
    expect(plain.nodeLabels.get("b")).toEqual({ [READY]: "" });
  });
});

describe("status of a device-plugin-only Module", () => {
  it("has no module-loader counters or conditions", () => {
    const dpOnly = module({ spec: { moduleLoader: undefined, devicePlugin: { container: { image: "registry.example.com/dp@sha256:" + "a".repeat(64) } } } });
    const p = plan(dpOnly, { nodes: [node("a", "6.1.0-18-amd64")], pods: [], daemonSets: [existing("kmod-a-dp", dpLabels, 1, 1)] }, settings, now);
    expect(p.status.moduleLoader).toBeUndefined();
    expect(p.status.conditions?.map((c) => c.type)).toEqual(["DevicePluginAvailable"]);
    expect(p.status.conditions?.[0]).toMatchObject({ status: "True", reason: "AllPodsAvailable" });
  });
});


// Kind 5 of issue 13 on the spoke: any kernel string a node reports is served or refused with the reason in status.
describe("kernel strings of any shape", () => {
  const kernels = ["6.1", "3.14-1-amd64", "6.1.0 custom@build#2", "not-a-kernel"];
  const nodes = kernels.map((k, i) => node(`n${i}`, k));

  it("get a module-loader DaemonSet when the mapping needs no part they lack", () => {
    const m = module({ container: { kernelMappings: [{ regexp: "^.+$", containerImage: "registry.example.com/kmod-a:${KERNEL_FULL_VERSION}" }] } });
    const p = plan(m, { nodes, pods: [], daemonSets: [] }, settings, now);
    expect(p.unmapped).toEqual([]);
    expect(p.apply.map((d) => d.spec.template.spec.initContainers?.[0]?.image).sort()).toEqual(
      ["registry.example.com/kmod-a:3.14-1-amd64", "registry.example.com/kmod-a:6.1", "registry.example.com/kmod-a:6.1.0_custom_build_2", "registry.example.com/kmod-a:not-a-kernel"].sort(),
    );
  });

  it("are refused, with the reason in the KernelsMapped condition, when the template needs a part they lack", () => {
    const m = module({
      container: {
        kernelMappings: [
          { literal: "3.14-1-amd64", containerImage: "registry.example.com/kmod-a:legacy" },
          { regexp: "^.+$", containerImage: "registry.example.com/kmod-a:${KERNEL_XYZ}" },
        ],
      },
    });
    const p = plan(m, { nodes, pods: [], daemonSets: [] }, settings, now);
    expect(p.unmapped.map((u) => u.kernel).sort()).toEqual(["6.1", "not-a-kernel"]);
    expect(p.apply.map((d) => d.spec.template.spec.initContainers?.[0]?.image).sort()).toEqual(["registry.example.com/kmod-a:6.1.0", "registry.example.com/kmod-a:legacy"]);
    const c = p.status.conditions?.find((x) => x.type === "KernelsMapped");
    expect(c?.status).toBe("False");
    expect(c?.message).toContain("6.1: kernel mapping 1 matches, but its containerImage 'registry.example.com/kmod-a:${KERNEL_XYZ}' uses ${KERNEL_XYZ}, which needs a MAJOR.MINOR.PATCH prefix");
  });
});
