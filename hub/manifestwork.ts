// desired = f(observed) for one ManagedClusterModule and one cluster: the kernel mappings the
// cluster's kernels resolve to, the trimmed Module the spoke receives, and the ManifestWork that
// carries it. No I/O: digests come in as a map, so the reconciler and `kmm-hub render` share it.
import type { KernelImageStatus, ManagedClusterModule, Module, ModuleSpec, RegistryTLS } from "../shared/api/index.ts";
import { HUB_API_VERSION, MAX_KERNEL_MAPPINGS, MANAGED_CLUSTER_MODULE_KIND, MODULE_API_VERSION, MODULE_GROUP, MODULE_KIND, MODULE_PLURAL, moduleSchema } from "../shared/api/index.ts";
import { KernelVersionError, resolveKernelMapping, type ResolvedKernelMapping } from "../shared/kernel-mapping/index.ts";
import { MANIFESTWORK_API_VERSION, jsonPathsFeedback, type ManifestConfigOption, type ManifestWorkObject, type ResourceIdentifier } from "../shared/ocm/index.ts";
import { parseReference, pinnedReference } from "../shared/registry/index.ts";
import { isDnsLabel, isDnsSubdomain, isLabelValue, isQualifiedName } from "../shared/kube/names.ts";
import { MAX_MANIFESTWORK_BYTES, MAX_MANIFESTWORK_NAME_LENGTH, MCM_NAME_LABEL } from "./names.ts";

/** Feedback names and JSONPaths as upstream KMM-Hub uses them: the spoke Module's status counters. */
export const MODULE_STATUS_FEEDBACK: Readonly<Record<string, string>> = {
  "devicePlugin.availableNumber": ".status.devicePlugin.availableNumber",
  "devicePlugin.desiredNumber": ".status.devicePlugin.desiredNumber",
  "devicePlugin.nodesMatchingSelectorNumber": ".status.devicePlugin.nodesMatchingSelectorNumber",
  "moduleLoader.availableNumber": ".status.moduleLoader.availableNumber",
  "moduleLoader.desiredNumber": ".status.moduleLoader.desiredNumber",
  "moduleLoader.nodesMatchingSelectorNumber": ".status.moduleLoader.nodesMatchingSelectorNumber",
};

/** What one kernel of a cluster resolves to; `mapping` is absent when no kernel mapping serves it. */
export interface KernelPlan {
  kernel: string;
  mapping?: ResolvedKernelMapping;
  skipped?: string;
}

/** The name of an MCM, which the validated schema leaves optional. */
export function mcmName(mcm: ManagedClusterModule): string {
  return mcm.metadata.name ?? "";
}

/** `${MOD_NAME}` is the MCM's name and `${MOD_NAMESPACE}` its spokeNamespace, everywhere. */
export function moduleContext(mcm: ManagedClusterModule): { moduleName: string; moduleNamespace: string } {
  return { moduleName: mcmName(mcm), moduleNamespace: mcm.spec.spokeNamespace };
}

/**
 * Resolves each kernel. Kernels no mapping serves, and malformed kernel strings, are skipped with a
 * reason; a mapping that can never work (bad RE2, unknown variable, no image) throws KernelMappingError,
 * since it is the MCM that must be fixed.
 */
export function planKernels(mcm: ManagedClusterModule, kernels: readonly string[]): KernelPlan[] {
  const ctx = moduleContext(mcm);
  return kernels.map((kernel): KernelPlan => {
    try {
      const r = resolveKernelMapping(mcm.spec.moduleSpec, kernel, ctx);
      return r.found ? { kernel, mapping: r.mapping } : { kernel, skipped: r.reason };
    } catch (err: unknown) {
      if (err instanceof KernelVersionError) return { kernel, skipped: err.message };
      throw err;
    }
  });
}

/** True when the reference already names a digest: such images are deployed exactly as given. */
export function isDigestReference(image: string): boolean {
  return parseReference(image).digest !== undefined;
}

/** An image that needs a tag → digest look-up, with the settings to reach its registry. */
export interface ImageToPin {
  image: string;
  tls: RegistryTLS;
  /** Built or signed on the hub: until that machinery exists, it must already be in the registry. */
  producedOnHub: boolean;
}

