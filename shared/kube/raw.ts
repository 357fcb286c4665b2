// JSON requests to the API server over one keep-alive connection pool, with the body sent exactly
// as given (server-side apply must not lose fields a generated model does not know), path
// resolution by discovery, and streaming watches. No @kubernetes/client-node: see connection.ts.
import type { Agent, RequestOptions } from "node:https";
import type { Agent as HttpAgent, IncomingMessage, ClientRequest } from "node:http";
import { z } from "zod";
import type { KubeConnection } from "./connection.ts";
import { CLIENT_GO_IDLE, idleAgentOptions, nodeHttp, nodeHttps, type IdlePolicy } from "./node-http.ts";

export interface RawResponse {
  status: number;
  body: unknown;
}

/** The least RawClient needs to place an object: client-node's objects and our zod types both fit. */
export interface KubeObjectRef {
  apiVersion?: string | undefined;
  kind?: string | undefined;
  metadata?: { name?: string | undefined; namespace?: string | undefined } | undefined;
}

const MAX_MESSAGE = 400;

/** An error answer of the API server. */
export class ApiError extends Error {
  override readonly name = "ApiError";
  /** HTTP status code */
  readonly code: number;
  /** the parsed body (usually a Status), or the text when it is not JSON */
  readonly body: unknown;
  constructor(method: string, path: string, code: number, body: unknown) {
    const message = typeof body === "object" && body !== null && "message" in body ? String(body.message) : typeof body === "string" && body !== "" ? body : `HTTP ${code}`;
    // A proxy's HTML error page must not flood logs and status conditions.
    super(`${method} ${path}: ${message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}…` : message}`);
    this.code = code;
    this.body = body;
  }
}

/** The object's kind is not served by the API server (CRD not installed, wrong apiVersion). */
export class UnknownKindError extends Error {
  override readonly name = "UnknownKindError";
}

/** The object lacks what is needed to address it. */
export class ObjectRefError extends Error {
  override readonly name = "ObjectRefError";
}

/** `/api/v1` for the core group, `/apis/<group>/<version>` for the others. */
export function groupVersionPath(apiVersion: string): string {
  return apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}

export function isNotFound(err: unknown): boolean {
  return err instanceof ApiError && err.code === 404;
}

export function isConflict(err: unknown): boolean {
  return err instanceof ApiError && err.code === 409;
}

/**
 * Connections one client opens to an API server at once; requests beyond them wait in the pool's
 * queue. 32, not 64: at 200 x 10 the hub's rollout peak was 112-113 MiB with 32 against 115-119
 * MiB with 64 (each idle TLS connection holds ~0.1-0.2 MiB), with the write time within the
 * run-to-run spread (1.09-1.14x and 0.97x against 0.99-1.08x and 1.05x; issue 16).
 */
const MAX_SOCKETS = 32;
const REQUEST_TIMEOUT_MS = 60_000;

const apiResourceListSchema = z.looseObject({
  resources: z.array(z.looseObject({ name: z.string(), kind: z.string(), namespaced: z.boolean() })),
});

interface ResourceInfo {
  plural: string;
  namespaced: boolean;
}

export const watchEventSchema = z.object({
  type: z.enum(["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]),
  object: z.unknown(),
});
export type WatchEvent = z.infer<typeof watchEventSchema>;

/** A watch event line that is not JSON or not a watch event. */
export class WatchStreamError extends Error {
  override readonly name = "WatchStreamError";
}

/** An error after a complete answer (the socket's, once it is back in the pool) concerns no caller. */
function ignoreLateError(): void {}

export class RawClient {
  readonly connection: KubeConnection;
  // One pool per client: a new Agent per request would mean a TLS handshake per call.
  private agent: Agent | HttpAgent | undefined;
  private discovery = new Map<string, Promise<Map<string, ResourceInfo>>>();

  private readonly maxConnections: number;
  private readonly idle: IdlePolicy;

  /**
   * `opts.maxConnections` caps the connections open to the API server at once (requests beyond it
   * wait in the pool's queue; default MAX_SOCKETS), `opts.idle` how idle ones are kept (default
   * client-go's: 25, closed after 90 s; see IdlePolicy).
   */
  constructor(connection: KubeConnection, opts: { maxConnections?: number; idle?: IdlePolicy } = {}) {
    this.connection = connection;
    this.maxConnections = opts.maxConnections ?? MAX_SOCKETS;
    this.idle = opts.idle ?? CLIENT_GO_IDLE;
  }

  /** Forget discovery results (after CRDs were installed). */
  refreshDiscovery(): void {
    this.discovery = new Map();
  }

  async request(method: string, path: string, body?: unknown, contentType = "application/json"): Promise<RawResponse> {
    return this.send(method, path, body, contentType, true);
  }

  /**
   * One request, retried once with a re-read token on 401. Without `readAnswer`, a successful
   * answer's body is drained unread (body undefined): thousands of applies in flight need not hold
   * and parse the stored objects they return (issue 16); error answers are always read.
   */
  private async send(method: string, path: string, body: unknown, contentType: string, readAnswer: boolean): Promise<RawResponse> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const first = await this.requestOnce(method, path, payload, contentType, readAnswer);
    // A rotated ServiceAccount token: read the file again and retry once.
    if (first.status === 401 && this.connection.tokenRejected()) return this.finish(method, path, await this.requestOnce(method, path, payload, contentType, readAnswer));
    return this.finish(method, path, first);
  }

  /** Server-side apply of an object as given; returns the object the server stored. */
  async apply(obj: KubeObjectRef, fieldManager: string, force = true): Promise<unknown> {
    return this.applyAt(await this.objectPath(obj), obj, fieldManager, force);
  }

  /**
   * Server-side apply to a known path (no discovery), e.g. a status subresource. Returns the object
   * the server stored, or undefined with `{ readAnswer: false }` (its body is not read).
   */
  async applyAt(path: string, obj: unknown, fieldManager: string, force = true, opts: { readAnswer?: boolean } = {}): Promise<unknown> {
    const q = new URLSearchParams({ fieldManager, force: String(force) });
    const res = await this.send("PATCH", `${path}?${q.toString()}`, obj, "application/apply-patch+yaml", opts.readAnswer ?? true);
    return res.body;
  }

  async applyStatus(obj: KubeObjectRef, fieldManager: string): Promise<unknown> {
    return this.applyAt(`${await this.objectPath(obj)}/status`, obj, fieldManager, true);
  }

  async get(obj: KubeObjectRef): Promise<unknown> {
    return (await this.request("GET", await this.objectPath(obj))).body;
  }

  async delete(obj: KubeObjectRef, propagationPolicy: "Foreground" | "Background" | "Orphan" = "Background"): Promise<void> {
    await this.request("DELETE", await this.objectPath(obj), { apiVersion: "v1", kind: "DeleteOptions", propagationPolicy });
  }

  /** Closes the kept-alive connections (a stopping process should not wait for them). */
  close(): void {
    this.agent?.destroy();
    this.agent = undefined;
  }

  /**
   * Watches `path` (a collection) and calls `onEvent` per event. Resolves when the server ends the
   * watch (its timeout) or `signal` aborts; rejects on HTTP errors, broken connections and
   * malformed events. ERROR events are passed on: what they mean is the caller's business.
   */
  async watch(
    path: string,
    params: Record<string, string | undefined>,
    onEvent: (e: WatchEvent) => void,
    signal?: AbortSignal,
    /** Called once the server accepted the watch (2xx), before any event. */
    onOpen?: () => void,
  ): Promise<void> {
    if (signal?.aborted) return;
    const q = new URLSearchParams({ watch: "true", allowWatchBookmarks: "true" });
    for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, v);
    const timeoutSeconds = Number(q.get("timeoutSeconds") ?? "0");
    const full = `${path}?${q.toString()}`;
    const { req, res } = await this.open("GET", full, undefined, "application/json", signal);
    if (res === undefined) return;
    const status = res.statusCode ?? 0;
    if (status >= 300) {
      const answer = await this.readBody(req, res, "GET", path);
      if (status === 401) this.connection.tokenRejected();
      // A redirect is not a watch either: an error, so that the caller backs off instead of spinning.
      throw new ApiError("GET", path, status, answer.body);
    }
    if (signal?.aborted) {
      req.destroy();
      return;
    }
    onOpen?.();
    await new Promise<void>((resolve, reject) => {
      // A watch is quiet for long stretches: replace the per-request limit. The server ends a watch
      // after timeoutSeconds, so silence well past that means a dead peer.
      req.removeAllListeners("timeout");
      req.setTimeout(0);
      if (timeoutSeconds > 0) req.setTimeout(timeoutSeconds * 1000 + 30_000, () => req.destroy(new Error(`watch ${path}: no data for ${timeoutSeconds + 30} s`)));
      let pending = "";
      let failed = false;
      const fail = (err: Error): void => {
        if (failed) return;
        failed = true;
        req.destroy();
        reject(err);
      };
      const onAbort = (): void => {
        failed = true;
        req.destroy();
        resolve();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        if (failed) return;
        pending += chunk;
        let nl: number;
        while ((nl = pending.indexOf("\n")) >= 0) {
          const line = pending.slice(0, nl).trim();
          pending = pending.slice(nl + 1);
          if (line === "") continue;
          let event: WatchEvent;
          try {
            event = watchEventSchema.parse(JSON.parse(line));
          } catch (err: unknown) {
            fail(new WatchStreamError(`watch ${path}: malformed event ${line.slice(0, 200)}: ${err instanceof Error ? err.message : String(err)}`));
            return;
          }
          try {
            onEvent(event);
          } catch (err: unknown) {
            fail(err instanceof Error ? err : new Error(String(err)));
            return;
          }
        }
      });
      res.on("end", () => {
        signal?.removeEventListener("abort", onAbort);
        if (!failed) resolve();
      });
      const onError = (err: Error): void => {
        signal?.removeEventListener("abort", onAbort);
        if (signal?.aborted) resolve();
        else fail(err);
      };
      res.on("error", onError);
      req.on("error", onError);
      res.on("aborted", () => { onError(new Error(`watch ${path}: connection closed by the server mid-stream`)); });
    });
  }

  /** The URL path of an object, from discovery of its group/version (cached per client). */
  async objectPath(obj: KubeObjectRef): Promise<string> {
    const { apiVersion, kind } = obj;
    const name = obj.metadata?.name;
    if (apiVersion === undefined || apiVersion === "" || kind === undefined || kind === "") {
      throw new ObjectRefError(`object ${name ?? "(unnamed)"} has no apiVersion or kind; both are needed to find its API path`);
    }
    if (name === undefined || name === "") throw new ObjectRefError(`${kind} object has no metadata.name`);
    const info = await this.resource(apiVersion, kind);
    const base = groupVersionPath(apiVersion);
    if (!info.namespaced) return `${base}/${info.plural}/${encodeURIComponent(name)}`;
    const ns = obj.metadata?.namespace ?? this.connection.namespace;
    return `${base}/namespaces/${encodeURIComponent(ns)}/${info.plural}/${encodeURIComponent(name)}`;
  }

  private async resource(apiVersion: string, kind: string): Promise<ResourceInfo> {
    let kinds = this.discovery.get(apiVersion);
    if (kinds === undefined) {
      kinds = this.discover(apiVersion);
      this.discovery.set(apiVersion, kinds);
      // A failed look-up must not stick: the next call asks again.
      kinds.catch(() => { if (this.discovery.get(apiVersion) === kinds) this.discovery.delete(apiVersion); });
    }
    const info = (await kinds).get(kind);
    if (info === undefined) {
      throw new UnknownKindError(`kind ${kind} is not served in ${apiVersion} by ${this.connection.server}; is its CRD installed?`);
    }
    return info;
  }

  private async discover(apiVersion: string): Promise<Map<string, ResourceInfo>> {
    const path = groupVersionPath(apiVersion);
    let body: unknown;
    try {
      body = (await this.request("GET", path)).body;
    } catch (err: unknown) {
      if (isNotFound(err)) throw new UnknownKindError(`API group version ${apiVersion} is not served by ${this.connection.server}; is its CRD installed?`);
      throw err;
    }
    const list = apiResourceListSchema.parse(body);
    const out = new Map<string, ResourceInfo>();
    // Subresources (pods/status) share the kind of their parent: keep the resource itself.
    for (const r of list.resources) if (!r.name.includes("/")) out.set(r.kind, { plural: r.name, namespaced: r.namespaced });
    return out;
  }

  private finish(method: string, path: string, res: RawResponse): RawResponse {
    if (res.status >= 400) throw new ApiError(method, path.split("?")[0] ?? path, res.status, res.body);
    return res;
  }

  private async requestOnce(method: string, path: string, payload: string | undefined, contentType: string, readAnswer: boolean): Promise<RawResponse> {
    const { req, res } = await this.open(method, path, payload, contentType, undefined);
    if (res === undefined) throw new Error(`${method} ${path}: aborted`);
    return this.readBody(req, res, method, path, readAnswer);
  }

  private readBody(req: ClientRequest, res: IncomingMessage, method: string, path: string, readAnswer = true): Promise<RawResponse> {
    const keep = readAnswer || (res.statusCode ?? 0) >= 300;
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      const onData = (c: Buffer): void => {
        if (keep) chunks.push(c);
      };
      const onAborted = (): void => reject(new Error(`${method} ${path.split("?")[0] ?? path}: connection closed before the answer was complete`));
      const onEnd = (): void => {
        // The listeners share one closure context with `resolve`, and the request and response
        // objects can outlive the answer: left in place, they kept every answer's body alive (a
        // 500-pod list page, ~9 MiB of the spoke edition's heap; issue 16).
        res.off("data", onData).off("end", onEnd).off("error", reject).off("aborted", onAborted).on("error", ignoreLateError);
        req.off("error", reject).on("error", ignoreLateError);
        if (!keep) {
          resolve({ status: res.statusCode ?? 0, body: undefined });
          return;
        }
        const text = Buffer.concat(chunks).toString("utf8");
        chunks.length = 0;
        let parsed: unknown = text;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          // not JSON: keep the text for the error message
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      };
      res.on("data", onData).on("end", onEnd).on("error", reject).on("aborted", onAborted);
      req.on("error", reject);
    });
  }

  /** Sends a request and resolves once the response head arrived (undefined when aborted first). */
  private async open(
    method: string,
    path: string,
    payload: string | undefined,
    contentType: string,
    signal: AbortSignal | undefined,
  ): Promise<{ req: ClientRequest; res: IncomingMessage | undefined }> {
    const conn = this.connection;
    // Joined, not resolved: a server URL may carry a path prefix (https://proxy/k8s/clusters/c-1).
    const url = new URL(`${conn.server.replace(/\/+$/, "")}${path}`);
    const https = url.protocol === "https:";
    const headers: Record<string, string> = { accept: "application/json" };
    const token = await conn.bearerToken();
    if (token !== undefined && token !== "") headers.authorization = `Bearer ${token}`;
    if (payload !== undefined) {
      headers["content-type"] = contentType;
      headers["content-length"] = Buffer.byteLength(payload).toString();
    }
    this.agent ??= https
      ? new nodeHttps.Agent({
          keepAlive: true,
          maxSockets: this.maxConnections,
          ...idleAgentOptions(this.idle),
          ...(conn.ca !== undefined ? { ca: conn.ca } : {}),
          ...(conn.cert !== undefined ? { cert: conn.cert } : {}),
          ...(conn.key !== undefined ? { key: conn.key } : {}),
          ...(conn.tlsServerName !== undefined ? { servername: conn.tlsServerName } : {}),
          rejectUnauthorized: !conn.insecureSkipTlsVerify,
        })
      : new nodeHttp.Agent({ keepAlive: true, maxSockets: this.maxConnections, ...idleAgentOptions(this.idle) });
    const opts: RequestOptions = {
      method,
      headers,
      agent: this.agent,
      ...(https && conn.tlsServerName !== undefined ? { servername: conn.tlsServerName } : {}),
    };
    const shortPath = url.pathname;
    const send = https ? nodeHttps.request : nodeHttp.request;
    return new Promise((resolve, reject) => {
      const req = send(url, opts, (res) => {
        signal?.removeEventListener("abort", onAbort);
        resolve({ req, res });
      });
      const onAbort = (): void => {
        req.destroy();
        resolve({ req, res: undefined });
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      // A request the server never answers (a partitioned network) must fail, not hang a reconcile.
      req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`${method} ${shortPath}: no response within ${REQUEST_TIMEOUT_MS / 1000} s`)));
      req.on("error", (err) => {
        signal?.removeEventListener("abort", onAbort);
        reject(err);
      });
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }
}
