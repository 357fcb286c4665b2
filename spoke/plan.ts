// desired = f(observed) for one Module: which DaemonSets must exist, which go, which node labels
// change (and the Node events that go with them), and the status. No API calls here.
import type { Module, ModuleStatus } from "../shared/api/module.ts";
import type { Toleration } from "../shared/k8s/core.generated.ts";
import { resolveKernelMapping, type ResolvedKernelMapping } from "../shared/kernel-mapping/kernel-mapping.ts";
import { devicePluginDaemonSet, moduleLoaderDaemonSet, moduleRef } from "./daemonset.ts";
import {
  HASH_ANNOTATION,
  MODULE_NAME_LABEL,
  ROLE_DEVICE_PLUGIN,
  ROLE_LABEL,
  ROLE_MODULE_LOADER,
  VERSION_LABEL,
  devicePluginReadyLabel,
  devicePluginVersionLabel,
  kernelLabelValue,
  legacyDevicePluginVersionLabel,
  legacyLoaderVersionLabel,
  loaderVersionLabel,
  moduleVersionLabel,
  readyLabel,
  versionReadyLabel,
  type ModuleRef,
} from "./labels.ts";
import { podIsReady, type DaemonSet, type DaemonSetRead, type Node, type Pod, type Taint } from "./objects.ts";
import type { SpokeSettings } from "./settings.ts";
import { selectorMatches } from "../shared/kube/labels.ts";
import {
  CONDITION_BUILD_SIGN_IGNORED,
  CONDITION_DEVICE_PLUGIN_AVAILABLE,
  CONDITION_KERNELS_MAPPED,
  CONDITION_MODULE_LOADER_AVAILABLE,
  daemonSetCounters,
  mergeConditions,
  type DesiredCondition,
} from "./status.ts";

export interface Observed {
  nodes: readonly Node[];
  /** Pods and DaemonSets of this Module only (its namespace and module.name label). */
  pods: readonly Pod[];
  daemonSets: readonly DaemonSetRead[];
}

export interface NodeEvent {
  node: string;
  reason: "ModuleLoaded" | "ModuleUnloaded";
  message: string;
}

export interface Plan {
  apply: DaemonSet[];
  remove: string[];
  /** Per node: label → value, or null to remove. Only actual changes. */
  nodeLabels: Map<string, Record<string, string | null>>;
  nodeEvents: NodeEvent[];
  status: ModuleStatus;
  /** Kernels of target nodes with no usable mapping, with the reason. */
  unmapped: { kernel: string; reason: string }[];
  buildOrSignIgnored: boolean;
  /** Deleting, and every pod of the Module is gone: the finalizer may go once labels are cleared. */
  released: boolean;
}

function matchesTaint(t: Toleration, taint: Taint): boolean {
  if (t.effect !== undefined && t.effect !== "" && t.effect !== taint.effect) return false;
  if (t.operator === "Exists") return t.key === undefined || t.key === "" || t.key === taint.key;
  return t.key === taint.key && (t.value ?? "") === (taint.value ?? "");
}

/** A pod with these tolerations may be scheduled on (and keeps running on) a node with these taints. */
export function toleratesTaints(taints: readonly Taint[] | undefined, tolerations: readonly Toleration[] | undefined): boolean {
  return (taints ?? [])
    .filter((t) => t.effect === "NoSchedule" || t.effect === "NoExecute")
    .every((taint) => (tolerations ?? []).some((t) => matchesTaint(t, taint)));
}

/** Schedulable nodes that match the Module's selector and whose taints its tolerations accept. */
export function targetNodes(module: Module, nodes: readonly Node[]): Node[] {
  return nodes.filter(
    (n) =>
      n.spec?.unschedulable !== true &&
      selectorMatches(module.spec.selector, n.metadata.labels) &&
      toleratesTaints(n.spec?.taints, module.spec.tolerations),
  );
}

