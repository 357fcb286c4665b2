// Runs inside an image's build stage: compiles one program's TypeScript files to JavaScript in
// dist/ (Node's own type stripping: the sources use erasable syntax only, as tsconfig.json
// enforces) and copies exactly the npm packages they load, into an output folder that the final
// stage copies whole. Only files reachable from the entry are compiled, and tracing imports
// (rather than `npm ci --omit=dev`) keeps production packages the processes never load, such as
// @kubernetes/client-node (~66 MB), out of the images.
//
//   node images/stage.ts --program hub=hub/cli.ts [--program …] [--optional-program …] --out /out
// stages each program into /out/<name>; the four Dockerfiles run the same command for all four
// programs, so buildah runs it once and the other three builds take it from its layer cache.
//
// Node built-ins only: it runs with the Node of the base image before anything is installed.
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { builtinModules, stripTypeScriptTypes } from "node:module";
import path from "node:path";
import { parseArgs } from "node:util";

/** import/export … from "x", import "x", import("x") with a literal string, in compiled ESM. */
const IMPORT_RE = /(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"'\n]+)["']/g;
const BUILTINS = new Set(builtinModules);

export class StageError extends Error {
  override readonly name = "StageError";
}

interface LockPackage {
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

/** Stages one program (its entries) into `out`: dist/ with the compiled files, node_modules/, package.json. */
function stageProgram(root: string, entries: readonly string[], out: string, lock: Record<string, LockPackage>): string {
  const { files, packages } = traceFiles(root, entries);
  mkdirSync(out, { recursive: true });
  for (const f of files) {
    const target = path.join(out, "dist", f.endsWith(".ts") ? `${f.slice(0, -3)}.js` : f);
    mkdirSync(path.dirname(target), { recursive: true });
    if (f.endsWith(".ts")) writeFileSync(target, compile(readFileSync(path.join(root, f), "utf8"), f));
    else cpSync(path.join(root, f), target);
  }
  const closure = packageClosure(lock, packages);
  for (const p of closure) {
    const src = path.join(root, p);
    if (!statSync(src, { throwIfNoEntry: false })?.isDirectory()) throw new StageError(`${p} is in package-lock.json but not in node_modules (run npm ci)`);
    cpSync(src, path.join(out, p), { recursive: true, filter: (s) => s === src || keep(s) });
  }
  // The compiled files are ES modules: Node decides that from the nearest package.json.
  const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { name: string; version: string };
  writeFileSync(path.join(out, "package.json"), `${JSON.stringify({ name: pkg.name, version: pkg.version, private: true, type: "module" }, null, 2)}\n`);
  const count = (dir: string): number => readdirSync(dir, { withFileTypes: true }).reduce((n, d) => n + (d.isDirectory() ? count(path.join(dir, d.name)) : 1), 0);
  return `${files.length} source files and ${closure.length} packages (${packages.join(", ")}): ${count(out)} files`;
}

const USAGE = "usage: node images/stage.ts --program NAME=ENTRY [--program …] [--optional-program NAME=ENTRY …] --out DIR";

function main(): void {
  const { values } = parseArgs({
    options: { program: { type: "string", multiple: true }, "optional-program": { type: "string", multiple: true }, out: { type: "string" }, root: { type: "string", default: "." } },
    strict: true,
  });
  if (values.out === undefined) throw new StageError(USAGE);
  const root = path.resolve(values.root);
  const out = path.resolve(values.out);
  const lock = (JSON.parse(readFileSync(path.join(root, "package-lock.json"), "utf8")) as { packages: Record<string, LockPackage> }).packages;
  const programs = [...(values.program ?? []).map((p) => [p, false] as const), ...(values["optional-program"] ?? []).map((p) => [p, true] as const)];
  for (const [spec, optional] of programs) {
    const m = /^([a-z][a-z0-9-]*)=(.+)$/.exec(spec);
    if (m === null) throw new StageError(`--program ${spec}: expected NAME=ENTRY\n${USAGE}`);
    const [, name, entry] = m as unknown as [string, string, string];
    const dir = path.join(out, name);
    // An optional program (one still being written) is staged as an empty app when its entry is missing.
    const entries = optional && !existsSync(path.join(root, entry)) ? [] : [entry];
    console.log(`${name}: ${stageProgram(root, entries, dir, lock)}`);
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
