// Publishes the kernels of this cluster's nodes as the ClusterClaim the hub reads.
import type { Logger } from "../../shared/runtime/logger.ts";
import type { Informer } from "../../shared/runtime/informer.ts";
import type { Reconcile } from "../../shared/runtime/controller.ts";
import { isNotFound, type RawClient } from "../../shared/kube/raw.ts";
import { CLUSTERCLAIM_API_VERSION, clusterClaim, type ClusterClaimObject } from "../../shared/ocm/managedcluster.ts";
import { KERNEL_CLAIM_NAME, kernelClaim } from "../claim.ts";
import type { Node } from "../objects.ts";
import { nodeKernel } from "../plan.ts";
import { FIELD_MANAGER, reportRefusal, type Recorder } from "./kube.ts";

export const CLAIM_KEY = "kernel-claim";

export function kernelClaimReconciler(deps: {
  nodes: Informer<Node>;
  claims: Informer<ClusterClaimObject>;
  raw: RawClient;
  recorder: Recorder;
  logger: Logger;
}): Reconcile {
  let reportedOverflow = "";
  const refused = new Map<string, string>();
  return async () => {
    const kernels = deps.nodes.list().map(nodeKernel).filter((k): k is string => k !== undefined);
    const claim = kernelClaim(kernels);
    const current = deps.claims.get(undefined, KERNEL_CLAIM_NAME);
    if (claim.omitted.length > 0) {
      const key = claim.omitted.join("\n");
      if (key !== reportedOverflow) {
        reportedOverflow = key;
        const message = `${claim.omitted.length} kernels do not fit in the ${KERNEL_CLAIM_NAME} claim (OCM allows 1024 characters) and the hub will not serve them: ${listSome(claim.omitted)}; published the ${claim.published.length} kernels running on most nodes`;
        deps.logger.warn({ omitted: claim.omitted, published: claim.published }, message);
        await deps.recorder.event({ apiVersion: CLUSTERCLAIM_API_VERSION, kind: "ClusterClaim", name: KERNEL_CLAIM_NAME }, "Warning", "KernelClaimOverflow", message);
      }
    } else {
      reportedOverflow = "";
    }
    if (claim.value === "") {
      if (current === undefined) return undefined;
      try {
        await deps.raw.delete(current);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      return undefined;
    }
    if (current?.spec?.value === claim.value) return undefined;
    // A refused claim (an admission policy, RBAC) is a Warning Event on the claim and a retry.
    const involved = { apiVersion: CLUSTERCLAIM_API_VERSION, kind: "ClusterClaim", name: KERNEL_CLAIM_NAME };
    await reportRefusal(deps.recorder, involved, `ClusterClaim ${KERNEL_CLAIM_NAME}`, refused, () =>
      deps.raw.apply(clusterClaim(KERNEL_CLAIM_NAME, claim.value, { "app.kubernetes.io/managed-by": FIELD_MANAGER }), FIELD_MANAGER),
    );
    return undefined;
  };
}

/** Event messages stay short: the full list is in the log. */
function listSome(items: readonly string[], maxChars = 600): string {
  const shown: string[] = [];
  let length = 0;
  for (const item of items) {
    if (length + item.length + 2 > maxChars) break;
    shown.push(item);
    length += item.length + 2;
  }
  const rest = items.length - shown.length;
  return rest > 0 ? `${shown.join(", ")} and ${rest} more` : shown.join(", ");
}
