// Builds and signing on the hub: pure builders of the build (kaniko) and sign (hub/signer) Jobs,
// and the pure decision about each. The reconciler orchestrates; an apply step does the writes.
//
// How the reconciler is meant to use this, per pass over the MCMs (all reads from informer caches):
//  1. For each selected cluster's kernel, resolve the mapping (planKernels). When the mapping has
//     `build` or `sign` and containerImage does not resolve in the registry (or
//     imageRebuildTriggerGeneration moved), it needs Jobs:
//       - build: dockerfileFrom(ConfigMap build.dockerfileConfigMap in the hub namespace), then
//         buildJob({ mcm, mapping, namespace, dockerfile, secretVersions, relatedImageBuild:
//         RELATED_IMAGE_BUILD, dtkImage? }); emit result.warnings as Warning Events.
//       - sign: after the build succeeded when both are set (pass unsignedDigest, the build's
//         reported digest), else at once: signJob({ mcm, mapping, namespace, secretVersions,
//         relatedImageSign: RELATED_IMAGE_SIGN, unsignedDigest? }).
//     BuildInputError / SignInputError go to the MCM's status and an Event: that cluster waits.
//  2. mergeDesiredJobs(all desired Jobs of all MCMs): one Job per name fleet-wide; report conflicts.
//  3. For each merged Job: decideJob(job, cachedJob(job.metadata.name), cachedPods, now, gcDelayMs):
//       create   → POST (AlreadyExists = another instance created it: fine); Event BuildCreated/SignCreated.
//       replace  → DELETE with propagationPolicy Background and preconditions.uid; create next pass.
//       wait     → status "building"/"signing" with the Job name.
//       succeeded→ pin `digest` (or resolve the tag if undefined) FIRST, Event *Succeeded, then DELETE
//                  (Background, so the pod goes too) when deleteInMs is 0, else requeue after it.
//       failed   → status "failed" with `message` and the Job name, Warning Event *Failed; no retry.
//  4. obsoleteJobs(cachedJobs, mergedJobs) → DELETE (only with the complete desired set of a pass).
//  Informers: Jobs and Pods in the hub namespace with label selector JOB_SELECTOR.
export { BuildInputError, buildJob, declaredArgs, DOCKERFILE_KEYS, dockerfileFrom, kanikoImage, usesDtkAuto, type BuildJobInput, type BuildJobResult } from "./build-job.ts";
export { decideJob, jobEvent, mergeDesiredJobs, obsoleteJobs, podsOf, terminationMessage, type JobConflict, type JobDecision, type JobEventReason } from "./decision.ts";
export { canonicalJson, inputHash } from "./hash.ts";
export { jobSchema, observedJobSchema, observedPodSchema, type Job, type ObservedJob, type ObservedPod } from "./job.ts";
export {
  DESTINATION_IMAGE_ANNOTATION,
  INPUT_HASH_ANNOTATION,
  JOB_SELECTOR,
  JOB_TYPE_LABEL,
  jobName,
  KERNEL_ANNOTATION,
  kernelLabelValue,
  MODULE_NAME_LABEL,
  TARGET_KERNEL_LABEL,
  unsignedImageName,
  type JobType,
} from "./names.ts";
export { SignInputError, signJob, type SignJobInput, type SignJobResult } from "./sign-job.ts";
