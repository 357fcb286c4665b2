// Builds and signing on the fleet, for real: the hub (in-process, under its shipped RBAC) creates a
// kaniko build Job (kaniko v1.24.0 built from its Go module, its image in the fleet registry) and a
// sign Job (the product's signer image) that run on the hub's real node (podman + runc), push to
// the fleet registry (TLS + auth), and the hub pins the signed digest into every ManifestWork.
// One build and one sign for 3 clusters × 2 MCMs, also across a hub restart in mid-build;
// job.gcDelay honoured; a failing Dockerfile is that MCM's kernel failure with an Event, the Job
// kept and not retried; a rebuild trigger builds again; no key bytes in anything the hub wrote.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { createHub, type Hub } from "../hub/main.ts";
import { KERNEL_VERSIONS_CLAIM } from "../hub/names.ts";
import { projectStorage } from "../images/buildah.ts";
import { DEFAULT_CACHE_DIR } from "../images/build.ts";
import { buildKanikoImage, pushKanikoImage } from "../images/kaniko/image.ts";
import { RawClient } from "../shared/kube/raw.ts";
import { buildLayer } from "../shared/registry/index.ts";
import { pullImage } from "../shared/registry/pull.ts";
import { createLogger, parseConfig } from "../shared/runtime/index.ts";
import { buildTestModules } from "../spoke/worker/test-kmods.ts";
import { cacheDir } from "./controlplane/binaries.ts";
import { connectionFrom } from "./controlplane/kube.ts";
import { fleetRegistryClient, pushBusybox, registryPullSecret } from "./controlplane/node-agent/test-images.ts";
import { workImage as workImageOf } from "./support/hub-reads.ts";
import { clientsFor, eventually } from "./support/clients.ts";
import { applyManifests, readManifests } from "./support/manifests.ts";
import { serviceAccountConnection } from "./support/service-account.ts";

const run = promisify(execFile);
const fleet = inject("fleet");
const products = inject("productImages");
const registry = fleet.registry;
if (registry === undefined) throw new Error("this suite needs the fleet's registry and real nodes");
const hub = clientsFor(fleet.hub.kubeconfig);
const hubAdmin = await connectionFrom(fleet.hub.kubeconfig);
const hubRaw = new RawClient(hubAdmin);
const spokeRaw = new RawClient(await connectionFrom(fleet.spokes[0]!.kubeconfig));
const suffix = randomBytes(3).toString("hex");
const NS = "kmm-hub";
const label = `e2e-bs-${suffix}`;
const pullSecret = `fleet-registry-${suffix}`;
const keySecret = `sign-key-${suffix}`;
const certSecret = `sign-cert-${suffix}`;
const spokeNamespace = `kmm-bs-${suffix}`;
const ghost = `bs-ghost-${suffix}`;
const clusters = [fleet.spokes[0]!.name, fleet.spokes[1]!.name, ghost];
const mcmA = `bs-a-${suffix}`;
const mcmB = `bs-b-${suffix}`;
const mcmBad = `bs-bad-${suffix}`;
const GC_DELAY_S = 15;
const CN = `kmm-hub e2e signing key ${suffix}`;
const hubLog = join(fleet.hub.logDir, `kmm-hub-buildsign-${suffix}.log`);

let kernel: string;
let kanikoRef: string;
let keyPem: string;
let certDer: Buffer;
let certPem: string;
let tmp: string;
const hubs: Hub[] = [];
const runs: Promise<void>[] = [];
/** Every build/sign Job of this suite seen by the poller: name → uids, and the finished ones' times. */
const seen = new Map<string, Set<string>>();
const timing = new Map<string, { start?: string; done?: string }>();
let polling = true;
let poller: Promise<void> | undefined;

const jobListSchema = z.object({
  items: z.array(
    z.looseObject({
      metadata: z.looseObject({ name: z.string(), uid: z.string(), labels: z.record(z.string(), z.string()).optional(), ownerReferences: z.array(z.looseObject({ name: z.string() })).optional() }),
      status: z.looseObject({ startTime: z.string().optional(), completionTime: z.string().optional(), failed: z.number().optional(), succeeded: z.number().optional() }).optional(),
    }),
  ),
});
type ListedJob = z.infer<typeof jobListSchema>["items"][number];

