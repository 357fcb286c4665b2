// The informer against a real kube-apiserver: sync and cache, handlers, and
// recovery from real failures (connections reset on the network path; the
// watched resource's CRD deleted and recreated).
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { ApiException, ApiextensionsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { FaultProxy } from "../shared/runtime/fault-proxy.ts";
import { Informer } from "../shared/runtime/informer.ts";
import { createLogger } from "../shared/runtime/logger.ts";
import type { KubeConnection } from "../shared/kube/connection.ts";
import { connectionFrom } from "./controlplane/kube.ts";
import { serviceAccountConnection } from "./support/service-account.ts";
import { RawClient } from "../shared/kube/raw.ts";
import { RbacAuthorizationV1Api } from "@kubernetes/client-node";

const fleet = inject("fleet");
const log = createLogger({ name: "e2e-informer", level: "warn" });

const configMapSchema = z.looseObject({
  apiVersion: z.literal("v1"),
  kind: z.literal("ConfigMap"),
  metadata: z.looseObject({ name: z.string(), namespace: z.string(), resourceVersion: z.string() }),
  data: z.record(z.string(), z.string()).optional(),
});

const widgetSchema = z.looseObject({
  apiVersion: z.literal("e2e.kmm-hub.test/v1"),
  kind: z.literal("Widget"),
  metadata: z.looseObject({ name: z.string(), namespace: z.string(), resourceVersion: z.string() }),
  spec: z.looseObject({ size: z.number() }),
});

let kc: KubeConfig;
let conn: KubeConnection;
let core: CoreV1Api;
let ns: string;
const informers: Informer<{ metadata?: { name?: string } }>[] = [];
const proxies: FaultProxy[] = [];

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

function track<T extends { metadata?: { name?: string } }>(i: Informer<T>): Informer<T> {
  informers.push(i as unknown as Informer<{ metadata?: { name?: string } }>);
  return i;
}

async function createCm(name: string, data: Record<string, string>, labels = { e2e: "informer" }): Promise<void> {
  await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name, labels }, data } });
}


beforeAll(async () => {
  kc = new KubeConfig();
  kc.loadFromFile(fleet.hub.kubeconfig);
  conn = await connectionFrom(fleet.hub.kubeconfig);
  core = kc.makeApiClient(CoreV1Api);
  ns = `informer-${randomBytes(3).toString("hex")}`;
  await core.createNamespace({ body: { metadata: { name: ns } } });
});

afterAll(async () => {
  await Promise.all(informers.map((i) => i.stop()));
  await Promise.all(proxies.map((p) => p.stop()));
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
});

