// The few writes the spoke controllers make besides server-side apply: label merge patches (several
// controllers own different labels of the same Node, which one apply manager per Node cannot
// express), finalizer patches guarded by resourceVersion, and Events.
import { randomBytes } from "node:crypto";
import type { KubernetesObject } from "@kubernetes/client-node";
import type { RawClient } from "../../shared/kube/raw.ts";

export const FIELD_MANAGER = "kmm-spoke";
export const EVENT_SOURCE = "kmm";

export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
}

export class Recorder {
  constructor(
    private readonly raw: RawClient,
    private readonly instance: string,
  ) {}

  /** Events of cluster-scoped objects (Nodes, ClusterClaims) go to "default", as the kubelet's do. */
  async event(obj: InvolvedObject, type: "Normal" | "Warning", reason: string, message: string): Promise<void> {
    const namespace = obj.namespace ?? "default";
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
    await this.raw.request("POST", `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`, {
      apiVersion: "v1",
      kind: "Event",
      metadata: { name: `${obj.name}.${randomBytes(8).toString("hex")}`, namespace },
      involvedObject: obj,
      type,
      reason,
      message,
      source: { component: EVENT_SOURCE },
      reportingComponent: EVENT_SOURCE,
      reportingInstance: this.instance,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    });
  }
}

export async function patchNodeLabels(raw: RawClient, node: string, labels: Record<string, string | null>): Promise<void> {
  await raw.request("PATCH", `/api/v1/nodes/${encodeURIComponent(node)}`, { metadata: { labels } }, "application/merge-patch+json");
}

/**
 * RawClient is typed with client-node's KubernetesObject, whose metadata class uses Date timestamps;
 * our zod-typed objects carry them as strings, which is what goes on the wire.
 */
export function wire(obj: { apiVersion: string; kind: string; metadata: { name?: string | undefined; namespace?: string | undefined } } & object): KubernetesObject {
  const untyped: unknown = obj;
  return untyped as KubernetesObject;
}
