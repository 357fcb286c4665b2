// Desired module-loader and device-plugin DaemonSets of a Module: pure functions, no API calls.
//
// Module loader pod: an init container runs the kmod image and copies its module directory (and
// firmware directory) into an emptyDir, because the kubelet is what can pull that image with the
// Module's pull secret; the worker container then loads from that copy, keeps running, and
// unloads when the pod is terminated (SIGTERM). Its config travels as a pod annotation projected
// into a file through the downward API, so a config change is a pod template change and rolls.
import type { Module } from "../shared/api/module.ts";
import type { ResolvedKernelMapping } from "../shared/kernel-mapping/kernel-mapping.ts";
import type { Container, OwnerReference, Volume, VolumeMount } from "../shared/k8s/core.generated.ts";
// Not from worker/main.ts: that module runs the worker when it is part of the running bundle.
import { DEFAULT_CONFIG_PATH, workerConfigSchema, type WorkerConfigInput } from "./worker/config.ts";
import { READY_FILE } from "./worker/worker.ts";
import {
  HASH_ANNOTATION,
  KERNEL_LABEL,
  MODULE_NAME_LABEL,
  ROLE_DEVICE_PLUGIN,
  ROLE_LABEL,
  ROLE_MODULE_LOADER,
  VERSION_LABEL,
  devicePluginVersionLabel,
  kernelLabelValue,
  labelValue,
  loaderVersionLabel,
  readyLabel,
  shortHash,
  type ModuleRef,
} from "./labels.ts";
import { daemonSetSchema, type DaemonSet, type PodSpec } from "./objects.ts";
import {
  DEFAULT_DEVICE_PLUGIN_SERVICE_ACCOUNT,
  DEFAULT_MODULE_LOADER_SERVICE_ACCOUNT,
  type SpokeSettings,
} from "./settings.ts";

export const WORKER_CONFIG_ANNOTATION = "kmm.node.kubernetes.io/worker-config";
export const IMAGE_ROOT = "/kmm-image";
export const WORKER_STATE_DIR = "/var/run/kmm-worker";
export const DEVICE_PLUGINS_PATH = "/var/lib/kubelet/device-plugins";
/** Room for modprobe -r and the firmware clean-up after SIGTERM. */
export const WORKER_TERMINATION_GRACE_SECONDS = 60;

export class WorkerConfigBuildError extends Error {
  override readonly name = "WorkerConfigBuildError";
}

export function moduleRef(module: Module): ModuleRef {
  return { namespace: module.metadata.namespace ?? "default", name: module.metadata.name ?? "" };
}

/** DaemonSet names stay DNS labels: Module name (≤ 40 by the CRD rule) + role + hash of what varies. */
export function moduleLoaderName(m: ModuleRef, kernel: string, version?: string): string {
  return `${m.name}-ml-${shortHash(version === undefined ? kernel : `${kernel}\n${version}`)}`;
}

export function devicePluginName(m: ModuleRef, version?: string): string {
  return version === undefined ? `${m.name}-dp` : `${m.name}-dp-${shortHash(version)}`;
}

function ownerReference(module: Module): OwnerReference[] {
  const uid = module.metadata.uid;
  if (uid === undefined) return [];
  return [{ apiVersion: module.apiVersion, kind: module.kind, name: module.metadata.name ?? "", uid, controller: true }];
}

/**
 * Upstream's rule: a ServiceAccount named in the Module always wins; otherwise Modules in the
 * operator's namespace use KMM's own privileged accounts and every other namespace its `default`.
 */
export function serviceAccountFor(module: Module, role: "module-loader" | "device-plugin", operatorNamespace: string): string {
  const named = role === ROLE_MODULE_LOADER ? module.spec.moduleLoader?.serviceAccountName : module.spec.devicePlugin?.serviceAccountName;
  if (named !== undefined && named !== "") return named;
  if (module.metadata.namespace === operatorNamespace) {
    return role === ROLE_MODULE_LOADER ? DEFAULT_MODULE_LOADER_SERVICE_ACCOUNT : DEFAULT_DEVICE_PLUGIN_SERVICE_ACCOUNT;
  }
  return "default";
}

