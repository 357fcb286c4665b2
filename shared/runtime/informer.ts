// A list+watch cache per kind with the behaviour of client-go's reflector:
// - lists are paged and every object is validated with a zod schema;
// - the watch resumes from the last resourceVersion (bookmarks keep it fresh); a 410 Gone, or
//   any other failure after exponential backoff, relists and emits the differences;
// - `hasSynced()` and a readiness check tell whether the cache can be trusted.
import { z } from "zod";
import type { KubeConnection } from "../kube/connection.ts";
import { ApiError, RawClient, groupVersionPath, type WatchEvent } from "../kube/raw.ts";
import type { Logger } from "./logger.ts";
import { ObjectStore } from "./store.ts";

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
  connection: KubeConnection;
  resource: ResourceRef;
  schema: z.ZodType<T>;
  logger: Logger;
  labelSelector?: string;
  fieldSelector?: string;
  /** objects per list page (client-go uses 500) */
  pageSize?: number;
  /** first restart delay after a failure; doubles up to maxBackoffMs */
  baseBackoffMs?: number;
  /** restart delay cap (DEFAULT_MAX_BACKOFF_MS) */
  maxBackoffMs?: number;
  /** readiness tolerates a failing watch this long (DEFAULT_UNREADY_AFTER_FAILING_MS) */
  unreadyAfterFailingMs?: number;
}

/**
 * Restart delay cap. client-go lets its reflector back off to ~30 s; against the hub's own API
 * server, after an outage, that left changes unseen for up to 36 s. With 2 s (+20 % jitter) a
 * returning API server is listed and watched again within ~2.5 s, and changes made after it
 * returned are acted on within 5 s; a few informers relisting every 2 s during an outage is cheap.
 */
export const DEFAULT_MAX_BACKOFF_MS = 2000;
/** Readiness turns red once the watch has been failing this long (a blip is not an outage). */
export const DEFAULT_UNREADY_AFTER_FAILING_MS = 2000;

export type UpdateHandler<T> = (obj: T, old: T | undefined) => void;
/** An object the API server holds and the schema refuses, as far as its metadata can be read. */
export interface InvalidObject {
  namespace?: string;
  name: string;
  uid?: string;
  resourceVersion?: string;
  /** the schema's first issues, "path: message; …" */
  problems: string;
}
export type InvalidHandler = (obj: InvalidObject) => void;
export type ObjectHandler<T> = (obj: T) => void;

const listSchema = z.looseObject({
  metadata: z.looseObject({ resourceVersion: z.string().optional(), continue: z.string().optional() }).optional(),
  items: z.array(z.unknown()).nullable().optional(),
});

export function resourcePath(r: ResourceRef): string {
  const base = groupVersionPath(r.apiVersion);
  return r.namespace === undefined ? `${base}/${r.plural}` : `${base}/namespaces/${encodeURIComponent(r.namespace)}/${r.plural}`;
}

function keyOf(o: ObjectWithMeta): string {
  return `${o.metadata?.namespace ?? ""}/${o.metadata?.name ?? ""}`;
}

/** The cache key of an object the schema refuses (validate read its name from the raw object). */
function invalidKey(inv: InvalidObject): string {
  return keyOf({ metadata: { name: inv.name, namespace: inv.namespace } });
}

const metaSchema = z.looseObject({
  metadata: z.looseObject({ name: z.string().optional(), namespace: z.string().optional(), uid: z.string().optional(), resourceVersion: z.string().optional() }).optional(),
});
const statusSchema = z.looseObject({ code: z.number().optional(), reason: z.string().optional(), message: z.string().optional() });

/** The server no longer has the resourceVersion we resume from: relist. */
class ResourceVersionGoneError extends Error {
  override readonly name = "ResourceVersionGoneError";
}

/** Watch ERROR event other than 410. */
class WatchErrorEvent extends Error {
  override readonly name = "WatchErrorEvent";
}

/** A watch the server ends this soon without a single event did not work (client-go: "very short watch"). */
class ShortWatchError extends Error {
  override readonly name = "ShortWatchError";
}
const SHORT_WATCH_MS = 1000;

/** Server-side watch timeout, randomised like client-go's so informers do not reconnect in step. */
const watchTimeoutSeconds = (): number => Math.floor(300 + Math.random() * 300);

export class Informer<T extends ObjectWithMeta> {
  readonly name: string;
  private readonly opts: InformerOptions<T>;
  private readonly log: Logger;
  private readonly raw: RawClient;
  private readonly addHandlers: ObjectHandler<T>[] = [];
  private readonly updateHandlers: UpdateHandler<T>[] = [];
  private readonly deleteHandlers: ObjectHandler<T>[] = [];
  private readonly invalidHandlers: InvalidHandler[] = [];
  private readonly syncWaiters: (() => void)[] = [];
  private cache = new ObjectStore<T>();
  /** Objects the API server holds but the schema refuses, by key (the cache keeps their last valid version, if any). */
  private invalid = new Map<string, InvalidObject>();
  /** where the watch resumes; empty means "list first" */
  private resourceVersion = "";
  private synced = false;
  private started = false;
  private stopped = false;
  private failures = 0;
  private failingSince: number | undefined;
  private lastError: string | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private restarts = 0;
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;

