import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import zlib from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UnsafeLayerError } from "./errors.ts";
import { decompressorFor, extractLayer, UnsupportedLayerError } from "./extract.ts";
import { MediaType } from "./schemas.ts";
import { createTar, readTar, type TarWriteEntry } from "./tar.ts";

const run = promisify(execFile);
let tmp: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "kmm-extract-test-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function freshDir(): Promise<string> {
  const parent = await mkdtemp(path.join(tmp, "case-"));
  return path.join(parent, "root");
}

const extract = (entries: TarWriteEntry[], root: string) => extractLayer(Readable.from([createTar(entries)]), root);

describe("extractLayer refuses entries that leave the target", () => {
  it.each([
    ["../escape", "..", [{ path: "../escape", content: "x" }]],
    ["a/../../escape", "..", [{ path: "a/../../escape", content: "x" }]],
    ["/etc/passwd", "absolute", [{ path: "/etc/passwd", content: "x" }]],
    ["symlink to an absolute path", "outside", [{ path: "l", type: "symlink", linkname: "/etc" }]],
    ["symlink climbing out", "outside", [{ path: "a/l", type: "symlink", linkname: "../../etc" }]],
    ["hard link out", "..", [{ path: "h", type: "hardlink", linkname: "../outside" }]],
    [
      "write through a symlink",
      "symlink",
      [
        { path: "sub", type: "directory" },
        { path: "s", type: "symlink", linkname: "sub" },
        { path: "s/file", content: "x" },
      ],
    ],
  ] as [string, string, TarWriteEntry[]][])("%s", async (_name, reason, entries) => {
    const root = await freshDir();
    const err = await extract(entries, root).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsafeLayerError);
    expect((err as Error).message).toContain(reason);
    expect(existsSync(path.join(root, "..", "escape"))).toBe(false);
  });
});

describe("extractLayer", () => {
  it('takes an entry "/" (kaniko writes one for the root) as the target itself', async () => {
    const root = await freshDir();
    await extract([{ path: "/", type: "directory" }, { path: "opt/x", content: "x" }], root);
    expect(existsSync(path.join(root, "opt", "x"))).toBe(true);
  });

  it("writes files, modes, directories, links inside the target", async () => {
    const root = await freshDir();
    const result = await extract(
      [
        { path: "./", type: "directory" },
        { path: "usr/lib/modules/x.ko", content: "module", mode: 0o4755 },
        { path: "usr/bin/tool", content: "#!/bin/sh\n", mode: 0o755 },
        { path: "lib", type: "symlink", linkname: "usr/lib" },
        { path: "usr/lib/alias.ko", type: "hardlink", linkname: "usr/lib/modules/x.ko" },
        { path: "usr/lib/modules/up", type: "symlink", linkname: "../../bin/tool" },
      ],
      root,
    );
    expect(result).toMatchObject({ files: 2, links: 3 });
    expect(await readFile(path.join(root, "usr/lib/modules/x.ko"), "utf8")).toBe("module");
    // set-id bits are dropped.
    expect((await stat(path.join(root, "usr/lib/modules/x.ko"))).mode & 0o7777).toBe(0o755);
    expect(await readlink(path.join(root, "lib"))).toBe("usr/lib");
    expect((await stat(path.join(root, "usr/lib/alias.ko"))).nlink).toBe(2);
    expect(await readFile(path.join(root, "usr/lib/modules/up"), "utf8")).toBe("#!/bin/sh\n");
  });

  it("applies whiteouts and opaque directories to lower layers only", async () => {
    const root = await freshDir();
    await extract(
      [
        { path: "a/x", content: "x" },
        { path: "a/y", content: "y" },
        { path: "b/old", content: "old" },
        { path: "b/sub/deep", content: "deep" },
      ],
      root,
    );
    const result = await extract(
      [
        { path: "b/new", content: "new" },
        { path: "a/.wh.x", content: "" },
        { path: "b/.wh..wh..opq", content: "" },
      ],
      root,
    );
    expect(result.whiteouts).toBe(2);
    expect(existsSync(path.join(root, "a/x"))).toBe(false);
    expect(await readFile(path.join(root, "a/y"), "utf8")).toBe("y");
    expect(existsSync(path.join(root, "b/old"))).toBe(false);
    expect(existsSync(path.join(root, "b/sub"))).toBe(false);
    expect(await readFile(path.join(root, "b/new"), "utf8")).toBe("new");
    expect(existsSync(path.join(root, "a/.wh.x"))).toBe(false);
  });

  it("replaces a lower layer's file by a directory and a directory by a file", async () => {
    const root = await freshDir();
    await extract([{ path: "p", content: "file" }, { path: "q/inner", content: "i" }], root);
    await extract([{ path: "p/child", content: "c" }, { path: "q", content: "now a file" }], root);
    expect((await lstat(path.join(root, "p"))).isDirectory()).toBe(true);
    expect(await readFile(path.join(root, "q"), "utf8")).toBe("now a file");
  });

  it("extracts gzip and zstd layers through their decompressors", async () => {
    const tar = createTar([{ path: "m/mod.ko", content: "zstd or gzip" }]);
    for (const [mediaType, blob] of [
      [MediaType.ociLayerGzip, zlib.gzipSync(tar)],
      [MediaType.ociLayerZstd, zlib.zstdCompressSync(tar)],
      [MediaType.ociLayerTar, tar],
    ] as const) {
      const root = await freshDir();
      const decompress = decompressorFor(mediaType);
      const source = Readable.from([blob]);
      await (decompress ? extractLayer(source.pipe(decompress), root) : extractLayer(source, root));
      expect(await readFile(path.join(root, "m/mod.ko"), "utf8")).toBe("zstd or gzip");
    }
    expect(() => decompressorFor("application/vnd.example.unknown")).toThrow(UnsupportedLayerError);
  });
});

