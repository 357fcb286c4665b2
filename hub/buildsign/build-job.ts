// The kaniko build Job for one (MCM, kernel) whose image is missing: pure, no API calls. Kaniko's
// arguments are upstream KMM's (internal/buildsign/resource): --destination, --insecure /
// --skip-tls-verify from the mapping's registryTLS, --insecure-pull / --skip-tls-verify-pull from
// build.baseImageRegistryTLS, then --build-arg for the user's args with KERNEL_FULL_VERSION,
// KERNEL_VERSION, MOD_NAME (the MCM) and MOD_NAMESPACE (spokeNamespace) set over them. The
// Dockerfile is mounted at /workspace/Dockerfile (kaniko's default context), build secrets at
// /run/secrets/<name>, the imageRepoSecret at /kaniko/.docker/config.json. One addition to upstream:
// --digest-file=/dev/termination-log, so the hub pins the pushed digest from the pod's status.
// Deliberate difference: with no build.selector the Job has no nodeSelector, because the MCM's
// moduleSpec.selector selects spoke nodes, not hub nodes. The input hash counts only the build args
// the Dockerfile declares (ARG): the others cannot change the image, and MOD_NAME differs between
// MCMs, which would otherwise give two MCMs building the same image two Jobs.
// DTK_AUTO (when the Dockerfile names it, as upstream): the kernel's Driver Toolkit image (dtk.ts)
// on a hub serving the ImageStream API, and no build without one; elsewhere unset, with a warning.
import type { ManagedClusterModule } from "../../shared/api/managedclustermodule.ts";
import type { BuildArg, RegistryTLS } from "../../shared/api/module.ts";
import type { Container, Volume, VolumeMount } from "../../shared/k8s/core.generated.ts";
import { applyBuildArgOverrides, kmmBuildArgs, type ResolvedKernelMapping } from "../../shared/kernel-mapping/kernel-mapping.ts";
import { moduleContext } from "../manifestwork.ts";
import type { DtkLookup } from "./dtk.ts";
import { assembleJob, registrySecretVolume, REGISTRY_CONFIG_VOLUME, secretVolumeName, type Job } from "./job.ts";
import { unsignedImageName } from "./names.ts";

/** ConfigMap keys the Dockerfile may sit under: upstream's `dockerfile`, and `Dockerfile` as in seed 003's examples. */
export const DOCKERFILE_KEYS = ["dockerfile", "Dockerfile"] as const;
export const DTK_AUTO = "DTK_AUTO";
export const TERMINATION_LOG = "/dev/termination-log";

/** The build cannot be described: missing ConfigMap key, missing inputs. The message names the object and the fix. */
export class BuildInputError extends Error {
  override readonly name = "BuildInputError";
}

/**
 * The Dockerfile of a build: the ConfigMap's `dockerfile` key, else its `Dockerfile` key. Throws
 * BuildInputError naming the ConfigMap when neither is there.
 */
export function dockerfileFrom(configMap: { metadata: { name?: string; namespace?: string }; data?: Record<string, string> }): { key: string; text: string } {
  for (const key of DOCKERFILE_KEYS) {
    const text = configMap.data?.[key];
    if (text !== undefined) return { key, text };
  }
  const where = `${configMap.metadata.namespace ?? ""}/${configMap.metadata.name ?? ""}`;
  throw new BuildInputError(`ConfigMap ${where} named by build.dockerfileConfigMap has no "dockerfile" key (nor "Dockerfile"): put the Dockerfile there`);
}

/**
 * The build-arg names a Dockerfile declares with ARG (`ARG A`, `ARG A=1`, `ARG A B=2`, any case,
 * line continuations joined), as Docker and kaniko read them: only these reach the build.
 */
export function declaredArgs(dockerfile: string): Set<string> {
  const names = new Set<string>();
  for (const line of dockerfile.replace(/\\\r?\n/g, " ").split(/\r?\n/)) {
    const m = /^\s*ARG\s+(.+)$/i.exec(line);
    if (!m) continue;
    for (const word of m[1]!.trim().split(/\s+/)) {
      const name = /^([A-Za-z_][A-Za-z0-9_]*)/.exec(word)?.[1];
      if (name !== undefined) names.add(name);
    }
  }
  return names;
}

