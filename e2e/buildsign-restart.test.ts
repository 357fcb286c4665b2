// Builds across hub restarts and DTK_AUTO, on the fleet's real API server and the hub's real node.
// DTK_AUTO: a hub started without the image.openshift.io API builds with DTK_AUTO unset and says so
// in a Warning Event; once the API exists (here a minimal ImageStream CRD stands in for OpenShift's
// aggregated API: same group, version, resource and the fields the hub reads) a restarted hub sets
// DTK_AUTO from openshift/driver-toolkit's tag of the RHCOS version of the hub Node running the
// kernel, follows a tag change, and refuses a kernel no Node maps. Restarts: the hub as its own
// process (node hub/cli.ts run), SIGKILLed during a real kaniko build → no second Job and the
// rollout completes; imageRebuildTriggerGeneration bumped while no hub runs → exactly one new build;
// killed mid-rebuild → the next hub follows the running Job.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { createHub, type Hub } from "../hub/main.ts";
import { KERNEL_VERSIONS_CLAIM } from "../hub/names.ts";
import { projectStorage } from "../images/buildah.ts";
import { DEFAULT_CACHE_DIR } from "../images/build.ts";
import { buildKanikoImage, pushKanikoImage } from "../images/kaniko/image.ts";
import { RawClient } from "../shared/kube/raw.ts";
import { createLogger, parseConfig } from "../shared/runtime/index.ts";
import { connectionFrom } from "./controlplane/kube.ts";
import { pushBusybox, registryPullSecret } from "./controlplane/node-agent/test-images.ts";
import { workImage as workImageOf } from "./support/hub-reads.ts";
import { clientsFor, eventually } from "./support/clients.ts";
import { applyManifests, readManifests } from "./support/manifests.ts";
import { serviceAccountConnection } from "./support/service-account.ts";

const fleet = inject("fleet");
const products = inject("productImages");
const registry = fleet.registry;
if (registry === undefined) throw new Error("this suite needs the fleet's registry and real nodes");
const hub = clientsFor(fleet.hub.kubeconfig);
const hubAdmin = await connectionFrom(fleet.hub.kubeconfig);
const hubRaw = new RawClient(hubAdmin);
const suffix = randomBytes(3).toString("hex");
const NS = "kmm-hub";
const label = `e2e-bsr-${suffix}`;
const pullSecret = `fleet-registry-bsr-${suffix}`;
const spokeNamespace = `kmm-bsr-${suffix}`;
const hubLog = join(fleet.hub.logDir, `kmm-hub-bs-restart-${suffix}.log`);
const LEASE = `kmm-hub-bsr-${suffix}`;

// DTK_AUTO fixtures.
const K_MAPPED = "5.14.0-284.25.1.el9_2.x86_64";
const K_UNMAPPED = "5.14.0-999.1.1.el9_2.x86_64";
const OS_VERSION = "414.92.202307250657-0";
const DTK_A = `quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:${"a".repeat(64)}`;
const DTK_B = `quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:${"b".repeat(64)}`;
const DTK_LATEST = `quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:${"c".repeat(64)}`;
const dtkMcm = `bsr-dtk-${suffix}`;
const dtkNode = `bsr-dtk-node-${suffix}`;
const dtkClusters = [`bsr-dtk-a-${suffix}`, `bsr-dtk-b-${suffix}`];
const ISCRD = "imagestreams.image.openshift.io";

// Restart fixtures.
const rMcm = `bsr-r-${suffix}`;
const rClusters = [`bsr-r-a-${suffix}`, `bsr-r-b-${suffix}`];
const kernel = "6.1.0-18-amd64";

const hubs: Hub[] = [];
const runs: Promise<void>[] = [];
const procs: ChildProcess[] = [];
/** Every build Job of this suite seen by the poller: name → uids in the order first seen. */
const seen = new Map<string, string[]>();
let polling = true;
let poller: Promise<void> | undefined;

