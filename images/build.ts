// Builds the four KMM-Hub images (hub, spoke, worker, signer) with Debian's buildah — chroot
// isolation, the host network namespace (no bridge, no iptables), the project's own overlay
// storage under .cache/images — and optionally pushes them and returns their digests.
// Reproducible however warm the storage: fixed timestamps (--timestamp 0), sorted tars, labels
// from the commit, and no buildah layer cache (--layers=false: its cache keys ignore --label,
// --annotation and --omit-history, so a cached step could bring an earlier build's metadata).
// The Dockerfiles' build stage runs on the host instead (images/stage.ts, stageContext): buildah
// gets its output as the build context named `build`, which takes that stage's place, and builds
// only the images whose staged program changed. Cached under keys of our own: the base images
// (images/base.ts), each Dockerfile's `packages` stage (base + node_modules, per state of the
// packages), a record per final image (keyed by its staged program's content, Dockerfile, base and
// labels), and a record of the last build per input key, which lets a call with unchanged inputs
// skip staging and buildah altogether.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { z } from "zod";
import { BUD_FLAGS, ensureBaseImages, type Flavour } from "./base.ts";
import { buildah, projectStorage, type Storage } from "./buildah.ts";
import { readLock, shippedPackages, stageDist, stagePackages, traceFiles } from "./stage.ts";
import { Keychain, RegistryClient, type RegistryTLS } from "../shared/registry/index.ts";

const run = promisify(execFile);

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const DEFAULT_CACHE_DIR = path.join(ROOT, ".cache", "images");

/**
 * The four images: Dockerfile, repository name, base flavour, and the program's entry (the
 * `--program NAME=ENTRY` of its Dockerfile's build stage; images/dockerfiles.test.ts keeps them equal).
 */
export const IMAGES = {
  hub: { dockerfile: "hub/Dockerfile", name: "kmm-hub", base: "base", entry: "hub/cli.ts" },
  spoke: { dockerfile: "spoke/Dockerfile", name: "kmm-hub-spoke", base: "base", entry: "spoke/main.ts" },
  worker: { dockerfile: "spoke/worker/Dockerfile", name: "kmm-hub-worker", base: "kmod", entry: "spoke/worker/main.ts" },
  signer: { dockerfile: "hub/signer/Dockerfile", name: "kmm-hub-signer", base: "signer", entry: "hub/signer/main.ts" },
} as const satisfies Record<string, { dockerfile: string; name: string; base: Flavour; entry: string }>;
export type ImageName = keyof typeof IMAGES;
/** Bump when the labels or the use of the Dockerfiles change: the build records do not see them. */
const BUILD_FORMAT = 6;
export const IMAGE_NAMES = Object.keys(IMAGES) as ImageName[];

