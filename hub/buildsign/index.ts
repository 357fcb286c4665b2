// Builds and signing on the hub: pure builders of the build (kaniko) and sign (hub/signer) Jobs,
// and the pure decision about each. The reconciler orchestrates; an apply step does the writes.
//
// How the reconciler uses this (step.ts, once per MCM reconcile, after the registry look-ups):
//  - hubMadeTargets(plans): every (containerImage, kernel) of the selected clusters whose mapping
//    builds or signs; an image the registry has (and no pending imageRebuildTriggerGeneration) is
//    ready, a registry that cannot be asked blocks without building.
//  - progress() per target, from the Job/pod/ConfigMap/Secret informers: create (AlreadyExists from
//    another hub instance is fine), adopt (a second MCM with the same input hash becomes an owner:
//    one Job fleet-wide), replace (input hash changed and no other live owner wants the old one;
//    otherwise BuildConflict), wait, failed (kept, no retry), succeeded (the termination message's
//    digest is pinned, both Jobs deleted after job.gcDelay).
//  - The resulting pins feed the ManifestWork builder: a kernel still building or signing, or
//    failed, blocks only its cluster's work (what is already there stays), with buildSign in status.
export { BuildInputError, buildJob, declaredArgs, DOCKERFILE_KEYS, dockerfileFrom, kanikoImage, usesDtkAuto, type BuildJobInput, type BuildJobResult } from "./build-job.ts";
export { DRIVER_TOOLKIT, dtkImageFor, dtkImagesByOsVersion, imageStreamApiServed, kernelOsVersions, osImageVersion, type DtkLookup } from "./dtk.ts";
export { decideJob, jobEvent, mergeDesiredJobs, obsoleteJobs, podsOf, terminationMessage, type JobConflict, type JobDecision, type JobEventReason } from "./decision.ts";
export { hubMadeTargets, BuildSignStep, pinOf, type BuildSignOptions, type BuildSignResult } from "./step.ts";
export { jobNames, progress, type BuildSignState, type JobAction, type Progress, type ProgressInput } from "./progress.ts";
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
