// The whole chain at once, as `npm run demo` shows it: registry → hub (pinning, ManifestWorks) →
// real OCM work agent → spoke edition (claims, DaemonSets per kernel, ready labels), on the spokes'
// kwok nodes and their real nodes, where the worker really runs and this kernel refuses (ENOSYS).
import { afterAll, describe, expect, inject, it } from "vitest";
import { cleanUpDemo, runDemo, type Demo } from "./demo/run-demo.ts";

const fleet = inject("fleet");
const images = inject("productImages");
const realKernel = fleet.spokes[0]?.realNode?.kernelVersion;
if (realKernel === undefined) throw new Error("this suite needs a fleet with real nodes (startFleet({ realNodes: true }))");
let demo: Demo | undefined;

afterAll(async () => {
  await demo?.stop();
  await cleanUpDemo(fleet);
});

describe("npm run demo", () => {
  it("loads the module on every node of every selected spoke, one DaemonSet per kernel, images pinned by digest", async () => {
    demo = await runDemo(fleet, undefined, { workerImage: images.refs.worker });
    expect(demo.rows.map((r) => [r.cluster, r.kernel, r.readyNodes.length])).toEqual([
      ["spoke1", "6.1.0-18-amd64", 1],
      ["spoke2", "6.1.0-18-amd64", 1],
      ["spoke2", "6.1.0-21-amd64", 1],
    ]);
    for (const r of demo.rows) expect(r.image).toMatch(new RegExp(`^${demo.registry.replace(/[.]/g, "\\.")}/kmm-demo/gpu-driver@sha256:[0-9a-f]{64}$`));
    const spoke2 = demo.rows.filter((r) => r.cluster === "spoke2");
    expect(new Set(spoke2.map((r) => r.daemonSet)).size).toBe(2);
    expect(spoke2[0]?.image).not.toBe(spoke2[1]?.image);
    // Which nodes are kwok nodes (simulated), and what the worker really did on each real node.
    const kwok = "loaded (simulated: kwok runs nothing)";
    expect(demo.nodes.map((n) => [n.cluster, n.node, n.kind, n.kernel, n.kind === "kwok" ? n.outcome : "(below)"])).toEqual([
      ["spoke1", "spoke1-gpu-0", "kwok", "6.1.0-18-amd64", kwok],
      ["spoke1", "spoke1-real", "real", realKernel, "(below)"],
      ["spoke2", "spoke2-gpu-0", "kwok", "6.1.0-18-amd64", kwok],
      ["spoke2", "spoke2-gpu-1", "kwok", "6.1.0-21-amd64", kwok],
      ["spoke2", "spoke2-real", "real", realKernel, "(below)"],
    ]);
    for (const n of demo.nodes.filter((x) => x.kind === "real")) {
      expect(n.outcome).toMatch(new RegExp(`^not loaded: node ${n.node}, container worker: module gpu_driver, kernel ${realKernel.replace(/[.]/g, "\\.")}: load module failed: modprobe .* -- gpu_driver failed \\(exit 1\\): `));
      expect(n.outcome).toContain("modprobe: ERROR: could not insert 'gpu_driver': Function not implemented; hint: the kernel cannot load modules (ENOSYS)");
    }
    // The spoke Modules' counters, back on the hub as typed MCM status through the feedback rules:
    // the real nodes' pods are desired and not available.
    expect(demo.clusters).toEqual([
      { cluster: "spoke1", state: "Available", moduleLoader: { nodesMatchingSelectorNumber: 2, desiredNumber: 2, availableNumber: 1 } },
      { cluster: "spoke2", state: "Available", moduleLoader: { nodesMatchingSelectorNumber: 3, desiredNumber: 3, availableNumber: 2 } },
    ]);
  });
});
