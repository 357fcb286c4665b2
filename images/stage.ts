// Stages one program for its image: bundles the TypeScript files it reaches and the npm packages
// they load into one minified ES module per program in dist/ (rolldown, tree-shaken; code loaded
// with `import()` goes into chunks beside it, read only when it runs), and copies into
// node_modules/ only the packages a bundle cannot hold (EXTERNAL_PACKAGES), into an output folder
// that the final stage copies whole. A bundle is what keeps the processes small (issue 16, README
// "Hub memory"): Node parses, and keeps in its heap, one source text without the packages' unused
// modules, comments and locales.
//
//   node images/stage.ts --program hub=hub/cli.ts [--program …] --out /out
// stages each program into /out/<name>. Each Dockerfile's build stage runs it for its own program;
// `npm run images` runs the same code on the host (images/build.ts) and hands the folder to buildah
// as the build context named `build`, which takes the place of that stage.
//
//   node images/stage.ts --program hub=hub/cli.ts [--program …] --dist dist
// writes only the bundles, into dist/ of the repository (npm run build): the benchmarks run them
// with the repository's node_modules, as the images run theirs.
//
// Node built-ins and rolldown (a devDependency, from the build context's node_modules): it runs
// with the Node of the base image before anything is installed.
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import path from "node:path";
import { parseArgs } from "node:util";

/** import/export … from "x", import "x", import("x") with a literal string, in compiled ESM. */
const IMPORT_RE = /(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"'\n]+)["']/g;
const BUILTINS = new Set(builtinModules);
/** The check by which a module runs as a program only when Node started it (hub/cli.ts, spoke/main.ts). */
const MAIN_GUARD_RE = /import\.meta\.url\s*===/;

export class StageError extends Error {
  override readonly name = "StageError";
}

export interface LockPackage {
  dev?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

/** The package name of a bare specifier ("@scope/pkg/sub" → "@scope/pkg"), undefined for relative/builtin. */
export function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith(".") || specifier.startsWith("/") || specifier.startsWith("node:") || specifier.startsWith("#")) return undefined;
  const parts = specifier.split("/");
  const name = specifier.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] ?? "");
  return BUILTINS.has(name) ? undefined : name;
}

/** Source files reachable from the entries through relative imports, and the packages they name. */
export function traceFiles(root: string, entries: readonly string[]): { files: string[]; packages: string[] } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const todo = entries.map((e) => path.resolve(root, e));
  while (todo.length > 0) {
    const file = todo.pop() as string;
    const rel = path.relative(root, file);
    if (files.has(rel)) continue;
    if (!existsSync(file)) throw new StageError(`${rel} is imported but does not exist`);
    files.add(rel);
    for (const m of readFileSync(file, "utf8").matchAll(IMPORT_RE)) {
      const spec = m[1] as string;
      if (spec.startsWith("./") || spec.startsWith("../")) todo.push(path.resolve(path.dirname(file), spec));
      else {
        const pkg = packageOf(spec);
        if (pkg !== undefined) packages.add(pkg);
      }
    }
  }
  return { files: [...files].sort(), packages: [...packages].sort() };
}

/**
 * Lock-file paths ("node_modules/a", "node_modules/a/node_modules/b") of the packages and their
 * runtime dependencies, resolved as Node does: the nearest node_modules folder upwards.
 * Throws when a package the program imports is missing or only a dev dependency.
 */
export function packageClosure(lock: Record<string, LockPackage>, roots: readonly string[]): string[] {
  const resolve = (from: string, name: string): string | undefined => {
    let dir = from;
    for (;;) {
      const candidate = dir === "" ? `node_modules/${name}` : `${dir}/node_modules/${name}`;
      if (lock[candidate] !== undefined) return candidate;
      if (dir === "") return undefined;
      const idx = dir.lastIndexOf("/node_modules/");
      dir = idx < 0 ? "" : dir.slice(0, idx);
    }
  };
  const out = new Set<string>();
  const todo: string[] = [];
  for (const name of roots) {
    const p = resolve("", name);
    if (p === undefined) throw new StageError(`the program imports '${name}', which package-lock.json does not hold: add it to "dependencies"`);
    if (lock[p]?.dev === true) throw new StageError(`the program imports '${name}', which is only a devDependency: move it to "dependencies"`);
    todo.push(p);
  }
  while (todo.length > 0) {
    const p = todo.pop() as string;
    if (out.has(p)) continue;
    out.add(p);
    const meta = lock[p] ?? {};
    const optional = new Set([...Object.keys(meta.optionalDependencies ?? {}), ...Object.entries(meta.peerDependenciesMeta ?? {}).filter(([, v]) => v.optional === true).map(([k]) => k)]);
    for (const dep of [...Object.keys(meta.dependencies ?? {}), ...Object.keys(meta.optionalDependencies ?? {}), ...Object.keys(meta.peerDependencies ?? {})]) {
      const q = resolve(p, dep);
      if (q === undefined) {
        if (optional.has(dep)) continue;
        throw new StageError(`${p} depends on '${dep}', which package-lock.json does not hold`);
      }
      todo.push(q);
    }
  }
  return [...out].sort();
}

