// Image pulls for a pod: the pull policy as the kubelet applies it, and the pod's imagePullSecrets
// read through the project's Keychain (dockerconfigjson and dockercfg, the kubelet's matching rules)
// and handed to podman as an auth file holding only the credential for the image's registry.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Keychain, parseReference } from "../../../shared/registry/index.ts";
import type { PodContainer } from "./pod.ts";
import type { ImageInfo, Podman } from "./podman.ts";

/** A pull that failed (the kubelet's ErrImagePull) or an image the policy forbids pulling. */
export class ImagePullError extends Error {
  override readonly name = "ImagePullError";
  readonly reason: "ErrImagePull" | "ErrImageNeverPull" | "InvalidImageName";
  constructor(reason: ImagePullError["reason"], message: string) {
    super(message);
    this.reason = reason;
  }
}

/** Kubernetes' default: Always for `:latest` or no tag, else IfNotPresent (digests included). */
export function pullPolicy(c: PodContainer): "Always" | "IfNotPresent" | "Never" {
  const p = c.imagePullPolicy;
  if (p === "Always" || p === "IfNotPresent" || p === "Never") return p;
  const image = c.image ?? "";
  if (image.includes("@")) return "IfNotPresent";
  const last = image.split("/").pop() ?? "";
  return !last.includes(":") || last.endsWith(":latest") ? "Always" : "IfNotPresent";
}

/** The docker auth file (podman's --authfile) for `image`, from pull secrets; undefined for anonymous pulls. */
export function authFileFor(image: string, pullSecrets: readonly unknown[]): string | undefined {
  const ref = parseReference(image);
  const cred = Keychain.fromSecrets(pullSecrets).resolve(ref);
  if (cred === undefined) return undefined;
  return JSON.stringify({ auths: { [ref.registry]: { auth: Buffer.from(`${cred.username}:${cred.password}`).toString("base64") } } });
}

export interface EnsureImageOptions {
  podman: Podman;
  container: PodContainer;
  pullSecrets: readonly unknown[];
  /** folder for the pod's auth file (mode 0600) */
  podDir: string;
  /** CA certificates podman trusts for registries (--cert-dir) */
  certDir?: string | undefined;
  onPull?: (image: string) => void;
}

/**
 * Makes sure the container's image is in the node's storage, pulling as the policy says.
 * @returns the image's local record (its id is what the container runs)
 * @throws ImagePullError with podman's own explanation (unauthorized, unknown manifest, TLS …)
 */
export async function ensureImage(o: EnsureImageOptions): Promise<ImageInfo> {
  const image = o.container.image;
  if (image === undefined || image === "") throw new ImagePullError("InvalidImageName", `container ${o.container.name} has no image`);
  try {
    parseReference(image);
  } catch (err) {
    throw new ImagePullError("InvalidImageName", `Failed to apply default image tag "${image}": ${err instanceof Error ? err.message : String(err)}`);
  }
  const policy = pullPolicy(o.container);
  if (policy !== "Always") {
    const have = await o.podman.image(image);
    if (have !== undefined) return have;
    if (policy === "Never") throw new ImagePullError("ErrImageNeverPull", `Container image "${image}" is not present with pull policy of Never`);
  }
  let authfile: string | undefined;
  const auth = authFileFor(image, o.pullSecrets);
  if (auth !== undefined) {
    authfile = join(o.podDir, "auth.json");
    await writeFile(authfile, auth, { mode: 0o600 });
  }
  o.onPull?.(image);
  try {
    await o.podman.pull(image, { authfile, certDir: o.certDir });
  } catch (err) {
    throw new ImagePullError("ErrImagePull", `failed to pull image "${image}": ${err instanceof Error ? err.message : String(err)}`);
  }
  const got = await o.podman.image(image);
  if (got === undefined) throw new ImagePullError("ErrImagePull", `image "${image}" was pulled but podman cannot find it`);
  return got;
}
