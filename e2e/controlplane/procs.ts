// Child processes of a fleet: each logs to its own file, runs in its own process group,
// and is stopped by stopAll(), by the exit of the Node process, or — when the test runner
// is killed outright — by a watchdog that outlives it and reaps what it left behind.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { appendFile, readFile } from "node:fs/promises";
import { join } from "node:path";
import { freePort } from "../../shared/testing/ports.ts";

export { freePort };

export class ComponentExitedError extends Error {
  readonly component: string;
  readonly logFile: string;
  constructor(
    component: string,
    logFile: string,
    code: number | null,
    signal: string | null,
    tail: string,
  ) {
    super(`${component} exited (code ${String(code)}, signal ${String(signal)}); log: ${logFile}\n--- last lines ---\n${tail}`);
    this.component = component;
    this.logFile = logFile;
  }
}

export interface ManagedProcess {
  name: string;
  pid: number;
  logFile: string;
  child: ChildProcess;
  exited: Promise<void>;
}

const live = new Set<ProcessGroup>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const g of live) g.killNow();
  });
}

export function tailOf(file: string, lines = 30): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

export class ProcessGroup {
  private readonly procs: ManagedProcess[] = [];
  private readonly pidFile: string;
  private readonly cleanupFile: string;
  private readonly tmpDir: string;
  private stopping = false;
  private watchdog?: ChildProcess;
  /** the first process that exited before stopAll(), and who waits to hear of it */
  private exitedEarly?: ComponentExitedError;
  private readonly exitWatchers: ((err: ComponentExitedError) => void)[] = [];
  /** Processes stopped on purpose (stopOne): their exit is no failure. Their extra environment, to start them again. */
  private readonly stoppedOnPurpose = new Set<number>();
  private readonly envs = new Map<number, Record<string, string>>();

  readonly dir: string;
  private readonly persistent: boolean;
  /** @param persistent keep processes running after this Node process exits (the fleet CLI). */
  constructor(
    dir: string,
    persistent = false,
  ) {
    this.dir = dir;
    this.persistent = persistent;
    this.pidFile = join(dir, "pids");
    this.cleanupFile = cleanupFileOf(dir);
    this.tmpDir = join(dir, "tmp");
    mkdirSync(this.tmpDir, { recursive: true });
    writeFileSync(this.pidFile, "");
    if (!persistent) {
      live.add(this);
      installExitHook();
      this.startWatchdog();
    }
  }

  private startWatchdog(): void {
    // Polls for this process; once it is gone, TERMs then KILLs every recorded process group.
    const script = `
      while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done
      pids=$(cat '${this.pidFile}' 2>/dev/null)
      for p in $pids; do kill -TERM -- -$p 2>/dev/null; done
      sleep 3
      for p in $pids; do kill -KILL -- -$p 2>/dev/null; done
      [ -f '${this.cleanupFile}' ] && bash '${this.cleanupFile}' >/dev/null 2>&1`;
    this.watchdog = spawn("bash", ["-c", script], { detached: true, stdio: "ignore" });
    this.watchdog.unref();
  }

  start(name: string, cmd: string, args: string[], env: Record<string, string> = {}): ManagedProcess {
    // A start that lost a race with stopAll (a failed fleet start whose other steps still run)
    // would leave an orphan that no one stops.
    if (this.stopping) throw new Error(`not starting ${name}: the process group is stopping`);
    const logFile = join(this.dir, `${name}.log`);
    const fd = openSync(logFile, "a");
    const child = spawn(cmd, args, {
      detached: true,
      stdio: ["ignore", fd, fd],
      // Temporary files (OCM agents' self-signed serving certificates …) stay in the fleet's folder.
      env: { ...process.env, TMPDIR: this.tmpDir, ...env },
    });
    closeSync(fd);
    if (child.pid === undefined) throw new Error(`could not start ${name} (${cmd})`);
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.once("exit", (code, signal) => {
      if (this.stopping || this.exitedEarly !== undefined || this.stoppedOnPurpose.has(child.pid ?? -1)) return;
      this.exitedEarly = new ComponentExitedError(name, logFile, code, signal, tailOf(logFile));
      for (const w of this.exitWatchers.splice(0)) w(this.exitedEarly);
    });
    const proc: ManagedProcess = { name, pid: child.pid, logFile, child, exited };
    this.envs.set(child.pid, env);
    this.procs.push(proc);
    void appendFile(this.pidFile, `${child.pid}\n`);
    if (this.persistent) child.unref();
    return proc;
  }

