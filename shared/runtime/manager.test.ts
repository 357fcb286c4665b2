import { request } from "node:https";
import { request as httpRequest } from "node:http";
import { Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { KubeConnection } from "../kube/connection.ts";
import { parseConfig } from "./config.ts";
import { Controller } from "./controller.ts";
import { createLogger } from "./logger.ts";
import { CacheSyncTimeoutError, Manager, ManagerConfigError, defaultIdentity } from "./manager.ts";

function get(port: number, path: string, tls: boolean): Promise<{ status: number; body: string; secure: boolean }> {
  return new Promise((resolve, reject) => {
    const req = (tls ? request : httpRequest)(
      // The certificate is the manager's throw-away self-signed one.
      { host: "127.0.0.1", port, path, agent: false, ...(tls ? { rejectUnauthorized: false } : {}) },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => { resolve({ status: res.statusCode ?? 0, body, secure: "encrypted" in res.socket }); });
      },
    );
    req.on("error", reject);
    req.end();
  });
}

function sink(): { stream: Writable; text: () => string } {
  let buf = "";
  return {
    stream: new Writable({
      write(c: Buffer, _e, cb) {
        buf += c.toString();
        cb();
      },
    }),
    text: () => buf,
  };
}

describe("Manager (without leader election)", () => {
  it("serves probes and TLS metrics, runs controllers, and shuts down gracefully on SIGTERM", async () => {
    const config = parseConfig(
      `healthProbeBindAddress: 127.0.0.1:0
metrics: {bindAddress: "127.0.0.1:0", secureServing: true, enableAuthnAuthz: false}
leaderElection: {enabled: false}
`,
      "hub",
    );
    const out = sink();
    const logger = createLogger({ name: "mgr", destination: out.stream });
    const manager = new Manager({ config, name: "kmm-hub", logger });
    const reconciled: string[] = [];
    let abortedInFlight = false;
    const controller = manager.addController(
      new Controller({
        name: "demo",
        logger,
        registry: manager.registry,
        reconcile: async (key, signal) => {
          reconciled.push(key);
          if (key === "slow") {
            await new Promise<void>((r) => signal.addEventListener("abort", () => { r(); }, { once: true }));
            abortedInFlight = signal.aborted;
          }
          return undefined;
        },
      }),
    );
    const removeHandlers = manager.handleSignals();
    const running = manager.run();
    try {
      await until(() => manager.isLeader());
      controller.enqueue("a");
      await until(() => reconciled.includes("a"));

      const { probe = 0, metrics = 0 } = manager.ports();
      expect(await get(probe, "/healthz", false)).toMatchObject({ status: 200, body: "ok" });
      expect(await get(probe, "/readyz", false)).toMatchObject({ status: 200 });
      const m = await get(metrics, "/metrics", true);
      expect(m.secure).toBe(true);
      expect(m.body).toContain('controller_runtime_reconcile_total{controller="demo",result="success"} 1');
      expect(m.body).toContain('workqueue_adds_total{name="demo",controller="demo"} 1');

      controller.enqueue("slow");
      await until(() => reconciled.includes("slow"));
      process.emit("SIGTERM", "SIGTERM");
      await running;
      expect(abortedInFlight).toBe(true);
      expect(manager.isLeader()).toBe(false);
      await expect(get(probe, "/healthz", false)).rejects.toThrow(/ECONNREFUSED/);
      expect(out.text()).toContain('"signal":"SIGTERM"');
      expect(out.text()).toContain('"msg":"shut down"');
    } finally {
      removeHandlers();
      await manager.stop();
    }
  });

  it("runs its memory release idleMs after the caches synced and after each burst of reconciles, never while busy or after stop", async () => {
    const config = parseConfig("healthProbeBindAddress: 127.0.0.1:0\nmetrics: {bindAddress: \"0\"}\nleaderElection: {enabled: false}\n", "hub");
    const out = sink();
    const logger = createLogger({ name: "mgr", destination: out.stream });
    const collections: number[] = [];
    const manager = new Manager({ config, name: "kmm-hub", logger, memoryRelease: { idleMs: 300, collect: () => collections.push(Date.now()) } });
    /** [start, end] of each reconcile, ms */
    const reconciled: [number, number][] = [];
    const controller = manager.addController(
      new Controller({
        name: "demo",
        logger,
        registry: manager.registry,
        reconcile: async (key) => {
          const start = Date.now();
          // "long-…" keys take 4 idle times: no done meanwhile.
          if (key.startsWith("long-")) await sleep(1_200);
          reconciled.push([start, Date.now()]);
          return undefined;
        },
      }),
    );
    let other = false;
    manager.addBusyCheck(() => other);
    const running = manager.run();
    try {
      await until(() => manager.isLeader());
      // The caches synced (none here): one collection 300 ms later.
      await until(() => collections.length === 1);
      // A burst of work every 100 ms for 1 s: no collection meanwhile, one 300 ms after the last.
      for (let i = 0; i < 10; i++) {
        controller.enqueue(`k${i}`);
        await sleep(100);
      }
      expect(collections).toHaveLength(1);
      await until(() => collections.length === 2);
      const last = reconciled.at(-1)?.[1] ?? 0;
      expect(collections[1] ?? 0).toBeGreaterThanOrEqual(last + 290);
      expect(out.text()).toContain("released memory after a burst of work");
      // A short reconcile, then one longer than idleMs: the short one's done arms the release, which
      // comes due while the long one runs; no collection until after it.
      controller.enqueue("k-short");
      controller.enqueue("long-1");
      await until(() => collections.length === 3);
      const long = reconciled.at(-1) ?? [0, 0];
      expect(long[1] - long[0]).toBeGreaterThanOrEqual(1_150);
      expect(collections[2] ?? 0).toBeGreaterThanOrEqual(long[1]);
      // Work besides the controllers (addBusyCheck, noteWork): none while it is under way.
      other = true;
      manager.noteWork();
      await sleep(1_000);
      expect(collections).toHaveLength(3);
      other = false;
      manager.noteWork();
      await until(() => collections.length === 4);
      // Stopped with a collection due: it never comes.
      controller.enqueue("k-last");
      await until(() => reconciled.length === 13);
      await manager.stop();
      await running;
      await sleep(700);
      expect(collections).toHaveLength(4);
    } finally {
      await manager.stop();
    }
  });

  it("refuses to elect a leader without a kubeconfig, naming what is missing", async () => {
    const config = parseConfig("healthProbeBindAddress: 127.0.0.1:0\nmetrics: {bindAddress: \"0\"}\n", "hub");
    const out = sink();
    const manager = new Manager({ config, name: "x", logger: createLogger({ name: "x", destination: out.stream }) });
    await expect(manager.run()).rejects.toThrow(ManagerConfigError);
    await manager.stop();
  });
});

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await sleep(5);
  }
}

