// Reads an image as the signer needs it: the platform manifest and config as raw bytes (so the new
// image keeps every field it does not change), each layer blob saved once to disk (to push it on
// to the destination), and the image's final file tree with OCI whiteouts applied, keeping the
// tar headers (modes, owners, mtimes) and the content of the files under dirName. Entry names are
// checked like extractLayer does: absolute paths and ".." are refused; nothing is written to a
// path taken from the archive.
import { createReadStream, createWriteStream } from "node:fs";
import { open } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import type { Readable } from "node:stream";
import type { CallOptions, RegistryClient } from "../../shared/registry/client.ts";
import { ImageNotFoundError, RegistryError } from "../../shared/registry/errors.ts";
import { decompressorFor, OPAQUE_WHITEOUT, safeComponents, WHITEOUT_PREFIX } from "../../shared/registry/extract.ts";
import { formatReference, parseReference, repositoryName, type ImageReference } from "../../shared/registry/reference.ts";
import { type Descriptor, type ImageManifest } from "../../shared/registry/schemas.ts";
import { readTar, type TarHeader } from "../../shared/registry/tar.ts";

export interface TreeEntry {
  /** Path inside the image, without a leading slash ("opt/lib/modules/…/x.ko"). */
  path: string;
  header: TarHeader;
  /** Index of the layer that put it there. */
  layer: number;
  /** Local copy of the content (regular files that `capture` selected). */
  file?: string;
}

export interface SourceImage {
  ref: ImageReference;
  /** Digest of the single-platform manifest read. */
  manifestDigest: string;
  manifestBytes: Buffer;
  manifestMediaType: string;
  manifest: ImageManifest;
  configBytes: Buffer;
  layers: { descriptor: Descriptor; file: string }[];
  tree: Map<string, TreeEntry>;
}

export interface ReadImageOptions {
  call: CallOptions;
  platform: { os: string; architecture: string; variant?: string };
  /** Scratch directory for blobs and file contents (the caller removes it). */
  workDir: string;
  /** Which regular files' content to keep. */
  capture: (entryPath: string) => boolean;
}

/**
 * Reads `input` (an index is narrowed to `platform`). Throws the registry client's typed errors,
 * UnsafeLayerError for entries that would leave the image root, and RegistryError when the config
 * does not list one diff_id per layer.
 */
export async function readImage(client: RegistryClient, input: string | ImageReference, opts: ReadImageOptions): Promise<SourceImage> {
  const ref = typeof input === "string" ? parseReference(input) : input;
  let fetched = await client.getManifest(ref, opts.call);
  if (fetched.kind === "index") {
    const chosen = client.selectPlatform(fetched.index, opts.platform);
    if (!chosen) {
      const p = opts.platform;
      throw new ImageNotFoundError({
        image: `${formatReference(ref)} for ${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`,
        registry: ref.registry,
      });
    }
    fetched = await client.getManifest(parseReference(`${repositoryName(ref)}@${chosen.digest}`), opts.call);
  }
  if (fetched.kind !== "image") {
    throw new RegistryError("an index entry points at another index", { image: formatReference(ref), registry: ref.registry });
  }
  const manifest = fetched.manifest;
  const configBytes = await client.readBlob(ref, manifest.config, opts.call);
  const config = JSON.parse(configBytes.toString("utf8")) as { rootfs?: { diff_ids?: unknown[] } };
  if ((config.rootfs?.diff_ids?.length ?? -1) !== manifest.layers.length) {
    throw new RegistryError(`image config lists ${config.rootfs?.diff_ids?.length ?? 0} layers but the manifest has ${manifest.layers.length}`, {
      image: formatReference(ref),
      registry: ref.registry,
    });
  }

  const tree = new Map<string, TreeEntry>();
  const layers: SourceImage["layers"] = [];
  let captured = 0;
  for (const [index, descriptor] of manifest.layers.entries()) {
    const file = path.join(opts.workDir, `layer-${index}`);
    await pipeline(await client.openBlob(ref, descriptor, opts.call), createWriteStream(file, { mode: 0o600 }));
    layers.push({ descriptor, file });
    const decompress = decompressorFor(descriptor.mediaType);
    const source = createReadStream(file);
    const tar: Readable = decompress ? source.pipe(decompress) : source;
    source.once("error", (err) => tar.destroy(err));
    await applyLayer(tree, tar, index, async (entryPath, body) => {
      if (!opts.capture(entryPath)) return undefined;
      const out = path.join(opts.workDir, `content-${captured++}`);
      const fh = await open(out, "wx", 0o600);
      try {
        for await (const chunk of body()) await fh.write(chunk);
      } finally {
        await fh.close();
      }
      return out;
    });
  }
  return {
    ref,
    manifestDigest: fetched.digest,
    manifestBytes: fetched.bytes,
    manifestMediaType: fetched.mediaType,
    manifest,
    configBytes,
    layers,
    tree,
  };
}

function removeUnder(tree: Map<string, TreeEntry>, prefix: string, keep: (e: TreeEntry) => boolean = () => false): void {
  for (const [p, e] of tree) if (p.startsWith(prefix) && !keep(e)) tree.delete(p);
}

/**
 * Applies one layer's tar to the tree as overlay filesystems do (whiteouts, opaque directories,
 * replaced directories); `keepContent` stores a regular file's body and returns where. Throws
 * UnsafeLayerError for names with ".." or a leading "/", and TarFormatError for a broken archive.
 */
export async function applyLayer(
  tree: Map<string, TreeEntry>,
  tar: Readable,
  layer: number,
  keepContent: (entryPath: string, body: () => AsyncGenerator<Buffer>) => Promise<string | undefined>,
): Promise<void> {
  for await (const { header, body } of readTar(tar)) {
    const parts = safeComponents(header.path);
    if (parts.length === 0) continue;
    const entryPath = parts.join("/");
    const base = parts[parts.length - 1] ?? "";
    const dir = parts.slice(0, -1).join("/");
    const dirPrefix = dir === "" ? "" : `${dir}/`;
    if (base === OPAQUE_WHITEOUT) {
      // Hides what lower layers put in the directory, not what this layer adds.
      removeUnder(tree, dirPrefix, (e) => e.layer === layer);
      continue;
    }
    if (base.startsWith(WHITEOUT_PREFIX)) {
      const hidden = base.slice(WHITEOUT_PREFIX.length);
      safeComponents(hidden, header.path);
      tree.delete(`${dirPrefix}${hidden}`);
      removeUnder(tree, `${dirPrefix}${hidden}/`);
      continue;
    }
    if (header.type === "hardlink") safeComponents(header.linkname, header.path);
    const previous = tree.get(entryPath);
    if (previous?.header.type === "directory" && header.type !== "directory") removeUnder(tree, `${entryPath}/`);
    const entry: TreeEntry = { path: entryPath, header, layer };
    if (header.type === "file") {
      const file = await keepContent(entryPath, body);
      if (file !== undefined) entry.file = file;
    }
    tree.set(entryPath, entry);
  }
}