/** True when a Dockerfile refers to ${DTK_AUTO} (or $DTK_AUTO), the Driver Toolkit image KMM fills in on OpenShift. */
export function usesDtkAuto(dockerfile: string): boolean {
  return /\$\{?DTK_AUTO\b/.test(dockerfile);
}

/**
 * The kaniko image: RELATED_IMAGE_BUILD, with its tag (or digest) replaced by kanikoParams.tag when
 * set, as upstream does.
 */
export function kanikoImage(relatedImageBuild: string, tag: string | undefined): string {
  if (tag === undefined || tag === "") return relatedImageBuild;
  const slash = relatedImageBuild.lastIndexOf("/");
  const cut = relatedImageBuild.slice(slash + 1).search(/[@:]/);
  return `${cut === -1 ? relatedImageBuild : relatedImageBuild.slice(0, slash + 1 + cut)}:${tag}`;
}

/** kaniko-style TLS flags for a registryTLS: `insecure` → the first flag, `insecureSkipTLSVerify` → the second. */
export function tlsArgs(tls: RegistryTLS | undefined, insecure: string, skip: string): string[] {
  return [...(tls?.insecure === true ? [insecure] : []), ...(tls?.insecureSkipTLSVerify === true ? [skip] : [])];
}

export interface BuildJobInput {
  mcm: ManagedClusterModule;
  /** The resolved mapping of one kernel; it must have `build`. */
  mapping: ResolvedKernelMapping;
  /** The hub namespace the Job, its ConfigMap and Secrets live in. */
  namespace: string;
  /** The Dockerfile ConfigMap's key and text (dockerfileFrom). */
  dockerfile: { key: string; text: string };
  /** resourceVersion of each Secret the build mounts (build.secrets and imageRepoSecret), by name. */
  secretVersions: Readonly<Record<string, string>>;
  /** RELATED_IMAGE_BUILD. */
  relatedImageBuild: string;
  /**
   * DTK_AUTO for this kernel (dtkImageFor) when the hub serves the image.openshift.io ImageStream
   * API; undefined when it does not (then DTK_AUTO stays unset, with a warning).
   */
  dtk?: DtkLookup;
  /** More inputs for the hash only (the MCM's imageRebuildTriggerGeneration). */
  extraInputs?: Record<string, unknown>;
}

export interface BuildJobResult {
  job: Job;
  /** The image the Job pushes: containerImage, or the unsigned intermediate when the mapping also signs. */
  destination: string;
  /** Messages for Warning Events (DTK_AUTO used but unknown). */
  warnings: string[];
}

/**
 * The build Job for `input.mapping`. Throws BuildInputError when the mapping has no build or a
 * Secret it mounts has no known resourceVersion (read it before building the Job).
 */
export function buildJob(input: BuildJobInput): BuildJobResult {
  const { mcm, mapping } = input;
  const build = mapping.build;
  if (build === undefined) throw new BuildInputError(`kernel mapping ${mapping.mappingIndex} has no build section`);
  if (input.relatedImageBuild === "") throw new BuildInputError("RELATED_IMAGE_BUILD is not set: the hub needs the kaniko image to build with");
  const ctx = moduleContext(mcm);
  const destination = mapping.sign ? unsignedImageName(mapping.containerImage) : mapping.containerImage;
  const kernel = mapping.kernel.full;

  const overrides: BuildArg[] = kmmBuildArgs(kernel, ctx);
  const warnings: string[] = [];
  const cmName = `${input.namespace}/${build.dockerfileConfigMap.name ?? ""}`;
  // Upstream sets DTK_AUTO only when the Dockerfile names it, and fails the build when it has no value.
  if (usesDtkAuto(input.dockerfile.text) || declaredArgs(input.dockerfile.text).has(DTK_AUTO)) {
    if (input.dtk === undefined) {
      warnings.push(`the Dockerfile of ConfigMap ${cmName} uses DTK_AUTO, but this hub has no driver-toolkit ImageStream API (image.openshift.io/v1): DTK_AUTO is left unset for kernel ${kernel}`);
    } else if ("image" in input.dtk) {
      overrides.push({ name: DTK_AUTO, value: input.dtk.image });
    } else {
      throw new BuildInputError(`the Dockerfile of ConfigMap ${cmName} uses DTK_AUTO: ${input.dtk.error}`);
    }
  }
  const buildArgs = applyBuildArgOverrides(build.buildArgs ?? [], overrides);
  const declared = declaredArgs(input.dockerfile.text);
  const argsWith = (list: readonly BuildArg[]) => [
    "--destination",
    destination,
    ...tlsArgs(mapping.registryTLS, "--insecure", "--skip-tls-verify"),
    ...tlsArgs(build.baseImageRegistryTLS, "--insecure-pull", "--skip-tls-verify-pull"),
    ...list.flatMap((a) => ["--build-arg", `${a.name}=${a.value}`]),
    `--digest-file=${TERMINATION_LOG}`,
  ];
  const args = argsWith(buildArgs);

  const secrets = [...new Set((build.secrets ?? []).map((s) => s.name ?? "").filter((n) => n !== ""))];
  const repoSecret = mcm.spec.moduleSpec.imageRepoSecret?.name;
  const volumes: Volume[] = [
    { name: "dockerfile", configMap: { name: build.dockerfileConfigMap.name ?? "", items: [{ key: input.dockerfile.key, path: "Dockerfile" }] } },
  ];
  const mounts: VolumeMount[] = [{ name: "dockerfile", mountPath: "/workspace", readOnly: true }];
  if (repoSecret !== undefined && repoSecret !== "") {
    volumes.push(registrySecretVolume(repoSecret));
    mounts.push({ name: REGISTRY_CONFIG_VOLUME, mountPath: "/kaniko/.docker", readOnly: true });
  }
  for (const name of secrets) {
    volumes.push({ name: secretVolumeName(name), secret: { secretName: name } });
    mounts.push({ name: secretVolumeName(name), mountPath: `/run/secrets/${name}`, readOnly: true });
  }
  const versions: Record<string, string> = {};
  for (const name of [...secrets, ...(repoSecret ? [repoSecret] : [])]) {
    const v = input.secretVersions[name];
    if (v === undefined) throw new BuildInputError(`no resourceVersion known for Secret ${input.namespace}/${name} that the build of kernel ${kernel} mounts`);
    versions[name] = v;
  }

  const container: Container = {
    name: "kaniko",
    image: kanikoImage(input.relatedImageBuild, build.kanikoParams?.tag),
    args,
    volumeMounts: mounts,
  };
  const job = assembleJob({
    type: "build",
    mcm,
    namespace: input.namespace,
    destinationImage: destination,
    kernel,
    container,
    volumes,
    nodeSelector: build.selector,
    tolerations: mcm.spec.moduleSpec.tolerations,
    extraInputs: { dockerfile: input.dockerfile.text, secretVersions: versions, ...(input.extraInputs ?? {}) },
    hashArgs: argsWith(buildArgs.filter((a) => declared.has(a.name))),
  });
  return { job, destination, warnings };
}
