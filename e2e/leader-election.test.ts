// Lease leader election against a real kube-apiserver: one leader among
// candidates, hand-over on release, takeover after a leader is cut off from the
// API server (with the default 15 s / 10 s / 2 s timings), and a leader that
// finds its Lease taken stops at once. Then the hub process itself (the CLI, one pod per
// replica) under the faults of issue 14: API server outages longer and shorter than the renew
// deadline, a SIGKILL mid-rollout, a SIGKILLed leader of two. Promises, not timings: those are
// in `npm run bench -- faults`.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { request } from "node:https";
import { createServer, type AddressInfo } from "node:net";
import { ApiException, CoordinationV1Api, CoreV1Api, KubeConfig, RbacAuthorizationV1Api, V1MicroTime } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { MCM_NAME_LABEL } from "../hub/names.ts";
import { parseConfig } from "../shared/runtime/config.ts";
import { Controller } from "../shared/runtime/controller.ts";
import { FaultProxy } from "../shared/runtime/fault-proxy.ts";
import { Informer } from "../shared/runtime/informer.ts";
import { LeaderElector, type LeaderElectorOptions } from "../shared/runtime/leader-election.ts";
import { createLogger } from "../shared/runtime/logger.ts";
import { LeaderElectionLostError, Manager } from "../shared/runtime/manager.ts";
import type { KubeConnection } from "../shared/kube/connection.ts";
import { RawClient } from "../shared/kube/raw.ts";
import { connectionFrom } from "./controlplane/kube.ts";

const fleet = inject("fleet");
const log = createLogger({ name: "e2e-leader", level: "warn" });

let kc: KubeConfig;
let conn: KubeConnection;
let ns: string;
const electors: LeaderElector[] = [];
const proxies: FaultProxy[] = [];
const managers: Manager[] = [];
const processes: ChildProcess[] = [];

interface Candidate {
  elector: LeaderElector;
  events: { what: "started" | "stopped"; at: number }[];
  leading: boolean;
  signal: AbortSignal | undefined;
}

const fast = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 };

function candidate(identity: string, lease: string, timing: Partial<LeaderElectorOptions> = fast, connection = conn): Candidate {
  const c: Candidate = { events: [], leading: false, signal: undefined, elector: undefined as unknown as LeaderElector };
  c.elector = new LeaderElector({
    connection,
    namespace: ns,
    name: lease,
    identity,
    logger: log,
    ...timing,
    onStartedLeading: (signal) => {
      c.leading = true;
      c.signal = signal;
      c.events.push({ what: "started", at: performance.now() });
    },
    onStoppedLeading: () => {
      c.leading = false;
      c.events.push({ what: "stopped", at: performance.now() });
    },
  });
  electors.push(c.elector);
  return c;
}

async function until(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Samples the candidates for `ms`, failing if two ever lead at once. */
async function neverTwoLeaders(cands: Candidate[], ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    expect(cands.filter((c) => c.leading).length).toBeLessThanOrEqual(1);
    await sleep(20);
  }
}


beforeAll(async () => {
  kc = new KubeConfig();
  kc.loadFromFile(fleet.hub.kubeconfig);
  conn = await connectionFrom(fleet.hub.kubeconfig);
  ns = `leader-${randomBytes(3).toString("hex")}`;
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
});

afterAll(async () => {
  for (const p of processes) p.kill("SIGKILL");
  await Promise.all(managers.map((m) => m.stop()));
  await Promise.all(electors.map((e) => e.stop()));
  await Promise.all(proxies.map((p) => p.stop()));
  await kc.makeApiClient(CoreV1Api).deleteNamespace({ name: ns }).catch(() => undefined);
});

