// A fleet: a hub and N spokes, each a real local cluster, joined with real OCM agents.
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { FleetInfo } from "../fleet-types.ts";
import { cacheDir, loadManifest, repoRoot } from "./binaries.ts";
import { startCluster, type StaticToken } from "./cluster.ts";
import { connectionFrom } from "./kube.ts";
import { BOOTSTRAP_GROUP, installCrds, joinSpoke, startHubOcm } from "./ocm.ts";
import { startPolicyFramework } from "./policy-framework.ts";
import { ProcessGroup } from "./procs.ts";
import { realNodeLayout, startRealNodes, type RealNodesOptions } from "./real-nodes.ts";

export const UNPRIVILEGED_USER = "kmm-e2e-nobody";

export interface Fleet {
  info: FleetInfo;
  group: ProcessGroup;
  stop(): Promise<void>;
}

export interface StartFleetOptions {
  spokes?: number;
  /** folder for certificates, data and logs; a new one under .cache/fleets by default */
  dir?: string;
  /** keep the processes running after this process exits (the fleet CLI) */
  persistent?: boolean;
  /** one node per cluster whose pods really run (node agent + podman), and a registry for them */
  realNodes?: boolean | RealNodesOptions;
  /**
   * run the OCM policy framework (placement, propagator, config policy controllers, policy sync) and
   * the work agents as the klusterlet's ServiceAccount; default true (false: no policy controllers,
   * work agents with the fleet's own identity)
   */
  policy?: boolean;
  log?: (msg: string) => void;
}

/** The project's own CRDs (crds/*.yaml), installed on every cluster when present. */
async function projectCrdFiles(): Promise<string[]> {
  const dir = join(repoRoot, "crds");
  try {
    return (await readdir(dir)).filter((f) => f.endsWith(".yaml")).sort().map((f) => join(dir, f));
  } catch {
    return [];
  }
}

/**
 * A stopped fleet keeps its logs for reading (pruned with the folder after a day, pruneOldFleets);
 * everything else it made goes: etcd data (~120 MB a cluster), the registry's images and the real
 * nodes' storage (~60 MB), certificates. A fleet folder the caller named (`dir`) is theirs: only its
 * clusters' etcd data goes.
 */
export async function dropData(dir: string, ownDir: boolean, clusters: readonly string[]): Promise<void> {
  if (!ownDir) {
    await Promise.all(clusters.map((c) => rm(join(dir, c, "etcd"), { recursive: true, force: true })));
    return;
  }
  const entries = await readdir(dir).catch(() => []);
  await Promise.all(entries.filter((name) => name !== "logs").map((name) => rm(join(dir, name), { recursive: true, force: true })));
}

/** startFleet was interrupted (SIGINT, SIGTERM) before the fleet was up; what it started is stopped and removed. */
export class FleetInterruptedError extends Error {
  override readonly name = "FleetInterruptedError";
  readonly signal: NodeJS.Signals;
  constructor(signal: NodeJS.Signals) {
    super(`interrupted by ${signal} while the fleet was starting`);
    this.signal = signal;
  }
}

