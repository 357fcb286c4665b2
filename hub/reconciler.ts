// The ManagedClusterModule reconciler: reads only informer caches, computes the desired
// ManifestWorks with the pure builders, pins tags through the hub-wide DigestCache, and writes
// (server-side apply, field manager kmm-hub) only what differs from the cache.
import type { KubeConnection } from "../shared/kube/connection.ts";
import { Counter } from "prom-client";
import { z } from "zod";
import {
  HUB_API_VERSION,
  MANAGED_CLUSTER_MODULE_KIND,
  MANAGED_CLUSTER_MODULE_PLURAL,
  type ManagedClusterModule,
  type ManagedClusterModuleStatus,
} from "../shared/api/index.ts";
import { KernelMappingError } from "../shared/kernel-mapping/index.ts";
import { MANAGEDCLUSTER_API_VERSION, MANIFESTWORK_API_VERSION, type ManagedClusterObject, type ManifestWorkObject } from "../shared/ocm/index.ts";
import { Keychain, RegistryClient, DigestCache, type PullSecretError } from "../shared/registry/index.ts";
import { PullSecretSchema, type PullSecret } from "../shared/registry/keychain.ts";
import { Controller, type Informer, type Logger, type Manager, type ReconcileResult } from "../shared/runtime/index.ts";
import { SharedValues, cachedClusterSchema, cachedMcmSchema, cachedWorkSchema } from "./cache.ts";
import { kernelClaimValue, selectClusters, selectorMatches } from "./clusters.ts";
import { jsonEqual, jsonSubset } from "./compare.ts";
import { EventReasons, EventRecorder } from "./events.ts";
import { RawClient, isNotFound } from "../shared/kube/raw.ts";
import { mcmName, type ClusterOutcome } from "./manifestwork.ts";
import { FIELD_MANAGER, MCM_NAME_LABEL, manifestWorkPath, mcmStatusPath } from "./names.ts";
import { RebuildTriggers, expireImages, resolvePins } from "./pinning.ts";
import { outcomes as buildOutcomes, planClusters, planImages, type ClusterPlan } from "./plan.ts";
import { buildStatus, newestStatus, type WrittenStatus } from "./status.ts";
import { forEachLimit } from "../shared/runtime/for-each-limit.ts";

export const CONTROLLER_NAME = "ManagedClusterModule";
/** Retry delay for clusters blocked by a registry that failed (not for "image does not exist"). */
const REGISTRY_RETRY_MS = 30_000;
/** ManifestWork applies in flight per reconcile. */
const APPLY_CONCURRENCY = 16;


export interface HubReconcilerOptions {
  manager: Manager;
  connection: KubeConnection;
  /** The hub's own namespace: where imageRepoSecrets are read. */
  namespace: string;
  digestRefreshIntervalMs: number;
  maxConcurrentReconciles?: number;
  /** PEM CA bundle trusted for registries, besides the system roots. */
  registryCaBundle?: string;
  now?: () => Date;
}

const storedVersionSchema = z.looseObject({ metadata: z.looseObject({ resourceVersion: z.string() }) });

function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Tagged image → digest per literal kernel, as written in a ManifestWork's Module. */
function pinnedByKernel(work: ManifestWorkObject | undefined): Map<string, string> {
  const out = new Map<string, string>();
  const module = work?.spec?.workload?.manifests?.[0] as { spec?: { moduleLoader?: { container?: { kernelMappings?: unknown } } } } | undefined;
  const mappings = module?.spec?.moduleLoader?.container?.kernelMappings;
  if (!Array.isArray(mappings)) return out;
  for (const m of mappings as { literal?: unknown; containerImage?: unknown }[]) {
    if (typeof m.literal === "string" && typeof m.containerImage === "string") {
      const at = m.containerImage.indexOf("@");
      if (at > 0) out.set(m.literal, m.containerImage.slice(at + 1));
    }
  }
  return out;
}

