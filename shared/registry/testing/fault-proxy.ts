import http from "node:http";
import type { AddressInfo } from "node:net";

// A forwarding proxy in front of a real (plain HTTP) registry that injects
// what real middleboxes do and the registry itself will not: rate limiting
// with Retry-After, and HEAD answers stripped of Docker-Content-Digest.

export interface FaultProxyOptions {
  /** host:port of the registry behind the proxy. */
  upstream: string;
  /** Answer this many requests matching `match` with 429 and Retry-After first. */
  throttle?: { count: number; retryAfterSeconds: number; match: (method: string, path: string) => boolean };
  /** Remove Docker-Content-Digest from HEAD manifest answers. */
  stripHeadDigest?: boolean;
}

export interface FaultProxy {
  host: string;
  /** Times a 429 was sent, and when. */
  throttled: number[];
  stop(): Promise<void>;
}

export async function startFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const throttled: number[] = [];
  let left = opts.throttle?.count ?? 0;
  const server = http.createServer((req, res) => {
    const method = req.method ?? "GET";
    const path = req.url ?? "/";
    if (opts.throttle && left > 0 && opts.throttle.match(method, path)) {
      left--;
      throttled.push(Date.now());
      req.resume();
      res.writeHead(429, { "retry-after": String(opts.throttle.retryAfterSeconds), "content-type": "application/json" });
      res.end(JSON.stringify({ errors: [{ code: "TOOMANYREQUESTS", message: "slow down" }] }));
      return;
    }
    const upstream = http.request(
      `http://${opts.upstream}${path}`,
      { method, headers: { ...req.headers, host: opts.upstream } },
      (up) => {
        const headers = { ...up.headers };
        if (opts.stripHeadDigest && method === "HEAD" && path.includes("/manifests/")) delete headers["docker-content-digest"];
        res.writeHead(up.statusCode ?? 502, headers);
        up.pipe(res);
      },
    );
    upstream.once("error", () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    throttled,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
