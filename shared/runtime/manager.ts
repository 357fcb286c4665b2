// Wires the runtime together the way controller-runtime's manager does:
// servers first, then informers (on every replica, so a new leader starts with a
// warm cache) and the leader election campaign side by side, and controllers only
// on the leader once every cache has synced. Campaigning while the caches fill
// matters after a crash: the dead holder's Lease must expire first, and that wait
// (leaseDuration) overlaps the list instead of following it.
// Losing the lease stops the controllers at once and ends `run()` with an error,
// so the process exits and restarts as a candidate (controller-runtime's behaviour).
import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { Registry, collectDefaultMetrics } from "prom-client";
import { podNamespace, type KubeConnection } from "../kube/connection.ts";
import { RawClient } from "../kube/raw.ts";
import type { OperatorConfig } from "./config.ts";
import type { Controller } from "./controller.ts";
import { Informer, type InformerOptions, type ObjectWithMeta, resourcePath } from "./informer.ts";
import { LeaderElector } from "./leader-election.ts";
import { ApiServerProbe } from "./apiserver-probe.ts";
import { IdleMemoryRelease, type MemoryReducingGc } from "./idle-release.ts";
import { type Logger, createLogger } from "./logger.ts";
import { kubeMetricsAuthorizer, selfSignedCertificate } from "./metrics-auth.ts";
import { CheckRegistry, type RunningServers, type ServeOptions, serve } from "./server.ts";

export class LeaderElectionLostError extends Error {
  constructor(lease: string) {
    super(`lost leader election lease ${lease}; exiting so that this replica restarts as a candidate`);
    this.name = "LeaderElectionLostError";
  }
}

export class CacheSyncTimeoutError extends Error {
  constructor(timeoutMs: number, unsynced: { name: string; error: string | undefined }[]) {
    super(
      `caches not synced within ${timeoutMs} ms: ${unsynced.map((u) => `${u.name}${u.error ? ` (${u.error})` : ""}`).join(", ")}; ` +
        "check that the CRDs are installed and that the service account may list and watch these kinds",
    );
    this.name = "CacheSyncTimeoutError";
  }
}

export class ManagerConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ManagerConfigError";
  }
}

/**
 * This replica's leader identity: `$POD_NAME` when its Deployment passes the pod's name (downward
 * API), else hostname + random suffix (controller-runtime's form). Why the pod's name alone: the
 * kubelet restarts a crashed container (SIGKILL, OOM kill, a lost lease) in the same pod only after
 * it has exited, so the new process is the holder's own successor and renews the Lease at once
 * (a candidate whose identity is the holder's may renew, as in client-go) instead of waiting a full
 * leaseDuration for its dead predecessor's Lease to expire. A new pod has a new name and waits as
 * any candidate does. Never give two live processes the same POD_NAME.
 */
export function defaultIdentity(env: NodeJS.ProcessEnv = process.env): string {
  const pod = env.POD_NAME;
  return pod !== undefined && pod !== "" ? pod : `${hostname()}_${randomBytes(4).toString("hex")}`;
}

export interface ManagerOptions {
  config: OperatorConfig;
  /** the API server; needed for leader election, informers and metrics authn/authz */
  connection?: KubeConnection;
  name: string;
  logger?: Logger;
  registry?: Registry;
  /** leader identity; default defaultIdentity() */
  identity?: string;
  /** namespace of the Lease; default config, then $POD_NAMESPACE, then the service account's namespace */
  leaseNamespace?: string;
  /** give up starting when caches are not synced by then (controller-runtime: 2 min) */
  cacheSyncTimeoutMs?: number;
  /**
   * Run `collect` (a memory-reducing full GC, idle-release.ts) `idleMs` after the caches synced and
   * after each burst of reconciles, never while a controller has keys queued or in flight (nor while
   * a check given to addBusyCheck says busy); omitted → never (a node without --expose-gc has no
   * such GC).
   */
  memoryRelease?: { idleMs: number; collect: MemoryReducingGc };
}

interface Runnable {
  start(): void;
  stop(): Promise<void>;
}

export class Manager {
  readonly registry: Registry;
  readonly logger: Logger;
  readonly checks = new CheckRegistry();
  private readonly opts: ManagerOptions;
  private readonly informers: Informer<ObjectWithMeta>[] = [];
  private readonly shared = new Map<string, { informer: Informer<ObjectWithMeta>; schema: unknown }>();
  private readonly controllers: Controller[] = [];
  private readonly leaderless: Runnable[] = [];
  private servers: RunningServers | undefined;
  private elector: LeaderElector | undefined;
  private controllersRunning = false;
  private cachesSynced = false;
  private finished: Promise<void> | undefined;
  private finish: ((err?: Error) => void) | undefined;
  private stopping: Promise<void> | undefined;
  private lost: LeaderElectionLostError | undefined;
  private reviewClient: RawClient | undefined;
  private probe: { probe: ApiServerProbe; raw: RawClient } | undefined;
  private readonly release: IdleMemoryRelease | undefined;

