// core/v1 Events on ManagedClusterModules. The MCM is cluster-scoped, so its Events go to
// "default", where kubectl describe looks for them (as client-go's recorder does).
import { randomBytes } from "node:crypto";
import type { RawClient } from "../shared/kube/raw.ts";
import type { Logger } from "../shared/runtime/index.ts";
import { HUB_API_VERSION, MANAGED_CLUSTER_MODULE_KIND } from "../shared/api/index.ts";
import { EVENT_SOURCE } from "./names.ts";

export const EventReasons = {
  NoKernelMapping: "NoKernelMapping",
  ImageRepinned: "ImageRepinned",
  RegistryError: "RegistryError",
  InvalidKernelMapping: "InvalidKernelMapping",
  ManifestWorkRefused: "ManifestWorkRefused",
  PullSecretMissing: "PullSecretMissing",
  ManifestWorkDeleted: "ManifestWorkDeleted",
} as const;

export interface EventTarget {
  name: string;
  uid?: string | undefined;
}

const EVENT_NAMESPACE = "default";
// The same message again within this window is not recorded again (a blocked cluster is retried often).
const REPEAT_WINDOW_MS = 10 * 60_000;
const MAX_REMEMBERED = 10_000;

export class EventRecorder {
  private readonly recent = new Map<string, number>();

  constructor(
    private readonly kube: RawClient,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records an Event; failures are logged, never thrown (events are best effort). */
  async record(target: EventTarget, type: "Normal" | "Warning", reason: string, message: string): Promise<void> {
    const key = `${target.uid ?? target.name}\0${reason}\0${message}`;
    const at = this.recent.get(key);
    const now = this.now();
    if (at !== undefined && now - at < REPEAT_WINDOW_MS) return;
    this.recent.delete(key);
    this.recent.set(key, now);
    if (this.recent.size > MAX_REMEMBERED) {
      const oldest = this.recent.keys().next();
      if (oldest.done !== true) this.recent.delete(oldest.value);
    }
    const ts = new Date(now).toISOString().replace(/\.\d{3}Z$/, "Z");
    const event = {
      apiVersion: "v1",
      kind: "Event",
      metadata: { name: `${target.name}.${randomBytes(8).toString("hex")}`, namespace: EVENT_NAMESPACE },
      involvedObject: { apiVersion: HUB_API_VERSION, kind: MANAGED_CLUSTER_MODULE_KIND, name: target.name, ...(target.uid ? { uid: target.uid } : {}) },
      reason,
      // The API server caps Event messages at 1 KiB.
      message: message.length > 1024 ? `${message.slice(0, 1021)}...` : message,
      type,
      source: { component: EVENT_SOURCE },
      reportingComponent: EVENT_SOURCE,
      firstTimestamp: ts,
      lastTimestamp: ts,
      count: 1,
    };
    try {
      await this.kube.request("POST", `/api/v1/namespaces/${EVENT_NAMESPACE}/events`, event);
    } catch (err: unknown) {
      this.log.warn({ err, reason, mcm: target.name }, "could not record event");
    }
  }
}