describe("Lease leader election", () => {
  it("elects exactly one of three candidates and hands over promptly on release", async () => {
    // A lease far longer than the wait below: a successor within that wait proves the release was
    // used, not the expiry, with room for a slow machine.
    const slowExpiry = { ...fast, leaseDurationMs: 30_000, renewDeadlineMs: 20_000 };
    const cands = ["a", "b", "c"].map((id) => candidate(id, "handover", slowExpiry));
    for (const c of cands) void c.elector.run();
    await until("a leader", () => cands.some((c) => c.leading));
    await neverTwoLeaders(cands, 2000);
    const first = cands.find((c) => c.leading);
    if (!first) throw new Error("no leader");

    const lease = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: "handover", namespace: ns });
    expect(lease.spec?.holderIdentity).toBe(first.elector.identity);
    expect(lease.spec?.leaseDurationSeconds).toBe(30);

    const t0 = performance.now();
    await first.elector.stop();
    expect(first.leading).toBe(false);
    expect(first.signal?.aborted).toBe(true);
    // A released Lease has no holder: the next candidate takes it at its next retry, without waiting for expiry.
    await until("a successor", () => cands.some((c) => c !== first && c.leading), 10_000);
    expect(performance.now() - t0).toBeLessThan(slowExpiry.leaseDurationMs / 2);
    await neverTwoLeaders(cands, 1000);
    const after = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: "handover", namespace: ns });
    expect(after.spec?.leaseTransitions).toBeGreaterThanOrEqual(1);
  });

  it("with the default timings, a leader partitioned from the API server stops within the renew deadline and another takes over within the lease duration", async () => {
    const server = new URL(fleet.hub.server);
    const proxy = new FaultProxy(server.hostname, Number(server.port));
    proxies.push(proxy);
    const port = await proxy.start();
    const defaults = {}; // 15 s lease, 10 s renew deadline, 2 s retry
    const leader = candidate("partitioned", "failover", defaults, conn.withServer(`https://127.0.0.1:${port}`));
    void leader.elector.run();
    await until("the first candidate to lead", () => leader.leading);
    const follower = candidate("standby", "failover", defaults);
    void follower.elector.run();
    await sleep(3000);
    expect(follower.leading).toBe(false);

    // Packets dropped, not refused: the leader's renewals hang rather than fail fast.
    const cutAt = performance.now();
    proxy.blackhole();
    await until("the cut-off leader to stop", () => !leader.leading, 20_000);
    const stoppedAfter = performance.now() - cutAt;
    await until("the standby to take over", () => follower.leading, 30_000);
    const takeoverAfter = performance.now() - cutAt;
    console.info(`partition: old leader stopped after ${Math.round(stoppedAfter)} ms, standby led after ${Math.round(takeoverAfter)} ms`);

    // The old leader gives up after ≤ renewDeadline (+ one retry period of slack).
    expect(stoppedAfter).toBeLessThan(10_000 + 2_000 + 2_000);
    // The standby waits for the lease to expire as it observed it: ≤ 15 s + a jittered retry.
    expect(takeoverAfter).toBeLessThan(15_000 + 2_400 + 2_000);
    expect(takeoverAfter).toBeGreaterThan(stoppedAfter);
    expect(leader.signal?.aborted).toBe(true);
  });

  it("a leader whose Lease is taken by someone else stops at once", async () => {
    // A renew deadline far beyond the retry period, so "at the next renewal" and "after the
    // deadline" are seconds apart even on a slow machine.
    const slowDeadline = { ...fast, leaseDurationMs: 30_000, renewDeadlineMs: 20_000 };
    const c = candidate("victim", "stolen", slowDeadline);
    void c.elector.run();
    await until("leadership", () => c.leading);
    const api = kc.makeApiClient(CoordinationV1Api);
    const lease = await api.readNamespacedLease({ name: "stolen", namespace: ns });
    const now = new V1MicroTime(Date.now());
    await api.replaceNamespacedLease({
      name: "stolen",
      namespace: ns,
      body: { ...lease, spec: { ...lease.spec, holderIdentity: "intruder", renewTime: now, acquireTime: now, leaseDurationSeconds: 60 } },
    });
    const t0 = performance.now();
    await until("the victim to stop leading", () => !c.leading, 10_000);
    // Noticed at the next renewal, not after the renew deadline.
    expect(performance.now() - t0).toBeLessThan(slowDeadline.renewDeadlineMs / 4);
    expect(c.events.map((e) => e.what)).toEqual(["started", "stopped"]);
    const after = await api.readNamespacedLease({ name: "stolen", namespace: ns });
    expect(after.spec?.holderIdentity).toBe("intruder");
  });

  it("a deleted Lease is recreated by one candidate only", async () => {
    const cands = ["x", "y"].map((id) => candidate(id, "deleted"));
    for (const c of cands) void c.elector.run();
    await until("a leader", () => cands.some((c) => c.leading));
    await kc.makeApiClient(CoordinationV1Api).deleteNamespacedLease({ name: "deleted", namespace: ns });
    await neverTwoLeaders(cands, 4000);
    const lease = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: "deleted", namespace: ns });
    const holder = lease.spec?.holderIdentity;
    expect(["x", "y"]).toContain(holder);
    expect(cands.find((c) => c.leading)?.elector.identity).toBe(holder);
  });

  it("refuses timings that would let two leaders overlap", () => {
    expect(() => candidate("bad", "bad", { leaseDurationMs: 5000, renewDeadlineMs: 5000, retryPeriodMs: 1000 })).toThrow(/leaseDuration .* must be greater than renewDeadline/);
    expect(() => candidate("bad", "bad", { leaseDurationMs: 15000, renewDeadlineMs: 2000, retryPeriodMs: 2000 })).toThrow(/renewDeadline .* must be greater than 1.2 × retryPeriod/);
  });
});