/** Distinct tagged images of some plans (digest references need no look-up). */
export function imagesToPin(plans: readonly KernelPlan[]): ImageToPin[] {
  const out = new Map<string, ImageToPin>();
  for (const p of plans) {
    const m = p.mapping;
    if (!m || out.has(m.containerImage) || isDigestReference(m.containerImage)) continue;
    out.set(m.containerImage, { image: m.containerImage, tls: m.registryTLS, producedOnHub: m.build !== undefined || m.sign !== undefined });
  }
  return [...out.values()];
}

/** Tagged device plugin images (container and init container): pinned like the kmod images. */
export function devicePluginImages(mcm: ManagedClusterModule): ImageToPin[] {
  const dp = mcm.spec.moduleSpec.devicePlugin;
  const images = [dp?.container.image, dp?.initContainer?.image].filter((i): i is string => i !== undefined && i !== "" && !isDigestReference(i));
  return [...new Set(images)].map((image) => ({ image, tls: {}, producedOnHub: false }));
}

/**
 * The outcome of a digest look-up, keyed by image in a PinMap. For an image the hub builds or
 * signs (hub/buildsign), `buildSign` says how far that got and which Job is at it.
 */
export type Pin = { digest: string } | { error: string; reason: PinFailureReason; buildSign?: KernelBuildSign };
export type PinFailureReason =
  | "ImageNotFound"
  | "RegistryUnreachable"
  | "RegistryAuth"
  | "RegistryError"
  | "InvalidReference"
  // Set by hub/buildsign: the image is being made on the hub, or making it failed.
  | "Building"
  | "Signing"
  | "BuildFailed"
  | "SignFailed"
  | "BuildInputInvalid"
  | "BuildConflict";
export type KernelBuildSign = NonNullable<KernelImageStatus["buildSign"]>;
export type PinMap = ReadonlyMap<string, Pin>;

/** The image as it goes to the spoke: the digest reference, or an explanation of why there is none. */
export function pinnedImage(image: string, pins: PinMap): { image: string; digest: string } | { error: string; reason: PinFailureReason; buildSign?: KernelBuildSign } {
  const ref = parseReference(image);
  if (ref.digest !== undefined) return { image, digest: ref.digest };
  const pin = pins.get(image);
  if (pin === undefined) return { error: `no digest known for ${image}`, reason: "RegistryError" };
  if ("error" in pin) return pin;
  return { image: pinnedReference(ref, pin.digest), digest: pin.digest };
}

/**
 * The Module the spoke receives: build and sign removed everywhere, one literal mapping per kernel
 * with the pinned image (and what the spoke needs to pull it and prepare the node), the rest as given.
 */
export function trimmedModule(
  mcm: ManagedClusterModule,
  mappings: readonly { kernel: string; image: string; resolved: ResolvedKernelMapping }[],
  pinnedDevicePlugin: ReadonlyMap<string, string> = new Map(),
): Module {
  const spec: ModuleSpec = structuredClone(mcm.spec.moduleSpec);
  const dp = spec.devicePlugin;
  if (dp) {
    dp.container.image = pinnedDevicePlugin.get(dp.container.image) ?? dp.container.image;
    if (dp.initContainer) dp.initContainer.image = pinnedDevicePlugin.get(dp.initContainer.image) ?? dp.initContainer.image;
  }
  const container = spec.moduleLoader?.container;
  if (container) {
    delete container.build;
    delete container.sign;
    // Every mapping names its own pinned image: a tagged default must not reach the spoke.
    delete container.containerImage;
    // Folded into every mapping below; left here it would override their lists on the spoke.
    delete container.inTreeModuleToRemove;
    container.kernelMappings = mappings.map(({ kernel, image, resolved }) => {
      const km: NonNullable<typeof container>["kernelMappings"][number] = {
        literal: kernel,
        containerImage: image,
        inTreeModulesToRemove: resolved.inTreeModulesToRemove ?? [],
      };
      if (Object.keys(resolved.registryTLS).length > 0) km.registryTLS = { ...resolved.registryTLS };
      return km;
    });
  }
  return moduleSchema.parse({
    apiVersion: MODULE_API_VERSION,
    kind: MODULE_KIND,
    metadata: { name: mcmName(mcm), namespace: mcm.spec.spokeNamespace },
    spec,
  });
}