export const buildOptionsSchema = z.object({
  /** HOST[:PORT]/PREFIX the images are named under, e.g. 127.0.0.1:5000/kmm-hub. */
  registry: z
    .string()
    .regex(/^[a-zA-Z0-9.-]+(:\d+)?(\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/, "registry must be HOST[:PORT][/PREFIX] (lower-case path, no scheme, no trailing slash)"),
  /** Push over HTTPS with certificate checks (false: plain HTTP or unverified TLS, for local registries). */
  tlsVerify: z.boolean().default(true),
  push: z.boolean().default(false),
  /** Source folder (the build context); the repository by default. */
  root: z.string().default(ROOT),
  /** Where the base layers, the buildah storage and build records live. */
  cacheDir: z.string().default(DEFAULT_CACHE_DIR),
  /** Rebuild the Debian base (to pick up Debian updates: the cache key does not see package versions). */
  refreshBase: z.boolean().default(false),
  /** Ignore the build records: every image is built again (the base stays; see refreshBase). */
  noCache: z.boolean().default(false),
  /** The commit the labels name (org.opencontainers.image.revision); from git when absent. */
  revision: z.string().regex(/^[0-9a-f]{7,64}(-dirty)?$|^unknown$/, "revision must be a git commit id").optional(),
  /**
   * Folder of the registry's CA certificates (`*.crt`) and client certificates (`*.cert`/`*.key`),
   * laid out as containers-certs.d(5): buildah push --cert-dir.
   */
  certDir: z.string().optional(),
  /** Credentials file (containers-auth.json(5) or a docker config.json): buildah push --authfile. */
  authFile: z.string().optional(),
  /**
   * USERNAME:PASSWORD for the registry. Never on buildah's command line (where `ps` would show it):
   * it goes into a private, temporary auth file. Not with authFile.
   */
  creds: z.string().regex(/^[^:]+:.+$/s, "creds must be USERNAME:PASSWORD").optional(),
  log: z.custom<(line: string) => void>((v) => typeof v === "function").optional(),
}).refine((o) => o.authFile === undefined || o.creds === undefined, { message: "give either authFile or creds, not both" });
export type BuildOptions = z.input<typeof buildOptionsSchema>;

export interface BuiltImage {
  /** Pinned reference, REGISTRY/PREFIX/NAME@sha256:… (the registry's digest when pushed). */
  ref: string;
  /** Manifest digest: as pushed when `push`, else of the image in the local storage. */
  digest: string;
  /** REGISTRY/PREFIX/NAME:TAG */
  tagged: string;
  /** Local image in the project's storage. */
  local: string;
}
export type BuiltImages = Record<ImageName, BuiltImage>;

export interface BuildResult {
  images: BuiltImages;
  /** Whether buildah built any of the four (false: each was found unchanged in a build record). */
  built: boolean;
  pushed: boolean;
  storage: Storage;
  revision: string;
  version: string;
  baseKey: string;
}

export class ImageBuildError extends Error {
  override readonly name = "ImageBuildError";
}

/** Files whose content goes into the images, as .dockerignore admits them (the key of the build record). */
async function contextFiles(root: string): Promise<string[]> {
  const out: string[] = ["package.json", "package-lock.json", "images/stage.ts", ".dockerignore", "node_modules/.package-lock.json"];
  for (const img of Object.values(IMAGES)) out.push(img.dockerfile);
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(path.join(root, rel), { withFileTypes: true })) {
      const r = `${rel}/${e.name}`;
      if (e.isDirectory()) {
        if (e.name !== "testing" && e.name !== "deploy") await walk(r);
      } else if (!e.name.endsWith(".test.ts")) out.push(r);
    }
  };
  for (const d of ["shared", "hub", "spoke"]) await walk(d);
  return out.sort();
}

async function inputKey(root: string, extra: unknown): Promise<string> {
  const h = createHash("sha256").update(JSON.stringify(extra));
  for (const f of await contextFiles(root)) {
    const st = await lstat(path.join(root, f)).catch(() => undefined);
    // Size and mtime (ns) stand in for content: cheap, and any edit changes them.
    h.update(`${f}\0${st ? `${st.size}:${st.mtimeMs}` : "missing"}\n`);
  }
  return h.digest("hex").slice(0, 24);
}

/**
 * Copies the build context of the images (sources, lock file, .dockerignore, node_modules as hard
 * links) into `dest`, times kept, so a build sees one consistent state of a work tree that others
 * keep editing, and a second build can use the very same sources. Returns `dest`.
 */
export async function snapshotSources(dest: string, root = ROOT): Promise<string> {
  await mkdir(dest, { recursive: true });
  await run("cp", ["-a", ...["package.json", "package-lock.json", ".dockerignore", "images", "shared", "hub", "spoke"].map((f) => path.join(root, f)), dest]);
  await run("cp", ["-al", path.join(root, "node_modules"), path.join(dest, "node_modules")]);
  return dest;
}