export function nodeKernel(n: Node): string | undefined {
  const k = n.status?.nodeInfo?.kernelVersion?.trim();
  return k === undefined || k === "" ? undefined : k;
}

export interface VersionStepInput {
  /** What the user's label asks for (undefined: the module must not run here). */
  target: string | undefined;
  loader: string | undefined;
  devicePlugin: string | undefined;
  hasDevicePlugin: boolean;
  loaderPodPresent: boolean;
  loaderReady: boolean;
  devicePluginPodPresent: boolean;
}

/**
 * One step of the ordered upgrade on a node: the device plugin goes before the module is unloaded,
 * the old module is unloaded (its pod gone) before the new one is loaded, and the device plugin
 * comes back only once the new module is ready. Returns the KMM-owned labels for the next step.
 */
export function versionStep(s: VersionStepInput): { loader: string | undefined; devicePlugin: string | undefined } {
  const { target } = s;
  if (s.devicePlugin !== undefined && s.devicePlugin !== target) return { loader: s.loader, devicePlugin: undefined };
  if (s.loader !== undefined && s.loader !== target) {
    return { loader: s.devicePluginPodPresent ? s.loader : undefined, devicePlugin: s.devicePlugin };
  }
  if (s.loader === undefined && target !== undefined) {
    return { loader: s.loaderPodPresent ? undefined : target, devicePlugin: s.devicePlugin };
  }
  if (target !== undefined && s.loader === target && s.devicePlugin === undefined && s.hasDevicePlugin && s.loaderReady) {
    return { loader: s.loader, devicePlugin: target };
  }
  return { loader: s.loader, devicePlugin: s.devicePlugin };
}

function roleOf(o: { metadata: { labels?: Record<string, string> | undefined } }): string | undefined {
  return o.metadata.labels?.[ROLE_LABEL];
}

function belongsTo(m: ModuleRef, o: { metadata: { namespace?: string | undefined; labels?: Record<string, string> | undefined } }): boolean {
  return o.metadata.namespace === m.namespace && o.metadata.labels?.[MODULE_NAME_LABEL] === m.name;
}