function scrape(port: number, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      // The manager serves a self-signed certificate, as controller-runtime does without a cert dir.
      { host: "127.0.0.1", port, path: "/metrics", agent: false, rejectUnauthorized: false, headers: token ? { authorization: `Bearer ${token}` } : {} },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => { resolve({ status: res.statusCode ?? 0, body }); });
      },
    );
    req.on("error", reject);
    req.end();
  });
}

describe("Manager with leader election", () => {
  function hubManager(identity: string, lease: string, reconciled: string[]): { manager: Manager; controller: Controller } {
    const config = parseConfig(
      `healthProbeBindAddress: 127.0.0.1:0
metrics: {bindAddress: "127.0.0.1:0"}
leaderElection: {resourceID: ${lease}, namespace: ${ns}, leaseDuration: 3s, renewDeadline: 2s, retryPeriod: 500ms}
`,
      "hub",
    );
    const manager = new Manager({ config, connection: conn, name: "kmm-hub", logger: log, identity });
    managers.push(manager);
    const controller = manager.addController(
      new Controller({
        name: "demo",
        logger: log,
        registry: manager.registry,
        reconcile: async (key) => {
          reconciled.push(`${identity}:${key}`);
          // A reconcile that ignores its abort signal for a minute (a write stuck on a slow API server).
          if (key === "stuck") await sleep(60_000);
          return undefined;
        },
      }),
    );
    return { manager, controller };
  }

  it("reconciles only on the leader; the standby takes over when the leader shuts down; a lost lease ends run() with an error", async () => {
    const reconciled: string[] = [];
    const one = hubManager("one", "mgr-lease", reconciled);
    const cms = one.manager.addInformer(
      new Informer({
        connection: conn,
        resource: { apiVersion: "v1", kind: "ConfigMap", plural: "configmaps", namespace: ns },
        schema: z.looseObject({ metadata: z.looseObject({ name: z.string(), namespace: z.string() }) }),
        logger: log,
      }),
    );
    const oneRun = one.manager.run();
    await until("manager one to lead", () => one.manager.isLeader());
    expect(cms.hasSynced()).toBe(true);
    const two = hubManager("two", "mgr-lease", reconciled);
    const twoRun = two.manager.run();
    await sleep(1000);
    expect(two.manager.isLeader()).toBe(false);

    one.controller.enqueue("k1");
    two.controller.enqueue("k1");
    await until("the leader to reconcile", () => reconciled.includes("one:k1"));
    await sleep(500);
    expect(reconciled).toEqual(["one:k1"]);

    await one.manager.stop();
    await oneRun;
    await until("manager two to lead", () => two.manager.isLeader(), 5000);
    two.controller.enqueue("k2");
    await until("the new leader to reconcile", () => reconciled.includes("two:k2"));

    // Someone else takes the Lease: the leader stops reconciling and run() reports the loss at once,
    // without waiting for the reconcile in flight (the process exits, ending it).
    two.controller.enqueue("stuck");
    await until("a reconcile in flight", () => reconciled.includes("two:stuck"));
    const api = kc.makeApiClient(CoordinationV1Api);
    // The leader renews every 500 ms: a renewal between our read and our write is a conflict; read again.
    for (let attempt = 1; ; attempt++) {
      const lease = await api.readNamespacedLease({ name: "mgr-lease", namespace: ns });
      const now = new V1MicroTime(Date.now());
      try {
        await api.replaceNamespacedLease({
          name: "mgr-lease",
          namespace: ns,
          body: { ...lease, spec: { ...lease.spec, holderIdentity: "usurper", renewTime: now, acquireTime: now, leaseDurationSeconds: 60 } },
        });
        break;
      } catch (err: unknown) {
        if (!(err instanceof ApiException && err.code === 409) || attempt >= 10) throw err;
      }
    }
    const usurped = performance.now();
    await expect(twoRun).rejects.toThrow(LeaderElectionLostError);
    expect(performance.now() - usurped).toBeLessThan(20_000);
    expect(two.manager.isLeader()).toBe(false);
    const before = reconciled.length;
    two.controller.enqueue("k3");
    await sleep(300);
    expect(reconciled).toHaveLength(before);
  });

  it("serves metrics over TLS to scrapers the API server authenticates and authorizes (TokenReview + SubjectAccessReview)", async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    for (const name of ["scraper", "nobody"]) await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name } } });
    const role = `${ns}-metrics-reader`;
    await rbac.createClusterRole({ body: { metadata: { name: role }, rules: [{ nonResourceURLs: ["/metrics"], verbs: ["get"] }] } });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: role },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role },
        subjects: [{ kind: "ServiceAccount", name: "scraper", namespace: ns }],
      },
    });
    try {
      const token = async (sa: string): Promise<string> => {
        const tr = await core.createNamespacedServiceAccountToken({ name: sa, namespace: ns, body: { spec: { audiences: [], expirationSeconds: 600 } } });
        const t = tr.status?.token;
        if (t === undefined) throw new Error("no token issued");
        return t;
      };
      const config = parseConfig(`healthProbeBindAddress: "0"\nmetrics: {bindAddress: "127.0.0.1:0"}\nleaderElection: {enabled: false}\n`, "hub");
      const manager = new Manager({ config, connection: conn, name: "kmm-hub", logger: log });
      managers.push(manager);
      void manager.run();
      await until("the metrics server", () => manager.ports().metrics !== undefined);
      const port = manager.ports().metrics ?? 0;
      expect((await scrape(port)).status).toBe(401);
      expect((await scrape(port, "not-a-real-token")).status).toBe(401);
      expect((await scrape(port, await token("nobody"))).status).toBe(403);
      const ok = await scrape(port, await token("scraper"));
      expect(ok.status).toBe(200);
      expect(ok.body).toContain("process_resident_memory_bytes");
      await manager.stop();
    } finally {
      await rbac.deleteClusterRoleBinding({ name: role }).catch(() => undefined);
      await rbac.deleteClusterRole({ name: role }).catch(() => undefined);
    }
  });
});

