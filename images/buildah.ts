// Runs Debian's buildah on the project's own container storage (overlay, under .cache/images),
// never the machine's: builds here must not see or change anyone else's images.
import { execFile } from "node:child_process";
import path from "node:path";

/** A containers-storage location: `root` holds images and layers, `runroot` locks and mounts. */
export interface Storage {
  root: string;
  runroot: string;
  driver: "overlay" | "vfs";
}

export class BuildahError extends Error {
  override readonly name = "BuildahError";
  readonly args: readonly string[];
  readonly stderr: string;
  constructor(message: string, args: readonly string[], stderr: string) {
    super(message);
    this.args = args;
    this.stderr = stderr;
  }
}

/** The project's storage: `<cacheDir>/storage` with the overlay driver. */
export function projectStorage(cacheDir: string): Storage {
  return { root: path.join(cacheDir, "storage"), runroot: path.join(cacheDir, "runroot"), driver: "overlay" };
}

/** The global flags that select `storage`, for buildah, podman and skopeo's containers-storage transport. */
export function storageFlags(storage: Storage): string[] {
  return ["--root", storage.root, "--runroot", storage.runroot, "--storage-driver", storage.driver];
}

/**
 * Runs `buildah <global storage flags> <args>`; resolves with stdout.
 * Throws BuildahError with buildah's stderr when it exits non-zero.
 */
export function buildah(storage: Storage, args: readonly string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const all = [...storageFlags(storage), ...args];
  return new Promise((resolve, reject) => {
    // BUILDAH_LAYERS etc. from the caller's shell must not change what is built.
    const env = { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", HOME: process.env.HOME ?? "/root", TMPDIR: process.env.TMPDIR ?? "/var/tmp", ...opts.env };
    execFile("buildah", all, { env, maxBuffer: 256 << 20 }, (err, stdout, stderr) => {
      if (err) {
        const tail = stderr.trim().split("\n").slice(-20).join("\n");
        reject(new BuildahError(`buildah ${args.slice(0, 2).join(" ")} failed: ${tail || err.message}`, all, stderr));
      } else resolve(stdout);
    });
  });
}
