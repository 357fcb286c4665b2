// Label and annotation names the spoke edition puts on Nodes, DaemonSets and pods. The names are
// upstream KMM's (internal/constants, internal/utils/kmmlabels.go), so tools written for upstream read
// them unchanged. Every key fits Kubernetes' 63-character name part for every Module the CRD admits
// (name + namespace ≤ 41, upstream's own limit): the longest, `version-schedule-pod.<ns>.<name>`, is
// 63. Values derived from user input go through labelValue(). Checked by labels.property.test.ts.
import { isLabelValue, shortHash } from "../shared/kube/names.ts";

export { shortHash };

export const LABEL_PREFIX = "kmm.node.kubernetes.io";
export const MODULE_NAME_LABEL = `${LABEL_PREFIX}/module.name`;
export const ROLE_LABEL = `${LABEL_PREFIX}/role`;
export const KERNEL_LABEL = `${LABEL_PREFIX}/kernel-version.full`;
/** Set by the user on a Node to say which version of a Module it should run (ordered upgrade). */
export const MODULE_VERSION_LABEL_PREFIX = `${LABEL_PREFIX}/version-module`;
/**
 * Set by KMM, one step at a time, to move a Node's module loader (upstream: the worker pod) and device
 * plugin (upstream: the pods scheduled on the module) between versions; upstream KMM v2's names.
 */
export const LOADER_VERSION_LABEL_PREFIX = `beta.${LABEL_PREFIX}/version-worker-pod`;
export const DEVICE_PLUGIN_VERSION_LABEL_PREFIX = `beta.${LABEL_PREFIX}/version-schedule-pod`;
/**
 * The names earlier releases of this project used (upstream KMM v1's). With a 41-character name +
 * namespace they are 64 characters, which the API server refuses; where they exist (shorter Modules)
 * they are read as the current step and replaced by the names above.
 */
export const LEGACY_LOADER_VERSION_LABEL_PREFIX = `beta.${LABEL_PREFIX}/version-module-loader`;
export const LEGACY_DEVICE_PLUGIN_VERSION_LABEL_PREFIX = `beta.${LABEL_PREFIX}/version-device-plugin`;
export const MODULE_FINALIZER = `${LABEL_PREFIX}/module-finalizer`;
/** Hash of the desired object, so an unchanged object is never written again. */
export const HASH_ANNOTATION = `${LABEL_PREFIX}/last-hash`;
export const VERSION_LABEL = `${LABEL_PREFIX}/module-version`;

export const ROLE_MODULE_LOADER = "module-loader";
export const ROLE_DEVICE_PLUGIN = "device-plugin";
export type Role = typeof ROLE_MODULE_LOADER | typeof ROLE_DEVICE_PLUGIN;

export interface ModuleRef {
  namespace: string;
  name: string;
}

/** `kmm.node.kubernetes.io/<ns>.<name>.ready`: the module is loaded on the Node. */
export function readyLabel(m: ModuleRef): string {
  return `${LABEL_PREFIX}/${m.namespace}.${m.name}.ready`;
}

/** `kmm.node.kubernetes.io/<ns>.<name>.device-plugin-ready`: the Module's device plugin runs on the Node. */
export function devicePluginReadyLabel(m: ModuleRef): string {
  return `${LABEL_PREFIX}/${m.namespace}.${m.name}.device-plugin-ready`;
}

/** `kmm.node.kubernetes.io/<ns>.<name>.version.ready=<version>`: set with the ready label for a Module with `version`. */
export function versionReadyLabel(m: ModuleRef): string {
  return `${LABEL_PREFIX}/${m.namespace}.${m.name}.version.ready`;
}

/** `kmm.node.kubernetes.io/version-module.<ns>.<name>`: set by the user (ordered upgrade). */
export function moduleVersionLabel(m: ModuleRef): string {
  return `${MODULE_VERSION_LABEL_PREFIX}.${m.namespace}.${m.name}`;
}

export function loaderVersionLabel(m: ModuleRef): string {
  return `${LOADER_VERSION_LABEL_PREFIX}.${m.namespace}.${m.name}`;
}

export function devicePluginVersionLabel(m: ModuleRef): string {
  return `${DEVICE_PLUGIN_VERSION_LABEL_PREFIX}.${m.namespace}.${m.name}`;
}

export function legacyLoaderVersionLabel(m: ModuleRef): string {
  return `${LEGACY_LOADER_VERSION_LABEL_PREFIX}.${m.namespace}.${m.name}`;
}

export function legacyDevicePluginVersionLabel(m: ModuleRef): string {
  return `${LEGACY_DEVICE_PLUGIN_VERSION_LABEL_PREFIX}.${m.namespace}.${m.name}`;
}

/** Every node label the spoke edition may set for a Module (what deletion removes). */
export function moduleNodeLabels(m: ModuleRef): string[] {
  return [readyLabel(m), versionReadyLabel(m), devicePluginReadyLabel(m), loaderVersionLabel(m), devicePluginVersionLabel(m)];
}

const LABEL_VALUE_MAX = 63;

export function isValidLabelValue(value: string): boolean {
  return isLabelValue(value);
}

/**
 * A label value standing for any string (a kernel version, a Module version). Valid label values
 * (`6.1.0-18-amd64`, `2.0`) are used as they are; anything else (a `+`, more than 63 characters)
 * becomes a readable prefix plus a hash of the whole string, so two different strings never share a value.
 */
export function labelValue(text: string): string {
  return kernelLabelValue(text);
}

/** labelValue() for a kernel version (what `kmm.node.kubernetes.io/kernel-version.full` holds). */
export function kernelLabelValue(kernel: string): string {
  if (isValidLabelValue(kernel)) return kernel;
  const hash = shortHash(kernel, 12);
  const prefix = kernel
    .replace(/[^A-Za-z0-9._-]/g, "_")
    .slice(0, LABEL_VALUE_MAX - hash.length - 1)
    .replace(/^[^A-Za-z0-9]+/, "")
    .replace(/[^A-Za-z0-9]+$/, "");
  return prefix === "" ? hash : `${prefix}-${hash}`;
}

/** Labels are equal on the keys given: value for "must be this", undefined for "must be absent". */
export function labelsSatisfy(labels: Record<string, string> | undefined, wanted: Record<string, string | null>): boolean {
  return Object.entries(wanted).every(([k, v]) => (v === null ? labels?.[k] === undefined : labels?.[k] === v));
}