  constructor(opts: InformerOptions<T>) {
    this.raw = new RawClient(opts.connection);
    this.opts = opts;
    const ns = opts.resource.namespace === undefined ? "" : `/${opts.resource.namespace}`;
    const selectors = [opts.labelSelector, opts.fieldSelector].filter((x) => x !== undefined && x !== "").join(";");
    this.name = `${opts.resource.kind}${ns}${selectors === "" ? "" : `[${selectors}]`}`;
    this.log = opts.logger.child({ informer: this.name });
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
    this.abort.abort();
    // Also ends a list in flight (its socket is destroyed), so stopping never waits for a timeout.
    this.raw.close();
    await this.running;
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
    return this.cache.get(`${namespace ?? ""}/${name}`);
  }

  /**
   * The API server holds this object but it does not match the schema (see the error log). It is
   * not in the cache as it is now, and it is not gone: never act on it as deleted.
   */
  isInvalid(namespace: string | undefined, name: string): boolean {
    return this.invalid.has(`${namespace ?? ""}/${name}`);
  }

  /** What the schema refuses in that object (isInvalid), with its uid for an Event. */
  invalidObject(namespace: string | undefined, name: string): InvalidObject | undefined {
    return this.invalid.get(`${namespace ?? ""}/${name}`);
  }

  /**
   * Called once per version of an object the schema refuses (a relist of the same version calls
   * nothing), so a controller can say why it leaves the object alone (an Event).
   */
  onInvalid(h: InvalidHandler): void {
    this.invalidHandlers.push(h);
  }