describe("Manager.informer", () => {
  it("shares one informer per resource and selector, and registers its readiness check", () => {
    const connection = new KubeConnection({ server: "https://127.0.0.1:1" });
    const config = parseConfig("", "hub");
    const manager = new Manager({ config, connection, name: "x", logger: createLogger({ name: "x", destination: sink().stream }) });
    const schema = z.looseObject({ metadata: z.looseObject({ name: z.string() }) });
    const resource = { apiVersion: "cluster.open-cluster-management.io/v1", kind: "ManagedCluster", plural: "managedclusters" };
    const a = manager.informer({ resource, schema });
    const b = manager.informer({ resource, schema });
    const c = manager.informer({ resource, schema, labelSelector: "env=prod" });
    expect(b).toBe(a);
    expect(c).not.toBe(a);
    expect(() => manager.informer({ resource, schema: z.looseObject({}) })).toThrow(/different schema/);
    return expect(manager.checks.run("readyz")).resolves.toEqual([
      { name: "informer:ManagedCluster", ok: false, reason: "cache of ManagedCluster not synced" },
      { name: "informer:ManagedCluster[env=prod]", ok: false, reason: "cache of ManagedCluster[env=prod] not synced" },
    ]);
  });
});

describe("Manager start-up", () => {
  it("gives up with a clear error when a cache cannot sync (API server unreachable)", async () => {
    // Nothing listens on port 1: every list fails with a real ECONNREFUSED.
    const connection = new KubeConnection({ server: "https://127.0.0.1:1", token: "t" });
    const config = parseConfig("healthProbeBindAddress: 127.0.0.1:0\nmetrics: {bindAddress: \"0\"}\nleaderElection: {enabled: false}\n", "hub");
    const out = sink();
    const manager = new Manager({ config, connection, name: "x", logger: createLogger({ name: "x", destination: out.stream }), cacheSyncTimeoutMs: 1500 });
    manager.informer({
      resource: { apiVersion: "cluster.open-cluster-management.io/v1", kind: "ManagedCluster", plural: "managedclusters" },
      schema: z.looseObject({ metadata: z.looseObject({ name: z.string() }) }),
    });
    const err: unknown = await manager.run().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CacheSyncTimeoutError);
    expect(String(err)).toMatch(/caches not synced within 1500 ms: ManagedCluster \(.*ECONNREFUSED.*\); check that the CRDs are installed/);
    expect(manager.ports().probe).toBeDefined();
  });
});

describe("defaultIdentity", () => {
  it("is the pod's name when the Deployment passes it, so a restarted container succeeds its own Lease; else hostname plus a random suffix", () => {
    expect(defaultIdentity({ POD_NAME: "kmm-hub-7d9f8-abcde" })).toBe("kmm-hub-7d9f8-abcde");
    const a = defaultIdentity({});
    const b = defaultIdentity({ POD_NAME: "" });
    expect(a).toMatch(/^.+_[0-9a-f]{8}$/);
    expect(b).toMatch(/^.+_[0-9a-f]{8}$/);
    expect(a).not.toBe(b);
  });
});