/** The worker's config for one kernel, validated with the worker's own schema. */
export function workerConfig(module: Module, mapping: ResolvedKernelMapping, settings: SpokeSettings): WorkerConfigInput {
  const container = module.spec.moduleLoader?.container;
  if (container === undefined) throw new WorkerConfigBuildError(`Module ${moduleRef(module).namespace}/${moduleRef(module).name} has no moduleLoader`);
  const mp = container.modprobe;
  const cfg: WorkerConfigInput = {
    containerImage: mapping.containerImage,
    kernelVersion: mapping.kernel.full,
    inTreeModulesToRemove: mapping.inTreeModulesToRemove ?? [],
    modprobe: {
      ...(mp.moduleName !== undefined && mp.moduleName !== "" ? { moduleName: mp.moduleName } : {}),
      parameters: mp.parameters ?? [],
      dirName: mp.dirName,
      ...(mp.args !== undefined ? { args: { load: mp.args.load ?? [], unload: mp.args.unload ?? [] } } : {}),
      ...(mp.rawArgs?.load !== undefined && mp.rawArgs.unload !== undefined
        ? { rawArgs: { load: mp.rawArgs.load, unload: mp.rawArgs.unload } }
        : {}),
      ...(mp.firmwarePath !== undefined && mp.firmwarePath !== "" ? { firmwarePath: mp.firmwarePath } : {}),
      ...(mp.modulesLoadingOrder !== undefined && mp.modulesLoadingOrder.length > 0 ? { modulesLoadingOrder: mp.modulesLoadingOrder } : {}),
    },
    imageRoot: IMAGE_ROOT,
    hostModulesRoot: "/",
    firmwareHostPath: settings.firmwareHostPath,
    // Only a worker that copies firmware runs privileged, which writing to /sys needs.
    ...(mp.firmwarePath !== undefined && mp.firmwarePath !== "" && settings.firmwareClassPath !== undefined
      ? { firmwareClassPath: settings.firmwareClassPath }
      : {}),
    stateDir: WORKER_STATE_DIR,
  };
  const checked = workerConfigSchema.safeParse(cfg);
  if (!checked.success) {
    const problems = checked.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    const m = moduleRef(module);
    throw new WorkerConfigBuildError(`Module ${m.namespace}/${m.name}, kernel ${mapping.kernel.full}: the module loader settings cannot be run: ${problems}`);
  }
  return cfg;
}

function hostPathVolume(name: string, path: string, type?: string): Volume {
  return { name, hostPath: { path, ...(type !== undefined ? { type } : {}) } };
}

/** Stamps the hash of the object (before stamping) so an unchanged desired object is never re-applied. */
function withHash(ds: DaemonSet): DaemonSet {
  const checked = daemonSetSchema.parse(ds);
  const hash = shortHash(JSON.stringify(checked), 16);
  return { ...checked, metadata: { ...checked.metadata, annotations: { ...checked.metadata.annotations, [HASH_ANNOTATION]: hash } } };
}

export interface ModuleLoaderInput {
  module: Module;
  mapping: ResolvedKernelMapping;
  settings: SpokeSettings;
}

