// Which images a finished build prunes from the project's storage: earlier revisions' images,
// build stages of earlier versions (localhost/kmm-hub/staged:…) and untagged leftovers go; this
// build's images, the base images and anything not named by this project stay. After the run's
// own build, the storage holds no final image other than that build's, one packages image per
// program, and no build stage.
import { expect, inject, it } from "vitest";
import { buildah, projectStorage } from "./buildah.ts";
import { DEFAULT_CACHE_DIR, IMAGE_NAMES, prunableImages } from "./build.ts";

const { built } = inject("images");

it("selects earlier builds' images, keeps this build's, the base images and foreign images", () => {
  const stored = [
    { id: "hub-now", names: ["localhost/kmm-hub/kmm-hub:0.1.0-abc"] },
    { id: "hub-old", names: ["localhost/kmm-hub/kmm-hub:0.1.0-old", "localhost/kmm-hub/kmm-hub:0.1.0-older"] },
    { id: "staged-now", names: ["localhost/kmm-hub/staged:k2"] },
    { id: "staged-old", names: ["localhost/kmm-hub/staged:k1"] },
    { id: "untagged", names: [] },
    { id: "base", names: ["localhost/kmm-hub/base:t1", "localhost/kmm-hub/base:t0"] },
    { id: "base-debian", names: ["localhost/kmm-hub/base-debian:t1"] },
    { id: "foreign", names: ["docker.io/library/debian:trixie"] },
    { id: "both", names: ["localhost/kmm-hub/kmm-hub:0.1.0-old", "localhost/kmm-hub/kmm-hub:0.1.0-abc"] },
  ];
  expect(prunableImages(stored, ["localhost/kmm-hub/kmm-hub:0.1.0-abc"]).map((i) => i.id).sort()).toEqual(["hub-old", "staged-now", "staged-old", "untagged"]);
});

it("leaves the storage with one set of final images after the run's build", async () => {
  const names = (await buildah(projectStorage(DEFAULT_CACHE_DIR), ["images", "--noheading", "--format", "{{.Name}}:{{.Tag}}"])).split("\n").map((l) => l.trim()).filter((l) => l.startsWith("localhost/kmm-hub/") && !l.startsWith("localhost/kmm-hub/base"));
  const finals = names.filter((n) => !n.startsWith("localhost/kmm-hub/staged:") && !n.startsWith("localhost/kmm-hub/packages-"));
  expect(finals.sort()).toEqual(IMAGE_NAMES.map((n) => built[n].local).sort());
  // The packages images the four were built on (base + node_modules): one per program, none of earlier packages.
  const packages = names.filter((n) => n.startsWith("localhost/kmm-hub/packages-")).map((n) => n.replace(/^localhost\/kmm-hub\/packages-([a-z]+):[0-9a-f]{24}$/, "$1"));
  expect(packages.sort()).toEqual([...IMAGE_NAMES].sort());
  expect(names.filter((n) => n.startsWith("localhost/kmm-hub/staged:"))).toEqual([]);
});