const jobListSchema = z.object({
  items: z.array(
    z.looseObject({
      metadata: z.looseObject({ name: z.string(), uid: z.string(), ownerReferences: z.array(z.looseObject({ name: z.string() })).optional() }),
      spec: z.looseObject({ template: z.looseObject({ spec: z.looseObject({ containers: z.array(z.looseObject({ args: z.array(z.string()).optional() })) }) }) }),
    }),
  ),
});
type ListedJob = z.infer<typeof jobListSchema>["items"][number];

async function jobsOf(mcm: string): Promise<ListedJob[]> {
  const res = await hubRaw.request("GET", `/apis/batch/v1/namespaces/${NS}/jobs?labelSelector=${encodeURIComponent("app.kubernetes.io/managed-by=kmm-hub")}`);
  return jobListSchema.parse(res.body).items.filter((j) => (j.metadata.ownerReferences ?? []).some((o) => o.name === mcm));
}

async function poll(): Promise<void> {
  while (polling) {
    try {
      for (const j of [...(await jobsOf(rMcm)), ...(await jobsOf(dtkMcm))]) {
        const uids = seen.get(j.metadata.name) ?? [];
        if (!uids.includes(j.metadata.uid)) uids.push(j.metadata.uid);
        seen.set(j.metadata.name, uids);
      }
    } catch {
      // The next round.
    }
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** The restart cases' build Jobs (their image is kmod-bsr-<suffix>; the DTK cases' is kmod-bsr-dtk-<suffix>). */
const buildUids = (): string[] => [...seen].filter(([n]) => n.includes("-build-") && n.startsWith(`kmod-bsr-${suffix}`)).flatMap(([, u]) => u);

const statusSchema = z.looseObject({
  status: z
    .looseObject({
      imageRebuildTriggerGeneration: z.number().optional(),
      clusters: z.array(z.looseObject({ cluster: z.string(), kernels: z.array(z.looseObject({ kernelVersion: z.string(), message: z.string().optional(), buildSign: z.looseObject({ state: z.string() }).optional() })).optional() })).optional(),
    })
    .optional(),
});

async function mcmStatus(name: string) {
  return statusSchema.parse((await hubRaw.request("GET", `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${name}`)).body).status;
}

const eventListSchema = z.object({ items: z.array(z.looseObject({ reason: z.string(), message: z.string(), type: z.string() })) });

async function events(mcm: string) {
  const res = await hubRaw.request("GET", `/api/v1/namespaces/default/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${mcm}`)}`);
  return eventListSchema.parse(res.body).items;
}

const workImage = (cluster: string, mcm: string): Promise<string | undefined> => workImageOf(hubRaw, cluster, mcm);

const CONFIG = [
  'healthProbeBindAddress: "127.0.0.1:0"',
  "metrics:",
  '  bindAddress: "0"',
  "leaderElection:",
  "  enabled: true",
  `  resourceID: ${LEASE}`,
  "  leaseDuration: 4s",
  "  renewDeadline: 3s",
  "  retryPeriod: 500ms",
  "digestRefreshInterval: 5s",
  "maxConcurrentReconciles: 2",
].join("\n");

/** An in-process hub under its shipped RBAC (ServiceAccount kmm-hub). */
async function startHub(identity: string): Promise<Hub> {
  const config = parseConfig(CONFIG, "hub", "e2e buildsign-restart hub config");
  const logger = createLogger({ name: `kmm-hub-${identity}`, level: "info", destination: createWriteStream(hubLog, { flags: "a" }) });
  const connection = await serviceAccountConnection({ core: hub.core, admin: hubAdmin, namespace: NS, serviceAccount: "kmm-hub" });
  const h = await createHub({ config, connection, namespace: NS, identity, logger, registryCaFile: registry!.caFile, relatedImageBuild: "kaniko.invalid/kaniko:none", relatedImageSign: products.refs.signer });
  hubs.push(h);
  runs.push(h.manager.run().catch(() => undefined));
  return h;
}

let kanikoRef = "";
let configFile = "";

/** The hub as its own process, as its Deployment runs it (node hub/cli.ts run). */
function startHubProcess(): ChildProcess {
  const proc = spawn(process.execPath, ["hub/cli.ts", "run", "--config", configFile, "--kubeconfig", fleet.hub.kubeconfig, "--namespace", NS, "--registry-ca", registry!.caFile], {
    cwd: join(import.meta.dirname, ".."),
    env: { ...process.env, RELATED_IMAGE_BUILD: kanikoRef, RELATED_IMAGE_SIGN: products.refs.signer },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const log = createWriteStream(hubLog, { flags: "a" });
  proc.stdout.pipe(log);
  proc.stderr.pipe(log);
  procs.push(proc);
  return proc;
}

async function kill(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once("exit", r));
  proc.kill("SIGKILL");
  await exited;
}

async function fakeCluster(name: string, claim: string): Promise<void> {
  await hub.core.createNamespace({ body: { metadata: { name } } });
  await hubRaw.request("POST", "/apis/cluster.open-cluster-management.io/v1/managedclusters", {
    apiVersion: "cluster.open-cluster-management.io/v1",
    kind: "ManagedCluster",
    metadata: { name, labels: { [label]: "true" } },
    spec: { hubAcceptsClient: false },
  });
  await hubRaw.request("PATCH", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${name}/status`, { status: { clusterClaims: [{ name: KERNEL_VERSIONS_CLAIM, value: claim }] } }, "application/merge-patch+json");
}

