import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { DigestCache, RegistryClient, buildLayer, pushImage } from "../shared/registry/index.ts";
import { startRegistry, type RegistryServer } from "../shared/registry/testing/registry-server.ts";
import { FaultProxy } from "../shared/runtime/fault-proxy.ts";
import { ImageWatch } from "./image-watch.ts";
import { resolvePins } from "./pinning.ts";

const tls = { insecure: true };
let registry: RegistryServer;
let proxy: FaultProxy;
let host: string;
let client: RegistryClient;

beforeAll(async () => {
  registry = await startRegistry();
  proxy = new FaultProxy("127.0.0.1", Number(registry.host.split(":")[1]));
  host = `127.0.0.1:${await proxy.start()}`;
  client = new RegistryClient();
});

afterAll(async () => {
  client.close();
  await proxy.stop();
  await registry.stop();
});

const layer = (content: string) => ({ layers: [buildLayer([{ path: "kmod.ko", content }])] });

describe("ImageWatch against a real registry", () => {
  it("enqueues the MCMs of a moved tag once its digest is stale, and those of a registry that comes back, and no others", async () => {
    const moving = `${host}/kmm/kmod:moving`;
    const steady = `${host}/kmm/kmod:steady`;
    await pushImage(client, moving, layer("v1"), { tls });
    await pushImage(client, steady, layer("s"), { tls });
    const cache = new DigestCache({ client, refreshIntervalMs: 300 });
    const enqueued: string[] = [];
    const watch = new ImageWatch({ digests: cache, enqueue: (m) => enqueued.push(m) });
    const images = (image: string) => [{ image, tls, producedOnHub: false }];
    const record = async (mcm: string, image: string) => watch.set(mcm, images(image), await resolvePins(cache, images(image), undefined), undefined);
    await record("a", moving);
    await record("b", moving);
    await record("c", steady);

    await watch.tick();
    expect(enqueued).toEqual([]);
    await pushImage(client, moving, layer("v2"), { tls });
    // Still fresh in the cache: not asked yet.
    await watch.tick();
    expect(enqueued).toEqual([]);
    await new Promise((r) => setTimeout(r, 350));
    await watch.tick();
    expect(enqueued.sort()).toEqual(["a", "b"]);
    // Enqueued once: their reconcile records the new digest.
    expect(watch.watching()).toEqual(["c"]);
    await watch.tick();
    expect(enqueued).toHaveLength(2);

    // The registry goes away: the MCM whose reconcile failed waits for its return.
    await proxy.cut();
    cache.expireAll();
    await record("d", steady);
    expect(watch.watching()).toContain("d");
    await watch.tick();
    expect(enqueued).not.toContain("d");
    await proxy.restore();
    await watch.tick();
    expect(enqueued).toContain("d");
    await watch.stop();
  });

  it("looks on its own once started, without a reconcile asking, and stops looking when stopped", async () => {
    const image = `${host}/kmm/kmod:self`;
    await pushImage(client, image, layer("s1"), { tls });
    const cache = new DigestCache({ client, refreshIntervalMs: 200 });
    const enqueued: string[] = [];
    const watch = new ImageWatch({ digests: cache, enqueue: (m) => enqueued.push(m) });
    const images = [{ image, tls, producedOnHub: false }];
    watch.set("e", images, await resolvePins(cache, images, undefined), undefined);
    watch.start();
    await pushImage(client, image, layer("s2"), { tls });
    await vi.waitFor(() => { expect(enqueued).toEqual(["e"]); }, { timeout: 10_000, interval: 50 });
    await watch.stop();
    expect(watch.watching()).toEqual([]);
  });

  it("does not watch references that no look-up can fix", async () => {
    const watch = new ImageWatch({ digests: new DigestCache({ client, refreshIntervalMs: 1000 }), enqueue: () => undefined });
    const images = [{ image: "Not/Valid:tag", tls, producedOnHub: false }];
    watch.set("x", images, new Map([["Not/Valid:tag", { error: "invalid", reason: "InvalidReference" as const }]]), undefined);
    expect(watch.watching()).toEqual([]);
    await watch.stop();
  });
});