// Clusters running the same kernels get the same Module: build (and validate) it once per MCM
// version. The informer replaces the MCM object on every change, which drops its entries.
const moduleMemo = new WeakMap<ManagedClusterModule, Map<string, Module>>();

function memoizedModule(
  mcm: ManagedClusterModule,
  mappings: readonly { kernel: string; image: string; resolved: ResolvedKernelMapping }[],
  pinnedDevicePlugin: ReadonlyMap<string, string>,
): Module {
  let byKey = moduleMemo.get(mcm);
  if (!byKey) {
    byKey = new Map();
    moduleMemo.set(mcm, byKey);
  }
  const key = JSON.stringify([mappings, [...pinnedDevicePlugin]]);
  let module = byKey.get(key);
  if (!module) {
    module = trimmedModule(mcm, mappings, pinnedDevicePlugin);
    byKey.set(key, module);
  }
  return module;
}

/** The spoke Module as the work agent identifies it in manifestConfigs and resourceStatus. */
export function moduleIdentifier(mcm: ManagedClusterModule): ResourceIdentifier {
  return { group: MODULE_GROUP, resource: MODULE_PLURAL, name: mcmName(mcm), namespace: mcm.spec.spokeNamespace };
}

export function manifestConfigs(mcm: ManagedClusterModule): ManifestConfigOption[] {
  return [{ resourceIdentifier: moduleIdentifier(mcm), feedbackRules: [jsonPathsFeedback({ ...MODULE_STATUS_FEEDBACK })] }];
}

/** What every work of one MCM version has in common: labels, owners, and the spec per Module. */
interface SharedWorkParts {
  labels: Record<string, string>;
  ownerReferences: NonNullable<ManifestWorkObject["metadata"]["ownerReferences"]> | undefined;
  specs: WeakMap<Module, NonNullable<ManifestWorkObject["spec"]>>;
}
// A reconcile builds one work per selected cluster, all alive until it ends (10 MCMs × 5,000
// clusters at once): the parts equal across clusters are built once per MCM version and shared,
// so a work costs its metadata only (issue 16). Like the Modules, they are never changed after.
const workParts = new WeakMap<ManagedClusterModule, SharedWorkParts>();

function sharedWorkParts(mcm: ManagedClusterModule): SharedWorkParts {
  let parts = workParts.get(mcm);
  if (!parts) {
    const name = mcmName(mcm);
    const ownerReferences =
      mcm.metadata.uid === undefined
        ? undefined
        : [{ apiVersion: HUB_API_VERSION, kind: MANAGED_CLUSTER_MODULE_KIND, name, uid: mcm.metadata.uid, controller: true, blockOwnerDeletion: true }];
    parts = { labels: { [MCM_NAME_LABEL]: name }, ownerReferences, specs: new WeakMap() };
    workParts.set(mcm, parts);
  }
  return parts;
}

/** The ManifestWork for a cluster: named after the MCM, in the cluster's namespace, owned by the MCM. */
export function desiredManifestWork(mcm: ManagedClusterModule, cluster: string, module: Module): ManifestWorkObject {
  const name = mcmName(mcm);
  const parts = sharedWorkParts(mcm);
  const metadata: ManifestWorkObject["metadata"] = { name, namespace: cluster, labels: parts.labels };
  if (parts.ownerReferences !== undefined) metadata.ownerReferences = parts.ownerReferences;
  // Built from already validated parts (the Module went through moduleSchema once per kernel set):
  // no second deep parse per cluster, which dominated the CPU time of a 1,000-cluster reconcile.
  let spec = parts.specs.get(module);
  if (!spec) {
    spec = { workload: { manifests: [module] }, manifestConfigs: manifestConfigs(mcm) };
    parts.specs.set(module, spec);
  }
  return { apiVersion: MANIFESTWORK_API_VERSION, kind: "ManifestWork", metadata, spec };
}

