// The worker for real, in its module-loader pod on spoke2's real node: the spoke edition (in-process,
// under its ServiceAccount) turns a Module into a DaemonSet whose pod the node agent runs from the
// fleet's registry — the kmod image (real .ko files built against Debian's headers, and firmware)
// copied by the init container, then the worker image from images/build.ts. This machine cannot
// insert modules: the kernel answers ENOSYS, and the suite asserts exactly that boundary in the
// pod's status, the Module's status (ModuleLoaderAvailable=False, ModuleLoadFailed, with the worker's
// words), one Warning Event on the Module and the node's labels; a dry run (`modprobe -n`) of the same
// pod shows what would have reached the kernel.
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { ApiException } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseKubeDocuments } from "../shared/yaml/read.ts";
import { z } from "zod";
import { RawClient } from "../shared/kube/raw.ts";
import { buildLayer, type Layer } from "../shared/registry/index.ts";
import type { TarWriteEntry } from "../shared/registry/tar.ts";
import { parseConfig } from "../shared/runtime/config.ts";
import { createLogger } from "../shared/runtime/logger.ts";
import { KERNEL_CLAIM_NAME } from "../spoke/claim.ts";
import { MODULE_NAME_LABEL } from "../spoke/labels.ts";
import { createSpoke, type Spoke } from "../spoke/main.ts";
import { kernelAnswerHint } from "../spoke/worker/modprobe.ts";
import { buildTestModules, layoutKmodTree } from "../spoke/worker/test-kmods.ts";
import { cacheDir } from "./controlplane/binaries.ts";
import { connectionFrom } from "./controlplane/kube.ts";
import { REAL_NODE_LABEL } from "./controlplane/node-agent/node.ts";
import { pushBusybox, registryPullSecret } from "./controlplane/node-agent/test-images.ts";
import { clientsFor, eventually } from "./support/clients.ts";
import { serviceAccountConnection } from "./support/service-account.ts";

const fleet = inject("fleet");
const images = inject("productImages");
const cluster = fleet.spokes[1]!;
const node = cluster.realNode;
const registry = fleet.registry;
if (node === undefined || registry === undefined) throw new Error("this suite needs a fleet with real nodes (startFleet({ realNodes: true }))");
const admin = clientsFor(cluster.kubeconfig);
const adminConn = await connectionFrom(cluster.kubeconfig);
const raw = new RawClient(adminConn);
const suffix = randomBytes(3).toString("hex");
const OPERATOR_NS = "kmm-operator-system";
const ns = `e2e-real-worker-${suffix}`;
const MODULE = "kmm-ci";
const KERNEL = node.kernelVersion;
const FIRMWARE = `kmm_ci_fw_${suffix}.bin`;
const firmwareContent = randomBytes(64);
const ENOSYS_HINT = kernelAnswerHint("Function not implemented") ?? "";
/** where the worker's modprobe finds the modules: the init container's copy of the kmod image's dirName */
const MODULES_DIR = "/kmm-image/opt";

let spoke: Spoke | undefined;
let running: Promise<void> | undefined;
let kmodImage = "";
let workDir = "";

const terminatedSchema = z.looseObject({ exitCode: z.number(), reason: z.string().optional(), message: z.string().optional() });
const containerStatusSchema = z.looseObject({
  name: z.string(),
  image: z.string(),
  ready: z.boolean(),
  restartCount: z.number(),
  state: z.looseObject({ waiting: z.looseObject({ reason: z.string() }).optional(), running: z.looseObject({}).optional(), terminated: terminatedSchema.optional() }),
  lastState: z.looseObject({ terminated: terminatedSchema.optional() }).optional(),
});
const podSchema = z.looseObject({
  metadata: z.looseObject({ name: z.string(), labels: z.record(z.string(), z.string()).optional() }),
  spec: z.looseObject({ nodeName: z.string().optional(), containers: z.array(z.looseObject({ name: z.string(), args: z.array(z.string()).optional() })) }),
  status: z
    .looseObject({
      phase: z.string().optional(),
      initContainerStatuses: z.array(containerStatusSchema).optional(),
      containerStatuses: z.array(containerStatusSchema).optional(),
    })
    .optional(),
});
const podListSchema = z.object({ items: z.array(podSchema) });
const eventListSchema = z.object({ items: z.array(z.looseObject({ type: z.string(), message: z.string(), count: z.number().optional() })) });
const daemonSetListSchema = z.object({
  items: z.array(z.looseObject({ metadata: z.looseObject({ name: z.string() }), spec: z.looseObject({ template: z.looseObject({ metadata: z.looseObject({}), spec: z.looseObject({}) }) }) })),
});
const moduleSchema = z.looseObject({
  status: z
    .looseObject({
      moduleLoader: z.looseObject({ nodesMatchingSelectorNumber: z.number().optional(), desiredNumber: z.number().optional(), availableNumber: z.number().optional() }).optional(),
      conditions: z.array(z.looseObject({ type: z.string(), status: z.string(), reason: z.string(), message: z.string() })).optional(),
    })
    .optional(),
});

