import { copyFile, lstat, mkdir, readFile, readdir, readlink, rm, rmdir, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import { z } from "zod";
import type { WorkerConfig } from "./config.ts";
import { ModprobeFailedError, formatArgv, kernelAnswerHint, type ModprobeResult, type ModprobeRunner } from "./modprobe.ts";

// File names follow upstream KMM where it has one: the loading order becomes
// /etc/modprobe.d/softdep.conf with one "softdep <a> pre: <b>" line per pair.
export const SOFTDEP_FILE = "softdep.conf";
export const READY_FILE = "ready";
export const FIRMWARE_RECORD_FILE = "firmware-copied.json";

export type WorkerStep =
  | "set firmware_class.path"
  | "remove in-tree modules"
  | "copy firmware"
  | "write softdep config"
  | "load module"
  | "mark ready"
  | "unload module"
  | "remove firmware";

export class WorkerError extends Error {
  override name = "WorkerError";
  readonly moduleName: string;
  readonly kernelVersion: string;
  readonly step: WorkerStep;
  readonly command?: readonly string[];
  constructor(
    moduleName: string,
    kernelVersion: string,
    step: WorkerStep,
    detail: string,
    command?: readonly string[],
  ) {
    super(`module ${moduleName}, kernel ${kernelVersion}: ${step} failed: ${detail}`);
    this.moduleName = moduleName;
    this.kernelVersion = kernelVersion;
    this.step = step;
    this.command = command;
  }
}

export interface WorkerDeps {
  readonly runner: ModprobeRunner;
  readonly logger: Logger;
}

export interface LoadReport {
  readonly commands: readonly ModprobeResult[];
  readonly firmwareCopied: readonly string[];
  readonly inTreeRemoved: readonly string[];
}

export interface UnloadReport {
  readonly commands: readonly ModprobeResult[];
  readonly firmwareRemoved: readonly string[];
}

// What load copied, so unload removes exactly that and nothing the host already had.
const firmwareRecordSchema = z.object({
  destination: z.string(),
  files: z.array(z.string()),
  directories: z.array(z.string()),
});
type FirmwareRecord = z.infer<typeof firmwareRecordSchema>;

export function moduleLabel(cfg: WorkerConfig): string {
  return cfg.modprobe.moduleName ?? `(rawArgs: ${cfg.modprobe.rawArgs?.load.join(" ") ?? ""})`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function modulesDir(cfg: WorkerConfig): string {
  return path.posix.join(cfg.imageRoot, cfg.modprobe.dirName);
}

// "-S" pins modprobe to the kernel this DaemonSet was made for, which is the
// node's kernel; "--" ends option parsing so the module name and parameters
// can never be read as options.
export function loadArgs(cfg: WorkerConfig): string[] {
  const mp = cfg.modprobe;
  if (mp.rawArgs !== undefined) return [...mp.rawArgs.load];
  const moduleName = mp.moduleName ?? "";
  return ["-v", "-d", modulesDir(cfg), "-S", cfg.kernelVersion, ...(mp.args?.load ?? []), "--", moduleName, ...mp.parameters];
}

export function unloadArgs(cfg: WorkerConfig): string[] {
  const mp = cfg.modprobe;
  if (mp.rawArgs !== undefined) return [...mp.rawArgs.unload];
  const order = mp.modulesLoadingOrder !== undefined && mp.modulesLoadingOrder.length > 0 ? mp.modulesLoadingOrder : [mp.moduleName ?? ""];
  return ["-r", "-v", "-d", modulesDir(cfg), "-S", cfg.kernelVersion, ...(mp.args?.unload ?? []), "--", ...order];
}

export function inTreeRemoveArgs(cfg: WorkerConfig, present: readonly string[]): string[] {
  return ["-r", "-v", "-d", cfg.hostModulesRoot, "-S", cfg.kernelVersion, "--", ...present];
}

// Each module must come after the next one in the list: "softdep a pre: b".
export function softdepConfig(order: readonly string[]): string {
  const lines: string[] = [];
  for (let i = 0; i + 1 < order.length; i++) lines.push(`softdep ${order[i] ?? ""} pre: ${order[i + 1] ?? ""}`);
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

// sysfs spells module names with "_" whatever the .ko file uses.
async function isModuleLoaded(sysModuleDir: string, name: string): Promise<boolean> {
  try {
    await lstat(path.join(sysModuleDir, name.replaceAll("-", "_"), "initstate"));
    return true;
  } catch {
    return false;
  }
}

async function runStep(cfg: WorkerConfig, deps: WorkerDeps, step: WorkerStep, args: readonly string[]): Promise<ModprobeResult> {
  const argv = deps.runner.argv(args);
  deps.logger.info({ step, command: argv }, `running ${formatArgv(argv)}`);
  try {
    const result = await deps.runner.run(args);
    const output = result.stdout.split("\n").map((l) => l.trimEnd()).filter((l) => l !== "");
    deps.logger.info({ step, command: argv, output, stderr: result.stderr.trim() || undefined }, `${step}: modprobe succeeded`);
    return result;
  } catch (err) {
    const said = err instanceof ModprobeFailedError ? err.message : `${formatArgv(argv)}: ${errorText(err)}`;
    const hint = err instanceof ModprobeFailedError ? kernelAnswerHint(err.stderr) : undefined;
    const detail = hint === undefined ? said : `${said}\nhint: ${hint}`;
    throw new WorkerError(moduleLabel(cfg), cfg.kernelVersion, step, detail, argv);
  }
}

async function setFirmwareClassPath(cfg: WorkerConfig, deps: WorkerDeps, value: string): Promise<void> {
  const file = cfg.firmwareClassPathFile;
  try {
    const current = (await readFile(file, "utf8")).trim();
    if (current === value) {
      deps.logger.info({ file, value }, "firmware_class.path already set");
      return;
    }
    await writeFile(file, value);
    deps.logger.info({ file, value, previous: current }, "set firmware_class.path");
  } catch (err) {
    throw new WorkerError(moduleLabel(cfg), cfg.kernelVersion, "set firmware_class.path", `writing '${value}' to ${file}: ${errorText(err)}`);
  }
}

function recordPath(cfg: WorkerConfig): string {
  return path.join(cfg.stateDir, FIRMWARE_RECORD_FILE);
}

async function writeRecord(cfg: WorkerConfig, record: FirmwareRecord): Promise<void> {
  await mkdir(cfg.stateDir, { recursive: true });
  await writeFile(recordPath(cfg), JSON.stringify(record, null, 2));
}

// Copies the tree under src into dest, keeping symlinks as symlinks (firmware
// trees use them for aliases). Directories that did not exist are recorded so
// unload can remove them once empty.
async function copyTree(src: string, dest: string, rel: string, record: FirmwareRecord): Promise<void> {
  const entries = await readdir(path.join(src, rel), { withFileTypes: true });
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) {
    const relPath = rel === "" ? entry.name : path.join(rel, entry.name);
    const from = path.join(src, relPath);
    const to = path.join(dest, relPath);
    if (entry.isDirectory()) {
      const created = await mkdir(to, { recursive: true });
      if (created !== undefined) record.directories.push(relPath);
      await copyTree(src, dest, relPath, record);
    } else if (entry.isSymbolicLink()) {
      await rm(to, { force: true });
      await symlink(await readlink(from), to);
      record.files.push(relPath);
    } else if (entry.isFile()) {
      await copyFile(from, to);
      record.files.push(relPath);
    }
  }
}

async function copyFirmware(cfg: WorkerConfig, deps: WorkerDeps, firmwarePath: string): Promise<string[]> {
  const src = path.posix.join(cfg.imageRoot, firmwarePath);
  const dest = cfg.firmwareHostPath;
  const record: FirmwareRecord = { destination: dest, files: [], directories: [] };
  try {
    await mkdir(dest, { recursive: true });
    await copyTree(src, dest, "", record);
  } catch (err) {
    throw new WorkerError(moduleLabel(cfg), cfg.kernelVersion, "copy firmware", `copying ${src}/* to ${dest}: ${errorText(err)}`);
  } finally {
    // Written even after a partial copy so that unload still cleans up what did land.
    await writeRecord(cfg, record).catch((err: unknown) => {
      deps.logger.warn({ err: errorText(err) }, "could not record the copied firmware files");
    });
  }
  deps.logger.info({ source: src, destination: dest, files: record.files }, `copied ${record.files.length} firmware file(s)`);
  return record.files;
}

async function listTree(root: string, rel: string, out: FirmwareRecord): Promise<void> {
  const entries = await readdir(path.join(root, rel), { withFileTypes: true });
  for (const entry of entries) {
    const relPath = rel === "" ? entry.name : path.join(rel, entry.name);
    if (entry.isDirectory()) {
      out.directories.push(relPath);
      await listTree(root, relPath, out);
    } else {
      out.files.push(relPath);
    }
  }
}

// Prefer the record written at load; when this process did not do the load
// (an unload run on its own), fall back to the image's firmware listing, as
// upstream does.
async function firmwareToRemove(cfg: WorkerConfig, firmwarePath: string): Promise<FirmwareRecord> {
  try {
    const raw: unknown = JSON.parse(await readFile(recordPath(cfg), "utf8"));
    const record = firmwareRecordSchema.parse(raw);
    if (record.destination === cfg.firmwareHostPath) return record;
  } catch {
    // no usable record: use the listing below
  }
  const listed: FirmwareRecord = { destination: cfg.firmwareHostPath, files: [], directories: [] };
  await listTree(path.posix.join(cfg.imageRoot, firmwarePath), "", listed);
  // Directories the host had before cannot be told apart here, so none are removed.
  listed.directories = [];
  return listed;
}

async function removeFirmware(cfg: WorkerConfig, deps: WorkerDeps, firmwarePath: string): Promise<string[]> {
  let record: FirmwareRecord;
  try {
    record = await firmwareToRemove(cfg, firmwarePath);
  } catch (err) {
    throw new WorkerError(moduleLabel(cfg), cfg.kernelVersion, "remove firmware", `listing the firmware to remove: ${errorText(err)}`);
  }
  const failures: string[] = [];
  const removed: string[] = [];
  for (const rel of record.files) {
    try {
      await rm(path.join(record.destination, rel), { force: true });
      removed.push(rel);
    } catch (err) {
      failures.push(`${rel}: ${errorText(err)}`);
    }
  }
  // Deepest first; a directory that still holds someone else's files stays.
  for (const rel of [...record.directories].sort((a, b) => b.length - a.length)) {
    try {
      await rmdir(path.join(record.destination, rel));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOTEMPTY" && code !== "ENOENT" && code !== "EEXIST") failures.push(`${rel}/: ${errorText(err)}`);
    }
  }
  if (failures.length > 0) {
    throw new WorkerError(moduleLabel(cfg), cfg.kernelVersion, "remove firmware", `could not remove from ${record.destination}: ${failures.join("; ")}`);
  }
  await rm(recordPath(cfg), { force: true });
  deps.logger.info({ destination: record.destination, files: removed }, `removed ${removed.length} firmware file(s)`);
  return removed;
}

export async function loadKmod(cfg: WorkerConfig, deps: WorkerDeps): Promise<LoadReport> {
  const commands: ModprobeResult[] = [];
  const mp = cfg.modprobe;
  deps.logger.info({ module: moduleLabel(cfg), kernel: cfg.kernelVersion, image: cfg.containerImage }, "loading kernel module");

  if (cfg.firmwareClassPath !== undefined) await setFirmwareClassPath(cfg, deps, cfg.firmwareClassPath);

  const inTreeRemoved: string[] = [];
  if (cfg.inTreeModulesToRemove.length > 0) {
    for (const name of cfg.inTreeModulesToRemove) {
      if (await isModuleLoaded(cfg.sysModuleDir, name)) inTreeRemoved.push(name);
    }
    const absent = cfg.inTreeModulesToRemove.filter((n) => !inTreeRemoved.includes(n));
    if (absent.length > 0) deps.logger.info({ modules: absent }, "in-tree modules not loaded; nothing to remove for them");
    if (inTreeRemoved.length > 0) {
      commands.push(await runStep(cfg, deps, "remove in-tree modules", inTreeRemoveArgs(cfg, inTreeRemoved)));
    }
  }

  const firmwareCopied = mp.firmwarePath !== undefined ? await copyFirmware(cfg, deps, mp.firmwarePath) : [];

  if (mp.modulesLoadingOrder !== undefined && mp.modulesLoadingOrder.length > 0) {
    const file = path.join(cfg.modprobeConfigDir, SOFTDEP_FILE);
    try {
      await mkdir(cfg.modprobeConfigDir, { recursive: true });
      await writeFile(file, softdepConfig(mp.modulesLoadingOrder));
    } catch (err) {
      throw new WorkerError(moduleLabel(cfg), cfg.kernelVersion, "write softdep config", `${file}: ${errorText(err)}`);
    }
    deps.logger.info({ file, order: mp.modulesLoadingOrder }, "wrote softdep config");
  }

  commands.push(await runStep(cfg, deps, "load module", loadArgs(cfg)));

  const ready = path.join(cfg.stateDir, READY_FILE);
  try {
    await mkdir(cfg.stateDir, { recursive: true });
    await writeFile(ready, `${moduleLabel(cfg)} ${cfg.kernelVersion}\n`);
  } catch (err) {
    throw new WorkerError(moduleLabel(cfg), cfg.kernelVersion, "mark ready", `${ready}: ${errorText(err)}`);
  }
  deps.logger.info({ module: moduleLabel(cfg), kernel: cfg.kernelVersion, readyFile: ready }, "kernel module loaded");
  return { commands, firmwareCopied, inTreeRemoved };
}

export async function unloadKmod(cfg: WorkerConfig, deps: WorkerDeps): Promise<UnloadReport> {
  const mp = cfg.modprobe;
  deps.logger.info({ module: moduleLabel(cfg), kernel: cfg.kernelVersion }, "unloading kernel module");
  // Not ready any more from the moment unloading starts.
  await rm(path.join(cfg.stateDir, READY_FILE), { force: true });

  const commands = [await runStep(cfg, deps, "unload module", unloadArgs(cfg))];
  const firmwareRemoved = mp.firmwarePath !== undefined ? await removeFirmware(cfg, deps, mp.firmwarePath) : [];
  if (mp.modulesLoadingOrder !== undefined && mp.modulesLoadingOrder.length > 0) {
    await rm(path.join(cfg.modprobeConfigDir, SOFTDEP_FILE), { force: true });
  }
  deps.logger.info({ module: moduleLabel(cfg), kernel: cfg.kernelVersion }, "kernel module unloaded");
  return { commands, firmwareRemoved };
}
