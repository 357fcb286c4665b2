import { closeSync, ftruncateSync, openSync, writeSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { pino, type Logger } from "pino";
import { parseCommandLine, usageErrorText, UsageError, USAGE_EXIT, wantsHelp } from "../../shared/runtime/cli-args.ts";
import { exitAfterFlush } from "../../shared/runtime/exit.ts";
import { createLogger } from "../../shared/runtime/logger.ts";
import { z } from "zod";
import { DEFAULT_CONFIG_PATH, WorkerConfigError, readWorkerConfig, type WorkerConfig } from "./config.ts";
import { ModprobeRunner } from "./modprobe.ts";
import { WorkerError, loadKmod, unloadKmod } from "./worker.ts";

// Container entrypoint of the module-loader DaemonSet. Commands follow
// upstream KMM's worker ("kmod load|unload <config>", --set-firmware-class-path,
// --set-firmware-mount-path); "kmod" may be left out. `load` keeps running
// after loading and unloads when the pod is terminated (SIGTERM), unless
// --once is given.
export { DEFAULT_CONFIG_PATH };
/** Kubernetes' default terminationMessagePath: the kubelet puts what is written here in the container status. */
export const TERMINATION_LOG = "/dev/termination-log";

/**
 * Writes why the worker failed to the termination log, so the pod's status says it (kubelet caps it
 * at 4096 bytes). Only into a file the container runtime created: run outside a pod, nothing is written.
 */
export function writeTerminationMessage(message: string, file = TERMINATION_LOG): void {
  let fd: number | undefined;
  try {
    fd = openSync(file, "r+");
    ftruncateSync(fd, 0);
    writeSync(fd, message.slice(0, 4096));
  } catch {
    // No termination log (not in a pod) or not writable: the message is in the log anyway.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

const USAGE = `usage: worker [kmod] load|unload [CONFIG] [--config FILE]
         [--set-firmware-class-path PATH] [--set-firmware-mount-path PATH]
         [--modprobe BINARY] [--modprobe-arg=ARG]... [--once]
  CONFIG defaults to ${DEFAULT_CONFIG_PATH}`;

const PROGRAM = { name: "worker", usage: USAGE, helpCommand: "worker --help" };
export { UsageError };

const cliSchema = z.object({
  command: z.enum(["load", "unload"]),
  configPath: z.string().min(1),
  firmwareClassPath: z.string().startsWith("/").optional(),
  firmwareMountPath: z.string().startsWith("/").optional(),
  modprobe: z.string().min(1).default("modprobe"),
  // Put before every modprobe call's own arguments, e.g. "-n" for a dry run.
  modprobeArgs: z.array(z.string().min(1)).default([]),
  once: z.boolean().default(false),
});
export type WorkerCli = z.infer<typeof cliSchema>;

export function parseCli(argv: readonly string[]): WorkerCli {
  const { values, positionals } = parseCommandLine({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: "string" },
        "set-firmware-class-path": { type: "string" },
        "set-firmware-mount-path": { type: "string" },
        modprobe: { type: "string" },
        "modprobe-arg": { type: "string", multiple: true },
        once: { type: "boolean" },
      // --help is answered before parsing (run): declared so that it is no unknown option.
      help: { type: "boolean", short: "h" },
    },
  });
  const rest = positionals[0] === "kmod" ? positionals.slice(1) : positionals;
  const [command, configArg, ...extra] = rest;
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(" ")}`);
  if (configArg !== undefined && values.config !== undefined) {
    throw new UsageError("give the config file either as an argument or with --config, not both");
  }
  const result = cliSchema.safeParse({
    command,
    configPath: configArg ?? values.config ?? DEFAULT_CONFIG_PATH,
    firmwareClassPath: values["set-firmware-class-path"],
    firmwareMountPath: values["set-firmware-mount-path"],
    modprobe: values.modprobe,
    modprobeArgs: values["modprobe-arg"],
    once: values.once,
  });
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join(".") || "arguments"}: ${i.message}`);
    throw new UsageError(problems.join("; "));
  }
  return result.data;
}

// Flags win over the file so that upstream-style invocations keep working.
function applyFlags(cfg: WorkerConfig, cli: WorkerCli): WorkerConfig {
  return {
    ...cfg,
    ...(cli.firmwareClassPath !== undefined ? { firmwareClassPath: cli.firmwareClassPath } : {}),
    ...(cli.firmwareMountPath !== undefined ? { firmwareHostPath: cli.firmwareMountPath } : {}),
  };
}

function waitForTermination(): { promise: Promise<NodeJS.Signals>; requested: () => boolean } {
  let received: NodeJS.Signals | undefined;
  let wake: ((s: NodeJS.Signals) => void) | undefined;
  const promise = new Promise<NodeJS.Signals>((resolve) => {
    wake = resolve;
  });
  // A pending promise alone does not keep Node running; this timer does.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  const onSignal = (signal: NodeJS.Signals): void => {
    if (received !== undefined) return;
    received = signal;
    clearInterval(keepAlive);
    wake?.(signal);
  };
  // Kept installed: a second signal while unloading must not cut the unload short.
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  return {
    promise,
    requested: () => received !== undefined,
  };
}

export async function run(argv: readonly string[], logger: Logger): Promise<number> {
  if (wantsHelp(argv)) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let cli: WorkerCli;
  let cfg: WorkerConfig;
  try {
    cli = parseCli(argv);
    cfg = applyFlags(await readWorkerConfig(cli.configPath), cli);
  } catch (err) {
    if (err instanceof UsageError || err instanceof WorkerConfigError) {
      logger.fatal({ err: { type: err.name, message: err.message } }, err.message);
      process.stderr.write(err instanceof UsageError ? usageErrorText(PROGRAM, err.message) : `error: ${err.message}\n`);
      writeTerminationMessage(err.message);
      return USAGE_EXIT;
    }
    throw err;
  }

  const deps = { runner: new ModprobeRunner({ binary: cli.modprobe, extraArgs: cli.modprobeArgs }), logger };
  const termination = cli.command === "load" && !cli.once ? waitForTermination() : undefined;
  try {
    if (cli.command === "unload") {
      await unloadKmod(cfg, deps);
      return 0;
    }
    await loadKmod(cfg, deps);
    if (termination === undefined) return 0;
    if (!termination.requested()) logger.info("module loaded; waiting for SIGTERM to unload");
    const signal = await termination.promise;
    logger.info({ signal }, "termination requested; unloading");
    await unloadKmod(cfg, deps);
    return 0;
  } catch (err) {
    if (err instanceof WorkerError) {
      logger.fatal({ err: { type: err.name, message: err.message, step: err.step, command: err.command } }, err.message);
      process.stderr.write(`error: ${err.message}\n`);
      writeTerminationMessage(err.message);
      return 1;
    }
    throw err;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // The operators' log format (string levels, ISO times, credentials redacted); synchronous, so the
  // last lines before an exit are not lost.
  const logger = createLogger({ name: "kmm-worker", destination: pino.destination({ fd: 1, sync: true }) });
  run(process.argv.slice(2), logger).then(
    (code) => exitAfterFlush(code),
    (err: unknown) => {
      const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
      logger.fatal({ err: message }, "unexpected worker failure");
      process.stderr.write(`error: unexpected worker failure: ${message}\n`);
      return exitAfterFlush(1);
    },
  );
}
