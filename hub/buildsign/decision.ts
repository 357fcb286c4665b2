// What to do about one desired build or sign Job, given what the Job informer holds: pure, so the
// apply step only carries it out. The rules are upstream KMM's: a Job whose input hash differs is
// replaced; a finished Job is deleted (with its pod) after job.gcDelay, immediately by default; a
// failed Job is kept and never retried until an administrator deletes it (or an input changes).
// Also here: the fleet-wide de-duplication of desired Jobs, the Jobs no longer wanted, and the
// Event reasons and messages upstream uses (BuildCreated, BuildSucceeded, BuildFailed, Sign…).
import type { OwnerReference } from "../../shared/k8s/core.generated.ts";
import type { Job, ObservedJob, ObservedPod } from "./job.ts";
import { DESTINATION_IMAGE_ANNOTATION, INPUT_HASH_ANNOTATION, KERNEL_ANNOTATION, MANAGED_BY, MANAGED_BY_LABEL, POD_JOB_NAME_LABEL, type JobType } from "./names.ts";

export type JobDecision =
  /** No such Job: create it (create, not apply: AlreadyExists means another hub instance won the race). */
  | { action: "create" }
  /** The Job has other inputs: delete it (propagationPolicy Background, precondition on `uid`); create on a later pass. */
  | { action: "replace"; uid: string | undefined }
  /** Running, or being deleted: nothing to do until its next change. */
  | { action: "wait"; reason: "running" | "deleting" }
  /**
   * Finished: pin `digest` (from the pod's termination message, when it had one) before anything
   * else, then delete the Job with its pod once `deleteInMs` is 0, or requeue after it.
   */
  | { action: "succeeded"; digest: string | undefined; deleteInMs: number; uid: string | undefined }
  /** Failed: keep it, do not retry; `message` says why and what to do, for the Event and status. */
  | { action: "failed"; message: string };

const DIGEST = /^sha256:[0-9a-f]{64}$/;

function condition(job: ObservedJob, type: string): { reason?: string; message?: string } | undefined {
  return job.status?.conditions?.find((c) => c.type === type && c.status === "True");
}

/** The pods of `job` (by the Job controller's label, and by owner uid when known). */
export function podsOf(job: ObservedJob, pods: readonly ObservedPod[]): ObservedPod[] {
  const name = job.metadata.name;
  return pods.filter((p) => {
    const labels = p.metadata.labels ?? {};
    if (labels[POD_JOB_NAME_LABEL] !== name && labels["job-name"] !== name) return false;
    const owner = p.metadata.ownerReferences?.find((o) => o.kind === "Job");
    return owner === undefined || job.metadata.uid === undefined || owner.uid === job.metadata.uid;
  });
}

/** The termination message of the Job's (first) terminated container, trimmed. */
export function terminationMessage(job: ObservedJob, pods: readonly ObservedPod[]): string | undefined {
  for (const pod of podsOf(job, pods)) {
    for (const c of pod.status?.containerStatuses ?? []) {
      const msg = c.state?.terminated?.message?.trim();
      if (msg !== undefined && msg !== "") return msg;
    }
  }
  return undefined;
}

/**
 * The decision for `desired` given the Job of the same name in the cache (`existing`, undefined
 * when there is none) and the cached pods of the hub namespace. `now` and `gcDelayMs` in
 * milliseconds. Never throws.
 */
export function decideJob(desired: Job, existing: ObservedJob | undefined, pods: readonly ObservedPod[], now: number, gcDelayMs: number): JobDecision {
  if (existing === undefined) return { action: "create" };
  if (existing.metadata.deletionTimestamp !== undefined) return { action: "wait", reason: "deleting" };
  const uid = existing.metadata.uid;
  if (existing.metadata.annotations?.[INPUT_HASH_ANNOTATION] !== desired.metadata.annotations?.[INPUT_HASH_ANNOTATION]) {
    return { action: "replace", uid };
  }
  const complete = condition(existing, "Complete") ?? ((existing.status?.succeeded ?? 0) > 0 ? {} : undefined);
  if (complete) {
    const message = terminationMessage(existing, pods);
    const digest = message !== undefined && DIGEST.test(message) ? message : undefined;
    const finished = Date.parse(existing.status?.completionTime ?? "");
    const deleteInMs = Number.isNaN(finished) ? 0 : Math.max(0, finished + gcDelayMs - now);
    return { action: "succeeded", digest, deleteInMs, uid };
  }
  const failed = condition(existing, "Failed");
  if (failed || (existing.status?.failed ?? 0) > 0) {
    const why = [failed?.reason, failed?.message, terminationMessage(existing, pods)].filter((s) => s !== undefined && s !== "").join(": ");
    return {
      action: "failed",
      message: `Job ${existing.metadata.namespace ?? ""}/${existing.metadata.name} failed${why ? ` (${why})` : ""}; it is not retried until an administrator deletes it or an input changes`,
    };
  }
  return { action: "wait", reason: "running" };
}

