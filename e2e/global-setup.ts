// Starts one local fleet (hub + 2 spokes, each with a real node) for the e2e project and stops it
// afterwards, and pushes the product's four images to the fleet's registry (built while the fleet
// starts). KMM_E2E_FLEET=<fleet.json> reuses a fleet started with `npm run fleet -- up` instead.
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { cacheDir } from "./controlplane/binaries.ts";
import type { TestProject } from "vitest/node";
import { startFleet } from "./controlplane/fleet.ts";
import type { FleetInfo } from "./fleet-types.ts";
import { buildFleetImages, pushFleetImages } from "./support/fleet-images.ts";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // ServiceAccount token folders of e2e/support/service-account.ts: test workers may be ended
  // before their exit handler removes them, so the run removes them once its workers are gone.
  const dropTokens = () => rm(join(cacheDir, "sa-tokens"), { recursive: true, force: true });
  const imageLog = (m: string) => console.log(`[images] ${m}`);
  // Built while the fleet starts; a failed build is reported once the fleet is up (or stopped).
  const build = buildFleetImages(imageLog);
  build.catch(() => undefined);
  const reuse = process.env.KMM_E2E_FLEET;
  if (reuse) {
    const info = JSON.parse(await readFile(reuse, "utf8")) as FleetInfo;
    if (info.registry === undefined) throw new Error(`the fleet of ${reuse} has no registry: start it with \`npm run fleet -- up --real-nodes\``);
    project.provide("productImages", await pushFleetImages(info.registry, imageLog));
    project.provide("fleet", info);
    return dropTokens;
  }
  const fleet = await startFleet({ spokes: 2, realNodes: true, log: (m) => console.log(`[fleet] ${m}`) }).catch(async (err: unknown) => {
    // buildah keeps working (and writing temporary files) until the build ends: let it end first.
    await build.catch(() => undefined);
    throw err;
  });
  console.log(`[fleet] component logs: ${fleet.info.hub.logDir}`);
  const stop = async () => {
    await fleet.stop();
    await dropTokens();
  };
  try {
    if (fleet.info.registry === undefined) throw new Error("the fleet started without its registry");
    project.provide("productImages", await pushFleetImages(fleet.info.registry, imageLog));
  } catch (err) {
    await stop();
    throw err;
  }
  project.provide("fleet", fleet.info);
  return stop;
}