export function moduleLoaderDaemonSet({ module, mapping, settings }: ModuleLoaderInput): DaemonSet {
  const m = moduleRef(module);
  const container = module.spec.moduleLoader?.container;
  if (container === undefined) throw new WorkerConfigBuildError(`Module ${m.namespace}/${m.name} has no moduleLoader`);
  const version = container.version !== undefined && container.version !== "" ? container.version : undefined;
  const kernel = mapping.kernel.full;
  const cfg = workerConfig(module, mapping, settings);
  const firmwarePath = cfg.modprobe.firmwarePath;
  const dirName = cfg.modprobe.dirName ?? "/opt";

  const podLabels: Record<string, string> = {
    [MODULE_NAME_LABEL]: m.name,
    [ROLE_LABEL]: ROLE_MODULE_LOADER,
    [KERNEL_LABEL]: kernelLabelValue(kernel),
    ...(version !== undefined ? { [VERSION_LABEL]: kernelLabelValue(version) } : {}),
  };
  const nodeSelector: Record<string, string> = {
    ...module.spec.selector,
    [KERNEL_LABEL]: kernelLabelValue(kernel),
    ...(version !== undefined ? { [loaderVersionLabel(m)]: labelValue(version) } : {}),
  };
  const imagePullPolicy = container.imagePullPolicy;
  const copied = firmwarePath !== undefined ? [dirName, firmwarePath] : [dirName];

  const mounts: VolumeMount[] = [
    { name: "kmm-image", mountPath: IMAGE_ROOT, readOnly: true },
    { name: "worker-config", mountPath: DEFAULT_CONFIG_PATH.slice(0, DEFAULT_CONFIG_PATH.lastIndexOf("/")), readOnly: true },
    { name: "worker-state", mountPath: WORKER_STATE_DIR },
    { name: "lib-modules", mountPath: "/lib/modules", readOnly: true },
    { name: "usr-lib-modules", mountPath: "/usr/lib/modules", readOnly: true },
    ...(firmwarePath !== undefined ? [{ name: "firmware", mountPath: settings.firmwareHostPath }] : []),
  ];
  const volumes: Volume[] = [
    { name: "kmm-image", emptyDir: {} },
    {
      name: "worker-config",
      downwardAPI: {
        items: [
          {
            path: DEFAULT_CONFIG_PATH.slice(DEFAULT_CONFIG_PATH.lastIndexOf("/") + 1),
            fieldRef: { fieldPath: `metadata.annotations['${WORKER_CONFIG_ANNOTATION}']` },
          },
        ],
      },
    },
    { name: "worker-state", emptyDir: {} },
    hostPathVolume("lib-modules", "/lib/modules"),
    hostPathVolume("usr-lib-modules", "/usr/lib/modules"),
    ...(firmwarePath !== undefined ? [hostPathVolume("firmware", settings.firmwareHostPath, "DirectoryOrCreate")] : []),
  ];

  // Paths are passed as arguments, never spliced into the script, so they cannot inject commands.
  const extract: Container = {
    name: "kmod-image",
    image: mapping.containerImage,
    ...(imagePullPolicy !== undefined ? { imagePullPolicy } : {}),
    command: [
      "/bin/sh",
      "-c",
      `set -e; for d in "$@"; do mkdir -p "${IMAGE_ROOT}$d"; cp -R "$d/." "${IMAGE_ROOT}$d/"; done`,
      "kmod-image",
      ...copied,
    ],
    volumeMounts: [{ name: "kmm-image", mountPath: IMAGE_ROOT }],
  };
  const worker: Container = {
    name: "worker",
    image: settings.workerImage,
    args: ["kmod", "load", DEFAULT_CONFIG_PATH],
    volumeMounts: mounts,
    readinessProbe: {
      exec: { command: ["cat", `${WORKER_STATE_DIR}/${READY_FILE}`] },
      periodSeconds: 5,
      failureThreshold: 1,
    },
    securityContext: {
      capabilities: { drop: ["ALL"], add: ["SYS_MODULE"] },
      runAsUser: settings.runAsUser,
      seLinuxOptions: { type: settings.seLinuxType },
      // Copying firmware to the host and setting firmware_class.path need more than SYS_MODULE.
      ...(firmwarePath !== undefined ? { privileged: true } : {}),
    },
  };
  const secret = module.spec.imageRepoSecret?.name;
  const spec: PodSpec = {
    initContainers: [extract],
    containers: [worker],
    volumes,
    nodeSelector,
    serviceAccountName: serviceAccountFor(module, ROLE_MODULE_LOADER, settings.operatorNamespace),
    terminationGracePeriodSeconds: WORKER_TERMINATION_GRACE_SECONDS,
    ...(module.spec.tolerations !== undefined && module.spec.tolerations.length > 0 ? { tolerations: module.spec.tolerations } : {}),
    ...(secret !== undefined && secret !== "" ? { imagePullSecrets: [{ name: secret }] } : {}),
  };
  return withHash({
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: {
      name: moduleLoaderName(m, kernel, version),
      namespace: m.namespace,
      labels: podLabels,
      ownerReferences: ownerReference(module),
    },
    spec: {
      selector: { matchLabels: podLabels },
      template: {
        metadata: { labels: podLabels, annotations: { [WORKER_CONFIG_ANNOTATION]: JSON.stringify(cfg) } },
        spec,
      },
    },
  });
}

