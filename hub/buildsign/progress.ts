// Where the build and signing of one (image, kernel) of one MCM stand, and what to do next: pure,
// from what the informers hold (Jobs, their pods) and what the registry said, so the apply step
// (step.ts) only carries the actions out. The final Job (sign when the mapping signs, else build)
// is the one whose result is pinned: its pod's termination message holds the pushed digest, which
// counts before the registry's word (a fresh push may still be cached as missing).
import type { OwnerReference } from "../../shared/k8s/core.generated.ts";
import type { ResolvedKernelMapping } from "../../shared/kernel-mapping/kernel-mapping.ts";
import type { BuildJobResult } from "./build-job.ts";
import { decideJob, jobEvent, type JobEventReason } from "./decision.ts";
import type { Job, ObservedJob, ObservedPod } from "./job.ts";
import { INPUT_HASH_ANNOTATION, jobName, unsignedImageName, type JobType } from "./names.ts";
import type { SignJobResult } from "./sign-job.ts";

/** Why an image has no digest for the ManifestWork yet, when the hub makes it. */
export type BuildSignReason = "Building" | "Signing" | "BuildFailed" | "SignFailed" | "BuildInputInvalid" | "BuildConflict";

/** The state of one (image, kernel) as the MCM status shows it. */
export type BuildSignState =
  /** Pinnable: `digest` is what the final Job pushed (undefined: take the registry's digest). */
  | { state: "Ready"; digest: string | undefined }
  | { state: "Building" | "Signing"; job: string; message: string }
  | { state: "Failed"; reason: Exclude<BuildSignReason, "Building" | "Signing">; job?: string; message: string };

export type JobAction =
  | { kind: "create"; type: JobType; job: Job }
  /** `why`: replace (its inputs changed) or gc (finished, job.gcDelay is up). */
  | { kind: "delete"; name: string; uid: string | undefined; why: "replace" | "gc" }
  /** Add this MCM to the owners of a Job another MCM created for the same inputs. */
  | { kind: "adopt"; name: string; resourceVersion: string | undefined; ownerReferences: OwnerReference[] };

export interface JobEventToRecord {
  type: "Normal" | "Warning";
  reason: JobEventReason;
  message: string;
}

export interface ProgressInput {
  /** The MCM asking, as an owner reference (non-controller). */
  owner: OwnerReference;
  mapping: ResolvedKernelMapping;
  /** containerImage is in the registry (its digest), as the pin look-up of this pass found it. */
  imageDigest: string | undefined;
  /** When the mapping builds and signs: the unsigned intermediate's digest in the registry, if there. */
  intermediateDigest: string | undefined;
  /** imageRebuildTriggerGeneration moved and this image was not rebuilt since: build even if it exists. */
  rebuild: boolean;
  /**
   * During a rebuild that also signs: the build part already finished (its Job may be gone, deleted
   * after gcDelay by any MCM that shares it), so the intermediate in the registry is the rebuilt one.
   */
  rebuiltIntermediate?: boolean;
  job: (name: string) => ObservedJob | undefined;
  pods: readonly ObservedPod[];
  /** The desired build Job; throws BuildInputError (missing ConfigMap, Secret) for the state. */
  makeBuild: () => BuildJobResult;
  /** The desired sign Job for the unsigned digest (build + sign) or none (sign only); throws SignInputError. */
  makeSign: (unsignedDigest: string | undefined) => SignJobResult;
  /**
   * Whether a live MCM other than the asking one (by owner uid) wants exactly this Job input hash:
   * then a Job of another hash with that owner is a conflict, not something to replace.
   */
  othersWant: (job: ObservedJob) => boolean;
  now: number;
  gcDelayMs: number;
}

export interface Progress {
  state: BuildSignState;
  actions: JobAction[];
  events: JobEventToRecord[];
  /** Look again after this long (a finished Job's gcDelay, a replaced Job's deletion). */
  requeueAfterMs?: number;
  /** The chain finished this pass: a pending rebuild is done. */
  finished: boolean;
  /** The build Job (followed by signing) has succeeded: the intermediate in the registry is its result. */
  built?: boolean;
}

