// The Module reconciler of the spoke edition: reads the informer caches, asks plan() for the desired
// state, and applies the difference. Every write is skipped when nothing changed.
import type { Module } from "../../shared/api/module.ts";
import { MODULE_API_VERSION, MODULE_KIND, MODULE_PLURAL } from "../../shared/api/module.ts";
import { isNotFound, type RawClient } from "../../shared/kube/raw.ts";
import type { Reconcile } from "../../shared/runtime/controller.ts";
import type { Informer } from "../../shared/runtime/informer.ts";
import type { Logger } from "../../shared/runtime/logger.ts";
import { moduleRef } from "../daemonset.ts";
import { MODULE_FINALIZER, MODULE_NAME_LABEL } from "../labels.ts";
import type { DaemonSetRead, Node, Pod } from "../objects.ts";
import { plan } from "../plan.ts";
import type { SpokeSettings } from "../settings.ts";
import { CONDITION_BUILD_SIGN_IGNORED, CONDITION_KERNELS_MAPPED, statusUnchanged } from "../status.ts";
import { FIELD_MANAGER, patchNodeLabels, type Recorder } from "./kube.ts";

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
  return async (key) => {
    const slash = key.indexOf("/");
    const namespace = key.slice(0, slash);
    const name = key.slice(slash + 1);
    const module = deps.modules.get(namespace, name);
    if (module === undefined) return undefined;
    const m = moduleRef(module);
    const involved = { apiVersion: MODULE_API_VERSION, kind: MODULE_KIND, name: m.name, namespace: m.namespace, ...(module.metadata.uid !== undefined ? { uid: module.metadata.uid } : {}) };
    const deleting = module.metadata.deletionTimestamp !== undefined;
    const finalizers = module.metadata.finalizers ?? [];
    if (!deleting && !finalizers.includes(MODULE_FINALIZER)) {
      await setFinalizers(deps.raw, module, [...finalizers, MODULE_FINALIZER]);
    }
    if (deleting && !finalizers.includes(MODULE_FINALIZER)) return undefined;

    const mine = (o: { metadata: { labels?: Record<string, string> | undefined } }) => o.metadata.labels?.[MODULE_NAME_LABEL] === m.name;
    const observed = {
      nodes: deps.nodes.list(),
      pods: deps.pods.list(m.namespace).filter(mine),
      daemonSets: deps.daemonSets.list(m.namespace).filter(mine),
    };
    const p = plan(module, observed, deps.settings, new Date());

    for (const ds of p.apply) await deps.raw.apply(ds, FIELD_MANAGER);
    for (const dsName of p.remove) {
      try {
        await deps.raw.delete({ apiVersion: "apps/v1", kind: "DaemonSet", metadata: { name: dsName, namespace: m.namespace } });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    for (const [node, labels] of p.nodeLabels) {
      try {
        await patchNodeLabels(deps.raw, node, labels);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    for (const ev of p.nodeEvents) {
      const uid = deps.nodes.get(undefined, ev.node)?.metadata.uid;
      await deps.recorder.event({ apiVersion: "v1", kind: "Node", name: ev.node, ...(uid !== undefined ? { uid } : {}) }, "Normal", ev.reason, ev.message);
    }

    if (deleting) {
      if (p.released && p.nodeLabels.size === 0) {
        await setFinalizers(deps.raw, module, finalizers.filter((f) => f !== MODULE_FINALIZER));
        deps.logger.info({ module: key }, "module unloaded everywhere; finalizer removed");
        return undefined;
      }
      return { requeueAfter: DELETION_POLL_MS };
    }

    const before = module.status?.conditions ?? [];
    const mapped = p.status.conditions?.find((c) => c.type === CONDITION_KERNELS_MAPPED);
    const mappedBefore = before.find((c) => c.type === CONDITION_KERNELS_MAPPED);
    if (p.unmapped.length > 0 && mapped !== undefined && mapped.message !== mappedBefore?.message) {
      await deps.recorder.event(involved, "Warning", "KernelMappingNotFound", `no usable kernel mapping: ${mapped.message}`);
    }
    if (p.buildOrSignIgnored && !before.some((c) => c.type === CONDITION_BUILD_SIGN_IGNORED)) {
      await deps.recorder.event(
        involved,
        "Warning",
        "BuildAndSignIgnored",
        "build and sign are not run on this cluster (managed mode): the kmod images must already exist in the registry",
      );
    }
    if (!statusUnchanged(module.status, p.status)) {
      const body = { apiVersion: MODULE_API_VERSION, kind: MODULE_KIND, metadata: { name: m.name, namespace: m.namespace }, status: p.status };
      await deps.raw.applyStatus(body, FIELD_MANAGER);
    }
    return undefined;
  };
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
