// One pod on the real node, from volumes to termination: init containers in order, then the
// containers, each restarted by the pod's restartPolicy with the kubelet's back-off; readiness and
// liveness probes; termination messages; the status written back after every change; and on
// deletion SIGTERM, the grace period, SIGKILL.
import { createConnection } from "node:net";
import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import type { RawClient } from "../../../shared/kube/raw.ts";
import { isNotFound } from "../../../shared/kube/raw.ts";
import type { Logger } from "../../../shared/runtime/logger.ts";
import { checkNonRoot, containerRunArgs, expandCommand, POD_UID_LABEL } from "./container-args.ts";
import { ContainerConfigError, containerEnv, expand, type DataSource } from "./env.ts";
import { ensureImage, ImagePullError } from "./images.ts";
import { podKey, type Pod, type PodContainer } from "./pod.ts";
import type { Podman } from "./podman.ts";
import { podStatus, type ContainerRecord, type PodCondition, type Terminated } from "./status.ts";
import { prepareVolume, tokenVolumes, type PreparedVolume, type TokenSource } from "./volumes.ts";

/** The kubelet's crash-loop back-off: 10 s doubling to 5 min, forgotten after 10 min of running. */
export interface Backoff {
  initialMs: number;
  maxMs: number;
}
export const KUBELET_BACKOFF: Backoff = { initialMs: 10_000, maxMs: 300_000 };
const BACKOFF_RESET_MS = 600_000;
/** The kubelet caps a termination message at 4096 bytes, and a message from logs at 80 lines / 2048 bytes. */
const MAX_TERMINATION_MESSAGE = 4096;

export interface RunnerDeps {
  node: string;
  hostIP: string;
  podman: Podman;
  raw: RawClient;
  data: DataSource;
  tokens: TokenSource;
  /** the API server as containers reach it (KUBERNETES_SERVICE_HOST/PORT) */
  apiServer: URL;
  /** per-pod folders live under it */
  podsDir: string;
  hostRoot: string;
  /** container log files go here: `<node>_<namespace>_<pod>_<container>.log` */
  logDir: string;
  certDir?: string | undefined;
  backoff: Backoff;
  log: Logger;
  event(pod: Pod, type: "Normal" | "Warning", reason: string, message: string): void;
}

type Kind = "init" | "main";

class Stopped extends Error {}

export class PodRunner {
  private pod: Pod;
  private readonly deps: RunnerDeps;
  private readonly dir: string;
  private readonly init: ContainerRecord[];
  private readonly main: ContainerRecord[];
  /** podman names of the containers running now, by container name */
  private readonly live = new Map<string, string>();
  private volumes = new Map<string, PreparedVolume>();
  private sandboxReady = false;
  private readonly startTime = new Date().toISOString();
  private conditions: PodCondition[] = [];
  private stopping = false;
  private stopSignal!: () => void;
  private readonly stopped = new Promise<void>((r) => (this.stopSignal = r));
  private done: Promise<void> | undefined;
  private writing: Promise<void> | undefined;
  private dirty = false;
  private lastWritten = "";
  private tokenTimer: NodeJS.Timeout | undefined;
  /** runs started per container (the next run's number) */
  private readonly runs = new Map<ContainerRecord, number>();

  constructor(pod: Pod, deps: RunnerDeps) {
    this.pod = pod;
    this.deps = deps;
    this.dir = join(deps.podsDir, pod.metadata.uid);
    const record = (c: PodContainer, reason: string): ContainerRecord => ({ name: c.name, image: c.image ?? "", imageID: "", state: { waiting: { reason } }, restartCount: 0, ready: false });
    this.init = (pod.spec.initContainers ?? []).map((c) => record(c, "PodInitializing"));
    this.main = pod.spec.containers.map((c) => record(c, (pod.spec.initContainers ?? []).length > 0 ? "PodInitializing" : "ContainerCreating"));
  }

  get uid(): string {
    return this.pod.metadata.uid;
  }

