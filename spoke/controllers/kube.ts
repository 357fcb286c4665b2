// The few writes the spoke controllers make besides server-side apply: label merge patches (several
// controllers own different labels of the same Node, which one apply manager per Node cannot
// express), finalizer patches guarded by resourceVersion, and Events.
import { postEvent, type InvolvedObject } from "../../shared/kube/events.ts";
import { ApiError, type RawClient } from "../../shared/kube/raw.ts";

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

/** A write the API server answered with a refusal (invalid, forbidden, too large…), not a transient failure. */
export function isRefusal(err: unknown): err is ApiError {
  return err instanceof ApiError && err.code >= 400 && err.code < 500 && ![401, 404, 408, 409, 429].includes(err.code);
}

/**
 * Runs one write for `obj`; when the API server refuses it, a Warning Event `WriteRefused` with the
 * server's message is recorded on `obj` (once per distinct message, remembered in `reported`) and
 * the error is rethrown, so the controller retries with backoff.
 */
export async function reportRefusal<T>(recorder: Recorder, obj: InvolvedObject, what: string, reported: Map<string, string>, write: () => Promise<T>): Promise<T> {
  try {
    const out = await write();
    reported.delete(obj.name);
    return out;
  } catch (err) {
    if (isRefusal(err) && reported.get(obj.name) !== err.message) {
      reported.set(obj.name, err.message);
      await recorder.event(obj, "Warning", "WriteRefused", `${what} was refused by the API server: ${err.message}`).catch(() => undefined);
    }
    throw err;
  }
}
