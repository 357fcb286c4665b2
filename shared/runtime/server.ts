// Probe (/healthz, /readyz) and metrics (/metrics) endpoints, on the addresses
// of the operator config. Node's servers speak HTTP/1.1 only, which is what
// upstream's `disableHTTP2: true` asks for.
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import { nodeHttp, nodeHttps } from "../kube/node-http.ts";

/** A check passes by returning; it fails by throwing (the message says why) or returning false. */
export type Check = () => boolean | undefined | Promise<boolean | undefined>;

export class CheckRegistry {
  private readonly health = new Map<string, Check>();
  private readonly ready = new Map<string, Check>();

  addHealthCheck(name: string, check: Check): void {
    this.add(this.health, name, check);
  }

  addReadyCheck(name: string, check: Check): void {
    this.add(this.ready, name, check);
  }

  removeReadyCheck(name: string): void {
    this.ready.delete(name);
  }

  /** Runs the checks of one kind; returns each check's outcome. */
  async run(kind: "healthz" | "readyz", only?: string): Promise<{ name: string; ok: boolean; reason?: string }[]> {
    const checks = [...(kind === "healthz" ? this.health : this.ready)].filter(([n]) => only === undefined || n === only);
    return Promise.all(
      checks.map(async ([name, check]) => {
        try {
          const r = await check();
          return r === false ? { name, ok: false, reason: "check returned false" } : { name, ok: true };
        } catch (err: unknown) {
          return { name, ok: false, reason: err instanceof Error ? err.message : String(err) };
        }
      }),
    );
  }

  private add(map: Map<string, Check>, name: string, check: Check): void {
    if (!/^\S+$/.test(name)) throw new Error(`check name "${name}" must be non-empty and without spaces`);
    if (map.has(name)) throw new Error(`a check named "${name}" is already registered`);
    map.set(name, check);
  }
}

export class BindAddressError extends Error {
  constructor(address: string, why: string) {
    super(`cannot serve on "${address}": ${why}`);
    this.name = "BindAddressError";
  }
}

/** ":8081" → all interfaces; "127.0.0.1:0" → ephemeral port; "0" → disabled (undefined). */
export function parseBindAddress(address: string): { host: string | undefined; port: number } | undefined {
  if (address === "0" || address === "") return undefined;
  const i = address.lastIndexOf(":");
  if (i < 0) throw new BindAddressError(address, "expected host:port or :port");
  const host = address.slice(0, i).replace(/^\[(.*)\]$/, "$1");
  const port = Number(address.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new BindAddressError(address, "port must be 0-65535");
  return { host: host === "" ? undefined : host, port };
}

/** Decides whether a scrape may read /metrics (e.g. TokenReview + SubjectAccessReview). */
export type MetricsAuthorizer = (req: IncomingMessage) => Promise<"allowed" | "unauthenticated" | "forbidden">;

export interface ServeOptions {
  probeAddress: string;
  metricsAddress: string;
  checks: CheckRegistry;
  registry: Registry;
  /** PEM certificate and key: serve metrics over HTTPS */
  metricsTls?: { cert: string | Buffer; key: string | Buffer };
  metricsAuthorizer?: MetricsAuthorizer;
}

export interface RunningServers {
  /** bound address of the probe server (undefined when disabled) */
  probe: AddressInfo | undefined;
  metrics: AddressInfo | undefined;
  /** stops accepting, lets requests in flight finish (up to `graceMs`), then closes */
  close(graceMs?: number): Promise<void>;
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff" });
  res.end(body);
}

async function probeHandler(checks: CheckRegistry, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://probe");
  const m = /^\/(healthz|readyz)(?:\/([^/]+))?\/?$/.exec(url.pathname);
  if (!m || (req.method !== "GET" && req.method !== "HEAD")) {
    send(res, 404, "not found\n");
    return;
  }
  const kind = m[1] === "healthz" ? "healthz" : "readyz";
  const only = m[2] === undefined ? undefined : decodeURIComponent(m[2]);
  const results = await checks.run(kind, only);
  if (only !== undefined && results.length === 0) {
    send(res, 404, `no ${kind} check named "${only}"\n`);
    return;
  }
  const failed = results.filter((r) => !r.ok);
  if (failed.length === 0 && !url.searchParams.has("verbose")) {
    send(res, 200, "ok");
    return;
  }
  const lines = results.map((r) => (r.ok ? `[+]${r.name} ok` : `[-]${r.name} failed: ${r.reason ?? ""}`));
  lines.push(failed.length === 0 ? `${kind} check passed` : `${kind} check failed`);
  send(res, failed.length === 0 ? 200 : 500, `${lines.join("\n")}\n`);
}

async function metricsHandler(opts: ServeOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://metrics");
  if (url.pathname !== "/metrics" || (req.method !== "GET" && req.method !== "HEAD")) {
    send(res, 404, "not found\n");
    return;
  }
  if (opts.metricsAuthorizer) {
    const verdict = await opts.metricsAuthorizer(req);
    if (verdict === "unauthenticated") return send(res, 401, "Unauthorized\n");
    if (verdict === "forbidden") return send(res, 403, "Forbidden\n");
  }
  const body = await opts.registry.metrics();
  res.writeHead(200, { "content-type": opts.registry.contentType });
  res.end(body);
}

function wrap(handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    handler(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, `internal error: ${err instanceof Error ? err.message : String(err)}\n`);
      else res.destroy();
    });
  };
}

async function listen(server: Server, address: string): Promise<AddressInfo | undefined> {
  const bind = parseBindAddress(address);
  if (!bind) return undefined;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => {
      reject(new BindAddressError(address, err.message));
    };
    server.once("error", onError);
    server.listen(bind.port, bind.host, () => {
      server.off("error", onError);
      resolve();
    });
  });
  return server.address() as AddressInfo;
}

async function closeServer(server: Server, graceMs: number): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => { resolve(); }));
  // Keep-alive connections become idle when their request finishes: sweep them
  // until the server is closed, and cut whatever remains after the grace period.
  server.closeIdleConnections();
  const sweep = setInterval(() => { server.closeIdleConnections(); }, 25);
  const timer = setTimeout(() => { server.closeAllConnections(); }, graceMs);
  await closed;
  clearInterval(sweep);
  clearTimeout(timer);
}

export async function serve(opts: ServeOptions): Promise<RunningServers> {
  const probeServer = nodeHttp.createServer(wrap((req, res) => probeHandler(opts.checks, req, res)));
  const metricsHandle = wrap((req, res) => metricsHandler(opts, req, res));
  const metricsServer = opts.metricsTls
    ? nodeHttps.createServer({ cert: opts.metricsTls.cert, key: opts.metricsTls.key, minVersion: "TLSv1.2" }, metricsHandle)
    : nodeHttp.createServer(metricsHandle);
  const probe = await listen(probeServer, opts.probeAddress);
  let metrics: AddressInfo | undefined;
  try {
    metrics = await listen(metricsServer, opts.metricsAddress);
  } catch (err: unknown) {
    await closeServer(probeServer, 0);
    throw err;
  }
  return {
    probe,
    metrics,
    close: async (graceMs = 5000) => {
      await Promise.all([closeServer(probeServer, graceMs), closeServer(metricsServer, graceMs)]);
    },
  };
}
