// Two builds of the same sources give the same digests: a second build from nothing (its own
// buildah storage and base cache, so mmdebstrap and every layer run again) of global-setup's
// snapshot of the sources, pushed beside its images, must come out byte for byte the same; and so
// must builds into that storage once it is warm and holds images of other labels.
import { mkdtemp, readdir, rm } from "node:fs/promises";
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

/** Each image's digest differs from the first build's: say which parts, then fail on the digests. */
async function expectSameDigests(result: BuildResult): Promise<void> {
  for (const name of IMAGE_NAMES) {
    const again = result.images[name];
    if (again.digest !== built[name].digest) expect({ name, parts: await parts(again.ref) }).toEqual({ name, parts: await parts(built[name].ref) });
    expect(`${name} ${again.digest}`).toBe(`${name} ${built[name].digest}`);
  }
}

it("a from-scratch build of the same commit pushes the same four digests", async () => {
  cacheDir = await mkdtemp(path.join(tmpdir(), "kmm-images-again-"));
  // A fresh storage and base cache: nothing is reused from the first build.
  second = await buildImages({ root: sources, registry: `${registry}/again`, tlsVerify: false, push: true, cacheDir, revision });
  expect(second.built).toBe(true);
  await expectSameDigests(second);
}, 1_200_000);

it("a warm storage holding the same images under other labels still gives the same four digests", async () => {
  if (cacheDir === undefined) throw new Error("needs the from-scratch build's storage");
  // Same sources, other revision label: the storage now holds four images whose content equals
  // this commit's but whose metadata does not, and the host-staged programs are kept.
  const other = await buildImages({ root: sources, registry: `${registry}/other`, tlsVerify: false, push: false, cacheDir, revision: "0000000" });
  expect(other.built).toBe(true);
  for (const name of IMAGE_NAMES) {
    const label = await buildah(other.storage, ["inspect", "--type", "image", "--format", '{{index .ImageAnnotations "org.opencontainers.image.base.digest"}} {{index .OCIv1.Config.Labels "org.opencontainers.image.revision"}}', other.images[name].local]);
    expect(label.trim()).toMatch(/^sha256:[0-9a-f]{64} 0000000$/);
  }
  // Without the build records, buildah runs again on the warm storage.
  await rm(path.join(cacheDir, "records"), { recursive: true, force: true });
  const warm = await buildImages({ root: sources, registry: `${registry}/warm`, tlsVerify: false, push: true, cacheDir, revision });
  expect(warm.built).toBe(true);
  await expectSameDigests(warm);
  // No build stage image (buildah skips the stage: the host-staged programs take its place) and no
  // working container left behind.
  expect((await buildah(warm.storage, ["images", "--noheading", "--format", "{{.Name}}", "--filter", "reference=localhost/kmm-hub/staged"])).trim()).toBe("");
  expect((await buildah(warm.storage, ["containers", "--quiet"])).trim()).toBe("");
  expect((await readdir(path.join(cacheDir, "records"))).filter((f) => f.endsWith(".json"))).toHaveLength(1);
  // One record per final image, keyed by its staged program, Dockerfile, base and labels.
  expect((await readdir(path.join(cacheDir, "records", "images"))).sort().map((f) => f.replace(/-[0-9a-f]{24}\.json$/, ""))).toEqual([...IMAGE_NAMES].sort());
}, 1_200_000);
