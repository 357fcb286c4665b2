// Module status as the spoke edition reports it: upstream's counters (the hub reads them back through
// ManifestWork feedback rules) and standard conditions.
import { nextCondition, type Condition } from "../shared/api/conditions.ts";
import type { DaemonSetStatus, ModuleStatus } from "../shared/api/module.ts";
import type { DaemonSetRead } from "./objects.ts";

export const CONDITION_KERNELS_MAPPED = "KernelsMapped";
export const CONDITION_MODULE_LOADER_AVAILABLE = "ModuleLoaderAvailable";
export const CONDITION_DEVICE_PLUGIN_AVAILABLE = "DevicePluginAvailable";
export const CONDITION_BUILD_SIGN_IGNORED = "BuildAndSignIgnored";
/** Present (True) while the API server refuses some of the Module's writes; its message has the server's words. */
export const CONDITION_WRITE_REFUSED = "WriteRefused";

export interface DesiredCondition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
}

export function daemonSetCounters(nodesMatchingSelector: number, daemonSets: readonly DaemonSetRead[]): DaemonSetStatus {
  let desired = 0;
  let available = 0;
  for (const ds of daemonSets) {
    desired += ds.status?.desiredNumberScheduled ?? 0;
    available += ds.status?.numberAvailable ?? 0;
  }
  return { nodesMatchingSelectorNumber: nodesMatchingSelector, desiredNumber: desired, availableNumber: available };
}

/**
 * Keeps lastTransitionTime from the previous condition of the same type when the status did not
 * change, so re-reporting the same state is not a change.
 */
export function mergeConditions(
  previous: readonly Condition[] | undefined,
  desired: readonly DesiredCondition[],
  observedGeneration: number | undefined,
  now: Date,
): Condition[] {
  return desired.map((d) => nextCondition(previous, { type: d.type, status: d.status, reason: d.reason, message: d.message }, now, observedGeneration));
}

/** True when `next` says nothing `current` does not already say (so no status write is needed). */
export function statusUnchanged(current: ModuleStatus | undefined, next: ModuleStatus): boolean {
  const norm = (s: ModuleStatus | undefined): string =>
    JSON.stringify({
      moduleLoader: s?.moduleLoader ?? null,
      devicePlugin: s?.devicePlugin ?? null,
      conditions: [...(s?.conditions ?? [])]
        .sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0))
        .map((c) => [c.type, c.status, c.reason, c.message, c.lastTransitionTime, c.observedGeneration ?? null]),
    });
  return norm(current) === norm(next);
}
