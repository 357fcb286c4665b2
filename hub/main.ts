// The hub process: one Manager (probes, metrics, leader election, informers) running the
// ManagedClusterModule controller.
import { readFile } from "node:fs/promises";
import { defaultConnection, loadKubeconfigFile, podNamespace, type KubeConnection } from "../shared/kube/connection.ts";
import { Manager, loadConfig, type Logger, type ManagerOptions, type OperatorConfig } from "../shared/runtime/index.ts";
import { lastResortGc } from "../shared/runtime/idle-release.ts";
import { HEAP_SETTINGS } from "../shared/runtime/node-options.ts";
import { RawClient } from "../shared/kube/raw.ts";
import { imageStreamApiServed } from "./buildsign/dtk.ts";
import { ManagedClusterModuleReconciler } from "./reconciler.ts";

export class HubStartError extends Error {
  override readonly name = "HubStartError";
}

export interface HubOptions {
  /** Operator config file; KMM_HUB_CONFIG when unset; all defaults when neither. */
  configPath?: string | undefined;
  /** Already loaded config (tests); wins over configPath. */
  config?: OperatorConfig;
  /** kubeconfig file; $KUBECONFIG, ~/.kube/config or in-cluster when unset. */
  kubeconfigPath?: string | undefined;
  /** Already built connection (tests); wins over kubeconfigPath. */
  connection?: KubeConnection;
  /** Hub namespace (pull secrets, Lease); --namespace, $POD_NAMESPACE or the pod's own. */
  namespace?: string | undefined;
  identity?: string;
  logger?: Logger;
  /** PEM file of extra CAs trusted for registries. */
  registryCaFile?: string | undefined;
  /** The kaniko image for build Jobs; $RELATED_IMAGE_BUILD (upstream KMM's variable) when unset. */
  relatedImageBuild?: string;
  /** The signer image for sign Jobs; $RELATED_IMAGE_SIGN when unset. */
  relatedImageSign?: string;
}

/**
 * The hub's memory release (issue 16, README "Hub memory"): V8's last-resort GC
 * HEAP_SETTINGS.hub.releaseWhenIdleMs (10 s) after the caches synced and after each burst of
 * reconciles, when node runs with --expose-gc as the hub's Deployment does; undefined without it
 * (tests, `node dist/hub/cli.js` run by hand).
 * @param gc V8's gc extension; default `globalThis.gc`
 */
export function hubMemoryRelease(gc: unknown = (globalThis as { gc?: unknown }).gc): ManagerOptions["memoryRelease"] {
  const collect = lastResortGc(gc);
  return collect ? { idleMs: HEAP_SETTINGS.hub.releaseWhenIdleMs, collect } : undefined;
}

async function hubNamespace(given: string | undefined): Promise<string> {
  const ns = given !== undefined && given !== "" ? given : await podNamespace();
  if (ns === undefined) throw new HubStartError("the hub needs its namespace (for pull secrets and its Lease): pass --namespace or set POD_NAMESPACE");
  return ns;
}

/**
 * Whether the hub serves the ImageStream API (DTK_AUTO), asked once at start as upstream KMM sets up
 * its controllers at start. An API server that does not answer is asked again (0.5 → 2 s apart, as
 * the informers retry) for up to `timeoutMs`; then HubStartError.
 */
async function discoverImageStreamApi(connection: KubeConnection, logger: Logger, timeoutMs = 120_000): Promise<boolean> {
  const raw = new RawClient(connection);
  const end = Date.now() + timeoutMs;
  try {
    for (let delay = 500; ; delay = Math.min(delay * 2, 2000)) {
      try {
        return await imageStreamApiServed(raw);
      } catch (err: unknown) {
        const why = err instanceof Error ? err.message : String(err);
        if (Date.now() + delay > end) throw new HubStartError(`cannot ask the API server whether it serves image.openshift.io/v1 (for DTK_AUTO): ${why}`);
        logger.warn({ err }, "API discovery of image.openshift.io/v1 failed; retrying");
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  } finally {
    raw.close();
  }
}

export interface Hub {
  manager: Manager;
  reconciler: ManagedClusterModuleReconciler;
  config: OperatorConfig;
}

/** Builds the hub (nothing runs until `manager.run()`). */
export async function createHub(opts: HubOptions = {}): Promise<Hub> {
  const config = opts.config ?? (await loadConfig(opts.configPath ?? process.env.KMM_HUB_CONFIG, "hub"));
  const connection =
    opts.connection ?? (opts.kubeconfigPath !== undefined ? await loadKubeconfigFile(opts.kubeconfigPath) : await defaultConnection());
  const namespace = await hubNamespace(opts.namespace);
  const memoryRelease = hubMemoryRelease();
  const manager = new Manager({
    config,
    connection,
    name: "kmm-hub",
    ...(memoryRelease ? { memoryRelease } : {}),
    leaseNamespace: config.leaderElection.namespace ?? namespace,
    ...(opts.logger ? { logger: opts.logger } : {}),
    ...(opts.identity !== undefined ? { identity: opts.identity } : {}),
  });
  const registryCaBundle = opts.registryCaFile === undefined ? undefined : await readFile(opts.registryCaFile, "utf8");
  const driverToolkitApi = await discoverImageStreamApi(connection, manager.logger);
  manager.logger.info({ driverToolkitApi }, driverToolkitApi ? "image.openshift.io/v1 served: DTK_AUTO from ImageStream openshift/driver-toolkit" : "no image.openshift.io/v1 API: DTK_AUTO stays unset (restart the hub if the API is added later)");
  const reconciler = new ManagedClusterModuleReconciler({
    manager,
    connection,
    namespace,
    digestRefreshIntervalMs: config.digestRefreshInterval,
    maxConcurrentReconciles: config.maxConcurrentReconciles,
    buildSign: {
      relatedImageBuild: opts.relatedImageBuild ?? process.env.RELATED_IMAGE_BUILD ?? "",
      relatedImageSign: opts.relatedImageSign ?? process.env.RELATED_IMAGE_SIGN ?? "",
      gcDelayMs: config.job.gcDelay,
      driverToolkitApi,
    },
    ...(registryCaBundle !== undefined ? { registryCaBundle } : {}),
  });
  manager.addRunnable({ start: () => undefined, stop: () => {
      reconciler.registryClient.close();
      reconciler.kube.close();
      return Promise.resolve();
    },
  });
  return { manager, reconciler, config };
}

/** Runs until SIGTERM/SIGINT (resolves) or a lost lease (rejects, so the process restarts). */
export async function runHub(opts: HubOptions = {}): Promise<void> {
  const hub = await createHub(opts);
  const unhook = hub.manager.handleSignals();
  try {
    await hub.manager.run();
  } finally {
    unhook();
  }
}