/** Files of a package folder that a running program needs: not its nested packages, docs, types or maps. */
function keep(src: string): boolean {
  const base = path.basename(src);
  if (base === "node_modules") return false;
  if (/\.(md|markdown|map|d\.ts|d\.mts|d\.cts|ts\.map)$/i.test(base) && !/^license/i.test(base)) return false;
  return true;
}

/** The "packages" of root's package-lock.json (lockfileVersion 2 or 3). */
export function readLock(root: string): Record<string, LockPackage> {
  return (JSON.parse(readFileSync(path.join(root, "package-lock.json"), "utf8")) as { packages: Record<string, LockPackage> }).packages;
}

/** Gives the folders and files the stage itself wrote modes 0755/0644 whatever the umask: the non-root images must read them. */
function normaliseModes(p: string): void {
  const st = statSync(p);
  chmodSync(p, st.isDirectory() ? 0o755 : 0o644);
  if (st.isDirectory()) for (const e of readdirSync(p)) normaliseModes(path.join(p, e));
}

/**
 * Packages the bundles leave out, shipped in node_modules/ instead: those that read files of their
 * own folder at run time. None today: every package the programs load is pure JavaScript (the
 * regexp engine, re2js, is bundled too and runs on the first regexp mapping).
 */
export const EXTERNAL_PACKAGES: readonly string[] = [];

/** Whether an import stays an import in the bundle: a Node built-in or one of EXTERNAL_PACKAGES. */
function isExternal(id: string): boolean {
  if (id.startsWith("node:") || BUILTINS.has(id)) return true;
  const pkg = packageOf(id);
  return pkg !== undefined && EXTERNAL_PACKAGES.includes(pkg);
}

/**
 * Bundles the program of `entry` (a path relative to root) into `distDir`: `<entry>.js` (e.g.
 * hub/cli.js), its source map `<entry>.js.map`, and the chunks of code loaded with `import()` under
 * `<entry's folder>/chunks/` (emptied first). Minified and tree-shaken; the maps name the sources
 * as seen from `<root>/dist/` (so they read the same in the image, in dist/ and in any staging
 * folder) and hold their text, so a stack trace can be mapped back without the sources.
 * Returns the files written, relative to distDir. Throws StageError with rolldown's message (an
 * import it cannot resolve, a syntax error).
 */
