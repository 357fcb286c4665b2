// The hub on the local fleet: a real registry, the hub controllers in-process against the hub
// API server under the ServiceAccount and RBAC they ship with (hub/deploy/rbac.yaml), real OCM
// agents carrying claims up and ManifestWorks down to both spokes.
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { ApiException, type KubernetesObject } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { createHub, type Hub } from "../hub/main.ts";
import { KERNEL_VERSIONS_CLAIM, MCM_NAME_LABEL } from "../hub/names.ts";
import type { KubeConnection } from "../shared/kube/connection.ts";
import { ApiError, RawClient } from "../shared/kube/raw.ts";
import { ManifestWork, type ManifestWorkObject } from "../shared/ocm/index.ts";
import { RegistryClient, buildLayer, pushImage } from "../shared/registry/index.ts";
import { startRegistry, type RegistryServer } from "../shared/registry/testing/registry-server.ts";
import { createLogger, parseConfig } from "../shared/runtime/index.ts";
import { connectionFrom } from "./controlplane/kube.ts";
import { clientsFor, eventually } from "./support/clients.ts";
import { applyManifests, readManifests } from "./support/manifests.ts";
import { serviceAccountConnection } from "./support/service-account.ts";

const fleet = inject("fleet");
const hub = clientsFor(fleet.hub.kubeconfig);
const hubAdmin = await connectionFrom(fleet.hub.kubeconfig);
const hubRaw = new RawClient(hubAdmin);
const spokes = await Promise.all(fleet.spokes.map(async (s) => ({ name: s.name, ...clientsFor(s.kubeconfig), raw: new RawClient(await connectionFrom(s.kubeconfig)) })));
const suffix = randomBytes(3).toString("hex");
const mcmName = `kmod-${suffix}`;
// The namespace rbac.yaml grants (pull secrets, Lease). Other runs on the same fleet share it: this
// run's Lease and pull secret carry the suffix, and the namespace itself is left in place.
const hubNamespace = "kmm-hub";
const HUB_SERVICE_ACCOUNT = "kmm-hub";
const pullSecret = `pull-${suffix}`;
const leaseName = `kmm-hub-${suffix}`;
const spokeNamespace = `kmm-${suffix}`;
const clusterLabel = `kmm-e2e-hub-${suffix}`;
const K1 = "6.1.0-18-amd64";
const K2 = "6.1.0-20-amd64";

let registry: RegistryServer;
let registryStopped = false;
let registryClient: RegistryClient;
const hubs: Hub[] = [];
const hubConnections = new Map<Hub, KubeConnection>();
const runs: Promise<void>[] = [];

const tls = { insecure: true };
const repo = () => `${registry.host}/kmm/kmod-${suffix}`;

async function push(kernel: string, content: string): Promise<string> {
  const layer = buildLayer([{ path: `opt/lib/modules/${kernel}/kmod.ko`, content }]);
  return (await pushImage(registryClient, `${repo()}:${kernel}`, { layers: [layer] }, { tls })).digest;
}

async function setClaim(spoke: (typeof spokes)[number], value: string): Promise<void> {
  await spoke.raw.apply(
    { apiVersion: "cluster.open-cluster-management.io/v1alpha1", kind: "ClusterClaim", metadata: { name: KERNEL_VERSIONS_CLAIM }, spec: { value } } as KubernetesObject,
    "kmm-e2e",
  );
}

async function labelCluster(cluster: string, value: string | null): Promise<void> {
  await hubRaw.request("PATCH", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${cluster}`, { metadata: { labels: { [clusterLabel]: value } } }, "application/merge-patch+json");
}

const claimsSchema = z.looseObject({ status: z.looseObject({ clusterClaims: z.array(z.object({ name: z.string(), value: z.string() })).optional() }).optional() });

async function claimOnHub(cluster: string): Promise<string | undefined> {
  const mc = claimsSchema.parse((await hubRaw.request("GET", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${cluster}`)).body);
  return mc.status?.clusterClaims?.find((c) => c.name === KERNEL_VERSIONS_CLAIM)?.value;
}

