// The hub's writes to its API server over one keep-alive connection pool. Bodies go out exactly
// as given (as shared/kube/raw.ts does), but client-node's applyToHTTPSOptions builds a new Agent
// per request, i.e. a new TLS handshake and secure context for each of 10,000 ManifestWork
// applies; here the Agent is built once and its connections are reused.
import { Agent, request, type RequestOptions } from "node:https";
import { request as httpRequest, Agent as HttpAgent } from "node:http";
import { ApiException, type KubeConfig } from "@kubernetes/client-node";
import { z } from "zod";
import { HUB_GROUP, HUB_VERSION, MANAGED_CLUSTER_MODULE_PLURAL } from "../shared/api/index.ts";

const statusBodySchema = z.looseObject({ message: z.string().optional() });

/** Connections kept open to the API server (applies in flight across reconciles share them). */
const MAX_SOCKETS = 64;
const REQUEST_TIMEOUT_MS = 60_000;

export class HubKubeClient {
  private agent: Agent | HttpAgent | undefined;

  constructor(private readonly kc: KubeConfig) {}

  private async options(method: string): Promise<{ url: URL; opts: RequestOptions }> {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new Error("the kubeconfig has no current cluster");
    const url = new URL(cluster.server);
    // Credentials (headers, client certificates) are read per request: tokens rotate.
    const opts: RequestOptions = { method, headers: { accept: "application/json" } };
    await this.kc.applyToHTTPSOptions(opts);
    this.agent ??=
      url.protocol === "https:"
        ? new Agent({ keepAlive: true, maxSockets: MAX_SOCKETS, ca: opts.ca, cert: opts.cert, key: opts.key, ...(opts.rejectUnauthorized !== undefined ? { rejectUnauthorized: opts.rejectUnauthorized } : {}) })
        : new HttpAgent({ keepAlive: true, maxSockets: MAX_SOCKETS });
    opts.agent = this.agent;
    return { url, opts };
  }

  async request(method: string, path: string, body?: unknown, contentType = "application/json"): Promise<unknown> {
    const { url: base, opts } = await this.options(method);
    const url = new URL(path, base);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) opts.headers = { ...opts.headers, "content-type": contentType, "content-length": Buffer.byteLength(payload).toString() };
    const send = url.protocol === "https:" ? request : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, opts, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: unknown = text;
          try {
            parsed = text === "" ? undefined : JSON.parse(text);
          } catch {
            // not JSON: the text goes into the error message
          }
          const status = res.statusCode ?? 0;
          if (status >= 400) {
            const s = statusBodySchema.safeParse(parsed);
            reject(new ApiException(status, `${method} ${url.pathname}: ${s.success ? (s.data.message ?? text) : text}`, parsed, {}));
          } else resolve(parsed);
        });
      });
      req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`${method} ${url.pathname}: no response within ${REQUEST_TIMEOUT_MS / 1000} s`)));
      req.on("error", reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  /** Server-side apply (forced: the hub owns the fields it sets). */
  apply(path: string, obj: unknown, fieldManager: string): Promise<unknown> {
    const q = new URLSearchParams({ fieldManager, force: "true" });
    return this.request("PATCH", `${path}?${q.toString()}`, obj, "application/apply-patch+yaml");
  }

  static manifestWorkPath(namespace: string, name: string): string {
    return `/apis/work.open-cluster-management.io/v1/namespaces/${encodeURIComponent(namespace)}/manifestworks/${encodeURIComponent(name)}`;
  }

  static mcmStatusPath(name: string): string {
    return `/apis/${HUB_GROUP}/${HUB_VERSION}/${MANAGED_CLUSTER_MODULE_PLURAL}/${encodeURIComponent(name)}/status`;
  }

  close(): void {
    this.agent?.destroy();
    this.agent = undefined;
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof ApiException && err.code === 404;
}
