// Two builds of the same sources give the same digests: a second build from nothing (its own
// buildah storage and base cache, so mmdebstrap and every layer run again) of global-setup's
// snapshot of the sources, pushed beside its images, must come out byte for byte the same.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, inject, it } from "vitest";
import { buildah } from "./buildah.ts";
import { IMAGE_NAMES, buildImages, type BuildResult } from "./build.ts";

const { registry, built, revision, sources } = inject("images");
let cacheDir: string | undefined;
let second: BuildResult | undefined;

afterAll(async () => {
  if (second !== undefined) await buildah(second.storage, ["rmi", "--all", "--force"]).catch(() => "");
  if (cacheDir !== undefined) await rm(cacheDir, { recursive: true, force: true });
});

it("a from-scratch build of the same commit pushes the same four digests", async () => {
  cacheDir = await mkdtemp(path.join(tmpdir(), "kmm-images-again-"));
  second = await buildImages({ root: sources, registry: `${registry}/again`, tlsVerify: false, push: true, cacheDir, revision, noCache: true });
  expect(second.built).toBe(true);
  for (const name of IMAGE_NAMES) {
    expect(`${name} ${second.images[name].digest}`).toBe(`${name} ${built[name].digest}`);
  }
}, 1_200_000);
