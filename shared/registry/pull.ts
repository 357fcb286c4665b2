import { pipeline } from "node:stream/promises";
import { PassThrough } from "node:stream";
import type { CallOptions, RegistryClient } from "./client.ts";
import { ImageNotFoundError, RegistryError } from "./errors.ts";
import { decompressorFor, extractLayer, type ExtractResult } from "./extract.ts";
import { formatReference, parseReference, repositoryName, type ImageReference } from "./reference.ts";
import type { ImageConfig, ImageManifest, Platform } from "./schemas.ts";

export interface PullResult {
  /** Digest of what the reference names (the index digest for a multi-arch image). */
  digest: string;
  /** Digest of the single-platform manifest that was extracted. */
  manifestDigest: string;
  manifest: ImageManifest;
  config: ImageConfig;
  layers: ExtractResult[];
}

export interface PullOptions extends CallOptions {
  platform?: Pick<Platform, "os" | "architecture" | "variant">;
}

/**
 * Pulls an image and extracts its layers in order into `target`. Blobs are
 * verified while they stream; a digest mismatch fails the pull after the
 * offending layer was written, so extract into a fresh directory and discard
 * it on error.
 */
export async function pullImage(
  client: RegistryClient,
  input: string | ImageReference,
  target: string,
  opts: PullOptions = {},
): Promise<PullResult> {
  const ref = typeof input === "string" ? parseReference(input) : input;
  const platform = opts.platform ?? { os: "linux", architecture: "amd64" };
  const top = await client.getManifest(ref, opts);
  let manifest: ImageManifest;
  let manifestDigest = top.digest;
  if (top.kind === "index") {
    const chosen = client.selectPlatform(top.index, platform);
    if (!chosen) {
      throw new ImageNotFoundError({
        image: `${formatReference(ref)} for ${platform.os}/${platform.architecture}${platform.variant ? `/${platform.variant}` : ""}`,
        registry: ref.registry,
      });
    }
    const child = await client.getManifest(parseReference(`${repositoryName(ref)}@${chosen.digest}`), opts);
    if (child.kind !== "image") {
      throw new RegistryError("an index entry points at another index", { image: formatReference(ref), registry: ref.registry });
    }
    manifest = child.manifest;
    manifestDigest = child.digest;
  } else {
    manifest = top.manifest;
  }

  const config = await client.readConfig(ref, manifest, opts);
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new RegistryError(
      `image config lists ${config.rootfs.diff_ids.length} layers but the manifest has ${manifest.layers.length}`,
      { image: formatReference(ref), registry: ref.registry },
    );
  }
  const layers: ExtractResult[] = [];
  for (const layer of manifest.layers) {
    const decompress = decompressorFor(layer.mediaType);
    const blob = await client.openBlob(ref, layer, opts);
    const tarStream = new PassThrough();
    const extracting = extractLayer(tarStream, target);
    // A failing extraction must stop the download too, and the reverse.
    const copying = decompress ? pipeline(blob, decompress, tarStream) : pipeline(blob, tarStream);
    const [extracted] = await Promise.all([
      extracting.catch((err: unknown) => {
        blob.destroy();
        tarStream.destroy();
        throw err;
      }),
      copying,
    ]);
    layers.push(extracted);
  }
  return { digest: top.digest, manifestDigest, manifest, config, layers };
}