async function getWork(cluster: string): Promise<ManifestWorkObject | undefined> {
  try {
    return ManifestWork.parse((await hubRaw.request("GET", `/apis/work.open-cluster-management.io/v1/namespaces/${cluster}/manifestworks/${mcmName}`)).body);
  } catch (err: unknown) {
    if (err instanceof ApiError && err.code === 404) return undefined;
    throw err;
  }
}

const spokeModuleSchema = z.looseObject({
  spec: z.looseObject({
    moduleLoader: z.looseObject({
      container: z.looseObject({ kernelMappings: z.array(z.looseObject({ literal: z.string().optional(), containerImage: z.string().optional() })), build: z.unknown().optional(), sign: z.unknown().optional() }),
    }),
  }),
});

async function spokeModule(spoke: (typeof spokes)[number]): Promise<z.infer<typeof spokeModuleSchema> | undefined> {
  try {
    return spokeModuleSchema.parse((await spoke.raw.request("GET", `/apis/kmm.sigs.x-k8s.io/v1beta1/namespaces/${spokeNamespace}/modules/${mcmName}`)).body);
  } catch (err: unknown) {
    if (err instanceof ApiError && err.code === 404) return undefined;
    throw err;
  }
}

function mappingsOf(m: z.infer<typeof spokeModuleSchema> | undefined): Record<string, string> {
  return Object.fromEntries((m?.spec.moduleLoader.container.kernelMappings ?? []).map((k) => [k.literal ?? "", k.containerImage ?? ""]));
}

const mcmStatusSchema = z.looseObject({
  status: z
    .looseObject({
      numberDesired: z.number().optional(),
      numberApplied: z.number().optional(),
      conditions: z.array(z.looseObject({ type: z.string(), status: z.string(), reason: z.string() })).optional(),
    })
    .optional(),
});

async function mcmStatus(): Promise<z.infer<typeof mcmStatusSchema>["status"]> {
  return mcmStatusSchema.parse((await hubRaw.request("GET", `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${mcmName}`)).body).status;
}

async function startHubInstance(identity: string): Promise<Hub> {
  const config = parseConfig(
    [
      'healthProbeBindAddress: "127.0.0.1:0"',
      "metrics:",
      // Secure serving with authn/authz, as deployment.yaml ships it: scrapers' tokens are reviewed
      // with the hub's own credentials.
      '  bindAddress: "127.0.0.1:0"',
      "leaderElection:",
      "  enabled: true",
      `  resourceID: ${leaseName}`,
      "  leaseDuration: 4s",
      "  renewDeadline: 3s",
      "  retryPeriod: 500ms",
      "digestRefreshInterval: 3s",
      "maxConcurrentReconciles: 2",
    ].join("\n"),
    "hub",
    "e2e hub config",
  );
  const logger = createLogger({ name: `kmm-hub-${identity}`, level: "info", destination: createWriteStream(join(fleet.hub.logDir, `kmm-hub-${suffix}-${identity}.log`)) });
  // Each replica with its own token, as two pods would have.
  const connection = await serviceAccountConnection({ core: hub.core, admin: hubAdmin, namespace: hubNamespace, serviceAccount: HUB_SERVICE_ACCOUNT });
  const h = await createHub({ config, connection, namespace: hubNamespace, identity, logger });
  hubs.push(h);
  hubConnections.set(h, connection);
  runs.push(h.manager.run().catch(() => undefined));
  return h;
}

// A scraper allowed by the shipped kmm-hub-metrics-reader ClusterRole, and one that is not.
const scraperServiceAccount = `scraper-${suffix}`;
const unboundServiceAccount = `unbound-${suffix}`;
const scraperBinding = `kmm-hub-metrics-reader-${suffix}`;

async function serviceAccountToken(name: string): Promise<string> {
  const tr = await hub.core.createNamespacedServiceAccountToken({ name, namespace: hubNamespace, body: { spec: { audiences: [], expirationSeconds: 600 } } });
  return z.string().min(1).parse(tr.status?.token);
}

const selfSubjectReviewSchema = z.object({ status: z.object({ userInfo: z.object({ username: z.string() }) }) });

