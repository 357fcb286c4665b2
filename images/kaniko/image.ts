// The kaniko executor image for the hub's build Jobs (RELATED_IMAGE_BUILD): the executor that
// build.sh compiles from kaniko's Go module, Debian's CA bundle, and images/kaniko/Dockerfile,
// built with buildah (chroot isolation, host network) into the project's own storage. Cached: an
// image whose label carries the same input key is not built again. pushKanikoImage pushes it.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { BUD_FLAGS } from "../base.ts";
import { buildah, type Storage } from "../buildah.ts";

const run = promisify(execFile);
const HERE = path.dirname(new URL(import.meta.url).pathname);
/** Debian's CA bundle (package ca-certificates), as upstream copies it from debian:bookworm-slim. */
const CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";
const KEY_LABEL = "org.kmm-hub.kaniko.input";
/** Name resolution from /etc/hosts first, then DNS (Go's resolver reads this). */
const NSSWITCH = "hosts: files dns\n";

export class KanikoImageError extends Error {
  override readonly name = "KanikoImageError";
}

export interface KanikoImage {
  /** Local name in the storage, `localhost/kmm-hub/kaniko-executor:<version>`. */
  local: string;
  version: string;
  /** Whether buildah ran (false: the image with the same inputs was there). */
  built: boolean;
  seconds: number;
}

/** Runs build.sh (Go build, cached by a stamp) and returns the executor's path. */
export async function kanikoExecutor(): Promise<string> {
  try {
    const { stdout } = await run("bash", [path.join(HERE, "build.sh")], { maxBuffer: 16 << 20 });
    return stdout.trim().split("\n").at(-1) ?? "";
  } catch (err) {
    const e = err as { stderr?: string; message?: string };
    throw new KanikoImageError(`building kaniko's executor failed: ${(e.stderr ?? e.message ?? String(err)).trim().split("\n").slice(-10).join("\n")}`);
  }
}

/** Builds (or finds) the kaniko image in `storage`. Throws KanikoImageError / BuildahError. */
export async function buildKanikoImage(storage: Storage, log: (s: string) => void = () => undefined): Promise<KanikoImage> {
  const started = Date.now();
  const executor = await kanikoExecutor();
  const gomod = await readFile(path.join(HERE, "go.mod"), "utf8");
  const version = /github\.com\/GoogleContainerTools\/kaniko (v\S+)/.exec(gomod)?.[1];
  if (version === undefined) throw new KanikoImageError(`no kaniko version in ${path.join(HERE, "go.mod")}`);
  const dockerfile = await readFile(path.join(HERE, "Dockerfile"), "utf8");
  const key = createHash("sha256")
    .update(await readFile(executor))
    .update(await readFile(CA_BUNDLE))
    .update(dockerfile)
    .update(NSSWITCH)
    .update(BUD_FLAGS.join(" "))
    .digest("hex")
    .slice(0, 16);
  const local = `localhost/kmm-hub/kaniko-executor:${version}`;
  try {
    const label = (await buildah(storage, ["inspect", "--type", "image", "--format", `{{index .ImageAnnotations "${KEY_LABEL}"}}{{index .OCIv1.Config.Labels "${KEY_LABEL}"}}`, local])).trim();
    if (label === key) return { local, version, built: false, seconds: (Date.now() - started) / 1000 };
  } catch {
    // Not there yet.
  }
  const ctx = await mkdtemp(path.join(storage.root, "..", "kaniko-ctx-"));
  try {
    await copyFile(executor, path.join(ctx, "executor"));
    await copyFile(CA_BUNDLE, path.join(ctx, "ca-certificates.crt"));
    await writeFile(path.join(ctx, "nsswitch.conf"), NSSWITCH);
    await writeFile(path.join(ctx, "Dockerfile"), dockerfile);
    log(`building ${local} (kaniko ${version})`);
    await buildah(storage, ["bud", ...BUD_FLAGS, "--label", `${KEY_LABEL}=${key}`, "-f", path.join(ctx, "Dockerfile"), "-t", local, ctx]);
  } finally {
    await rm(ctx, { recursive: true, force: true });
  }
  return { local, version, built: true, seconds: (Date.now() - started) / 1000 };
}

/**
 * Pushes the kaniko image to `registry` (HOST:PORT) as `<host>/kmm-hub/kaniko-executor:<version>`
 * with buildah's --cert-dir and --creds; resolves with the digest-pinned reference.
 */
export async function pushKanikoImage(
  storage: Storage,
  image: KanikoImage,
  registry: { host: string; certDir: string; username: string; password: string },
): Promise<string> {
  const target = `${registry.host}/kmm-hub/kaniko-executor:${image.version}`;
  const dir = await mkdtemp(path.join(storage.root, "..", "kaniko-push-"));
  try {
    const digestFile = path.join(dir, "digest");
    await buildah(storage, ["push", "--quiet", "--cert-dir", registry.certDir, "--creds", `${registry.username}:${registry.password}`, "--digestfile", digestFile, image.local, `docker://${target}`]);
    const digest = (await readFile(digestFile, "utf8")).trim();
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new KanikoImageError(`buildah push of ${target} gave no digest`);
    return `${registry.host}/kmm-hub/kaniko-executor@${digest}`;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
