// The images project: builds the four images once per test run (buildImages: cached, so a warm
// run costs seconds) and pushes them to a fresh local docker-registry, which the tests pull back from.
import type { TestProject } from "vitest/node";
import { startRegistry } from "../shared/registry/testing/registry-server.ts";
import { buildImages, type BuiltImages } from "./build.ts";

declare module "vitest" {
  export interface ProvidedContext {
    images: { registry: string; built: BuiltImages; revision: string; buildSeconds: number };
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const registry = await startRegistry();
  try {
    const started = Date.now();
    const result = await buildImages({ registry: `${registry.host}/kmm-hub`, tlsVerify: false, push: true, log: (l) => console.log(`[images] ${l}`) });
    const buildSeconds = (Date.now() - started) / 1000;
    console.log(`[images] ${result.built ? "built" : "reused"} and pushed in ${buildSeconds.toFixed(1)} s`);
    project.provide("images", { registry: registry.host, built: result.images, revision: result.revision, buildSeconds });
  } catch (err) {
    await registry.stop();
    throw err;
  }
  return () => registry.stop();
}