async function whoAmI(connection: KubeConnection): Promise<string> {
  const raw = new RawClient(connection);
  try {
    const res = await raw.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" });
    return selfSubjectReviewSchema.parse(res.body).status.userInfo.username;
  } finally {
    raw.close();
  }
}

/** GET /metrics over TLS (the hub's certificate is self-signed) with an optional bearer token. */
function scrape(port: number, token: string | undefined): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: "127.0.0.1", port, path: "/metrics", method: "GET", rejectUnauthorized: false, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => { resolve({ status: res.statusCode ?? 0, body }); });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

const accessReviewSchema = z.object({ status: z.object({ allowed: z.boolean() }) });

/** Whether the API server's RBAC cache already lets `user` GET /metrics (the hub caches verdicts). */
async function mayScrape(user: string): Promise<boolean> {
  const res = await hubRaw.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", {
    apiVersion: "authorization.k8s.io/v1",
    kind: "SubjectAccessReview",
    spec: { user, groups: ["system:serviceaccounts", `system:serviceaccounts:${hubNamespace}`, "system:authenticated"], nonResourceAttributes: { path: "/metrics", verb: "get" } },
  });
  return accessReviewSchema.parse(res.body).status.allowed;
}

const eventSchema = z.object({ items: z.array(z.looseObject({ reason: z.string(), message: z.string(), involvedObject: z.looseObject({ name: z.string().optional() }) })) });

