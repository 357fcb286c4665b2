// The few writes the spoke controllers make besides server-side apply: label merge patches (several
// controllers own different labels of the same Node, which one apply manager per Node cannot
// express), finalizer patches guarded by resourceVersion, and Events.
import { postEvent, type InvolvedObject } from "../../shared/kube/events.ts";
import type { RawClient } from "../../shared/kube/raw.ts";

export type { InvolvedObject };

export const FIELD_MANAGER = "kmm-spoke";
export const EVENT_SOURCE = "kmm";

export class Recorder {
  private readonly raw: RawClient;
  private readonly instance: string;
  constructor(
    raw: RawClient,
    instance: string,
  ) {
    this.raw = raw;
    this.instance = instance;
  }

  event(obj: InvolvedObject, type: "Normal" | "Warning", reason: string, message: string): Promise<void> {
    return postEvent(this.raw, { involvedObject: obj, type, reason, message, component: EVENT_SOURCE, instance: this.instance });
  }
}

export async function patchNodeLabels(raw: RawClient, node: string, labels: Record<string, string | null>): Promise<void> {
  await raw.request("PATCH", `/api/v1/nodes/${encodeURIComponent(node)}`, { metadata: { labels } }, "application/merge-patch+json");
}
