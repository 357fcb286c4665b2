// The base images the four program images are built on, made here from Debian packages and the
// Node binary of the npm `node` package, so nothing is pulled from a public registry. Layers:
//   base          Debian runtime libraries (libc6, libstdc++6, …) + passwd/group │ Node
//   base-kmod     base + kmod's modprobe, busybox's cat (the worker's readiness probe)
//   base-signer   base + sign-file from linux-kbuild-6.1
// so the four images share their two lowest layers. Each layer is a tar written with sorted
// entries, owner 0 and mtime 0, and `buildah bud --timestamp 0` imports it: the same packages and
// Node give the same layer digests. Layers are cached under .cache/images/base/<key>, the key being
// this recipe, the apt sources and the Node binary's hash.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, existsSync, realpathSync } from "node:fs";
import { chmod, lstat, mkdir, readdir, readFile, rename, rm, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { buildah, type Storage } from "./buildah.ts";

const run = promisify(execFile);

/** Debian release of the base; its packages come from the machine's configured apt sources. */
export const DEBIAN_SUITE = "bookworm";
/** The UID/GID the hub, spoke and signer images run as (distroless' "nonroot"). */
export const NONROOT_UID = 65532;

/** Debian packages of each layer above the shared base (dependencies come with them). */
export const FLAVOURS = {
  // In the shared Debian layer: the hub and the spoke make their self-signed metrics serving
  // certificate with the openssl CLI (shared/runtime/metrics-auth.ts).
  base: ["openssl"] as string[],
  kmod: ["kmod", "busybox"],
  signer: ["linux-kbuild-6.1"],
} as const;
export type Flavour = keyof typeof FLAVOURS;
/** Runtime libraries of the Node binary (`ldd node_modules/node/bin/node`). */
export const BASE_PACKAGES = ["libc6", "libgcc-s1", "libstdc++6"];
/** Bump when the recipe below changes in a way the key does not see. */
const RECIPE_VERSION = 3;

/** Files that do not belong in an image: documentation (license files stay), package tooling state. */
const STRIP = ["dev", "proc", "sys", "run", "tmp", "var", "usr/share/man", "usr/share/info", "usr/share/locale", "usr/share/lintian", "usr/share/bug", "etc/ld.so.cache"];

export class BaseImageError extends Error {
  override readonly name = "BaseImageError";
}

export interface BaseImages {
  key: string;
  /** Local image names, e.g. localhost/kmm-hub/base:<tag> (tag: key and BUD_FLAGS). */
  images: Record<Flavour, string>;
  nodeVersion: string;
}

/** The Node binary of the npm `node` package (node_modules/node/bin/node is a hard link to it). */
export function nodeBinary(root: string): string {
  const bin = path.join(root, "node_modules", "node", "bin", "node");
  if (!existsSync(bin)) throw new BaseImageError(`${bin} is missing: run npm ci (Node 24 comes from the npm 'node' package)`);
  return realpathSync(bin);
}

async function sha256File(file: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/** The Debian entries of the machine's apt sources as deb822 stanzas (mmdebstrap reads them on stdin). */
export async function debianSources(): Promise<string> {
  const stanzas: string[] = [];
  const dir = "/etc/apt/sources.list.d";
  const files = existsSync(dir) ? (await readdir(dir)).filter((f) => f.endsWith(".sources")).sort() : [];
  for (const f of files) {
    for (const stanza of (await readFile(path.join(dir, f), "utf8")).split(/\n\s*\n/)) {
      const uris = /^URIs:\s*(.+)$/m.exec(stanza)?.[1] ?? "";
      const suites = /^Suites:\s*(.+)$/m.exec(stanza)?.[1] ?? "";
      if (/\/debian(-security)?\/?(\s|$)/.test(uris) && suites.split(/\s+/).some((s) => s.startsWith(DEBIAN_SUITE))) {
        stanzas.push(stanza.split("\n").filter((l) => !l.startsWith("#")).join("\n").trim());
      }
    }
  }
  if (existsSync("/etc/apt/sources.list")) {
    for (const line of (await readFile("/etc/apt/sources.list", "utf8")).split("\n")) {
      const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian(?:-security)?\/?)\s+(\S+)\s+(.+)$/.exec(line.trim());
      if (m && m[2]?.startsWith(DEBIAN_SUITE)) stanzas.push(`Types: deb\nURIs: ${m[1]}\nSuites: ${m[2]}\nComponents: ${m[3]}`);
    }
  }
  if (stanzas.length === 0) {
    stanzas.push(
      `Types: deb\nURIs: http://deb.debian.org/debian\nSuites: ${DEBIAN_SUITE} ${DEBIAN_SUITE}-updates\nComponents: main`,
      `Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: ${DEBIAN_SUITE}-security\nComponents: main`,
    );
  }
  return `${stanzas.join("\n\n")}\n`;
}

/** Extracts Debian packages (and their dependencies) into `dir` with mmdebstrap, without running maintainer scripts. */
async function debootstrap(dir: string, packages: readonly string[], sources: string): Promise<void> {
  const args = ["--variant=extract", `--include=${packages.join(",")}`, "--format=directory", "--skip=output/dev", "--quiet", DEBIAN_SUITE, dir, "-"];
  await new Promise<void>((resolve, reject) => {
    const child = execFile("mmdebstrap", args, { env: { ...process.env, SOURCE_DATE_EPOCH: "0" }, maxBuffer: 64 << 20 }, (err, _stdout, stderr) => {
      if (err) reject(new BaseImageError(`mmdebstrap ${packages.join(",")} failed (is mmdebstrap installed? bash scripts/setup.sh): ${stderr || err.message}`));
      else resolve();
    });
    child.stdin?.end(sources);
  });
  for (const p of STRIP) await rm(path.join(dir, p), { recursive: true, force: true });
  // Keep each package's copyright file, drop the rest of its documentation.
  const doc = path.join(dir, "usr/share/doc");
  if (existsSync(doc)) {
    for (const pkg of await readdir(doc)) {
      for (const f of await readdir(path.join(doc, pkg)).catch(() => [] as string[])) {
        if (f !== "copyright") await rm(path.join(doc, pkg, f), { recursive: true, force: true });
      }
    }
  }
}

/** Every path under `dir` (directories too), relative, sorted bytewise. */
async function walk(dir: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(path.join(dir, rel))).sort()) {
    const r = rel === "" ? name : `${rel}/${name}`;
    out.push(r);
    const st = await lstat(path.join(dir, r));
    if (st.isDirectory()) out.push(...(await walk(dir, r)));
  }
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** A reproducible tar of `paths` under `dir`: listed order, owner 0, mtime 0, no atime/ctime. */
async function tarOf(dir: string, paths: readonly string[], out: string): Promise<void> {
  const list = `${out}.list`;
  await writeFile(list, paths.map((p) => `./${p}`).join("\0") + "\0");
  await run("tar", ["--create", "--file", out, "--directory", dir, "--null", "--no-recursion", "--files-from", list, "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0", "--format=posix", "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime"]);
  await rm(list);
}

