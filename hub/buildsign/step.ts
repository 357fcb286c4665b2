// The hub's build and sign step: for the (image, kernel)s an MCM's selected clusters need whose
// mapping has build or sign, it reads Jobs, their pods, Dockerfile ConfigMaps and Secrets from
// informer caches (never a LIST in a reconcile), asks progress() what to do, carries that out
// (create, delete, add an owner), records Events, and hands back the pins: a digest the final Job
// reported, or why there is none yet (building, signing, failed) for the status and ManifestWork.
import { z } from "zod";
import type { ManagedClusterModule } from "../../shared/api/index.ts";
import { HUB_API_VERSION, MANAGED_CLUSTER_MODULE_KIND } from "../../shared/api/index.ts";
import type { OwnerReference } from "../../shared/k8s/core.generated.ts";
import { resolveKernelMapping, type ResolvedKernelMapping } from "../../shared/kernel-mapping/kernel-mapping.ts";
import { isConflict, isNotFound, type RawClient } from "../../shared/kube/raw.ts";
import type { DigestCache, Keychain } from "../../shared/registry/index.ts";
import { parseReference } from "../../shared/registry/index.ts";
import type { PullSecret } from "../../shared/registry/keychain.ts";
import type { Informer, Logger, Manager } from "../../shared/runtime/index.ts";
import type { EventRecorder, EventTarget } from "../events.ts";
import { moduleContext, type Pin } from "../manifestwork.ts";
import type { ClusterPlan } from "../plan.ts";
import { BuildInputError, buildJob, dockerfileFrom } from "./build-job.ts";
import { DRIVER_TOOLKIT, dtkImageFor, dtkNodeSchema, imageStreamSchema, kernelOsVersions, type DtkLookup, type DtkNode, type ImageStream } from "./dtk.ts";
import { observedJobSchema, observedPodSchema, type ObservedJob, type ObservedPod } from "./job.ts";
import { JOB_SELECTOR, POD_JOB_NAME_LABEL, unsignedImageName } from "./names.ts";
import { hashOf, progress, type BuildSignState, type JobAction, type JobEventToRecord } from "./progress.ts";
import { signJob } from "./sign-job.ts";

const configMapSchema = z.looseObject({
  metadata: z.looseObject({ name: z.string().optional(), namespace: z.string().optional() }),
  data: z.record(z.string(), z.string()).optional(),
});
type ConfigMap = z.infer<typeof configMapSchema>;
const secretVersionSchema = z.looseObject({ metadata: z.looseObject({ resourceVersion: z.string().optional() }).optional() });

/** While a Job runs, look again this often even without a watch event (events usually come first). */
const RUNNING_RECHECK_MS = 15_000;

export interface BuildSignOptions {
  manager: Manager;
  kube: RawClient;
  events: EventRecorder;
  log: Logger;
  /** The hub namespace: Jobs, Dockerfile ConfigMaps, build secrets and keys live there. */
  namespace: string;
  /** RELATED_IMAGE_BUILD (kaniko) and RELATED_IMAGE_SIGN (hub/signer); "" when unset. */
  relatedImageBuild: string;
  relatedImageSign: string;
  /** job.gcDelay in milliseconds. */
  gcDelayMs: number;
  mcms: Informer<ManagedClusterModule>;
  secrets: Informer<PullSecret>;
  digests: DigestCache;
  /** The reconciles' stop signal (the controller's), read at each look-up: stopping aborts registry look-ups. */
  signal?: () => AbortSignal;
  enqueue: (mcm: string) => void;
  now?: () => number;
  /**
   * The hub serves image.openshift.io/v1 ImageStreams (asked once at start, imageStreamApiServed):
   * then DTK_AUTO comes from the driver-toolkit ImageStream and the hub's Nodes, read through
   * informers; otherwise a Dockerfile using DTK_AUTO builds without it, with a warning Event.
   */
  driverToolkitApi?: boolean;
}

