// A list+watch cache per kind over @kubernetes/client-node's ListWatch, with the
// behaviour client-go's reflector has and client-node lacks:
// - ListWatch stops for good on any error except 410/timeout; here it is
//   restarted with exponential backoff (resuming from the last resourceVersion,
//   so a too-old version comes back as 410 and ListWatch relists);
// - lists are paged and every object is validated with a zod schema;
// - `hasSynced()` and a readiness check tell whether the cache can be trusted.
import { ADD, DELETE, ERROR, type KubeConfig, type KubernetesObject, ListWatch, UPDATE, Watch } from "@kubernetes/client-node";
import { z } from "zod";
import { RawClient } from "../kube/raw.ts";
import type { Logger } from "./logger.ts";

/** What to list and watch. `namespace` restricts a namespaced kind to one namespace. */
export interface ResourceRef {
  apiVersion: string;
  kind: string;
  /** lower-case plural resource name, e.g. "managedclusters" */
  plural: string;
  namespace?: string;
}

/** The least an informer needs to know about an object. */
export interface ObjectWithMeta {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string } | undefined;
}

export interface InformerOptions<T extends ObjectWithMeta> {
  kubeConfig: KubeConfig;
  resource: ResourceRef;
  schema: z.ZodType<T>;
  logger: Logger;
  labelSelector?: string;
  fieldSelector?: string;
  /** objects per list page (client-go uses 500) */
  pageSize?: number;
  /** first restart delay after a failure; doubles up to maxBackoffMs */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /** readiness tolerates a failing watch this long (a synced cache stays usable) */
  unreadyAfterFailingMs?: number;
}

export type UpdateHandler<T> = (obj: T, old: T | undefined) => void;
export type ObjectHandler<T> = (obj: T) => void;

const listSchema = z.looseObject({
  metadata: z.looseObject({ resourceVersion: z.string().optional(), continue: z.string().optional() }).optional(),
  items: z.array(z.unknown()).nullable().optional(),
});

export function resourcePath(r: ResourceRef): string {
  const base = r.apiVersion.includes("/") ? `/apis/${r.apiVersion}` : `/api/${r.apiVersion}`;
  return r.namespace === undefined ? `${base}/${r.plural}` : `${base}/namespaces/${encodeURIComponent(r.namespace)}/${r.plural}`;
}

function keyOf(o: ObjectWithMeta): string {
  return `${o.metadata?.namespace ?? ""}/${o.metadata?.name ?? ""}`;
}

/** Lets the informer see each watch (re)start and validate events before ListWatch applies them. */
interface WatchHooks {
  beforeWatch(): void;
  event(phase: string, obj: unknown): unknown;
}

class ObservedWatch extends Watch {
  private readonly hooks: WatchHooks;
  constructor(kc: KubeConfig, hooks: WatchHooks) {
    super(kc);
    this.hooks = hooks;
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    this.hooks.beforeWatch();
    const onEvent = (phase: string, obj: unknown, raw?: unknown): void => {
      const checked = this.hooks.event(phase, obj);
      if (checked !== undefined) callback(phase, checked, raw);
    };
    try {
      return await super.watch(path, { ...queryParams, allowWatchBookmarks: true }, onEvent, done);
    } catch (err: unknown) {
      // ListWatch calls us from a callback whose promise nobody awaits: a throw here
      // would be an unhandled rejection. Report it through `done` instead.
      done(err);
      return new AbortController();
    }
  }
}

export class Informer<T extends ObjectWithMeta> {
  readonly name: string;
  private readonly opts: InformerOptions<T>;
  private readonly log: Logger;
  private readonly lw: ListWatch<KubernetesObject>;
  private readonly raw: RawClient;
  private readonly addHandlers: ObjectHandler<T>[] = [];
  private readonly updateHandlers: UpdateHandler<T>[] = [];
  private readonly deleteHandlers: ObjectHandler<T>[] = [];
  private readonly syncWaiters: (() => void)[] = [];
  // Old versions of objects about to be replaced, so update handlers get (new, old).
  private previous = new Map<string, T>();
  private synced = false;
  private started = false;
  private stopped = false;
  private failures = 0;
  private failingSince: number | undefined;
  private lastError: string | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private restarts = 0;