/**
 * Bytes of `value` encoded as JSON the way Go's encoding/json encodes it (the API server and OCM's
 * ManifestWork webhook, which measure the manifests): like JSON.stringify, except that Go escapes
 * `&`, `<`, `>` (HTML-safe: `\u0026`…) and U+2028/U+2029 (`\u2028`) as 6 bytes each. UTF-8 bytes.
 */
export function goJsonByteLength(value: unknown): number {
  const json = JSON.stringify(value);
  let extra = 0;
  for (const m of json.matchAll(/[&<>\u2028\u2029]/g)) extra += m[0] === "\u2028" || m[0] === "\u2029" ? 6 - 3 : 6 - 1;
  return Buffer.byteLength(json) + extra;
}

// The works of clusters with equal kernels share their manifests (desiredManifestWork): measure them once.
const manifestBytes = new WeakMap<object, number>();
function manifestsByteLength(manifests: readonly unknown[]): number {
  let bytes = manifestBytes.get(manifests);
  if (bytes === undefined) {
    bytes = goJsonByteLength(manifests);
    manifestBytes.set(manifests, bytes);
  }
  return bytes;
}

/**
 * Why OCM (or Kubernetes) would refuse or choke on a ManifestWork that a bare API server may accept;
 * undefined when fine. Checked for every work the hub writes or `render` prints (see checkedWork):
 * - the name: a DNS subdomain, and at most 188 characters because the work agent names the
 *   AppliedManifestWork `<sha256 of the hub URL, 64 hex>-<work name>` within 253 (OCM work agent);
 * - the namespace (the cluster's): a DNS label; the MCM-name label value: a valid label value;
 * - the manifests: at most 512,000 bytes of JSON in total as Go encodes it (goJsonByteLength; OCM's ManifestWork webhook,
 *   `validateManifests`), which the hub's own API server does not enforce without that webhook.
 */
export function manifestWorkProblem(
  work: ManifestWorkObject,
): { reason: "ManifestWorkTooLarge" | "ManifestWorkNameTooLong" | "ManifestWorkNameInvalid"; message: string } | undefined {
  const name = work.metadata.name ?? "";
  const namespace = work.metadata.namespace ?? "";
  if (name.length > MAX_MANIFESTWORK_NAME_LENGTH) {
    return {
      reason: "ManifestWorkNameTooLong",
      message: `ManifestWork name ${name} is ${name.length} characters; the work agent needs at most ${MAX_MANIFESTWORK_NAME_LENGTH}: rename the ManagedClusterModule`,
    };
  }
  const bad = [
    ...(isDnsSubdomain(name) ? [] : [`name ${JSON.stringify(name)} is not a DNS subdomain`]),
    ...(isDnsLabel(namespace) ? [] : [`namespace ${JSON.stringify(namespace)} is not a DNS label`]),
    ...Object.entries(work.metadata.labels ?? {}).flatMap(([k, v]) =>
      isQualifiedName(k) && isLabelValue(v) ? [] : [`label ${k}=${JSON.stringify(v)} is not a valid label`],
    ),
  ];
  if (bad.length > 0) {
    return { reason: "ManifestWorkNameInvalid", message: `ManifestWork ${namespace}/${name}: ${bad.join("; ")}: rename the ManagedClusterModule or the cluster` };
  }
  const bytes = manifestsByteLength(work.spec?.workload?.manifests ?? []);
  if (bytes > MAX_MANIFESTWORK_BYTES) {
    return {
      reason: "ManifestWorkTooLarge",
      message: `the manifests of ManifestWork ${namespace}/${name} take ${bytes} bytes, over OCM's limit of ${MAX_MANIFESTWORK_BYTES} (500 KiB): fewer kernels or a smaller moduleSpec`,
    };
  }
  return undefined;
}

export type BlockReason =
  | PinFailureReason
  | "ManifestWorkTooLarge"
  | "ManifestWorkNameTooLong"
  | "ManifestWorkNameInvalid"
  | "TooManyKernels"
  // Set by hub/plan.ts when the MCM's mappings cannot be used, or planning itself failed.
  | "InvalidKernelMapping"
  | "PlanningFailed"
  // Set by the reconciler: the API server refused the write, or it did not get through.
  | "ManifestWorkRefused"
  | "WriteFailed";