/** What one pass of the step hands back to the reconciler. */
export interface BuildSignResult {
  /** The pins with every hub-made image's state folded in. */
  pins: Map<string, Pin>;
  requeueAfterMs?: number;
}

interface Target {
  key: string;
  mapping: ResolvedKernelMapping;
}

/** The (image, kernel)s of the plans whose mapping builds or signs (tagged images only). */
export function hubMadeTargets(plans: readonly ClusterPlan[]): Target[] {
  const out = new Map<string, Target>();
  for (const p of plans) {
    for (const k of p.plans) {
      const m = k.mapping;
      if (m === undefined || (m.build === undefined && m.sign === undefined)) continue;
      if (parseReference(m.containerImage).digest !== undefined) continue;
      const key = `${m.containerImage}\0${m.kernel.full}`;
      if (!out.has(key)) out.set(key, { key, mapping: m });
    }
  }
  return [...out.values()];
}

function ownerOf(mcm: ManagedClusterModule): OwnerReference {
  return { apiVersion: HUB_API_VERSION, kind: MANAGED_CLUSTER_MODULE_KIND, name: mcm.metadata.name ?? "", uid: mcm.metadata.uid ?? "", blockOwnerDeletion: true };
}

/** The pin a state gives its image: a digest, or why there is none (the status shows it). */
export function pinOf(state: BuildSignState, registryPin: Pin | undefined): Pin {
  switch (state.state) {
    case "Ready":
      if (state.digest !== undefined) return { digest: state.digest };
      return registryPin ?? { error: "no digest known", reason: "RegistryError" };
    case "Building":
    case "Signing":
      return { error: state.message, reason: state.state, buildSign: { state: state.state, job: state.job } };
    case "Failed":
      return { error: state.message, reason: state.reason, buildSign: { state: "Failed", ...(state.job !== undefined ? { job: state.job } : {}) } };
  }
}

export class BuildSignStep {
  readonly jobs: Informer<ObservedJob>;
  readonly pods: Informer<ObservedPod>;
  readonly configMaps: Informer<ConfigMap>;
  /** The driver-toolkit ImageStream and the hub's Nodes: only when the hub serves the ImageStream API. */
  readonly driverToolkit: { streams: Informer<ImageStream>; nodes: Informer<DtkNode> } | undefined;
  /** Jobs created, deleted and adopted by this hub process (tests, figures). */
  readonly counts = { created: 0, deleted: 0, adopted: 0 };
  private readonly opts: BuildSignOptions;
  /** MCMs whose imageRebuildTriggerGeneration moved, with the (image, kernel)s rebuilt since. */
  private readonly rebuilds = new Map<string, Set<string>>();
  /** The imageRebuildTriggerGeneration each MCM's pending rebuild is for. */
  private readonly rebuilding = new Map<string, number>();
  /** The last generation whose rebuild finished in this process (its status may not show it yet). */
  private readonly rebuilt = new Map<string, number>();

  constructor(opts: BuildSignOptions) {
    this.opts = opts;
    const m = opts.manager;
    const ns = opts.namespace;
    this.jobs = m.informer({ resource: { apiVersion: "batch/v1", kind: "Job", plural: "jobs", namespace: ns }, schema: observedJobSchema, labelSelector: JOB_SELECTOR });
    this.pods = m.informer({ resource: { apiVersion: "v1", kind: "Pod", plural: "pods", namespace: ns }, schema: observedPodSchema, labelSelector: JOB_SELECTOR });
    this.configMaps = m.informer({ resource: { apiVersion: "v1", kind: "ConfigMap", plural: "configmaps", namespace: ns }, schema: configMapSchema });
    const onJob = (j: ObservedJob): void => {
      for (const o of j.metadata.ownerReferences ?? []) if (o.kind === MANAGED_CLUSTER_MODULE_KIND) opts.enqueue(o.name);
    };
    this.jobs.onAdd(onJob);
    this.jobs.onUpdate(onJob);
    this.jobs.onDelete(onJob);
    const onPod = (p: ObservedPod): void => {
      const job = p.metadata.labels?.[POD_JOB_NAME_LABEL] ?? p.metadata.labels?.["job-name"];
      const j = job === undefined ? undefined : this.jobs.get(ns, job);
      if (j !== undefined) onJob(j);
    };
    this.pods.onUpdate(onPod);
    const onConfigMap = (c: ConfigMap): void => {
      for (const mcm of opts.mcms.list()) if (usesConfigMap(mcm, c.metadata.name ?? "")) opts.enqueue(mcm.metadata.name ?? "");
    };
    this.configMaps.onAdd(onConfigMap);
    this.configMaps.onUpdate(onConfigMap);
    this.configMaps.onDelete(onConfigMap);
    this.driverToolkit = opts.driverToolkitApi === true ? this.watchDriverToolkit() : undefined;
  }