async function jobs(): Promise<ListedJob[]> {
  const res = await hubRaw.request("GET", `/apis/batch/v1/namespaces/${NS}/jobs?labelSelector=${encodeURIComponent("app.kubernetes.io/managed-by=kmm-hub")}`);
  return jobListSchema.parse(res.body).items.filter((j) => (j.metadata.ownerReferences ?? []).some((o) => [mcmA, mcmB, mcmBad].includes(o.name)));
}

async function poll(): Promise<void> {
  while (polling) {
    try {
      for (const j of await jobs()) {
        const uids = seen.get(j.metadata.name) ?? new Set<string>();
        uids.add(j.metadata.uid);
        seen.set(j.metadata.name, uids);
        timing.set(j.metadata.uid, { ...(j.status?.startTime ? { start: j.status.startTime } : {}), ...(j.status?.completionTime ? { done: j.status.completionTime } : {}) });
      }
    } catch {
      // The next round.
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

const typeOf = (name: string) => (name.includes("-build-") ? "build" : name.includes("-sign-") ? "sign" : "other");

function moduleSpec(image: string, dockerfileConfigMap: string) {
  return {
    selector: { "kmm-e2e": "true" },
    imageRepoSecret: { name: pullSecret },
    tolerations: [{ key: "e2e.kmm.sigs.x-k8s.io/real-node", operator: "Equal", value: "true", effect: "NoSchedule" }],
    moduleLoader: {
      container: {
        modprobe: { moduleName: "kmm_ci_b", dirName: "/opt" },
        kernelMappings: [{ regexp: "^.+$", containerImage: image, registryTLS: { insecureSkipTLSVerify: true } }],
        build: {
          dockerfileConfigMap: { name: dockerfileConfigMap },
          baseImageRegistryTLS: { insecureSkipTLSVerify: true },
          selector: { "kubernetes.io/hostname": fleet.hub.realNode?.name ?? "hub-real" },
        },
        sign: { keySecret: { name: keySecret }, certSecret: { name: certSecret }, filesToSign: ["/opt/lib/modules/${KERNEL_FULL_VERSION}/kmm_ci_b.ko"] },
      },
    },
  };
}

async function createMcm(name: string, image: string, cm: string): Promise<void> {
  await hubRaw.request("POST", "/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules", {
    apiVersion: "hub.kmm.sigs.x-k8s.io/v1beta1",
    kind: "ManagedClusterModule",
    metadata: { name },
    spec: { spokeNamespace, selector: { [label]: "true" }, moduleSpec: moduleSpec(image, cm) },
  });
}

const workImage = (cluster: string, mcm: string): Promise<string | undefined> => workImageOf(hubRaw, cluster, mcm);

const statusSchema = z.looseObject({
  status: z
    .looseObject({
      clusters: z.array(z.looseObject({ cluster: z.string(), kernels: z.array(z.looseObject({ kernelVersion: z.string(), message: z.string().optional(), buildSign: z.looseObject({ state: z.string(), job: z.string().optional() }).optional() })).optional() })).optional(),
    })
    .optional(),
});

async function mcmStatus(name: string) {
  return statusSchema.parse((await hubRaw.request("GET", `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${name}`)).body).status;
}

const eventListSchema = z.object({ items: z.array(z.looseObject({ reason: z.string(), message: z.string(), type: z.string(), involvedObject: z.looseObject({ name: z.string() }) })) });

async function events(mcm: string) {
  const res = await hubRaw.request("GET", `/api/v1/namespaces/default/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${mcm}`)}`);
  return eventListSchema.parse(res.body).items;
}

async function startHub(identity: string): Promise<Hub> {
  const config = parseConfig(
    [
      'healthProbeBindAddress: "127.0.0.1:0"',
      "metrics:",
      '  bindAddress: "127.0.0.1:0"',
      "leaderElection:",
      "  enabled: true",
      `  resourceID: kmm-hub-bs-${suffix}`,
      "  leaseDuration: 4s",
      "  renewDeadline: 3s",
      "  retryPeriod: 500ms",
      "digestRefreshInterval: 5s",
      "maxConcurrentReconciles: 2",
      "job:",
      `  gcDelay: ${GC_DELAY_S}s`,
    ].join("\n"),
    "hub",
    "e2e buildsign hub config",
  );
  const logger = createLogger({ name: `kmm-hub-${identity}`, level: "info", destination: createWriteStream(hubLog, { flags: "a" }) });
  const connection = await serviceAccountConnection({ core: hub.core, admin: hubAdmin, namespace: NS, serviceAccount: "kmm-hub" });
  const h = await createHub({ config, connection, namespace: NS, identity, logger, registryCaFile: registry!.caFile, relatedImageBuild: kanikoRef, relatedImageSign: products.refs.signer });
  hubs.push(h);
  runs.push(h.manager.run().catch(() => undefined));
  return h;
}

async function setClaim(kubeconfig: string): Promise<void> {
  const raw = new RawClient(await connectionFrom(kubeconfig));
  try {
    await raw.apply({ apiVersion: "cluster.open-cluster-management.io/v1alpha1", kind: "ClusterClaim", metadata: { name: KERNEL_VERSIONS_CLAIM }, spec: { value: kernel } } as never, "kmm-e2e");
  } finally {
    raw.close();
  }
}

const claimSchema = z.looseObject({ status: z.looseObject({ clusterClaims: z.array(z.object({ name: z.string(), value: z.string() })).optional() }).optional() });

beforeAll(async () => {
  tmp = await mkdtemp(join(cacheDir, "e2e-buildsign-"));
  polling = true;
  const built = await buildTestModules();
  kernel = built.kernelVersion;
  const storage = projectStorage(DEFAULT_CACHE_DIR);
  const kaniko = await buildKanikoImage(storage);
  kanikoRef = await pushKanikoImage(storage, kaniko, registry);

  await hub.core.createNamespace({ body: { metadata: { name: NS } } }).catch(() => undefined);
  await applyManifests(hubRaw, await readManifests(new URL("../hub/deploy/rbac.yaml", import.meta.url)));
  await hubRaw.request("POST", `/api/v1/namespaces/${NS}/secrets`, registryPullSecret(registry, NS, pullSecret));
  // Job pods pull kaniko and the signer with the namespace's default ServiceAccount's pull secret.
  const sa = z.looseObject({ imagePullSecrets: z.array(z.object({ name: z.string() })).optional() }).parse((await hubRaw.request("GET", `/api/v1/namespaces/${NS}/serviceaccounts/default`)).body);
  await hubRaw.request("PATCH", `/api/v1/namespaces/${NS}/serviceaccounts/default`, { imagePullSecrets: [...(sa.imagePullSecrets ?? []), { name: pullSecret }] }, "application/merge-patch+json");

  // A signing key as the seed's procedure makes it: PEM private key, DER certificate.
  await run("openssl", ["req", "-x509", "-new", "-nodes", "-utf8", "-sha256", "-days", "2", "-batch", "-newkey", "rsa:2048", "-subj", `/CN=${CN}`, "-outform", "DER", "-out", join(tmp, "cert.der"), "-keyout", join(tmp, "key.pem")]);
  keyPem = await readFile(join(tmp, "key.pem"), "utf8");
  certDer = await readFile(join(tmp, "cert.der"));
  await hubRaw.request("POST", `/api/v1/namespaces/${NS}/secrets`, { apiVersion: "v1", kind: "Secret", metadata: { name: keySecret }, data: { key: Buffer.from(keyPem).toString("base64") } });
  // The certificate as PEM (sign-file and the signer take either; the fleet's node agent writes Secret
  // files as text, which a DER certificate would not survive).
  await run("openssl", ["x509", "-inform", "DER", "-in", join(tmp, "cert.der"), "-out", join(tmp, "cert.pem")]);
  certPem = await readFile(join(tmp, "cert.pem"), "utf8");
  await hubRaw.request("POST", `/api/v1/namespaces/${NS}/secrets`, { apiVersion: "v1", kind: "Secret", metadata: { name: certSecret }, data: { cert: Buffer.from(certPem).toString("base64") } });

  // The build's base: busybox (sh, depmod) with the prebuilt module under /src.
  const ko = await readFile(join(built.dir, "kmm_ci_b.ko"));
  const base = await pushBusybox(registry, `e2e-bs/kmod-base-${suffix}`, "1", {}, [buildLayer([{ path: "src/kmm_ci_b.ko", content: ko }])]);
  const dockerfile = [
    `FROM ${base.ref}`,
    "ARG KERNEL_FULL_VERSION",
    `COPY --from=${base.ref} /src/kmm_ci_b.ko /opt/lib/modules/\${KERNEL_FULL_VERSION}/kmm_ci_b.ko`,
    "RUN depmod -b /opt ${KERNEL_FULL_VERSION}",
    "",
  ].join("\n");
  await hubRaw.request("POST", `/api/v1/namespaces/${NS}/configmaps`, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: `df-${suffix}` }, data: { dockerfile } });
  await hubRaw.request("POST", `/api/v1/namespaces/${NS}/configmaps`, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: `df-bad-${suffix}` }, data: { dockerfile: `FROM ${base.ref}\nRUN echo "no such compiler" >&2 && exit 3\n` } });

  // The spoke namespace the work agent applies the Module into.
  await spokeRaw.request("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: spokeNamespace } });
  // Three clusters: the two spokes (their work agents deliver) and one with no agent behind it.
  for (const s of fleet.spokes.slice(0, 2)) await setClaim(s.kubeconfig);
  await hub.core.createNamespace({ body: { metadata: { name: ghost } } });
  await hubRaw.request("POST", "/apis/cluster.open-cluster-management.io/v1/managedclusters", { apiVersion: "cluster.open-cluster-management.io/v1", kind: "ManagedCluster", metadata: { name: ghost }, spec: { hubAcceptsClient: false } });
  await hubRaw.request("PATCH", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${ghost}/status`, { status: { clusterClaims: [{ name: KERNEL_VERSIONS_CLAIM, value: kernel }] } }, "application/merge-patch+json");
  for (const c of clusters) {
    await hubRaw.request("PATCH", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${c}`, { metadata: { labels: { [label]: "true" } } }, "application/merge-patch+json");
    await eventually(`claim of ${c} on the hub`, async () => {
      const mc = claimSchema.parse((await hubRaw.request("GET", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${c}`)).body);
      return mc.status?.clusterClaims?.find((x) => x.name === KERNEL_VERSIONS_CLAIM)?.value === kernel;
    });
  }
  poller = poll();
}, 900_000);

