import type http from "node:http";
import type https from "node:https";
import tls from "node:tls";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { CLIENT_GO_IDLE, idleAgentOptions, nodeHttp, nodeHttps, type IdlePolicy } from "../kube/node-http.ts";
import { abortReason } from "./abort.ts";

// HTTP for the registry client. Built on node:http/node:https rather than the
// global fetch: TLS verification and extra CAs are per registry (a Module's
// registryTLS), which fetch can only do through undici's Agent, and undici is
// not a dependency of this project (it is only present transitively). The
// https.Agent covers it with Node's own API, keeps connections alive, and
// gives streamed bodies we can hash as they pass.

export interface TlsSettings {
  /** Skip certificate verification (registryTLS.insecureSkipTLSVerify). */
  insecureSkipTLSVerify: boolean;
  /** Extra PEM CA certificates trusted on top of Node's bundled roots. */
  caBundle: string | undefined;
}

export interface RetryPolicy {
  /** Total attempts including the first. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 4, baseDelayMs: 250, maxDelayMs: 30_000 };

/** Statuses worth retrying: rate limiting and transient server-side failures. */
const RETRY_STATUSES = new Set([408, 429, 500, 502, 503, 504]);
/** Network errors that mean "try again", unlike refused connections or bad certificates. */
const RETRY_ERRORS = new Set(["ECONNRESET", "EPIPE", "ETIMEDOUT", "ECONNABORTED"]);

export type RequestBody = Buffer | (() => Readable);

export interface HttpRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: RequestBody;
  /** Key for the per-registry concurrency bound. */
  registry: string;
  tls: TlsSettings;
  /**
   * Aborts the request at once (its socket is destroyed), a wait for a free slot and the back-off
   * between retries; the call rejects with the signal's reason. A body already returned is destroyed too.
   */
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: http.IncomingMessage;
  url: URL;
}

export interface RequestCounters {
  total: number;
  byMethod: Record<string, number>;
  retries: number;
}

/** Retry-After is either delta-seconds or an HTTP date; undefined when absent or unparseable. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}

class Semaphore {
  private active = 0;
  private readonly waiters: (() => void)[] = [];
  private readonly limit: number;
  constructor(limit: number) {
    this.limit = limit;
  }
  async acquire(signal: AbortSignal | undefined): Promise<() => void> {
    if (signal?.aborted === true) throw abortReason(signal);
    if (this.active >= this.limit) {
      await new Promise<void>((resolve, reject) => {
        const waiter = (): void => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        };
        const onAbort = (): void => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(abortReason(signal as AbortSignal));
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        this.waiters.push(waiter);
      });
    } else {
      this.active++;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next();
      else this.active--;
    };
  }
  get inUse(): number {
    return this.active;
  }
}

export interface TransportOptions {
  maxConcurrentPerRegistry?: number;
  retry?: Partial<RetryPolicy>;
  timeoutMs?: number;
  userAgent?: string;
  /** How idle keep-alive connections to a registry are kept (default client-go's: see IdlePolicy). */
  idle?: IdlePolicy;
}

export class HttpTransport {
  readonly counters: RequestCounters = { total: 0, byMethod: {}, retries: 0 };
  private readonly agents = new Map<string, https.Agent>();
  private readonly httpAgent: http.Agent;
  private readonly limits = new Map<string, Semaphore>();
  private readonly maxConcurrent: number;
  private readonly idle: IdlePolicy;
  private readonly retry: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly userAgent: string;
  private peakConcurrency = new Map<string, number>();

  constructor(options: TransportOptions = {}) {
    this.maxConcurrent = options.maxConcurrentPerRegistry ?? 8;
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.userAgent = options.userAgent ?? "kmm-hub-registry-client";
    this.idle = options.idle ?? CLIENT_GO_IDLE;
    this.httpAgent = new nodeHttp.Agent({ keepAlive: true, maxSockets: this.maxConcurrent, ...idleAgentOptions(this.idle) });
  }

  /** Highest number of simultaneous requests seen for a registry (tests check the bound). */
  peak(registry: string): number {
    return this.peakConcurrency.get(registry) ?? 0;
  }

  close(): void {
    this.httpAgent.destroy();
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }

  private agentFor(settings: TlsSettings): https.Agent {
    const key = `${settings.insecureSkipTLSVerify}|${settings.caBundle ?? ""}`;
    let agent = this.agents.get(key);
    if (!agent) {
      agent = new nodeHttps.Agent({
        keepAlive: true,
        maxSockets: this.maxConcurrent,
        ...idleAgentOptions(this.idle),
        rejectUnauthorized: !settings.insecureSkipTLSVerify,
        // `ca` replaces Node's roots, so a custom bundle is added to them, never instead of them.
        ...(settings.caBundle ? { ca: [...tls.rootCertificates, settings.caBundle] } : {}),
      });
      this.agents.set(key, agent);
    }
    return agent;
  }

