import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { dropData, realNodeNames } from "./fleet.ts";

describe("a stopped or failed fleet leaves only its logs", () => {
  let dir = "";
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const fleetFolder = async (): Promise<string> => {
    dir = await mkdtemp(join(tmpdir(), "kmm-fleet-cleanup-"));
    for (const sub of ["logs", "hub/etcd", "hub/pki", "spoke1/etcd", "spoke1/real-node/storage", "registry/docker"]) await mkdir(join(dir, sub), { recursive: true });
    await writeFile(join(dir, "registry/docker/blob"), "x".repeat(1024));
    await writeFile(join(dir, "logs/etcd-hub.log"), "started\n");
    await writeFile(join(dir, "fleet.json"), "{}");
    return dir;
  };

  it("its own folder: everything but logs/ goes (etcd data, registry images, real nodes' storage)", async () => {
    const d = await fleetFolder();
    await dropData(d, true, ["hub", "spoke1"]);
    expect(await readdir(d)).toEqual(["logs"]);
    expect(await readdir(join(d, "logs"))).toEqual(["etcd-hub.log"]);
  });

  it("a folder the caller named: only the clusters' etcd data goes", async () => {
    const d = await fleetFolder();
    await dropData(d, false, ["hub", "spoke1"]);
    expect((await readdir(d)).sort()).toEqual(["fleet.json", "hub", "logs", "registry", "spoke1"]);
    expect(await readdir(join(d, "hub"))).toEqual(["pki"]);
  });
});

describe("realNodeNames", () => {
  it("names every real node, the hub's second one too", () => {
    expect(realNodeNames(["hub", "spoke1", "spoke2"], true)).toEqual(["hub-real", "hub-real-2", "spoke1-real", "spoke2-real"]);
    expect(realNodeNames(["hub", "spoke1"], { hubNodes: 1 })).toEqual(["hub-real", "spoke1-real"]);
  });
});