  /** Informers for DTK_AUTO; a new DTK tag or a Node's kernel/RHCOS change re-reconciles the MCMs that build. */
  private watchDriverToolkit(): { streams: Informer<ImageStream>; nodes: Informer<DtkNode> } {
    const m = this.opts.manager;
    const streams = m.informer({
      resource: { apiVersion: DRIVER_TOOLKIT.apiVersion, kind: "ImageStream", plural: "imagestreams", namespace: DRIVER_TOOLKIT.namespace },
      schema: imageStreamSchema,
      fieldSelector: `metadata.name=${DRIVER_TOOLKIT.name}`,
    });
    const nodes = m.informer({ resource: { apiVersion: "v1", kind: "Node", plural: "nodes" }, schema: dtkNodeSchema });
    const builders = (): void => {
      for (const mcm of this.opts.mcms.list()) if (buildsAnything(mcm)) this.opts.enqueue(mcm.metadata.name ?? "");
    };
    streams.onAdd(builders);
    streams.onUpdate(builders);
    streams.onDelete(builders);
    const nodeChanged = (n: DtkNode, old: DtkNode | undefined): void => {
      const a = kernelOsVersions([n]);
      const b = kernelOsVersions(old === undefined ? [] : [old]);
      if ([...a].join() !== [...b].join()) builders();
    };
    nodes.onAdd((n) => nodeChanged(n, undefined));
    nodes.onUpdate(nodeChanged);
    nodes.onDelete((n) => nodeChanged(n, undefined));
    return { streams, nodes };
  }

  /** DTK_AUTO's value for a kernel; undefined when the hub has no ImageStream API. */
  private dtkFor(kernel: string): DtkLookup | undefined {
    const d = this.driverToolkit;
    if (d === undefined) return undefined;
    return dtkImageFor(kernel, d.nodes.list(), d.streams.get(DRIVER_TOOLKIT.namespace, DRIVER_TOOLKIT.name));
  }

  /** imageRebuildTriggerGeneration of `mcm` moved: rebuild its hub-made images even where they exist. */
  requestRebuild(mcm: string): void {
    this.rebuilds.set(mcm, new Set());
  }

  /**
   * The last imageRebuildTriggerGeneration whose rebuild finished: this process's own record, else
   * the MCM's status.imageRebuildTriggerGeneration (upstream's field), which the reconciler writes
   * from this, so a hub restarted after a bump — or killed mid-rebuild — still rebuilds once.
   */
  appliedTrigger(mcm: ManagedClusterModule): number | undefined {
    const name = mcm.metadata.name ?? "";
    return this.rebuilt.has(name) ? this.rebuilt.get(name) : mcm.status?.imageRebuildTriggerGeneration;
  }

  /**
   * Starts a rebuild when spec.moduleSpec.imageRebuildTriggerGeneration is set and differs from the
   * applied one (as upstream: a new MCM with the field set rebuilds too), unless one for that
   * generation is under way. True when it started one: the caller expires the cached digests.
   */
  startRebuildIfTriggered(mcm: ManagedClusterModule): boolean {
    const name = mcm.metadata.name ?? "";
    const g = mcm.spec.moduleSpec.imageRebuildTriggerGeneration;
    if (g === undefined || g === this.appliedTrigger(mcm) || this.rebuilding.get(name) === g) return false;
    this.rebuilding.set(name, g);
    this.requestRebuild(name);
    return true;
  }

