// The manifests `npm run images -- --push --manifests DIR` writes name the built images by digest,
// in the places the hub Deployment and the spoke Policy read them.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import type { BuiltImages } from "./build.ts";
import { ManifestError, hubManifests, writeManifests } from "./manifests.ts";

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
  for (const doc of parseAllDocuments(text)) walk(doc.toJS());
  return { images: found, related };
}

describe("writeManifests", () => {
  it("pins the hub Deployment to the hub image and the spoke Policy to the spoke and worker images", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "kmm-manifests-"));
    dirs.push(dir);
    const files = await writeManifests(dir, images);
    expect(files.map((f) => path.basename(f))).toEqual(["kmm-hub.yaml", "install-kmm-spoke.yaml"]);
    const hub = imagesIn(await readFile(path.join(dir, "kmm-hub.yaml"), "utf8"));
    expect(hub.images).toEqual([images.hub.ref]);
    const spoke = imagesIn(await readFile(path.join(dir, "install-kmm-spoke.yaml"), "utf8"));
    expect(new Set(spoke.images)).toEqual(new Set([images.spoke.ref]));
    expect(spoke.related).toEqual({ RELATED_IMAGE_WORKER: images.worker.ref });
  });

  it("refuses an image that is not pinned by digest", async () => {
    await expect(hubManifests("registry.example.com/kmm/kmm-hub:latest")).rejects.toThrow(ManifestError);
    await expect(writeManifests(tmpdir(), { ...images, worker: { ...images.worker, ref: images.worker.tagged } })).rejects.toThrow(/worker image .* is not pinned by digest/);
  });
});