export class ManagedClusterModuleReconciler {
  readonly controller: Controller;
  readonly mcms: Informer<ManagedClusterModule>;
  readonly clusters: Informer<ManagedClusterObject>;
  readonly works: Informer<ManifestWorkObject>;
  readonly secrets: Informer<PullSecret>;
  readonly digests: DigestCache;
  readonly registryClient: RegistryClient;
  /** The hub's API writes; reads come from the informers only. */
  readonly kube: RawClient;
  private readonly events: EventRecorder;
  private readonly log: Logger;
  private readonly opts: HubReconcilerOptions;
  private readonly triggers = new RebuildTriggers();
  /**
   * The status last written per MCM and the resourceVersion it got, until the cache shows it: a
   * reconcile that runs before the MCM's watch event arrives (its works' events come first) would
   * otherwise write the same status again, a large object on a big fleet.
   */
  private readonly writtenStatus = new Map<string, WrittenStatus>();
  /** Parts of cached ManifestWorks that are equal across clusters, kept once. */
  readonly shared = new SharedValues();
  /** API writes done (applies, deletes, status), for tests and the benchmark. */
  writes = 0;
  private readonly writeCounter: Counter<"verb">;

  constructor(opts: HubReconcilerOptions) {
    this.opts = opts;
    const m = opts.manager;
    this.log = m.logger.child({ controller: CONTROLLER_NAME });
    this.kube = new RawClient(opts.connection);
    this.events = new EventRecorder(this.kube, this.log);
    this.registryClient = new RegistryClient(opts.registryCaBundle !== undefined ? { caBundle: opts.registryCaBundle } : {});
    this.digests = new DigestCache({ client: this.registryClient, refreshIntervalMs: opts.digestRefreshIntervalMs });

    this.mcms = m.informer({
      resource: { apiVersion: HUB_API_VERSION, kind: MANAGED_CLUSTER_MODULE_KIND, plural: MANAGED_CLUSTER_MODULE_PLURAL },
      schema: cachedMcmSchema,
    });
    this.clusters = m.informer({
      resource: { apiVersion: MANAGEDCLUSTER_API_VERSION, kind: "ManagedCluster", plural: "managedclusters" },
      schema: cachedClusterSchema,
    });
    // Only the works this hub writes: the label keeps the cache small on a busy hub.
    this.works = m.informer({
      resource: { apiVersion: MANIFESTWORK_API_VERSION, kind: "ManifestWork", plural: "manifestworks" },
      schema: cachedWorkSchema(this.shared),
      labelSelector: MCM_NAME_LABEL,
    });
    this.secrets = m.informer({
      resource: { apiVersion: "v1", kind: "Secret", plural: "secrets", namespace: opts.namespace },
      schema: PullSecretSchema,
    });

    this.writeCounter = new Counter({
      name: "kmm_hub_api_writes_total",
      help: "API writes of the ManagedClusterModule reconciler that the API server accepted (apply: ManifestWork applies; delete: ManifestWork deletions; status: MCM status applies).",
      labelNames: ["verb"],
      registers: [m.registry],
    });
    for (const verb of ["apply", "delete", "status"]) this.writeCounter.inc({ verb }, 0);

    this.controller = new Controller({
      name: CONTROLLER_NAME,
      reconcile: (key) => this.reconcile(key),
      logger: m.logger,
      registry: m.registry,
      maxConcurrentReconciles: opts.maxConcurrentReconciles ?? 1,
    });
    m.addController(this.controller);
    this.wire();
  }

  private enqueue(name: string | undefined): void {
    if (name !== undefined && name !== "") this.controller.enqueue(name);
  }

  /** MCMs whose cluster selector matches any of these label sets. */
  private enqueueMatching(...labelSets: (Record<string, string> | undefined)[]): void {
    for (const mcm of this.mcms.list()) {
      if (labelSets.some((l) => selectorMatches(mcm.spec.selector, l))) this.enqueue(mcm.metadata.name);
    }
  }

