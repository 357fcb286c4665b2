// Module status as the spoke edition reports it: upstream's counters (the hub reads them back through
// ManifestWork feedback rules) and standard conditions.
import { z } from "zod";
import { nextCondition, type Condition } from "../shared/api/conditions.ts";
import type { DaemonSetStatus, ModuleStatus } from "../shared/api/module.ts";
import { ROLE_LABEL, ROLE_MODULE_LOADER } from "./labels.ts";
import type { DaemonSetRead, Pod } from "./objects.ts";

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

/** Reason of ModuleLoaderAvailable=False while a module-loader pod fails (upstream KMM has no name for it). */
export const MODULE_LOAD_FAILED_REASON = "ModuleLoadFailed";
/** A condition's share of one pod's failure; the worker's termination message fits in it. */
const MAX_FAILURE_MESSAGE = 600;

const terminatedSchema = z.looseObject({ exitCode: z.number(), reason: z.string().optional(), message: z.string().optional() });
const containerStatusSchema = z.looseObject({
  name: z.string(),
  ready: z.boolean().optional(),
  state: z
    .looseObject({
      waiting: z.looseObject({ reason: z.string().optional(), message: z.string().optional() }).optional(),
      terminated: terminatedSchema.optional(),
    })
    .optional(),
  lastState: z.looseObject({ terminated: terminatedSchema.optional() }).optional(),
});
const podStatusSchema = z.looseObject({
  initContainerStatuses: z.array(containerStatusSchema).optional(),
  containerStatuses: z.array(containerStatusSchema).optional(),
});
type ContainerStatus = z.infer<typeof containerStatusSchema>;

/** Waiting reasons of the kubelet that mean the container cannot start until someone acts. */
const STUCK_WAITING = new Set(["ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError"]);

/** One module-loader pod that is failing: where, which container, and what it said. */
export interface LoaderFailure {
  node: string;
  pod: string;
  container: string;
  /** The container's termination message (the worker writes module, kernel, command, kernel's answer), or the kubelet's reason. */
  message: string;
}

function containerFailure(c: ContainerStatus): string | undefined {
  if (c.ready === true) return undefined;
  const now = c.state?.terminated;
  if (now !== undefined && now.exitCode !== 0) return now.message?.trim() || `exited with code ${now.exitCode}${now.reason !== undefined ? ` (${now.reason})` : ""}`;
  const waiting = c.state?.waiting;
  if (waiting?.reason !== undefined && STUCK_WAITING.has(waiting.reason)) return `${waiting.reason}${waiting.message !== undefined ? `: ${waiting.message}` : ""}`;
  // Restarting (CrashLoopBackOff) or running again but not ready: its last run failed.
  const last = c.lastState?.terminated;
  if (last !== undefined && last.exitCode !== 0) return last.message?.trim() || `exited with code ${last.exitCode}${last.reason !== undefined ? ` (${last.reason})` : ""}`;
  return undefined;
}

/**
 * The failure of one module-loader pod, read from its status as the kubelet reports it (init
 * containers first: the kmod image copy runs before the worker): a container that exited non-zero
 * (now or in its last run, while not ready) or cannot start (image pull, config). Undefined for a
 * pod that is not failing, or that is not a module-loader pod.
 */
export function loaderPodFailure(pod: Pod): LoaderFailure | undefined {
  if (pod.metadata.labels?.[ROLE_LABEL] !== ROLE_MODULE_LOADER) return undefined;
  const parsed = podStatusSchema.safeParse(pod.status ?? {});
  if (!parsed.success) return undefined;
  for (const c of [...(parsed.data.initContainerStatuses ?? []), ...(parsed.data.containerStatuses ?? [])]) {
    const message = containerFailure(c);
    if (message !== undefined) return { node: pod.spec?.nodeName ?? "(not scheduled)", pod: pod.metadata.name, container: c.name, message };
  }
  return undefined;
}

/** Failing module-loader pods among `pods`, ordered by node then pod name (so messages are stable). */
export function loaderFailures(pods: readonly Pod[]): LoaderFailure[] {
  return pods
    .map(loaderPodFailure)
    .filter((f) => f !== undefined)
    .sort((a, b) => (a.node === b.node ? (a.pod < b.pod ? -1 : 1) : a.node < b.node ? -1 : 1));
}

/**
 * One short text for a condition or Event: the first failing node's message (lines joined with
 * "; ", cut at 600 characters) and how many more nodes fail. Stable while the failure is the
 * same, so it is not a new Event at every restart.
 */
export function describeLoaderFailures(failures: readonly LoaderFailure[]): string {
  const first = failures[0];
  if (first === undefined) return "";
  const text = first.message.split("\n").map((l) => l.trim()).filter((l) => l !== "").join("; ");
  const clipped = text.length > MAX_FAILURE_MESSAGE ? `${text.slice(0, MAX_FAILURE_MESSAGE - 3)}...` : text;
  const more = failures.length - 1;
  return `node ${first.node}, container ${first.container}: ${clipped}${more > 0 ? ` (and ${more} more node${more === 1 ? "" : "s"} failing)` : ""}`;
}

/**
 * ModuleLoaderAvailable as the Module reports it: while some module-loader pods fail, False with
 * reason ModuleLoadFailed and a message that says which module, kernel and command failed and the
 * kernel's answer (from describeLoaderFailures); otherwise `condition` as given.
 */
export function loaderAvailableCondition(condition: DesiredCondition, failures: readonly LoaderFailure[]): DesiredCondition {
  if (failures.length === 0 || condition.status === "True") return condition;
  return { ...condition, status: "False", reason: MODULE_LOAD_FAILED_REASON, message: `${condition.message}; ${describeLoaderFailures(failures)}` };
}
