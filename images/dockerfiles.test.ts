// The Dockerfiles' build stage and the host staging that `npm run images` puts in its place
// (`--build-context build=DIR`) must give the same program: buildah skips that stage here, so a
// Dockerfile that drifted would only break for people building with Docker. Also which programs a
// one-line edit restages: a hub-only edit must leave the other three images' inputs as they were.
import { appendFile, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { BUD_FLAGS, ensureBaseImages } from "./base.ts";
import { buildah, projectStorage } from "./buildah.ts";
import { DEFAULT_CACHE_DIR, IMAGES, IMAGE_NAMES, snapshotSources, stageContext, treeHash } from "./build.ts";

const { sources } = inject("images");
let scratch: string;

beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), "kmm-images-stage-"));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe.each(IMAGE_NAMES)("%s's Dockerfile", (name) => {
  it("stages in its build stage the program images/build.ts stages on the host, and copies all of it to /app", async () => {
    const text = await readFile(path.join(sources, IMAGES[name].dockerfile), "utf8");
    expect(text).toMatch(/^FROM \$\{BUILD_BASE\} AS build$/m);
    const programs = [...text.matchAll(/"--program", "([^"]+)"/g)].map((m) => m[1]);
    expect(programs).toEqual([`${name}=${IMAGES[name].entry}`]);
    // The packages stage (what images/build.ts builds with --target packages), then the final stage on it.
    expect(text).toMatch(new RegExp(`^FROM \\$\\{BASE\\} AS packages\nCOPY --from=build /out/${name}/node_modules /app/node_modules\n\nFROM \\$\\{PACKAGES\\}\n`, "m"));
    expect(text).toMatch(/^ARG PACKAGES=packages$/m);
    // Every entry stageProgram writes: node_modules above, dist and package.json here.
    const copies = [...text.matchAll(/^COPY --from=build (\S+) (\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`);
    expect(copies).toEqual([`/out/${name}/node_modules /app/node_modules`, `/out/${name}/dist /app/dist`, `/out/${name}/package.json /app/package.json`]);
  });
});

it("the worker Dockerfile's build stage, run by buildah as Docker would run it, gives the same files as the host staging", async () => {
  const cacheDir = path.join(scratch, "cache");
  const { dir } = await stageContext(sources, cacheDir);
  const host = await treeHash(path.join(dir, "out", "worker"));
  const storage = projectStorage(DEFAULT_CACHE_DIR);
  const base = await ensureBaseImages({ root: sources, cacheDir: path.join(DEFAULT_CACHE_DIR, "base"), storage });
  // Outside localhost/kmm-hub/: a concurrent build's prune removes only names under it.
  const image = `localhost/kmm-hub-test/build-stage:${process.pid}`;
  await buildah(storage, ["bud", ...BUD_FLAGS, "--target", "build", "--build-arg", `BUILD_BASE=${base.images.base}`, "-f", path.join(sources, IMAGES.worker.dockerfile), "-t", image, sources]);
  let ctr: string | undefined;
  try {
    ctr = (await buildah(storage, ["from", "--pull=never", image])).trim().split("\n").pop();
    const mnt = (await buildah(storage, ["mount", ctr as string])).trim();
    expect(await treeHash(path.join(mnt, "out", "worker"))).toBe(host);
  } finally {
    if (ctr !== undefined) {
      await buildah(storage, ["umount", ctr]).catch(() => "");
      await buildah(storage, ["rm", ctr]).catch(() => "");
    }
    await buildah(storage, ["rmi", image]).catch(() => "");
  }
}, 600_000);

it("a one-line edit changes the staged output of exactly the programs that load the file", async () => {
  const root = await snapshotSources(path.join(scratch, "src"), sources);
  const cacheDir = path.join(scratch, "edit-cache");
  const before = (await stageContext(root, cacheDir)).outputs;
  const logged: string[] = [];
  const again = (await stageContext(root, cacheDir, { log: (l) => logged.push(l) })).outputs;
  expect(again).toEqual(before);
  // node_modules/ is kept while the packages and their lock entries stay the same.
  expect(logged).toEqual([]);
  await appendFile(path.join(root, "hub", "manifestwork.ts"), "export const EDITED = 1;\n");
  const hubEdit = (await stageContext(root, cacheDir)).outputs;
  expect(IMAGE_NAMES.filter((n) => hubEdit[n] !== before[n])).toEqual(["hub"]);
  await appendFile(path.join(root, "shared", "runtime", "logger.ts"), "export const EDITED = 1;\n");
  const sharedEdit = (await stageContext(root, cacheDir)).outputs;
  expect(IMAGE_NAMES.filter((n) => sharedEdit[n] !== hubEdit[n])).toEqual([...IMAGE_NAMES]);
  // A fresh staging of the edited sources gives the same outputs as the incremental one.
  expect((await stageContext(root, path.join(scratch, "fresh-cache"))).outputs).toEqual(sharedEdit);
}, 600_000);