export function plan(module: Module, observed: Observed, settings: SpokeSettings, now: Date): Plan {
  const m = moduleRef(module);
  const deleting = module.metadata.deletionTimestamp !== undefined;
  const container = module.spec.moduleLoader?.container;
  const rawVersion = container?.version;
  const version = rawVersion !== undefined && rawVersion !== "" ? rawVersion : undefined;
  const pods = observed.pods.filter((p) => belongsTo(m, p));
  const daemonSets = observed.daemonSets.filter((d) => belongsTo(m, d));
  const targets = targetNodes(module, observed.nodes);

  // Kernels → mapping → DaemonSet.
  const kernels = [...new Set(targets.map(nodeKernel).filter((k): k is string => k !== undefined))].sort();
  const apply: DaemonSet[] = [];
  const unmapped: { kernel: string; reason: string }[] = [];
  const mappedKernels = new Set<string>();
  if (!deleting && container !== undefined) {
    for (const kernel of kernels) {
      let mapping: ResolvedKernelMapping;
      try {
        const r = resolveKernelMapping(module.spec, kernel, { moduleName: m.name, moduleNamespace: m.namespace });
        if (!r.found) {
          unmapped.push({ kernel, reason: r.reason });
          continue;
        }
        mapping = r.mapping;
        apply.push(moduleLoaderDaemonSet({ module, mapping, settings }));
        mappedKernels.add(kernel);
      } catch (err) {
        unmapped.push({ kernel, reason: err instanceof Error ? err.message : String(err) });
      }
    }
  }
  const dp = deleting ? undefined : devicePluginDaemonSet(module, settings);
  if (dp !== undefined) apply.push(dp);

  // DaemonSets no longer wanted. With ordered upgrade, a previous version's DaemonSet stays until no
  // node selects it any more: its image is not in the Module any more, so it could not be recreated.
  const wanted = new Set(apply.map((d) => d.metadata.name));
  const currentVersion = version === undefined ? undefined : kernelLabelValue(version);
  const remove = daemonSets
    .filter((d) => !wanted.has(d.metadata.name) && d.metadata.deletionTimestamp === undefined)
    .filter((d) => {
      const v = d.metadata.labels?.[VERSION_LABEL];
      if (deleting || v === undefined || v === currentVersion) return true;
      const running = pods.some((p) => p.metadata.labels?.[VERSION_LABEL] === v && roleOf(p) === roleOf(d));
      return (d.status?.desiredNumberScheduled ?? 0) === 0 && !running;
    })
    .map((d) => d.metadata.name);
  // Skip writes of DaemonSets whose stored hash already matches.
  const existingHash = new Map(daemonSets.map((d) => [d.metadata.name, d.metadata.annotations?.[HASH_ANNOTATION]]));
  const changed = apply.filter((d) => existingHash.get(d.metadata.name ?? "") !== d.metadata.annotations?.[HASH_ANNOTATION]);

  // Node labels.
  const targetNames = new Set(targets.filter((n) => mappedKernels.has(nodeKernel(n) ?? "")).map((n) => n.metadata.name));
  const nodeLabels = new Map<string, Record<string, string | null>>();
  const nodeEvents: NodeEvent[] = [];
  const ready = readyLabel(m);
  const versionReady = versionReadyLabel(m);
  const dpReady = devicePluginReadyLabel(m);
  const loaderLabel = loaderVersionLabel(m);
  const dpLabel = devicePluginVersionLabel(m);
  const legacyLoaderLabel = legacyLoaderVersionLabel(m);
  const legacyDpLabel = legacyDevicePluginVersionLabel(m);
  const podsOn = (node: string, role: string, readyOnly: boolean): Pod[] =>
    pods.filter((p) => p.spec?.nodeName === node && roleOf(p) === role && (!readyOnly || podIsReady(p)));
  const podOn = (node: string, role: string, readyOnly: boolean): boolean => podsOn(node, role, readyOnly).length > 0;
  for (const n of observed.nodes) {
    const labels = n.metadata.labels ?? {};
    const want: Record<string, string | undefined> = {};
    const readyLoaders = podsOn(n.metadata.name, ROLE_MODULE_LOADER, true);
    const loaderReady = readyLoaders.length > 0;
    want[ready] = loaderReady ? "" : undefined;
    // Upstream's `<ns>.<name>.version.ready=<version>`: the version whose module is loaded here (the
    // label of the ready loader pod), set and removed with the ready label; upgrade tooling reads it.
    want[versionReady] = readyLoaders.map((p) => p.metadata.labels?.[VERSION_LABEL]).find((v) => v !== undefined);
    want[dpReady] = podOn(n.metadata.name, ROLE_DEVICE_PLUGIN, true) ? "" : undefined;
    // Labels written under the earlier names (see LEGACY_LOADER_VERSION_LABEL_PREFIX) count as the
    // current step once, and are replaced by the current names.
    const loaderNow = labels[loaderLabel] ?? labels[legacyLoaderLabel];
    const dpNow = labels[dpLabel] ?? labels[legacyDpLabel];
    if (labels[legacyLoaderLabel] !== undefined) want[legacyLoaderLabel] = undefined;
    if (labels[legacyDpLabel] !== undefined) want[legacyDpLabel] = undefined;
    if (version !== undefined || loaderNow !== undefined || dpNow !== undefined) {
      const step = versionStep({
        target: !deleting && version !== undefined && targetNames.has(n.metadata.name) ? labels[moduleVersionLabel(m)] : undefined,
        loader: loaderNow,
        devicePlugin: dpNow,
        hasDevicePlugin: dp !== undefined,
        loaderPodPresent: podOn(n.metadata.name, ROLE_MODULE_LOADER, false),
        loaderReady,
        devicePluginPodPresent: podOn(n.metadata.name, ROLE_DEVICE_PLUGIN, false),
      });
      want[loaderLabel] = step.loader;
      want[dpLabel] = step.devicePlugin;
    }
    const changes: Record<string, string | null> = {};
    for (const [k, v] of Object.entries(want)) {
      if (v === undefined && labels[k] !== undefined) changes[k] = null;
      else if (v !== undefined && labels[k] !== v) changes[k] = v;
    }
    if (Object.keys(changes).length > 0) nodeLabels.set(n.metadata.name, changes);
    if (changes[ready] === "") {
      nodeEvents.push({ node: n.metadata.name, reason: "ModuleLoaded", message: `Module ${m.namespace}/${m.name} loaded into the kernel` });
    } else if (changes[ready] === null) {
      nodeEvents.push({ node: n.metadata.name, reason: "ModuleUnloaded", message: `Module ${m.namespace}/${m.name} unloaded from the kernel` });
    }
  }

  // Status.
  const loaderSets = daemonSets.filter((d) => roleOf(d) === ROLE_MODULE_LOADER);
  const dpSets = daemonSets.filter((d) => roleOf(d) === ROLE_DEVICE_PLUGIN);
  const moduleLoader = container !== undefined ? daemonSetCounters(targets.length, loaderSets) : undefined;
  const devicePlugin = module.spec.devicePlugin !== undefined ? daemonSetCounters(targets.length, dpSets) : undefined;
  const buildOrSignIgnored =
    container !== undefined &&
    (container.build !== undefined || container.sign !== undefined || container.kernelMappings.some((k) => k.build !== undefined || k.sign !== undefined));
  // A Module without a module loader (a device plugin only) has no module-loader conditions.
  const conds: DesiredCondition[] = [];
  if (moduleLoader !== undefined) {
    conds.push(
      unmapped.length === 0
        ? { type: CONDITION_KERNELS_MAPPED, status: "True", reason: "AllKernelsMapped", message: `kernels ${kernels.join(", ") || "(none)"} have a kernel mapping` }
        : {
            type: CONDITION_KERNELS_MAPPED,
            status: "False",
            reason: "KernelsWithoutMapping",
            message: unmapped.map((u) => `${u.kernel}: ${u.reason}`).join("; "),
          },
      loaderCondition(CONDITION_MODULE_LOADER_AVAILABLE, moduleLoader.desiredNumber ?? 0, moduleLoader.availableNumber ?? 0),
    );
  }
  if (devicePlugin !== undefined) {
    conds.push(loaderCondition(CONDITION_DEVICE_PLUGIN_AVAILABLE, devicePlugin.desiredNumber ?? 0, devicePlugin.availableNumber ?? 0));
  }
  if (buildOrSignIgnored) {
    conds.push({
      type: CONDITION_BUILD_SIGN_IGNORED,
      status: "True",
      reason: "ManagedMode",
      message: "build and sign are never run by the spoke edition: the kmod images must already exist (the hub builds and signs them)",
    });
  }
  const status: ModuleStatus = {
    ...(moduleLoader !== undefined ? { moduleLoader } : {}),
    ...(devicePlugin !== undefined ? { devicePlugin } : {}),
    conditions: mergeConditions(module.status?.conditions, conds, module.metadata.generation, now),
  };

  return {
    apply: changed,
    remove,
    nodeLabels,
    nodeEvents,
    status,
    unmapped,
    buildOrSignIgnored,
    released: deleting && pods.length === 0 && daemonSets.length === 0,
  };
}

function loaderCondition(type: string, desired: number, available: number): DesiredCondition {
  if (desired > 0 && available >= desired) {
    return { type, status: "True", reason: "AllPodsAvailable", message: `${available} of ${desired} pods available` };
  }
  return { type, status: "False", reason: desired === 0 ? "NoPodsScheduled" : "PodsNotAvailable", message: `${available} of ${desired} pods available` };
}
