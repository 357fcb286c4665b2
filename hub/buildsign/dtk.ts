// DTK_AUTO: which Driver Toolkit image a build for one kernel gets, as upstream KMM decides it
// (internal/controllers/imagestream_reconciler.go, kernel_dtk_reconciler.go, syncronizedmap): the
// `driver-toolkit` ImageStream in namespace `openshift` has one tag per RHCOS version (`latest`
// aside) pointing at that version's DTK image, and a Node running the kernel says its RHCOS version
// in `osImage`. Pure: the step feeds it the informers' objects; discovery is the only I/O here.
import { z } from "zod";
import { isNotFound, type RawClient } from "../../shared/kube/raw.ts";

/** Where OpenShift keeps the Driver Toolkit ImageStream (upstream constants.DTKImageStreamNamespace). */
export const DRIVER_TOOLKIT = { apiVersion: "image.openshift.io/v1", namespace: "openshift", name: "driver-toolkit" } as const;

/** The parts of an image.openshift.io/v1 ImageStream that DTK_AUTO reads: its spec tags. */
export const imageStreamSchema = z.looseObject({
  metadata: z.looseObject({ name: z.string(), namespace: z.string().optional() }),
  spec: z
    .looseObject({
      tags: z.array(z.looseObject({ name: z.string(), from: z.looseObject({ kind: z.string().optional(), name: z.string().optional() }).nullish() })).nullish(),
    })
    .optional(),
});
export type ImageStream = z.infer<typeof imageStreamSchema>;

/** The parts of a Node that map its kernel to its RHCOS version. */
export const dtkNodeSchema = z.looseObject({
  metadata: z.looseObject({ name: z.string() }),
  status: z.looseObject({ nodeInfo: z.looseObject({ kernelVersion: z.string().optional(), osImage: z.string().optional() }).optional() }).optional(),
});
export type DtkNode = z.infer<typeof dtkNodeSchema>;

/** An RHCOS version inside a Node's osImage, e.g. `412.86.202302211547-0` (upstream's pattern). */
const OS_VERSION = /\d+\.\d+\.\d+-\d/;

/** The RHCOS version in an osImage string ("Red Hat Enterprise Linux CoreOS 412.86.202302211547-0 (Ootpa)"), if any. */
export function osImageVersion(osImage: string): string | undefined {
  return OS_VERSION.exec(osImage)?.[0];
}

/** RHCOS version → DTK image: every spec tag except `latest`, its `from.name` (upstream ignores `latest`). */
export function dtkImagesByOsVersion(stream: ImageStream | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const t of stream?.spec?.tags ?? []) {
    const image = t.from?.name;
    if (t.name !== "latest" && image !== undefined && image !== "") out.set(t.name, image);
  }
  return out;
}

/**
 * Kernel → RHCOS version from Nodes: `nodeInfo.kernelVersion` without a trailing "+" (as upstream),
 * the version found in `osImage`. Nodes without either are skipped; when Nodes with the same kernel
 * disagree, the highest version (string order) wins, so the answer does not depend on cache order.
 */
export function kernelOsVersions(nodes: readonly DtkNode[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const n of nodes) {
    const kernel = n.status?.nodeInfo?.kernelVersion?.replace(/\+$/, "");
    const os = osImageVersion(n.status?.nodeInfo?.osImage ?? "");
    if (kernel === undefined || kernel === "" || os === undefined) continue;
    const had = out.get(kernel);
    if (had === undefined || os > had) out.set(kernel, os);
  }
  return out;
}

/** The DTK image for a kernel, or why there is none (a message naming what is missing and the fix). */
export type DtkLookup = { image: string } | { error: string };

/**
 * The DTK image for `kernel`, given the hub's Nodes and the driver-toolkit ImageStream (undefined
 * when it does not exist). Never throws.
 */
export function dtkImageFor(kernel: string, nodes: readonly DtkNode[], stream: ImageStream | undefined): DtkLookup {
  const where = `ImageStream ${DRIVER_TOOLKIT.namespace}/${DRIVER_TOOLKIT.name}`;
  if (stream === undefined) return { error: `${where} does not exist, so DTK_AUTO has no value for kernel ${kernel}` };
  const os = kernelOsVersions(nodes).get(kernel);
  if (os === undefined) {
    return { error: `no Node of the hub runs kernel ${kernel} with an RHCOS version in its osImage, so the ${where} tag for it is unknown (DTK_AUTO follows the hub's Nodes, as upstream KMM)` };
  }
  const image = dtkImagesByOsVersion(stream).get(os);
  if (image === undefined) return { error: `${where} has no tag ${os} (the RHCOS version of the hub's Nodes running kernel ${kernel})` };
  return { image };
}

/**
 * Whether the hub's API server serves image.openshift.io/v1 imagestreams (OpenShift, or a CRD of
 * that shape): asked once when the hub starts. Throws the API server's error other than 404.
 */
export async function imageStreamApiServed(kube: RawClient): Promise<boolean> {
  try {
    const res = await kube.request("GET", `/apis/${DRIVER_TOOLKIT.apiVersion}`);
    const list = z.looseObject({ resources: z.array(z.looseObject({ name: z.string() })).optional() }).safeParse(res.body);
    return list.data?.resources?.some((r) => r.name === "imagestreams") === true;
  } catch (err: unknown) {
    if (isNotFound(err)) return false;
    throw err;
  }
}