  private wire(): void {
    this.mcms.onAdd((o) => this.enqueue(o.metadata.name));
    this.mcms.onUpdate((o, old) => {
      // Our own status writes change neither generation nor deletion: no reconcile for them.
      if (old?.metadata.generation !== o.metadata.generation || old?.metadata.deletionTimestamp !== o.metadata.deletionTimestamp) this.enqueue(o.metadata.name);
    });
    this.mcms.onDelete((o) => this.enqueue(o.metadata.name));

    this.clusters.onAdd((c) => this.enqueueMatching(c.metadata.labels));
    this.clusters.onUpdate((c, old) => {
      if (old && jsonEqual(old.metadata.labels ?? {}, c.metadata.labels ?? {}) && kernelClaimValue(old) === kernelClaimValue(c) && old.metadata.deletionTimestamp === c.metadata.deletionTimestamp) return;
      this.enqueueMatching(c.metadata.labels, old?.metadata.labels);
      // A relabelled cluster may also leave an MCM: the MCMs with a work there must look again.
      for (const w of this.works.list(c.metadata.name)) this.enqueue(w.metadata.labels?.[MCM_NAME_LABEL]);
    });
    this.clusters.onDelete((c) => {
      this.enqueueMatching(c.metadata.labels);
      for (const w of this.works.list(c.metadata.name)) this.enqueue(w.metadata.labels?.[MCM_NAME_LABEL]);
    });

    const onWork = (w: ManifestWorkObject): void => this.enqueue(w.metadata.labels?.[MCM_NAME_LABEL]);
    this.works.onAdd(onWork);
    this.works.onUpdate(onWork);
    this.works.onDelete(onWork);

    const onSecret = (s: PullSecret): void => {
      for (const mcm of this.mcms.list()) {
        if (mcm.spec.moduleSpec.imageRepoSecret?.name === s.metadata?.name) this.enqueue(mcm.metadata.name);
      }
    };
    this.secrets.onAdd(onSecret);
    this.secrets.onUpdate(onSecret);
    this.secrets.onDelete(onSecret);
  }

  /** Counts a write the API server accepted. */
  private countWrite(verb: "apply" | "delete" | "status"): void {
    this.writes++;
    this.writeCounter.inc({ verb });
  }

  private ownedWorks(name: string): ManifestWorkObject[] {
    return this.works.list().filter((w) => w.metadata.labels?.[MCM_NAME_LABEL] === name);
  }

  private async deleteWork(w: ManifestWorkObject): Promise<void> {
    try {
      await this.kube.request("DELETE", manifestWorkPath(w.metadata.namespace ?? "", w.metadata.name ?? ""), { apiVersion: "v1", kind: "DeleteOptions", propagationPolicy: "Background" });
      this.countWrite("delete");
    } catch (err: unknown) {
      if (!isNotFound(err)) throw err;
    }
  }

  private keychain(mcm: ManagedClusterModule): { keychain?: Keychain; problem?: string } {
    const ref = mcm.spec.moduleSpec.imageRepoSecret?.name;
    if (ref === undefined || ref === "") return {};
    const secret = this.secrets.get(this.opts.namespace, ref);
    if (!secret) {
      return { problem: `imageRepoSecret ${ref} does not exist in the hub namespace ${this.opts.namespace}; images are looked up anonymously` };
    }
    try {
      return { keychain: Keychain.fromSecrets([secret]) };
    } catch (err: unknown) {
      return { problem: `imageRepoSecret ${this.opts.namespace}/${ref} cannot be used: ${(err as PullSecretError).message}; images are looked up anonymously` };
    }
  }

