// The whole chain at once, as `npm run demo` shows it: registry → hub (pinning, ManifestWorks) →
// real OCM work agent → spoke edition (claims, DaemonSets per kernel, ready labels).
import { afterAll, describe, expect, inject, it } from "vitest";
import { cleanUpDemo, runDemo, type Demo } from "./demo/run-demo.ts";

const fleet = inject("fleet");
let demo: Demo | undefined;

afterAll(async () => {
  await demo?.stop();
  await cleanUpDemo(fleet);
});

describe("npm run demo", () => {
  it("loads the module on every node of every selected spoke, one DaemonSet per kernel, images pinned by digest", async () => {
    demo = await runDemo(fleet);
    expect(demo.rows.map((r) => [r.cluster, r.kernel, r.readyNodes.length])).toEqual([
      ["spoke1", "6.1.0-18-amd64", 1],
      ["spoke2", "6.1.0-18-amd64", 1],
      ["spoke2", "6.1.0-21-amd64", 1],
    ]);
    for (const r of demo.rows) expect(r.image).toMatch(new RegExp(`^${demo.registry.replace(/[.]/g, "\\.")}/kmm-demo/gpu-driver@sha256:[0-9a-f]{64}$`));
    const spoke2 = demo.rows.filter((r) => r.cluster === "spoke2");
    expect(new Set(spoke2.map((r) => r.daemonSet)).size).toBe(2);
    expect(spoke2[0]?.image).not.toBe(spoke2[1]?.image);
    // The spoke Modules' counters, back on the hub as typed MCM status through the feedback rules.
    expect(demo.clusters).toEqual([
      { cluster: "spoke1", state: "Available", moduleLoader: { nodesMatchingSelectorNumber: 1, desiredNumber: 1, availableNumber: 1 } },
      { cluster: "spoke2", state: "Available", moduleLoader: { nodesMatchingSelectorNumber: 2, desiredNumber: 2, availableNumber: 2 } },
    ]);
  });
});
