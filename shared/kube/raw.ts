// JSON requests to the API server that bypass client-node's model serializer. That serializer
// maps objects onto its generated classes and silently drops fields it does not know
// (`x-kubernetes-*` in CRD schemas, fields of newer API versions), which server-side apply
// would then take as "remove this field". Here the body goes to the server exactly as given.
import { Agent, request, type RequestOptions } from "node:https";
import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { ApiException, KubernetesObjectApi, type KubeConfig, type KubernetesObject } from "@kubernetes/client-node";

export interface RawResponse {
  status: number;
  body: unknown;
}

/** Resolves the URL path of an object through discovery (cached per client). */
class PathResolver extends KubernetesObjectApi {
  useNamespaceOf(kc: KubeConfig): void {
    this.setDefaultNamespace(kc);
  }

  path(spec: KubernetesObject, action: "create" | "read" | "patch" | "delete" | "list"): Promise<string> {
    return this.specUriPath(structuredClone(spec), action);
  }
}

/** Connections kept open to one API server; concurrent applies share them. */
const MAX_SOCKETS = 64;

export class RawClient {
  private resolver: PathResolver;
  // client-node's applyToHTTPSOptions builds a new Agent per request, i.e. a TLS handshake and a
  // secure context for every call (3.5× slower over 10,000 applies): one pool per client instead.
  private agent: Agent | HttpAgent | undefined;
  private readonly kc: KubeConfig;

  constructor(kc: KubeConfig) {
    this.kc = kc;
    this.resolver = kc.makeApiClient(PathResolver);
    this.resolver.useNamespaceOf(kc);
  }

  /** Forget discovery results (after CRDs were installed). */
  refreshDiscovery(): void {
    this.resolver = this.kc.makeApiClient(PathResolver);
    this.resolver.useNamespaceOf(this.kc);
  }

  async request(method: string, path: string, body?: unknown, contentType = "application/json"): Promise<RawResponse> {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new Error("kubeconfig has no current cluster");
    const url = new URL(path, cluster.server);
    // Credentials are read per request (tokens rotate); the connection pool is built once.
    const opts: RequestOptions = { method, headers: { accept: "application/json" } };
    await this.kc.applyToHTTPSOptions(opts);
    this.agent ??=
      url.protocol === "https:"
        ? new Agent({ keepAlive: true, maxSockets: MAX_SOCKETS, ca: opts.ca, cert: opts.cert, key: opts.key, ...(opts.rejectUnauthorized !== undefined ? { rejectUnauthorized: opts.rejectUnauthorized } : {}) })
        : new HttpAgent({ keepAlive: true, maxSockets: MAX_SOCKETS });
    opts.agent = this.agent;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) {
      opts.headers = { ...opts.headers, "content-type": contentType, "content-length": Buffer.byteLength(payload).toString() };
    }
    const send = url.protocol === "https:" ? request : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, opts, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            // not JSON: keep the text for the error message
          }
          const status = res.statusCode ?? 0;
          if (status >= 400) {
            const message = typeof parsed === "object" && parsed && "message" in parsed ? String(parsed.message) : text;
            reject(new ApiException(status, `${method} ${url.pathname}: ${message}`, parsed, res.headers as Record<string, string>));
          } else resolve({ status, body: parsed });
        });
        res.on("error", reject);
      });
      // A request the server never answers (a partitioned network) must fail, not hang a reconcile.
      req.setTimeout(60_000, () => req.destroy(new Error(`${method} ${url.pathname}: no response within 60 s`)));
      req.on("error", reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  /** Server-side apply of an object as given; returns the object the server stored. */
  async apply(obj: KubernetesObject, fieldManager: string, force = true): Promise<unknown> {
    return this.applyAt(await this.resolver.path(obj, "patch"), obj, fieldManager, force);
  }

  /** Server-side apply to a known path (no discovery), e.g. a status subresource. */
  async applyAt(path: string, obj: unknown, fieldManager: string, force = true): Promise<unknown> {
    const q = new URLSearchParams({ fieldManager, force: String(force) });
    const res = await this.request("PATCH", `${path}?${q.toString()}`, obj, "application/apply-patch+yaml");
    return res.body;
  }

  /** Closes the kept-alive connections (a stopping process should not wait for them). */
  close(): void {
    this.agent?.destroy();
    this.agent = undefined;
  }

  async applyStatus(obj: KubernetesObject, fieldManager: string): Promise<unknown> {
    const path = await this.resolver.path(obj, "patch");
    const q = new URLSearchParams({ fieldManager, force: "true" });
    const res = await this.request("PATCH", `${path}/status?${q.toString()}`, obj, "application/apply-patch+yaml");
    return res.body;
  }

  async get(obj: KubernetesObject): Promise<unknown> {
    const path = await this.resolver.path(obj, "read");
    return (await this.request("GET", path)).body;
  }

  async delete(obj: KubernetesObject, propagationPolicy: "Foreground" | "Background" | "Orphan" = "Background"): Promise<void> {
    const path = await this.resolver.path(obj, "delete");
    await this.request("DELETE", path, { apiVersion: "v1", kind: "DeleteOptions", propagationPolicy });
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof ApiException && err.code === 404;
}
