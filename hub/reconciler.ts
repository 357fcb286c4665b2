// The ManagedClusterModule reconciler: reads only informer caches, computes the desired
// ManifestWorks with the pure builders, pins tags through the hub-wide DigestCache, and writes
// (server-side apply, field manager kmm-hub) only what differs from the cache. It orchestrates:
// planning (plan.ts), pull secrets (pull-secret.ts), pinning (pinning.ts), status (status.ts) and
// Events (report.ts, events.ts) live in their own modules. A failure of one step for one cluster
// or kernel is that cluster's outcome in status and an Event; the other clusters go on.
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
import { nextCondition } from "../shared/api/conditions.ts";
import { upstreamRuleProblems } from "../shared/api/module.ts";
import { CONDITION_SPEC_VALID, INVALID_SPEC_REASON, specInvalidCondition } from "../shared/api/upstream-rules.ts";
import { MANAGEDCLUSTER_API_VERSION, MANIFESTWORK_API_VERSION, type ManagedClusterObject, type ManifestWorkObject } from "../shared/ocm/index.ts";
import { RegistryClient, DigestCache } from "../shared/registry/index.ts";
import { PullSecretSchema, type PullSecret } from "../shared/registry/keychain.ts";
import { Controller, type Informer, type Logger, type Manager, type ReconcileResult } from "../shared/runtime/index.ts";
import { SharedValues, cachedClusterSchema, cachedMcmSchema, cachedWorkSchema, sharedStatus } from "./cache.ts";
import { kernelClaimValue, selectorMatches } from "./clusters.ts";
import { PlanMemory } from "./plan-memory.ts";
import { jsonEqual, jsonSubset } from "./compare.ts";
import { EventReasons, EventRecorder, type EventTarget } from "./events.ts";
import { RawClient, isNotFound } from "../shared/kube/raw.ts";
import { mcmName, type ClusterOutcome } from "./manifestwork.ts";
import { FIELD_MANAGER, MCM_NAME_LABEL, manifestWorkPath, mcmStatusPath } from "./names.ts";
import { expireImages, resolvePins } from "./pinning.ts";
import type { ClusterPlan } from "./plan.ts";
import { pullSecretKeychain } from "./pull-secret.ts";
import { repins, warnings, type EventToRecord } from "./report.ts";
import { StatusMemo, buildStatus, newestStatus, progressingStatus, type WrittenStatus } from "./status.ts";
import { StatusWriter, type StatusWriteResult } from "./status-writer.ts";
import type { ClusterProblem } from "./summary.ts";
import { classifyWriteError } from "./write-errors.ts";
import { forEachLimit } from "../shared/runtime/for-each-limit.ts";
import { BuildSignStep } from "./buildsign/step.ts";
import { ImageWatch } from "./image-watch.ts";

export const CONTROLLER_NAME = "ManagedClusterModule";
/** Retry delay after the API server refused a write (an admission policy or quota may change). */
const REFUSED_RETRY_MS = 60_000;
/** ManifestWork applies in flight per reconcile. */
const APPLY_CONCURRENCY = 16;
/**
 * How often at most reconciles that looked at a few clusters write an MCM's status: 2 ms per
 * selected cluster, at least 1 s, at most 10 s. When thousands of works report one by one, or
 * clusters change one after another, each would otherwise rewrite a status of up to 640 KiB: at
 * 1,000 × 10 a change every few seconds kept the API server busy with 600 KB server-side applies
 * (~15 status writes per change, each reconcile waiting ~2 s). The last change is written when the
 * interval is up (requeue); a full reconcile writes at once.
 */
export function statusWriteIntervalMs(selected: number): number {
  return Math.min(10_000, Math.max(1000, 2 * selected));
}


export interface HubReconcilerOptions {
  manager: Manager;
  connection: KubeConnection;
  /** The hub's own namespace: where imageRepoSecrets are read. */
  namespace: string;
  digestRefreshIntervalMs: number;
  maxConcurrentReconciles?: number;
  /** PEM CA bundle trusted for registries, besides the system roots. */
  registryCaBundle?: string;
  /**
   * Builds and signing (hub/buildsign): the kaniko and signer images, job.gcDelay in ms, and whether
   * the hub serves the ImageStream API (DTK_AUTO; asked once at start).
   */
  buildSign?: { relatedImageBuild: string; relatedImageSign: string; gcDelayMs: number; driverToolkitApi?: boolean };
  now?: () => Date;
}

