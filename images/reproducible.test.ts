// Two builds of the same sources give the same digests: a second build from nothing (its own
// buildah storage and base cache, so mmdebstrap and every layer run again) of global-setup's
// snapshot of the sources, pushed beside its images, must come out byte for byte the same.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, inject, it } from "vitest";
import { RegistryClient } from "../shared/registry/index.ts";
import { buildah } from "./buildah.ts";
import { IMAGE_NAMES, buildImages, type BuildResult } from "./build.ts";

const { registry, built, revision, sources } = inject("images");
let cacheDir: string | undefined;
let second: BuildResult | undefined;

afterAll(async () => {
  if (second !== undefined) await buildah(second.storage, ["rmi", "--all", "--force"]).catch(() => "");
  if (cacheDir !== undefined) await rm(cacheDir, { recursive: true, force: true });
});

/** Config and layer digests of a pushed image, to say what differs when the digests do. */
async function parts(ref: string): Promise<string[]> {
  const client = new RegistryClient();
  try {
    const m = await client.getManifest(ref, { tls: { insecure: true } });
    if (m.kind !== "image") return [`index ${m.digest}`];
    return [`config ${m.manifest.config.digest}`, ...m.manifest.layers.map((l, i) => `layer ${i} ${l.digest}`), `annotations ${JSON.stringify(m.manifest.annotations ?? {})}`];
  } finally {
    client.close();
  }
}

it("a from-scratch build of the same commit pushes the same four digests", async () => {
  cacheDir = await mkdtemp(path.join(tmpdir(), "kmm-images-again-"));
  // A fresh storage and base cache: nothing is reused from the first build.
  second = await buildImages({ root: sources, registry: `${registry}/again`, tlsVerify: false, push: true, cacheDir, revision });
  expect(second.built).toBe(true);
  for (const name of IMAGE_NAMES) {
    const again = second.images[name];
    if (again.digest !== built[name].digest) expect({ name, parts: await parts(again.ref) }).toEqual({ name, parts: await parts(built[name].ref) });
    expect(`${name} ${again.digest}`).toBe(`${name} ${built[name].digest}`);
  }
}, 1_200_000);
