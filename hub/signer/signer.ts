// Signs the kernel modules inside an image without rebuilding it: finds filesToSign in the
// unsigned image, signs each with sign-file (skipping modules already signed by this key), appends
// exactly one layer holding the signed files at the same paths with the same modes, owners and
// mtimes, and pushes the image under the destination. Upstream KMM reaches the same result by
// running a generated Dockerfile through kaniko; appending a layer keeps every other byte of the
// image, needs no root and no build tool, and is reproducible for deterministic signatures (RSA).
import { createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Logger } from "pino";
import { sha256, type CallOptions, type RegistryClient } from "../../shared/registry/client.ts";
import type { Keychain } from "../../shared/registry/keychain.ts";
import { buildLayer, type Layer } from "../../shared/registry/push.ts";
import { parseReference, type ImageReference } from "../../shared/registry/reference.ts";
import { MediaType } from "../../shared/registry/schemas.ts";
import type { TarWriteEntry } from "../../shared/registry/tar.ts";
import { readImage, type SourceImage, type TreeEntry } from "./image.ts";
import { isSignedWith, stripSignature } from "./module-signature.ts";
import { signModule } from "./sign-file.ts";

export class SignerError extends Error {
  override readonly name = "SignerError";
}

export interface SignImageOptions {
  client: RegistryClient;
  keychain: Keychain;
  unsignedImage: string;
  destination: string;
  /** Absolute paths or globs inside the image, each under dirName. */
  filesToSign: readonly string[];
  dirName: string;
  keyFile: string;
  certFile: string;
  signFile: string;
  pullTLS: { insecure: boolean; insecureSkipTLSVerify: boolean };
  pushTLS: { insecure: boolean; insecureSkipTLSVerify: boolean };
  platform: { os: string; architecture: string; variant?: string };
  log: Logger;
  /** Parent of the scratch directory (os.tmpdir() by default). */
  tmpDir?: string;
}

export interface SignImageResult {
  /** Digest of the manifest pushed under the destination. */
  digest: string;
  /** Paths (absolute, in the image) signed now. */
  signed: string[];
  /** Paths already signed with this key, left as they were. */
  alreadySigned: string[];
  /** Number of layers added (1, or 0 when every module was already signed). */
  layersAdded: number;
}

/** What one match of filesToSign turns into: the path written in the new layer and where its content comes from. */
interface Target {
  writePath: string;
  source: TreeEntry;
}

const GLOB = /[*?[\]{}]/;
const MAX_LINK_HOPS = 40;

/** Follows symlinks (lexically, inside the image) and hard links to the regular file behind `entryPath`. */
function resolveFile(tree: Map<string, TreeEntry>, entryPath: string, image: string): TreeEntry {
  let current = entryPath;
  for (let hop = 0; hop <= MAX_LINK_HOPS; hop++) {
    const entry = tree.get(current);
    if (entry === undefined) throw new SignerError(`/${entryPath} in ${image} leads to /${current}, which does not exist`);
    switch (entry.header.type) {
      case "file":
        return entry;
      case "hardlink":
        current = path.posix.normalize(entry.header.linkname).replace(/^\/+/, "");
        break;
      case "symlink": {
        const link = entry.header.linkname;
        const target = path.posix.normalize(link.startsWith("/") ? link : path.posix.join(path.posix.dirname(current), link));
        if (target === ".." || target.startsWith("../")) {
          throw new SignerError(`/${entryPath} in ${image} is a symlink pointing outside the image (${link})`);
        }
        current = target.replace(/^\/+/, "");
        break;
      }
      default:
        throw new SignerError(`/${entryPath} in ${image} is a ${entry.header.type}, not a kernel module file`);
    }
  }
  throw new SignerError(`/${entryPath} in ${image}: more than ${MAX_LINK_HOPS} links to follow`);
}

/** The files the patterns select, each once; throws when a pattern selects nothing. */
export function selectTargets(tree: Map<string, TreeEntry>, patterns: readonly string[], image: string): Target[] {
  const targets = new Map<string, Target>();
  for (const pattern of patterns) {
    const rel = pattern.replace(/^\/+/, "");
    const matches = GLOB.test(rel)
      ? [...tree.keys()].filter((p) => tree.get(p)?.header.type !== "directory" && path.posix.matchesGlob(p, rel)).sort()
      : tree.has(rel)
        ? [rel]
        : [];
    if (matches.length === 0) throw new SignerError(`filesToSign entry ${pattern} matches no file in ${image}`);
    for (const match of matches) {
      const source = resolveFile(tree, match, image);
      // A symlink is kept and its target signed; a hard link is written as a signed regular file,
      // because a new file in the added layer no longer shares the lower layer's inode.
      const writePath = tree.get(match)?.header.type === "symlink" ? source.path : match;
      if (source.file === undefined) {
        throw new SignerError(`/${match} in ${image} resolves to /${source.path}, outside dirName: only modules under dirName are signed`);
      }
      targets.set(writePath, { writePath, source });
    }
  }
  return [...targets.values()].sort((a, b) => (a.writePath < b.writePath ? -1 : 1));
}