/** Paths of `flavour` that differ from `base` (missing there, or another type, mode or content). */
async function diffPaths(base: string, flavour: string): Promise<string[]> {
  const out: string[] = [];
  for (const p of await walk(flavour)) {
    const a = await lstat(path.join(base, p)).catch(() => undefined);
    const b = await lstat(path.join(flavour, p));
    if (a === undefined || a.mode !== b.mode || a.size !== b.size) {
      out.push(p);
      continue;
    }
    if (b.isFile() && (await sha256File(path.join(base, p))) !== (await sha256File(path.join(flavour, p)))) out.push(p);
  }
  // A changed file needs its parent directories in the layer too.
  const withParents = new Set(out);
  for (const p of out) for (let d = path.posix.dirname(p); d !== "."; d = path.posix.dirname(d)) withParents.add(d);
  return [...withParents].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Passwd and group for root and the non-root user: the images have no useradd. */
async function addUsers(dir: string): Promise<void> {
  await mkdir(path.join(dir, "etc"), { recursive: true });
  await writeFile(path.join(dir, "etc/passwd"), `root:x:0:0:root:/root:/usr/sbin/nologin\nnonroot:x:${NONROOT_UID}:${NONROOT_UID}:nonroot:/nonexistent:/usr/sbin/nologin\n`);
  await writeFile(path.join(dir, "etc/group"), `root:x:0:\nnonroot:x:${NONROOT_UID}:\n`);
  // A mount point for the emptyDir the Deployments put there; not world-writable in the image.
  await mkdir(path.join(dir, "tmp"), { mode: 0o755 });
  await chmod(path.join(dir, "tmp"), 0o755);
}

/** Writes the layer tars of every flavour into `out` (a fresh folder). */
async function makeLayers(root: string, out: string): Promise<void> {
  const sources = await debianSources();
  const work = `${out}.work`;
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  try {
    const baseDir = path.join(work, "base");
    await debootstrap(baseDir, [...BASE_PACKAGES, ...FLAVOURS.base], sources);
    await addUsers(baseDir);
    await tarOf(baseDir, await walk(baseDir), path.join(out, "debian.tar"));

    const nodeDir = path.join(work, "node");
    await mkdir(path.join(nodeDir, "usr/local/bin"), { recursive: true });
    await run("cp", [nodeBinary(root), path.join(nodeDir, "usr/local/bin/node")]);
    await chmod(path.join(nodeDir, "usr/local/bin/node"), 0o755);
    await tarOf(nodeDir, await walk(nodeDir), path.join(out, "node.tar"));

    for (const flavour of ["kmod", "signer"] as const) {
      const dir = path.join(work, flavour);
      await debootstrap(dir, [...BASE_PACKAGES, ...FLAVOURS[flavour]], sources);
      await addUsers(dir);
      if (flavour === "kmod") {
        // The worker's readiness probe execs `cat`; busybox (1 MB) instead of coreutils (18 MB).
        await mkdir(path.join(dir, "usr/local/bin"), { recursive: true });
        await symlink("/bin/busybox", path.join(dir, "usr/local/bin/cat"));
      } else {
        await mkdir(path.join(dir, "usr/local/bin"), { recursive: true });
        await symlink("/usr/lib/linux-kbuild-6.1/scripts/sign-file", path.join(dir, "usr/local/bin/sign-file"));
      }
      await tarOf(dir, await diffPaths(baseDir, dir), path.join(out, `${flavour}.tar`));
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The cache key of the base layers: recipe, apt sources and Node binary. */
export async function baseKey(root: string): Promise<{ key: string; nodeVersion: string }> {
  const node = nodeBinary(root);
  const { stdout } = await run(node, ["--version"]);
  const nodeVersion = stdout.trim();
  const recipe = JSON.stringify({ RECIPE_VERSION, DEBIAN_SUITE, BASE_PACKAGES, FLAVOURS, STRIP, NONROOT_UID, sources: await debianSources(), node: await sha256File(node) });
  return { key: createHash("sha256").update(recipe).digest("hex").slice(0, 16), nodeVersion };
}

/**
 * Makes (or finds cached) the base images in `storage`: localhost/kmm-hub/base:<tag>,
 * base-kmod:<tag>, base-signer:<tag> (tag: key and BUD_FLAGS). `cacheDir` holds the layer tars by key; `refresh` rebuilds
 * them (for new Debian security updates: the key does not see package versions).
 * Throws BaseImageError when mmdebstrap or buildah fail.
 */
export async function ensureBaseImages(opts: { root: string; cacheDir: string; storage: Storage; refresh?: boolean; log?: (s: string) => void }): Promise<BaseImages> {
  const { key, nodeVersion } = await baseKey(opts.root);
  // The layer tars depend on the recipe only; the images also on how buildah imports them.
  const tag = createHash("sha256").update(`${key}\n${JSON.stringify(BUD_FLAGS)}`).digest("hex").slice(0, 16);
  const images: Record<Flavour, string> = {
    base: `localhost/kmm-hub/base:${tag}`,
    kmod: `localhost/kmm-hub/base-kmod:${tag}`,
    signer: `localhost/kmm-hub/base-signer:${tag}`,
  };
  const layers = path.join(opts.cacheDir, key);
  if (opts.refresh === true) await rm(layers, { recursive: true, force: true });
  if (!existsSync(path.join(layers, "signer.tar"))) {
    opts.log?.(`base: extracting Debian ${DEBIAN_SUITE} packages with mmdebstrap into ${layers}`);
    const tmp = `${layers}.tmp-${process.pid}`;
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true });
    await makeLayers(opts.root, tmp);
    await rm(layers, { recursive: true, force: true });
    await rename(tmp, layers);
  }
  const present = async (name: string): Promise<boolean> =>
    buildah(opts.storage, ["inspect", "--type", "image", "--format", "{{.FromImageID}}", name]).then(
      () => true,
      () => false,
    );
  const containerfile = path.join(path.dirname(new URL(import.meta.url).pathname), "base", "Containerfile");
  const steps: [string, string, string][] = [
    [`localhost/kmm-hub/base-debian:${tag}`, "scratch", "debian.tar"],
    [images.base, `localhost/kmm-hub/base-debian:${tag}`, "node.tar"],
    [images.kmod, images.base, "kmod.tar"],
    [images.signer, images.base, "signer.tar"],
  ];
  for (const [name, from, layer] of steps) {
    if (opts.refresh !== true && (await present(name))) continue;
    opts.log?.(`base: importing ${layer} as ${name}`);
    await buildah(opts.storage, ["bud", ...BUD_FLAGS, "--build-arg", `FROM=${from}`, "--build-arg", `LAYER=${layer}`, "-f", containerfile, "-t", name, layers]);
  }
  return { key, images, nodeVersion };
}

/**
 * Flags of every `buildah bud` here: no network namespace or bridge, nothing pulled, and for
 * reproducible digests fixed timestamps, no identity label and no history (its comments name the
 * storage's own intermediate image IDs). No layer cache (--layers=false): its keys ignore labels,
 * annotations and these flags, so a warm storage could give other digests; images/build.ts and
 * this file cache under keys of their own, which include these flags.
 */
export const BUD_FLAGS = ["--isolation", "chroot", "--network", "host", "--timestamp", "0", "--identity-label=false", "--omit-history", "--pull=never", "--layers=false", "--format", "oci", "--quiet"];
