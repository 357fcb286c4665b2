// Stages one program for its image: compiles the TypeScript files it reaches to JavaScript in
// dist/ (Node's own type stripping: the sources use erasable syntax only, as tsconfig.json
// enforces) and copies exactly the npm packages they load, into an output folder that the final
// stage copies whole. Only files reachable from the entry are compiled, and tracing imports
// (rather than `npm ci --omit=dev`) keeps production packages the processes never load, such as
// @kubernetes/client-node (~66 MB), out of the images.
//
//   node images/stage.ts --program hub=hub/cli.ts [--program …] --out /out
// stages each program into /out/<name>. Each Dockerfile's build stage runs it for its own program;
// `npm run images` runs the same code on the host (images/build.ts) and hands the folder to buildah
// as the build context named `build`, which takes the place of that stage.
//
// Node built-ins only: it runs with the Node of the base image before anything is installed.
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { builtinModules, stripTypeScriptTypes } from "node:module";
import path from "node:path";
import { parseArgs } from "node:util";

/** import/export … from "x", import "x", import("x") with a literal string, in compiled ESM. */
const IMPORT_RE = /(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"'\n]+)["']/g;
const BUILTINS = new Set(builtinModules);

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

/** The JavaScript of a TypeScript module: types stripped, relative ".ts" imports renamed ".js" (as tsc's rewriteRelativeImportExtensions). */
export function compile(source: string, file: string): string {
  let js: string;
  try {
    js = stripTypeScriptTypes(source, { mode: "strip" });
  } catch (err: unknown) {
    throw new StageError(`${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return js.replace(IMPORT_RE, (whole: string, spec: string) => (/^\.\.?\/.*\.ts$/.test(spec) ? whole.replace(spec, `${spec.slice(0, -3)}.js`) : whole));
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

/** Writes the program's `files` (from traceFiles) compiled into out/dist, and out/package.json; modes 0755/0644. */
export function stageDist(root: string, files: readonly string[], out: string): void {
  for (const f of files) {
    const target = path.join(out, "dist", f.endsWith(".ts") ? `${f.slice(0, -3)}.js` : f);
    mkdirSync(path.dirname(target), { recursive: true });
    if (f.endsWith(".ts")) writeFileSync(target, compile(readFileSync(path.join(root, f), "utf8"), f));
    else cpSync(path.join(root, f), target);
  }
  // The compiled files are ES modules: Node decides that from the nearest package.json.
  const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { name: string; version: string };
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, "package.json"), `${JSON.stringify({ name: pkg.name, version: pkg.version, private: true, type: "module" }, null, 2)}\n`);
  // What the stage writes gets fixed modes; node_modules keeps the ones npm gave it (cpSync copies them).
  chmodSync(out, 0o755);
  chmodSync(path.join(out, "package.json"), 0o644);
  if (existsSync(path.join(out, "dist"))) normaliseModes(path.join(out, "dist"));
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
 * Stages one program (its entries) into `out`, emptied first: dist/ with the compiled files,
 * node_modules/ with the packages they load, package.json. Returns a one-line summary.
 * Throws StageError for a missing import, a package that is missing or only a devDependency.
 */
export function stageProgram(root: string, entries: readonly string[], out: string, lock: Record<string, LockPackage>): string {
  const { files, packages } = traceFiles(root, entries);
  const closure = packageClosure(lock, packages);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  stagePackages(root, closure, out);
  stageDist(root, files, out);
  return `${files.length} source files and ${closure.length} packages (${packages.join(", ")})`;
}

const USAGE = "usage: node images/stage.ts --program NAME=ENTRY [--program …] --out DIR [--root DIR]";

function main(): void {
  const { values } = parseArgs({
    options: { program: { type: "string", multiple: true }, out: { type: "string" }, root: { type: "string", default: "." } },
    strict: true,
  });
  if (values.out === undefined || values.program === undefined) throw new StageError(USAGE);
  const root = path.resolve(values.root);
  const out = path.resolve(values.out);
  const lock = readLock(root);
  for (const spec of values.program) {
    const m = /^([a-z][a-z0-9-]*)=(.+)$/.exec(spec);
    if (m === null) throw new StageError(`--program ${spec}: expected NAME=ENTRY\n${USAGE}`);
    const [, name, entry] = m as unknown as [string, string, string];
    console.log(`${name}: ${stageProgram(root, [entry], path.join(out, name), lock)}`);
  }
}

if (import.meta.url === `file://${process.argv[1] ?? ""}`) {
  try {
    main();
  } catch (err: unknown) {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  }
}
