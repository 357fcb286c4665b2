// Names, labels and annotations of the hub's build and sign Jobs. Label keys are upstream KMM's
// (internal/constants, and job-type from its Job-based build and sign, before it moved to Pods), so
// selectors written for upstream keep working. A Job's name is derived from what it produces — its
// type, destination image and kernel — and not from the MCM asking, so one Job serves every cluster
// and every MCM that wants the same image, and a restarted hub finds the Job it already created.
import { isLabelValue, MAX_LABEL_LENGTH, shortHash } from "../../shared/kube/names.ts";
import { parseReference, repositoryName } from "../../shared/registry/reference.ts";

export const MODULE_NAME_LABEL = "kmm.node.kubernetes.io/module.name";
export const TARGET_KERNEL_LABEL = "kmm.node.kubernetes.io/target-kernel";
export const JOB_TYPE_LABEL = "kmm.node.kubernetes.io/job-type";
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
export const MANAGED_BY = "kmm-hub";
/** Hash of every input of the Job (upstream's JobHashAnnotation): a different hash replaces the Job. */
export const INPUT_HASH_ANNOTATION = "kmm.node.kubernetes.io/last-hash";
/** The image the Job pushes and the kernel it is for, unabridged (label values are cut to 63 characters). */
export const DESTINATION_IMAGE_ANNOTATION = "kmm.node.kubernetes.io/destination-image";
export const KERNEL_ANNOTATION = "kmm.node.kubernetes.io/kernel-version.full";
/** Label the Job controller puts on a Job's pods (Kubernetes ≥ 1.27; `job-name` before). */
export const POD_JOB_NAME_LABEL = "batch.kubernetes.io/job-name";

export type JobType = "build" | "sign";

/** Label selector for every Job (and pod) this hub creates: what the hub's Job informer watches. */
export const JOB_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY},${JOB_TYPE_LABEL}`;

/** The characters of `s` that DNS labels allow, lower-cased, runs of others as one "-". */
function dnsPart(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
}

/**
 * The Job's name: `<image name>-<type>-<kernel>-<hash>`, a DNS label of at most 63 characters (the
 * Job controller copies it into a pod label). The hash covers type, destination image and kernel in
 * full, so a cut readable part never makes two Jobs share a name.
 */
export function jobName(type: JobType, destinationImage: string, kernel: string): string {
  const ref = parseReference(destinationImage);
  const imageName = dnsPart(ref.repository.split("/").at(-1) ?? "");
  const hash = shortHash(`${type}\n${repositoryName(ref)}:${ref.tag ?? ""}@${ref.digest ?? ""}\n${kernel}`, 10);
  const head = [imageName, type, dnsPart(kernel)].filter((p) => p !== "").join("-");
  const room = MAX_LABEL_LENGTH - hash.length - 1;
  const cut = head.slice(0, room).replace(/-+$/, "");
  return `${cut}-${hash}`;
}

/**
 * The target-kernel label value: the kernel with characters label values do not allow replaced by
 * "_" (upstream's kernel.NormalizeVersion), cut with a hash when it exceeds 63 characters.
 */
export function kernelLabelValue(kernel: string): string {
  const normalized = kernel.replace(/[^A-Za-z0-9._-]/g, "_");
  if (isLabelValue(normalized)) return normalized;
  const hash = shortHash(kernel, 10);
  const head = normalized
    .slice(0, MAX_LABEL_LENGTH - hash.length - 1)
    .replace(/^[^A-Za-z0-9]+/, "")
    .replace(/[^A-Za-z0-9]+$/, "");
  return head === "" ? hash : `${head}-${hash}`;
}

/** OCI tags: at most 128 characters of [A-Za-z0-9_.-], not starting with "." or "-". */
const MAX_TAG_LENGTH = 128;

/**
 * Where a build that is followed by signing pushes its unsigned result:
 * `<containerImage repository>:<tag>_kmm_unsigned` (a digest-pinned containerImage contributes
 * "sha256-<hex>" as its tag). Seed 003 adds `-<spokeNamespace>_<mcm>` to the tag; here the name
 * depends only on the image, so one build serves every MCM and cluster that wants it (issue 12:
 * one build per image and kernel fleet-wide). Longer than a tag may be, the original tag is cut
 * and a hash of it added. Spokes never receive this image: only the signed containerImage is pinned.
 */
export function unsignedImageName(containerImage: string): string {
  const ref = parseReference(containerImage);
  const base = ref.tag ?? ref.digest?.replace(":", "-") ?? "latest";
  const suffix = "_kmm_unsigned";
  let tag = `${base}${suffix}`;
  if (tag.length > MAX_TAG_LENGTH) {
    const hash = shortHash(base, 10);
    tag = `${base.slice(0, MAX_TAG_LENGTH - suffix.length - hash.length - 1)}-${hash}${suffix}`;
  }
  return `${repositoryName(ref)}:${tag}`;
}