  /**
   * Rejects with a ComponentExitedError (name, exit code or signal, log tail) as soon as any process
   * of the group exits before stopAll() — processes started after this call included.
   */
  failOnExit(): Promise<never> {
    return new Promise((_, reject) => {
      if (this.exitedEarly !== undefined) reject(this.exitedEarly);
      else this.exitWatchers.push(reject);
    });
  }

  /**
   * Stops one running process on purpose (a fault test stopping etcd or a work agent; SIGTERM, then
   * SIGKILL after `graceMs`) and returns a function that starts it again with the same command line,
   * environment and log file. Its exit is not reported as a failure of the group.
   */
  async stopOne(name: string, graceMs = 5000): Promise<() => ManagedProcess> {
    const p = this.procs.find((x) => x.name === name && x.child.exitCode === null && x.child.signalCode === null);
    if (p === undefined) throw new Error(`no running process ${name} in the group`);
    this.stoppedOnPurpose.add(p.pid);
    signalGroup(p.pid, "SIGTERM");
    await Promise.race([p.exited, sleep(graceMs)]);
    signalGroup(p.pid, "SIGKILL");
    await p.exited;
    const [cmd = "", ...args] = p.child.spawnargs;
    return () => this.start(name, cmd, args, this.envs.get(p.pid) ?? {});
  }

  async stopAll(graceMs = 5000): Promise<void> {
    this.stopping = true;
    // Reverse start order: agents before API servers before etcd.
    const procs = [...this.procs].reverse();
    for (const p of procs) signalGroup(p.pid, "SIGTERM");
    await Promise.race([Promise.all(procs.map((p) => p.exited)), sleep(graceMs)]);
    for (const p of procs) signalGroup(p.pid, "SIGKILL");
    await Promise.race([Promise.all(procs.map((p) => p.exited)), sleep(2000)]);
    await runCleanup(this.dir);
    this.watchdog?.kill("SIGKILL");
    live.delete(this);
  }

  killNow(): void {
    this.stopping = true;
    for (const p of this.procs) signalGroup(p.pid, "SIGKILL");
    // This process is exiting: the clean-up runs on its own.
    if (existsSync(this.cleanupFile)) spawn("bash", [this.cleanupFile], { detached: true, stdio: "ignore" }).unref();
    this.watchdog?.kill("SIGKILL");
  }

  /**
   * A shell command to run once the group's processes are gone — in stopAll, in the watchdog, and
   * in `fleet down` — for what outlives a killed process (containers held by conmon, for instance).
   */
  addCleanup(command: string): void {
    appendFileSync(this.cleanupFile, `${command}\n`);
  }

  get processes(): readonly ManagedProcess[] {
    return this.procs;
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** Kills the process groups listed in a fleet folder's pid file (fleet CLI `down`). */
export async function killRecorded(dir: string): Promise<number> {
  let text = "";
  try {
    text = await readFile(join(dir, "pids"), "utf8");
  } catch {
    return 0;
  }
  const pids = text.split("\n").filter(Boolean).map(Number);
  let n = 0;
  for (const pid of pids) {
    try {
      process.kill(-pid, "SIGTERM");
      n++;
    } catch {
      // not running
    }
  }
  await sleep(3000);
  for (const pid of pids) signalGroup(pid, "SIGKILL");
  await runCleanup(dir);
  return n;
}

function cleanupFileOf(dir: string): string {
  return join(dir, "cleanup.sh");
}

/** Runs the clean-up commands recorded with addCleanup (none: nothing to do). */
async function runCleanup(dir: string): Promise<void> {
  const file = cleanupFileOf(dir);
  if (!existsSync(file)) return;
  await new Promise<void>((resolve) => {
    execFile("bash", [file], { timeout: 120_000 }, () => resolve());
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  opts: { timeoutMs?: number; intervalMs?: number; abort?: Promise<never> } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let lastErr: unknown;
  const loop = async (): Promise<T> => {
    while (Date.now() < deadline) {
      try {
        const v = await fn();
        if (v !== undefined && v !== false) return v;
      } catch (err) {
        lastErr = err;
      }
      await sleep(opts.intervalMs ?? 250);
    }
    throw new Error(`timed out waiting for ${what}${lastErr instanceof Error ? `: ${lastErr.message}` : ""}`);
  };
  return opts.abort ? Promise.race([loop(), opts.abort]) : loop();
}
