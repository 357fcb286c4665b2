// The Module reconciler of the spoke edition: reads the informer caches, asks plan() for the desired
// state, and applies the difference. Every write is skipped when nothing changed. A write the API
// server refuses (a DaemonSet, a node label, the status) does not stop the others: it is reported in
// the Module's status (condition WriteRefused) and as a Warning Event with the server's message, and
// the reconcile is retried with backoff once everything else is written.
import type { Module } from "../../shared/api/module.ts";
import { MODULE_API_VERSION, MODULE_KIND, MODULE_PLURAL, upstreamRuleProblems } from "../../shared/api/module.ts";
import { CONDITION_SPEC_VALID, INVALID_SPEC_REASON, specInvalidCondition } from "../../shared/api/upstream-rules.ts";
import { isNotFound, type RawClient } from "../../shared/kube/raw.ts";
import type { Reconcile } from "../../shared/runtime/controller.ts";
import type { Informer } from "../../shared/runtime/informer.ts";
import type { Logger } from "../../shared/runtime/logger.ts";
import { moduleRef } from "../daemonset.ts";
import { MODULE_FINALIZER, MODULE_NAME_LABEL } from "../labels.ts";
import type { DaemonSetRead, Node, Pod } from "../objects.ts";
import { plan } from "../plan.ts";
import type { SpokeSettings } from "../settings.ts";
import {
  CONDITION_BUILD_SIGN_IGNORED,
  CONDITION_KERNELS_MAPPED,
  CONDITION_MODULE_LOADER_AVAILABLE,
  CONDITION_WRITE_REFUSED,
  MODULE_LOAD_FAILED_REASON,
  describeLoaderFailures,
  loaderAvailableCondition,
  loaderFailures,
  mergeConditions,
  statusUnchanged,
} from "../status.ts";
import { FIELD_MANAGER, isRefusal, patchNodeLabels, type Recorder } from "./kube.ts";
import { PendingNodeLabels } from "./pending-labels.ts";

/** While deleting, how often to look again for pods that are still unloading. */
export const DELETION_POLL_MS = 2000;

export interface ModuleReconcilerDeps {
  modules: Informer<Module>;
  nodes: Informer<Node>;
  pods: Informer<Pod>;
  daemonSets: Informer<DaemonSetRead>;
  raw: RawClient;
  recorder: Recorder;
  settings: SpokeSettings;
  logger: Logger;
}

/** What one reconcile could not write: refusals for the user, and the first other failure to retry on. */
class Writes {
  readonly refused: { what: string; message: string }[] = [];
  failure: Error | undefined = undefined;

  /** Runs one write; a refusal or failure is remembered and the reconcile goes on. Returns whether it was written. */
  async attempt(what: string, write: () => Promise<unknown>): Promise<boolean> {
    try {
      await write();
      return true;
    } catch (err) {
      if (isRefusal(err)) this.refused.push({ what, message: err.message });
      else this.failure ??= err instanceof Error ? err : new Error(`${what}: write failed`, { cause: err });
      return false;
    }
  }
}

/** A reconcile that wrote what it could; some writes were refused (reported in status and Events) or failed. */
export class WritesRefusedError extends Error {
  override readonly name = "WritesRefusedError";
}

export function moduleKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function modulePath(namespace: string, name: string): string {
  return `/apis/${MODULE_API_VERSION}/namespaces/${encodeURIComponent(namespace)}/${MODULE_PLURAL}/${encodeURIComponent(name)}`;
}

async function setFinalizers(raw: RawClient, module: Module, finalizers: string[]): Promise<void> {
  const m = moduleRef(module);
  // resourceVersion makes this a compare-and-swap: a concurrent change of the list is a 409 and a retry.
  await raw.request(
    "PATCH",
    modulePath(m.namespace, m.name),
    { metadata: { finalizers, resourceVersion: module.metadata.resourceVersion } },
    "application/merge-patch+json",
  );
}

