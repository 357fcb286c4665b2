// npm run demo [-- --exit] [--kwok-only]: starts a local fleet (hub + 2 spokes, each with real nodes
// unless --kwok-only) and a registry, installs KMM-Hub from its images as users do (the hub's install
// file on the hub's two real nodes, the spoke editions through one Policy on every spoke's real node;
// with --kwok-only nothing can run an image, so hub and spoke editions run in this process), applies a
// ManagedClusterModule, and shows what reached each spoke and each node — which are kwok nodes
// (simulated: nothing runs) and what the worker really did on the real ones — and which hub pod led.
// It keeps running until Ctrl-C so you can look around with kubectl; --exit stops after the summary.
import { parseArgs } from "node:util";
import { exitAfterFlush, guardOutput } from "../shared/runtime/exit.ts";
import { startFleet } from "./controlplane/fleet.ts";
import { SPOKE_POLICY } from "./demo/install.ts";
import { DEMO_MCM, DEMO_SPOKE_NAMESPACE, runDemo } from "./demo/run-demo.ts";
import { buildFleetImages, pushFleetImages } from "./support/fleet-images.ts";

guardOutput("demo");
const { values } = parseArgs({ options: { exit: { type: "boolean", default: false }, "kwok-only": { type: "boolean", default: false } }, strict: true });
const started = Date.now();
const seconds = (from: number) => `${((Date.now() - from) / 1000).toFixed(1)} s`;
const realNodes = !values["kwok-only"];
// The product images for the real nodes are built while the fleet starts (images/build.ts reuses an unchanged build).
const build = realNodes ? buildFleetImages((m) => console.log(`[images] ${m}`)) : undefined;
build?.catch(() => undefined);
const fleet = await startFleet({ spokes: 2, realNodes, log: (m) => console.log(`[fleet] ${m}`) }).catch(async (err: unknown) => {
  await build?.catch(() => undefined);
  throw err;
});
const fleetSeconds = seconds(started);
let demo: Awaited<ReturnType<typeof runDemo>> | undefined;
let timings: Record<string, string> = {};
const shutdown = async (code: number): Promise<never> => {
  await demo?.stop();
  await fleet.stop();
  return exitAfterFlush(code);
};
process.once("SIGINT", () => void shutdown(0));
process.once("SIGTERM", () => void shutdown(0));
try {
  const registry = fleet.info.registry;
  const imagesStarted = Date.now();
  const images = registry !== undefined ? await pushFleetImages(registry, (m) => console.log(`[images] ${m}`)) : undefined;
  const imagesSeconds = seconds(imagesStarted);
  demo = await runDemo(fleet.info, (m) => console.log(`[demo] ${m}`), images !== undefined ? { images } : {});
  timings = { fleet: fleetSeconds, images: images !== undefined ? `${imagesSeconds} after the fleet (build ${images.built ? "ran" : "reused"}: ${images.buildSeconds.toFixed(1)} s beside the fleet; push ${images.pushSeconds.toFixed(1)} s)` : "none (--kwok-only)", install: `${demo.timings.installSeconds.toFixed(1)} s`, "MCM → spokes": `${demo.timings.mcmSeconds.toFixed(1)} s` };
} catch (err) {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}\ncomponent logs: ${fleet.info.hub.logDir}`);
  await shutdown(1);
}
console.log(`\nModule ${DEMO_SPOKE_NAMESPACE}/${DEMO_MCM} on the spokes, ${((Date.now() - started) / 1000).toFixed(1)} s after start:`);
console.table(demo?.rows.map((r) => ({ cluster: r.cluster, kernel: r.kernel, "pinned image": r.image, "module-loader DaemonSet": r.daemonSet, "ready nodes": r.readyNodes.join(", ") })));
console.log("\nNodes the Module selects (kwok nodes are simulated: nothing runs on them; real nodes run the pods as containers):");
console.table(demo?.nodes.map((n) => ({ cluster: n.cluster, node: n.node, kind: n.kind, kernel: n.kernel, outcome: n.outcome })));
if (demo?.hub.runs === "image") {
  const leader = demo.hub.leader;
  console.log(`\nKMM-Hub from its images on the real nodes (the hub's install file; the spoke editions through one Policy, ${SPOKE_POLICY}), each pod bound to its node's own address:`);
  console.table([
    ...demo.hub.pods.map((p) => ({ cluster: p.cluster, pod: p.pod, node: p.node, address: p.address, image: p.image, restarts: p.restarts, role: p.pod === leader ? "hub, leader (holds the Lease)" : "hub, follower" })),
    ...demo.spokeEditions.map((p) => ({ cluster: p.cluster, pod: p.pod, node: p.node, address: p.address, image: p.image, restarts: p.restarts, role: `spoke edition (Policy ${p.compliant}, written by ${p.writtenBy.join(", ")})` })),
  ]);
} else {
  console.log("\nThe hub and the spoke editions ran in this process (--kwok-only: no real node can run their images).");
}
console.log("\nTimes:");
console.table([timings]);
for (const c of [fleet.info.hub, ...fleet.info.spokes]) console.log(`kubectl --kubeconfig ${c.kubeconfig}   # ${c.name}`);
console.log(`logs: ${fleet.info.hub.logDir}`);
if (values.exit) await shutdown(0);
console.log("\nrunning; Ctrl-C stops everything");
