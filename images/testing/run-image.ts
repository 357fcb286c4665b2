// Test support: pulls an image back by digest with the project's registry client, unpacks it, and
// runs a command from it for real — a fresh mount and PID namespace (unshare), the image's root
// made read-only, /proc mounted inside, the image's user, a cleared environment (only the image's
// Env), as a container runtime would. No container runtime is involved, so nothing here can hide
// what the image itself lacks.
import { spawn } from "node:child_process";
import { chmod, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { z } from "zod";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { RegistryClient, parseReference } from "../../shared/registry/index.ts";
import type { ImageConfig, ImageManifest } from "../../shared/registry/schemas.ts";

/** The OCI image config's `config` object (runtime settings), as far as the tests read it. */
export const runtimeConfigSchema = z.looseObject({
  User: z.string().optional(),
  Env: z.array(z.string()).optional(),
  Entrypoint: z.array(z.string()).optional(),
  Cmd: z.array(z.string()).optional(),
  WorkingDir: z.string().optional(),
  Labels: z.record(z.string(), z.string()).optional(),
});
export type RuntimeConfig = z.infer<typeof runtimeConfigSchema>;

export interface Unpacked {
  root: string;
  pull: { digest: string; manifest: ImageManifest; config: ImageConfig };
  config: RuntimeConfig;
  remove(): Promise<void>;
}

/**
 * Pulls `ref` (REPO@sha256:…) over plain HTTP with the registry client and unpacks its layers
 * with GNU tar into a fresh folder, owners and absolute symlinks kept as a container runtime
 * keeps them (shared/registry/extract.ts refuses absolute symlinks: it unpacks untrusted kmod
 * images on the hub). Whiteouts are not applied: the layer walk in images.test.ts refuses them.
 */
export async function pullAndUnpack(ref: string): Promise<Unpacked> {
  const dir = await mkdtemp(path.join(tmpdir(), "kmm-image-"));
  const root = path.join(dir, "rootfs");
  await mkdir(root);
  const client = new RegistryClient();
  const opts = { tls: { insecure: true } };
  try {
    const top = await client.getManifest(ref, opts);
    if (top.kind !== "image") throw new Error(`${ref} is an index; the images are single-platform`);
    const config = await client.readConfig(parseReference(ref), top.manifest, opts);
    for (const layer of top.manifest.layers) {
      const blob = await client.openBlob(ref, layer, opts);
      const tar = spawn("tar", ["--extract", "--same-owner", "--same-permissions", "--directory", root], { stdio: ["pipe", "ignore", "pipe"] });
      let stderr = "";
      tar.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => tar.once("close", resolve));
      await pipeline(blob, createGunzip(), tar.stdin);
      const code = await exited;
      if (code !== 0) throw new Error(`unpacking layer ${layer.digest} of ${ref} failed: ${stderr}`);
    }
    const pull = { digest: top.digest, manifest: top.manifest, config };
    // Mount points for /proc and the writable folders a test binds in.
    await mkdir(path.join(root, "proc"), { recursive: true });
    await chmod(dir, 0o755);
    return { root, pull, config: runtimeConfigSchema.parse(pull.config.config ?? {}), remove: () => rm(dir, { recursive: true, force: true }) };
  } finally {
    client.close();
  }
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** "UID:GID"; the image's User when absent ("" = root). */
  user?: string;
  /** Host folders bound writable into the image: { "/work": "/tmp/x" }. */
  binds?: Record<string, string>;
}

/**
 * Runs `argv` (absolute path in the image first) in the unpacked image: `unshare --mount --pid
 * --fork`, a read-only bind of the root, proc mounted, `chroot --userspec`, environment = the
 * image config's Env only. The working folder is "/" (the images' entrypoints are absolute).
 */
export async function runInImage(image: Unpacked, argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const config = image.config;
  const user = opts.user ?? config.User ?? "";
  const userspec = user === "" ? "0:0" : user.includes(":") ? user : `${user}:${user}`;
  const binds = Object.entries(opts.binds ?? {});
  for (const [inside] of binds) await mkdir(path.join(image.root, inside), { recursive: true });
  // $1 root, $2 number of binds, then pairs (inside, host), then the env and command.
  const script = [
    "set -e",
    'root=$1; n=$2; shift 2',
    'mount --bind "$root" "$root"',
    'mount -o remount,bind,ro "$root"',
    'while [ "$n" -gt 0 ]; do mount --bind "$2" "$root$1"; shift 2; n=$((n-1)); done',
    'mount -t proc proc "$root/proc"',
    // The host's env clears the environment, then the host's chroot enters the image.
    'exec /usr/bin/env -i "$@"',
  ].join("\n");
  const env = (config.Env ?? []).filter((e) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(e));
  const chroot = ["/usr/sbin/chroot", `--userspec=${userspec}`, image.root];
  const args = ["--mount", "--pid", "--fork", "--kill-child", "sh", "-c", script, "sh", image.root, String(binds.length), ...binds.flat(), ...env, ...chroot, ...argv];
  return new Promise((resolve, reject) => {
    const child = spawn("unshare", args, { env: {}, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}
