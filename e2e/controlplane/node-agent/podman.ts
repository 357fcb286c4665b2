// Debian's podman, driven through its CLI with the flags this machine needs: runc (crun fails on
// hybrid cgroups), host network only (no bridge, CNI or iptables), capped ulimits (no
// CAP_SYS_RESOURCE), and a storage root of the node's own so tests never touch the default one.
import { execFile, spawn } from "node:child_process";
import { z } from "zod";

export class PodmanError extends Error {
  override readonly name = "PodmanError";
  readonly stderr: string;
  readonly exitCode: number | null;
  constructor(message: string, stderr: string, exitCode: number | null) {
    super(message);
    this.stderr = stderr;
    this.exitCode = exitCode;
  }
}

export interface PodmanStorage {
  /** container storage (images, layers); under the fleet's cache folder */
  root: string;
  /** runtime state (container state, locks); under the node's folder */
  runroot: string;
}

/** Flags every invocation gets: its own storage, cgroupfs (no systemd here), file events. */
export function globalFlags(s: PodmanStorage): string[] {
  return ["--root", s.root, "--runroot", s.runroot, "--storage-driver", "overlay", "--cgroup-manager", "cgroupfs", "--events-backend", "file"];
}

/** Flags every container gets (see the file comment). */
export const RUN_FLAGS: readonly string[] = ["--runtime", "runc", "--network", "host", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];

/**
 * Shell command that removes every container of a storage: for the fleet's watchdog and `fleet down`,
 * which run when this process is gone. Containers outlive their podman client (conmon holds them).
 */
export function removeAllCommand(s: PodmanStorage): string {
  return ["podman", ...globalFlags(s), "rm", "--all", "--force", "--time", "0"].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
}

const inspectSchema = z.array(
  z.looseObject({
    Id: z.string(),
    Name: z.string(),
    State: z.looseObject({
      Status: z.string(),
      Running: z.boolean(),
      ExitCode: z.number(),
      OOMKilled: z.boolean().optional(),
      Error: z.string().optional(),
      StartedAt: z.string(),
      FinishedAt: z.string(),
    }),
    Image: z.string(),
  }),
);
export type ContainerState = z.infer<typeof inspectSchema>[number];

const imageInspectSchema = z.array(z.looseObject({ Id: z.string(), Digest: z.string().optional(), RepoDigests: z.array(z.string()).nullable().optional(), Config: z.looseObject({ User: z.string().optional() }).optional() }));
export type ImageInfo = z.infer<typeof imageInspectSchema>[number];

export class Podman {
  readonly storage: PodmanStorage;
  constructor(storage: PodmanStorage) {
    this.storage = storage;
  }

  /** Runs `podman <args>`; resolves with stdout, rejects with a PodmanError carrying stderr. */
  run(args: string[], opts: { timeoutMs?: number } = {}): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile("podman", [...globalFlags(this.storage), ...args], { maxBuffer: 16 << 20, timeout: opts.timeoutMs ?? 120_000 }, (err, stdout, stderr) => {
        if (err) {
          const code = typeof err.code === "number" ? err.code : null;
          const msg = stderr.trim().replace(/^Error: /, "") || err.message;
          reject(new PodmanError(`podman ${args[0] ?? ""}: ${msg}`, stderr, code));
          return;
        }
        resolve(stdout);
      });
    });
  }

  async pull(image: string, opts: { authfile?: string | undefined; certDir?: string | undefined }): Promise<void> {
    const args = ["pull", "--quiet"];
    if (opts.authfile !== undefined) args.push("--authfile", opts.authfile);
    if (opts.certDir !== undefined) args.push("--cert-dir", opts.certDir);
    await this.run([...args, image], { timeoutMs: 300_000 });
  }

  async image(image: string): Promise<ImageInfo | undefined> {
    try {
      return imageInspectSchema.parse(JSON.parse(await this.run(["image", "inspect", image])))[0];
    } catch (err) {
      if (err instanceof PodmanError) return undefined;
      throw err;
    }
  }

  /** `podman run --detach` with RUN_FLAGS; resolves with the container id. */
  async start(args: string[]): Promise<string> {
    return (await this.run(["run", "--detach", ...RUN_FLAGS, ...args])).trim();
  }

  async inspect(name: string): Promise<ContainerState | undefined> {
    try {
      return inspectSchema.parse(JSON.parse(await this.run(["container", "inspect", name])))[0];
    } catch (err) {
      if (err instanceof PodmanError) return undefined;
      throw err;
    }
  }

  /** Resolves with the exit code once the container stops (a child `podman wait`). */
  wait(name: string): Promise<number | undefined> {
    return new Promise((resolve) => {
      const child = spawn("podman", [...globalFlags(this.storage), "wait", "--interval", "500ms", name], { stdio: ["ignore", "pipe", "ignore"] });
      let out = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
      child.once("error", () => resolve(undefined));
      child.once("exit", (code) => {
        const n = Number.parseInt(out.trim(), 10);
        resolve(code === 0 && Number.isInteger(n) ? n : undefined);
      });
    });
  }

  /** Runs a command in a running container; resolves with its exit code and output. */
  exec(name: string, command: string[], timeoutMs: number): Promise<{ code: number | null; output: string }> {
    return new Promise((resolve) => {
      execFile("podman", [...globalFlags(this.storage), "exec", name, ...command], { timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : null) : 0;
        resolve({ code, output: `${stdout}${stderr}` });
      });
    });
  }

  /** SIGTERM (or the image's stop signal), `graceSeconds`, then SIGKILL: what the kubelet does. */
  async stop(name: string, graceSeconds: number): Promise<void> {
    await this.run(["stop", "--ignore", "--time", String(Math.max(0, Math.floor(graceSeconds))), name], { timeoutMs: (graceSeconds + 30) * 1000 });
  }

  async remove(name: string): Promise<void> {
    await this.run(["rm", "--ignore", "--force", "--time", "0", name]);
  }

  /** Removes every container carrying the label (`key=value`). */
  async removeLabelled(label: string): Promise<void> {
    const ids = (await this.run(["ps", "--all", "--quiet", "--filter", `label=${label}`])).split("\n").filter(Boolean);
    if (ids.length > 0) await this.run(["rm", "--force", "--time", "0", ...ids]);
  }
}