async function mcmEvents(): Promise<{ reason: string; message: string }[]> {
  const list = eventSchema.parse((await hubRaw.request("GET", `/api/v1/namespaces/default/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${mcmName}`)}`)).body);
  return list.items;
}

beforeAll(async () => {
  registry = await startRegistry();
  registryClient = new RegistryClient();
  await hub.core.createNamespace({ body: { metadata: { name: hubNamespace } } }).catch((e: unknown) => {
    if (!(e instanceof ApiException && e.code === 409)) throw e;
  });
  await applyManifests(hubRaw, await readManifests(new URL("../hub/deploy/rbac.yaml", import.meta.url)));
  for (const name of [scraperServiceAccount, unboundServiceAccount]) await hub.core.createNamespacedServiceAccount({ namespace: hubNamespace, body: { metadata: { name } } });
  await hubRaw.apply(
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: scraperBinding },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "kmm-hub-metrics-reader" },
      subjects: [{ kind: "ServiceAccount", name: scraperServiceAccount, namespace: hubNamespace }],
    } as KubernetesObject,
    "kmm-e2e",
  );
  await eventually("scraper binding in effect", () => mayScrape(`system:serviceaccount:${hubNamespace}:${scraperServiceAccount}`), 30_000);
  await hub.core.createNamespacedSecret({
    namespace: hubNamespace,
    body: {
      metadata: { name: pullSecret },
      type: "kubernetes.io/dockerconfigjson",
      data: { ".dockerconfigjson": Buffer.from(JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from("u:p").toString("base64") } } })).toString("base64") },
    },
  });
  for (const s of spokes) {
    await s.core.createNamespace({ body: { metadata: { name: spokeNamespace } } });
    await setClaim(s, K1);
    await labelCluster(s.name, "true");
  }
  for (const s of spokes) await eventually(`claim of ${s.name} on the hub`, async () => (await claimOnHub(s.name)) === K1, 120_000);
});

afterAll(async () => {
  await Promise.all(hubs.map((h) => h.manager.stop()));
  await Promise.all(runs);
  await hubRaw.request("DELETE", `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${mcmName}`).catch(() => undefined);
  for (const s of spokes) {
    await labelCluster(s.name, null).catch(() => undefined);
    await s.raw.request("DELETE", `/apis/cluster.open-cluster-management.io/v1alpha1/clusterclaims/${KERNEL_VERSIONS_CLAIM}`).catch(() => undefined);
    await s.core.deleteNamespace({ name: spokeNamespace }).catch(() => undefined);
  }
  await hub.core.deleteNamespacedSecret({ namespace: hubNamespace, name: pullSecret }).catch(() => undefined);
  for (const name of [scraperServiceAccount, unboundServiceAccount]) await hub.core.deleteNamespacedServiceAccount({ namespace: hubNamespace, name }).catch(() => undefined);
  await hubRaw.request("DELETE", `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${scraperBinding}`).catch(() => undefined);
  await hubRaw.request("DELETE", `/apis/coordination.k8s.io/v1/namespaces/${hubNamespace}/leases/${leaseName}`).catch(() => undefined);
  registryClient.close();
  // stop() waits for an exit that has already happened when called twice.
  if (!registryStopped) await registry.stop();
});

describe("KMM-Hub on the local fleet", () => {
  let digest1 = "";
  let digest2 = "";

  it("runs two hub replicas with one leader", async () => {
    const a = await startHubInstance("a");
    const b = await startHubInstance("b");
    await eventually("one leader", () => Promise.resolve(a.manager.isLeader() !== b.manager.isLeader()), 30_000);
    expect([a.manager.isLeader(), b.manager.isLeader()].filter(Boolean)).toHaveLength(1);
    // Proof that the suite exercises rbac.yaml: the replicas are the ServiceAccount, not the admin.
    for (const h of [a, b]) expect(await whoAmI(hubConnections.get(h)!)).toBe(`system:serviceaccount:${hubNamespace}:${HUB_SERVICE_ACCOUNT}`);
  });

  it("serves metrics to a scraper bound to kmm-hub-metrics-reader and refuses others", async () => {
    const leader = hubs.find((h) => h.manager.isLeader())!;
    const port = leader.manager.ports().metrics;
    expect(port).toBeGreaterThan(0);
    const granted = await serviceAccountToken(scraperServiceAccount);
    const other = await serviceAccountToken(unboundServiceAccount);
    const ok = await scrape(port!, granted);
    expect(ok.status).toBe(200);
    expect(ok.body).toContain("controller_runtime_reconcile_total");
    expect((await scrape(port!, other)).status).toBe(403);
    expect((await scrape(port!, undefined)).status).toBe(401);
  });

  it("pins the image and writes a ManifestWork per selected cluster; the work agent creates the Modules", async () => {
    digest1 = await push(K1, "v1");
    await hubRaw.request("POST", "/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules", {
      apiVersion: "hub.kmm.sigs.x-k8s.io/v1beta1",
      kind: "ManagedClusterModule",
      metadata: { name: mcmName },
      spec: {
        spokeNamespace,
        selector: { [clusterLabel]: "true" },
        moduleSpec: {
          selector: { "kmm-e2e": "true" },
          imageRepoSecret: { name: pullSecret },
          moduleLoader: {
            container: {
              modprobe: { moduleName: "kmod" },
              registryTLS: tls,
              build: { dockerfileConfigMap: { name: "dockerfile" } },
              kernelMappings: [{ regexp: "^6\\.1\\.", containerImage: `${repo()}:\${KERNEL_FULL_VERSION}` }],
            },
          },
        },
      },
    });
    for (const s of spokes) {
      const work = await eventually(`ManifestWork in ${s.name}`, () => getWork(s.name), 60_000);
      expect(work.metadata.labels?.[MCM_NAME_LABEL]).toBe(mcmName);
      expect(work.metadata.ownerReferences?.[0]).toMatchObject({ kind: "ManagedClusterModule", name: mcmName, controller: true });
      const mod = await eventually(`Module on ${s.name}`, () => spokeModule(s), 60_000);
      expect(mappingsOf(mod)).toEqual({ [K1]: `${repo()}@${digest1}` });
      expect(mod.spec.moduleLoader.container.build).toBeUndefined();
      expect(mod.spec.moduleLoader.container.sign).toBeUndefined();
    }
    const status = await eventually("status: 2 desired, 2 applied", async () => {
      const st = await mcmStatus();
      return st?.numberDesired === 2 && st.numberApplied === 2 ? st : undefined;
    }, 60_000);
    expect(status.conditions?.find((c) => c.type === "ImagesPinned")?.status).toBe("True");
  });

  it("writes nothing while nothing changes", async () => {
    const leader = hubs.find((h) => h.manager.isLeader())!;
    // Let the agents' status updates settle, then watch a few refresh intervals go by.
    await new Promise((r) => setTimeout(r, 4000));
    const before = leader.reconciler.writes;
    const rv = (await getWork(spokes[0]!.name))?.metadata.resourceVersion;
    await new Promise((r) => setTimeout(r, 8000));
    expect(leader.reconciler.writes - before).toBe(0);
    expect((await getWork(spokes[0]!.name))?.metadata.resourceVersion).toBe(rv);
  });

  it("follows a new kernel in the cluster claim with a new literal mapping", async () => {
    digest2 = await push(K2, "v1-k2");
    await setClaim(spokes[0]!, `${K1}\n${K2}`);
    const mod = await eventually("Module on spoke1 with both kernels", async () => {
      const m = await spokeModule(spokes[0]!);
      return Object.keys(mappingsOf(m)).length === 2 ? m : undefined;
    }, 120_000);
    expect(mappingsOf(mod)).toEqual({ [K1]: `${repo()}@${digest1}`, [K2]: `${repo()}@${digest2}` });
    expect(mappingsOf(await spokeModule(spokes[1]!))).toEqual({ [K1]: `${repo()}@${digest1}` });
  });

  it("re-pins when the tag moves, and says so in an event", async () => {
    const moved = await push(K1, "v2");
    expect(moved).not.toBe(digest1);
    for (const s of spokes) {
      await eventually(`Module on ${s.name} re-pinned`, async () => mappingsOf(await spokeModule(s))[K1] === `${repo()}@${moved}`, 60_000);
    }
    const events = await eventually("ImageRepinned event", async () => {
      const ev = await mcmEvents();
      return ev.some((e) => e.reason === "ImageRepinned") ? ev : undefined;
    }, 30_000);
    expect(events.find((e) => e.reason === "ImageRepinned")?.message).toContain(moved);
    digest1 = moved;
  });

  it("removes the ManifestWork and the spoke Module of a cluster relabelled out", async () => {
    const out = spokes[1]!;
    await labelCluster(out.name, "false");
    await eventually(`ManifestWork of ${out.name} deleted`, async () => (await getWork(out.name)) === undefined, 60_000);
    await eventually(`Module on ${out.name} deleted`, async () => (await spokeModule(out)) === undefined, 60_000);
    expect(await getWork(spokes[0]!.name)).toBeDefined();
    await eventually("status: 1 desired", async () => (await mcmStatus())?.numberDesired === 1, 30_000);
  });

  it("keeps the last pinned ManifestWork through a registry outage and shows it in a condition", async () => {
    const before = await getWork(spokes[0]!.name);
    registryStopped = true;
    await registry.stop();
    const cond = await eventually("ImagesPinned=False", async () => {
      const c = (await mcmStatus())?.conditions?.find((x) => x.type === "ImagesPinned");
      return c?.status === "False" ? c : undefined;
    }, 60_000);
    expect(cond.reason).toBe("RegistryUnreachable");
    const after = await getWork(spokes[0]!.name);
    expect(after?.spec).toEqual(before?.spec);
    expect(mappingsOf(await spokeModule(spokes[0]!))[K1]).toBe(`${repo()}@${digest1}`);
  });

  it("fails over to the other replica", async () => {
    const leader = hubs.find((h) => h.manager.isLeader())!;
    const other = hubs.find((h) => h !== leader)!;
    await leader.manager.stop();
    await eventually("the other replica leads", () => Promise.resolve(other.manager.isLeader()), 30_000);
  });

  it("removes every ManifestWork and spoke Module when the MCM is deleted", async () => {
    await hubRaw.request("DELETE", `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${mcmName}`);
    for (const s of spokes) {
      await eventually(`ManifestWork of ${s.name} gone`, async () => (await getWork(s.name)) === undefined, 60_000);
      await eventually(`Module on ${s.name} gone`, async () => (await spokeModule(s)) === undefined, 60_000);
    }
  });
});
