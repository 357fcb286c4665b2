// node:http and node:https as their CommonJS modules. A static `import … from "node:http"` builds the
// module's ESM namespace, which reads every export, among them the lazy http.WebSocket,
// CloseEvent and MessageEvent: that loads undici and http2, ~9 MiB of RSS for code no operator
// process runs (issue 16). process.getBuiltinModule hands out the module without reading them.

/** node:http, without undici. */
export const nodeHttp = process.getBuiltinModule("node:http");
/** node:https, without undici. */
export const nodeHttps = process.getBuiltinModule("node:https");