describe("tar interoperability with GNU tar", () => {
  it("GNU tar lists what createTar writes, long names included", async () => {
    const long = `${"d".repeat(60)}/${"e".repeat(60)}/file`;
    const file = path.join(tmp, "ours.tar");
    await writeFile(
      file,
      createTar([
        { path: "dir", type: "directory" },
        { path: long, content: "long" },
        { path: "link", type: "symlink", linkname: long },
      ]),
    );
    const { stdout } = await run("tar", ["-tf", file]);
    expect(stdout.trim().split("\n")).toEqual(["dir", long, "link"]);
    const out = path.join(tmp, "gnu-extract");
    await mkdir(out);
    await run("tar", ["-xf", file, "-C", out]);
    expect(await readFile(path.join(out, long), "utf8")).toBe("long");
  });

  it("writes and reads owners (uid, gid, names; pax records for big ids and long names) as GNU tar sees them", async () => {
    const longName = "n".repeat(40);
    const file = path.join(tmp, "owners.tar");
    const tar = createTar([
      { path: "a.ko", content: "a", mode: 0o640, uid: 1000, gid: 27, uname: "builder", gname: "video" },
      { path: "b.ko", content: "b", uid: 3_000_000, gid: 3_000_001, uname: longName, gname: "g" },
      { path: "c.ko", content: "c" },
    ]);
    await writeFile(file, tar);
    const { stdout } = await run("tar", ["--numeric-owner", "-tvf", file]);
    const owners = stdout.trim().split("\n").map((l) => l.split(/\s+/)[1]);
    expect(owners).toEqual(["1000/27", "3000000/3000001", "0/0"]);
    const { stdout: named } = await run("tar", ["-tvf", file]);
    expect(named.split("\n")[0]).toMatch(/^-rw-r----- builder\/video /);
    const headers = [];
    for await (const entry of readTar(Readable.from([tar]))) headers.push(entry.header);
    expect(headers.map((h) => [h.path, h.mode, h.uid, h.gid, h.uname, h.gname])).toEqual([
      ["a.ko", 0o640, 1000, 27, "builder", "video"],
      ["b.ko", 0o644, 3_000_000, 3_000_001, longName, "g"],
      ["c.ko", 0o644, 0, 0, "", ""],
    ]);
  });

  it.each(["gnu", "pax", "ustar"])("readTar reads GNU tar's %s format", async (format) => {
    const src = path.join(tmp, `src-${format}`);
    const deep = format === "ustar" ? "a/b/c" : `${"x".repeat(80)}/${"y".repeat(80)}`;
    await mkdir(path.join(src, deep), { recursive: true });
    await writeFile(path.join(src, deep, "f.txt"), "content");
    const file = path.join(tmp, `${format}.tar`);
    await run("tar", [`--format=${format}`, "-cf", file, "-C", src, "."]);
    const seen: Record<string, string> = {};
    const chunks = [await readFile(file)];
    for await (const entry of readTar(Readable.from(chunks))) {
      let body = "";
      for await (const chunk of entry.body()) body += chunk.toString("utf8");
      seen[entry.header.path] = entry.header.type === "file" ? body : entry.header.type;
    }
    expect(seen[`./${deep}/f.txt`]).toBe("content");
    expect(seen[`./${deep}/`]).toBe("directory");
  });

  it("streams large files through in small chunks", async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    const tar = createTar([{ path: "big.bin", content: big }]);
    const root = await freshDir();
    const chunks: Buffer[] = [];
    for (let i = 0; i < tar.length; i += 1000) chunks.push(tar.subarray(i, i + 1000));
    await pipeline(Readable.from(chunks), async (source: AsyncIterable<Buffer>) => {
      await extractLayer(source, root);
    });
    expect((await readFile(path.join(root, "big.bin"))).equals(big)).toBe(true);
  });
});