/** Every file and folder under `root` as layer entries (paths relative to it). */
async function treeEntries(root: string, dir = root): Promise<TarWriteEntry[]> {
  const out: TarWriteEntry[] = [];
  for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const full = join(dir, e.name);
    const rel = relative(root, full);
    if (e.isDirectory()) out.push({ path: rel, type: "directory", mode: 0o755 }, ...(await treeEntries(root, full)));
    else out.push({ path: rel, content: await readFile(full), mode: 0o644 });
  }
  return out;
}

/** A kmod image as upstream KMM lays it out: /opt/lib/modules/<kernel>/extra/*.ko with depmod's files, /firmware. */
async function kmodLayer(): Promise<Layer> {
  const tree = join(workDir, "kmod-image");
  await layoutKmodTree(await buildTestModules(), tree, "/opt");
  await mkdir(join(tree, "firmware"), { recursive: true });
  await writeFile(join(tree, "firmware", FIRMWARE), firmwareContent);
  return buildLayer(await treeEntries(tree));
}

async function loaderPods(): Promise<z.infer<typeof podSchema>[]> {
  const selector = encodeURIComponent(`${MODULE_NAME_LABEL}=${MODULE},kmm.node.kubernetes.io/role=module-loader`);
  return podListSchema.parse((await raw.request("GET", `/api/v1/namespaces/${ns}/pods?labelSelector=${selector}`)).body).items;
}

const worker = (p: z.infer<typeof podSchema>) => p.status?.containerStatuses?.find((c) => c.name === "worker");

