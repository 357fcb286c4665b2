// The hub under bad input and refused writes, on the local fleet's real API server (issue 14 and
// issue 13 kind 7): random bad clusters next to good ones, a ManifestWork an admission policy
// refuses, a spoke namespace the work agent cannot apply into, a pull secret of the wrong type, a
// registry that never answers, a tag that moves (only its works re-pinned, one Event), a registry
// down across a hub restart (nothing changed, status says why, recovery once it is back), a stopped
// work agent (the cluster shows stale, nothing is deleted), the hub's etcd stopped (readiness red,
// then green, and a later change acted on), and an idle hub (no writes, no Events). The promises are
// asserted, not the timings: `npm run bench -- faults` prints those. The hub process's own faults
// (SIGKILL mid-rollout, leader SIGKILL, API server outages) are in e2e/leader-election.test.ts.
import { randomBytes } from "node:crypto";
import { createWriteStream, readFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { join } from "node:path";
import fc from "fast-check";
import { ApiException } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { createHub, type Hub } from "../hub/main.ts";
import { KERNEL_VERSIONS_CLAIM, MCM_NAME_LABEL } from "../hub/names.ts";
import { ApiError, RawClient } from "../shared/kube/raw.ts";
import { ManifestWork, manifestWorkSchema, type ManifestWorkObject } from "../shared/ocm/index.ts";
import { RegistryClient, buildLayer, pushImage } from "../shared/registry/index.ts";
import { startRegistry, type RegistryServer } from "../shared/registry/testing/registry-server.ts";
import { FaultProxy } from "../shared/runtime/fault-proxy.ts";
import { createLogger, parseConfig } from "../shared/runtime/index.ts";
import { connectionFrom } from "./controlplane/kube.ts";
import { clientsFor, eventually } from "./support/clients.ts";
import { applyManifests, readManifests } from "./support/manifests.ts";
import { serviceAccountConnection } from "./support/service-account.ts";

const fleet = inject("fleet");
const hub = clientsFor(fleet.hub.kubeconfig);
const hubAdmin = await connectionFrom(fleet.hub.kubeconfig);
const hubRaw = new RawClient(hubAdmin);
const suffix = randomBytes(3).toString("hex");
const hubNamespace = "kmm-hub";
const label = `kmm-e2e-faults-${suffix}`;
const GOOD_KERNEL = "6.1.0-18-amd64";
const tls = { insecure: true };

let registry: RegistryServer;
let registryClient: RegistryClient;
/** The registry as the hub reaches it for the tag and restart tests: a relay that can be cut. */
let registryRelay: FaultProxy;
let relayedHost: string;
let silent: Server;
const silentSockets = new Set<Socket>();
let theHub: Hub | undefined;
let run: Promise<void> | undefined;
const clusters: string[] = [];
const mcms: string[] = [];
const policy = `kmm-e2e-refuse-${suffix}`;

const repo = () => `${registry.host}/kmm/faults-${suffix}`;

/** A ManagedCluster with no agent behind it: the hub only reads its labels and claim. */
async function fakeCluster(name: string, claim: string | undefined, labels: Record<string, string> = { [label]: "true" }): Promise<void> {
  clusters.push(name);
  await hub.core.createNamespace({ body: { metadata: { name } } });
  await hubRaw.request("POST", "/apis/cluster.open-cluster-management.io/v1/managedclusters", {
    apiVersion: "cluster.open-cluster-management.io/v1",
    kind: "ManagedCluster",
    metadata: { name, labels },
    spec: { hubAcceptsClient: false },
  });
  if (claim !== undefined) {
    await hubRaw.request(
      "PATCH",
      `/apis/cluster.open-cluster-management.io/v1/managedclusters/${name}/status`,
      { status: { clusterClaims: [{ name: KERNEL_VERSIONS_CLAIM, value: claim }] } },
      "application/merge-patch+json",
    );
  }
}

function mcmBody(name: string, moduleSpec: Record<string, unknown>, selector: Record<string, string> = { [label]: "true" }, spokeNamespace = `kmm-${suffix}`) {
  return { apiVersion: "hub.kmm.sigs.x-k8s.io/v1beta1", kind: "ManagedClusterModule", metadata: { name }, spec: { spokeNamespace, selector, moduleSpec } };
}

async function createMcm(body: ReturnType<typeof mcmBody>): Promise<void> {
  mcms.push(body.metadata.name);
  await hubRaw.request("POST", "/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules", body);
}

/**
 * A fleet component's process (group), found by its command line among the pids the fleet records.
 * Tests pause it (SIGSTOP, as a hung or stopped process) and resume it (SIGCONT).
 */
function fleetProcess(what: string, match: (argv: string[]) => boolean): { stop: () => void; resume: () => void } {
  for (const pid of readFileSync(join(fleet.hub.logDir, "pids"), "utf8").split("\n").filter((l) => l !== "").map(Number)) {
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    } catch {
      continue;
    }
    if (match(argv)) return { stop: () => process.kill(-pid, "SIGSTOP"), resume: () => process.kill(-pid, "SIGCONT") };
  }
  throw new Error(`no running fleet process for ${what}`);
}