export async function bundleProgram(root: string, entry: string, distDir: string): Promise<string[]> {
  // A module that runs itself when it is Node's entry (import.meta.url === argv[1]) would run in
  // any bundle holding it: the bundle's import.meta.url is the entry's.
  for (const f of traceFiles(root, [entry]).files) {
    if (f !== entry && MAIN_GUARD_RE.test(readFileSync(path.join(root, f), "utf8"))) {
      throw new StageError(`${entry}: ${f} runs as a program when it is the entry (import.meta.url === process.argv[1]) and would run inside this bundle: import what it exports from a module without that check`);
    }
  }
  const { rolldown } = await import("rolldown");
  const dir = path.join(distDir, path.dirname(entry));
  const mapBase = path.join(root, "dist", path.dirname(entry));
  const modules = realpathSync(path.join(root, "node_modules"));
  rmSync(path.join(dir, "chunks"), { recursive: true, force: true });
  const problems: string[] = [];
  let bundle: Awaited<ReturnType<typeof rolldown>> | undefined;
  try {
    bundle = await rolldown({
      input: { [path.basename(entry, ".ts")]: path.join(root, entry) },
      cwd: root,
      platform: "node",
      external: isExternal,
      // Anything rolldown would only warn about (an import it leaves unresolved) fails the stage.
      onLog: (level, log) => {
        if (level === "warn") problems.push(log.message);
      },
    });
    const { output } = await bundle.write({
      dir,
      format: "esm",
      entryFileNames: "[name].js",
      chunkFileNames: "chunks/[name]-[hash].js",
      minify: true,
      // Escaped, so that V8 holds the source text in one byte per character, not two.
      charset: "ascii",
      sourcemap: true,
      sourcemapPathTransform: (source: string, mapFile: string) => {
        const abs = path.resolve(path.dirname(mapFile), source);
        // A symlinked node_modules (a work tree's) is named as the one in root.
        const inModules = abs.startsWith(`${modules}${path.sep}`) ? path.join(root, "node_modules", abs.slice(modules.length + 1)) : abs;
        return path.relative(mapBase, inModules);
      },
    });
    if (problems.length > 0) throw new StageError(problems.join("\n"));
    return output.map((o) => path.join(path.dirname(entry), o.fileName)).sort();
  } catch (err: unknown) {
    if (err instanceof StageError) throw new StageError(`${entry}: ${err.message}`);
    throw new StageError(`${entry}: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    await bundle?.close();
  }
}

/** Writes the bundle of `entry` (bundleProgram) into out/dist, and out/package.json; modes 0755/0644. */
export async function stageDist(root: string, entry: string, out: string): Promise<void> {
  await bundleProgram(root, entry, path.join(out, "dist"));
  // The bundles are ES modules: Node decides that from the nearest package.json.
  const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { name: string; version: string };
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, "package.json"), `${JSON.stringify({ name: pkg.name, version: pkg.version, private: true, type: "module" }, null, 2)}\n`);
  // What the stage writes gets fixed modes; node_modules keeps the ones npm gave it (cpSync copies them).
  chmodSync(out, 0o755);
  chmodSync(path.join(out, "package.json"), 0o644);
  if (existsSync(path.join(out, "dist"))) normaliseModes(path.join(out, "dist"));
}

/**
 * The lock-file paths of the packages a program's node_modules/ holds: the closure of those of
 * `packages` (traceFiles) that the bundle leaves out. Throws StageError as packageClosure does for
 * any package the program imports (missing, or only a devDependency), bundled or not.
 */
export function shippedPackages(lock: Record<string, LockPackage>, packages: readonly string[]): string[] {
  packageClosure(lock, packages);
  return packageClosure(lock, packages.filter((p) => EXTERNAL_PACKAGES.includes(p)));
}

/**
 * Copies the package folders `closure` (lock-file paths, from packageClosure) under `out`, without
 * nested packages, docs, types or maps; out/node_modules exists even when there are none.
 */
export function stagePackages(root: string, closure: readonly string[], out: string): void {
  mkdirSync(path.join(out, "node_modules"), { recursive: true });
  for (const p of closure) {
    const src = path.join(root, p);
    if (!statSync(src, { throwIfNoEntry: false })?.isDirectory()) throw new StageError(`${p} is in package-lock.json but not in node_modules (run npm ci)`);
    cpSync(src, path.join(out, p), { recursive: true, filter: (s) => s === src || keep(s) });
  }
  // The folders above the packages (node_modules, @scope, a/node_modules) are the stage's own: fixed modes.
  for (const p of ["node_modules", ...closure]) {
    for (let dir = path.dirname(p); dir !== "."; dir = path.dirname(dir)) chmodSync(path.join(out, dir), 0o755);
  }
  chmodSync(path.join(out, "node_modules"), 0o755);
}

/**
 * Stages the program of `entry` into `out`, emptied first: dist/ with its bundle, node_modules/
 * with the packages the bundle leaves out, package.json. Returns a one-line summary.
 * Throws StageError for a missing import, a package that is missing or only a devDependency.
 */
export async function stageProgram(root: string, entry: string, out: string, lock: Record<string, LockPackage>): Promise<string> {
  const { files, packages } = traceFiles(root, [entry]);
  const closure = shippedPackages(lock, packages);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  stagePackages(root, closure, out);
  await stageDist(root, entry, out);
  return `${files.length} source files and ${packages.length} packages (${packages.join(", ")}) in one bundle; node_modules: ${closure.length > 0 ? closure.join(", ") : "none"}`;
}

const USAGE = "usage: node images/stage.ts --program NAME=ENTRY [--program …] (--out DIR | --dist DIR) [--root DIR]";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { program: { type: "string", multiple: true }, out: { type: "string" }, dist: { type: "string" }, root: { type: "string", default: "." } },
    strict: true,
  });
  if ((values.out === undefined) === (values.dist === undefined) || values.program === undefined) throw new StageError(USAGE);
  const root = path.resolve(values.root);
  const lock = readLock(root);
  for (const spec of values.program) {
    const m = /^([a-z][a-z0-9-]*)=(.+)$/.exec(spec);
    if (m === null) throw new StageError(`--program ${spec}: expected NAME=ENTRY\n${USAGE}`);
    const [, name, entry] = m as unknown as [string, string, string];
    if (values.dist !== undefined) console.log(`${name}: ${(await bundleProgram(root, entry, path.resolve(values.dist))).join(", ")}`);
    else console.log(`${name}: ${await stageProgram(root, entry, path.join(path.resolve(values.out as string), name), lock)}`);
  }
}

if (import.meta.url === `file://${process.argv[1] ?? ""}`) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  });
}