function complete(j: ObservedJob): boolean {
  return j.status?.conditions?.some((c) => c.type === "Complete" && c.status === "True") === true || (j.status?.succeeded ?? 0) > 0;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The names of the Jobs of a mapping: build (when it builds) and sign (when it signs). */
export function jobNames(mapping: ResolvedKernelMapping): { build?: string; sign?: string } {
  const kernel = mapping.kernel.full;
  return {
    ...(mapping.build ? { build: jobName("build", mapping.sign ? unsignedImageName(mapping.containerImage) : mapping.containerImage, kernel) } : {}),
    ...(mapping.sign ? { sign: jobName("sign", mapping.containerImage, kernel) } : {}),
  };
}

/** Delete a finished Job now, or say when. */
function gc(job: ObservedJob, now: number, gcDelayMs: number): { action?: JobAction; requeueAfterMs?: number } {
  if (job.metadata.deletionTimestamp !== undefined) return {};
  const finished = Date.parse(job.status?.completionTime ?? "");
  const inMs = Number.isNaN(finished) ? 0 : Math.max(0, finished + gcDelayMs - now);
  return inMs === 0 ? { action: { kind: "delete", name: job.metadata.name, uid: job.metadata.uid, why: "gc" } } : { requeueAfterMs: inMs };
}

/**
 * One step of the chain for a Job `type`: create, replace, wait, adopt, or its result. Returns the
 * digest the Job reported when it succeeded ("done"), otherwise the state to show.
 */
function stepJob(
  type: JobType,
  desired: Job,
  input: ProgressInput,
  out: Progress,
): { done: true; digest: string | undefined; job: ObservedJob } | { done: false } {
  const name = desired.metadata.name ?? "";
  const kernel = input.mapping.kernel.full;
  const existing = input.job(name);
  const d = decideJob(desired, existing, input.pods, input.now, input.gcDelayMs);
  const busy = type === "build" ? "Building" : "Signing";
  const failedReason = type === "build" ? "BuildFailed" : "SignFailed";
  if (existing !== undefined && d.action !== "replace" && d.action !== "succeeded" && existing.metadata.deletionTimestamp === undefined) {
    const owners = existing.metadata.ownerReferences ?? [];
    if (!owners.some((o) => o.uid === input.owner.uid)) {
      const kept: OwnerReference[] = owners.map((o) => dropUndefined({ apiVersion: o.apiVersion ?? input.owner.apiVersion, kind: o.kind, name: o.name, uid: o.uid, controller: o.controller, blockOwnerDeletion: o.blockOwnerDeletion }));
      const mine = dropUndefined({ ...input.owner, controller: kept.some((o) => o.controller === true) ? undefined : true, blockOwnerDeletion: true });
      out.actions.push({ kind: "adopt", name, resourceVersion: existing.metadata.resourceVersion, ownerReferences: [...kept, mine] });
    }
  }
  switch (d.action) {
    case "create":
      out.actions.push({ kind: "create", type, job: desired });
      out.events.push(jobEvent(type, "created", kernel, `Job ${name}`));
      out.state = { state: busy, job: name, message: `${type === "build" ? "building" : "signing"} ${input.mapping.containerImage} for kernel ${kernel}: Job ${name} created` };
      return { done: false };
    case "replace": {
      if (existing !== undefined && input.othersWant(existing)) {
        out.state = {
          state: "Failed",
          reason: "BuildConflict",
          job: name,
          message: `Job ${name} (${type} of ${input.mapping.containerImage} for kernel ${kernel}) belongs to another ManagedClusterModule with other inputs (${(existing.metadata.ownerReferences ?? []).map((o) => o.name).join(", ")}): give the two the same build/sign settings or different images`,
        };
        return { done: false };
      }
      out.actions.push({ kind: "delete", name, uid: d.uid, why: "replace" });
      out.state = { state: busy, job: name, message: `the inputs of Job ${name} changed: replacing it` };
      out.requeueAfterMs = 1000;
      return { done: false };
    }
    case "wait":
      out.state = { state: busy, job: name, message: `${type === "build" ? "building" : "signing"} ${input.mapping.containerImage} for kernel ${kernel}: Job ${name} ${d.reason === "running" ? "is running" : "is being deleted"}` };
      if (d.reason === "deleting") out.requeueAfterMs = 1000;
      return { done: false };
    case "failed":
      out.events.push(jobEvent(type, "failed", kernel, d.message));
      out.state = { state: "Failed", reason: failedReason, job: name, message: d.message };
      return { done: false };
    case "succeeded":
      return { done: true, digest: d.digest, job: existing as ObservedJob };
  }
}

/** An owner reference without the fields that are undefined (the API server stores no nulls). */
function dropUndefined(o: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean | undefined; blockOwnerDeletion?: boolean | undefined }): OwnerReference {
  const { controller, blockOwnerDeletion, ...rest } = o;
  return { ...rest, ...(controller !== undefined ? { controller } : {}), ...(blockOwnerDeletion !== undefined ? { blockOwnerDeletion } : {}) };
}