/** The hub's container in a pod: the CLI as its image runs it, with POD_NAME as its leader identity. */
interface HubContainer {
  proc: ChildProcess;
  exit: Promise<number | null>;
  output: () => string;
}

/** A hub pod whose "kubelet" restarts its container in the same pod whenever it exits (restartPolicy Always), unless told to stop. */
interface HubPod {
  name: string;
  container: HubContainer;
  exits: (number | null)[];
  running: boolean;
  /** Stops restarting and kills the container. */
  stop: (signal?: NodeJS.Signals) => void;
}

function startHubContainer(pod: string, config: string, kubeconfig: string, log: NodeJS.WritableStream): HubContainer {
  let output = "";
  const proc = spawn(process.execPath, ["hub/cli.ts", "run", "--config", config, "--kubeconfig", kubeconfig, "--namespace", ns], { env: { ...process.env, POD_NAME: pod }, stdio: ["ignore", "pipe", "pipe"] });
  processes.push(proc);
  for (const stream of [proc.stdout, proc.stderr]) stream.on("data", (b: Buffer) => { output += b.toString(); log.write(b); });
  return { proc, exit: new Promise((resolve) => proc.on("exit", (code) => { resolve(code); })), output: () => output };
}

function hubPod(name: string, config: string, kubeconfig: string, restart = true): HubPod {
  const log = createWriteStream(join(fleet.hub.logDir, `${ns}-${name}.log`), { flags: "a" });
  const pod: HubPod = {
    name,
    container: startHubContainer(name, config, kubeconfig, log),
    exits: [],
    running: restart,
    stop: (signal = "SIGKILL") => {
      pod.running = false;
      pod.container.proc.kill(signal);
    },
  };
  const supervise = (c: HubContainer): void => {
    void c.exit.then(async (code) => {
      pod.exits.push(code);
      await sleep(1000);
      if (!pod.running) return;
      pod.container = startHubContainer(name, config, kubeconfig, log);
      supervise(pod.container);
    });
  };
  supervise(pod.container);
  return pod;
}

