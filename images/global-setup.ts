// The images project: builds the four images once per test run (buildImages: cached, so a warm
// run costs seconds) and pushes them to a fresh local docker-registry, which the tests pull back from.
// The build uses a snapshot of the sources, which the tests also compare against and build again
// from: the work tree may change under a running test.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { startRegistry } from "../shared/registry/testing/registry-server.ts";
import { buildImages, snapshotSources, sourceRevision, type BuiltImages } from "./build.ts";

declare module "vitest" {
  export interface ProvidedContext {
    images: { registry: string; built: BuiltImages; revision: string; sources: string; buildSeconds: number };
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = await mkdtemp(path.join(tmpdir(), "kmm-images-sources-"));
  const registry = await startRegistry();
  const cleanup = async () => {
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const { revision } = await sourceRevision();
    const sources = await snapshotSources(path.join(dir, "src"));
    const started = Date.now();
    const result = await buildImages({ root: sources, revision, registry: `${registry.host}/kmm-hub`, tlsVerify: false, push: true, log: (l) => console.log(`[images] ${l}`) });
    const buildSeconds = (Date.now() - started) / 1000;
    console.log(`[images] ${result.built ? "built" : "reused"} and pushed in ${buildSeconds.toFixed(1)} s`);
    project.provide("images", { registry: registry.host, built: result.images, revision: result.revision, sources, buildSeconds });
  } catch (err) {
    await cleanup();
    throw err;
  }
  return cleanup;
}