beforeAll(async () => {
  const started = Date.now();
  await mkdir(join(cacheDir, "tmp"), { recursive: true });
  workDir = await mkdtemp(join(cacheDir, "tmp", "real-worker-"));
  kmodImage = (await pushBusybox(registry, `e2e/kmm-ci-kmod-${suffix}`, KERNEL, {}, [await kmodLayer()])).pinned;

  await admin.core.createNamespace({ body: { metadata: { name: OPERATOR_NS } } }).catch((e: unknown) => {
    if (!(e instanceof ApiException && e.code === 409)) throw e;
  });
  for (const doc of parseKubeDocuments(await readFile(new URL("../spoke/deploy/rbac.yaml", import.meta.url), "utf8"))) {
    const obj = z.looseObject({ apiVersion: z.string(), kind: z.string(), metadata: z.looseObject({ name: z.string(), namespace: z.string().optional() }) }).parse(doc.toJS());
    await raw.apply(obj, "kmm-e2e");
  }
  await admin.core.createNamespace({ body: { metadata: { name: ns } } });
  await raw.request("POST", `/api/v1/namespaces/${ns}/secrets`, registryPullSecret(registry, ns));

  const config = parseConfig(
    [`healthProbeBindAddress: "0"`, `metrics: { bindAddress: "0" }`, `leaderElection: { namespace: ${OPERATOR_NS}, resourceID: kmm-spoke-real-${suffix} }`].join("\n"),
    "spoke",
  );
  spoke = createSpoke({
    connection: await serviceAccountConnection({ core: admin.core, admin: adminConn, namespace: OPERATOR_NS, serviceAccount: "kmm-spoke" }),
    config,
    env: { KMM_MANAGED: "1", OPERATOR_NAMESPACE: OPERATOR_NS, RELATED_IMAGE_WORKER: images.refs.worker },
    logger: createLogger({ name: "kmm-spoke-real-worker", level: "warn" }),
  });
  running = spoke.manager.run();
  await eventually("spoke leader", () => Promise.resolve(spoke?.manager.isLeader()), 30_000);
  console.log(`[real-worker] kmod image ${kmodImage} pushed and spoke running after ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

afterAll(async () => {
  // The finalizer is the spoke's: the Module must be gone before the spoke stops.
  await raw.request("DELETE", `/apis/kmm.sigs.x-k8s.io/v1beta1/namespaces/${ns}/modules/${MODULE}`).catch(() => undefined);
  await eventually("Module deleted", async () => (await raw.request("GET", `/apis/kmm.sigs.x-k8s.io/v1beta1/namespaces/${ns}/modules/${MODULE}`).catch(() => ({ status: 404 }))).status === 404, 60_000).catch(() => undefined);
  await spoke?.manager.stop();
  await running?.catch(() => undefined);
  await admin.core.deleteNamespace({ name: ns }).catch(() => undefined);
  await raw.delete({ apiVersion: "cluster.open-cluster-management.io/v1alpha1", kind: "ClusterClaim", metadata: { name: KERNEL_CLAIM_NAME } }).catch(() => undefined);
  await rm(join(node.hostRoot, "var/lib/firmware", FIRMWARE), { force: true });
  if (workDir !== "") await rm(workDir, { recursive: true, force: true });
  raw.close();
});

describe("the worker in its module-loader pod on a real node", () => {
  it("copies the kmod image and the firmware, runs modprobe, and stops exactly where this kernel refuses: ENOSYS", async () => {
    const applied = Date.now();
    const module = {
      apiVersion: "kmm.sigs.x-k8s.io/v1beta1",
      kind: "Module",
      metadata: { name: MODULE, namespace: ns },
      spec: {
        selector: { [REAL_NODE_LABEL]: "true" },
        tolerations: [{ key: REAL_NODE_LABEL, operator: "Exists", effect: "NoSchedule" }],
        imageRepoSecret: { name: "fleet-registry" },
        moduleLoader: {
          container: {
            modprobe: { moduleName: "kmm_ci_a", parameters: ["level=3"], firmwarePath: "/firmware" },
            kernelMappings: [{ literal: KERNEL, containerImage: kmodImage }],
          },
        },
      },
    };
    await raw.apply(module, "kmm-e2e");

    const failed = await eventually(
      "the worker's ENOSYS outcome",
      async () => {
        const pod = (await loaderPods()).find((p) => p.spec.nodeName === node.name);
        const w = pod === undefined ? undefined : worker(pod);
        const terminated = w?.state.terminated ?? w?.lastState?.terminated;
        return pod !== undefined && w !== undefined && terminated !== undefined ? { pod, w, terminated } : undefined;
      },
      150_000,
    );
    console.log(`[real-worker] module-loader pod reached its ENOSYS outcome ${((Date.now() - applied) / 1000).toFixed(1)} s after the Module was applied`);

    // The init container really copied the kmod image's files.
    const init = failed.pod.status?.initContainerStatuses?.find((c) => c.name === "kmod-image");
    expect(init?.state.terminated?.exitCode).toBe(0);
    expect(init?.image).toBe(kmodImage);
    expect(failed.w.image).toBe(images.refs.worker);

    // modprobe resolved kmm_ci_a's dependency kmm_ci_b from the copy and asked the kernel to insert
    // it first; the kernel has no module support: ENOSYS, "Function not implemented", which modprobe
    // reports for the module it was asked for.
    expect(failed.terminated.exitCode).toBe(1);
    const terminationMessage =
      `module kmm_ci_a, kernel ${KERNEL}: load module failed: modprobe -v -d ${MODULES_DIR} -S ${KERNEL} -- kmm_ci_a level=3 failed (exit 1): ` +
      `insmod ${MODULES_DIR}/lib/modules/${KERNEL}/extra/kmm_ci_b.ko\nmodprobe: ERROR: could not insert 'kmm_ci_a': Function not implemented\n` +
      `hint: ${ENOSYS_HINT}`;
    expect(failed.terminated.message).toBe(terminationMessage);

    // Firmware was copied into the node's (fake) host root before modprobe ran.
    expect(await readFile(join(node.hostRoot, "var/lib/firmware", FIRMWARE))).toEqual(firmwareContent);

    // The pod restarts with back-off, never Ready; the node is never labelled ready and the Module says so.
    await eventually("the worker restarted after its failure", async () => {
      const pod = (await loaderPods()).find((p) => p.spec.nodeName === node.name);
      const w = pod === undefined ? undefined : worker(pod);
      return w !== undefined && w.restartCount >= 1 && w.lastState?.terminated?.exitCode === 1 && !w.ready;
    }, 60_000);
    const n = await admin.core.readNode({ name: node.name });
    expect(n.metadata?.labels?.[`kmm.node.kubernetes.io/${ns}.${MODULE}.ready`]).toBeUndefined();
    // The Module says which node, module, kernel and command failed, and the kernel's answer with
    // what to do about it: the worker's termination message, read by the spoke from its pod cache.
    const failure = `node ${node.name}, container worker: ${terminationMessage.replaceAll("\n", "; ")}`;
    await eventually("Module status: 0 of 1 loader pods available, ModuleLoadFailed with the worker's words", async () => {
      const m = moduleSchema.parse((await raw.request("GET", `/apis/kmm.sigs.x-k8s.io/v1beta1/namespaces/${ns}/modules/${MODULE}`)).body);
      const available = m.status?.conditions?.find((c) => c.type === "ModuleLoaderAvailable");
      return (
        m.status?.moduleLoader?.nodesMatchingSelectorNumber === 1 &&
        m.status.moduleLoader.desiredNumber === 1 &&
        m.status.moduleLoader.availableNumber === 0 &&
        available?.status === "False" &&
        available.reason === "ModuleLoadFailed" &&
        available.message === `0 of 1 pods available; ${failure}`
      );
    }, 60_000);
    // One Warning Event on the Module for this failure, however often the worker restarts with it.
    await eventually("the worker failed again with the same words", async () => {
      const pod = (await loaderPods()).find((p) => p.spec.nodeName === node.name);
      const w = pod === undefined ? undefined : worker(pod);
      return w !== undefined && w.restartCount >= 2;
    }, 90_000);
    const events = eventListSchema
      .parse((await raw.request("GET", `/api/v1/namespaces/${ns}/events?fieldSelector=${encodeURIComponent(`involvedObject.kind=Module,involvedObject.name=${MODULE},reason=ModuleLoadFailed`)}`)).body)
      .items;
    expect(events.map((e) => ({ type: e.type, message: e.message, count: e.count }))).toEqual([{ type: "Warning", message: failure, count: 1 }]);
  });

  it("resolves the same files with `modprobe -n`: the insmod lines with paths and parameters that the kernel refused", async () => {
    // The spoke's own pod template, as a bare pod whose worker adds modprobe's dry run and exits.
    const sets = daemonSetListSchema.parse((await raw.request("GET", `/apis/apps/v1/namespaces/${ns}/daemonsets?labelSelector=${encodeURIComponent(`${MODULE_NAME_LABEL}=${MODULE}`)}`)).body).items;
    expect(sets).toHaveLength(1);
    const template = z
      .looseObject({ metadata: z.looseObject({ annotations: z.record(z.string(), z.string()) }), spec: z.looseObject({ containers: z.array(z.looseObject({ name: z.string(), args: z.array(z.string()) })) }) })
      .parse(sets[0]!.spec.template);
    const name = "dry-run";
    await raw.request("POST", `/api/v1/namespaces/${ns}/pods`, {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace: ns, annotations: template.metadata.annotations },
      spec: {
        ...template.spec,
        nodeName: node.name,
        restartPolicy: "Never",
        containers: template.spec.containers.map((c) => (c.name === "worker" ? { ...c, args: [...c.args, "--modprobe-arg=-n", "--once"], readinessProbe: undefined } : c)),
      },
    });
    const pod = await eventually("the dry-run pod finished", async () => {
      const p = podSchema.parse((await raw.request("GET", `/api/v1/namespaces/${ns}/pods/${name}`)).body);
      return p.status?.phase === "Succeeded" || p.status?.phase === "Failed" ? p : undefined;
    }, 120_000);
    expect(pod.status?.phase).toBe("Succeeded");
    // The node agent's log file has CRI's line format: "<time> stdout|stderr F|P <line>".
    const log = await readFile(join(cluster.logDir, `${node.name}_${ns}_${name}_worker.log`), "utf8");
    const loaded = log
      .split("\n")
      .map((l) => /^\S+ stdout F (\{.*\})$/.exec(l)?.[1])
      .filter((l) => l !== undefined)
      .map((l) => z.looseObject({ msg: z.string(), step: z.string().optional(), output: z.array(z.string()).optional() }).parse(JSON.parse(l)))
      .find((l) => l.step === "load module" && l.output !== undefined);
    expect(loaded?.output).toEqual([`insmod ${MODULES_DIR}/lib/modules/${KERNEL}/extra/kmm_ci_b.ko`, `insmod ${MODULES_DIR}/lib/modules/${KERNEL}/extra/kmm_ci_a.ko level=3`]);
  });
});