const storedVersionSchema = z.looseObject({ metadata: z.looseObject({ resourceVersion: z.string() }) });

function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

export class ManagedClusterModuleReconciler {
  readonly controller: Controller;
  readonly mcms: Informer<ManagedClusterModule>;
  readonly clusters: Informer<ManagedClusterObject>;
  readonly works: Informer<ManifestWorkObject>;
  readonly secrets: Informer<PullSecret>;
  readonly digests: DigestCache;
  readonly registryClient: RegistryClient;
  /** Moved tags and returning registries: enqueues the MCMs concerned (no periodic reconcile needed). */
  readonly imageWatch: ImageWatch;
  /** The hub's API writes; reads come from the informers only. */
  readonly kube: RawClient;
  /** Build and sign Jobs for images the hub makes. */
  readonly buildSign: BuildSignStep;
  private readonly events: EventRecorder;
  private readonly log: Logger;
  private readonly opts: HubReconcilerOptions;
  /**
   * The status last written per MCM and the resourceVersion it got, until the cache shows it: a
   * reconcile that runs before the MCM's watch event arrives (its works' events come first) would
   * otherwise write the same status again, a large object on a big fleet.
   */
  private readonly writtenStatus = new Map<string, WrittenStatus>();
  /**
   * What changed per MCM since its last reconcile began: "all" (the MCM, a pull secret, an image,
   * a build: every cluster is planned again) or the clusters whose ManagedCluster or ManifestWork
   * changed (only those are planned again, issue 16). No entry: nothing new (a requeue).
   */
  private readonly pending = new Map<string, Set<string> | "all">();
  /** Per MCM, the last plan and status parts (dropped after a failure: the next reconcile plans all). */
  private readonly memory = new Map<string, McmMemory>();
  /** Status writes beside the reconciles: the newest status per MCM, one write at a time. */
  private readonly statusWriter: StatusWriter;
  /** Desired work specs → cached specs known to hold them (see specWritten). */
  private readonly specsWritten = new WeakMap<object, WeakSet<object>>();
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
    this.imageWatch = new ImageWatch({ digests: this.digests, enqueue: (mcm) => this.enqueue(mcm) });
    m.addRunnable(this.imageWatch);

