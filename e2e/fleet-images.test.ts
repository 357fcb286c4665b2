// The e2e setup's product images in the fleet's registry: the four images are there under their
// tags, by the digests the suites pin, behind the registry's TLS and auth, labelled with the commit.
import { readFile } from "node:fs/promises";
import { afterAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { RegistryAuthError, RegistryClient } from "../shared/registry/index.ts";
import { IMAGE_NAMES, IMAGES } from "../images/build.ts";
import { fleetRegistryClient } from "./controlplane/node-agent/test-images.ts";

const fleet = inject("fleet");
const images = inject("productImages");
const registry = fleet.registry;
if (registry === undefined) throw new Error("this suite needs a fleet with real nodes (startFleet({ realNodes: true }))");
const client = await fleetRegistryClient(registry);

afterAll(() => client.close());

describe("the product images in the fleet's registry", () => {
  it.each(IMAGE_NAMES)("%s is pushed by digest under <registry>/kmm-hub, and its tag serves that digest", async (name) => {
    const ref = images.refs[name];
    expect(ref).toMatch(new RegExp(`^${registry.host.replace(/\./g, "\\.")}/kmm-hub/${IMAGES[name].name}@sha256:[0-9a-f]{64}$`));
    const byTag = await client.getManifest(images.tagged[name]);
    expect(`${images.tagged[name].slice(0, images.tagged[name].lastIndexOf(":"))}@${byTag.digest}`).toBe(ref);
    if (byTag.kind !== "image") throw new Error(`${ref} is an index, not an image`);
    const config = z.looseObject({ config: z.looseObject({ Labels: z.record(z.string(), z.string()) }) }).parse(await client.readConfig(ref, byTag.manifest));
    expect(config.config.Labels["org.opencontainers.image.revision"]).toMatch(/^[0-9a-f]{40}(-dirty)?$/);
  });

  it("refuses a client without the registry's credentials", async () => {
    const anonymous = new RegistryClient({ caBundle: await readFile(registry.caFile, "utf8"), retry: { maxAttempts: 1 } });
    try {
      await expect(anonymous.resolveDigest(images.tagged.worker)).rejects.toBeInstanceOf(RegistryAuthError);
    } finally {
      anonymous.close();
    }
  });
});