  async reconcile(name: string): Promise<ReconcileResult | undefined> {
    const mcm = this.mcms.get(undefined, name);
    if (!mcm && this.mcms.isInvalid(undefined, name)) {
      // The API server has it, our schema refuses it (the informer logged why): not a deletion.
      this.log.warn({ mcm: name }, "ManagedClusterModule does not match its schema; its ManifestWorks stay as they are");
      return undefined;
    }
    if (!mcm || mcm.metadata.deletionTimestamp !== undefined) {
      // The ownerReferences would let the garbage collector do it too; this is faster and needs no GC.
      for (const w of this.ownedWorks(name)) await this.deleteWork(w);
      this.triggers.forget(name);
      this.writtenStatus.delete(name);
      return undefined;
    }
    const target = { name, uid: mcm.metadata.uid };

    let plans: ClusterPlan[];
    try {
      plans = planClusters(mcm, this.clusters.list());
    } catch (err: unknown) {
      if (!(err instanceof KernelMappingError)) throw err;
      await this.events.record(target, "Warning", EventReasons.InvalidKernelMapping, err.message);
      const selected = planClustersSafe(mcm, this.clusters.list());
      const pending = selected.map((cluster): ClusterOutcome => ({ cluster, kind: "pending", message: `not deployed: ${err.message}`, kernels: [] }));
      await this.writeStatus(mcm, pending, err.message);
      // Only a change of the MCM can fix it; its update event brings it back.
      return undefined;
    }

    const trigger = mcm.spec.moduleSpec.imageRebuildTriggerGeneration;
    const images = planImages(mcm, plans);
    if (this.triggers.changed(name, trigger)) expireImages(this.digests, images);

    const { keychain, problem } = this.keychain(mcm);
    if (problem !== undefined) await this.events.record(target, "Warning", EventReasons.PullSecretMissing, problem);
    const pins = await resolvePins(this.digests, images, keychain);
    const outs = buildOutcomes(mcm, plans, pins);

    for (const p of plans) {
      const skipped = p.plans.filter((k) => k.mapping === undefined);
      if (skipped.length > 0) {
        await this.events.record(target, "Warning", EventReasons.NoKernelMapping, `cluster ${p.cluster}: ${skipped.map((k) => k.skipped ?? k.kernel).join("; ")}`);
      }
    }

    const current = new Map<string, ManifestWorkObject>();
    for (const w of this.ownedWorks(name)) current.set(w.metadata.namespace ?? "", w);

    const failures: unknown[] = [];
    let registryTrouble = false;
    const toWrite: { o: Extract<ClusterOutcome, { kind: "work" }>; existing: ManifestWorkObject | undefined }[] = [];
    for (const o of outs) {
      if (o.kind === "blocked") {
        if (o.reason === "RegistryUnreachable" || o.reason === "RegistryError" || o.reason === "RegistryAuth") registryTrouble = true;
        const reason = o.reason.startsWith("ManifestWork") || o.reason === "TooManyKernels" ? EventReasons.ManifestWorkRefused : EventReasons.RegistryError;
        await this.events.record(target, "Warning", reason, `cluster ${o.cluster}: ${o.message}`);
        continue;
      }
      if (o.kind !== "work") continue;
      const existing = current.get(o.cluster);
      if (!existing || !this.upToDate(existing, o.work)) toWrite.push({ o, existing });
    }
    // One MCM can cover thousands of clusters: its works are applied a few at a time, not one by one.
    await forEachLimit(toWrite, APPLY_CONCURRENCY, async ({ o, existing }) => {
      try {
        await this.kube.applyAt(manifestWorkPath(o.cluster, name), o.work, FIELD_MANAGER);
        this.countWrite("apply");
        // The informer brings the stored object; until then the status reads the previous one.
        if (!existing) current.set(o.cluster, o.work);
      } catch (err: unknown) {
        this.log.error({ err, mcm: name, cluster: o.cluster }, "could not apply ManifestWork");
        failures.push(err);
        return;
      }
      await this.reportRepins(target, o.cluster, existing, o.work);
    });

    // Clusters no longer selected lose their work (and OCM removes the spoke Module).
    const selected = new Set(plans.map((p) => p.cluster));
    for (const [cluster, w] of current) {
      // A cluster we cannot read (invalid for our schema) is not a cluster that left.
      if (selected.has(cluster) || this.clusters.isInvalid(undefined, cluster)) continue;
      try {
        await this.deleteWork(w);
        current.delete(cluster);
        await this.events.record(target, "Normal", EventReasons.ManifestWorkDeleted, `cluster ${cluster} is no longer selected: ManifestWork ${cluster}/${name} deleted`);
      } catch (err: unknown) {
        failures.push(err);
      }
    }

    await this.writeStatus(mcm, outs, undefined, current);
    if (failures.length > 0) throw new AggregateError(failures, `ManagedClusterModule ${name}: ${failures.length} write(s) failed`);
    if (registryTrouble) return { requeueAfter: Math.min(REGISTRY_RETRY_MS, this.opts.digestRefreshIntervalMs) };
    // Tags are looked at again once the cache considers them stale.
    return images.length > 0 ? { requeueAfter: this.opts.digestRefreshIntervalMs } : undefined;
  }

