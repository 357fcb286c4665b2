// The sign Job for one (MCM, kernel): pure, no API calls. It runs the project's signer
// (hub/signer, image RELATED_IMAGE_SIGN, whose ENTRYPOINT is the signer) with keySecret's `key`
// and certSecret's `cert` mounted read-only where upstream mounts them (/run/secrets/key/key.pem,
// /run/secrets/cert/cert.pem). The keys stay in the hub: they reach only this pod's volumes, never
// an argument, an annotation, a status or an image. The image to sign is sign.unsignedImage, or,
// when the mapping also builds, the unsigned intermediate the build pushed — by digest once the
// build reported it, so a rebuild changes the input hash and signing runs again. The pod runs as
// non-root with a read-only root filesystem and scratch space in an emptyDir at /tmp.
import type { ManagedClusterModule } from "../../shared/api/managedclustermodule.ts";
import type { RegistryTLS } from "../../shared/api/module.ts";
import type { Container, Volume, VolumeMount } from "../../shared/k8s/core.generated.ts";
import type { ResolvedKernelMapping } from "../../shared/kernel-mapping/kernel-mapping.ts";
import { parseReference, pinnedReference } from "../../shared/registry/reference.ts";
import { TERMINATION_LOG, tlsArgs } from "./build-job.ts";
import { assembleJob, registrySecretVolume, REGISTRY_CONFIG_VOLUME, type Job } from "./job.ts";
import { unsignedImageName } from "./names.ts";

export const KEY_FILE = "/run/secrets/key/key.pem";
export const CERT_FILE = "/run/secrets/cert/cert.pem";
export const DOCKER_CONFIG_FILE = "/run/secrets/registry/config.json";
/** The signer image's non-root user (distroless' "nonroot"). */
export const SIGNER_UID = 65532;

export class SignInputError extends Error {
  override readonly name = "SignInputError";
}

export interface SignJobInput {
  mcm: ManagedClusterModule;
  /** The resolved mapping of one kernel; it must have `sign`. */
  mapping: ResolvedKernelMapping;
  /** The hub namespace the Job and its Secrets live in. */
  namespace: string;
  /** resourceVersion of keySecret, certSecret and the imageRepoSecret, by name. */
  secretVersions: Readonly<Record<string, string>>;
  /** RELATED_IMAGE_SIGN. */
  relatedImageSign: string;
  /** When the mapping also builds: the digest the build Job reported for the unsigned image. */
  unsignedDigest?: string;
  /** More inputs for the hash only (the MCM's imageRebuildTriggerGeneration). */
  extraInputs?: Record<string, unknown>;
}

export interface SignJobResult {
  job: Job;
  /** What the signer pulls. */
  unsignedImage: string;
  /** What it pushes: the mapping's containerImage. */
  destination: string;
}

/**
 * The sign Job for `input.mapping`. Throws SignInputError when the mapping has no sign section, no
 * image to sign, a file outside modprobe.dirName (upstream's admission rule), or a Secret whose
 * resourceVersion is unknown.
 */
