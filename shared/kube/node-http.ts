// node:http and node:https as their CommonJS modules. A static `import … from "node:http"` builds the
// module's ESM namespace, which reads every export, among them the lazy http.WebSocket,
// CloseEvent and MessageEvent: that loads undici and http2, ~9 MiB of RSS for code no operator
// process runs (issue 16). process.getBuiltinModule hands out the module without reading them.

/** node:http, without undici. */
export const nodeHttp = process.getBuiltinModule("node:http");
/** node:https, without undici. */
export const nodeHttps = process.getBuiltinModule("node:https");

/**
 * How a keep-alive pool treats connections no request is using, as client-go and Go's
 * http.DefaultTransport do: at most 25 idle connections per server (client-go's
 * `idleConnsPerHost`, k8s.io/client-go/transport/cache.go) and each closed after 90 s idle (Go's
 * `IdleConnTimeout`, which client-go keeps). Without them a Node keep-alive Agent holds every
 * connection a burst opened for as long as the server allows: after a rollout the hub kept ~70
 * idle TLS connections to the API server and 8 to the registry (issue 16).
 */
export interface IdlePolicy {
  /** Idle connections kept per server; the rest are closed as their requests end. */
  maxIdle: number;
  /** Milliseconds a connection may sit idle before it is closed. */
  idleTimeoutMs: number;
}

/** client-go's idle-connection defaults (see IdlePolicy). */
export const CLIENT_GO_IDLE: IdlePolicy = { maxIdle: 25, idleTimeoutMs: 90_000 };

/**
 * The node:http Agent options for `policy`: `maxFreeSockets` and `timeout`. A Node Agent applies
 * `timeout` to a socket only while it waits in the free pool (then it destroys it); a request in
 * flight keeps its own timeout (RawClient's 60 s, a watch's none), so long watches are not cut.
 */
export function idleAgentOptions(policy: IdlePolicy): { maxFreeSockets: number; timeout: number } {
  return { maxFreeSockets: policy.maxIdle, timeout: policy.idleTimeoutMs };
}
