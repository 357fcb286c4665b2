import { gzipSync } from "node:zlib";
import { sha256, type CallOptions, type RegistryClient } from "./client.ts";
import { parseReference, repositoryName, type ImageReference } from "./reference.ts";
import { MediaType, type Descriptor, type ImageConfig, type Platform } from "./schemas.ts";
import { createTar, type TarWriteEntry } from "./tar.ts";

export interface Layer {
  /** The compressed blob as stored in the registry. */
  blob: Buffer;
  digest: string;
  /** sha256 of the uncompressed tar: what the config's rootfs.diff_ids lists. */
  diffId: string;
  mediaType: string;
}

/** Builds a gzip-compressed OCI layer from tar entries. */
export function buildLayer(entries: readonly TarWriteEntry[]): Layer {
  return layerFromTar(createTar(entries));
}

/** Compresses an existing tar into an OCI gzip layer. */
export function layerFromTar(tar: Buffer): Layer {
  // mtime 0 in the gzip header keeps layers byte-for-byte reproducible.
  const blob = gzipSync(tar);
  return { blob, digest: sha256(blob), diffId: sha256(tar), mediaType: MediaType.ociLayerGzip };
}

export interface ImageToPush {
  layers: readonly Layer[];
  platform?: Pick<Platform, "os" | "architecture">;
  /** Extra config fields (Env, Entrypoint...) under the config's "config" key. */
  runConfig?: Record<string, unknown>;
  annotations?: Record<string, string>;
}

export interface PushedImage {
  digest: string;
  manifest: Buffer;
  descriptor: Descriptor;
}

/** The config and manifest bytes of an image (no I/O), so callers can know the digest up front. */
export function imageDocuments(image: ImageToPush): { config: Buffer; manifest: Buffer } {
  const platform = image.platform ?? { os: "linux", architecture: "amd64" };
  const configDoc: ImageConfig = {
    architecture: platform.architecture,
    os: platform.os,
    config: image.runConfig ?? {},
    rootfs: { type: "layers", diff_ids: image.layers.map((l) => l.diffId) },
  };
  const config = Buffer.from(JSON.stringify(configDoc));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: sha256(config), size: config.length },
      layers: image.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.blob.length })),
      ...(image.annotations ? { annotations: image.annotations } : {}),
    }),
  );
  return { config, manifest };
}

export interface PushOptions extends CallOptions {
  /** Mount blobs from this repository of the same registry instead of uploading them. */
  mountFrom?: string;
  /** Upload in chunks of this many bytes instead of one PUT. */
  chunkSize?: number;
}

/** Pushes layers, config and manifest; returns the manifest digest. */
export async function pushImage(
  client: RegistryClient,
  input: string | ImageReference,
  image: ImageToPush,
  opts: PushOptions = {},
): Promise<PushedImage> {
  const ref = typeof input === "string" ? parseReference(input) : input;
  const { config, manifest } = imageDocuments(image);
  for (const layer of image.layers) {
    await client.pushBlob(ref, layer.blob, { ...opts, digest: layer.digest });
  }
  await client.pushBlob(ref, config, opts);
  const digest = await client.putManifest(ref, manifest, MediaType.ociManifest, opts);
  const platform = image.platform ?? { os: "linux", architecture: "amd64" };
  return {
    digest,
    manifest,
    descriptor: { mediaType: MediaType.ociManifest, digest, size: manifest.length, platform: { ...platform } },
  };
}

/** Pushes an OCI index over already pushed manifests; returns the index digest. */
export async function pushIndex(
  client: RegistryClient,
  input: string | ImageReference,
  manifests: readonly Descriptor[],
  opts: CallOptions = {},
): Promise<{ digest: string; bytes: Buffer }> {
  const ref = typeof input === "string" ? parseReference(input) : input;
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }));
  const digest = await client.putManifest(ref, bytes, MediaType.ociIndex, opts);
  return { digest, bytes };
}

/** Where a pushed image can be found by digest. */
export function digestReference(ref: ImageReference, digest: string): string {
  return `${repositoryName(ref)}@${digest}`;
}