const argAfter = (argv: string[], flag: string): string | undefined => {
  const i = argv.indexOf(flag);
  return i < 0 ? undefined : argv[i + 1];
};

const workListSchema = z.object({ items: z.array(manifestWorkSchema) });

/** The ManifestWorks of an MCM, by cluster. */
async function worksOf(mcm: string): Promise<Map<string, ManifestWorkObject>> {
  const body = (await hubRaw.request("GET", `/apis/work.open-cluster-management.io/v1/manifestworks?labelSelector=${encodeURIComponent(`${MCM_NAME_LABEL}=${mcm}`)}`)).body;
  return new Map(workListSchema.parse(body).items.map((w) => [w.metadata.namespace ?? "", w]));
}

/** Each work's resourceVersion by cluster: equal maps mean nothing was written. */
const versions = (works: Map<string, ManifestWorkObject>): Record<string, string | undefined> => Object.fromEntries([...works].map(([c, w]) => [c, w.metadata.resourceVersion]));

/**
 * Ends the connections the silent registry holds: a reconcile waiting on it fails now (registry
 * unreachable) instead of after the registry client's timeouts, minutes later.
 */
function releaseSilent(): void {
  for (const s of silentSockets) s.destroy();
}

/**
 * Stops the in-process hub and starts a new one (a new process would start with empty caches too).
 * A graceful stop waits for the reconciles in flight: the one waiting on the silent registry is released.
 */
async function restartHub(identity: string): Promise<void> {
  const old = theHub;
  if (old !== undefined) {
    const state = { stopped: false };
    const stopping = old.manager.stop().finally(() => { state.stopped = true; });
    // Released until stopped: the reconcile may ask the silent registry once more.
    while (!state.stopped) {
      releaseSilent();
      await sleep(200);
    }
    await stopping;
  }
  await run?.catch(() => undefined);
  await startHub(identity);
}

async function getWork(cluster: string, name: string): Promise<ManifestWorkObject | undefined> {
  try {
    return ManifestWork.parse((await hubRaw.request("GET", `/apis/work.open-cluster-management.io/v1/namespaces/${cluster}/manifestworks/${name}`)).body);
  } catch (err: unknown) {
    if (err instanceof ApiError && err.code === 404) return undefined;
    throw err;
  }
}

const statusSchema = z.looseObject({
  status: z
    .looseObject({
      numberDesired: z.number().optional(),
      conditions: z.array(z.looseObject({ type: z.string(), status: z.string(), reason: z.string(), message: z.string() })).optional(),
      clusters: z
        .array(z.looseObject({ cluster: z.string(), manifestWork: z.looseObject({ state: z.string(), message: z.string().optional() }).optional(), kernels: z.array(z.looseObject({ kernelVersion: z.string(), message: z.string().optional() })).optional() }))
        .optional(),
    })
    .optional(),
});
type McmStatus = NonNullable<z.infer<typeof statusSchema>["status"]>;

