// `kmm-hub render`: the ManifestWorks the hub would write for an MCM and some ManagedClusters,
// computed offline with the reconciler's own builders. Inputs are validated like API objects.
import { z } from "zod";
import { refusingProtoKey } from "../shared/k8s/maps.ts";
import { managedClusterModuleSchema, type ManagedClusterModule } from "../shared/api/index.ts";
import { invalidKernelMappings, KernelMappingError } from "../shared/kernel-mapping/index.ts";
import { formatIssues, managedClusterSchema, type ManagedClusterObject, type ManifestWorkObject } from "../shared/ocm/index.ts";
import { validateDigest } from "../shared/registry/reference.ts";
import { parseKubeDocuments } from "../shared/yaml/read.ts";
import { moduleContext, type ClusterOutcome, type Pin } from "./manifestwork.ts";
import { outcomes, planClusters, planImages } from "./plan.ts";

export { doubleQuoted, plainIsSafe, toYaml } from "../shared/yaml/write.ts";

export class RenderInputError extends Error {
  override readonly name = "RenderInputError";
}

/** The message of a schema failure, with a hint when a YAML 1.1 boolean or number stands where a string belongs. */
function invalid(prefix: string, issues: readonly z.core.$ZodIssue[]): RenderInputError {
  const text = formatIssues(issues);
  const yaml11 = /expected string, received (boolean|number)/.test(text)
    ? " (kubectl reads YAML 1.1: unquoted yes, no, on, off, y, n are booleans and 0755, 1_000 numbers; quote such values)"
    : "";
  return new RenderInputError(`${prefix}: ${text}${yaml11}`);
}

function documents(text: string, source: string): unknown[] {
  // kubectl reads manifests as YAML 1.1: render reads them the same way, to refuse what kubectl apply would.
  const out: unknown[] = [];
  for (const d of parseKubeDocuments(text)) {
    const first = d.errors[0];
    if (first) throw new RenderInputError(`${source}: not valid YAML: ${first.message}`);
    const value: unknown = d.toJS();
    if (value === null || value === undefined) continue;
    // `kubectl get -o yaml` prints a List: take its items.
    const list = z.object({ kind: z.string().regex(/List$/), items: z.array(z.unknown()) }).safeParse(value);
    if (list.success) out.push(...list.data.items);
    else out.push(value);
  }
  return out;
}

export function parseMcm(text: string, source: string): ManagedClusterModule {
  const docs = documents(text, source);
  if (docs.length !== 1) throw new RenderInputError(`${source}: expected exactly one ManagedClusterModule, found ${docs.length} document(s)`);
  const r = managedClusterModuleSchema.safeParse(docs[0]);
  if (!r.success) throw invalid(`${source}: not a valid ManagedClusterModule`, r.error.issues);
  return r.data;
}

export function parseClusters(text: string, source: string): ManagedClusterObject[] {
  return documents(text, source).map((doc, i) => {
    const r = managedClusterSchema.safeParse(doc);
    if (!r.success) throw invalid(`${source}, document ${i + 1}: not a valid ManagedCluster`, r.error.issues);
    return r.data;
  });
}

const digestMapSchema = refusingProtoKey(z.record(z.string().min(1), z.string().min(1)));

/** A YAML/JSON map `image: sha256:…` (the digests the registry would answer). */
export function parseDigests(text: string, source: string): Map<string, Pin> {
  const docs = documents(text, source);
  if (docs.length !== 1) throw new RenderInputError(`${source}: expected one map of image → digest, found ${docs.length} document(s)`);
  const r = digestMapSchema.safeParse(docs[0]);
  if (!r.success) throw invalid(`${source}: expected a map of image → digest (e.g. "registry.example.com/kmod:6.1.0: sha256:…")`, r.error.issues);
  const pins = new Map<string, Pin>();
  for (const [image, digest] of Object.entries(r.data)) {
    try {
      pins.set(image, { digest: validateDigest(digest) });
    } catch (err: unknown) {
      throw new RenderInputError(`${source}: ${image}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return pins;
}

export interface RenderResult {
  works: ManifestWorkObject[];
  /** Selected clusters that get no ManifestWork, and why. */
  notRendered: Exclude<ClusterOutcome, { kind: "work" }>[];
  /** Kernels of selected clusters that no ManifestWork serves (no mapping, a part its template needs, no digest), and why. */
  skippedKernels: { cluster: string; kernel: string; message: string }[];
}

/**
 * The ManifestWorks of `mcm` for `clusters`, with the clusters and kernels that get none and why.
 * Throws RenderInputError for bad input: a kernel mapping whose regexp is not valid RE2 (once, not
 * once per cluster and kernel).
 */
export function render(mcm: ManagedClusterModule, clusters: readonly ManagedClusterObject[], digests: ReadonlyMap<string, Pin>): RenderResult {
  const badRegexps = invalidKernelMappings(mcm.spec.moduleSpec, moduleContext(mcm));
  if (badRegexps.length > 0) throw new RenderInputError(badRegexps.map((e) => e.message).join("; "));
  let plans;
  try {
    plans = planClusters(mcm, clusters);
  } catch (err: unknown) {
    if (err instanceof KernelMappingError) throw new RenderInputError(err.message);
    throw err;
  }
  // Tags without a digest in the map stay blocked, exactly as an unreachable registry would leave them.
  const pins = new Map(digests);
  for (const { image } of planImages(mcm, plans)) {
    if (!pins.has(image)) pins.set(image, { error: `no digest for ${image} in the digest map`, reason: "RegistryError" });
  }
  const works: ManifestWorkObject[] = [];
  const notRendered: RenderResult["notRendered"] = [];
  const skippedKernels: RenderResult["skippedKernels"] = [];
  for (const o of outcomes(mcm, plans, pins)) {
    if (o.kind === "work") works.push(o.work);
    else notRendered.push(o.kind === "pending" ? withKernelReasons(o) : o);
    for (const k of o.kernels) {
      if (k.digest === undefined) skippedKernels.push({ cluster: o.cluster, kernel: k.kernelVersion, message: k.message ?? "not served" });
    }
  }
  return { works, notRendered, skippedKernels };
}

/**
 * A Pending cluster whose kernels a mapping matches but cannot serve (its template needs a part of
 * the kernel version they lack) says so, kernel by kernel as a blocked cluster does, instead of "no
 * kernel mapping serves the kernels".
 */
function withKernelReasons(o: Extract<ClusterOutcome, { kind: "pending" }>): Extract<ClusterOutcome, { kind: "pending" }> {
  const unmapped = (m: string | undefined) => m === undefined || m === "no kernel mapping";
  if (o.kernels.every((k) => unmapped(k.message))) return o;
  return { ...o, message: `no kernel of ${o.cluster} is served: ${o.kernels.map((k) => `kernel ${k.kernelVersion}: ${k.message ?? "no kernel mapping"}`).join("; ")}` };
}

/** One `v1` List holding the objects, as `kubectl get -o json` prints several objects. */
export function toJson(objects: readonly unknown[]): string {
  return `${JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }, null, 2)}\n`;
}
