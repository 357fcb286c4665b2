import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DigestCache, Keychain, RegistryClient, buildLayer, pushImage } from "../shared/registry/index.ts";
import { startRegistry, type RegistryServer } from "../shared/registry/testing/registry-server.ts";
import { clusterOutcome, planKernels } from "./manifestwork.ts";
import { RebuildTriggers, expireImages, resolvePins } from "./pinning.ts";
import { testMcm } from "./testdata.ts";

const tls = { insecure: true };
let registry: RegistryServer;
let client: RegistryClient;
let stopped = false;

beforeAll(async () => {
  registry = await startRegistry({ auth: { kind: "htpasswd", users: { kmm: "s3cret" } } });
  client = new RegistryClient();
});

afterAll(async () => {
  client.close();
  if (!stopped) await registry.stop();
});

function keychain(password: string): Keychain {
  const k = Keychain.anonymous();
  k.add(registry.host, { username: "kmm", password });
  return k;
}

describe("pinning against a real registry", () => {
  it("resolves tags with the pull credentials, reports missing images and refused credentials", async () => {
    const image = `${registry.host}/kmm/kmod:6.1.0-18-amd64`;
    const pushed = await pushImage(client, image, { layers: [buildLayer([{ path: "kmod.ko", content: "v1" }])] }, { tls, keychain: keychain("s3cret") });
    const cache = new DigestCache({ client, refreshIntervalMs: 60_000 });
    const missing = `${registry.host}/kmm/kmod:9.9.9`;
    const pins = await resolvePins(cache, [{ image, tls, producedOnHub: false }, { image: missing, tls, producedOnHub: true }], keychain("s3cret"));
    expect(pins.get(image)).toEqual({ digest: pushed.digest });
    expect(pins.get(missing)).toMatchObject({ reason: "ImageNotFound" });

    const denied = await resolvePins(new DigestCache({ client, refreshIntervalMs: 60_000 }), [{ image, tls, producedOnHub: false }], keychain("wrong"));
    expect(denied.get(image)).toMatchObject({ reason: "RegistryAuth" });
    expect(JSON.stringify(denied.get(image))).not.toContain("wrong");

    // The whole chain: the digest from the registry ends up in the spoke's Module.
    const mcm = testMcm({
      moduleSpec: {
        selector: {},
        moduleLoader: { container: { modprobe: { moduleName: "kmod" }, registryTLS: tls, kernelMappings: [{ literal: "6.1.0-18-amd64", containerImage: image }] } },
      },
    });
    const o = clusterOutcome(mcm, "spoke1", planKernels(mcm, ["6.1.0-18-amd64"]), pins);
    expect(o.kind === "work" && JSON.stringify(o.work)).toContain(`${registry.host}/kmm/kmod@${pushed.digest}`);
  });

  it("looks at the registry again when imageRebuildTriggerGeneration changes, not before the interval otherwise", async () => {
    const image = `${registry.host}/kmm/kmod:moving`;
    const opts = { tls, keychain: keychain("s3cret") };
    const first = await pushImage(client, image, { layers: [buildLayer([{ path: "kmod.ko", content: "one" }])] }, opts);
    const cache = new DigestCache({ client, refreshIntervalMs: 3_600_000 });
    const triggers = new RebuildTriggers();
    const images = [{ image, tls, producedOnHub: false }];
    const pinFor = async (generation: number | undefined) => {
      if (triggers.changed("kmod", generation)) expireImages(cache, images);
      return resolvePins(cache, images, opts.keychain).then((p) => p.get(image));
    };
    expect(await pinFor(undefined)).toEqual({ digest: first.digest });
    const second = await pushImage(client, image, { layers: [buildLayer([{ path: "kmod.ko", content: "two" }])] }, opts);
    // Same generation: the hour-long interval keeps the cached digest.
    expect(await pinFor(undefined)).toEqual({ digest: first.digest });
    expect(await pinFor(1)).toEqual({ digest: second.digest });
    expect(triggers.changed("kmod", 1)).toBe(false);
    triggers.forget("kmod");
    expect(triggers.changed("kmod", 2)).toBe(false);
  });

  it("reports an unreachable registry as such", async () => {
    const image = `${registry.host}/kmm/kmod:6.1.0-18-amd64`;
    stopped = true;
    await registry.stop();
    const pins = await resolvePins(new DigestCache({ client: new RegistryClient(), refreshIntervalMs: 60_000 }), [{ image, tls, producedOnHub: false }], undefined);
    expect(pins.get(image)).toMatchObject({ reason: "RegistryUnreachable" });
  });
});
