// RawClient against a real kube-apiserver, without @kubernetes/client-node in the path: paths by
// discovery, typed errors, streaming watches (events, the server's own end, abort, failing handlers),
// and a rotated token file picked up after a 401.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { KubeConnection, loadKubeconfigFile } from "../shared/kube/connection.ts";
import { ApiError, RawClient, UnknownKindError, isNotFound, type WatchEvent } from "../shared/kube/raw.ts";
import { establishedTo } from "../shared/testing/sockets.ts";
import { connectionFrom } from "./controlplane/kube.ts";
import { UNPRIVILEGED_USER } from "./controlplane/fleet.ts";

const fleet = inject("fleet");
const ns = `raw-${randomBytes(3).toString("hex")}`;
let raw: RawClient;

const configMap = (name: string, data: Record<string, string>) => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: ns }, data });
const withData = z.looseObject({ metadata: z.looseObject({ resourceVersion: z.string() }), data: z.record(z.string(), z.string()).optional() });

beforeAll(async () => {
  raw = new RawClient(await connectionFrom(fleet.hub.kubeconfig));
  await raw.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } }, "kmm-e2e");
});

afterAll(async () => {
  await raw.delete({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } }).catch(() => undefined);
  raw.close();
});

describe("RawClient on a real API server", () => {
  it("applies, reads and deletes namespaced and cluster-scoped objects at the paths discovery gives", async () => {
    const stored = withData.parse(await raw.apply(configMap("a", { k: "v" }), "kmm-e2e"));
    expect(stored.data).toEqual({ k: "v" });
    expect(withData.parse(await raw.get(configMap("a", {}))).data).toEqual({ k: "v" });
    expect(await raw.objectPath(configMap("a", {}))).toBe(`/api/v1/namespaces/${ns}/configmaps/a`);
    expect(await raw.objectPath({ apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name: "x" } })).toBe(
      "/apis/rbac.authorization.k8s.io/v1/clusterroles/x",
    );
    await raw.delete(configMap("a", {}));
    const err: unknown = await raw.get(configMap("a", {})).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(isNotFound(err)).toBe(true);
    expect(String(err)).toContain(`GET /api/v1/namespaces/${ns}/configmaps/a: configmaps "a" not found`);
  });

  it("names a kind or group version the server does not serve", async () => {
    await expect(raw.apply({ apiVersion: "v1", kind: "Gadget", metadata: { name: "x" } }, "kmm-e2e")).rejects.toThrow(UnknownKindError);
    await expect(raw.get({ apiVersion: "nope.example.com/v1", kind: "Gadget", metadata: { name: "x" } })).rejects.toThrow(
      /API group version nope.example.com\/v1 is not served .*is its CRD installed\?/,
    );
  });

  it("streams watch events from a resourceVersion and resolves when the server ends the watch", async () => {
    const list = z.looseObject({ metadata: z.looseObject({ resourceVersion: z.string() }) }).parse((await raw.request("GET", `/api/v1/namespaces/${ns}/configmaps`)).body);
    await raw.apply(configMap("w1", { n: "1" }), "kmm-e2e");
    await raw.apply(configMap("w1", { n: "2" }), "kmm-e2e");
    await raw.delete(configMap("w1", {}));
    const events: WatchEvent[] = [];
    const t0 = performance.now();
    await raw.watch(`/api/v1/namespaces/${ns}/configmaps`, { resourceVersion: list.metadata.resourceVersion, timeoutSeconds: "2" }, (e) => events.push(e));
    expect(performance.now() - t0).toBeGreaterThan(1500);
    // Only w1's events: kube-controller-manager's root-ca-cert-publisher adds kube-root-ca.crt to a new
    // namespace whenever it gets to it, which may be after the LIST above (CI saw it as one more ADDED).
    const named = z.looseObject({ metadata: z.looseObject({ name: z.string() }) });
    const ofW1 = events.filter((e) => e.type !== "BOOKMARK" && named.parse(e.object).metadata.name === "w1");
    expect(ofW1.map((e) => [e.type, withData.parse(e.object).data?.n])).toEqual([
      ["ADDED", "1"],
      ["MODIFIED", "2"],
      ["DELETED", "2"],
    ]);
  });

  it("stops a watch on abort, and rejects when a handler throws", async () => {
    const abort = new AbortController();
    const watching = raw.watch(`/api/v1/namespaces/${ns}/configmaps`, { timeoutSeconds: "60" }, () => undefined, abort.signal);
    setTimeout(() => { abort.abort(); }, 300);
    const t0 = performance.now();
    await watching;
    expect(performance.now() - t0).toBeLessThan(5000);

    await raw.apply(configMap("boom", { k: "v" }), "kmm-e2e");
    await expect(
      raw.watch(`/api/v1/namespaces/${ns}/configmaps`, { timeoutSeconds: "30" }, () => { throw new Error("handler failed"); }),
    ).rejects.toThrow("handler failed");
  });

  it("re-reads a token file after a 401 and retries with the new token", async () => {
    const userKubeconfig = fleet.hub.users[UNPRIVILEGED_USER];
    if (userKubeconfig === undefined) throw new Error(`the fleet has no ${UNPRIVILEGED_USER} user`);
    const realToken = await (await loadKubeconfigFile(userKubeconfig)).bearerToken();
    if (realToken === undefined) throw new Error("token user without a token");
    const admin = await connectionFrom(fleet.hub.kubeconfig);
    const dir = await mkdtemp(join(tmpdir(), "kmm-raw-token-"));
    const tokenFile = join(dir, "token");
    await writeFile(tokenFile, "revoked-token");
    const client = new RawClient(new KubeConnection({ server: admin.server, ca: admin.ca, tokenFile }));
    try {
      const denied: unknown = await client.request("GET", "/api/v1").catch((e: unknown) => e);
      expect(denied).toBeInstanceOf(ApiError);
      expect((denied as ApiError).code).toBe(401);
      // The kubelet rotates the projected token: the next request must not wait a minute for it.
      await writeFile(tokenFile, realToken);
      const res = await client.request("GET", "/api/v1");
      expect(res.status).toBe(200);
    } finally {
      client.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("caps its connections, keeps at most maxIdle of them idle and closes those after the idle timeout, without cutting a long watch", async () => {
    const conn = await connectionFrom(fleet.hub.kubeconfig);
    const port = Number(new URL(conn.server).port || 443);
    const client = new RawClient(conn, { maxConnections: 4, idle: { maxIdle: 2, idleTimeoutMs: 500 } });
    try {
      const base = await establishedTo(port);
      // Six watches the server ends after 2 s, silent longer than the idle timeout: four run at once, two wait for a connection.
      const ended: number[] = [];
      const t0 = performance.now();
      const watches = Array.from({ length: 6 }, () =>
        client.watch(`/api/v1/namespaces/${ns}/secrets`, { timeoutSeconds: "2", allowWatchBookmarks: "false" }, () => undefined).then(() => ended.push(performance.now() - t0)));
      await new Promise((r) => setTimeout(r, 1000));
      expect(await establishedTo(port)).toBe(base + 4);
      await Promise.all(watches);
      // None was cut by the 500 ms idle timeout: the first four ran their 2 s, the two queued ones 2 s after them.
      expect(ended.every((ms) => ms >= 1900)).toBe(true);
      expect(Math.max(...ended)).toBeGreaterThanOrEqual(3900);
      // Back in the pool: at most two idle ones kept, and those closed once idle for 500 ms.
      expect(await establishedTo(port)).toBeLessThanOrEqual(base + 2);
      await new Promise((r) => setTimeout(r, 1500));
      expect(await establishedTo(port)).toBeLessThanOrEqual(base);
      // The pool opens connections again when asked.
      expect((await client.request("GET", "/api/v1")).status).toBe(200);
    } finally {
      client.close();
    }
  });
});