async function createMcm(name: string, clusterLabel: string, image: string, configMap: string, build: Record<string, unknown>): Promise<void> {
  await hubRaw.request("POST", "/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules", {
    apiVersion: "hub.kmm.sigs.x-k8s.io/v1beta1",
    kind: "ManagedClusterModule",
    metadata: { name },
    spec: {
      spokeNamespace,
      selector: { [label]: clusterLabel },
      moduleSpec: {
        selector: { "kmm-e2e": "true" },
        imageRepoSecret: { name: pullSecret },
        tolerations: [{ key: "e2e.kmm.sigs.x-k8s.io/real-node", operator: "Equal", value: "true", effect: "NoSchedule" }],
        moduleLoader: {
          container: {
            modprobe: { moduleName: "kmm_ci_b", dirName: "/opt" },
            kernelMappings: [{ regexp: "^.+$", containerImage: image, registryTLS: { insecureSkipTLSVerify: true } }],
            build: { dockerfileConfigMap: { name: configMap }, baseImageRegistryTLS: { insecureSkipTLSVerify: true }, ...build },
          },
        },
      },
    },
  });
}

beforeAll(async () => {
  await hub.core.createNamespace({ body: { metadata: { name: NS } } }).catch(() => undefined);
  await applyManifests(hubRaw, await readManifests(new URL("../hub/deploy/rbac.yaml", import.meta.url)));
  await hubRaw.request("POST", `/api/v1/namespaces/${NS}/secrets`, registryPullSecret(registry, NS, pullSecret));
  // Job pods pull kaniko with the namespace's default ServiceAccount's pull secret.
  const sa = z.looseObject({ imagePullSecrets: z.array(z.object({ name: z.string() })).optional() }).parse((await hubRaw.request("GET", `/api/v1/namespaces/${NS}/serviceaccounts/default`)).body);
  await hubRaw.request("PATCH", `/api/v1/namespaces/${NS}/serviceaccounts/default`, { imagePullSecrets: [...(sa.imagePullSecrets ?? []), { name: pullSecret }] }, "application/merge-patch+json");
  configFile = join(fleet.hub.logDir, `kmm-hub-bs-restart-${suffix}.yaml`);
  await writeFile(configFile, CONFIG);
  poller = poll();
}, 300_000);