  constructor(opts: ManagerOptions) {
    this.opts = opts;
    if (opts.registry) {
      this.registry = opts.registry;
    } else {
      // Process metrics (RSS, CPU, event-loop lag) next to the controller ones, as Go operators have.
      this.registry = new Registry();
      collectDefaultMetrics({ register: this.registry });
    }
    this.logger = opts.logger ?? createLogger({ name: opts.name, level: opts.config.logLevel });
    this.checks.addHealthCheck("ping", () => true);
    if (opts.memoryRelease) this.release = new IdleMemoryRelease({ ...opts.memoryRelease, logger: this.logger });
  }

  /**
   * One shared informer per (resource, selectors): controllers that watch the same
   * kind share its cache and its single watch connection.
   */
  informer<T extends ObjectWithMeta>(opts: Omit<InformerOptions<T>, "connection" | "logger">): Informer<T> {
    if (!this.opts.connection) throw new ManagerConfigError("informers need a connection to the API server (a kubeconfig)");
    const key = JSON.stringify([resourcePath(opts.resource), opts.labelSelector ?? "", opts.fieldSelector ?? ""]);
    const existing = this.shared.get(key);
    if (existing) {
      if (existing.schema !== opts.schema) {
        throw new ManagerConfigError(`informer for ${key} was already created with a different schema; share one schema per kind`);
      }
      return existing.informer as unknown as Informer<T>;
    }
    const informer = this.addInformer(new Informer<T>({ ...opts, connection: this.opts.connection, logger: this.logger }));
    this.shared.set(key, { informer: informer as unknown as Informer<ObjectWithMeta>, schema: opts.schema });
    return informer;
  }

  /** The informer starts with the manager and gates readiness and the controllers. */
  addInformer<T extends ObjectWithMeta>(informer: Informer<T>): Informer<T> {
    this.informers.push(informer as unknown as Informer<ObjectWithMeta>);
    this.checks.addReadyCheck(`informer:${informer.name}`, informer.readinessCheck());
    return informer;
  }

  /** Controllers run only while this replica leads (or always, without leader election). */
  addController(controller: Controller): Controller {
    this.controllers.push(controller);
    const release = this.release;
    if (release) {
      controller.queue.onDone(() => { release.activity(); });
      release.addBusyCheck(() => controller.queue.len() > 0 || controller.queue.processingLen() > 0);
    }
    return controller;
  }

  /**
   * Work besides the controllers' reconciles (a status written after its reconcile): the memory
   * release waits `idleMs` after it. No-op without `memoryRelease`.
   */
  noteWork(): void {
    this.release?.activity();
  }

  /** Work under way besides the controllers' queues: the memory release waits while `busy()`. */
  addBusyCheck(busy: () => boolean): void {
    this.release?.addBusyCheck(busy);
  }

  /** Something that runs on every replica regardless of leadership (e.g. a cache warmer). */
  addRunnable(r: Runnable): void {
    this.leaderless.push(r);
  }

  /** Ports actually bound (useful with ":0" addresses); undefined before run() or when disabled. */
  ports(): { probe: number | undefined; metrics: number | undefined } {
    return { probe: this.servers?.probe?.port, metrics: this.servers?.metrics?.port };
  }

  /** This replica leads and its controllers run (a leader still filling its caches is not yet). */
  isLeader(): boolean {
    return this.controllersRunning && (!this.opts.config.leaderElection.enabled || (this.elector?.isLeader() ?? false));
  }

  /** Starts everything; resolves after a graceful stop, rejects when leadership is lost. */
  async run(): Promise<void> {
    if (this.finished) throw new Error("manager already started");
    this.finished = new Promise<void>((resolve, reject) => {
      this.finish = (err) => {
        if (err) reject(err);
        else resolve();
      };
    });
    const cfg = this.opts.config;
    this.servers = await serve(await this.serveOptions());
    this.logger.info(
      { probe: this.servers.probe?.port, metrics: this.servers.metrics?.port, secure: cfg.metrics.secureServing },
      "serving probes and metrics",
    );
    if (this.opts.connection) {
      // Readiness follows the API server too, not only the informers' watches (see ApiServerProbe).
      const raw = new RawClient(this.opts.connection);
      this.probe = { probe: new ApiServerProbe({ raw, logger: this.logger }), raw };
      this.checks.addReadyCheck("apiserver", this.probe.probe.readinessCheck());
      this.probe.probe.start();
    }
    for (const r of this.leaderless) r.start();
    for (const i of this.informers) i.start();
    if (cfg.leaderElection.enabled) {
      try {
        this.elector = this.makeElector(await this.leaseNamespace());
      } catch (err: unknown) {
        await this.stop();
        throw err;
      }
      void this.elector.run();
    }
    await this.waitForCaches();
    if (!this.stopping) {
      this.cachesSynced = true;
      this.logger.info({ informers: this.informers.length }, "caches synced");
      // Filling the caches was the first burst of work (the initial lists, the schemas built).
      this.release?.activity();
      // Without leader election, or when the Lease was won while the caches were filling.
      if (!cfg.leaderElection.enabled || this.elector?.isLeader() === true) this.startControllers();
    }
    return this.finished;
  }