function collectGc(jobs: (ObservedJob | undefined)[], input: ProgressInput, out: Progress): void {
  for (const j of jobs) {
    if (j === undefined || !complete(j)) continue;
    const g = gc(j, input.now, input.gcDelayMs);
    if (g.action) out.actions.push(g.action);
    if (g.requeueAfterMs !== undefined) out.requeueAfterMs = Math.min(out.requeueAfterMs ?? Infinity, g.requeueAfterMs);
  }
}

/**
 * The next step for one (image, kernel) whose mapping has build and/or sign. Never throws: input
 * errors (missing ConfigMap or Secret, RELATED_IMAGE_* unset) are the kernel's Failed state.
 * Rules (upstream KMM's, plus the fleet-wide de-duplication by Job name and input hash):
 * - the image exists and no rebuild is pending → Ready (finished Jobs are deleted after gcDelay);
 * - else build (when set): create / replace / wait / failed (kept, no retry) / succeeded;
 *   a build followed by signing is skipped when the unsigned intermediate exists (no rebuild);
 * - then sign (when set) the build's digest, or sign.unsignedImage;
 * - the final Job's success → Ready with its digest; both Jobs go after gcDelay.
 */
export function progress(input: ProgressInput): Progress {
  const { mapping } = input;
  const kernel = mapping.kernel.full;
  const names = jobNames(mapping);
  const out: Progress = { state: { state: "Ready", digest: undefined }, actions: [], events: [], finished: false };
  const cachedBuild = names.build !== undefined ? input.job(names.build) : undefined;
  const cachedSign = names.sign !== undefined ? input.job(names.sign) : undefined;

  if (input.imageDigest !== undefined && !input.rebuild) {
    // The registry may show the push before the Job reads Complete: its success is still said.
    for (const [type, j] of [["build", cachedBuild], ["sign", cachedSign]] as const) {
      if (j !== undefined && complete(j) && j.metadata.deletionTimestamp === undefined) out.events.push(jobEvent(type, "succeeded", kernel, `Job ${j.metadata.name}`));
    }
    collectGc([cachedBuild, cachedSign], input, out);
    return out;
  }

  let unsignedDigest: string | undefined;
  let built: ObservedJob | undefined;
  if (mapping.build !== undefined) {
    let b: BuildJobResult;
    try {
      b = input.makeBuild();
    } catch (err: unknown) {
      out.state = { state: "Failed", reason: "BuildInputInvalid", message: `kernel ${kernel}: ${messageOf(err)}` };
      return out;
    }
    const skip = mapping.sign !== undefined && (!input.rebuild || input.rebuiltIntermediate === true) && input.intermediateDigest !== undefined && cachedBuild === undefined;
    if (skip) {
      unsignedDigest = input.intermediateDigest;
    } else {
      const r = stepJob("build", b.job, input, out);
      if (!r.done) return out;
      built = r.job;
      if (mapping.sign === undefined) {
        out.events.push(jobEvent("build", "succeeded", kernel, `Job ${names.build ?? ""}`));
        out.state = { state: "Ready", digest: r.digest };
        out.finished = true;
        collectGc([r.job], input, out);
        return out;
      }
      out.built = true;
      unsignedDigest = r.digest ?? input.intermediateDigest;
      if (unsignedDigest === undefined) {
        out.state = { state: "Building", job: names.build ?? "", message: `Job ${names.build ?? ""} succeeded; waiting for ${unsignedImageName(mapping.containerImage)} in the registry` };
        out.requeueAfterMs = 2000;
        return out;
      }
      out.events.push(jobEvent("build", "succeeded", kernel, `Job ${names.build ?? ""}`));
    }
  }
  if (mapping.sign !== undefined) {
    let s: SignJobResult;
    try {
      s = input.makeSign(mapping.build !== undefined ? unsignedDigest : undefined);
    } catch (err: unknown) {
      out.state = { state: "Failed", reason: "BuildInputInvalid", message: `kernel ${kernel}: ${messageOf(err)}` };
      return out;
    }
    const r = stepJob("sign", s.job, input, out);
    if (!r.done) return out;
    out.events.push(jobEvent("sign", "succeeded", kernel, `Job ${names.sign ?? ""}`));
    out.state = { state: "Ready", digest: r.digest };
    out.finished = true;
    collectGc([built ?? cachedBuild, r.job], input, out);
  }
  return out;
}

/** The input hash a Job carries. */
export function hashOf(job: { metadata: { annotations?: Record<string, string> | undefined } }): string | undefined {
  return job.metadata.annotations?.[INPUT_HASH_ANNOTATION];
}
