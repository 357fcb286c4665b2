// The signer's view of an image's file tree: OCI whiteouts and opaque directories across layers,
// replaced directories, refused names, and which match of filesToSign is written where.
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { UnsafeLayerError } from "../../shared/registry/errors.ts";
import { createTar, type TarWriteEntry } from "../../shared/registry/tar.ts";
import { applyLayer, type TreeEntry } from "./image.ts";
import { selectTargets, SignerError } from "./signer.ts";

async function tree(...layers: TarWriteEntry[][]): Promise<Map<string, TreeEntry>> {
  const t = new Map<string, TreeEntry>();
  for (const [i, entries] of layers.entries()) {
    await applyLayer(t, Readable.from([createTar(entries)]), i, async (p, body) => {
      if (!p.startsWith("opt/")) return undefined;
      for await (const _chunk of body()) {
        // content is not needed here, only that it was kept
      }
      return `content:${p}`;
    });
  }
  return t;
}

describe("applyLayer", () => {
  it("applies whiteouts and opaque directories of later layers, keeping what the same layer adds", async () => {
    const t = await tree(
      [
        { path: "opt/a.ko", content: "a" },
        { path: "opt/gone.ko", content: "g" },
        { path: "opt/sub/old.ko", content: "o" },
        { path: "etc/x", content: "x" },
      ],
      [
        { path: "opt/.wh.gone.ko" },
        { path: "opt/sub/new.ko", content: "n" },
        { path: "opt/sub/.wh..wh..opq" },
      ],
    );
    expect([...t.keys()].sort()).toEqual(["etc/x", "opt/a.ko", "opt/sub/new.ko"]);
    expect(t.get("opt/a.ko")?.file).toBe("content:opt/a.ko");
    expect(t.get("etc/x")?.file).toBeUndefined();
    expect(t.get("opt/sub/new.ko")?.layer).toBe(1);
  });

  it("drops a directory's content when a later layer puts a file in its place", async () => {
    const t = await tree([{ path: "opt/d", type: "directory" }, { path: "opt/d/x.ko", content: "x" }], [{ path: "opt/d", content: "now a file" }]);
    expect([...t.keys()].sort()).toEqual(["opt/d"]);
  });

  it.each(["../escape.ko", "opt/../../escape.ko", "/abs.ko"])("refuses the entry %s", async (name) => {
    await expect(tree([{ path: name, content: "x" }])).rejects.toBeInstanceOf(UnsafeLayerError);
  });

  it("refuses a whiteout or hard link that climbs out", async () => {
    await expect(tree([{ path: "opt/.wh..." }])).rejects.toBeInstanceOf(UnsafeLayerError);
    await expect(tree([{ path: "opt/h.ko", type: "hardlink", linkname: "../../etc/shadow" }])).rejects.toBeInstanceOf(UnsafeLayerError);
  });
});

describe("selectTargets", () => {
  const image = "r.io/kmod:1";
  it("signs a symlink's target in place and writes a hard link as a file of its own", async () => {
    const t = await tree([
      { path: "opt/m/real.ko", content: "r", mode: 0o600, uid: 5 },
      { path: "opt/m/link.ko", type: "symlink", linkname: "real.ko" },
      { path: "opt/m/abs.ko", type: "symlink", linkname: "/opt/m/real.ko" },
      { path: "opt/m/hard.ko", type: "hardlink", linkname: "opt/m/real.ko" },
    ]);
    const targets = selectTargets(t, ["/opt/m/link.ko", "/opt/m/abs.ko", "/opt/m/hard.ko"], image);
    expect(targets.map((x) => [x.writePath, x.source.path])).toEqual([
      ["opt/m/hard.ko", "opt/m/real.ko"],
      ["opt/m/real.ko", "opt/m/real.ko"],
    ]);
    expect(selectTargets(t, ["/opt/m/*.ko"], image).map((x) => x.writePath)).toEqual(["opt/m/hard.ko", "opt/m/real.ko"]);
  });

  it("says which pattern matches nothing, and refuses links out of the image or out of dirName, and directories", async () => {
    const t = await tree([
      { path: "opt/m", type: "directory" },
      { path: "opt/m/out.ko", type: "symlink", linkname: "../../../etc/x.ko" },
      { path: "opt/m/etc.ko", type: "symlink", linkname: "/etc/x.ko" },
      { path: "etc/x.ko", content: "x" },
    ]);
    expect(() => selectTargets(t, ["/opt/none/*.ko"], image)).toThrow(/filesToSign entry \/opt\/none\/\*\.ko matches no file in r\.io\/kmod:1/);
    expect(() => selectTargets(t, ["/opt/m/out.ko"], image)).toThrow(/symlink pointing outside the image/);
    expect(() => selectTargets(t, ["/opt/m/etc.ko"], image)).toThrow(/outside dirName/);
    expect(() => selectTargets(t, ["/opt/m"], image)).toThrow(SignerError);
  });
});