function loadSigningPair(keyFile: string, certFile: string, key: Buffer, cert: Buffer): KeyObject {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch {
    throw new SignerError(`${certFile} is not an X.509 certificate (PEM or DER)`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    try {
      privateKey = createPrivateKey({ key, format: "der", type: "pkcs8" });
    } catch {
      throw new SignerError(`${keyFile} is not a private key (PEM, or DER PKCS#8)`);
    }
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new SignerError(`the private key in ${keyFile} does not belong to the certificate in ${certFile}`);
  }
  return certificate.publicKey;
}

/** Config and manifest of the source image with one more layer (raw JSON edited, other fields kept). */
export function appendLayer(image: SourceImage, layer: Layer, createdBy: string): { config: Buffer; manifest: Buffer; mediaType: string } {
  const config = JSON.parse(image.configBytes.toString("utf8")) as Record<string, unknown> & {
    rootfs: { diff_ids: string[] };
    history?: unknown[];
  };
  config.rootfs.diff_ids = [...config.rootfs.diff_ids, layer.diffId];
  if (Array.isArray(config.history)) config.history = [...config.history, { created_by: createdBy, comment: "kmm-hub signer" }];
  const configBytes = Buffer.from(JSON.stringify(config));
  const mediaType = image.manifest.mediaType ?? image.manifestMediaType;
  const docker = mediaType === MediaType.dockerManifest;
  const manifest = JSON.parse(image.manifestBytes.toString("utf8")) as Record<string, unknown> & {
    config: Record<string, unknown>;
    layers: unknown[];
  };
  manifest.config = { ...manifest.config, digest: sha256(configBytes), size: configBytes.length };
  manifest.layers = [
    ...manifest.layers,
    { mediaType: docker ? MediaType.dockerLayerGzip : MediaType.ociLayerGzip, digest: layer.digest, size: layer.blob.length },
  ];
  return { config: configBytes, manifest: Buffer.from(JSON.stringify(manifest)), mediaType: mediaType || MediaType.ociManifest };
}

async function pushImage(
  opts: SignImageOptions,
  source: SourceImage,
  dest: ImageReference,
  manifest: { config: Buffer; manifest: Buffer; mediaType: string },
  extra: Layer | undefined,
): Promise<string> {
  const call: CallOptions = { tls: opts.pushTLS, keychain: opts.keychain };
  const mountFrom = source.ref.registry === dest.registry ? source.ref.repository : undefined;
  for (const { descriptor, file } of source.layers) {
    await opts.client.pushBlob(dest, { file }, { ...call, digest: descriptor.digest, ...(mountFrom ? { mountFrom } : {}) });
  }
  if (extra) await opts.client.pushBlob(dest, extra.blob, { ...call, digest: extra.digest });
  await opts.client.pushBlob(dest, manifest.config, call);
  return opts.client.putManifest(dest, manifest.manifest, manifest.mediaType, call);
}

/**
 * Signs the modules of `unsignedImage` and pushes the result to `destination`. Throws SignerError
 * (bad key pair, a pattern matching nothing, a module outside dirName), SignFileError, and the
 * registry client's typed errors. Never reads the key into a log, an error or the image.
 */
export async function signImage(opts: SignImageOptions): Promise<SignImageResult> {
  const [key, cert] = await Promise.all([readFile(opts.keyFile), readFile(opts.certFile)]);
  const publicKey = loadSigningPair(opts.keyFile, opts.certFile, key, cert);
  key.fill(0);
  const dest = parseReference(opts.destination);
  const dirPrefix = `${opts.dirName.replace(/^\/+|\/+$/g, "")}/`;
  const work = await mkdtemp(path.join(opts.tmpDir ?? tmpdir(), "kmm-signer-"));
  try {
    const source = await readImage(opts.client, opts.unsignedImage, {
      call: { tls: opts.pullTLS, keychain: opts.keychain },
      platform: opts.platform,
      workDir: work,
      capture: (p) => p.startsWith(dirPrefix),
    });
    const targets = selectTargets(source.tree, opts.filesToSign, opts.unsignedImage);
    const entries: TarWriteEntry[] = [];
    const signed: string[] = [];
    const alreadySigned: string[] = [];
    for (const [i, { writePath, source: entry }] of targets.entries()) {
      const content = await readFile(entry.file ?? "");
      if (isSignedWith(content, publicKey)) {
        alreadySigned.push(`/${writePath}`);
        opts.log.info({ file: `/${writePath}` }, "already signed with this key; left as it is");
        continue;
      }
      const scratch = path.join(work, `sign-${i}.ko`);
      await writeFile(scratch, stripSignature(content), { mode: 0o600 });
      await signModule(opts.signFile, opts.keyFile, opts.certFile, scratch);
      const signedContent = await readFile(scratch);
      if (!isSignedWith(signedContent, publicKey)) {
        throw new SignerError(`sign-file left /${writePath} without a signature that verifies with ${opts.certFile}`);
      }
      const { header } = entry;
      entries.push({
        path: writePath,
        content: signedContent,
        mode: header.mode & 0o7777,
        uid: header.uid,
        gid: header.gid,
        uname: header.uname,
        gname: header.gname,
        mtime: header.mtime,
      });
      signed.push(`/${writePath}`);
      opts.log.info({ file: `/${writePath}` }, "signed");
    }

    let digest: string;
    if (entries.length === 0) {
      // Nothing to add: the destination gets the source manifest unchanged (same digest).
      digest = await pushImage(opts, source, dest, { config: source.configBytes, manifest: source.manifestBytes, mediaType: source.manifestMediaType }, undefined);
    } else {
      const layer = buildLayer(entries);
      const next = appendLayer(source, layer, `kmm-hub signer: sign-file sha256 ${signed.join(" ")}`);
      digest = await pushImage(opts, source, dest, next, layer);
    }
    return { digest, signed, alreadySigned, layersAdded: entries.length === 0 ? 0 : 1 };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