export interface JobConflict {
  name: string;
  destination: string;
  kernel: string;
  /** The MCMs whose Jobs were dropped, and the one kept. */
  dropped: string[];
  kept: string;
}

function ownerNames(job: Job): string[] {
  return (job.metadata.ownerReferences ?? []).map((o) => o.name);
}

/**
 * One Job per name across the fleet. Jobs with the same name and input hash (the same image for the
 * same kernel, wanted by several clusters or MCMs) merge into one owned by every MCM; the first
 * owner by name stays the controller and the module.name label. Same name, different inputs (two
 * MCMs building one image differently) is a conflict: the Job of the first MCM by name is kept and
 * the others are reported, so the reconciler can say so on the dropped MCMs.
 */
export function mergeDesiredJobs(jobs: readonly Job[]): { jobs: Job[]; conflicts: JobConflict[] } {
  const byName = new Map<string, Job[]>();
  for (const j of jobs) {
    const name = j.metadata.name ?? "";
    byName.set(name, [...(byName.get(name) ?? []), j]);
  }
  const out: Job[] = [];
  const conflicts: JobConflict[] = [];
  for (const [name, group] of [...byName].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const sorted = [...group].sort((a, b) => ((ownerNames(a)[0] ?? "") < (ownerNames(b)[0] ?? "") ? -1 : 1));
    const kept = sorted[0] as Job;
    const hash = kept.metadata.annotations?.[INPUT_HASH_ANNOTATION];
    const same = sorted.filter((j) => j.metadata.annotations?.[INPUT_HASH_ANNOTATION] === hash);
    const others = sorted.filter((j) => j.metadata.annotations?.[INPUT_HASH_ANNOTATION] !== hash);
    const owners = new Map<string, OwnerReference>();
    for (const j of same) for (const o of j.metadata.ownerReferences ?? []) if (!owners.has(o.uid)) owners.set(o.uid, { ...o });
    const merged = [...owners.values()].map((o, i) => {
      const { controller: _controller, ...rest } = o;
      return i === 0 ? { ...rest, controller: true } : rest;
    });
    out.push({ ...kept, metadata: { ...kept.metadata, ownerReferences: merged } });
    if (others.length > 0) {
      conflicts.push({
        name,
        destination: kept.metadata.annotations?.[DESTINATION_IMAGE_ANNOTATION] ?? "",
        kernel: kept.metadata.annotations?.[KERNEL_ANNOTATION] ?? "",
        kept: ownerNames(kept)[0] ?? "",
        dropped: [...new Set(others.flatMap(ownerNames))],
      });
    }
  }
  return { jobs: out, conflicts };
}

/**
 * The cached Jobs this hub created that no desired Job names any more (their image now exists,
 * their MCM changed or went away): delete them. Call with the complete desired set of a pass only.
 */
export function obsoleteJobs(existing: readonly ObservedJob[], desired: readonly Job[]): ObservedJob[] {
  const wanted = new Set(desired.map((j) => j.metadata.name));
  return existing.filter(
    (j) => j.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY && !wanted.has(j.metadata.name) && j.metadata.deletionTimestamp === undefined,
  );
}

export type JobEventReason = `${"Build" | "Sign"}${"Created" | "Succeeded" | "Failed"}`;

/** The Event upstream KMM records on the Module (here the MCM) for a Job's step, e.g. "Build job succeeded for kernel 6.6.2". */
export function jobEvent(type: JobType, step: "created" | "succeeded" | "failed", kernel: string, detail?: string): { type: "Normal" | "Warning"; reason: JobEventReason; message: string } {
  const what: "Build" | "Sign" = type === "build" ? "Build" : "Sign";
  const suffix = { created: "Created", succeeded: "Succeeded", failed: "Failed" } as const;
  const reason: JobEventReason = `${what}${suffix[step]}`;
  const base = step === "created" ? `${what} created for kernel ${kernel}` : `${what} job ${step} for kernel ${kernel}`;
  return { type: step === "failed" ? "Warning" : "Normal", reason, message: detail ? `${base}: ${detail}` : base };
}
