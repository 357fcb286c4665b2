// Labels every Node with its kernel version, so module-loader DaemonSets can select nodes by kernel.
import type { RawClient } from "../../shared/kube/raw.ts";
import type { Informer } from "../../shared/runtime/informer.ts";
import type { Reconcile } from "../../shared/runtime/controller.ts";
import { KERNEL_LABEL, kernelLabelValue } from "../labels.ts";
import type { Node } from "../objects.ts";
import { nodeKernel } from "../plan.ts";
import { patchNodeLabels, reportRefusal, type Recorder } from "./kube.ts";

/** A refused label write becomes a Warning Event on the Node (with the server's message) and a retry. */
export function nodeKernelLabelReconciler(nodes: Informer<Node>, raw: RawClient, recorder: Recorder): Reconcile {
  const reported = new Map<string, string>();
  return async (name) => {
    const node = nodes.get(undefined, name);
    if (node === undefined) return undefined;
    const kernel = nodeKernel(node);
    const want = kernel === undefined ? undefined : kernelLabelValue(kernel);
    const have = node.metadata.labels?.[KERNEL_LABEL];
    if (want === have) return undefined;
    const involved = { apiVersion: "v1", kind: "Node", name, ...(node.metadata.uid !== undefined ? { uid: node.metadata.uid } : {}) };
    await reportRefusal(recorder, involved, `label ${KERNEL_LABEL} of Node ${name}`, reported, () => patchNodeLabels(raw, name, { [KERNEL_LABEL]: want ?? null }));
    return undefined;
  };
}
