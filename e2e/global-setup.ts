// Starts one local fleet (hub + 2 spokes, each with a real node) for the e2e project and stops it afterwards.
// KMM_E2E_FLEET=<fleet.json> reuses a fleet started with `npm run fleet -- up` instead.
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { cacheDir } from "./controlplane/binaries.ts";
import type { TestProject } from "vitest/node";
import { startFleet } from "./controlplane/fleet.ts";
import type { FleetInfo } from "./fleet-types.ts";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // ServiceAccount token folders of e2e/support/service-account.ts: test workers may be ended
  // before their exit handler removes them, so the run removes them once its workers are gone.
  const dropTokens = () => rm(join(cacheDir, "sa-tokens"), { recursive: true, force: true });
  const reuse = process.env.KMM_E2E_FLEET;
  if (reuse) {
    project.provide("fleet", JSON.parse(await readFile(reuse, "utf8")) as FleetInfo);
    return dropTokens;
  }
  const fleet = await startFleet({ spokes: 2, realNodes: true, log: (m) => console.log(`[fleet] ${m}`) });
  console.log(`[fleet] component logs: ${fleet.info.hub.logDir}`);
  project.provide("fleet", fleet.info);
  return async () => {
    await fleet.stop();
    await dropTokens();
  };
}