  private rebuildFinished(mcm: string): void {
    const g = this.rebuilding.get(mcm);
    if (g !== undefined) this.rebuilt.set(mcm, g);
    this.rebuilding.delete(mcm);
    this.rebuilds.delete(mcm);
  }

  forget(mcm: string): void {
    this.rebuilds.delete(mcm);
    this.rebuilding.delete(mcm);
    this.rebuilt.delete(mcm);
  }

  private secretVersions(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const s of this.opts.secrets.list(this.opts.namespace)) {
      const name = s.metadata?.name;
      const rv = secretVersionSchema.safeParse(s).data?.metadata?.resourceVersion;
      if (name !== undefined && rv !== undefined) out[name] = rv;
    }
    return out;
  }

  private hashInputs(mcm: ManagedClusterModule): Record<string, unknown> {
    const g = mcm.spec.moduleSpec.imageRebuildTriggerGeneration;
    return g === undefined ? {} : { imageRebuildTriggerGeneration: g };
  }

  private makeBuild(mcm: ManagedClusterModule, mapping: ResolvedKernelMapping, versions: Record<string, string>) {
    const { namespace } = this.opts;
    const cmName = mapping.build?.dockerfileConfigMap.name ?? "";
    const cm = this.configMaps.get(namespace, cmName);
    if (cm === undefined) throw new BuildInputError(`ConfigMap ${namespace}/${cmName} named by build.dockerfileConfigMap does not exist: create it in the hub namespace with the Dockerfile under "dockerfile"`);
    const dockerfile = dockerfileFrom({ metadata: { name: cmName, namespace }, ...(cm.data ? { data: cm.data } : {}) });
    const dtk = this.dtkFor(mapping.kernel.full);
    return buildJob({ mcm, mapping, namespace, dockerfile, secretVersions: versions, relatedImageBuild: this.opts.relatedImageBuild, extraInputs: this.hashInputs(mcm), ...(dtk !== undefined ? { dtk } : {}) });
  }

  private makeSign(mcm: ManagedClusterModule, mapping: ResolvedKernelMapping, versions: Record<string, string>, unsignedDigest: string | undefined) {
    return signJob({
      mcm,
      mapping,
      namespace: this.opts.namespace,
      secretVersions: versions,
      relatedImageSign: this.opts.relatedImageSign,
      ...(unsignedDigest !== undefined ? { unsignedDigest } : {}),
      extraInputs: this.hashInputs(mcm),
    });
  }

  /**
   * Whether an owner of `job` other than `self` is a live MCM whose own desired Job of that name
   * has the Job's input hash: then the Job is theirs as it is, and a different wish is a conflict.
   */
  private othersWant(self: ManagedClusterModule, job: ObservedJob, kernel: string, versions: Record<string, string>, unsignedDigest: string | undefined): boolean {
    for (const o of job.metadata.ownerReferences ?? []) {
      if (o.kind !== MANAGED_CLUSTER_MODULE_KIND || o.uid === self.metadata.uid) continue;
      const other = this.opts.mcms.get(undefined, o.name);
      if (other === undefined || other.metadata.uid !== o.uid || other.metadata.deletionTimestamp !== undefined) continue;
      try {
        const r = resolveKernelMapping(other.spec.moduleSpec, kernel, moduleContext(other));
        if (!r.found) continue;
        const type = job.metadata.labels?.["kmm.node.kubernetes.io/job-type"];
        const desired = type === "sign" ? this.makeSign(other, r.mapping, versions, unsignedDigest).job : this.makeBuild(other, r.mapping, versions).job;
        if (desired.metadata.name === job.metadata.name && hashOf(desired) === hashOf(job)) return true;
      } catch {
        // Its own reconcile reports why it cannot build.
      }
    }
    return false;
  }

  /** The registry's digest of the unsigned intermediate, if it is there. */
  private async intermediate(mapping: ResolvedKernelMapping, keychain: Keychain | undefined): Promise<string | undefined> {
    const signal = this.opts.signal?.();
    try {
      return await this.opts.digests.resolve(unsignedImageName(mapping.containerImage), {
        tls: mapping.registryTLS,
        ...(keychain ? { keychain } : {}),
        ...(signal ? { signal } : {}),
      });
    } catch (err: unknown) {
      // Stopping is not "the intermediate is not there": nothing may be decided from it.
      if (signal?.aborted === true) throw err;
      return undefined;
    }
  }

  /**
   * One pass for one MCM: every hub-made (image, kernel) of its plans moves one step. `pins` are
   * the registry look-ups of this pass. Write failures are logged and retried through requeue.
   */
  async converge(mcm: ManagedClusterModule, target: EventTarget, plans: readonly ClusterPlan[], pins: ReadonlyMap<string, Pin>, keychain: Keychain | undefined): Promise<BuildSignResult> {
    const out = new Map(pins);
    const targets = hubMadeTargets(plans);
    const name = mcm.metadata.name ?? "";
    if (targets.length === 0) {
      this.rebuildFinished(name);
      return { pins: out };
    }
    const now = this.opts.now?.() ?? Date.now();
    const versions = this.secretVersions();
    const pods = this.pods.list(this.opts.namespace);
    const done = this.rebuilds.get(name);
    const events: JobEventToRecord[] = [];
    let requeue: number | undefined;
    const later = (ms: number | undefined) => {
      if (ms !== undefined) requeue = Math.min(requeue ?? Infinity, ms);
    };
    for (const t of targets) {
      const image = t.mapping.containerImage;
      const registryPin = pins.get(image);
      const rebuild = done !== undefined && !done.has(t.key);
      const rebuiltIntermediate = done !== undefined && done.has(`${t.key}\0build`);
      const imageDigest = registryPin !== undefined && "digest" in registryPin ? registryPin.digest : undefined;
      // A registry that cannot be asked is not a missing image: no build on its word.
      if (!rebuild && registryPin !== undefined && "error" in registryPin && registryPin.reason !== "ImageNotFound") continue;
      const needsIntermediate = t.mapping.build !== undefined && t.mapping.sign !== undefined && (imageDigest === undefined || rebuild);
      const intermediateDigest = needsIntermediate && (!rebuild || rebuiltIntermediate) ? await this.intermediate(t.mapping, keychain) : undefined;
      let lastUnsigned: string | undefined;
      const p = progress({
        owner: ownerOf(mcm),
        mapping: t.mapping,
        imageDigest,
        intermediateDigest,
        rebuild,
        rebuiltIntermediate,
        job: (n) => this.jobs.get(this.opts.namespace, n),
        pods,
        makeBuild: () => {
          const b = this.makeBuild(mcm, t.mapping, versions);
          for (const w of b.warnings) events.push({ type: "Warning", reason: "BuildCreated", message: w });
          return b;
        },
        makeSign: (d) => {
          lastUnsigned = d;
          return this.makeSign(mcm, t.mapping, versions, d);
        },
        othersWant: (j) => this.othersWant(mcm, j, t.mapping.kernel.full, versions, lastUnsigned),
        now,
        gcDelayMs: this.opts.gcDelayMs,
      });
      events.push(...p.events);
      later(p.requeueAfterMs);
      for (const a of p.actions) {
        const ok = await this.carryOut(a, name);
        if (!ok) later(2_000);
      }
      if (p.state.state === "Ready" && p.state.digest !== undefined) this.opts.digests.invalidate(image);
      if (p.state.state === "Building" || p.state.state === "Signing") later(RUNNING_RECHECK_MS);
      if (p.finished && done !== undefined) done.add(t.key);
      if (p.built === true && done !== undefined && !done.has(`${t.key}\0build`)) {
        // The next look-up of the intermediate must see this rebuild's push, not a cached older one.
        this.opts.digests.invalidate(unsignedImageName(image));
        done.add(`${t.key}\0build`);
      }
      out.set(image, pinOf(p.state, registryPin));
    }
    if (done !== undefined && targets.every((t) => done.has(t.key))) this.rebuildFinished(name);
    // (keys "<image>\0<kernel>\0build" mark a rebuild whose build part is done)
    await this.record(target, events);
    return { pins: out, ...(requeue !== undefined ? { requeueAfterMs: requeue } : {}) };
  }

  /** One Event per reason and pass: the kernels' messages joined, so an unchanged state writes nothing. */
  private async record(target: EventTarget, events: readonly JobEventToRecord[]): Promise<void> {
    const byReason = new Map<string, { type: "Normal" | "Warning"; messages: Set<string> }>();
    for (const e of events) {
      const k = `${e.type}\0${e.reason}`;
      const entry = byReason.get(k) ?? { type: e.type, messages: new Set<string>() };
      entry.messages.add(e.message);
      byReason.set(k, entry);
    }
    for (const [k, e] of byReason) await this.opts.events.record(target, e.type, k.split("\0")[1] ?? "", [...e.messages].sort().join("; "));
  }

  /** Carries out one action; false when it did not get through (retried by a requeue). */
  private async carryOut(a: JobAction, mcm: string): Promise<boolean> {
    const base = `/apis/batch/v1/namespaces/${this.opts.namespace}/jobs`;
    try {
      switch (a.kind) {
        case "create":
          try {
            await this.opts.kube.request("POST", base, a.job);
            this.counts.created++;
            this.opts.log.info({ mcm, job: a.job.metadata.name, type: a.type }, "created Job");
          } catch (err: unknown) {
            // Another hub instance (or this one before a restart) created it: the cache will show it.
            if (!isConflict(err)) throw err;
          }
          return true;
        case "delete":
          try {
            await this.opts.kube.request("DELETE", `${base}/${a.name}`, {
              apiVersion: "v1",
              kind: "DeleteOptions",
              propagationPolicy: "Background",
              ...(a.uid !== undefined ? { preconditions: { uid: a.uid } } : {}),
            });
            this.counts.deleted++;
            this.opts.log.info({ mcm, job: a.name, why: a.why }, "deleted Job");
          } catch (err: unknown) {
            if (!isNotFound(err) && !isConflict(err)) throw err;
          }
          return true;
        case "adopt":
          await this.opts.kube.request(
            "PATCH",
            `${base}/${a.name}`,
            { metadata: { ownerReferences: a.ownerReferences, ...(a.resourceVersion !== undefined ? { resourceVersion: a.resourceVersion } : {}) } },
            "application/merge-patch+json",
          );
          this.counts.adopted++;
          return true;
      }
    } catch (err: unknown) {
      this.opts.log.warn({ err, mcm, action: a.kind, job: a.kind === "create" ? a.job.metadata.name : a.name }, "Job write failed; retrying");
      return false;
    }
  }
}

/** Whether an MCM builds anything (container or any mapping has build). */
function buildsAnything(mcm: ManagedClusterModule): boolean {
  const c = mcm.spec.moduleSpec.moduleLoader?.container;
  return c !== undefined && (c.build !== undefined || c.kernelMappings.some((k) => k.build !== undefined));
}

/** Whether an MCM builds with this Dockerfile ConfigMap (container or any mapping). */
function usesConfigMap(mcm: ManagedClusterModule, name: string): boolean {
  const c = mcm.spec.moduleSpec.moduleLoader?.container;
  if (c === undefined) return false;
  return c.build?.dockerfileConfigMap.name === name || c.kernelMappings.some((k) => k.build?.dockerfileConfigMap.name === name);
}