async function mcmStatus(name: string): Promise<McmStatus | undefined> {
  return statusSchema.parse((await hubRaw.request("GET", `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${name}`)).body).status;
}

const eventListSchema = z.object({ items: z.array(z.looseObject({ type: z.string(), reason: z.string(), message: z.string(), count: z.number().optional() })) });

async function events(mcm: string): Promise<z.infer<typeof eventListSchema>["items"]> {
  return eventListSchema.parse((await hubRaw.request("GET", `/api/v1/namespaces/default/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${mcm}`)}`)).body).items;
}

/** Starts an in-process hub (leader election off) with its own log; `run` is its Manager's run. */
async function startHub(identity: string): Promise<void> {
  const config = parseConfig(['healthProbeBindAddress: "127.0.0.1:0"', 'metrics:', '  bindAddress: "0"', "leaderElection:", "  enabled: false", "digestRefreshInterval: 5s", "maxConcurrentReconciles: 2"].join("\n"), "hub", "e2e faults config");
  const logger = createLogger({ name: "kmm-hub-faults", level: "info", destination: createWriteStream(join(fleet.hub.logDir, `kmm-hub-faults-${suffix}.log`), { flags: "a" }) });
  const connection = await serviceAccountConnection({ core: hub.core, admin: hubAdmin, namespace: hubNamespace, serviceAccount: "kmm-hub" });
  theHub = await createHub({ config, connection, namespace: hubNamespace, identity, logger });
  run = theHub.manager.run();
}

beforeAll(async () => {
  registry = await startRegistry();
  registryClient = new RegistryClient();
  registryRelay = new FaultProxy("127.0.0.1", Number(registry.host.split(":")[1]));
  relayedHost = `127.0.0.1:${await registryRelay.start()}`;
  // A registry that accepts connections and never answers.
  silent = createServer((s) => {
    silentSockets.add(s);
    s.on("close", () => silentSockets.delete(s));
  });
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  await hub.core.createNamespace({ body: { metadata: { name: hubNamespace } } }).catch((e: unknown) => {
    if (!(e instanceof ApiException && e.code === 409)) throw e;
  });
  await applyManifests(hubRaw, await readManifests(new URL("../hub/deploy/rbac.yaml", import.meta.url)));
  await startHub(`faults-${suffix}`);
});

afterAll(async () => {
  // A reconcile waiting on the silent registry ends once its connection does, and new ones are refused.
  const closed = new Promise<void>((resolve) => silent.close(() => { resolve(); }));
  for (const s of silentSockets) s.destroy();
  await closed;
  await theHub?.manager.stop();
  await run?.catch(() => undefined);
  for (const m of mcms) await hubRaw.request("DELETE", `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${m}`).catch(() => undefined);
  await hubRaw.request("DELETE", `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/${policy}`).catch(() => undefined);
  await hubRaw.request("DELETE", `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/${policy}`).catch(() => undefined);
  for (const c of clusters) {
    await hubRaw.request("DELETE", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${c}`).catch(() => undefined);
    await hub.core.deleteNamespace({ name: c }).catch(() => undefined);
  }
  await hub.core.deleteNamespacedSecret({ namespace: hubNamespace, name: `opaque-${suffix}` }).catch(() => undefined);
  registryClient.close();
  await registryRelay.stop();
  await registry.stop();
});

