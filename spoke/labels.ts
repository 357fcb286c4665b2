// Label and annotation names the spoke edition puts on Nodes, DaemonSets and pods. The names are
// upstream KMM's (internal/constants), so tools written for upstream read them unchanged.
import { createHash } from "node:crypto";

export const LABEL_PREFIX = "kmm.node.kubernetes.io";
export const MODULE_NAME_LABEL = `${LABEL_PREFIX}/module.name`;
export const ROLE_LABEL = `${LABEL_PREFIX}/role`;
export const KERNEL_LABEL = `${LABEL_PREFIX}/kernel-version.full`;
/** Set by the user on a Node to say which version of a Module it should run (ordered upgrade). */
export const MODULE_VERSION_LABEL_PREFIX = `${LABEL_PREFIX}/version-module`;
/** Set by KMM, one step at a time, to move a Node's module loader and device plugin between versions. */
export const LOADER_VERSION_LABEL_PREFIX = `beta.${LABEL_PREFIX}/version-module-loader`;
export const DEVICE_PLUGIN_VERSION_LABEL_PREFIX = `beta.${LABEL_PREFIX}/version-device-plugin`;
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

export function moduleVersionLabel(m: ModuleRef): string {
  return `${MODULE_VERSION_LABEL_PREFIX}.${m.namespace}.${m.name}`;
}

export function loaderVersionLabel(m: ModuleRef): string {
  return `${LOADER_VERSION_LABEL_PREFIX}.${m.namespace}.${m.name}`;
}

export function devicePluginVersionLabel(m: ModuleRef): string {
  return `${DEVICE_PLUGIN_VERSION_LABEL_PREFIX}.${m.namespace}.${m.name}`;
}

/** Every node label the spoke edition may set for a Module (what deletion removes). */
export function moduleNodeLabels(m: ModuleRef): string[] {
  return [readyLabel(m), devicePluginReadyLabel(m), loaderVersionLabel(m), devicePluginVersionLabel(m)];
}

export function shortHash(text: string, length = 10): string {
  return createHash("sha256").update(text).digest("hex").slice(0, length);
}

const LABEL_VALUE_MAX = 63;
const LABEL_VALUE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)?$/;

export function isValidLabelValue(value: string): boolean {
  return value.length <= LABEL_VALUE_MAX && LABEL_VALUE.test(value);
}

/**
 * A label value standing for a kernel version. Real kernels (`6.1.0-18-amd64`) are valid label values
 * and are used as they are; anything else (a `+`, more than 63 characters) becomes a readable prefix
 * plus a hash of the full version, so two different kernels never share a value.
 */
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
