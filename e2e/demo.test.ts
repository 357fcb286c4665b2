// The whole chain at once, as `npm run demo` shows it: KMM-Hub installed from its images (the hub's
// install file: 2 replicas with leader election on the hub's real nodes; the spoke editions through
// one Policy on the spokes' real nodes), then registry → hub (pinning, ManifestWorks) → real OCM work
// agent → spoke edition (claims, DaemonSets per kernel, ready labels), on the spokes' kwok nodes and
// their real nodes, where the worker really runs and this kernel refuses (ENOSYS).
import { afterAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { RawClient } from "../shared/kube/raw.ts";
import { Policy } from "../shared/ocm/policy.ts";
import { connectionFrom } from "./controlplane/kube.ts";
import { SPOKE_POLICY } from "./demo/install.ts";
import { cleanUpDemo, runDemo, type Demo } from "./demo/run-demo.ts";

const fleet = inject("fleet");
const images = inject("productImages");
const realKernel = fleet.spokes[0]?.realNode?.kernelVersion;
const hubNode = fleet.hub.realNode?.name;
if (realKernel === undefined || hubNode === undefined) throw new Error("this suite needs a fleet with real nodes (startFleet({ realNodes: true }))");
let demo: Demo | undefined;

afterAll(async () => {
  await demo?.stop();
  await cleanUpDemo(fleet);
});

describe("npm run demo", () => {
  it("loads the module on every node of every selected spoke, one DaemonSet per kernel, images pinned by digest", async () => {
    demo = await runDemo(fleet, undefined, { images });
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

  it("went through the hub running from its image: 2 replicas on the hub's real nodes, the Lease held by one of them; the spoke editions from their image through one Policy", async () => {
    if (demo === undefined) throw new Error("the first test did not run the demo");
    // No hub in this process: the MCM reached the spokes through the Deployment's pods, one of which led.
    expect(demo.hub.runs).toBe("image");
    expect(demo.hub.pods.map((p) => [p.node, p.image, p.restarts]).sort()).toEqual([
      [hubNode, images.refs.hub, 0],
      [`${hubNode}-2`, images.refs.hub, 0],
    ]);
    expect(demo.hub.pods.map((p) => p.pod)).toContain(demo.hub.leader);
    // Each spoke's edition on its real node, written by the config policy controller from the one Policy, Compliant on every spoke.
    expect(demo.spokeEditions.map((p) => [p.cluster, p.node, p.image, p.restarts, p.compliant])).toEqual(
      fleet.spokes.map((s) => [s.name, s.realNode?.name, images.refs.spoke, 0, "Compliant"]),
    );
    // Every pod on its node's own address, which its servers bind to ($(POD_IP)): no two collide on the shared network.
    expect(demo.hub.pods.map((p) => p.address).sort()).toEqual(["127.0.0.1", "127.0.0.2"]);
    expect(demo.spokeEditions.map((p) => p.address)).toEqual(fleet.spokes.map((s) => s.realNode?.hostIP));
    expect(new Set([...demo.hub.pods, ...demo.spokeEditions].map((p) => p.address)).size).toBe(2 + fleet.spokes.length);
    // One root Policy on the hub, as users apply it, Compliant on both spokes.
    const hubRaw = new RawClient(await connectionFrom(fleet.hub.kubeconfig));
    try {
      const all = z.object({ items: z.array(z.looseObject({ metadata: z.looseObject({ name: z.string() }) })) }).parse((await hubRaw.request("GET", "/apis/policy.open-cluster-management.io/v1/policies")).body).items;
      const roots = all.filter((p) => p.metadata.name === "install-kmm-spoke").map((p) => Policy.parse(p));
      expect(roots.map((p) => `${p.metadata.namespace ?? ""}/${p.metadata.name}`)).toEqual([SPOKE_POLICY]);
      expect(roots[0]?.status?.status?.map((c) => [c.clustername, c.compliant]).sort()).toEqual(fleet.spokes.map((s) => [s.name, "Compliant"]));
    } finally {
      hubRaw.close();
    }
    for (const p of demo.spokeEditions) expect(p.writtenBy).toContain("config-policy-controller");
  });
});