describe("the hub under bad input and refused writes", () => {
  it("lets good clusters converge next to random bad ones, reports each bad one in status, and writes one Event per reason", async () => {
    const digest = (await pushImage(registryClient, `${repo()}/${GOOD_KERNEL}:v1`, { layers: [buildLayer([{ path: `opt/lib/modules/${GOOD_KERNEL}/kmod.ko`, content: "k" }])] }, { tls })).digest;
    // Bad claims: upper-case kernels (an invalid repository once substituted), junk, kernels no
    // mapping serves, an empty claim, no claim at all.
    const badClaims = fc.sample(
      fc.oneof(
        fc.constantFrom("6.1.0-18-AMD64", "6.1.0-18-amd64\n6.1.0-20-AMD64", "6.1.0 $$ bad", "6.1.0-18-amd64/../x"),
        fc.stringMatching(/^6\.[A-Z]{2,6}[0-9]{0,3}$/),
        // (An empty claim value is refused by OCM's CRD; a blank one is not.)
        fc.constantFrom("5.14.0-70.el9.x86_64", " ", undefined),
      ),
      { numRuns: 12, seed: 14 },
    );
    const good = Array.from({ length: 6 }, (_, i) => `good-${suffix}-${i}`);
    const bad = badClaims.map((_, i) => `bad-${suffix}-${i}`);
    for (const [i, c] of bad.entries()) await fakeCluster(c, badClaims[i]);
    for (const c of good) await fakeCluster(c, GOOD_KERNEL);
    const name = `bad-input-${suffix}`;
    await createMcm(
      mcmBody(name, {
        selector: { "kmm-e2e": "true" },
        moduleLoader: { container: { modprobe: { moduleName: "kmod" }, registryTLS: tls, kernelMappings: [{ regexp: "^6\\.", containerImage: `${repo()}/\${KERNEL_FULL_VERSION}:v1` }] } },
      }),
    );
    for (const c of good) {
      const w = await eventually(`ManifestWork of ${c}`, () => getWork(c, name), 60_000);
      expect(JSON.stringify(w.spec)).toContain(`${repo()}/${GOOD_KERNEL}@${digest}`);
    }
    const st = await eventually("status lists every cluster", async () => {
      const s = await mcmStatus(name);
      return s?.clusters?.length === good.length + bad.length ? s : undefined;
    }, 60_000);
    expect(st.numberDesired).toBe(good.length + bad.length);
    for (const c of st.clusters ?? []) {
      if (c.cluster.startsWith("good-")) continue;
      // Every bad cluster says why it has no work.
      expect(c.manifestWork?.state).toMatch(/Blocked|Pending/);
      expect(c.manifestWork?.message ?? "").not.toBe("");
    }
    const upper = st.clusters?.find((c) => c.cluster === bad[badClaims.indexOf("6.1.0-18-AMD64")]);
    if (upper) expect(upper.manifestWork?.message).toContain("6.1.0-18-AMD64");
    for (const c of st.conditions ?? []) expect(c.message.length).toBeLessThanOrEqual(1024);
    const evs = await eventually("an InvalidImageReference Event", async () => {
      const e = await events(name);
      return e.some((x) => x.reason === "InvalidImageReference") ? e : undefined;
    }, 30_000);
    // One Event per reason, however many clusters: the message names a few and counts the rest.
    const reasons = evs.map((e) => e.reason);
    expect(new Set(reasons).size).toBe(reasons.length);
  });

  it("reports a ManifestWork the API server refuses in that cluster's status and an Event with the server's message; the others are written", async () => {
    const ok = `refuse-ok-${suffix}`;
    const refused = `refuse-no-${suffix}`;
    const sel = `${label}-refuse`;
    for (const c of [ok, refused]) await fakeCluster(c, GOOD_KERNEL);
    for (const c of [ok, refused]) await hubRaw.request("PATCH", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${c}`, { metadata: { labels: { [sel]: "true" } } }, "application/merge-patch+json");
    await hubRaw.request("POST", "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies", {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicy",
      metadata: { name: policy },
      spec: {
        failurePolicy: "Fail",
        matchConstraints: { resourceRules: [{ apiGroups: ["work.open-cluster-management.io"], apiVersions: ["v1"], operations: ["CREATE", "UPDATE"], resources: ["manifestworks"] }] },
        validations: [{ expression: `object.metadata.namespace != '${refused}'`, message: `e2e quota: no ManifestWork in ${refused}` }],
      },
    });
    await hubRaw.request("POST", "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings", {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicyBinding",
      metadata: { name: policy },
      spec: { policyName: policy, validationActions: ["Deny"] },
    });
    // The policy is in force once the API server refuses a dry run.
    await eventually("the admission policy in force", async () => {
      try {
        const manifests = [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "probe", namespace: "default" } }];
        await hubRaw.request("POST", `/apis/work.open-cluster-management.io/v1/namespaces/${refused}/manifestworks?dryRun=All`, { apiVersion: "work.open-cluster-management.io/v1", kind: "ManifestWork", metadata: { name: "probe" }, spec: { workload: { manifests } } });
        return false;
      } catch (err: unknown) {
        return err instanceof ApiError && err.message.includes("e2e quota");
      }
    }, 30_000);
    const name = `refused-${suffix}`;
    await createMcm(
      mcmBody(name, {
        selector: { "kmm-e2e": "true" },
        moduleLoader: { container: { modprobe: { moduleName: "kmod" }, registryTLS: tls, kernelMappings: [{ regexp: "^6\\.", containerImage: `${repo()}/\${KERNEL_FULL_VERSION}:v1` }] } },
      }, { [sel]: "true" }),
    );
    await eventually(`ManifestWork of ${ok}`, () => getWork(ok, name), 60_000);
    const entry = await eventually("the refusal in the cluster's status", async () => {
      const e = (await mcmStatus(name))?.clusters?.find((c) => c.cluster === refused);
      return e?.manifestWork?.state === "Blocked" ? e : undefined;
    }, 60_000);
    expect(entry.manifestWork?.message).toContain(`e2e quota: no ManifestWork in ${refused}`);
    expect(await getWork(refused, name)).toBeUndefined();
    const ev = await eventually("a ManifestWorkRefused Event", async () => (await events(name)).find((e) => e.reason === "ManifestWorkRefused"), 30_000);
    expect(ev.type).toBe("Warning");
    expect(ev.message).toContain(`e2e quota: no ManifestWork in ${refused}`);
  });

  it("brings the work agent's own reason for not applying (no spoke namespace) into status and an Event", async () => {
    const spoke = fleet.spokes[0]!;
    const sel = `${label}-agent`;
    await hubRaw.request("PATCH", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${spoke.name}`, { metadata: { labels: { [sel]: "true" } } }, "application/merge-patch+json");
    const name = `no-ns-${suffix}`;
    try {
      // A device-plugin-only MCM needs no kernel claim; its spoke namespace does not exist.
      await createMcm(mcmBody(name, { selector: { "kmm-e2e": "true" }, devicePlugin: { container: { image: `${repo()}/${GOOD_KERNEL}@sha256:${"0".repeat(64)}` } } }, { [sel]: "true" }, `absent-${suffix}`));
      const entry = await eventually("the agent's message in the cluster's status", async () => {
        const e = (await mcmStatus(name))?.clusters?.find((c) => c.cluster === spoke.name);
        return e?.manifestWork?.message?.includes(`absent-${suffix}`) === true ? e : undefined;
      }, 90_000);
      expect(entry.manifestWork?.message).toMatch(/not found/);
      const ev = await eventually("a ManifestWorkNotApplied Event", async () => (await events(name)).find((e) => e.reason === "ManifestWorkNotApplied"), 30_000);
      expect(ev.message).toContain(`absent-${suffix}`);
    } finally {
      await hubRaw.request("PATCH", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${spoke.name}`, { metadata: { labels: { [sel]: null } } }, "application/merge-patch+json");
    }
  });

  it("warns about a pull secret of the wrong type, and says Progressing while the first reconcile waits for a registry", async () => {
    await hub.core.createNamespacedSecret({ namespace: hubNamespace, body: { metadata: { name: `opaque-${suffix}` }, type: "Opaque", data: { ".dockerconfigjson": Buffer.from("{}").toString("base64") } } });
    const name = `slow-${suffix}`;
    const slowHost = `127.0.0.1:${(silent.address() as { port: number }).port}`;
    await createMcm(
      mcmBody(name, {
        selector: { "kmm-e2e": "true" },
        imageRepoSecret: { name: `opaque-${suffix}` },
        moduleLoader: { container: { modprobe: { moduleName: "kmod" }, registryTLS: tls, kernelMappings: [{ regexp: "^6\\.", containerImage: `${slowHost}/kmm/never:\${KERNEL_FULL_VERSION}` }] } },
      }, { [label]: "true" }),
    );
    const st = await eventually("Progressing before any ManifestWork", async () => {
      const s = await mcmStatus(name);
      return s?.conditions?.find((c) => c.type === "Available" && c.reason === "Progressing") ? s : undefined;
    }, 30_000);
    expect(st.numberDesired).toBeGreaterThan(0);
    const ev = await eventually("a PullSecretInvalid Event", async () => (await events(name)).find((e) => e.reason === "PullSecretInvalid"), 30_000);
    expect(ev.message).toContain("is of type Opaque");
  });
});

describe("the hub when a tag moves and when the registry is down across a restart", () => {
  const K2 = "6.1.0-20-amd64";
  const name = `tags-${suffix}`;
  const sel = `${label}-tags`;
  // Three clusters run K1 only, three K1 and K2: moving K2's tag concerns the second three only.
  const single = Array.from({ length: 3 }, (_, i) => `tag1-${suffix}-${i}`);
  const both = Array.from({ length: 3 }, (_, i) => `tag2-${suffix}-${i}`);
  const path = `kmm/faults-tags-${suffix}`;
  const push = async (kernel: string, content: string) =>
    (await pushImage(registryClient, `${registry.host}/${path}:${kernel}`, { layers: [buildLayer([{ path: `opt/lib/modules/${kernel}/kmod.ko`, content }])] }, { tls })).digest;
  const pinned = (digest: string) => `${relayedHost}/${path}@${digest}`;
  const specOf = (w: ManifestWorkObject | undefined) => JSON.stringify(w?.spec);
  let d1 = "";

  it("re-pins only the works whose tag moved, and says so in one aggregated ImageRepinned Event", async () => {
    d1 = await push(GOOD_KERNEL, "k1-v1");
    const d2 = await push(K2, "k2-v1");
    for (const c of single) await fakeCluster(c, GOOD_KERNEL, { [sel]: "true" });
    for (const c of both) await fakeCluster(c, `${GOOD_KERNEL}\n${K2}`, { [sel]: "true" });
    await createMcm(
      mcmBody(name, {
        selector: { "kmm-e2e": "true" },
        moduleLoader: { container: { modprobe: { moduleName: "kmod" }, registryTLS: tls, kernelMappings: [{ regexp: "^6\\.", containerImage: `${relayedHost}/${path}:\${KERNEL_FULL_VERSION}` }] } },
      }, { [sel]: "true" }),
    );
    const before = await eventually("every work pinned", async () => {
      const ws = await worksOf(name);
      const ok = [...single, ...both].every((c) => specOf(ws.get(c)).includes(pinned(d1)) && specOf(ws.get(c)).includes(pinned(d2)) === both.includes(c));
      return ws.size === single.length + both.length && ok ? ws : undefined;
    }, 60_000);

    const moved = await push(K2, "k2-v2");
    expect(moved).not.toBe(d2);
    const after = await eventually("the K2 works re-pinned", async () => {
      const ws = await worksOf(name);
      return both.every((c) => specOf(ws.get(c)).includes(pinned(moved)) && !specOf(ws.get(c)).includes(pinned(d2))) ? ws : undefined;
    }, 60_000);
    // Only the affected works were written; the others keep their version.
    for (const c of single) expect(after.get(c)?.metadata.resourceVersion).toBe(before.get(c)?.metadata.resourceVersion);
    for (const c of both) expect(specOf(after.get(c))).toContain(pinned(d1));
    await eventually("an ImageRepinned Event", async () => (await events(name)).some((e) => e.reason === "ImageRepinned") || undefined, 30_000);
    // Its follow-up reconciles must not make it a second Event or a second occurrence.
    await sleep(3000);
    const repins = (await events(name)).filter((e) => e.reason === "ImageRepinned");
    expect(repins).toHaveLength(1);
    expect(repins[0]!.count ?? 1).toBe(1);
    expect(repins[0]!.type).toBe("Normal");
    expect(repins[0]!.message).toContain(moved);
    expect(both.some((c) => repins[0]!.message.includes(c))).toBe(true);
    expect(single.some((c) => repins[0]!.message.includes(c))).toBe(false);
  });

  it("changes, deletes and un-pins no work while the registry is down across a hub restart, says why in status, and recovers once it is back", async () => {
    const before = await worksOf(name);
    expect(before.size).toBe(single.length + both.length);
    const entries = async () => {
      const st = await mcmStatus(name);
      return [...single, ...both].map((c) => st?.clusters?.find((e) => e.cluster === c));
    };
    await registryRelay.cut();
    try {
      // The new hub starts with an empty digest cache: it cannot pin anything.
      await restartHub(`faults-${suffix}-restarted`);
      await eventually("the status says the registry is unreachable", async () => (await entries()).every((e) => e?.manifestWork?.message?.includes("registry unreachable") === true) || undefined, 60_000);
      const st = await mcmStatus(name);
      expect(st?.conditions?.find((c) => c.type === "ImagesPinned")?.status).toBe("False");
      // Past a refresh interval (5 s): looked again, still nothing written.
      await sleep(7000);
      const during = await worksOf(name);
      expect(versions(during)).toEqual(versions(before));
      for (const c of [...single, ...both]) expect(specOf(during.get(c))).toContain(pinned(d1));
    } finally {
      await registryRelay.restore();
    }
    await eventually("every cluster unblocked", async () => (await entries()).every((e) => e !== undefined && e.manifestWork?.state !== "Blocked") || undefined, 60_000);
    const st = await mcmStatus(name);
    expect(st?.conditions?.find((c) => c.type === "ImagesPinned")?.status).toBe("True");
    expect(versions(await worksOf(name))).toEqual(versions(before));
  });
});

describe("the hub when fleet components stop", () => {
  const digestImage = (n: string) => `${registry.host}/kmm/faults-dp-${suffix}@sha256:${n.repeat(64)}`;

  it("shows a cluster whose work agent is stopped as stale, deletes nothing, and is current again once the agent runs", async () => {
    const spoke = fleet.spokes[0]!;
    const spokeRaw = new RawClient(await connectionFrom(spoke.kubeconfig));
    const sel = `${label}-agent-stop`;
    const ns = `kmm-stale-${suffix}`;
    const name = `stale-${suffix}`;
    const agent = fleetProcess(`the work agent of ${spoke.name}`, (argv) => argv[1] === "agent" && argv.includes(`--spoke-cluster-name=${spoke.name}`) && argv.includes("--workload-source-driver=kube"));
    const moduleOnSpoke = async () => z.looseObject({ spec: z.unknown() }).parse((await spokeRaw.request("GET", `/apis/kmm.sigs.x-k8s.io/v1beta1/namespaces/${ns}/modules/${name}`)).body);
    const entry = async () => (await mcmStatus(name))?.clusters?.find((c) => c.cluster === spoke.name);
    try {
      await spokeRaw.request("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
      await hubRaw.request("PATCH", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${spoke.name}`, { metadata: { labels: { [sel]: "true" } } }, "application/merge-patch+json");
      // Device plugin only, image by digest: no registry and no kernel claim needed.
      await createMcm(mcmBody(name, { selector: { "kmm-e2e": "true" }, devicePlugin: { container: { image: digestImage("1") } } }, { [sel]: "true" }, ns));
      await eventually("the work applied on the spoke", async () => ["Applied", "Available"].includes((await entry())?.manifestWork?.state ?? "") || undefined, 90_000);
      expect(JSON.stringify((await moduleOnSpoke()).spec)).toContain(digestImage("1"));

      agent.stop();
      try {
        await hubRaw.request("PATCH", `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${name}`, { spec: { moduleSpec: { devicePlugin: { container: { image: digestImage("2") } } } } }, "application/merge-patch+json");
        const stale = await eventually("the cluster shown stale", async () => {
          const e = await entry();
          return e?.manifestWork?.message?.startsWith("stale:") === true ? e : undefined;
        }, 60_000);
        expect(stale.manifestWork?.state).toBe("Pending");
        const st = await mcmStatus(name);
        expect(st?.conditions?.find((c) => c.type === "Available")?.status).toBe("False");
        // Nothing deleted: the new spec is in the ManifestWork, the spoke still runs the previous one.
        expect(JSON.stringify((await getWork(spoke.name, name))?.spec)).toContain(digestImage("2"));
        expect(JSON.stringify((await moduleOnSpoke()).spec)).toContain(digestImage("1"));
      } finally {
        agent.resume();
      }
      await eventually("current again once the agent runs", async () => ["Applied", "Available"].includes((await entry())?.manifestWork?.state ?? "") || undefined, 90_000);
      expect(JSON.stringify((await moduleOnSpoke()).spec)).toContain(digestImage("2"));
    } finally {
      await hubRaw.request("PATCH", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${spoke.name}`, { metadata: { labels: { [sel]: null } } }, "application/merge-patch+json").catch(() => undefined);
      await spokeRaw.request("DELETE", `/api/v1/namespaces/${ns}`).catch(() => undefined);
      spokeRaw.close();
    }
  });

  it("turns readiness red while the hub's etcd is stopped and green after, and acts on a change made after it is back", async () => {
    const etcd = fleetProcess("the hub's etcd", (argv) => argv[1] === "etcd" && argAfter(argv, "--name") === fleet.hub.name);
    const probe = theHub?.manager.ports().probe;
    if (probe === undefined) throw new Error("the hub serves no probes");
    const ready = async () => (await fetch(`http://127.0.0.1:${probe}/readyz`).catch(() => undefined))?.status === 200;
    const sel = `${label}-etcd`;
    const name = `etcd-${suffix}`;
    await createMcm(mcmBody(name, { selector: { "kmm-e2e": "true" }, devicePlugin: { container: { image: digestImage("3") } } }, { [sel]: "true" }));
    await eventually("ready before", () => ready(), 30_000);
    etcd.stop();
    let red = false;
    try {
      // The API server is up, its storage is not: readiness follows the API server's own /readyz.
      for (let i = 0; i < 100 && !red; i++) {
        red = !(await ready());
        await sleep(100);
      }
      await sleep(3000);
    } finally {
      etcd.resume();
    }
    expect(red).toBe(true);
    await eventually("ready again", () => ready(), 60_000);
    const cluster = `etcd-${suffix}-c`;
    await fakeCluster(cluster, undefined);
    await hubRaw.request("PATCH", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${cluster}`, { metadata: { labels: { [sel]: "true" } } }, "application/merge-patch+json");
    const w = await eventually(`ManifestWork of ${cluster}`, () => getWork(cluster, name), 60_000);
    expect(JSON.stringify(w.spec)).toContain(digestImage("3"));
  });
});

describe("an idle hub", () => {
  it("writes nothing and records no Event while nothing changes, with every MCM above still there (blocked and refused ones too)", async () => {
    const h = theHub;
    if (h === undefined) throw new Error("no hub running");
    // The one reconcile still waiting (on the registry that never answers) is not idleness: remove it.
    const slow = `slow-${suffix}`;
    await hubRaw.request("DELETE", `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${slow}`).catch(() => undefined);
    releaseSilent();
    const eventCount = async () => {
      let n = 0;
      for (const m of mcms) if (m !== slow) for (const e of await events(m)) n += e.count ?? 1;
      return n;
    };
    // Settled: no write for 5 s.
    let last = h.reconciler.writes;
    await eventually("the hub settled", async () => {
      await sleep(5000);
      const now = h.reconciler.writes;
      const same = now === last;
      last = now;
      return same || undefined;
    }, 120_000);
    const writes = h.reconciler.writes;
    const occurrences = await eventCount();
    await sleep(30_000);
    expect(h.reconciler.writes).toBe(writes);
    expect(await eventCount()).toBe(occurrences);
  }, 240_000);
});