    this.mcms = m.informer({
      resource: { apiVersion: HUB_API_VERSION, kind: MANAGED_CLUSTER_MODULE_KIND, plural: MANAGED_CLUSTER_MODULE_PLURAL },
      schema: cachedMcmSchema,
    });
    // A stored MCM our schema refuses: its reconcile says why in an Event (and leaves its works).
    this.mcms.onInvalid((inv) => { this.enqueue(inv.name); });
    this.clusters = m.informer({
      resource: { apiVersion: MANAGEDCLUSTER_API_VERSION, kind: "ManagedCluster", plural: "managedclusters" },
      schema: cachedClusterSchema(this.shared),
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
    this.buildSign = new BuildSignStep({
      manager: m,
      kube: this.kube,
      events: this.events,
      log: this.log,
      namespace: opts.namespace,
      relatedImageBuild: opts.buildSign?.relatedImageBuild ?? "",
      relatedImageSign: opts.buildSign?.relatedImageSign ?? "",
      gcDelayMs: opts.buildSign?.gcDelayMs ?? 0,
      driverToolkitApi: opts.buildSign?.driverToolkitApi === true,
      mcms: this.mcms,
      secrets: this.secrets,
      digests: this.digests,
      signal: () => this.controller.signal,
      enqueue: (name) => this.enqueue(name),
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
    this.statusWriter = new StatusWriter({
      write: (mcm, status) => this.applyStatus(mcm, status),
      failed: (mcm, result) => this.statusFailed(mcm, result),
      stopped: () => this.controller.signal.aborted,
      written: () => { m.noteWork(); },
    });
    // The memory release (Manager memoryRelease) waits for the statuses written after the reconciles.
    const writer = this.statusWriter;
    m.addBusyCheck(() => writer.busy());
    this.wire();
  }

  /** Reconciles an MCM with every cluster planned again. */
  private enqueue(name: string | undefined): void {
    if (name === undefined || name === "") return;
    this.pending.set(name, "all");
    this.controller.enqueue(name);
  }

  /** Reconciles an MCM for a change of one cluster (its ManagedCluster or its ManifestWork). */
  private enqueueCluster(name: string | undefined, cluster: string | undefined): void {
    if (name === undefined || name === "" || cluster === undefined || cluster === "") return;
    const p = this.pending.get(name);
    if (p === undefined) this.pending.set(name, new Set([cluster]));
    else if (p !== "all") p.add(cluster);
    this.controller.enqueue(name);
  }

  /** A cluster changed: the MCMs whose selector matches any of these label sets, and those with a work there. */
  private enqueueForCluster(cluster: string | undefined, ...labelSets: (Record<string, string> | undefined)[]): void {
    for (const mcm of this.mcms.list()) {
      if (labelSets.some((l) => selectorMatches(mcm.spec.selector, l))) this.enqueueCluster(mcm.metadata.name, cluster);
    }
    // A relabelled or deleted cluster may also leave an MCM: the MCMs with a work there must look again.
    if (cluster !== undefined) for (const w of this.works.list(cluster)) this.enqueueCluster(w.metadata.labels?.[MCM_NAME_LABEL], cluster);
  }

  private wire(): void {
    this.mcms.onAdd((o) => this.enqueue(o.metadata.name));
    this.mcms.onUpdate((o, old) => {
      // Our own status writes change neither generation nor deletion: no reconcile for them.
      if (old?.metadata.generation !== o.metadata.generation || old?.metadata.deletionTimestamp !== o.metadata.deletionTimestamp) this.enqueue(o.metadata.name);
    });
    this.mcms.onDelete((o) => this.enqueue(o.metadata.name));

    this.clusters.onAdd((c) => this.enqueueForCluster(c.metadata.name, c.metadata.labels));
    this.clusters.onUpdate((c, old) => {
      if (old && jsonEqual(old.metadata.labels ?? {}, c.metadata.labels ?? {}) && kernelClaimValue(old) === kernelClaimValue(c) && old.metadata.deletionTimestamp === c.metadata.deletionTimestamp) return;
      this.enqueueForCluster(c.metadata.name, c.metadata.labels, old?.metadata.labels);
    });
    this.clusters.onDelete((c) => this.enqueueForCluster(c.metadata.name, c.metadata.labels));

    const onWork = (w: ManifestWorkObject): void => this.enqueueCluster(w.metadata.labels?.[MCM_NAME_LABEL], w.metadata.namespace);
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

  async reconcile(name: string): Promise<ReconcileResult | undefined> {
    const mcm = this.mcms.get(undefined, name);
    const invalid = mcm ? undefined : this.mcms.invalidObject(undefined, name);
    if (invalid !== undefined) {
      // The API server has it, our schema refuses it (the informer logged why): not a deletion. Said
      // on the MCM once per version (the informer enqueues each invalid version once).
      this.log.warn({ mcm: name }, "ManagedClusterModule does not match its schema; its ManifestWorks stay as they are");
      await this.events.record(
        { name, uid: invalid.uid },
        "Warning",
        INVALID_SPEC_REASON,
        `the ManagedClusterModule does not match its schema, so its ManifestWorks stay as they are: ${invalid.problems}`,
      );
      return undefined;
    }
    if (!mcm || mcm.metadata.deletionTimestamp !== undefined) {
      // The ownerReferences would let the garbage collector do it too; this is faster and needs no GC.
      for (const w of this.ownedWorks(name)) await this.deleteWork(w);
      this.buildSign.forget(name);
      this.imageWatch.forget(name);
      this.writtenStatus.delete(name);
      this.forgetPlans(name);
      this.events.forget({ name, uid: mcm?.metadata.uid });
      return undefined;
    }
    const target = { name, uid: mcm.metadata.uid };
    try {
      const problems = upstreamRuleProblems(mcm.spec.moduleSpec);
      if (problems.length > 0) {
        this.forgetPlans(name);
        return await this.reportInvalidSpec(mcm, target, problems);
      }
      return await this.converge(mcm, target);
    } catch (err: unknown) {
      this.memory.delete(name);
      // Every step reports its own failures; what still gets here is unexpected: say it, then retry.
      await this.events.record(target, "Warning", EventReasons.ReconcileFailed, `reconcile failed, retrying: ${err instanceof Error ? err.message : String(err)}`);
      throw err;
    }
  }

  /**
   * A stored moduleSpec that breaks a rule the API server does not enforce (upstreamRuleProblems):
   * condition SpecValid=False and a Warning Event, and nothing else written; the ManifestWorks
   * already there stay as they are. Terminal until the MCM changes.
   */
  private async reportInvalidSpec(mcm: ManagedClusterModule, target: EventTarget, problems: ReturnType<typeof upstreamRuleProblems>): Promise<undefined> {
    const before = mcm.status?.conditions ?? [];
    const invalid = nextCondition(before, specInvalidCondition(problems, "spec.moduleSpec."), this.nowText(), mcm.metadata.generation);
    await this.events.record(target, "Warning", INVALID_SPEC_REASON, invalid.message);
    const status: ManagedClusterModuleStatus = { ...(mcm.status ?? {}), conditions: [...before.filter((c) => c.type !== CONDITION_SPEC_VALID), invalid] };
    if (jsonEqual(status, mcm.status ?? {})) return undefined;
    const written = await this.applyStatus(mcm, status);
    if (written.refused !== undefined) await this.events.record(target, "Warning", EventReasons.StatusRefused, written.refused);
    if (written.retry === true) throw new Error(`ManagedClusterModule ${mcm.metadata.name ?? ""}: its status did not get through; retrying`);
    return undefined;
  }

  private forgetPlans(name: string): void {
    this.memory.delete(name);
    this.pending.delete(name);
    this.statusWriter.forget(name);
  }

  /**
   * A status write in the background failed: a refusal is an Event and a look again after
   * REFUSED_RETRY_MS, a write that did not get through a retry with backoff; both plan every cluster.
   */
  private async statusFailed(mcm: ManagedClusterModule, result: StatusWriteResult): Promise<void> {
    const name = mcmName(mcm);
    this.memory.delete(name);
    this.pending.set(name, "all");
    if (result.refused !== undefined) {
      await this.events.record({ name, uid: mcm.metadata.uid }, "Warning", EventReasons.StatusRefused, result.refused);
      this.controller.queue.addAfter(name, REFUSED_RETRY_MS);
    } else {
      this.controller.queue.addRateLimited(name);
    }
  }

  /**
   * The plans of an MCM brought up to date: made whole on its first reconcile, after a change of
   * the MCM or anything else that concerns every cluster, and after a failure; otherwise only the
   * clusters that changed are planned again. `touched` are the clusters to look at ("all": every one).
   */
  private plansFor(mcm: ManagedClusterModule, name: string): { memory: McmMemory; touched: Set<string> | "all" } {
    const change = this.pending.get(name);
    this.pending.delete(name);
    const source = { get: (cluster: string) => this.clusters.get(undefined, cluster), list: () => this.clusters.list() };
    const known = this.memory.get(name);
    if (known === undefined || change === "all" || known.plans.version !== PlanMemory.versionOf(mcm)) {
      const memory: McmMemory = { plans: PlanMemory.full(mcm, source), status: known?.status ?? new StatusMemo(), statusWrittenAt: known?.statusWrittenAt ?? 0 };
      this.memory.set(name, memory);
      return { memory, touched: "all" };
    }
    const touched = change ?? new Set<string>();
    known.plans.replan(mcm, source, touched);
    return { memory: known, touched };
  }

  /** The MCM's work in a cluster's namespace, from the cache. */
  private cachedWork(name: string, cluster: string): ManifestWorkObject | undefined {
    const w = this.works.get(cluster, name);
    return w?.metadata.labels?.[MCM_NAME_LABEL] === name ? w : undefined;
  }

  /** One reconcile of an existing MCM: plan, pin, build, apply, clean up, report. */
  private async converge(mcm: ManagedClusterModule, target: EventTarget): Promise<ReconcileResult | undefined> {
    const name = target.name;
    // Plans never throw: a kernel or cluster that cannot be planned is that cluster's outcome.
    const { memory, touched: changed } = this.plansFor(mcm, name);
    const planned = memory.plans;
    if (mcm.status === undefined && !this.writtenStatus.has(name)) {
      await this.applyStatus(mcm, progressingStatus(mcm, planned.size, this.nowText()));
    }

    const images = planned.images(mcm);
    // Against status.imageRebuildTriggerGeneration, so a bump while no hub ran still rebuilds.
    if (this.buildSign.startRebuildIfTriggered(mcm)) expireImages(this.digests, images);

    const secret = pullSecretKeychain(mcm, this.opts.namespace, (ref) => this.secrets.get(this.opts.namespace, ref));
    if (secret.problem !== undefined) await this.events.record(target, "Warning", EventReasons[secret.problem.reason], secret.problem.message);
    // Images the hub builds or signs: their Jobs move one step; until ready, their kernels wait.
    const pins = await resolvePins(this.digests, images, secret.keychain, this.controller.signal);
    this.imageWatch.set(name, images, pins, secret.keychain);
    const built = await this.buildSign.converge(mcm, target, planned.plans(), pins, secret.keychain);
    // A digest that moved changes every cluster's outcome: look at them all.
    const touched = planned.setPins(built.pins) ? "all" : changed;

    // The clusters looked at: their works as the cache has them, their outcomes.
    const current = new Map<string, ManifestWorkObject>();
    let outs: ClusterOutcome[];
    let plans: ClusterPlan[];
    if (touched === "all") {
      for (const w of this.ownedWorks(name)) current.set(w.metadata.namespace ?? "", w);
      outs = planned.outcomes(mcm);
      plans = planned.plans();
    } else {
      outs = [];
      plans = [];
      for (const cluster of touched) {
        const w = this.cachedWork(name, cluster);
        if (w !== undefined) current.set(cluster, w);
        const o = planned.outcome(mcm, cluster);
        if (o !== undefined) outs.push(o);
        const p = planned.plan(cluster);
        if (p !== undefined) plans.push(p);
      }
    }

    const { outcomes: written, retry, repinned } = await this.applyWorks(name, outs, current);
    const deletions = await this.deleteUnselected(name, (cluster) => planned.has(cluster), current);

    // Status covers every selected cluster; those not looked at keep their outcome and cached work.
    const failed = new Map(written.filter((o, i) => o !== outs[i]).map((o) => [o.cluster, o]));
    const all = touched === "all" ? written : failed.size === 0 ? planned.outcomes(mcm) : planned.outcomes(mcm).map((o) => failed.get(o.cluster) ?? o);
    const works = touched === "all" ? current : { get: (cluster: string) => (current.has(cluster) ? current.get(cluster) : this.cachedWork(name, cluster)) };
    // Nothing a status shows changed (a work event of our own apply): the last one stands.
    const same = touched !== "all" && failed.size === 0 ? [...touched].map((cluster) => ({ cluster, outcome: planned.outcome(mcm, cluster), work: works.get(cluster) })) : undefined;
    const status = this.writeStatus(mcm, all, works, memory, same);
    const events: EventToRecord[] = [...warnings(plans, written, current)];
    if (repinned.length > 0) events.push({ type: "Normal", reason: EventReasons.ImageRepinned, problems: repinned });
    if (deletions.deleted.length > 0) events.push({ type: "Normal", reason: EventReasons.ManifestWorkDeleted, problems: deletions.deleted });
    if (deletions.failed.length > 0) events.push({ type: "Warning", reason: EventReasons.ReconcileFailed, problems: deletions.failed });
    for (const e of events) await this.events.recordProblems(target, e.type, e.reason, e.problems);

    if (retry || deletions.failed.length > 0) throw new Error(`ManagedClusterModule ${name}: some writes did not get through (see its status and Events); retrying`);
    const registryTrouble = written.some((o) => o.kind === "blocked" && (o.reason === "RegistryUnreachable" || o.reason === "RegistryError" || o.reason === "RegistryAuth"));
    const refused = written.some((o) => o.kind === "blocked" && o.reason === "ManifestWorkRefused");
    // A refused work is written again by the next full reconcile (its outcome here says refused).
    if (failed.size > 0 || refused) this.memory.delete(name);
    // The image watch brings moved tags and a returning registry at once; these are the fallbacks.
    const after = [
      ...(registryTrouble || refused ? [Math.min(registryTrouble ? this.opts.digestRefreshIntervalMs : REFUSED_RETRY_MS, this.opts.digestRefreshIntervalMs)] : []),
      ...(built.requeueAfterMs !== undefined ? [built.requeueAfterMs] : []),
      ...(status.deferredMs !== undefined ? [status.deferredMs] : []),
    ];
    // The fallbacks look at every cluster again when they come; a deferred status needs no more.
    if (registryTrouble || refused || built.requeueAfterMs !== undefined) this.pending.set(name, "all");
    return after.length > 0 ? { requeueAfter: Math.min(...after) } : undefined;
  }

  /**
   * Applies the works that differ from the cache, a few at a time (one MCM can cover thousands of
   * clusters). A write the API server refuses, or one that does not get through, becomes that
   * cluster's blocked outcome; the other clusters go on.
   */
  private async applyWorks(name: string, outs: readonly ClusterOutcome[], current: Map<string, ManifestWorkObject>): Promise<{ outcomes: ClusterOutcome[]; retry: boolean; repinned: ClusterProblem[] }> {
    const toWrite: { o: Extract<ClusterOutcome, { kind: "work" }>; existing: ManifestWorkObject | undefined }[] = [];
    for (const o of outs) {
      if (o.kind !== "work") continue;
      const existing = current.get(o.cluster);
      if (!existing || !this.upToDate(existing, o.work)) toWrite.push({ o, existing });
    }
    const failed = new Map<string, ClusterOutcome>();
    const repinned: ClusterProblem[] = [];
    let retry = false;
    await forEachLimit(toWrite, APPLY_CONCURRENCY, async ({ o, existing }) => {
      try {
        await this.kube.applyAt(manifestWorkPath(o.cluster, name), o.work, FIELD_MANAGER, true, { readAnswer: false });
        this.countWrite("apply");
        // The informer brings the stored object; until then the status reads the previous one.
        if (!existing) current.set(o.cluster, o.work);
        repinned.push(...repins(o.cluster, existing, o.work));
      } catch (err: unknown) {
        const f = classifyWriteError(err);
        this.log.error({ err, mcm: name, cluster: o.cluster, refused: f.refused }, "could not apply ManifestWork");
        if (!f.refused) retry = true;
        const message = f.refused ? `the API server refused ManifestWork ${o.cluster}/${name}: ${f.message}` : `ManifestWork ${o.cluster}/${name} could not be written (retrying): ${f.message}`;
        failed.set(o.cluster, { cluster: o.cluster, kind: "blocked", reason: f.refused ? "ManifestWorkRefused" : "WriteFailed", message, kernels: o.kernels });
      }
    });
    return { outcomes: outs.map((o) => failed.get(o.cluster) ?? o), retry, repinned };
  }

  /** Clusters no longer selected lose their work (and OCM removes the spoke Module). */
  private async deleteUnselected(name: string, selected: (cluster: string) => boolean, current: Map<string, ManifestWorkObject>): Promise<{ deleted: ClusterProblem[]; failed: ClusterProblem[] }> {
    const deleted: ClusterProblem[] = [];
    const failed: ClusterProblem[] = [];
    for (const [cluster, w] of current) {
      // A cluster we cannot read (invalid for our schema) is not a cluster that left.
      if (selected(cluster) || this.clusters.isInvalid(undefined, cluster)) continue;
      try {
        await this.deleteWork(w);
        current.delete(cluster);
        deleted.push({ cluster, message: `no longer selected: ManifestWork ${cluster}/${name} deleted` });
      } catch (err: unknown) {
        this.log.error({ err, mcm: name, cluster }, "could not delete ManifestWork");
        failed.push({ cluster, message: `ManifestWork ${cluster}/${name} of a cluster no longer selected could not be deleted: ${classifyWriteError(err).message}` });
      }
    }
    return { deleted, failed };
  }

  private upToDate(existing: ManifestWorkObject, desired: ManifestWorkObject): boolean {
    if (existing.metadata.deletionTimestamp !== undefined) return false;
    const labelsOk = Object.entries(desired.metadata.labels ?? {}).every(([k, v]) => existing.metadata.labels?.[k] === v);
    const ownersOk = (desired.metadata.ownerReferences ?? []).every((o) => existing.metadata.ownerReferences?.some((e) => e.uid === o.uid));
    return labelsOk && ownersOk && this.specWritten(desired.spec, existing.spec);
  }

  /**
   * Whether the cached spec holds the desired one. Works of clusters with equal kernels share both
   * (desiredManifestWork, cachedWorkSchema): each pair is compared once, not once per cluster.
   */
  private specWritten(desired: ManifestWorkObject["spec"], cached: ManifestWorkObject["spec"]): boolean {
    if (desired === undefined || cached === undefined) return jsonSubset(desired, cached);
    let known = this.specsWritten.get(desired);
    if (known?.has(cached) === true) return true;
    if (!jsonSubset(desired, cached)) return false;
    if (known === undefined) this.specsWritten.set(desired, (known = new WeakSet()));
    known.add(cached);
    return true;
  }

  private nowText(): string {
    return rfc3339(this.opts.now?.() ?? new Date());
  }

  /**
   * Builds the status and hands it to the status writer when it changed (the newest status known:
   * one waiting to be written, else the last written, else the cache's). A reconcile that looked at
   * a few clusters (`touched`: each with its outcome and work) reuses the last status when none of
   * them changed, and hands one over at most once per statusWriteIntervalMs: a change within the
   * interval is handed over when it is up (deferredMs).
   */
  private writeStatus(mcm: ManagedClusterModule, outs: readonly ClusterOutcome[], works: Pick<ReadonlyMap<string, ManifestWorkObject>, "get">, memory: McmMemory, touched: Parameters<StatusMemo["unchanged"]>[2] | undefined): { deferredMs?: number } {
    const name = mcmName(mcm);
    const newest = newestStatus(mcm, this.writtenStatus.get(name), Date.now());
    if (!newest.keep) this.writtenStatus.delete(name);
    const previous = this.statusWriter.pending(name) ?? newest.previous;
    const applied = this.buildSign.appliedTrigger(mcm);
    const now = this.nowText();
    const built = (touched !== undefined ? memory.status.unchanged(mcm, previous, touched, now) : undefined) ?? buildStatus({ mcm: { ...mcm, status: previous }, outcomes: outs, works, now, memo: memory.status });
    const status: ManagedClusterModuleStatus = { ...built, ...(applied !== undefined ? { imageRebuildTriggerGeneration: applied } : {}) };
    if (jsonEqual(status, previous ?? {})) return {};
    const wait = memory.statusWrittenAt + statusWriteIntervalMs(memory.plans.size) - Date.now();
    if (touched !== undefined && wait > 0) return { deferredMs: wait };
    this.statusWriter.submit(mcm, status);
    memory.statusWrittenAt = Date.now();
    return {};
  }

  /** Writes a status; a refusal is returned (for an Event), a failure to get through asks for a retry. */
  private async applyStatus(mcm: ManagedClusterModule, status: ManagedClusterModuleStatus): Promise<StatusWriteResult> {
    const name = mcmName(mcm);
    try {
      const stored = await this.kube.applyAt(mcmStatusPath(name), { apiVersion: HUB_API_VERSION, kind: MANAGED_CLUSTER_MODULE_KIND, metadata: { name }, status }, FIELD_MANAGER);
      this.countWrite("status");
      const resourceVersion = storedVersionSchema.safeParse(stored).data?.metadata.resourceVersion;
      // Kept until the cache shows it: as compact as the cache's own copy.
      if (resourceVersion !== undefined) this.writtenStatus.set(name, { status: sharedStatus(status), resourceVersion, uid: mcm.metadata.uid, at: Date.now() });
      return {};
    } catch (err: unknown) {
      // Deleted since the cache saw it: its delete event brings the clean-up.
      if (isNotFound(err)) return {};
      const f = classifyWriteError(err);
      this.log.error({ err, mcm: name, refused: f.refused }, "could not write ManagedClusterModule status");
      return f.refused ? { refused: `the API server refused the status of ManagedClusterModule ${name}: ${f.message}` } : { retry: true };
    }
  }
}

/** What the reconciler keeps of an MCM between reconciles. */
interface McmMemory {
  plans: PlanMemory;
  status: StatusMemo;
  /** When its status was last written (ms since the epoch). */
  statusWrittenAt: number;
}