  /** A newer version of the pod (labels and annotations feed the downward API). */
  update(pod: Pod): void {
    this.pod = pod;
  }

  start(): void {
    this.done = this.run().catch((err: unknown) => {
      if (!(err instanceof Stopped)) this.deps.log.error({ pod: podKey(this.pod), err: String(err) }, "pod runner failed");
    });
  }

  /** Stops every container (SIGTERM, `graceSeconds`, SIGKILL), writes the final status, removes the pod's folder. */
  async terminate(graceSeconds: number, writeStatus: boolean): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.stopSignal();
      if (this.tokenTimer) clearInterval(this.tokenTimer);
      const names = [...this.live.values()];
      if (names.length > 0) this.deps.event(this.pod, "Normal", "Killing", `Stopping container(s) ${[...this.live.keys()].join(", ")}`);
      await Promise.all(names.map((n) => this.deps.podman.stop(n, graceSeconds).catch(() => undefined)));
    }
    await this.done;
    await this.deps.podman.removeLabelled(`${POD_UID_LABEL}=${this.uid}`).catch(() => undefined);
    if (writeStatus) {
      for (const c of this.main) c.ready = false;
      await this.writeStatus();
    }
    await rm(this.dir, { recursive: true, force: true });
  }

  private podmanName(container: string, attempt: number): string {
    const m = this.pod.metadata;
    return `k8s_${container}_${m.name}_${m.namespace}_${m.uid.slice(0, 8)}_${attempt}`;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(resolve, ms);
      void this.stopped.then(() => {
        clearTimeout(t);
        reject(new Stopped());
      });
    });
  }

  private checkStopping(): void {
    if (this.stopping) throw new Stopped();
  }

  private async run(): Promise<void> {
    await mkdir(join(this.dir, "containers"), { recursive: true });
    await this.prepareVolumes();
    this.refreshTokens();
    const policy = this.pod.spec.restartPolicy ?? "Always";
    const initSpecs = this.pod.spec.initContainers ?? [];
    for (const [i, spec] of initSpecs.entries()) {
      const rec = this.init[i]!;
      let failures = 0;
      for (;;) {
        const code = await this.attempt(spec, rec, "init");
        if (code === 0) break;
        if (code !== undefined && policy === "Never") {
          this.scheduleStatus();
          return;
        }
        await this.backOff(rec, failures++, code === undefined);
      }
    }
    // Settled, not all: when the pod stops, every container's loop has ended before the runner is done.
    const results = await Promise.allSettled(this.pod.spec.containers.map((spec, i) => this.runMain(spec, this.main[i]!, policy)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  }

  private async runMain(spec: PodContainer, rec: ContainerRecord, policy: "Always" | "OnFailure" | "Never"): Promise<void> {
    let failures = 0;
    for (;;) {
      const began = Date.now();
      const code = await this.attempt(spec, rec, "main");
      if (code !== undefined) {
        if (policy === "Never" || (policy === "OnFailure" && code === 0)) return;
        if (Date.now() - began > BACKOFF_RESET_MS) failures = 0;
      }
      await this.backOff(rec, failures++, code === undefined);
    }
  }

  /** Waits out the back-off, showing why in the container's waiting state. */
  private async backOff(rec: ContainerRecord, failures: number, pullOrConfig: boolean): Promise<void> {
    const { initialMs, maxMs } = this.deps.backoff;
    const ms = Math.min(maxMs, initialMs * 2 ** failures);
    const waiting = "waiting" in rec.state ? rec.state.waiting : undefined;
    if (pullOrConfig) {
      if (waiting?.reason === "ErrImagePull") rec.state = { waiting: { reason: "ImagePullBackOff", message: `Back-off pulling image "${rec.image}": ${waiting.message ?? ""}` } };
    } else {
      const msg = `back-off ${Math.round(ms / 1000)}s restarting failed container=${rec.name} pod=${this.pod.metadata.name}_${this.pod.metadata.namespace}(${this.pod.metadata.uid})`;
      if ("terminated" in rec.state) rec.lastState = { terminated: rec.state.terminated };
      rec.state = { waiting: { reason: "CrashLoopBackOff", message: msg } };
      this.deps.event(this.pod, "Warning", "BackOff", `Back-off restarting failed container ${rec.name} in pod ${podKey(this.pod)}`);
    }
    this.scheduleStatus();
    await this.sleep(ms);
  }

  private async prepareVolumes(): Promise<void> {
    let failures = 0;
    for (;;) {
      try {
        const out = new Map<string, PreparedVolume>();
        for (const v of this.pod.spec.volumes ?? []) out.set(v.name, await prepareVolume(this.pod, v, this.volumeContext()));
        this.volumes = out;
        this.sandboxReady = true;
        this.scheduleStatus();
        return;
      } catch (err) {
        if (!(err instanceof ContainerConfigError)) throw err;
        for (const rec of [...this.init, ...this.main]) rec.state = { waiting: { reason: "ContainerCreating" } };
        this.deps.event(this.pod, "Warning", "FailedMount", `MountVolume.SetUp failed: ${err.message}`);
        this.scheduleStatus();
        await this.sleep(Math.min(this.deps.backoff.maxMs, this.deps.backoff.initialMs * 2 ** failures++));
      }
    }
  }

  private volumeContext() {
    return { podDir: this.dir, hostRoot: this.deps.hostRoot, data: this.deps.data, tokens: this.deps.tokens, facts: { hostIP: this.deps.hostIP, podIP: this.deps.hostIP } };
  }

  /** Tokens are rewritten well before they expire (the kubelet renews at 80 % of their life). */
  private refreshTokens(): void {
    const vols = tokenVolumes(this.pod);
    if (vols.length === 0) return;
    const seconds = Math.min(...vols.flatMap((v) => (v.projected?.sources ?? []).map((s) => s.serviceAccountToken?.expirationSeconds ?? 3600)));
    this.tokenTimer = setInterval(() => {
      void Promise.all(vols.map((v) => prepareVolume(this.pod, v, this.volumeContext()))).catch((err: unknown) =>
        this.deps.log.warn({ pod: podKey(this.pod), err: String(err) }, "token refresh failed"),
      );
    }, Math.max(60, seconds * 0.8) * 1000);
    this.tokenTimer.unref();
  }

  /**
   * One run of a container: image, environment, start, wait. Resolves with the exit code, or
   * undefined when it could not be created (pull or configuration error, shown as waiting).
   */
  private async attempt(spec: PodContainer, rec: ContainerRecord, kind: Kind): Promise<number | undefined> {
    this.checkStopping();
    const pod = this.pod;
    const { podman } = this.deps;
    let imageRef: string;
    let env: Map<string, string>;
    try {
      const image = await ensureImage({
        podman,
        container: spec,
        pullSecrets: await this.pullSecrets(),
        podDir: this.dir,
        certDir: this.deps.certDir,
        onPull: (img) => this.deps.event(pod, "Normal", "Pulling", `Pulling image "${img}"`),
      });
      rec.imageID = image.RepoDigests?.[0] ?? `sha256:${image.Id}`;
      imageRef = image.Id;
      checkNonRoot(pod, spec, image.Config?.User);
      env = await containerEnv(pod, spec, this.deps.data, { hostIP: this.deps.hostIP, podIP: this.deps.hostIP }, this.deps.apiServer);
    } catch (err) {
      if (err instanceof ImagePullError) {
        rec.state = { waiting: { reason: err.reason, message: err.message } };
        this.deps.event(pod, "Warning", "Failed", `Failed to pull image "${rec.image}": ${err.message}`);
      } else if (err instanceof ContainerConfigError) {
        rec.state = { waiting: { reason: "CreateContainerConfigError", message: err.message } };
        this.deps.event(pod, "Warning", "Failed", `Error: ${err.message}`);
      } else throw err;
      this.scheduleStatus();
      return undefined;
    }
    this.checkStopping();

    // A new run of a container that ran before is a restart; its last run becomes lastState.
    const attemptNo = this.runs.get(rec) ?? 0;
    if (attemptNo > 0) {
      if ("terminated" in rec.state) rec.lastState = { terminated: rec.state.terminated };
      rec.restartCount = attemptNo;
    }
    this.runs.set(rec, attemptNo + 1);
    const name = this.podmanName(spec.name, attemptNo);
    const terminationFile = join(this.dir, "containers", `${spec.name}-${attemptNo}-termination-log`);
    // Writable by whatever user the container runs as (the kubelet's mode too); chmod: the umask applies to writeFile.
    await writeFile(terminationFile, "");
    await chmod(terminationFile, 0o666);
    const expanded = expandCommand(spec, (s) => expand(s, env));
    let args: string[];
    try {
      args = containerRunArgs({
        pod,
        container: expanded,
        name,
        node: this.deps.node,
        image: imageRef,
        env,
        volumes: this.volumes,
        terminationFile,
        logFile: join(this.deps.logDir, `${this.deps.node}_${pod.metadata.namespace}_${pod.metadata.name}_${spec.name}.log`),
      });
    } catch (err) {
      if (!(err instanceof ContainerConfigError)) throw err;
      rec.state = { waiting: { reason: "CreateContainerConfigError", message: err.message } };
      this.scheduleStatus();
      return undefined;
    }
    await podman.remove(name);
    let id: string;
    try {
      id = await podman.start(args);
    } catch (err) {
      // The runtime refused to start it (no such executable …): the kubelet reports StartError, 128.
      const message = err instanceof Error ? err.message : String(err);
      const now = new Date().toISOString();
      rec.state = { terminated: { exitCode: 128, reason: "StartError", message, startedAt: now, finishedAt: now } };
      this.deps.event(pod, "Warning", "Failed", `Error: ${message}`);
      await podman.remove(name).catch(() => undefined);
      this.scheduleStatus();
      return 128;
    }
    this.live.set(spec.name, name);
    rec.containerID = `podman://${id}`;
    const inspected = await podman.inspect(name);
    rec.state = { running: { startedAt: inspected?.State.StartedAt !== undefined ? toRfc3339(inspected.State.StartedAt) : new Date().toISOString() } };
    rec.ready = kind === "main" && spec.readinessProbe === undefined;
    this.deps.event(pod, "Normal", "Started", `Started container ${spec.name}`);
    this.scheduleStatus();
    if (this.stopping) await podman.stop(name, 0).catch(() => undefined);

    const probes = new AbortController();
    if (kind === "main") {
      if (spec.readinessProbe) void this.probeLoop(spec, rec, name, "readiness", probes.signal);
      if (spec.livenessProbe) void this.probeLoop(spec, rec, name, "liveness", probes.signal);
    }
    await podman.wait(name);
    probes.abort();
    this.live.delete(spec.name);
    rec.ready = false;
    const after = await podman.inspect(name);
    const exitCode = after?.State.ExitCode ?? 137;
    const terminated: Terminated = {
      exitCode,
      reason: after?.State.OOMKilled === true ? "OOMKilled" : exitCode === 0 ? "Completed" : "Error",
      ...(after ? { startedAt: toRfc3339(after.State.StartedAt), finishedAt: toRfc3339(after.State.FinishedAt) } : {}),
      containerID: rec.containerID,
    };
    const message = await this.terminationMessage(spec, terminationFile, exitCode);
    if (message !== "") terminated.message = message;
    rec.state = { terminated };
    await podman.remove(name).catch(() => undefined);
    this.scheduleStatus();
    return exitCode;
  }

  private async terminationMessage(spec: PodContainer, file: string, exitCode: number): Promise<string> {
    const fromFile = (await readFile(file, "utf8").catch(() => "")).slice(0, MAX_TERMINATION_MESSAGE);
    if (fromFile !== "" || spec.terminationMessagePolicy !== "FallbackToLogsOnError" || exitCode === 0) return fromFile;
    const logFile = join(this.deps.logDir, `${this.deps.node}_${this.pod.metadata.namespace}_${this.pod.metadata.name}_${spec.name}.log`);
    const lines = (await readFile(logFile, "utf8").catch(() => "")).split("\n").filter(Boolean).slice(-80);
    // CRI log lines: `<time> <stream> <F|P> <text>`.
    const text = lines.map((l) => l.replace(/^\S+ (stdout|stderr) [FP] /, "")).join("\n");
    return text.slice(-2048);
  }

  private async probeLoop(spec: PodContainer, rec: ContainerRecord, name: string, kind: "readiness" | "liveness", signal: AbortSignal): Promise<void> {
    const probe = kind === "readiness" ? spec.readinessProbe! : spec.livenessProbe!;
    const period = (probe.periodSeconds ?? 10) * 1000;
    const failureThreshold = probe.failureThreshold ?? 3;
    const successThreshold = probe.successThreshold ?? 1;
    let successes = 0, failures = 0;
    try {
      await this.sleep((probe.initialDelaySeconds ?? 0) * 1000);
      const aborted = (): boolean => signal.aborted;
      while (!aborted()) {
        const ok = await this.probeOnce(spec, name, probe);
        if (aborted()) return;
        if (ok.success) {
          failures = 0;
          successes++;
          if (kind === "readiness" && !rec.ready && successes >= successThreshold) {
            rec.ready = true;
            this.scheduleStatus();
          }
        } else {
          successes = 0;
          failures++;
          this.deps.event(this.pod, "Warning", "Unhealthy", `${kind === "readiness" ? "Readiness" : "Liveness"} probe failed: ${ok.detail}`);
          if (kind === "readiness" && rec.ready && failures >= failureThreshold) {
            rec.ready = false;
            this.scheduleStatus();
          }
          if (kind === "liveness" && failures >= failureThreshold) {
            this.deps.event(this.pod, "Normal", "Killing", `Container ${spec.name} failed liveness probe, will be restarted`);
            await this.deps.podman.stop(name, probe.terminationGracePeriodSeconds ?? this.pod.spec.terminationGracePeriodSeconds ?? 30);
            return;
          }
        }
        await this.sleep(period);
      }
    } catch (err) {
      if (!(err instanceof Stopped)) this.deps.log.warn({ pod: podKey(this.pod), err: String(err) }, `${kind} probe loop failed`);
    }
  }

  /** exec (in the container), httpGet and tcpSocket (on the host's loopback: the pod's address). */
  private async probeOnce(spec: PodContainer, name: string, probe: NonNullable<PodContainer["readinessProbe"]>): Promise<{ success: boolean; detail: string }> {
    const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
    if (probe.exec) {
      // podman exec itself takes a few hundred ms on a busy machine: it gets 5 s on top of the probe's timeout.
      const r = await this.deps.podman.exec(name, probe.exec.command ?? [], timeoutMs + 5000);
      return { success: r.code === 0, detail: r.code === 0 ? "" : `command ${JSON.stringify(probe.exec.command)} exited with ${String(r.code)}: ${r.output.trim().slice(0, 200)}` };
    }
    const port = (p: number | string): number => {
      if (typeof p === "number") return p;
      const found = (spec.ports ?? []).find((x) => x.name === p);
      return found?.containerPort ?? Number.NaN;
    };
    if (probe.httpGet) {
      const g = probe.httpGet;
      const https = g.scheme === "HTTPS";
      const url = `${https ? "https" : "http"}://${g.host ?? this.deps.hostIP}:${port(g.port)}${g.path ?? "/"}`;
      return new Promise((resolve) => {
        const headers = Object.fromEntries((g.httpHeaders ?? []).map((h) => [h.name, h.value]));
        const req = (https ? httpsRequest : httpRequest)(url, { timeout: timeoutMs, headers, ...(https ? { rejectUnauthorized: false } : {}) }, (res) => {
          res.resume();
          const code = res.statusCode ?? 0;
          resolve({ success: code >= 200 && code < 400, detail: `HTTP probe failed with statuscode: ${code}` });
        });
        req.on("timeout", () => req.destroy(new Error(`Get "${url}": timeout`)));
        req.on("error", (e) => resolve({ success: false, detail: `Get "${url}": ${e.message}` }));
        req.end();
      });
    }
    if (probe.tcpSocket) {
      const p = port(probe.tcpSocket.port);
      return new Promise((resolve) => {
        const s = createConnection({ host: probe.tcpSocket?.host ?? this.deps.hostIP, port: p, timeout: timeoutMs });
        s.once("connect", () => { s.destroy(); resolve({ success: true, detail: "" }); });
        s.once("timeout", () => { s.destroy(); resolve({ success: false, detail: `dial tcp ${p}: timeout` }); });
        s.once("error", (e) => resolve({ success: false, detail: `dial tcp ${p}: ${e.message}` }));
      });
    }
    return { success: false, detail: "probe has no exec, httpGet or tcpSocket handler (grpc is not supported by the fleet's node agent)" };
  }

  private async pullSecrets(): Promise<unknown[]> {
    const out: unknown[] = [];
    for (const ref of this.pod.spec.imagePullSecrets ?? []) {
      if (ref.name === undefined) continue;
      try {
        out.push((await this.deps.raw.request("GET", `/api/v1/namespaces/${encodeURIComponent(this.pod.metadata.namespace)}/secrets/${encodeURIComponent(ref.name)}`)).body);
      } catch (err) {
        // As the kubelet: a missing pull secret is a warning, and the pull goes on without it.
        if (!isNotFound(err)) throw err;
        this.deps.event(this.pod, "Warning", "FailedToRetrieveImagePullSecret", `Unable to retrieve some image pull secrets (${ref.name}); attempting to pull the image may not succeed.`);
      }
    }
    return out;
  }

  /** Coalesced status writes: one in flight, one more if anything changed meanwhile. */
  private scheduleStatus(): void {
    this.dirty = true;
    this.writing ??= (async () => {
      while (this.dirty) {
        this.dirty = false;
        await this.writeStatus().catch((err: unknown) => this.deps.log.warn({ pod: podKey(this.pod), err: String(err) }, "pod status write failed"));
      }
      this.writing = undefined;
    })();
  }

  private async writeStatus(): Promise<void> {
    const status = podStatus({
      restartPolicy: this.pod.spec.restartPolicy ?? "Always",
      init: this.init,
      containers: this.main,
      sandboxReady: this.sandboxReady,
      hostIP: this.deps.hostIP,
      startTime: this.startTime,
      previous: this.conditions,
      now: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    });
    this.conditions = status.conditions;
    const body = JSON.stringify({ status });
    if (body === this.lastWritten) return;
    const m = this.pod.metadata;
    try {
      await this.deps.raw.request("PATCH", `/api/v1/namespaces/${encodeURIComponent(m.namespace)}/pods/${encodeURIComponent(m.name)}/status`, { metadata: { uid: m.uid }, status }, "application/strategic-merge-patch+json");
      this.lastWritten = body;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /** Resolves when the pod's containers ran to the end (restartPolicy Never/OnFailure) or it was stopped. */
  finished(): Promise<void> {
    return this.done ?? Promise.resolve();
  }
}

/** podman prints times as `2026-11-30 17:53:36.829734214 +0000 UTC`; the API wants RFC 3339 seconds. */
export function toRfc3339(t: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})/.exec(t);
  return m ? `${m[1]}T${m[2]}Z` : new Date().toISOString().replace(/\.\d+Z$/, "Z");
}
