// core/v1 Events on ManagedClusterModules (cluster-scoped, so in "default"), with repeats of the
// same message suppressed for a while: a blocked cluster is retried often.
import { postEvent } from "../shared/kube/events.ts";
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

// The same message again within this window is not recorded again (a blocked cluster is retried often).
const REPEAT_WINDOW_MS = 10 * 60_000;
const MAX_REMEMBERED = 10_000;

export class EventRecorder {
  private readonly recent = new Map<string, number>();

  private readonly kube: RawClient;
  private readonly log: Logger;
  private readonly now: () => number;
  constructor(
    kube: RawClient,
    log: Logger,
    now: () => number = Date.now,
  ) {
    this.kube = kube;
    this.log = log;
    this.now = now;
  }

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
    try {
      await postEvent(this.kube, {
        involvedObject: { apiVersion: HUB_API_VERSION, kind: MANAGED_CLUSTER_MODULE_KIND, name: target.name, ...(target.uid ? { uid: target.uid } : {}) },
        type,
        reason,
        message,
        component: EVENT_SOURCE,
        at: new Date(now),
      });
    } catch (err: unknown) {
      this.log.warn({ err, reason, mcm: target.name }, "could not record event");
    }
  }
}
