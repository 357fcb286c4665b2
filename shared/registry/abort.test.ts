// Registry calls given an AbortSignal, against a real TCP server on 127.0.0.1 that accepts
// connections and never answers (the e2e fault that made a hub's stop wait minutes), and a real
// HTTP server that keeps answering 503 with a long Retry-After (the back-off wait).
import http from "node:http";
import type net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { RegistryClient } from "./client.ts";
import { DigestCache } from "./digest-cache.ts";
import { startSilentServer, type SilentServer } from "./testing/silent-server.ts";

const tls = { insecure: true };

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(): Promise<{ silent: SilentServer; client: RegistryClient }> {
  const silent = await startSilentServer();
  // The default 30 s idle timeout and 4 attempts: without the signal a look-up takes minutes.
  const client = new RegistryClient();
  cleanups.push(() => silent.stop(), () => client.close());
  return { silent, client };
}

describe("aborting registry calls against a registry that accepts and never answers", () => {
  it("rejects at once with the abort reason and destroys the socket", async () => {
    const { silent, client } = await setup();
    const controller = new AbortController();
    const lookup = client.resolveDigest(`${silent.host}/kmm/kmod:v1`, { tls, signal: controller.signal });
    await silent.acceptedAtLeast(1);
    const reason = new Error("controller kmm-hub is stopping");
    controller.abort(reason);
    await expect(lookup).rejects.toBe(reason);
    await silent.closedAtLeast(1);
    expect(silent.closed()).toBe(silent.accepted());
  });

  it("rejects a call whose signal is already aborted without connecting", async () => {
    const { silent, client } = await setup();
    const reason = new Error("lost the lease");
    await expect(client.resolveDigest(`${silent.host}/kmm/kmod:v1`, { tls, signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(silent.accepted()).toBe(0);
  });

  it("keeps a look-up shared through the DigestCache going until every caller has given up", async () => {
    const { silent, client } = await setup();
    const cache = new DigestCache({ client, refreshIntervalMs: 60_000 });
    const first = new AbortController();
    const second = new AbortController();
    const image = `${silent.host}/kmm/kmod:v1`;
    const a = cache.resolve(image, { tls, signal: first.signal });
    const b = cache.resolve(image, { tls, signal: second.signal });
    await silent.acceptedAtLeast(1);
    first.abort(new Error("first gives up"));
    await expect(a).rejects.toThrow("first gives up");
    // The second caller still waits: its request is still on the wire.
    await new Promise((r) => setTimeout(r, 50));
    expect(silent.closed()).toBe(0);
    second.abort(new Error("second gives up"));
    await expect(b).rejects.toThrow("second gives up");
    await silent.closedAtLeast(1);
    // Nothing was learnt from the registry: the next look-up asks again.
    expect(cache.size).toBe(0);
  });

  it("ends the back-off between retries at once", async () => {
    let requests = 0;
    const server = http.createServer((_req, res) => {
      requests++;
      res.writeHead(503, { "retry-after": "120", "content-length": "0" }).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const client = new RegistryClient();
    cleanups.push(() => client.close());
    const controller = new AbortController();
    const port = (server.address() as net.AddressInfo).port;
    const lookup = client.resolveDigest(`127.0.0.1:${port}/kmm/kmod:v1`, { tls, signal: controller.signal });
    while (requests < 1) await new Promise((r) => setTimeout(r, 10));
    const reason = new Error("stopping during the back-off");
    controller.abort(reason);
    await expect(lookup).rejects.toBe(reason);
    expect(requests).toBe(1);
  });
});