export function signJob(input: SignJobInput): SignJobResult {
  const { mcm, mapping } = input;
  const sign = mapping.sign;
  const kernel = mapping.kernel.full;
  if (sign === undefined) throw new SignInputError(`kernel mapping ${mapping.mappingIndex} has no sign section`);
  if (input.relatedImageSign === "") throw new SignInputError("RELATED_IMAGE_SIGN is not set: the hub needs the signer image to sign with");
  const mcmName = mcm.metadata.name ?? "";
  let unsignedImage: string;
  let pullTLS: RegistryTLS | undefined;
  if (mapping.build !== undefined) {
    // The intermediate went where containerImage goes, so it is reached with the same settings.
    const intermediate = unsignedImageName(mapping.containerImage);
    unsignedImage = input.unsignedDigest === undefined ? intermediate : pinnedReference(parseReference(intermediate), input.unsignedDigest);
    pullTLS = mapping.registryTLS;
  } else {
    if (sign.unsignedImage === undefined || sign.unsignedImage === "") {
      throw new SignInputError(`kernel mapping ${mapping.mappingIndex} of ManagedClusterModule ${mcmName} signs without building: set sign.unsignedImage`);
    }
    unsignedImage = sign.unsignedImage;
    pullTLS = sign.unsignedImageRegistryTLS;
  }
  const dirName = (mcm.spec.moduleSpec.moduleLoader?.container.modprobe.dirName ?? "/opt").replace(/\/+$/, "");
  const files = sign.filesToSign ?? [];
  if (files.length === 0) throw new SignInputError(`kernel mapping ${mapping.mappingIndex} of ManagedClusterModule ${mcmName}: sign.filesToSign is empty`);
  for (const f of files) {
    if (!f.startsWith(`${dirName}/`) || f.split("/").includes("..")) {
      throw new SignInputError(`kernel mapping ${mapping.mappingIndex} of ManagedClusterModule ${mcmName}: filesToSign ${f} must be under modprobe.dirName ${dirName}`);
    }
  }
  const keySecret = sign.keySecret.name ?? "";
  const certSecret = sign.certSecret.name ?? "";
  const repoSecret = mcm.spec.moduleSpec.imageRepoSecret?.name;

  const versions: Record<string, string> = {};
  for (const name of [keySecret, certSecret, ...(repoSecret ? [repoSecret] : [])]) {
    const v = input.secretVersions[name];
    if (v === undefined) throw new SignInputError(`no resourceVersion known for Secret ${input.namespace}/${name} that signing for kernel ${kernel} mounts`);
    versions[name] = v;
  }

  const args = [
    "--unsigned-image",
    unsignedImage,
    "--destination",
    mapping.containerImage,
    "--dir-name",
    dirName,
    "--kernel",
    kernel,
    ...files.flatMap((f) => ["--file-to-sign", f]),
    "--key",
    KEY_FILE,
    "--cert",
    CERT_FILE,
    ...(repoSecret ? ["--docker-config", DOCKER_CONFIG_FILE] : []),
    ...tlsArgs(pullTLS, "--insecure-pull", "--skip-tls-verify-pull"),
    ...tlsArgs(mapping.registryTLS, "--insecure", "--skip-tls-verify"),
    "--termination-log",
    TERMINATION_LOG,
  ];
  // Group-readable (0440) so the non-root signer reads them through fsGroup; nobody else can.
  const volumes: Volume[] = [
    { name: "signing-key", secret: { secretName: keySecret, items: [{ key: "key", path: "key.pem" }], defaultMode: 0o440 } },
    { name: "signing-cert", secret: { secretName: certSecret, items: [{ key: "cert", path: "cert.pem" }], defaultMode: 0o440 } },
    { name: "tmp", emptyDir: {} },
  ];
  const mounts: VolumeMount[] = [
    { name: "signing-key", mountPath: "/run/secrets/key", readOnly: true },
    { name: "signing-cert", mountPath: "/run/secrets/cert", readOnly: true },
    { name: "tmp", mountPath: "/tmp" },
  ];
  if (repoSecret) {
    volumes.push(registrySecretVolume(repoSecret));
    mounts.push({ name: REGISTRY_CONFIG_VOLUME, mountPath: "/run/secrets/registry", readOnly: true });
  }
  const container: Container = {
    name: "signer",
    image: input.relatedImageSign,
    args,
    volumeMounts: mounts,
    terminationMessagePath: TERMINATION_LOG,
    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
  };
  const job = assembleJob({
    type: "sign",
    mcm,
    namespace: input.namespace,
    destinationImage: mapping.containerImage,
    kernel,
    container,
    volumes,
    nodeSelector: undefined,
    tolerations: mcm.spec.moduleSpec.tolerations,
    securityContext: { runAsNonRoot: true, runAsUser: SIGNER_UID, runAsGroup: SIGNER_UID, fsGroup: SIGNER_UID, seccompProfile: { type: "RuntimeDefault" } },
    extraInputs: { secretVersions: versions, ...(input.extraInputs ?? {}) },
  });
  return { job, unsignedImage, destination: mapping.containerImage };
}