/** Commit and version for the labels: `<sha>` or `<sha>-dirty` when sources differ from it. */
export async function sourceRevision(root = ROOT): Promise<{ revision: string; version: string }> {
  const pkg = z.object({ version: z.string() }).parse(JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")));
  let revision = "unknown";
  try {
    const { stdout } = await run("git", ["-C", root, "rev-parse", "HEAD"]);
    revision = stdout.trim();
    const { stdout: status } = await run("git", ["-C", root, "status", "--porcelain", "--", "package.json", "package-lock.json", "images/stage.ts", "shared", "hub", "spoke"]);
    const dirty = status.split("\n").some((l) => l.trim() !== "" && !/\.test\.ts$|\/testing\/|\/deploy\//.test(l));
    if (dirty) revision += "-dirty";
  } catch {
    // Not a git checkout (e.g. a source tarball): the labels say unknown.
  }
  return { revision, version: pkg.version };
}

/** One build at a time per cache folder (buildah's own locks do not cover the build record). */
async function withLock<T>(cacheDir: string, fn: () => Promise<T>): Promise<T> {
  const lock = path.join(cacheDir, "build.lock");
  await mkdir(cacheDir, { recursive: true });
  for (;;) {
    try {
      await mkdir(lock);
      await writeFile(path.join(lock, "pid"), String(process.pid));
      break;
    } catch {
      const pid = Number(await readFile(path.join(lock, "pid"), "utf8").catch(() => "0"));
      const alive = pid > 0 && (() => { try { process.kill(pid, 0); return true; } catch { return false; } })();
      const age = await stat(lock).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (!alive && age > 5_000) await rm(lock, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

/** A build: the image record key of each of the four, and the packages image each was built on (kept by prune). */
const recordSchema = z.object({ images: z.record(z.string(), z.string()), packages: z.record(z.string(), z.string()).default({}) });
/** One final image, keyed by what goes into it: where it is, its local digest, and the registries that hold it. */
const imageRecordSchema = z.object({
  local: z.string(),
  digest: z.string(),
  pushed: z.record(z.string(), z.string()).default({}),
});
type ImageRecord = z.infer<typeof imageRecordSchema>;

async function writeImageRecord(file: string, r: ImageRecord): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(r, null, 2));
}

async function readJson<T>(file: string, schema: z.ZodType<T>): Promise<T | undefined> {
  const text = await readFile(file, "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return schema.safeParse(JSON.parse(text)).data;
  } catch {
    return undefined;
  }
}

async function localDigest(storage: Storage, image: string): Promise<string> {
  const out = (await buildah(storage, ["inspect", "--type", "image", "--format", "{{.FromImageDigest}}", image])).trim();
  if (!/^sha256:[0-9a-f]{64}$/.test(out)) throw new ImageBuildError(`buildah inspect ${image} gave no digest: ${out}`);
  return out;
}

/** What stageContext keeps per program beside its output: the key and content hash of its node_modules. */
const stagedPackagesSchema = z.object({ key: z.string(), hash: z.string() });

/**
 * Runs the Dockerfiles' build stage on the host: stages each program (images/stage.ts, the same
 * code the stage runs) into `<cacheDir>/stage/out/<name>`, which buildah then reads as the build
 * context named `build` in place of that stage. Returns the folder and a content hash of each
 * program's output, the key by which a final image is reused, and of its node_modules alone (the
 * key of its packages image). Cheaper than the stage in buildah (a
 * container, a bind mount and a commit of all four programs' files for any change): dist/ is
 * bundled again each time (about a second per program), node_modules/ (the packages the bundles
 * leave out) only when the packages the program loads or their lock-file entries (version,
 * integrity) or stage.ts change. `fresh` empties the folder first.
 * Throws StageError (from stage.ts) for a missing import or package.
 */
export async function stageContext(root: string, cacheDir: string, opts: { fresh?: boolean; log?: (line: string) => void } = {}): Promise<{ dir: string; outputs: Record<ImageName, string>; packages: Record<ImageName, string> }> {
  const dir = path.join(cacheDir, "stage");
  if (opts.fresh === true) await rm(dir, { recursive: true, force: true });
  const lock = readLock(root);
  const stageCode = await readFile(path.join(root, "images", "stage.ts"));
  const outputs = {} as Record<ImageName, string>;
  const packageHashes = {} as Record<ImageName, string>;
  for (const name of IMAGE_NAMES) {
    const out = path.join(dir, "out", name);
    const { packages } = traceFiles(root, [IMAGES[name].entry]);
    const closure = shippedPackages(lock, packages);
    const key = createHash("sha256").update(stageCode).update(JSON.stringify(closure.map((p) => [p, lock[p]]))).digest("hex");
    const recordFile = path.join(dir, `${name}.packages.json`);
    let staged = await readJson(recordFile, stagedPackagesSchema);
    if (staged?.key !== key || !existsSync(out)) {
      await rm(out, { recursive: true, force: true });
      await mkdir(out, { recursive: true });
      stagePackages(root, closure, out);
      staged = { key, hash: await treeHash(path.join(out, "node_modules")) };
      await writeFile(recordFile, JSON.stringify(staged));
      opts.log?.(`${name}: staged ${closure.length} packages (${packages.join(", ")})`);
    }
    await rm(path.join(out, "dist"), { recursive: true, force: true });
    await stageDist(root, IMAGES[name].entry, out);
    const distHash = await treeHash(path.join(out, "dist"));
    const manifest = await readFile(path.join(out, "package.json"));
    outputs[name] = createHash("sha256").update(`${staged.hash}\n${distHash}\n`).update(manifest).digest("hex");
    packageHashes[name] = staged.hash;
  }
  return { dir, outputs, packages: packageHashes };
}

/**
 * sha256 over a folder tree: paths (sorted), type, mode, owner, and file content or link target.
 * Not the mtimes: the final builds set every file's time (--timestamp 0), so they do not reach an
 * image. "missing" when there is none.
 */
export async function treeHash(dir: string): Promise<string> {
  const h = createHash("sha256");
  const top = await lstat(dir).catch(() => undefined);
  if (top === undefined) return "missing";
  const walk = async (rel: string): Promise<void> => {
    const abs = path.join(dir, rel);
    const st = await lstat(abs);
    h.update(`${rel}\0${st.mode.toString(8)}\0${st.uid}:${st.gid}\0`);
    if (st.isDirectory()) {
      for (const e of (await readdir(abs)).sort()) await walk(rel === "" ? e : `${rel}/${e}`);
    } else if (st.isSymbolicLink()) {
      h.update(await readlink(abs));
    } else if (st.isFile()) {
      h.update(createHash("sha256").update(await readFile(abs)).digest("hex"));
    }
    h.update("\n");
  };
  await walk("");
  return h.digest("hex");
}

/** An image of the storage: full id and its names (REPO:TAG; none when untagged). */
export interface StoredImage {
  id: string;
  names: string[];
}

/**
 * The images of the project's storage a finished build no longer needs: earlier revisions' final
 * images, build stages of earlier versions (localhost/kmm-hub/staged:…) and untagged leftovers, all
 * named under localhost/kmm-hub/ (or nameless). Kept: any image with a name in `keep` (this build's
 * four and the packages images they were built on)
 * and the base images (localhost/kmm-hub/base*: images/base.ts keeps and keys them), and anything
 * named outside localhost/kmm-hub/. Pure.
 */
export function prunableImages(stored: readonly StoredImage[], keep: readonly string[]): StoredImage[] {
  const kept = new Set(keep);
  return stored.filter((img) => !img.names.some((n) => kept.has(n) || n.startsWith("localhost/kmm-hub/base") || !n.startsWith("localhost/kmm-hub/")));
}

/** The images of `storage`, grouped by id. */
async function storedImages(storage: Storage): Promise<StoredImage[]> {
  const out = await buildah(storage, ["images", "--all", "--no-trunc", "--noheading", "--format", "{{.ID}} {{.Name}}:{{.Tag}}"]);
  const byId = new Map<string, string[]>();
  for (const line of out.split("\n")) {
    const [id, name] = line.trim().split(/\s+/);
    if (id === undefined || id === "" || name === undefined) continue;
    const names = byId.get(id) ?? [];
    if (name !== "<none>:<none>") names.push(name);
    byId.set(id, names);
  }
  return [...byId].map(([id, names]) => ({ id, names }));
}

/**
 * After a successful build: removes from the storage what prunableImages selects, and the build
 * records other than `recordFile` and `imageRecords` (they name images that are gone). Images still
 * used by another (a parent of a kept one, a working container) are left for a later prune.
 */
async function prune(storage: Storage, keep: readonly string[], recordFile: string, imageRecords: readonly string[], log: (line: string) => void): Promise<void> {
  let removed = 0;
  for (const img of prunableImages(await storedImages(storage), keep)) {
    // By its names when it has any: buildah refuses to remove by id an image with several names.
    if ((await buildah(storage, ["rmi", ...(img.names.length > 0 ? img.names : [img.id])]).then(() => true, () => false))) removed++;
  }
  if (removed > 0) log(`pruned ${removed} image(s) of earlier builds from the storage`);
  const dir = path.dirname(recordFile);
  for (const f of await readdir(dir).catch(() => [])) {
    if (f.endsWith(".json") && path.join(dir, f) !== recordFile) await rm(path.join(dir, f), { force: true });
  }
  const keepRecords = new Set(imageRecords);
  for (const f of await readdir(path.join(dir, "images")).catch(() => [])) {
    if (!keepRecords.has(path.join(dir, "images", f))) await rm(path.join(dir, "images", f), { force: true });
  }
}

/**
 * Builds the hub, spoke, worker and signer images; with `push`, pushes them to
 * `registry` (HOST[:PORT]/PREFIX) and returns the registry's digests. A second call with unchanged
 * sources, lock file and options returns without running buildah (and re-pushes only to a
 * registry that has not seen these images). Builds under one cache folder are serialised.
 * Throws ImageBuildError / BuildahError / BaseImageError with the failing tool's message.
 */
export async function buildImages(input: BuildOptions): Promise<BuildResult> {
  const opts = buildOptionsSchema.parse(input);
  const log = opts.log ?? (() => {});
  const storage = projectStorage(opts.cacheDir);
  return withLock(opts.cacheDir, async () => {
    const base = await ensureBaseImages({ root: opts.root, cacheDir: path.join(opts.cacheDir, "base"), storage, refresh: opts.refreshBase, log });
    const source = await sourceRevision(opts.root);
    const { version } = source;
    const revision = opts.revision ?? source.revision;
    const tag = `${version}-${revision.slice(0, 12)}${revision.endsWith("-dirty") ? "-dirty" : ""}`;
    const key = await inputKey(opts.root, { BUILD_FORMAT, BUD_FLAGS, base: base.key, revision, version, dockerfiles: Object.values(IMAGES).map((i) => readFileSync(path.join(opts.root, i.dockerfile), "utf8")) });
    const recordDir = path.join(opts.cacheDir, "records");
    const recordFile = path.join(recordDir, `${key}.json`);
    const imageRecordFile = (name: ImageName, imageKey: string) => path.join(recordDir, "images", `${name}-${imageKey}.json`);
    /** The image record of `imageKey` when its image is still in the storage with that digest. */
    const usable = async (name: ImageName, imageKey: string): Promise<ImageRecord | undefined> => {
      if (opts.noCache) return undefined;
      const r = await readJson(imageRecordFile(name, imageKey), imageRecordSchema);
      if (r === undefined || (await localDigest(storage, r.local).catch(() => "")) !== r.digest) return undefined;
      return r;
    };
    let record = opts.noCache ? undefined : await readJson(recordFile, recordSchema);
    const images = {} as Record<ImageName, { key: string; record: ImageRecord }>;
    // A build record whose images were removed from the storage is stale.
    for (const name of IMAGE_NAMES) {
      const imageKey = record?.images[name];
      const r = imageKey === undefined ? undefined : await usable(name, imageKey);
      if (imageKey === undefined || r === undefined) {
        record = undefined;
        break;
      }
      images[name] = { key: imageKey, record: r };
    }
    const rebuilt: ImageName[] = [];
    if (record === undefined) {
      const { dir: stageDir, outputs, packages } = await stageContext(opts.root, opts.cacheDir, { fresh: opts.noCache, log });
      const packagesImages = {} as Record<ImageName, string>;
      const buildOne = async (name: ImageName): Promise<void> => {
        const img = IMAGES[name];
        const local = `localhost/kmm-hub/${img.name}:${tag}`;
        const dockerfile = readFileSync(path.join(opts.root, img.dockerfile), "utf8");
        // buildah would annotate the digest of the base as this storage holds it (not reproducible).
        const baseDigest = await localDigest(storage, base.images[img.base]);
        const annotations = [`org.opencontainers.image.base.digest=${baseDigest}`, `org.opencontainers.image.base.name=${base.images[img.base]}`].flatMap((a) => ["--annotation", a]);
        const common = [
          ...BUD_FLAGS,
          ...annotations,
          "--build-arg", `BUILD_BASE=${base.images.base}`,
          "--build-arg", `BASE=${base.images[img.base]}`,
          // The host-staged programs stand in for the Dockerfile's build stage, which buildah then skips.
          "--build-context", `build=${stageDir}`,
          "-f", path.join(opts.root, img.dockerfile),
        ];
        // The Dockerfile's `packages` stage (base + node_modules), built once per state of the packages.
        const packagesKey = createHash("sha256").update(JSON.stringify({ BUILD_FORMAT, BUD_FLAGS, packages: packages[name], dockerfile, base: base.images[img.base], baseDigest })).digest("hex").slice(0, 24);
        const packagesImage = `localhost/kmm-hub/packages-${name}:${packagesKey}`;
        packagesImages[name] = packagesImage;
        const labels = [`org.opencontainers.image.version=${version}`, `org.opencontainers.image.revision=${revision}`];
        // Everything the final stage reads: the program's staged files, its Dockerfile, the base, the metadata.
        const imageKey = createHash("sha256")
          .update(JSON.stringify({ BUILD_FORMAT, BUD_FLAGS, output: outputs[name], dockerfile, baseDigest, labels, local }))
          .digest("hex")
          .slice(0, 24);
        const reuse = await usable(name, imageKey);
        if (reuse !== undefined) {
          log(`${img.name}: its staged program, Dockerfile, base and labels are unchanged, reusing ${reuse.local}`);
          images[name] = { key: imageKey, record: reuse };
          return;
        }
        const started = Date.now();
        if (opts.noCache || (await localDigest(storage, packagesImage).catch(() => undefined)) === undefined) {
          log(`building ${packagesImage} (${img.dockerfile} --target packages)`);
          await buildah(storage, ["bud", ...common, "--target", "packages", "-t", packagesImage, opts.root]);
        }
        log(`building ${img.name} (${img.dockerfile})`);
        await buildah(storage, ["bud", ...common, "--build-arg", `PACKAGES=${packagesImage}`, ...labels.flatMap((l) => ["--label", l]), "-t", local, opts.root]);
        images[name] = { key: imageKey, record: { local, digest: await localDigest(storage, local), pushed: {} } };
        await writeImageRecord(imageRecordFile(name, imageKey), images[name].record);
        rebuilt.push(name);
        log(`built ${local} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      };
      // One after the other: side by side they wait on the storage's locks (4x slower here).
      for (const name of IMAGE_NAMES) await buildOne(name);
      record = { images: Object.fromEntries(IMAGE_NAMES.map((n) => [n, images[n].key])), packages: packagesImages };
    }
    const target = `${opts.registry}|${opts.tlsVerify}`;
    const result = {} as BuiltImages;
    for (const name of IMAGE_NAMES) {
      const { local, digest: ldigest } = images[name].record;
      const repo = `${opts.registry}/${IMAGES[name].name}`;
      result[name] = { ref: `${repo}@${ldigest}`, digest: ldigest, tagged: `${repo}:${tag}`, local };
    }
    if (opts.push) {
      await mkdir(recordDir, { recursive: true });
      await withRegistryAccess(opts, async (access) => {
        const pushOne = async (name: ImageName): Promise<void> => {
          const img = result[name];
          const { key: imageKey, record: ir } = images[name];
          const known = ir.pushed[target];
          if (known !== undefined && (await registryHas(img.tagged, known, access))) {
            result[name] = { ...img, ref: `${img.tagged.slice(0, img.tagged.lastIndexOf(":"))}@${known}`, digest: known };
            return;
          }
          const digestFile = path.join(recordDir, `${key}.${name}.digest`);
          log(`pushing ${img.tagged}`);
          await buildah(storage, ["push", "--quiet", `--tls-verify=${opts.tlsVerify}`, ...access.flags, "--digestfile", digestFile, img.local, `docker://${img.tagged}`]);
          const digest = (await readFile(digestFile, "utf8")).trim();
          await rm(digestFile, { force: true });
          ir.pushed[target] = digest;
          await writeImageRecord(imageRecordFile(name, imageKey), ir);
          result[name] = { ...img, ref: `${img.tagged.slice(0, img.tagged.lastIndexOf(":"))}@${digest}`, digest };
        };
        // One after the other: the first push compresses and uploads the shared base layers, the
        // others find them in the registry (side by side, each compressed them again).
        for (const name of IMAGE_NAMES) await pushOne(name);
      });
    }
    await mkdir(path.dirname(recordFile), { recursive: true });
    await writeFile(recordFile, JSON.stringify(record, null, 2));
    const built = rebuilt.length > 0;
    // Also when nothing was built: an earlier build may have been stopped before its prune.
    await prune(storage, [...IMAGE_NAMES.map((n) => images[n].record.local), ...Object.values(record.packages)], recordFile, IMAGE_NAMES.map((n) => imageRecordFile(n, images[n].key)), log);
    return { images: result, built, pushed: opts.push, storage, revision, version, baseKey: base.key };
  });
}

/** How buildah push and the registry client reach a registry: buildah's flags, the client's TLS and keychain. */
interface RegistryAccess {
  flags: string[];
  tls: RegistryTLS;
  caBundle: string | undefined;
  keychain: Keychain | undefined;
}

/**
 * Runs `fn` with the registry settings of `opts`: `--cert-dir` and the CA files in it; `--authfile`,
 * or for `creds` a temporary auth file readable only by this user, removed afterwards.
 * Throws ImageBuildError when the cert folder or auth file cannot be read.
 */
async function withRegistryAccess<T>(opts: z.output<typeof buildOptionsSchema>, fn: (access: RegistryAccess) => Promise<T>): Promise<T> {
  const flags: string[] = [];
  let caBundle: string | undefined;
  if (opts.certDir !== undefined) {
    const files = await readdir(opts.certDir).catch((err: unknown) => {
      throw new ImageBuildError(`certDir ${opts.certDir}: ${err instanceof Error ? err.message : String(err)}`);
    });
    const cas = files.filter((f) => f.endsWith(".crt")).sort();
    caBundle = (await Promise.all(cas.map((f) => readFile(path.join(opts.certDir as string, f), "utf8")))).join("\n") || undefined;
    flags.push("--cert-dir", opts.certDir);
  }
  const tls: RegistryTLS = opts.tlsVerify ? {} : { insecure: true, insecureSkipTLSVerify: true };
  const host = opts.registry.split("/")[0] as string;
  let authText: string | undefined;
  let tmp: string | undefined;
  try {
    if (opts.authFile !== undefined) {
      authText = await readFile(opts.authFile, "utf8").catch((err: unknown) => {
        throw new ImageBuildError(`authFile ${opts.authFile}: ${err instanceof Error ? err.message : String(err)}`);
      });
      flags.push("--authfile", opts.authFile);
    } else if (opts.creds !== undefined) {
      authText = JSON.stringify({ auths: { [host]: { auth: Buffer.from(opts.creds).toString("base64") } } });
      tmp = await mkdtemp(path.join(tmpdir(), "kmm-images-auth-"));
      const file = path.join(tmp, "auth.json");
      await writeFile(file, authText, { mode: 0o600 });
      flags.push("--authfile", file);
    }
    const keychain = authText === undefined ? undefined : Keychain.fromDockerConfig(authText, opts.authFile ?? "creds");
    return await fn({ flags, tls, caBundle, keychain });
  } finally {
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  }
}

/** Whether the registry still serves `digest` under the tag (a fresh test registry does not). */
async function registryHas(tagged: string, digest: string, access: RegistryAccess): Promise<boolean> {
  const client = new RegistryClient({ retry: { maxAttempts: 1 }, ...(access.caBundle !== undefined ? { caBundle: access.caBundle } : {}) });
  try {
    const m = await client.getManifest(tagged, { tls: access.tls, ...(access.keychain !== undefined ? { keychain: access.keychain } : {}) });
    return m.digest === digest;
  } catch {
    return false;
  } finally {
    client.close();
  }
}