  private upToDate(existing: ManifestWorkObject, desired: ManifestWorkObject): boolean {
    if (existing.metadata.deletionTimestamp !== undefined) return false;
    const labelsOk = Object.entries(desired.metadata.labels ?? {}).every(([k, v]) => existing.metadata.labels?.[k] === v);
    const ownersOk = (desired.metadata.ownerReferences ?? []).every((o) => existing.metadata.ownerReferences?.some((e) => e.uid === o.uid));
    return labelsOk && ownersOk && jsonSubset(desired.spec, existing.spec);
  }

  private async reportRepins(target: { name: string; uid?: string | undefined }, cluster: string, before: ManifestWorkObject | undefined, after: ManifestWorkObject): Promise<void> {
    if (!before) return;
    const old = pinnedByKernel(before);
    const next = pinnedByKernel(after);
    for (const [kernel, digest] of next) {
      const was = old.get(kernel);
      if (was !== undefined && was !== digest) {
        await this.events.record(target, "Normal", EventReasons.ImageRepinned, `cluster ${cluster}, kernel ${kernel}: image re-pinned from ${was} to ${digest} (the tag moved)`);
      }
    }
  }

  private async writeStatus(mcm: ManagedClusterModule, outs: readonly ClusterOutcome[], invalidSpec?: string, works?: Map<string, ManifestWorkObject>): Promise<void> {
    const name = mcmName(mcm);
    const current = works ?? new Map(this.ownedWorks(name).map((w) => [w.metadata.namespace ?? "", w]));
    const { previous, keep } = newestStatus(mcm, this.writtenStatus.get(name), Date.now());
    if (!keep) this.writtenStatus.delete(name);
    const status: ManagedClusterModuleStatus = buildStatus({
      mcm: { ...mcm, status: previous },
      outcomes: outs,
      works: current,
      now: rfc3339(this.opts.now?.() ?? new Date()),
      ...(invalidSpec !== undefined ? { invalidSpec } : {}),
    });
    if (jsonEqual(status, previous ?? {})) return;
    try {
      const stored = await this.kube.applyAt(mcmStatusPath(name), { apiVersion: HUB_API_VERSION, kind: MANAGED_CLUSTER_MODULE_KIND, metadata: { name }, status }, FIELD_MANAGER);
      this.countWrite("status");
      const resourceVersion = storedVersionSchema.safeParse(stored).data?.metadata.resourceVersion;
      if (resourceVersion !== undefined) this.writtenStatus.set(name, { status, resourceVersion, uid: mcm.metadata.uid, at: Date.now() });
    } catch (err: unknown) {
      // Deleted since the cache saw it: its delete event brings the clean-up.
      if (!isNotFound(err)) throw err;
    }
  }
}

/** Selected cluster names even when the kernel mappings cannot be resolved. */
function planClustersSafe(mcm: ManagedClusterModule, clusters: readonly ManagedClusterObject[]): string[] {
  return selectClusters(mcm.spec.selector, clusters).map((c) => c.metadata.name ?? "");
}