const leads = (c: HubContainer): boolean => c.output().includes('"controllers started"');

/** A kubeconfig for the hub API server reached through a relay that can be cut. */
async function proxiedKubeconfig(): Promise<{ proxy: FaultProxy; kubeconfig: string }> {
  const server = new URL(fleet.hub.server);
  const proxy = new FaultProxy(server.hostname, Number(server.port));
  proxies.push(proxy);
  const port = await proxy.start();
  const kubeconfig = join(fleet.hub.logDir, `${ns}-proxied-${port}.kubeconfig`);
  await writeFile(kubeconfig, (await readFile(fleet.hub.kubeconfig, "utf8")).split(fleet.hub.server).join(`https://127.0.0.1:${port}`));
  return { proxy, kubeconfig };
}

/** A hub config file: leader election on the Lease `lease` with these timings, probes on `probePort` (0: none). */
async function hubConfig(lease: string, timings: string, probePort = 0): Promise<string> {
  const file = join(fleet.hub.logDir, `${ns}-${lease}.yaml`);
  await writeFile(file, [`healthProbeBindAddress: "${probePort === 0 ? "0" : `127.0.0.1:${probePort}`}"`, 'metrics: {bindAddress: "0"}', `leaderElection: {resourceID: ${lease}, namespace: ${ns}, ${timings}}`].join("\n"));
  return file;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => { resolve(); }));
  return port;
}

const leaseHolder = async (raw: RawClient, lease: string): Promise<string> =>
  z.looseObject({ spec: z.looseObject({ holderIdentity: z.string() }) }).parse((await raw.request("GET", `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${lease}`)).body).spec.holderIdentity;

/** An MCM that needs no registry and no kernel claim: a device plugin by digest, on the clusters labelled `selector`. */
const dpMcm = (name: string, selector: string) => ({
  apiVersion: "hub.kmm.sigs.x-k8s.io/v1beta1",
  kind: "ManagedClusterModule",
  metadata: { name },
  spec: { spokeNamespace: "kmm", selector: { [selector]: "true" }, moduleSpec: { selector: {}, devicePlugin: { container: { image: `127.0.0.1:1/kmm/dp@sha256:${"0".repeat(64)}` } } } },
});

const workItemsSchema = z.object({ items: z.array(z.looseObject({ metadata: z.looseObject({ namespace: z.string(), generation: z.number().optional() }) })) });