describe("Informer on a real API server", () => {
  it("lists (paged) into a cache, reports sync, and applies add/update/delete with handlers", async () => {
    for (let i = 0; i < 7; i++) await createCm(`cm-${i}`, { k: `v${i}` });
    await createCm("unlabelled", { k: "x" }, { e2e: "other" });

    const informer = track(
      new Informer({
        connection: conn,
        resource: { apiVersion: "v1", kind: "ConfigMap", plural: "configmaps", namespace: ns },
        schema: configMapSchema,
        logger: log,
        labelSelector: "e2e=informer",
        pageSize: 3, // 7 objects → 3 pages
      }),
    );
    const added: string[] = [];
    const updated: { name: string; old: string | undefined; now: string | undefined }[] = [];
    const deleted: string[] = [];
    informer.onAdd((o) => added.push(o.metadata.name));
    informer.onUpdate((o, old) => updated.push({ name: o.metadata.name, old: old?.data?.k, now: o.data?.k }));
    informer.onDelete((o) => deleted.push(o.metadata.name));
    const ready = informer.readinessCheck();

    expect(informer.hasSynced()).toBe(false);
    expect(() => ready()).toThrow(/cache of ConfigMap\/informer-\w+\[e2e=informer\] not synced/);
    informer.start();
    await informer.waitForSync();
    expect(informer.hasSynced()).toBe(true);
    expect(ready()).toBe(true);

    const names = informer.list().map((c) => c.metadata.name).sort();
    expect(names).toEqual(["cm-0", "cm-1", "cm-2", "cm-3", "cm-4", "cm-5", "cm-6"]);
    expect(informer.list(ns)).toHaveLength(7);
    expect(informer.list("another-namespace")).toHaveLength(0);
    expect(informer.get(ns, "cm-4")).toMatchObject({ apiVersion: "v1", kind: "ConfigMap", data: { k: "v4" } });
    expect(informer.get(ns, "unlabelled")).toBeUndefined();
    expect(added.sort()).toEqual(names);

    await createCm("cm-new", { k: "fresh" });
    await core.patchNamespacedConfigMap(
      { name: "cm-1", namespace: ns, body: [{ op: "replace", path: "/data/k", value: "changed" }] },
    );
    await core.deleteNamespacedConfigMap({ name: "cm-0", namespace: ns });

    await until("the three events to reach the cache", () =>
      informer.get(ns, "cm-new") !== undefined && informer.get(ns, "cm-1")?.data?.k === "changed" && informer.get(ns, "cm-0") === undefined,
    );
    expect(added).toContain("cm-new");
    expect(updated).toContainEqual({ name: "cm-1", old: "v1", now: "changed" });
    expect(deleted).toEqual(["cm-0"]);
    expect(informer.restartCount()).toBe(0);
  });

  it("restarts a watch whose connection is reset, and catches up on changes made meanwhile", async () => {
    const server = new URL(fleet.hub.server);
    const proxy = new FaultProxy(server.hostname, Number(server.port));
    proxies.push(proxy);
    const port = await proxy.start();
    const informer = track(
      new Informer({
        connection: conn.withServer(`https://127.0.0.1:${port}`),
        resource: { apiVersion: "v1", kind: "ConfigMap", plural: "configmaps", namespace: ns },
        schema: configMapSchema,
        logger: log,
        labelSelector: "e2e=outage",
        baseBackoffMs: 100,
        maxBackoffMs: 1000,
        unreadyAfterFailingMs: 500,
      }),
    );
    const deleted: string[] = [];
    informer.onDelete((o) => deleted.push(o.metadata.name));
    const ready = informer.readinessCheck();
    await createCm("before", { k: "1" }, { e2e: "outage" });
    await createCm("doomed", { k: "1" }, { e2e: "outage" });
    informer.start();
    await informer.waitForSync();
    expect(informer.list().map((c) => c.metadata.name).sort()).toEqual(["before", "doomed"]);
    await until("the watch connection to be open", () => proxy.openConnections() > 0);

    // The network path breaks: every connection is reset and reconnects are refused.
    await proxy.cut();
    await createCm("during", { k: "made while the informer was cut off" }, { e2e: "outage" });
    await core.deleteNamespacedConfigMap({ name: "doomed", namespace: ns });
    await until("readiness to report the failing watch", () => {
      try {
        ready();
        return false;
      } catch (err: unknown) {
        return err instanceof Error && /watch of ConfigMap\/\S+\[e2e=outage\] failing since/.test(err.message);
      }
    });
    expect(informer.get(ns, "during")).toBeUndefined();
    expect(informer.restartCount()).toBeGreaterThanOrEqual(1);

    await proxy.restore();
    await until("the cache to catch up after the outage", () => informer.get(ns, "during") !== undefined && informer.get(ns, "doomed") === undefined);
    expect(deleted).toContain("doomed");
    // Readiness follows the watch, not the list: green again once the new watch is open.
    await until("readiness to recover with the watch", () => {
      try {
        return ready();
      } catch {
        return false;
      }
    });

    // And it keeps watching afterwards.
    await createCm("after", { k: "1" }, { e2e: "outage" });
    await until("a post-recovery event", () => informer.get(ns, "after") !== undefined);
  });

  it("keeps an object its schema refuses: never reported deleted (not even by a relist), flagged invalid", async () => {
    const server = new URL(fleet.hub.server);
    const proxy = new FaultProxy(server.hostname, Number(server.port));
    proxies.push(proxy);
    const port = await proxy.start();
    // Valid for the API server, refused by the schema once data.state is "bad".
    const strict = configMapSchema.refine((c) => c.data?.state !== "bad", { message: "state must not be bad" });
    const make = (connection: KubeConnection) =>
      track(
        new Informer({
          connection,
          resource: { apiVersion: "v1", kind: "ConfigMap", plural: "configmaps", namespace: ns },
          schema: strict,
          logger: createLogger({ name: "e2e-informer", level: "fatal" }),
          labelSelector: "e2e=invalid",
          baseBackoffMs: 100,
          maxBackoffMs: 500,
        }),
      );
    await createCm("odd", { state: "good" }, { e2e: "invalid" });
    const informer = make(conn.withServer(`https://127.0.0.1:${port}`));
    const deleted: string[] = [];
    informer.onDelete((o) => deleted.push(o.metadata.name));
    informer.start();
    await informer.waitForSync();
    expect(informer.get(ns, "odd")?.data?.state).toBe("good");

    await new RawClient(conn).request("PATCH", `/api/v1/namespaces/${ns}/configmaps/odd`, { data: { state: "bad" } }, "application/merge-patch+json");
    await until("the refused version to be noticed", () => informer.isInvalid(ns, "odd"));
    expect(informer.get(ns, "odd")?.data?.state).toBe("good");

    // A relist (after a real connection reset) sees it invalid again: still not a deletion.
    const restarts = informer.restartCount();
    await proxy.cut();
    await until("the watch to fail", () => informer.restartCount() > restarts || informer.lastFailure() !== undefined);
    await proxy.restore();
    await createCm("marker", { state: "good" }, { e2e: "invalid" });
    await until("the relisted cache", () => informer.get(ns, "marker") !== undefined);
    expect(deleted).toEqual([]);
    expect(informer.get(ns, "odd")?.data?.state).toBe("good");
    expect(informer.isInvalid(ns, "odd")).toBe(true);

    // A new informer never had a valid version: absent, flagged, not deleted.
    const fresh = make(conn);
    const freshDeleted: string[] = [];
    fresh.onDelete((o) => freshDeleted.push(o.metadata.name));
    fresh.start();
    await fresh.waitForSync();
    expect(fresh.get(ns, "odd")).toBeUndefined();
    expect(fresh.isInvalid(ns, "odd")).toBe(true);
    expect(freshDeleted).toEqual([]);

    // Deleted for real: gone and no longer flagged.
    await core.deleteNamespacedConfigMap({ name: "odd", namespace: ns });
    await until("the real deletion", () => deleted.includes("odd") && !informer.isInvalid(ns, "odd"));
  });

  it("backs off exponentially and reports unready when it may list but not watch", async () => {
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    const sa = "list-only";
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: sa } } });
    await rbac.createNamespacedRole({ namespace: ns, body: { metadata: { name: sa }, rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["list"] }] } });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: { metadata: { name: sa }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: sa }, subjects: [{ kind: "ServiceAccount", name: sa, namespace: ns }] },
    });
    const saConn = await serviceAccountConnection({ core, admin: conn, namespace: ns, serviceAccount: sa });
    const informer = track(
      new Informer({
        connection: saConn,
        resource: { apiVersion: "v1", kind: "ConfigMap", plural: "configmaps", namespace: ns },
        schema: configMapSchema,
        logger: createLogger({ name: "e2e-informer", level: "fatal" }),
        baseBackoffMs: 200,
        maxBackoffMs: 10_000,
        unreadyAfterFailingMs: 500,
      }),
    );
    const ready = informer.readinessCheck();
    informer.start();
    // RBAC is eventually consistent: the first lists may be refused too.
    await informer.waitForSync();
    const from = informer.restartCount();
    await sleep(3000);
    // 200, 400, 800, 1600 ms …: a handful of retries in 3 s, not one every 200 ms.
    const retries = informer.restartCount() - from;
    expect(retries).toBeGreaterThanOrEqual(1);
    expect(retries).toBeLessThanOrEqual(5);
    expect(() => ready()).toThrow(/failing since .*forbidden/i);
  });

  it("survives its CRD being deleted and recreated, and ends up with the new objects only", async () => {
    const ext = kc.makeApiClient(ApiextensionsV1Api);
    const custom = kc.makeApiClient(CustomObjectsApi);
    const crdName = "widgets.e2e.kmm-hub.test";
    const crd = {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: crdName },
      spec: {
        group: "e2e.kmm-hub.test",
        scope: "Namespaced",
        names: { plural: "widgets", singular: "widget", kind: "Widget", listKind: "WidgetList" },
        versions: [
          {
            name: "v1",
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: "object", properties: { spec: { type: "object", properties: { size: { type: "integer" } } } } } },
          },
        ],
      },
    };
    const established = async (): Promise<boolean> => {
      try {
        const c = await ext.readCustomResourceDefinition({ name: crdName });
        return (c.status?.conditions ?? []).some((x) => x.type === "Established" && x.status === "True");
      } catch {
        return false;
      }
    };
    const gone = async (): Promise<boolean> => {
      try {
        await ext.readCustomResourceDefinition({ name: crdName });
        return false;
      } catch (err: unknown) {
        return err instanceof ApiException && err.code === 404;
      }
    };
    const createWidget = async (name: string, size: number): Promise<void> => {
      // Discovery of a fresh CRD can lag "Established" by a moment.
      await until(`widget ${name} to be created`, async () => {
        try {
          await custom.createNamespacedCustomObject({
            group: "e2e.kmm-hub.test",
            version: "v1",
            namespace: ns,
            plural: "widgets",
            body: { apiVersion: "e2e.kmm-hub.test/v1", kind: "Widget", metadata: { name }, spec: { size } },
          });
          return true;
        } catch (err: unknown) {
          if (err instanceof ApiException && err.code === 404) return false;
          throw err;
        }
      });
    };

    if (!(await gone())) {
      await ext.deleteCustomResourceDefinition({ name: crdName });
      await until("a leftover CRD to go", gone, 60_000);
    }
    await ext.createCustomResourceDefinition({ body: crd });
    await until("the CRD to be established", established);
    await createWidget("old", 1);

    const informer = track(
      new Informer({
        connection: conn,
        resource: { apiVersion: "e2e.kmm-hub.test/v1", kind: "Widget", plural: "widgets", namespace: ns },
        schema: widgetSchema,
        logger: log,
        baseBackoffMs: 100,
        maxBackoffMs: 1000,
      }),
    );
    informer.start();
    await informer.waitForSync();
    expect(informer.get(ns, "old")?.spec.size).toBe(1);

    await ext.deleteCustomResourceDefinition({ name: crdName });
    await until("the CRD to be deleted", gone, 60_000);
    // While the kind does not exist, list and watch fail with 404: the informer keeps retrying.
    await sleep(1500);

    await ext.createCustomResourceDefinition({ body: crd });
    await until("the CRD to be established again", established);
    await createWidget("new", 2);

    await until("the informer to see the recreated kind", () => informer.get(ns, "new")?.spec.size === 2, 60_000);
    expect(informer.get(ns, "old")).toBeUndefined();
    expect(informer.list().map((w) => w.metadata.name)).toEqual(["new"]);
    expect(informer.restartCount()).toBeGreaterThanOrEqual(1);

    await ext.deleteCustomResourceDefinition({ name: crdName });
  });
});