afterAll(async () => {
  for (const h of hubs) await h.manager.stop().catch(() => undefined);
  await Promise.all(runs);
  polling = false;
  await poller;
  for (const m of [mcmA, mcmB, mcmBad]) await hubRaw.request("DELETE", `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${m}`).catch(() => undefined);
  for (const j of await jobs().catch(() => [])) {
    await hubRaw.request("DELETE", `/apis/batch/v1/namespaces/${NS}/jobs/${j.metadata.name}`, { apiVersion: "v1", kind: "DeleteOptions", propagationPolicy: "Background" }).catch(() => undefined);
  }
  for (const c of fleet.spokes.slice(0, 2)) {
    await hubRaw.request("PATCH", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${c.name}`, { metadata: { labels: { [label]: null } } }, "application/merge-patch+json").catch(() => undefined);
  }
  await hubRaw.request("DELETE", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${ghost}`).catch(() => undefined);
  await hub.core.deleteNamespace({ name: ghost }).catch(() => undefined);
  await spokeRaw.request("DELETE", `/api/v1/namespaces/${spokeNamespace}`).catch(() => undefined);
  for (const n of [pullSecret, keySecret, certSecret]) await hubRaw.request("DELETE", `/api/v1/namespaces/${NS}/secrets/${n}`).catch(() => undefined);
  for (const n of [`df-${suffix}`, `df-bad-${suffix}`]) await hubRaw.request("DELETE", `/api/v1/namespaces/${NS}/configmaps/${n}`).catch(() => undefined);
  await rm(tmp, { recursive: true, force: true });
  hubRaw.close();
  spokeRaw.close();
}, 120_000);

const image = () => `${registry.host}/e2e-bs/kmod-${suffix}:\${KERNEL_FULL_VERSION}`;
const imageRepo = () => `${registry.host}/e2e-bs/kmod-${suffix}`;

describe("builds and signing on the fleet", () => {
  it("builds once and signs once for 3 clusters × 2 MCMs across a hub restart in mid-build, and pins the signed image everywhere", async () => {
    const first = await startHub("one");
    await createMcm(mcmA, image(), `df-${suffix}`);
    await createMcm(mcmB, image(), `df-${suffix}`);
    // The hub goes away while kaniko runs; the next one must find the Job, not start another.
    await eventually("a build Job", () => Promise.resolve([...seen.keys()].some((n) => typeOf(n) === "build")), 120_000);
    await first.manager.stop();
    const second = await startHub("two");
    const pinned = await eventually(
      "the signed image pinned in all 6 ManifestWorks",
      async () => {
        const images = await Promise.all(clusters.flatMap((c) => [mcmA, mcmB].map((m) => workImage(c, m))));
        return images.every((i) => i !== undefined && i.startsWith(`${imageRepo()}@sha256:`)) && new Set(images).size === 1 ? images[0] : undefined;
      },
      600_000,
    );
    const byType = (t: string) => [...seen].filter(([n]) => typeOf(n) === t && n.startsWith("kmod-"));
    expect(byType("build").map(([, uids]) => uids.size)).toEqual([1]);
    expect(byType("sign").map(([, uids]) => uids.size)).toEqual([1]);
    expect(second.reconciler.buildSign.counts.created + first.reconciler.buildSign.counts.created).toBe(2);
    for (const [, uids] of [...byType("build"), ...byType("sign")]) {
      const t = timing.get([...uids][0]!);
      if (t?.start && t.done) console.log(`[buildsign] ${[...seen].find(([, u]) => u === uids)?.[0]}: ${(Date.parse(t.done) - Date.parse(t.start)) / 1000} s`);
    }

    // The pushed image holds the module signed with our key; it is the same one the spoke got.
    const client = await fleetRegistryClient(registry);
    const dir = await mkdtemp(join(tmp, "pulled-"));
    try {
      await pullImage(client, pinned, dir);
      const ko = join(dir, "opt", "lib", "modules", kernel, "kmm_ci_b.ko");
      expect((await run("modinfo", ["-F", "signer", ko])).stdout.trim()).toBe(CN);
      expect((await run("modinfo", ["-F", "sig_hashalgo", ko])).stdout.trim()).toBe("sha256");
      expect(await readdir(join(dir, "opt", "lib", "modules", kernel))).toContain("modules.dep");
    } finally {
      client.close();
      await rm(dir, { recursive: true, force: true });
    }
    await eventually(
      "the spoke's Module with the pinned image",
      async () => {
        try {
          const m = z.looseObject({ spec: z.looseObject({ moduleLoader: z.looseObject({ container: z.looseObject({ kernelMappings: z.array(z.looseObject({ containerImage: z.string() })) }) }) }) }).parse(
            (await spokeRaw.request("GET", `/apis/kmm.sigs.x-k8s.io/v1beta1/namespaces/${spokeNamespace}/modules/${mcmA}`)).body,
          );
          return m.spec.moduleLoader.container.kernelMappings[0]?.containerImage === pinned;
        } catch {
          return false;
        }
      },
      120_000,
    );
    // A success Event follows the pin: the registry may show the pushed image before the Job reads
    // Complete in the hub's cache, and the Event is recorded by the reconcile that sees it complete.
    await eventually(
      "BuildSucceeded and SignSucceeded Events",
      async () => {
        const reasons = new Set((await events(mcmA)).concat(await events(mcmB)).map((e) => e.reason));
        if (!reasons.has("BuildSucceeded") || !reasons.has("SignSucceeded")) throw new Error(`Event reasons so far: ${[...reasons].join(", ")}`);
        return true;
      },
      60_000,
    );
  }, 900_000);

  it("keeps finished Jobs for job.gcDelay, then deletes them", async () => {
    const names = [...seen.keys()].filter((n) => n.startsWith("kmod-"));
    const stillThere = (await jobs()).map((j) => j.metadata.name).filter((n) => names.includes(n));
    const doneAt = Math.max(...[...seen].filter(([n]) => names.includes(n)).map(([, u]) => Date.parse(timing.get([...u][0]!)?.done ?? "0")));
    // Finished less than gcDelay ago → still there; in any case gone soon after gcDelay.
    if (Date.now() - doneAt < (GC_DELAY_S - 3) * 1000) expect(stillThere.length).toBeGreaterThan(0);
    await eventually("the finished Jobs deleted after gcDelay", async () => (await jobs()).every((j) => !names.includes(j.metadata.name)), (GC_DELAY_S + 60) * 1000);
    expect(Date.now() - doneAt).toBeGreaterThanOrEqual((GC_DELAY_S - 1) * 1000);
  }, 180_000);

  it("a failing Dockerfile is that MCM's kernel failure: Job kept, Event, status; the others stay pinned", async () => {
    const badImage = `${registry.host}/e2e-bs/bad-${suffix}:\${KERNEL_FULL_VERSION}`;
    await createMcm(mcmBad, badImage, `df-bad-${suffix}`);
    const failed = await eventually(
      "the failed build in the bad MCM's status",
      async () => {
        const s = await mcmStatus(mcmBad);
        const k = s?.clusters?.find((c) => c.cluster === clusters[0])?.kernels?.find((x) => x.kernelVersion === kernel);
        return k?.buildSign?.state === "Failed" ? k : undefined;
      },
      300_000,
    );
    expect(failed.buildSign?.job).toMatch(/^bad-.*-build-/);
    expect(failed.message).toMatch(/not retried until an administrator deletes it/);
    await eventually("a BuildFailed Event", async () => (await events(mcmBad)).some((e) => e.reason === "BuildFailed" && e.type === "Warning"));
    const created = hubs.at(-1)!.reconciler.buildSign.counts.created;
    await new Promise((r) => setTimeout(r, 8_000));
    expect(hubs.at(-1)!.reconciler.buildSign.counts.created).toBe(created);
    const badJobs = (await jobs()).filter((j) => j.metadata.name === failed.buildSign?.job);
    expect(badJobs).toHaveLength(1);
    expect(seen.get(failed.buildSign!.job!)?.size).toBe(1);
    for (const c of clusters) expect(await workImage(c, mcmBad)).toBeUndefined();
    for (const c of clusters) expect(await workImage(c, mcmA)).toMatch(new RegExp(`^${imageRepo().replace(/[.]/g, "\\.")}@sha256:`));
  }, 400_000);

  it("builds again when imageRebuildTriggerGeneration moves", async () => {
    const before = new Set([...seen].filter(([n]) => n.startsWith("kmod-") && typeOf(n) === "build").flatMap(([, u]) => [...u]));
    await hubRaw.request("PATCH", `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${mcmA}`, { spec: { moduleSpec: { imageRebuildTriggerGeneration: 1 } } }, "application/merge-patch+json");
    await eventually(
      "a second build Job",
      () => Promise.resolve([...seen].filter(([n]) => n.startsWith("kmod-") && typeOf(n) === "build").flatMap(([, u]) => [...u]).some((u) => !before.has(u))),
      120_000,
    );
    await eventually(
      "mcm A pinned again after the rebuild",
      async () => {
        const s = await mcmStatus(mcmA);
        return s?.clusters?.every((c) => c.kernels?.every((k) => k.buildSign === undefined) ?? false) === true && (await workImage(clusters[0]!, mcmA))?.includes("@sha256:");
      },
      600_000,
    );
  }, 800_000);

  it("writes no key or certificate bytes into ManifestWorks, statuses, Events, Jobs, its log or the pushed image", async () => {
    const keyLines = keyPem.split("\n").filter((l) => l !== "" && !l.startsWith("-----"));
    const certLines = certPem.split("\n").filter((l) => l !== "" && !l.startsWith("-----"));
    // PEM lines (as the Secrets' files hold them), the DER as one base64 run, and the Secrets' data fields.
    const needles = [
      keyLines[1]!,
      keyLines[5]!,
      certLines[1]!,
      certLines[4]!,
      certDer.toString("base64").slice(40, 100),
      Buffer.from(keyPem).toString("base64").slice(40, 100),
      Buffer.from(certPem).toString("base64").slice(40, 100),
      "PRIVATE KEY",
    ];
    const texts: string[] = [];
    for (const c of clusters) for (const m of [mcmA, mcmB, mcmBad]) texts.push(JSON.stringify((await hubRaw.request("GET", `/apis/work.open-cluster-management.io/v1/namespaces/${c}/manifestworks/${m}`).catch(() => ({ body: "" }))).body));
    for (const m of [mcmA, mcmB, mcmBad]) {
      texts.push(JSON.stringify(await mcmStatus(m)));
      texts.push(JSON.stringify(await events(m)));
    }
    texts.push(JSON.stringify(await jobs()));
    texts.push(await readFile(hubLog, "utf8"));
    const all = texts.join("\n");
    expect(all.length).toBeGreaterThan(1000);
    for (const n of needles) expect(all).not.toContain(n);
    // The image's files, byte for byte (the signature holds the certificate's key id, not the key).
    const pinned = await workImage(clusters[0]!, mcmA);
    const client = await fleetRegistryClient(registry);
    const dir = await mkdtemp(join(tmp, "scan-"));
    try {
      await pullImage(client, pinned!, dir);
      const { stdout } = await run("grep", ["-rlF", "-e", keyLines[1]!, "-e", "PRIVATE KEY", dir]).catch(() => ({ stdout: "" }));
      expect(stdout).toBe("");
      const keyDer = Buffer.from(keyLines.join(""), "base64");
      const files = (await run("find", [dir, "-type", "f"])).stdout.trim().split("\n");
      for (const f of files) expect((await readFile(f)).includes(keyDer.subarray(40, 80))).toBe(false);
    } finally {
      client.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