/** The hub process's own faults (issue 14): a SIGKILL mid-rollout, a SIGKILLed leader of two, API server outages. */
describe("the hub process with leader election under faults", () => {
  let raw: RawClient;
  const created: { clusters: string[]; mcms: string[] } = { clusters: [], mcms: [] };
  const createMcm = async (name: string, selector: string) => {
    created.mcms.push(name);
    await raw.request("POST", "/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules", dpMcm(name, selector));
  };
  const createCluster = async (name: string, selector: string) => {
    created.clusters.push(name);
    await raw.request("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name } });
    await raw.request("POST", "/apis/cluster.open-cluster-management.io/v1/managedclusters", { apiVersion: "cluster.open-cluster-management.io/v1", kind: "ManagedCluster", metadata: { name, labels: { [selector]: "true" } }, spec: { hubAcceptsClient: false } });
  };
  const worksOf = async (mcm: string) => workItemsSchema.parse((await raw.request("GET", `/apis/work.open-cluster-management.io/v1/manifestworks?labelSelector=${encodeURIComponent(`${MCM_NAME_LABEL}=${mcm}`)}`)).body).items;
  const hasWork = async (cluster: string, mcm: string): Promise<boolean> => raw.request("GET", `/apis/work.open-cluster-management.io/v1/namespaces/${cluster}/manifestworks/${mcm}`).then(() => true, () => false);

  beforeAll(() => {
    raw = new RawClient(conn);
  });

  afterAll(async () => {
    for (const name of created.mcms) await raw.request("DELETE", `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${name}`).catch(() => undefined);
    for (const c of created.clusters) {
      await raw.request("DELETE", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${c}`).catch(() => undefined);
      await raw.request("DELETE", `/api/v1/namespaces/${c}`).catch(() => undefined);
    }
    raw.close();
  });

  it("ends the process through an API server outage longer than the renew deadline (exit 1, lease lost); its restart in the same pod leads again without waiting for the Lease to expire, and acts on a change", async () => {
    const { proxy, kubeconfig } = await proxiedKubeconfig();
    // A lease far longer than the outage and the restart: a restarted process that leads well
    // within it proves it succeeded its own Lease instead of waiting for the expiry.
    const config = await hubConfig("kmm-hub-restart", "leaseDuration: 60s, renewDeadline: 4s, retryPeriod: 1s");
    const pod = hubPod("kmm-hub-0", config, kubeconfig);
    const sel = `${ns}-restart`;
    const cluster = `restart-${ns}`;
    const mcm = `restart-${ns}`;
    try {
      await createCluster(cluster, sel);
      const first = pod.container;
      await createMcm(`${mcm}-a`, sel);
      await until("the first process to lead", () => leads(first), 60_000);
      for (let i = 0; !(await hasWork(cluster, `${mcm}-a`)); i++) {
        if (i > 300) throw new Error("no ManifestWork from the first process");
        await sleep(100);
      }

      // The outage outlasts the renew deadline: the process stops acting and exits non-zero; the
      // pod restarts it while the API server is still away.
      await proxy.cut();
      const code = await Promise.race([first.exit, sleep(30_000).then(() => "still running")]);
      expect(code).toBe(1);
      expect(first.output()).toContain("lost leader election lease");
      await until("the restart", () => pod.container !== first, 10_000);
      await sleep(2000);
      await proxy.restore();
      const back = performance.now();
      await createMcm(`${mcm}-b`, sel);
      for (let i = 0; !(await hasWork(cluster, `${mcm}-b`)); i++) {
        if (i > 600) throw new Error(`the restarted process did not act on a change; its log: ${pod.container.output().slice(-2000)}`);
        await sleep(100);
      }
      // Well inside the 60 s lease it would otherwise wait for.
      expect(performance.now() - back).toBeLessThan(30_000);
      expect(await leaseHolder(raw, "kmm-hub-restart")).toBe("kmm-hub-0");
      pod.stop("SIGTERM");
      expect(await pod.container.exit).toBe(0);
    } finally {
      pod.stop();
    }
  });

  it("through an API server outage shorter than the renew deadline: readiness red during it and green after, no restart, and a change acted on", async () => {
    const { proxy, kubeconfig } = await proxiedKubeconfig();
    const probe = await freePort();
    const ready = async () => (await fetch(`http://127.0.0.1:${probe}/readyz`).catch(() => undefined))?.status === 200;
    // The Deployment's timings: lease 15 s, renew deadline 10 s.
    const config = await hubConfig("kmm-hub-blip", "leaseDuration: 15s, renewDeadline: 10s, retryPeriod: 2s", probe);
    const pod = hubPod("kmm-hub-blip-0", config, kubeconfig);
    const sel = `${ns}-blip`;
    const cluster = `blip-${ns}`;
    try {
      await createCluster(cluster, sel);
      await until("the process to lead", () => leads(pod.container), 60_000);
      for (let i = 0; !(await ready()); i++) {
        if (i > 300) throw new Error("the hub never became ready");
        await sleep(100);
      }
      await proxy.cut();
      let red = false;
      try {
        for (let i = 0; i < 25; i++) {
          red ||= !(await ready());
          await sleep(200);
        }
      } finally {
        await proxy.restore();
      }
      expect(red).toBe(true);
      for (let i = 0; !(await ready()); i++) {
        if (i > 300) throw new Error("the hub did not become ready again");
        await sleep(100);
      }
      await createMcm(`blip-${ns}`, sel);
      for (let i = 0; !(await hasWork(cluster, `blip-${ns}`)); i++) {
        if (i > 600) throw new Error("no ManifestWork after the outage");
        await sleep(100);
      }
      // Still the same process, still leading.
      expect(pod.exits).toEqual([]);
      expect(pod.container.output().split('"controllers started"').length - 1).toBe(1);
      expect(await leaseHolder(raw, "kmm-hub-blip")).toBe("kmm-hub-blip-0");
    } finally {
      pod.stop();
    }
  });

  it("SIGKILLed mid-rollout, its restart in the same pod writes every ManifestWork exactly once and reports the status right", async () => {
    const sel = `${ns}-rollout`;
    const clusters = Array.from({ length: 120 }, (_, i) => `rollout-${ns}-${i}`);
    for (let i = 0; i < clusters.length; i += 20) await Promise.all(clusters.slice(i, i + 20).map((c) => createCluster(c, sel)));
    const config = await hubConfig("kmm-hub-rollout", "leaseDuration: 15s, renewDeadline: 10s, retryPeriod: 2s");
    const pod = hubPod("kmm-hub-rollout-0", config, fleet.hub.kubeconfig);
    const mcm = `rollout-${ns}`;
    try {
      await until("the process to lead", () => leads(pod.container), 60_000);
      const first = pod.container;
      await createMcm(mcm, sel);
      let atKill = 0;
      for (let i = 0; atKill === 0; i++) {
        if (i > 3000) throw new Error("no ManifestWork written");
        atKill = (await worksOf(mcm)).length;
        if (atKill === 0) await sleep(20);
      }
      first.proc.kill("SIGKILL");
      expect(await first.exit).toBeNull();
      // The kill landed mid-rollout, or this test proves nothing.
      expect(atKill).toBeLessThan(clusters.length);
      await until("the restart", () => pod.container !== first, 10_000);
      const statusSchema = z.looseObject({ status: z.looseObject({ numberDesired: z.number().optional(), conditions: z.array(z.looseObject({ type: z.string(), status: z.string() })).optional(), clusters: z.array(z.looseObject({ cluster: z.string(), manifestWork: z.looseObject({ state: z.string() }).optional() })).optional() }).optional() });
      const status = async () => statusSchema.parse((await raw.request("GET", `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${mcm}`)).body).status;
      for (let i = 0; ; i++) {
        const st = await status();
        if ((await worksOf(mcm)).length === clusters.length && st?.numberDesired === clusters.length && st.conditions?.find((c) => c.type === "ManifestWorksWritten")?.status === "True") break;
        if (i > 1200) throw new Error(`the restarted process did not finish the rollout; its log: ${pod.container.output().slice(-2000)}`);
        await sleep(100);
      }
      const works = await worksOf(mcm);
      // One work per cluster, each written once (a rewrite with other content would raise its generation).
      expect(works.map((w) => w.metadata.namespace).sort()).toEqual([...clusters].sort());
      for (const w of works) expect(w.metadata.generation).toBe(1);
      const st = await status();
      expect(st?.clusters?.map((c) => c.cluster).sort()).toEqual([...clusters].sort());
      for (const c of st?.clusters ?? []) expect(c.manifestWork?.state).not.toBe("Blocked");
      expect(await leaseHolder(raw, "kmm-hub-rollout")).toBe("kmm-hub-rollout-0");
    } finally {
      pod.stop();
    }
  });

  it("with two replicas, the follower takes over from a SIGKILLed leader and acts on a change", async () => {
    const config = await hubConfig("kmm-hub-pair", "leaseDuration: 6s, renewDeadline: 4s, retryPeriod: 1s");
    const sel = `${ns}-pair`;
    const cluster = `pair-${ns}`;
    // The leader's pod is gone with it (its node failed): no restart there.
    const leader = hubPod("kmm-hub-pair-a", config, fleet.hub.kubeconfig, false);
    let follower: HubPod | undefined;
    try {
      await createCluster(cluster, sel);
      await until("the first replica to lead", () => leads(leader.container), 60_000);
      follower = hubPod("kmm-hub-pair-b", config, fleet.hub.kubeconfig);
      const f = follower;
      await sleep(3000);
      expect(leads(f.container)).toBe(false);
      expect(await leaseHolder(raw, "kmm-hub-pair")).toBe("kmm-hub-pair-a");
      leader.stop("SIGKILL");
      await until("the follower to lead", () => leads(f.container), 30_000);
      expect(await leaseHolder(raw, "kmm-hub-pair")).toBe("kmm-hub-pair-b");
      await createMcm(`pair-${ns}`, sel);
      for (let i = 0; !(await hasWork(cluster, `pair-${ns}`)); i++) {
        if (i > 600) throw new Error("the new leader did not act on a change");
        await sleep(100);
      }
      expect(f.exits).toEqual([]);
    } finally {
      leader.stop();
      follower?.stop();
    }
  });
});