  /** From the cache, no API call; all namespaces when `namespace` is omitted. */
  list(namespace?: string): T[] {
    return namespace === undefined ? [...this.cache.values()] : this.cache.inNamespace(namespace);
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
      const limit = this.opts.unreadyAfterFailingMs ?? DEFAULT_UNREADY_AFTER_FAILING_MS;
      if (this.failingSince !== undefined && Date.now() - this.failingSince > limit) {
        throw new Error(`watch of ${this.name} failing since ${new Date(this.failingSince).toISOString()}: ${this.lastError ?? "unknown error"}`);
      }
      return true;
    };
  }

  // A method, not a property read, so the compiler does not assume it stays unchanged across awaits.
  private isStopped(): boolean {
    return this.stopped;
  }

  private run(): void {
    if (this.stopped) return;
    this.running = this.listAndWatch().catch((err: unknown) => {
      if (this.stopped) return;
      if (err instanceof ResourceVersionGoneError) {
        // Not a failure: the server compacted past our version. Relist at once, as client-go does.
        this.log.info({ resourceVersion: this.resourceVersion }, "resource version too old, relisting");
        this.resourceVersion = "";
        this.run();
        return;
      }
      this.onError(err);
    });
  }

  /** Lists when there is no version to resume from, then watches until the server ends the watch. */
  private async listAndWatch(): Promise<void> {
    while (!this.isStopped()) {
      if (this.resourceVersion === "") await this.relist();
      if (this.isStopped()) return;
      let openedAt: number | undefined;
      let events = 0;
      try {
        await this.raw.watch(
          resourcePath(this.opts.resource),
          {
            resourceVersion: this.resourceVersion,
            timeoutSeconds: String(watchTimeoutSeconds()),
            labelSelector: this.opts.labelSelector,
            fieldSelector: this.opts.fieldSelector,
          },
          (e) => {
            events++;
            this.onEvent(e);
          },
          this.abort.signal,
          () => {
            // Connected: readiness may trust the cache again; the backoff resets only once the
            // watch has proven itself (an event, or a normal end after a while).
            openedAt = Date.now();
            this.failingSince = undefined;
            this.lastError = undefined;
          },
        );
      } catch (err: unknown) {
        // 410 as an HTTP status (rather than an ERROR event) when the version is already too old.
        if (err instanceof ApiError && err.code === 410) throw new ResourceVersionGoneError(err.message);
        throw err;
      }
      if (this.isStopped()) return;
      if (events === 0 && (openedAt === undefined || Date.now() - openedAt < SHORT_WATCH_MS)) {
        throw new ShortWatchError(`watch of ${this.name} ended at once without an event`);
      }
      this.markHealthy();
    }
  }

  private async relist(): Promise<void> {
    const fresh = new ObjectStore<T>();
    const invalid = new Map<string, InvalidObject>();
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
        const checked = this.validate(withType);
        if (checked.obj !== undefined) {
          fresh.set(keyOf(checked.obj), checked.obj);
          continue;
        }
        // Invalid is not gone: keep what we had, or nothing, but never report it deleted.
        if (checked.invalid === undefined) continue;
        const key = invalidKey(checked.invalid);
        invalid.set(key, checked.invalid);
        const kept = this.cache.get(key);
        if (kept !== undefined) fresh.set(key, kept);
      }
      cont = page.metadata?.continue === "" ? undefined : page.metadata?.continue;
    } while (cont !== undefined && !this.isStopped());
    if (this.isStopped()) return;
    const old = this.cache;
    // Handlers read the cache: it holds the new state before any of them runs.
    this.cache = fresh;
    const before = this.invalid;
    this.invalid = invalid;
    for (const [key, inv] of invalid) if (before.get(key)?.resourceVersion !== inv.resourceVersion) this.dispatchInvalid(inv);
    this.resourceVersion = resourceVersion;
    for (const [key, obj] of fresh) {
      const before = old.get(key);
      if (before === undefined) this.dispatch(this.addHandlers, obj);
      else if (before.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.dispatchUpdate(obj, before);
    }
    for (const [key, obj] of old) if (!fresh.has(key)) this.dispatch(this.deleteHandlers, obj);
    if (!this.synced) {
      this.synced = true;
      this.log.info({ objects: this.cache.size }, "cache synced");
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private onEvent(e: WatchEvent): void {
    if (e.type === "ERROR") {
      const status = statusSchema.safeParse(e.object);
      const code = status.success ? status.data.code : undefined;
      const message = status.success ? (status.data.message ?? status.data.reason ?? "") : JSON.stringify(e.object).slice(0, 200);
      if (code === 410) throw new ResourceVersionGoneError(`watch of ${this.name}: ${message}`);
      throw new WatchErrorEvent(`watch of ${this.name} ended with an error${code !== undefined ? ` (${code})` : ""}: ${message}`);
    }
    const meta = metaSchema.safeParse(e.object);
    const rv = meta.success ? meta.data.metadata?.resourceVersion : undefined;
    // Even an object we skip moves the version on: resuming before it would replay it forever.
    if (rv !== undefined && rv !== "") this.resourceVersion = rv;
    this.markHealthy();
    if (e.type === "BOOKMARK") return;
    const result = this.validate(e.object);
    const checked = result.obj;
    if (checked === undefined) {
      const inv = result.invalid;
      if (inv === undefined) return;
      const key = invalidKey(inv);
      if (e.type !== "DELETED") {
        const known = this.invalid.get(key);
        this.invalid.set(key, inv);
        if (known?.resourceVersion !== inv.resourceVersion) this.dispatchInvalid(inv);
      } else {
        // Gone is gone, valid or not: drop the last valid version we hold.
        this.invalid.delete(key);
        const old = this.cache.get(key);
        if (old !== undefined) {
          this.cache.delete(key);
          this.dispatch(this.deleteHandlers, old);
        }
      }
      return;
    }
    const key = keyOf(checked);
    this.invalid.delete(key);
    const old = this.cache.get(key);
    if (e.type === "DELETED") {
      this.cache.delete(key);
      this.dispatch(this.deleteHandlers, checked);
      return;
    }
    this.cache.set(key, checked);
    if (old === undefined) this.dispatch(this.addHandlers, checked);
    else this.dispatchUpdate(checked, old);
  }

  private validate(raw: unknown): { obj?: T; invalid?: InvalidObject } {
    const r = this.opts.schema.safeParse(raw);
    if (r.success) return { obj: r.data };
    const meta = metaSchema.safeParse(raw);
    const m = meta.success ? meta.data.metadata : undefined;
    const where = `${m?.namespace ?? ""}/${m?.name ?? "?"}`;
    const issues = r.error.issues.slice(0, 5);
    // Skipping is safer than guessing: the cache keeps the last valid version.
    this.log.error({ object: where, issues }, `ignoring ${this.opts.resource.kind} that does not match its schema`);
    if (m?.name === undefined || m.name === "") return {};
    const problems = issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    return {
      invalid: {
        name: m.name,
        problems,
        ...(m.namespace !== undefined ? { namespace: m.namespace } : {}),
        ...(m.uid !== undefined ? { uid: m.uid } : {}),
        ...(m.resourceVersion !== undefined ? { resourceVersion: m.resourceVersion } : {}),
      },
    };
  }

  private dispatchInvalid(inv: InvalidObject): void {
    for (const h of this.invalidHandlers) {
      try {
        h(inv);
      } catch (err: unknown) {
        this.log.error({ err: err instanceof Error ? err.message : String(err), object: `${inv.namespace ?? ""}/${inv.name}` }, "invalid-object handler failed");
      }
    }
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
    const max = this.opts.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS;
    const delay = Math.min(max, base * 2 ** Math.min(this.failures - 1, 30)) * (1 + Math.random() * 0.2);
    this.log.warn({ err: this.lastError, retryInMs: Math.round(delay), failures: this.failures }, "list/watch failed, restarting");
    // What happened while we were failing is unknown: start over from a list.
    this.resourceVersion = "";
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.restarts++;
      this.run();
    }, delay);
  }

  private dispatch(handlers: ObjectHandler<T>[], o: T): void {
    for (const h of handlers) this.safely(() => { h(o); });
  }

  private dispatchUpdate(obj: T, old: T): void {
    for (const h of this.updateHandlers) this.safely(() => { h(obj, old); });
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err: unknown) {
      // A throwing handler must not break the cache update or the watch.
      this.log.error({ err }, "event handler threw");
    }
  }
}