afterAll(async () => {
  for (const p of procs) await kill(p);
  for (const h of hubs) await h.manager.stop().catch(() => undefined);
  await Promise.all(runs);
  polling = false;
  await poller;
  for (const m of [dtkMcm, rMcm]) {
    for (const j of await jobsOf(m).catch(() => [])) {
      await hubRaw.request("DELETE", `/apis/batch/v1/namespaces/${NS}/jobs/${j.metadata.name}`, { apiVersion: "v1", kind: "DeleteOptions", propagationPolicy: "Background" }).catch(() => undefined);
    }
    await hubRaw.request("DELETE", `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${m}`).catch(() => undefined);
  }
  for (const c of [...dtkClusters, ...rClusters]) {
    await hubRaw.request("DELETE", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${c}`).catch(() => undefined);
    await hub.core.deleteNamespace({ name: c }).catch(() => undefined);
  }
  await hubRaw.request("DELETE", `/api/v1/nodes/${dtkNode}`).catch(() => undefined);
  await hubRaw.request("DELETE", `/api/v1/namespaces/openshift`).catch(() => undefined);
  await hubRaw.request("DELETE", `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${ISCRD}`).catch(() => undefined);
  await hubRaw.request("DELETE", `/api/v1/namespaces/${NS}/secrets/${pullSecret}`).catch(() => undefined);
  for (const n of [`df-dtk-${suffix}`, `df-r-${suffix}`]) await hubRaw.request("DELETE", `/api/v1/namespaces/${NS}/configmaps/${n}`).catch(() => undefined);
  hubRaw.close();
}, 120_000);

const dtkArg = (j: ListedJob | undefined) => j?.spec.template.spec.containers[0]?.args?.find((a) => a.startsWith("DTK_AUTO="));

describe("DTK_AUTO on the hub", () => {
  const image = () => `${registry.host}/e2e-bsr/kmod-bsr-dtk-${suffix}:\${KERNEL_FULL_VERSION}`;

  it("without the ImageStream API: builds with DTK_AUTO unset and a Warning Event", async () => {
    await hubRaw.request("POST", `/api/v1/namespaces/${NS}/configmaps`, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: `df-dtk-${suffix}` }, data: { dockerfile: "ARG DTK_AUTO\nFROM ${DTK_AUTO} as builder\nARG KERNEL_FULL_VERSION\n" } });
    await fakeCluster(dtkClusters[0]!, K_MAPPED);
    await fakeCluster(dtkClusters[1]!, K_UNMAPPED);
    const first = await startHub("dtk-one");
    expect(first.reconciler.buildSign.driverToolkit).toBeUndefined();
    // Its pods wait for a node nobody has: the Job spec is what this test reads.
    await createMcm(dtkMcm, "dtk", image(), `df-dtk-${suffix}`, { selector: { [`e2e-nowhere-${suffix}`]: "true" } });
    await hubRaw.request("PATCH", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${dtkClusters[0]!}`, { metadata: { labels: { [label]: "dtk" } } }, "application/merge-patch+json");
    await hubRaw.request("PATCH", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${dtkClusters[1]!}`, { metadata: { labels: { [label]: "dtk" } } }, "application/merge-patch+json");
    const jobs = await eventually("two build Jobs", async () => {
      const js = await jobsOf(dtkMcm);
      return js.length === 2 ? js : undefined;
    });
    for (const j of jobs) expect(dtkArg(j)).toBeUndefined();
    await eventually("the DTK_AUTO warning", async () => (await events(dtkMcm)).some((e) => e.type === "Warning" && /uses DTK_AUTO, but this hub has no driver-toolkit ImageStream API/.test(e.message)));
    await first.manager.stop();
  }, 300_000);

  it("with the API (a CRD standing in for OpenShift's): DTK_AUTO from the tag of the hub Node's RHCOS version, a tag change followed, an unmapped kernel refused", async () => {
    await hubRaw.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: ISCRD },
      spec: {
        group: "image.openshift.io",
        scope: "Namespaced",
        names: { plural: "imagestreams", singular: "imagestream", kind: "ImageStream", listKind: "ImageStreamList" },
        versions: [{ name: "v1", served: true, storage: true, schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } } }],
      },
    });
    await eventually("the ImageStream API served", async () => {
      try {
        const res = z.looseObject({ resources: z.array(z.looseObject({ name: z.string() })) }).parse((await hubRaw.request("GET", "/apis/image.openshift.io/v1")).body);
        return res.resources.some((r) => r.name === "imagestreams");
      } catch {
        return false;
      }
    });
    await hub.core.createNamespace({ body: { metadata: { name: "openshift" } } }).catch(() => undefined);
    const stream = (a: string) => ({
      apiVersion: "image.openshift.io/v1",
      kind: "ImageStream",
      metadata: { name: "driver-toolkit", namespace: "openshift" },
      spec: { tags: [{ name: OS_VERSION, from: { kind: "DockerImage", name: a } }, { name: "latest", from: { kind: "DockerImage", name: DTK_LATEST } }] },
    });
    await hubRaw.request("POST", "/apis/image.openshift.io/v1/namespaces/openshift/imagestreams", stream(DTK_A));
    // A hub Node running the mapped kernel on that RHCOS version (tainted: nothing runs there).
    await hubRaw.request("POST", "/api/v1/nodes", {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: dtkNode, labels: { "e2e-dtk": suffix } },
      spec: { taints: [{ key: `e2e-dtk-${suffix}`, value: "true", effect: "NoSchedule" }] },
      status: { nodeInfo: { kernelVersion: K_MAPPED, osImage: `Red Hat Enterprise Linux CoreOS ${OS_VERSION} (Plow)`, architecture: "amd64", bootID: "", containerRuntimeVersion: "", kubeProxyVersion: "", kubeletVersion: "", machineID: "", operatingSystem: "linux", systemUUID: "" } },
    });
    const second = await startHub("dtk-two");
    expect(second.reconciler.buildSign.driverToolkit).toBeDefined();
    const mappedJob = async (want: string) =>
      eventually(`the build Job of ${K_MAPPED} with DTK_AUTO=${want}`, async () => (await jobsOf(dtkMcm)).find((j) => dtkArg(j) === `DTK_AUTO=${want}`), 120_000);
    const a = await mappedJob(DTK_A);
    const refused = await eventually(
      `kernel ${K_UNMAPPED} refused`,
      async () => (await mcmStatus(dtkMcm))?.clusters?.find((c) => c.cluster === dtkClusters[1])?.kernels?.find((k) => k.kernelVersion === K_UNMAPPED && k.buildSign?.state === "Failed"),
      120_000,
    );
    expect(refused.message).toMatch(new RegExp(`no Node of the hub runs kernel ${K_UNMAPPED.replace(/[.]/g, "\\.")}`));
    // A moved tag is a new build input: the Job is replaced.
    await hubRaw.request("PUT", "/apis/image.openshift.io/v1/namespaces/openshift/imagestreams/driver-toolkit", {
      ...stream(DTK_B),
      metadata: { ...stream(DTK_B).metadata, resourceVersion: z.looseObject({ metadata: z.looseObject({ resourceVersion: z.string() }) }).parse((await hubRaw.request("GET", "/apis/image.openshift.io/v1/namespaces/openshift/imagestreams/driver-toolkit")).body).metadata.resourceVersion },
    });
    const b = await mappedJob(DTK_B);
    expect(b.metadata.uid).not.toBe(a.metadata.uid);
    expect((await jobsOf(dtkMcm)).some((j) => dtkArg(j) === `DTK_AUTO=${DTK_LATEST}`)).toBe(false);
    await second.manager.stop();
    for (const j of await jobsOf(dtkMcm)) await hubRaw.request("DELETE", `/apis/batch/v1/namespaces/${NS}/jobs/${j.metadata.name}`, { apiVersion: "v1", kind: "DeleteOptions", propagationPolicy: "Background" });
    await hubRaw.request("DELETE", `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${dtkMcm}`);
  }, 300_000);
});

describe("builds across hub restarts (the hub as its own process)", () => {
  const image = () => `${registry.host}/e2e-bsr/kmod-bsr-${suffix}:\${KERNEL_FULL_VERSION}`;
  const repo = () => `${registry.host}/e2e-bsr/kmod-bsr-${suffix}@sha256:`;
  const rolledOut = async (generation: number | undefined) => {
    const images = await Promise.all(rClusters.map((c) => workImage(c, rMcm)));
    if (!images.every((i) => i?.startsWith(repo()))) return undefined;
    const s = await mcmStatus(rMcm);
    if (s?.imageRebuildTriggerGeneration !== generation) return undefined;
    return s?.clusters?.every((c) => c.kernels?.every((k) => k.buildSign === undefined) ?? false) === true ? images[0] : undefined;
  };

  it("SIGKILL during a build: the restarted hub starts no second Job and the rollout completes", async () => {
    const storage = projectStorage(DEFAULT_CACHE_DIR);
    kanikoRef = await pushKanikoImage(storage, await buildKanikoImage(storage), registry);
    const base = await pushBusybox(registry, `e2e-bsr/base-${suffix}`, "1");
    // Long enough for a kill and a restart while kaniko runs.
    const dockerfile = [`FROM ${base.ref}`, "ARG KERNEL_FULL_VERSION", "RUN sleep 25 && mkdir -p /opt/lib/modules/${KERNEL_FULL_VERSION} && echo built > /opt/lib/modules/${KERNEL_FULL_VERSION}/stamp", ""].join("\n");
    await hubRaw.request("POST", `/api/v1/namespaces/${NS}/configmaps`, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: `df-r-${suffix}` }, data: { dockerfile } });
    for (const c of rClusters) await fakeCluster(c, kernel);
    for (const c of rClusters) await hubRaw.request("PATCH", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${c}`, { metadata: { labels: { [label]: "restart" } } }, "application/merge-patch+json");
    const a = startHubProcess();
    await createMcm(rMcm, "restart", image(), `df-r-${suffix}`, { selector: { "kubernetes.io/hostname": fleet.hub.realNode?.name ?? "hub-real" } });
    await eventually("a build Job", () => Promise.resolve(buildUids().length > 0 ? true : undefined), 180_000);
    await kill(a);
    startHubProcess();
    const pinned = await eventually("the built image pinned in both ManifestWorks", () => rolledOut(undefined), 600_000);
    expect(pinned).toMatch(/@sha256:[0-9a-f]{64}$/);
    expect(buildUids()).toHaveLength(1);
  }, 900_000);

  it("imageRebuildTriggerGeneration bumped while no hub runs: exactly one new build after the restart", async () => {
    for (const p of procs) await kill(p);
    const before = buildUids();
    await hubRaw.request("PATCH", `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${rMcm}`, { spec: { moduleSpec: { imageRebuildTriggerGeneration: 1 } } }, "application/merge-patch+json");
    startHubProcess();
    await eventually("the rebuild rolled out (status.imageRebuildTriggerGeneration 1)", () => rolledOut(1), 600_000);
    expect(buildUids().filter((u) => !before.includes(u))).toHaveLength(1);
  }, 900_000);

  it("killed mid-rebuild: the next hub follows the running Job", async () => {
    const before = buildUids();
    await hubRaw.request("PATCH", `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${rMcm}`, { spec: { moduleSpec: { imageRebuildTriggerGeneration: 2 } } }, "application/merge-patch+json");
    await eventually("the rebuild's Job", () => Promise.resolve(buildUids().length > before.length ? true : undefined), 180_000);
    for (const p of procs) await kill(p);
    startHubProcess();
    await eventually("the rebuild rolled out (status.imageRebuildTriggerGeneration 2)", () => rolledOut(2), 600_000);
    expect(buildUids().filter((u) => !before.includes(u))).toHaveLength(1);
  }, 900_000);
});
