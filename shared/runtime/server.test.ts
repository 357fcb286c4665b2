import { request } from "node:http";
import { createServer } from "node:net";
import { Counter, Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { BindAddressError, CheckRegistry, type RunningServers, parseBindAddress, serve } from "./server.ts";

let running: RunningServers[] = [];
afterEach(async () => {
  await Promise.all(running.map((r) => r.close(100)));
  running = [];
});

async function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    // A fresh connection per request: a pooled socket would hide a refused connect.
    const req = request({ host: "127.0.0.1", port, path, headers, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => { resolve({ status: res.statusCode ?? 0, body, type: String(res.headers["content-type"]) }); });
    });
    req.on("error", reject);
    req.end();
  });
}

async function start(checks: CheckRegistry, registry = new Registry(), extra: Partial<Parameters<typeof serve>[0]> = {}): Promise<{ probe: number; metrics: number; s: RunningServers }> {
  const s = await serve({ probeAddress: "127.0.0.1:0", metricsAddress: "127.0.0.1:0", checks, registry, ...extra });
  running.push(s);
  return { probe: s.probe?.port ?? 0, metrics: s.metrics?.port ?? 0, s };
}

describe("probe and metrics server", () => {
  it("serves /healthz and /readyz; a failing readiness check gives 500 naming it", async () => {
    const checks = new CheckRegistry();
    let synced = false;
    checks.addHealthCheck("ping", () => true);
    checks.addReadyCheck("informer:ManagedCluster", () => {
      if (!synced) throw new Error("cache not synced");
      return true;
    });
    checks.addReadyCheck("informer:ManifestWork", () => true);
    const { probe } = await start(checks);

    expect(await get(probe, "/healthz")).toMatchObject({ status: 200, body: "ok" });
    const notReady = await get(probe, "/readyz");
    expect(notReady.status).toBe(500);
    expect(notReady.body).toContain("[-]informer:ManagedCluster failed: cache not synced");
    expect(notReady.body).toContain("[+]informer:ManifestWork ok");
    expect(notReady.body).not.toContain("[-]informer:ManifestWork");
    expect((await get(probe, "/readyz/informer:ManifestWork")).status).toBe(200);
    expect((await get(probe, "/readyz/informer:ManagedCluster")).status).toBe(500);
    expect((await get(probe, "/readyz/nope")).status).toBe(404);

    synced = true;
    expect(await get(probe, "/readyz")).toMatchObject({ status: 200, body: "ok" });
    const verbose = await get(probe, "/readyz?verbose");
    expect(verbose.body).toContain("[+]informer:ManagedCluster ok");
    expect(verbose.body).toContain("readyz check passed");
    expect((await get(probe, "/other")).status).toBe(404);
  });

  it("treats a check that returns false or rejects as failed", async () => {
    const checks = new CheckRegistry();
    checks.addReadyCheck("leader-lease", () => false);
    checks.addReadyCheck("async", () => Promise.reject(new Error("apiserver unreachable")));
    const { probe } = await start(checks);
    const r = await get(probe, "/readyz");
    expect(r.status).toBe(500);
    expect(r.body).toContain("[-]leader-lease failed: check returned false");
    expect(r.body).toContain("[-]async failed: apiserver unreachable");
    expect(() => { checks.addReadyCheck("async", () => true); }).toThrow(/already registered/);
  });

  it("serves the given prom-client registry on /metrics", async () => {
    const registry = new Registry();
    new Counter({ name: "kmm_test_total", help: "test", registers: [registry] }).inc(7);
    const { metrics } = await start(new CheckRegistry(), registry);
    const r = await get(metrics, "/metrics");
    expect(r.status).toBe(200);
    expect(r.type).toContain("text/plain");
    expect(r.body).toContain("kmm_test_total 7");
  });

  it("asks the authorizer before serving metrics", async () => {
    const { metrics } = await start(new CheckRegistry(), new Registry(), {
      metricsAuthorizer: (req) => {
        const auth = req.headers.authorization;
        if (auth === undefined) return Promise.resolve("unauthenticated");
        return Promise.resolve(auth === "Bearer good" ? "allowed" : "forbidden");
      },
    });
    expect((await get(metrics, "/metrics")).status).toBe(401);
    expect((await get(metrics, "/metrics", { authorization: "Bearer bad" })).status).toBe(403);
    expect((await get(metrics, "/metrics", { authorization: "Bearer good" })).status).toBe(200);
  });

  it("disables a server bound to \"0\" and reports a port already in use", async () => {
    const s = await serve({ probeAddress: "127.0.0.1:0", metricsAddress: "0", checks: new CheckRegistry(), registry: new Registry() });
    running.push(s);
    expect(s.metrics).toBeUndefined();
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    const port = (blocker.address() as { port: number }).port;
    await expect(serve({ probeAddress: "127.0.0.1:0", metricsAddress: `127.0.0.1:${port}`, checks: new CheckRegistry(), registry: new Registry() })).rejects.toThrow(
      new RegExp(`cannot serve on "127.0.0.1:${port}": .*EADDRINUSE`),
    );
    blocker.close();
  });

  it("closes gracefully: a slow request in flight completes, new connections are refused", async () => {
    const checks = new CheckRegistry();
    checks.addReadyCheck("slow", () => new Promise((r) => setTimeout(() => { r(true); }, 150)));
    const { probe, s } = await start(checks);
    const inFlight = get(probe, "/readyz");
    await new Promise((r) => setTimeout(r, 30));
    const closing = s.close(2000);
    expect(await inFlight).toMatchObject({ status: 200 });
    await closing;
    await expect(get(probe, "/healthz")).rejects.toThrow(/ECONNREFUSED/);
  });

  it("parses bind addresses like controller-runtime", () => {
    expect(parseBindAddress(":8081")).toEqual({ host: undefined, port: 8081 });
    expect(parseBindAddress("0.0.0.0:8443")).toEqual({ host: "0.0.0.0", port: 8443 });
    expect(parseBindAddress("[::1]:9000")).toEqual({ host: "::1", port: 9000 });
    expect(parseBindAddress("0")).toBeUndefined();
    expect(() => parseBindAddress("8080")).toThrow(BindAddressError);
    expect(() => parseBindAddress(":99999")).toThrow(/port must be 0-65535/);
  });
});
