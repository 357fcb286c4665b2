// The manifests `npm run images -- --push --manifests DIR` writes name the built images by digest,
// in the places the hub Deployment and the spoke Policy read them.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import { afterAll, describe, expect, it } from "vitest";
import { readWithPyYaml } from "../shared/testing/yaml.ts";
import { parseKubeDocuments } from "../shared/yaml/read.ts";
import type { BuiltImages } from "./build.ts";
import { ManifestError, hubManifests, imageReferences, writeManifests } from "./manifests.ts";

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const image = (name: string, c: string) => ({ ref: `registry.example.com/kmm/${name}@${digest(c)}`, digest: digest(c), tagged: `registry.example.com/kmm/${name}:0.1.0`, local: `localhost/kmm-hub/${name}:0.1.0` });
const images: BuiltImages = { hub: image("kmm-hub", "a"), spoke: image("kmm-hub-spoke", "b"), worker: image("kmm-hub-worker", "c"), signer: image("kmm-hub-signer", "d") };
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Every `image:` value and every RELATED_IMAGE_* env value in a multi-document YAML text. */
function imagesIn(text: string): { images: string[]; related: Record<string, string> } {
  const found: string[] = [];
  const related: Record<string, string> = {};
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === "object") {
      const o = v as Record<string, unknown>;
      if (typeof o.image === "string") found.push(o.image);
      if (typeof o.name === "string" && o.name.startsWith("RELATED_IMAGE_") && typeof o.value === "string") related[o.name] = o.value;
      Object.values(o).forEach(walk);
    }
  };
  for (const doc of parseKubeDocuments(text)) walk(doc.toJS());
  return { images: found, related };
}

describe("writeManifests", () => {
  it("pins the hub Deployment to the hub and signer images and the spoke Policy to the spoke and worker images", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "kmm-manifests-"));
    dirs.push(dir);
    const files = await writeManifests(dir, images);
    expect(files.map((f) => path.basename(f))).toEqual(["kmm-hub.yaml", "install-kmm-spoke.yaml"]);
    const hubText = await readFile(path.join(dir, "kmm-hub.yaml"), "utf8");
    const hub = imagesIn(hubText);
    expect(hub.images).toEqual([images.hub.ref]);
    expect(hub.related).toEqual({ RELATED_IMAGE_SIGN: images.signer.ref });
    const spokeText = await readFile(path.join(dir, "install-kmm-spoke.yaml"), "utf8");
    const spoke = imagesIn(spokeText);
    expect(new Set(spoke.images)).toEqual(new Set([images.spoke.ref]));
    expect(spoke.related).toEqual({ RELATED_IMAGE_WORKER: images.worker.ref });
    // Every image either file names is REPO@sha256:… (no bare default left).
    for (const ref of [...imageReferences(hubText), ...imageReferences(spokeText)]) expect(ref).toMatch(/^registry\.example\.com\/kmm\/kmm-hub(-[a-z]+)?@sha256:[0-9a-f]{64}$/);
  });

  it("adds RELATED_IMAGE_BUILD (kaniko) when given, by digest only", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "kmm-manifests-"));
    dirs.push(dir);
    const kaniko = `registry.example.com/kmm/kaniko@${digest("e")}`;
    await writeManifests(dir, images, { buildImage: kaniko });
    expect(imagesIn(await readFile(path.join(dir, "kmm-hub.yaml"), "utf8")).related).toEqual({ RELATED_IMAGE_SIGN: images.signer.ref, RELATED_IMAGE_BUILD: kaniko });
    await expect(writeManifests(dir, images, { buildImage: "gcr.io/kaniko-project/executor:latest" })).rejects.toThrow(/build \(kaniko\) image .* is not pinned by digest/);
  });

  it("writes install files kubectl (YAML 1.1) and YAML 1.2 readers read alike, registries named by address and port included", async () => {
    // The registry of a local fleet is 127.0.0.1:PORT: a digit-led reference the writer may quote, so
    // what counts is what a reader gets back, not the text (the e2e install chain once grepped for it).
    const local = (name: string, c: string) => ({ ...image(name, c), ref: `127.0.0.1:39155/kmm-hub/${name}@${digest(c)}` });
    const byAddress: BuiltImages = { hub: local("kmm-hub", "a"), spoke: local("kmm-hub-spoke", "b"), worker: local("kmm-hub-worker", "c"), signer: local("kmm-hub-signer", "d") };
    const dir = await mkdtemp(path.join(tmpdir(), "kmm-manifests-"));
    dirs.push(dir);
    await writeManifests(dir, byAddress, { buildImage: `127.0.0.1:39155/kmm-hub/kaniko@${digest("e")}` });
    for (const file of ["kmm-hub.yaml", "install-kmm-spoke.yaml"]) {
      const text = await readFile(path.join(dir, file), "utf8");
      const asKubectl = parseKubeDocuments(text).map((d) => d.toJS() as unknown);
      expect(readWithPyYaml(text)).toEqual(asKubectl);
      expect(parseAllDocuments(text).map((d) => d.toJS() as unknown)).toEqual(asKubectl);
    }
    const hub = imagesIn(await readFile(path.join(dir, "kmm-hub.yaml"), "utf8"));
    expect(hub.images).toEqual([byAddress.hub.ref]);
    expect(hub.related).toEqual({ RELATED_IMAGE_SIGN: byAddress.signer.ref, RELATED_IMAGE_BUILD: `127.0.0.1:39155/kmm-hub/kaniko@${digest("e")}` });
    const spoke = imagesIn(await readFile(path.join(dir, "install-kmm-spoke.yaml"), "utf8"));
    expect(new Set(spoke.images)).toEqual(new Set([byAddress.spoke.ref]));
    expect(spoke.related).toEqual({ RELATED_IMAGE_WORKER: byAddress.worker.ref });
  });

  it("refuses an image that is not pinned by digest", async () => {
    await expect(hubManifests({ hub: "registry.example.com/kmm/kmm-hub:latest", signer: images.signer.ref })).rejects.toThrow(ManifestError);
    await expect(writeManifests(tmpdir(), { ...images, worker: { ...images.worker, ref: images.worker.tagged } })).rejects.toThrow(/worker image .* is not pinned by digest/);
  });
});