export function moduleReconciler(deps: ModuleReconcilerDeps): Reconcile {
  // The module-loader failure each Module was last told about: the status written with it may not be
  // in the informer's cache yet when the next pod update reconciles again (one Event, not two).
  const reportedFailure = new Map<string, string>();
  // Node labels written but maybe not in the Node cache yet (one patch and one Event per transition).
  const pendingLabels = new PendingNodeLabels();
  return async (key) => {
    const slash = key.indexOf("/");
    const namespace = key.slice(0, slash);
    const name = key.slice(slash + 1);
    const module = deps.modules.get(namespace, name);
    if (module === undefined) {
      reportedFailure.delete(key);
      return undefined;
    }
    const m = moduleRef(module);
    const involved = { apiVersion: MODULE_API_VERSION, kind: MODULE_KIND, name: m.name, namespace: m.namespace, ...(module.metadata.uid !== undefined ? { uid: module.metadata.uid } : {}) };
    const deleting = module.metadata.deletionTimestamp !== undefined;
    const finalizers = module.metadata.finalizers ?? [];
    const writes = new Writes();
    // A stored spec that breaks a rule the API server does not enforce: report it, write nothing else.
    const problems = deleting ? [] : upstreamRuleProblems(module.spec);
    if (problems.length > 0) {
      const before = module.status?.conditions ?? [];
      const invalid = specInvalidCondition(problems, "spec.");
      const status = { ...(module.status ?? {}), conditions: [...before.filter((c) => c.type !== CONDITION_SPEC_VALID), ...mergeConditions(before, [invalid], module.metadata.generation, new Date())] };
      if (before.find((c) => c.type === CONDITION_SPEC_VALID)?.message !== invalid.message) await record(deps, involved, "Warning", INVALID_SPEC_REASON, invalid.message);
      if (!statusUnchanged(module.status, status)) {
        const body = { apiVersion: MODULE_API_VERSION, kind: MODULE_KIND, metadata: { name: m.name, namespace: m.namespace }, status };
        await writes.attempt(`status of Module ${key}`, () => deps.raw.applyStatus(body, FIELD_MANAGER));
      }
      if (writes.failure !== undefined) throw writes.failure;
      // Terminal until the spec changes (its update event queues the Module again).
      return undefined;
    }
    if (!deleting && !finalizers.includes(MODULE_FINALIZER)) {
      await writes.attempt(`finalizer of Module ${key}`, () => setFinalizers(deps.raw, module, [...finalizers, MODULE_FINALIZER]));
    }
    if (deleting && !finalizers.includes(MODULE_FINALIZER)) return undefined;

    const mine = (o: { metadata: { labels?: Record<string, string> | undefined } }) => o.metadata.labels?.[MODULE_NAME_LABEL] === m.name;
    const observed = {
      nodes: pendingLabels.view(deps.nodes.list()),
      pods: deps.pods.list(m.namespace).filter(mine),
      daemonSets: deps.daemonSets.list(m.namespace).filter(mine),
    };
    const now = new Date();
    const p = plan(module, observed, deps.settings, now);

    for (const ds of p.apply) await writes.attempt(`DaemonSet ${m.namespace}/${ds.metadata.name ?? ""}`, () => deps.raw.apply(ds, FIELD_MANAGER));
    for (const dsName of p.remove) {
      await writes.attempt(`deleting DaemonSet ${m.namespace}/${dsName}`, async () => {
        try {
          await deps.raw.delete({ apiVersion: "apps/v1", kind: "DaemonSet", metadata: { name: dsName, namespace: m.namespace } });
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      });
    }
    const labelled = new Set<string>();
    for (const [node, labels] of p.nodeLabels) {
      const ok = await writes.attempt(`labels of Node ${node}`, async () => {
        try {
          await patchNodeLabels(deps.raw, node, labels);
          pendingLabels.wrote(node, labels);
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      });
      if (ok) labelled.add(node);
    }
    // A Node event says what its labels now say: none for labels that were not written.
    for (const ev of p.nodeEvents.filter((e) => labelled.has(e.node))) {
      const uid = deps.nodes.get(undefined, ev.node)?.metadata.uid;
      await record(deps, { apiVersion: "v1", kind: "Node", name: ev.node, ...(uid !== undefined ? { uid } : {}) }, "Normal", ev.reason, ev.message);
    }

    const before = module.status?.conditions ?? [];
    const refusedBefore = before.find((c) => c.type === CONDITION_WRITE_REFUSED);
    const refusedMessage = writes.refused.map((r) => `${r.what}: ${r.message}`).join("; ");
    if (writes.refused.length > 0 && refusedMessage !== refusedBefore?.message) {
      for (const r of writes.refused) await record(deps, involved, "Warning", "WriteRefused", `${r.what} was refused by the API server: ${r.message}`);
    }
    const finish = (): undefined => {
      if (writes.refused.length > 0) throw new WritesRefusedError(`Module ${key}: ${refusedMessage}`);
      if (writes.failure !== undefined) throw writes.failure;
      return undefined;
    };

    if (deleting) {
      finish();
      if (p.released && p.nodeLabels.size === 0) {
        await setFinalizers(deps.raw, module, finalizers.filter((f) => f !== MODULE_FINALIZER));
        deps.logger.info({ module: key }, "module unloaded everywhere; finalizer removed");
        return undefined;
      }
      return { requeueAfter: DELETION_POLL_MS };
    }

    const mapped = p.status.conditions?.find((c) => c.type === CONDITION_KERNELS_MAPPED);
    const mappedBefore = before.find((c) => c.type === CONDITION_KERNELS_MAPPED);
    if (p.unmapped.length > 0 && mapped !== undefined && mapped.message !== mappedBefore?.message) {
      await record(deps, involved, "Warning", "KernelMappingNotFound", `no usable kernel mapping: ${mapped.message}`);
    }
    if (p.buildOrSignIgnored && !before.some((c) => c.type === CONDITION_BUILD_SIGN_IGNORED)) {
      await record(
        deps,
        involved,
        "Warning",
        "BuildAndSignIgnored",
        "build and sign are not run on this cluster (managed mode): the kmod images must already exist in the registry",
      );
    }
    // A failing module-loader pod: the Module says which module, kernel and command failed (the
    // worker's termination message, read from the pod informer's cache), once per distinct failure.
    const failures = loaderFailures(observed.pods);
    const loaderConditions = (p.status.conditions ?? []).map((c) =>
      c.type === CONDITION_MODULE_LOADER_AVAILABLE && c.status === "False" && failures.length > 0
        ? (mergeConditions(before, [loaderAvailableCondition({ type: c.type, status: "False", reason: c.reason, message: c.message }, failures)], module.metadata.generation, now)[0] ?? c)
        : c,
    );
    if (failures.length > 0) {
      const described = describeLoaderFailures(failures);
      const loaderBefore = before.find((c) => c.type === CONDITION_MODULE_LOADER_AVAILABLE);
      const told = reportedFailure.get(key) === described || (loaderBefore?.reason === MODULE_LOAD_FAILED_REASON && loaderBefore.message.endsWith(described));
      if (!told) await record(deps, involved, "Warning", MODULE_LOAD_FAILED_REASON, described);
      reportedFailure.set(key, described);
    } else {
      reportedFailure.delete(key);
    }
    const loaderStatus = { ...p.status, conditions: loaderConditions };
    const status =
      writes.refused.length === 0
        ? loaderStatus
        : {
            ...loaderStatus,
            conditions: [
              ...loaderConditions,
              ...mergeConditions(before, [{ type: CONDITION_WRITE_REFUSED, status: "True", reason: "APIServerRefused", message: refusedMessage }], module.metadata.generation, new Date()),
            ],
          };
    if (!statusUnchanged(module.status, status)) {
      const body = { apiVersion: MODULE_API_VERSION, kind: MODULE_KIND, metadata: { name: m.name, namespace: m.namespace }, status };
      const written = await writes.attempt(`status of Module ${key}`, () => deps.raw.applyStatus(body, FIELD_MANAGER));
      const statusRefusal = writes.refused.find((r) => r.what.startsWith("status of"));
      // The status cannot carry its own refusal: the Event is where the user sees it.
      if (!written && statusRefusal !== undefined) await record(deps, involved, "Warning", "WriteRefused", `${statusRefusal.what} was refused by the API server: ${statusRefusal.message}`);
    }
    return finish();
  };
}

/** Records an Event; an Event the API server does not take is logged, never a reason to stop. */
async function record(deps: ModuleReconcilerDeps, obj: Parameters<ModuleReconcilerDeps["recorder"]["event"]>[0], type: "Normal" | "Warning", reason: string, message: string): Promise<void> {
  try {
    await deps.recorder.event(obj, type, reason, message);
  } catch (err) {
    deps.logger.warn({ err: err instanceof Error ? err.message : String(err), reason, object: obj.name }, "could not record an Event");
  }
}

/** Node changes that can change a Module's desired state (not heartbeats). */
export function nodeRelevantChange(node: Node, old: Node | undefined): boolean {
  if (old === undefined) return true;
  return (
    JSON.stringify(node.metadata.labels ?? {}) !== JSON.stringify(old.metadata.labels ?? {}) ||
    node.status?.nodeInfo?.kernelVersion !== old.status?.nodeInfo?.kernelVersion ||
    node.spec?.unschedulable !== old.spec?.unschedulable ||
    JSON.stringify(node.spec?.taints ?? []) !== JSON.stringify(old.spec?.taints ?? [])
  );
}