  /** Graceful shutdown: stop reconciling (drain), release the lease, stop caches, close servers. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.logger.info("shutting down");
      this.release?.stop();
      if (this.lost === undefined) await this.stopControllers();
      else {
        // Lost the lease: no graceful drain (controller-runtime sets its graceful shutdown timeout to
        // 0 here). Work stops being handed out and in-flight reconciles are aborted at once; run()
        // rejects now, so the process exits (ending any write still in flight) instead of acting
        // for as long as its slowest reconcile takes, and its restart is not held up by it either.
        void this.stopControllers().catch((err: unknown) => { this.logger.error({ err }, "stopping the controllers failed"); });
      }
      await this.elector?.stop();
      await Promise.all([...this.informers.map((i) => i.stop()), ...this.leaderless.map((r) => r.stop())]);
      await this.servers?.close();
      this.reviewClient?.close();
      await this.probe?.probe.stop();
      this.probe?.raw.close();
      this.logger.info("shut down");
      this.finish?.(this.lost);
    })();
    return this.stopping;
  }

  /** SIGTERM/SIGINT → graceful stop. Returns a function that removes the handlers. */
  handleSignals(): () => void {
    const onSignal = (signal: NodeJS.Signals): void => {
      this.logger.info({ signal }, "signal received");
      void this.stop();
    };
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
    return () => {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
    };
  }

  private async waitForCaches(): Promise<void> {
    const timeoutMs = this.opts.cacheSyncTimeoutMs ?? 120_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => { resolve("timeout"); }, timeoutMs);
    });
    const outcome = await Promise.race([Promise.all(this.informers.map((i) => i.waitForSync())), timedOut]);
    clearTimeout(timer);
    if (outcome !== "timeout") return;
    const unsynced = this.informers.filter((i) => !i.hasSynced()).map((i) => ({ name: i.name, error: i.lastFailure() }));
    const err = new CacheSyncTimeoutError(timeoutMs, unsynced);
    this.logger.error({ err }, "cannot start");
    await this.stop();
    throw err;
  }

  private startControllers(): void {
    if (this.controllersRunning || this.stopping || !this.cachesSynced) return;
    this.controllersRunning = true;
    for (const c of this.controllers) c.start();
    this.logger.info({ controllers: this.controllers.map((c) => c.name) }, "controllers started");
  }

  private async stopControllers(): Promise<void> {
    if (!this.controllersRunning) return;
    this.controllersRunning = false;
    await Promise.all(this.controllers.map((c) => c.stop()));
  }

  private async serveOptions(): Promise<ServeOptions> {
    const m = this.opts.config.metrics;
    const opts: ServeOptions = {
      probeAddress: this.opts.config.healthProbeBindAddress,
      metricsAddress: m.bindAddress,
      checks: this.checks,
      registry: this.registry,
    };
    if (m.bindAddress === "0") return opts;
    if (m.secureServing) {
      opts.metricsTls =
        m.certFile !== undefined && m.keyFile !== undefined
          ? { cert: await readFile(m.certFile), key: await readFile(m.keyFile) }
          : await selfSignedCertificate(`${this.opts.name}-metrics`);
    }
    if (m.enableAuthnAuthz) {
      if (!this.opts.connection) throw new ManagerConfigError("metrics.enableAuthnAuthz needs a kubeconfig to review scraper tokens");
      this.reviewClient = new RawClient(this.opts.connection);
      opts.metricsAuthorizer = kubeMetricsAuthorizer(this.reviewClient, this.logger);
    }
    return opts;
  }

  private async leaseNamespace(): Promise<string> {
    const fromConfig = this.opts.leaseNamespace ?? this.opts.config.leaderElection.namespace;
    const ns = fromConfig !== undefined && fromConfig !== "" ? fromConfig : await podNamespace();
    if (ns === undefined) {
      throw new ManagerConfigError(
        "leader election needs a namespace for its Lease: set leaderElection.namespace in the config or POD_NAMESPACE, or run in a pod",
      );
    }
    return ns;
  }

  private makeElector(namespace: string): LeaderElector {
    const cfg = this.opts.config.leaderElection;
    if (!this.opts.connection) throw new ManagerConfigError("leader election needs a kubeconfig");
    const lease = `${namespace}/${cfg.resourceID}`;
    return new LeaderElector({
      connection: this.opts.connection,
      namespace,
      name: cfg.resourceID,
      identity: this.opts.identity ?? defaultIdentity(),
      logger: this.logger,
      leaseDurationMs: cfg.leaseDuration,
      renewDeadlineMs: cfg.renewDeadline,
      retryPeriodMs: cfg.retryPeriod,
      onStartedLeading: () => {
        // Before the caches synced, run() starts them once they have.
        this.startControllers();
      },
      onStoppedLeading: () => {
        if (this.stopping) return;
        // stop() halts the controllers first, before anything slower; run() then rejects.
        this.logger.error({ lease }, "leader election lost");
        this.lost = new LeaderElectionLostError(lease);
        void this.stop();
      },
    });
  }
}