/** Rejects with FleetInterruptedError on the first SIGINT or SIGTERM until `release` is called. */
function interruption(): { interrupted: Promise<never>; signal: () => NodeJS.Signals | undefined; release: () => void } {
  let received: NodeJS.Signals | undefined;
  let fail: ((err: Error) => void) | undefined;
  const interrupted = new Promise<never>((_, reject) => {
    fail = reject;
  });
  interrupted.catch(() => undefined); // observed through the fleet's waits
  const onSignal = (signal: NodeJS.Signals): void => {
    received ??= signal;
    fail?.(new FleetInterruptedError(signal));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    interrupted,
    signal: () => received,
    release: () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}

/** Fleet folders of earlier runs are kept a day for their logs, then removed. */
async function pruneOldFleets(fleetsDir: string): Promise<void> {
  const dayAgo = Date.now() - 24 * 3600 * 1000;
  for (const name of await readdir(fleetsDir).catch(() => [])) {
    if (!name.startsWith("fleet-")) continue;
    const dir = join(fleetsDir, name);
    const s = await stat(dir).catch(() => undefined);
    if (s?.isDirectory() && s.mtimeMs < dayAgo) await rm(dir, { recursive: true, force: true });
  }
}

export async function startFleet(opts: StartFleetOptions = {}): Promise<Fleet> {
  const log = opts.log ?? (() => undefined);
  const started = Date.now();
  const manifest = await loadManifest();
  const fleetsDir = join(cacheDir, "fleets");
  await mkdir(fleetsDir, { recursive: true });
  await pruneOldFleets(fleetsDir);
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? (await mkdtemp(join(fleetsDir, "fleet-")));
  await mkdir(join(dir, "logs"), { recursive: true });
  const group = new ProcessGroup(join(dir, "logs"), opts.persistent ?? false);
  // Ctrl-C during the start stops and removes what was started (not etcd data left behind).
  const signals = interruption();
  // A component that exits during the start ends it at once, with its log tail.
  const abort = Promise.race([group.failOnExit(), signals.interrupted]);
  abort.catch(() => undefined); // observed through the waits below
  const guarded = <T>(p: Promise<T>): Promise<T> => Promise.race([p, abort]);

  const spokeNames = Array.from({ length: opts.spokes ?? 2 }, (_, i) => `spoke${i + 1}`);
  const bootstrapTokens = new Map(spokeNames.map((s) => [s, randomBytes(16).toString("hex")]));
  const hubTokens: StaticToken[] = [
    ...spokeNames.map((s) => ({ token: bootstrapTokens.get(s)!, user: `system:bootstrap:${s}`, uid: `bootstrap-${s}`, groups: [BOOTSTRAP_GROUP] })),
    { token: randomBytes(16).toString("hex"), user: UNPRIVILEGED_USER, uid: "nobody", groups: [] },
  ];
  const spokeTokens = (): StaticToken[] => [{ token: randomBytes(16).toString("hex"), user: UNPRIVILEGED_USER, uid: "nobody", groups: [] }];

  try {
    log(`starting hub and ${spokeNames.length} spokes in ${dir}`);
    const [hub, spokes] = await Promise.all([
      startCluster({ name: "hub", dir: join(dir, "hub"), manifest, group, tokens: hubTokens, abort }),
      Promise.all(spokeNames.map((s) => startCluster({ name: s, dir: join(dir, s), manifest, group, tokens: spokeTokens(), abort }))),
    ]);
    log(`clusters ready after ${((Date.now() - started) / 1000).toFixed(1)}s; joining spokes`);
    // Real nodes start while the spokes join; awaited before the fleet is declared ready.
    const real = opts.realNodes
      ? startRealNodes({ dir, group, clusters: [hub, ...spokes], kubernetesVersion: manifest.kubernetesVersion, options: opts.realNodes === true ? {} : opts.realNodes, abort })
      : undefined;
    real?.catch(() => undefined); // awaited below

    await guarded(startHubOcm(hub, manifest, group));
    const hubKubeconfigs = await Promise.all(
      spokes.map((spoke) =>
        joinSpoke({ hub, spoke, bootstrapToken: bootstrapTokens.get(spoke.info.name)!, manifest, group, dir: join(dir, spoke.info.name), abort, klusterletIdentity: opts.policy ?? true }),
      ),
    );
    const crds = await projectCrdFiles();
    await guarded(Promise.all([
      ...(crds.length > 0 ? [hub, ...spokes].map(async (c) => installCrds(await connectionFrom(c.info.kubeconfig), crds)) : []),
      ...((opts.policy ?? true)
        ? [startPolicyFramework({ hub, spokes: spokes.map((cluster, i) => ({ cluster, hubKubeconfig: hubKubeconfigs[i]! })), manifest, group, abort })]
        : []),
    ]));

    const realNodes = await (real === undefined ? undefined : guarded(real));
    const withNode = (c: FleetInfo["hub"]): FleetInfo["hub"] => {
      const node = realNodes?.nodes.get(c.name);
      return node ? { ...c, realNode: node } : c;
    };
    const info: FleetInfo = { dir, hub: withNode(hub.info), spokes: spokes.map((s) => withNode(s.info)), ...(realNodes ? { registry: realNodes.registry } : {}) };
    if (realNodes) log(`real nodes: ${realNodeNames(["hub", ...spokeNames], opts.realNodes).join(", ")} (kernel ${[...realNodes.nodes.values()][0]?.kernelVersion ?? ""}); registry ${realNodes.registry.host}`);
    await writeFile(join(dir, "fleet.json"), JSON.stringify(info, null, 2));
    log(`fleet ready after ${((Date.now() - started) / 1000).toFixed(1)}s`);
    const clusters = ["hub", ...spokeNames];
    return {
      info,
      group,
      stop: async () => {
        await group.stopAll();
        await dropData(dir, ownDir, clusters);
      },
    };
  } catch (err) {
    await group.stopAll();
    await dropData(dir, ownDir, ["hub", ...spokeNames]);
    const signal = signals.signal();
    if (signal !== undefined) throw new FleetInterruptedError(signal);
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(`the local fleet did not start: ${msg}\ncomponent logs: ${join(dir, "logs")}`, { cause: err });
  } finally {
    signals.release();
  }
}

/** Every real node of a fleet (realNodeLayout): the hub's `hub-real`, `hub-real-2`…, then each spoke's. */
export function realNodeNames(clusters: readonly string[], realNodes: StartFleetOptions["realNodes"]): string[] {
  const hubNodes = typeof realNodes === "object" ? realNodes.hubNodes : undefined;
  return realNodeLayout(clusters, hubNodes ?? 2).map((s) => s.name);
}
