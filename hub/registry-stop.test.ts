// The hub's registry look-ups end when it stops, against a real TCP server on 127.0.0.1 that
// accepts connections and never answers (an e2e run once waited 6 minutes to stop on one).
import { Writable } from "node:stream";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { DigestCache, RegistryClient } from "../shared/registry/index.ts";
import { startSilentServer, type SilentServer } from "../shared/registry/testing/silent-server.ts";
import { Controller } from "../shared/runtime/controller.ts";
import { createLogger } from "../shared/runtime/logger.ts";
import { ImageWatch } from "./image-watch.ts";
import { resolvePins } from "./pinning.ts";

const tls = { insecure: true };

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(): Promise<{ silent: SilentServer; cache: DigestCache; images: { image: string; tls: typeof tls; producedOnHub: false }[] }> {
  const silent = await startSilentServer();
  // Default transport: 30 s idle timeout, 4 attempts.
  const client = new RegistryClient();
  cleanups.push(() => silent.stop(), () => client.close());
  return {
    silent,
    cache: new DigestCache({ client, refreshIntervalMs: 0 }),
    images: [{ image: `${silent.host}/kmm/kmod:v1`, tls, producedOnHub: false }],
  };
}

describe("stopping the hub with a registry that accepts and never answers", () => {
  it("Controller.stop() aborts a reconcile's pin look-ups: it rejects with the stop reason, not a registry failure", async () => {
    const { silent, cache, images } = await setup();
    const destination = new Writable({ write: (_c, _e, cb) => cb() });
    let looked: Promise<unknown> | undefined;
    const controller = new Controller({
      name: "mcm",
      logger: createLogger({ name: "test", destination }),
      registry: new Registry(),
      reconcile: async (_key, signal) => {
        looked = resolvePins(cache, images, undefined, signal);
        await looked;
        return undefined;
      },
    });
    controller.start();
    controller.enqueue("a");
    await silent.acceptedAtLeast(1);
    await controller.stop();
    await expect(looked).rejects.toThrow("controller mcm is stopping");
    await silent.closedAtLeast(1);
  });

  it("ImageWatch.stop() ends a tick stuck on the registry, enqueueing nothing", async () => {
    const { silent, cache, images } = await setup();
    const enqueued: string[] = [];
    const watch = new ImageWatch({ digests: cache, enqueue: (m) => enqueued.push(m) });
    watch.set("mcm", images, new Map([[images[0]!.image, { error: "unreachable", reason: "RegistryUnreachable" as const }]]), undefined);
    const tick = watch.tick();
    await silent.acceptedAtLeast(1);
    await watch.stop();
    await tick;
    await silent.closedAtLeast(1);
    expect(enqueued).toEqual([]);
  });
});