export function devicePluginDaemonSet(module: Module, settings: SpokeSettings): DaemonSet | undefined {
  const dp = module.spec.devicePlugin;
  if (dp === undefined) return undefined;
  const m = moduleRef(module);
  const rawVersion = module.spec.moduleLoader?.container.version;
  const version = rawVersion !== undefined && rawVersion !== "" ? rawVersion : undefined;
  const labels: Record<string, string> = {
    [MODULE_NAME_LABEL]: m.name,
    [ROLE_LABEL]: ROLE_DEVICE_PLUGIN,
    ...(version !== undefined ? { [VERSION_LABEL]: kernelLabelValue(version) } : {}),
  };
  const c = dp.container;
  const container: Container = {
    name: "device-plugin",
    image: c.image,
    ...(c.command !== undefined ? { command: c.command } : {}),
    ...(c.args !== undefined ? { args: c.args } : {}),
    ...(c.env !== undefined ? { env: c.env } : {}),
    ...(c.imagePullPolicy !== undefined ? { imagePullPolicy: c.imagePullPolicy } : {}),
    ...(c.resources !== undefined ? { resources: c.resources } : {}),
    ...(c.startupProbe !== undefined ? { startupProbe: c.startupProbe } : {}),
    ...(c.livenessProbe !== undefined ? { livenessProbe: c.livenessProbe } : {}),
    volumeMounts: [{ name: "kubelet-device-plugins", mountPath: DEVICE_PLUGINS_PATH }, ...(c.volumeMounts ?? [])],
    securityContext: { privileged: true },
  };
  const init = dp.initContainer;
  const initContainers: Container[] =
    init === undefined
      ? []
      : [
          {
            name: "device-plugin-init",
            image: init.image,
            ...(init.command !== undefined ? { command: init.command } : {}),
            ...(init.args !== undefined ? { args: init.args } : {}),
            ...(init.env !== undefined ? { env: init.env } : {}),
            ...(init.imagePullPolicy !== undefined ? { imagePullPolicy: init.imagePullPolicy } : {}),
            ...(init.resources !== undefined ? { resources: init.resources } : {}),
            ...(init.volumeMounts !== undefined ? { volumeMounts: init.volumeMounts } : {}),
          },
        ];
  const secret = module.spec.imageRepoSecret?.name;
  const spec: PodSpec = {
    ...(initContainers.length > 0 ? { initContainers } : {}),
    containers: [container],
    volumes: [hostPathVolume("kubelet-device-plugins", DEVICE_PLUGINS_PATH), ...(dp.volumes ?? [])],
    // Only where the module is loaded: the plugin advertises devices the kmod provides. A Module
    // without a module loader (the kmod comes with the OS) runs its plugin on every selected node.
    nodeSelector: {
      ...module.spec.selector,
      ...(module.spec.moduleLoader !== undefined ? { [readyLabel(m)]: "" } : {}),
      ...(version !== undefined ? { [devicePluginVersionLabel(m)]: labelValue(version) } : {}),
    },
    serviceAccountName: serviceAccountFor(module, ROLE_DEVICE_PLUGIN, settings.operatorNamespace),
    ...(dp.automountServiceAccountToken !== undefined ? { automountServiceAccountToken: dp.automountServiceAccountToken } : {}),
    ...(module.spec.tolerations !== undefined && module.spec.tolerations.length > 0 ? { tolerations: module.spec.tolerations } : {}),
    ...(secret !== undefined && secret !== "" ? { imagePullSecrets: [{ name: secret }] } : {}),
  };
  return withHash({
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: { name: devicePluginName(m, version), namespace: m.namespace, labels, ownerReferences: ownerReference(module) },
    spec: { selector: { matchLabels: labels }, template: { metadata: { labels }, spec } },
  });
}