  constructor(opts: InformerOptions<T>) {
    this.raw = new RawClient(opts.kubeConfig);
    this.opts = opts;
    const ns = opts.resource.namespace === undefined ? "" : `/${opts.resource.namespace}`;
    const selectors = [opts.labelSelector, opts.fieldSelector].filter((x) => x !== undefined && x !== "").join(";");
    this.name = `${opts.resource.kind}${ns}${selectors === "" ? "" : `[${selectors}]`}`;
    this.log = opts.logger.child({ informer: this.name });
    const watch = new ObservedWatch(opts.kubeConfig, {
      beforeWatch: () => { this.onWatchStart(); },
      event: (phase, obj) => this.onEvent(phase, obj),
    });
    this.lw = new ListWatch<KubernetesObject>(
      resourcePath(opts.resource),
      watch,
      () => this.listAll(),
      false,
      opts.labelSelector,
      opts.fieldSelector,
    );
    this.lw.on(ADD, (o) => { this.dispatch(this.addHandlers, o); });
    this.lw.on(UPDATE, (o) => {
      const obj = o as T;
      const old = this.previous.get(keyOf(obj));
      for (const h of this.updateHandlers) this.safely(() => { h(obj, old); });
    });
    this.lw.on(DELETE, (o) => { this.dispatch(this.deleteHandlers, o); });
    this.lw.on(ERROR, (err: unknown) => { this.onError(err); });
  }

  onAdd(h: ObjectHandler<T>): void {
    this.addHandlers.push(h);
  }

  onUpdate(h: UpdateHandler<T>): void {
    this.updateHandlers.push(h);
  }

  onDelete(h: ObjectHandler<T>): void {
    this.deleteHandlers.push(h);
  }

