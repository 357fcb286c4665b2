import { execFile } from "node:child_process";

// Runs the real modprobe with an argument array (never a shell string). The
// binary and the options put in front of every call are configurable so that a
// test can add "-n" (dry run) or "-C <dir>"; what runs is still modprobe.
export interface ModprobeRunnerOptions {
  readonly binary: string;
  readonly extraArgs: readonly string[];
}

export interface ModprobeResult {
  readonly argv: readonly string[];
  readonly stdout: string;
  readonly stderr: string;
}

export class ModprobeFailedError extends Error {
  override name = "ModprobeFailedError";
  readonly argv: readonly string[];
  readonly exitCode: number | string | null;
  readonly stderr: string;
  /** What modprobe printed before failing: with -v, the insmod lines it ran, the last one the one refused. */
  readonly stdout: string;
  constructor(
    argv: readonly string[],
    exitCode: number | string | null,
    stderr: string,
    stdout = "",
  ) {
    const said = [stdout.trim(), stderr.trim()].filter((s) => s !== "").join("\n");
    super(`${formatArgv(argv)} failed (exit ${String(exitCode)})${said === "" ? "" : `: ${said}`}`);
    this.argv = argv;
    this.exitCode = exitCode;
    this.stderr = stderr;
    this.stdout = stdout;
  }
}

export class ModprobeRunner {
  readonly binary: string;
  readonly extraArgs: readonly string[];

  constructor(options: Partial<ModprobeRunnerOptions> = {}) {
    this.binary = options.binary ?? "modprobe";
    this.extraArgs = options.extraArgs ?? [];
  }

  // The extra options go right after the binary: they must precede the "--"
  // that ends option parsing in the argument lists the worker builds.
  argv(args: readonly string[]): string[] {
    return [this.binary, ...this.extraArgs, ...args];
  }

  run(args: readonly string[]): Promise<ModprobeResult> {
    const argv = this.argv(args);
    const [file, ...rest] = argv;
    return new Promise((resolve, reject) => {
      execFile(file ?? this.binary, rest, { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (err !== null) {
          // execFile sets a numeric exit code, or a string such as ENOENT when the binary is missing.
          const code = (err as NodeJS.ErrnoException & { code?: number | string }).code ?? null;
          reject(new ModprobeFailedError(argv, code, stderr === "" ? err.message : stderr, stdout));
          return;
        }
        resolve({ argv, stdout, stderr });
      });
    });
  }
}

// A readable, copy-pastable rendering of an argv for messages (quotes only where needed).
export function formatArgv(argv: readonly string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_./=:,+@%-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)).join(" ");
}

/**
 * What the user can do about the kernel's answer to a refused insert or remove, for the strerror
 * texts modprobe prints (errno names from the Linux init_module(2)/delete_module(2) man pages);
 * undefined for an answer without a known remedy. Returns one short sentence.
 */
export function kernelAnswerHint(said: string): string | undefined {
  if (said.includes("Function not implemented")) {
    return "the kernel cannot load modules (ENOSYS): it was built without module support, or loading is blocked for containers on this node";
  }
  if (said.includes("Operation not permitted")) {
    return "the kernel refused the container (EPERM): the worker needs CAP_SYS_MODULE, and a locked-down kernel loads no unsigned modules";
  }
  if (said.includes("Key was rejected by service") || said.includes("Required key not available")) {
    return "the module's signature is not trusted by this kernel (Secure Boot): sign it with a key enrolled on the node";
  }
  if (said.includes("Invalid module format") || said.includes("Exec format error")) {
    return "the module was built for another kernel: check the kernel mapping's image for this kernel";
  }
  if (said.includes("Unknown symbol")) {
    return "the module needs symbols no loaded module exports: check its dependencies (modulesLoadingOrder, softdeps)";
  }
  return undefined;
}