/** What the hub should do for one selected cluster. */
export type ClusterOutcome =
  | { cluster: string; kind: "work"; work: ManifestWorkObject; kernels: KernelImageStatus[] }
  /** Must not be written (unresolved image, over OCM's limits); what is already there stays. */
  | { cluster: string; kind: "blocked"; reason: BlockReason; message: string; kernels: KernelImageStatus[] }
  /** Nothing to write yet (no claim, no kernel served by a mapping); what is already there stays. */
  | { cluster: string; kind: "pending"; message: string; kernels: KernelImageStatus[] };

/** The outcome for one cluster whose kernels were planned, given the digests known so far. */
export function clusterOutcome(mcm: ManagedClusterModule, cluster: string, plans: readonly KernelPlan[], pins: PinMap): ClusterOutcome {
  const failures: { reason: PinFailureReason; message: string }[] = [];
  const pinnedDevicePlugin = new Map<string, string>();
  for (const { image } of devicePluginImages(mcm)) {
    const pinned = pinnedImage(image, pins);
    if ("error" in pinned) failures.push({ reason: pinned.reason, message: `devicePlugin image: ${pinned.error}` });
    else pinnedDevicePlugin.set(image, pinned.image);
  }
  if (mcm.spec.moduleSpec.moduleLoader === undefined) {
    const first = failures[0];
    if (first) return { cluster, kind: "blocked", reason: first.reason, message: failures.map((f) => f.message).join("; "), kernels: [] };
    // Nothing kernel-specific to pin (a device plugin only): the spec goes as it is, minus build/sign.
    return checkedWork(cluster, desiredManifestWork(mcm, cluster, trimmedModule(mcm, [], pinnedDevicePlugin)), []);
  }
  const kernels: KernelImageStatus[] = [];
  const mapped: { kernel: string; image: string; resolved: ResolvedKernelMapping }[] = [];
  for (const p of plans) {
    if (!p.mapping) {
      kernels.push({ kernelVersion: p.kernel, message: p.skipped ?? "no kernel mapping" });
      continue;
    }
    const pinned = pinnedImage(p.mapping.containerImage, pins);
    if ("error" in pinned) {
      const message = pinned.error;
      kernels.push({ kernelVersion: p.kernel, image: p.mapping.containerImage, message, ...(pinned.buildSign !== undefined ? { buildSign: pinned.buildSign } : {}) });
      failures.push({ reason: pinned.reason, message: `kernel ${p.kernel}: ${message}` });
      continue;
    }
    kernels.push({ kernelVersion: p.kernel, image: p.mapping.containerImage, digest: pinned.digest });
    mapped.push({ kernel: p.kernel, image: pinned.image, resolved: p.mapping });
  }
  const first = failures[0];
  if (first) return { cluster, kind: "blocked", reason: first.reason, message: failures.map((f) => f.message).join("; "), kernels };
  if (mapped.length === 0) {
    return {
      cluster,
      kind: "pending",
      message: `no kernel mapping of the ManagedClusterModule serves the kernels of ${cluster} (${plans.map((p) => p.kernel).join(", ")})`,
      kernels,
    };
  }
  if (mapped.length > MAX_KERNEL_MAPPINGS) {
    const message = `${cluster} runs ${mapped.length} kernels served by the ManagedClusterModule; a Module holds at most ${MAX_KERNEL_MAPPINGS} kernel mappings`;
    return { cluster, kind: "blocked", reason: "TooManyKernels", message, kernels };
  }
  return checkedWork(cluster, desiredManifestWork(mcm, cluster, memoizedModule(mcm, mapped, pinnedDevicePlugin)), kernels);
}

/**
 * The one exit of clusterOutcome for a ManifestWork: every work, whatever the MCM's shape (device
 * plugin only, no kernel, many kernels), passes OCM's limits here or is blocked with the reason.
 */
function checkedWork(cluster: string, work: ManifestWorkObject, kernels: KernelImageStatus[]): ClusterOutcome {
  const problem = manifestWorkProblem(work);
  if (problem) return { cluster, kind: "blocked", reason: problem.reason, message: problem.message, kernels };
  return { cluster, kind: "work", work, kernels };
}
