import { constants as fsc } from "node:fs";
import { chmod, link, lstat, mkdir, open, readdir, rm, symlink } from "node:fs/promises";
import path from "node:path";
import type { Readable, Transform } from "node:stream";
import zlib from "node:zlib";
import { UnsafeLayerError } from "./errors.ts";
import { readTar } from "./tar.ts";

// Layer extraction that cannot write outside its target directory: entries
// with absolute paths or ".." components are refused, links may not point
// outside the target, and nothing is written through a symlink. OCI whiteouts
// (".wh.<name>", ".wh..wh..opq") delete what lower layers put there.

/** OCI whiteout names: ".wh.<name>" hides <name> of lower layers, ".wh..wh..opq" all of its directory. */
export const WHITEOUT_PREFIX = ".wh.";
export const OPAQUE_WHITEOUT = ".wh..wh..opq";

export interface ExtractResult {
  files: number;
  directories: number;
  links: number;
  whiteouts: number;
  /** Device nodes and FIFOs: an unprivileged extraction cannot create them. */
  skipped: string[];
}

/** Splits an entry name into safe components relative to the target, or throws. */
export function safeComponents(name: string, what = name): string[] {
  if (name.includes("\0")) throw new UnsafeLayerError(what, "the name contains a NUL byte");
  // "/" alone is the root directory itself (kaniko writes such an entry when a step changes the
  // root's mode or mtime): nothing to write, nothing outside the target.
  if (name.startsWith("/") && !/^\/+$/.test(name)) throw new UnsafeLayerError(what, "absolute paths are not allowed in a layer");
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw new UnsafeLayerError(what, 'a ".." component would leave the target directory');
  return parts;
}

async function lstatOrUndefined(p: string): Promise<Awaited<ReturnType<typeof lstat>> | undefined> {
  try {
    return await lstat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** Creates the parent directories of `parts` under root, refusing to traverse symlinks. */
async function ensureParents(root: string, parts: readonly string[], entry: string): Promise<string> {
  let current = root;
  for (const part of parts.slice(0, -1)) {
    current = path.join(current, part);
    const st = await lstatOrUndefined(current);
    if (st?.isSymbolicLink()) {
      throw new UnsafeLayerError(entry, `its parent ${path.relative(root, current)} is a symlink; writing through it could leave the target`);
    }
    if (st?.isDirectory()) continue;
    if (st) await rm(current, { force: true });
    await mkdir(current, { mode: 0o755 });
  }
  return path.join(root, ...parts);
}

/** Whether a symlink at `parts` pointing at `target` stays inside the root, resolved lexically. */
function symlinkStaysInside(parts: readonly string[], target: string): boolean {
  if (target.startsWith("/")) return false;
  const resolved = path.posix.normalize(path.posix.join(...parts.slice(0, -1), target));
  return resolved !== ".." && !resolved.startsWith("../");
}

/** Extracts one uncompressed layer tar into `root` (created if missing). */
export async function extractLayer(tar: Readable | AsyncIterable<Buffer>, root: string): Promise<ExtractResult> {
  await mkdir(root, { recursive: true });
  const absRoot = path.resolve(root);
  const result: ExtractResult = { files: 0, directories: 0, links: 0, whiteouts: 0, skipped: [] };
  // Paths this layer wrote: an opaque whiteout hides lower layers, not its own layer.
  const written = new Set<string>();

  for await (const { header, body } of readTar(tar)) {
    const parts = safeComponents(header.path);
    if (parts.length === 0) continue;
    const rel = parts.join("/");
    const base = parts[parts.length - 1] ?? "";

    if (base.startsWith(WHITEOUT_PREFIX)) {
      const dirParts = parts.slice(0, -1);
      const dir = await ensureParents(absRoot, [...dirParts, "x"], header.path);
      const dirPath = path.dirname(dir);
      if (base === OPAQUE_WHITEOUT) {
        for (const child of await readdir(dirPath)) {
          const childRel = [...dirParts, child].join("/");
          if (!written.has(childRel)) await rm(path.join(dirPath, child), { recursive: true, force: true });
        }
      } else {
        const hidden = base.slice(WHITEOUT_PREFIX.length);
        safeComponents(hidden, header.path);
        await rm(path.join(dirPath, hidden), { recursive: true, force: true });
      }
      result.whiteouts++;
      continue;
    }

    const dest = await ensureParents(absRoot, parts, header.path);
    const existing = await lstatOrUndefined(dest);
    if (existing && !(existing.isDirectory() && header.type === "directory")) {
      await rm(dest, { recursive: true, force: true });
    }
    // Set-id bits from an image are not trusted on the host.
    const mode = header.mode & 0o777;

    switch (header.type) {
      case "directory":
        if (!existing?.isDirectory()) await mkdir(dest, { mode: 0o755 });
        await chmod(dest, mode | 0o700);
        result.directories++;
        break;
      case "file":
      case "other": {
        if (header.type === "other") {
          result.skipped.push(`${rel} (typeflag ${JSON.stringify(header.typeflag)})`);
          break;
        }
        const fh = await open(dest, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
        try {
          for await (const chunk of body()) await fh.write(chunk);
        } finally {
          await fh.close();
        }
        await chmod(dest, mode);
        result.files++;
        break;
      }
      case "symlink":
        if (!symlinkStaysInside(parts, header.linkname)) {
          throw new UnsafeLayerError(header.path, `symlink target ${JSON.stringify(header.linkname)} points outside the target directory`);
        }
        await symlink(header.linkname, dest);
        result.links++;
        break;
      case "hardlink": {
        const sourceParts = safeComponents(header.linkname, header.path);
        const source = await ensureParents(absRoot, sourceParts, header.path);
        const st = await lstatOrUndefined(source);
        if (!st?.isFile()) {
          throw new UnsafeLayerError(header.path, `hard link target ${JSON.stringify(header.linkname)} is not a regular file in the target`);
        }
        await link(source, dest);
        result.links++;
        break;
      }
      default:
        result.skipped.push(rel);
        continue;
    }
    written.add(rel);
  }
  return result;
}

/** zstd needs zlib.createZstdDecompress (Node >= 23.8); undefined when this Node lacks it. */
function zstdDecompressor(): Transform | undefined {
  const factory = (zlib as unknown as Record<string, unknown>).createZstdDecompress;
  return typeof factory === "function" ? (factory as () => Transform)() : undefined;
}

export class UnsupportedLayerError extends Error {
  override readonly name = "UnsupportedLayerError";
}

/** The decompressor for a layer media type (or identity for plain tar). */
export function decompressorFor(mediaType: string): Transform | undefined {
  if (mediaType.endsWith("+gzip") || mediaType.endsWith(".tar.gzip") || mediaType.endsWith("tar.gz")) return zlib.createGunzip();
  if (mediaType.endsWith("+zstd") || mediaType.endsWith(".tar.zstd")) {
    const z = zstdDecompressor();
    if (!z) throw new UnsupportedLayerError(`layer media type ${mediaType} needs zstd, which this Node.js lacks (Node >= 23.8 has it)`);
    return z;
  }
  if (mediaType.endsWith(".tar") || mediaType.endsWith(".diff.tar")) return undefined;
  throw new UnsupportedLayerError(`layer media type ${mediaType} is not a tar layer this client can extract`);
}