  /** Starts listing and watching; returns at once (see `waitForSync`). */
  start(): void {
    if (this.started) throw new Error(`informer ${this.name} was already started`);
    this.started = true;
    this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    for (const w of this.syncWaiters.splice(0)) w();
    await this.lw.stop();
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves when the first list has filled the cache (or the informer is stopped). */
  waitForSync(): Promise<void> {
    if (this.synced || this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  /** From the cache, no API call. Cluster-scoped objects: namespace undefined. */
  get(namespace: string | undefined, name: string): T | undefined {
    return this.lw.get(name, namespace) as T | undefined;
  }

  /** From the cache, no API call; all namespaces when `namespace` is omitted. */
  list(namespace?: string): T[] {
    return this.lw.list(namespace) as T[];
  }

  /** The last list/watch error while failing, for messages. */
  lastFailure(): string | undefined {
    return this.lastError;
  }

  /** How many times the watch was restarted after a failure (for tests and metrics). */
  restartCount(): number {
    return this.restarts;
  }

  /** Readiness: fails until synced, and while the watch has been failing for a while. */
  readinessCheck(): () => boolean {
    return () => {
      if (!this.synced) throw new Error(`cache of ${this.name} not synced${this.lastError ? `: ${this.lastError}` : ""}`);
      const limit = this.opts.unreadyAfterFailingMs ?? 30_000;
      if (this.failingSince !== undefined && Date.now() - this.failingSince > limit) {
        throw new Error(`watch of ${this.name} failing since ${new Date(this.failingSince).toISOString()}: ${this.lastError ?? "unknown error"}`);
      }
      return true;
    };
  }

  private run(): void {
    if (this.stopped) return;
    this.lw.start().catch((err: unknown) => { this.onError(err); });
  }

  private async listAll(): Promise<{ metadata: { resourceVersion: string }; items: KubernetesObject[] }> {
    const snapshot = new Map<string, T>();
    for (const o of this.list()) snapshot.set(keyOf(o), o);
    const items: KubernetesObject[] = [];
    let resourceVersion = "";
    let cont: string | undefined;
    do {
      const q = new URLSearchParams({ limit: String(this.opts.pageSize ?? 500) });
      if (cont !== undefined) q.set("continue", cont);
      if (this.opts.labelSelector !== undefined) q.set("labelSelector", this.opts.labelSelector);
      if (this.opts.fieldSelector !== undefined) q.set("fieldSelector", this.opts.fieldSelector);
      const res = await this.raw.request("GET", `${resourcePath(this.opts.resource)}?${q.toString()}`);
      const page = listSchema.parse(res.body);
      if (cont === undefined) resourceVersion = page.metadata?.resourceVersion ?? "";
      for (const raw of page.items ?? []) {
        // List items carry no apiVersion/kind; watch events do. Make them alike.
        const withType = raw !== null && typeof raw === "object" ? { apiVersion: this.opts.resource.apiVersion, kind: this.opts.resource.kind, ...raw } : raw;
        const obj = this.validate(withType);
        if (obj !== undefined) items.push(obj);
      }
      cont = page.metadata?.continue === "" ? undefined : page.metadata?.continue;
    } while (cont !== undefined);
    // ListWatch applies the list synchronously after this resolves; keep old versions for update handlers.
    this.previous = snapshot;
    this.markHealthy();
    return { metadata: { resourceVersion }, items };
  }

  private validate(raw: unknown): T | undefined {
    const r = this.opts.schema.safeParse(raw);
    if (r.success) return r.data;
    const meta = z.looseObject({ metadata: z.looseObject({ name: z.string().optional(), namespace: z.string().optional() }).optional() }).safeParse(raw);
    const where = meta.success ? `${meta.data.metadata?.namespace ?? ""}/${meta.data.metadata?.name ?? "?"}` : "?";
    // Skipping is safer than guessing: the cache keeps the last valid version.
    this.log.error({ object: where, issues: r.error.issues.slice(0, 5) }, `ignoring ${this.opts.resource.kind} that does not match its schema`);
    return undefined;
  }

  private onWatchStart(): void {
    this.previous = new Map();
    if (!this.synced) {
      this.synced = true;
      this.log.info({ objects: this.lw.list().length }, "cache synced");
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private onEvent(phase: string, obj: unknown): unknown {
    if (phase !== "ADDED" && phase !== "MODIFIED" && phase !== "DELETED") return obj;
    const checked = this.validate(obj);
    if (checked === undefined) return undefined;
    this.markHealthy();
    if (phase === "MODIFIED") {
      const old = this.lw.get(checked.metadata?.name ?? "", checked.metadata?.namespace) as T | undefined;
      this.previous = new Map(old ? [[keyOf(checked), old]] : []);
    }
    return checked;
  }

  private markHealthy(): void {
    if (this.failures > 0) this.log.info({ afterFailures: this.failures }, "list/watch recovered");
    this.failures = 0;
    this.failingSince = undefined;
    this.lastError = undefined;
  }

  private onError(err: unknown): void {
    if (this.stopped) return;
    this.failures++;
    this.failingSince ??= Date.now();
    this.lastError = err instanceof Error ? err.message : String(err);
    const base = this.opts.baseBackoffMs ?? 500;
    const max = this.opts.maxBackoffMs ?? 30_000;
    const delay = Math.min(max, base * 2 ** Math.min(this.failures - 1, 30)) * (1 + Math.random() * 0.2);
    this.log.warn({ err: this.lastError, retryInMs: Math.round(delay), failures: this.failures }, "list/watch failed, restarting");
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.restarts++;
      this.run();
    }, delay);
  }

  private dispatch(handlers: ObjectHandler<T>[], o: KubernetesObject): void {
    for (const h of handlers) this.safely(() => { h(o as T); });
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err: unknown) {
      // A throwing handler must not break ListWatch's cache update.
      this.log.error({ err }, "event handler threw");
    }
  }
}