  private semaphore(registry: string): Semaphore {
    let s = this.limits.get(registry);
    if (!s) {
      s = new Semaphore(this.maxConcurrent);
      this.limits.set(registry, s);
    }
    return s;
  }

  /**
   * Sends a request, retrying 408/429/5xx and connection resets with
   * exponential backoff (honouring Retry-After) while the body can be replayed.
   * The per-registry slot is held until the response body is consumed or destroyed.
   */
  async request(req: HttpRequest): Promise<HttpResponse> {
    const replayable = req.body === undefined || Buffer.isBuffer(req.body) || typeof req.body === "function";
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= this.retry.maxAttempts || !replayable;
      let res: HttpResponse;
      try {
        res = await this.once(req);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (req.signal?.aborted === true) throw abortReason(req.signal);
        if (last || code === undefined || !RETRY_ERRORS.has(code)) throw err;
        this.counters.retries++;
        await this.pause(this.backoff(attempt, undefined), req.signal);
        continue;
      }
      if (last || !RETRY_STATUSES.has(res.status)) return res;
      const retryAfter = parseRetryAfter(headerValue(res.headers["retry-after"]), Date.now());
      res.body.resume();
      this.counters.retries++;
      await this.pause(this.backoff(attempt, retryAfter), req.signal);
    }
  }

  /** The back-off between attempts; an abort ends it with the signal's reason. */
  private async pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
    try {
      await sleep(ms, undefined, signal ? { signal } : {});
    } catch (err) {
      if (signal?.aborted === true) throw abortReason(signal);
      throw err;
    }
  }

  private backoff(attempt: number, retryAfterMs: number | undefined): number {
    if (retryAfterMs !== undefined) return Math.min(retryAfterMs, this.retry.maxDelayMs);
    const exp = this.retry.baseDelayMs * 2 ** (attempt - 1);
    // Full jitter keeps many hub workers from retrying in lockstep.
    return Math.min(this.retry.maxDelayMs, exp / 2 + Math.random() * (exp / 2));
  }

  private async once(req: HttpRequest): Promise<HttpResponse> {
    const signal = req.signal;
    const release = await this.semaphore(req.registry).acquire(signal);
    const inUse = this.semaphore(req.registry).inUse;
    if (inUse > this.peak(req.registry)) this.peakConcurrency.set(req.registry, inUse);
    this.counters.total++;
    this.counters.byMethod[req.method] = (this.counters.byMethod[req.method] ?? 0) + 1;
    const secure = req.url.protocol === "https:";
    const lib = secure ? nodeHttps : nodeHttp;
    const headers: Record<string, string> = { "user-agent": this.userAgent, ...req.headers };
    let body: Buffer | Readable | undefined;
    if (Buffer.isBuffer(req.body)) {
      body = req.body;
      headers["content-length"] = String(req.body.length);
    } else if (typeof req.body === "function") {
      body = req.body();
    } else if (req.method === "PUT" || req.method === "POST" || req.method === "PATCH") {
      headers["content-length"] = "0";
    }
    return await new Promise<HttpResponse>((resolve, reject) => {
      let settled = false;
      const onAbort = (): void => {
        const reason = abortReason(signal as AbortSignal);
        clientReq.destroy(reason);
        if (!settled) {
          settled = true;
          release();
          reject(reason);
        }
      };
      const clientReq = lib.request(
        req.url,
        {
          method: req.method,
          headers,
          agent: secure ? this.agentFor(req.tls) : this.httpAgent,
          timeout: this.timeoutMs,
        },
        (res) => {
          settled = true;
          res.once("close", () => {
            signal?.removeEventListener("abort", onAbort);
            release();
          });
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url: req.url });
        },
      );
      clientReq.once("timeout", () => {
        const err: NodeJS.ErrnoException = new Error(`no answer within ${this.timeoutMs} ms`);
        err.code = "ETIMEDOUT";
        clientReq.destroy(err);
      });
      clientReq.once("error", (err) => {
        signal?.removeEventListener("abort", onAbort);
        if (settled) return;
        settled = true;
        release();
        reject(err);
      });
      if (signal?.aborted === true) {
        onAbort();
        return;
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      if (body === undefined) clientReq.end();
      else if (Buffer.isBuffer(body)) clientReq.end(body);
      else {
        body.once("error", (err) => clientReq.destroy(err));
        body.pipe(clientReq);
      }
    });
  }
}

export function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Reads a whole response body, refusing more than `limit` bytes (manifests, error bodies). */
export async function readBody(res: HttpResponse, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) {
      res.body.destroy();
      throw new Error(`response body larger than ${limit} bytes`);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/** Discards a body we do not need, so the connection goes back to the pool. */
export function drain(res: HttpResponse): void {
  res.body.resume();
}
