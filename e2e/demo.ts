// npm run demo [-- --exit] [--kwok-only]: starts a local fleet (hub + 2 spokes, each with real nodes
// unless --kwok-only) and a registry, installs KMM-Hub from its images as users do (the hub's install
// file on the hub's two real nodes, the spoke editions through one Policy on every spoke's real node;
// with --kwok-only nothing can run an image, so hub and spoke editions run in this process), applies a
// ManagedClusterModule, and shows what reached each spoke and each node — which are kwok nodes
// (simulated: nothing runs) and what the worker really did on the real ones — and which hub pod led.
// It keeps running until Ctrl-C so you can look around with kubectl; --exit stops after the summary.
// Stopping (Ctrl-C: exit 130, --exit: 0) stops the fleet and removes its data (etcd, registry, real
// nodes' storage); its logs stay under .cache/fleets for a day. Ctrl-C while the fleet starts does the same.
import { parseCommandLine, runCommandLine } from "../shared/runtime/cli-args.ts";
import { guardOutput } from "../shared/runtime/exit.ts";
import { FleetInterruptedError, startFleet } from "./controlplane/fleet.ts";
import { SPOKE_POLICY } from "./demo/install.ts";
import { DEMO_MCM, DEMO_SPOKE_NAMESPACE, runDemo } from "./demo/run-demo.ts";
import { buildFleetImages, pushFleetImages } from "./support/fleet-images.ts";

const USAGE = `usage: npm run demo [-- [--exit] [--kwok-only]]
Starts a local fleet (hub + 2 spokes, each with real nodes), installs KMM-Hub from its images, applies
a ManagedClusterModule and shows what reached each spoke and node; then keeps running until Ctrl-C.
  --exit        stop after the summary (exit 0)
  --kwok-only   no real nodes: the hub and spoke editions run in this process
Stopping removes the fleet's data; its logs stay under .cache/fleets for a day. Ctrl-C exits 130.`;

/** Exit status after a signal, as shells report a program the signal ended (128 + its number). */
const signalExit = (signal: NodeJS.Signals): number => (signal === "SIGINT" ? 130 : 143);

async function demoMain(exitAfterSummary: boolean, realNodes: boolean): Promise<number> {
  const started = Date.now();
  const seconds = (from: number) => `${((Date.now() - from) / 1000).toFixed(1)} s`;
  // The product images for the real nodes are built while the fleet starts (images/build.ts reuses an unchanged build).
  const build = realNodes ? buildFleetImages((m) => console.log(`[images] ${m}`)) : undefined;
  build?.catch(() => undefined);
  let fleet: Awaited<ReturnType<typeof startFleet>>;
  try {
    fleet = await startFleet({ spokes: 2, realNodes, log: (m) => console.log(`[fleet] ${m}`) });
  } catch (err) {
    await build?.catch(() => undefined);
    if (!(err instanceof FleetInterruptedError)) throw err;
    console.log(`stopped (${err.signal} while the fleet was starting): what had started is stopped and its data removed`);
    return signalExit(err.signal);
  }
  const fleetSeconds = seconds(started);
  const logs = fleet.info.hub.logDir;
  let demo: Awaited<ReturnType<typeof runDemo>> | undefined;
  let stopping: Promise<number> | undefined;
  const stop = (code: number, why: string): Promise<number> =>
    (stopping ??= (async () => {
      await demo?.stop();
      await fleet.stop();
      console.log(`stopped (${why}): fleet stopped and its data removed; logs: ${logs}`);
      return code;
    })());
  const signalled = new Promise<number>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => resolve(stop(signalExit(signal), signal));
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  });
  let timings: Record<string, string> = {};
  const work = async (): Promise<undefined> => {
    const registry = fleet.info.registry;
    const imagesStarted = Date.now();
    const images = registry !== undefined ? await pushFleetImages(registry, (m) => console.log(`[images] ${m}`)) : undefined;
    const imagesSeconds = seconds(imagesStarted);
    demo = await runDemo(fleet.info, (m) => console.log(`[demo] ${m}`), images !== undefined ? { images } : {});
    timings = { fleet: fleetSeconds, images: images !== undefined ? `${imagesSeconds} after the fleet (build ${images.built ? "ran" : "reused"}: ${images.buildSeconds.toFixed(1)} s beside the fleet; push ${images.pushSeconds.toFixed(1)} s)` : "none (--kwok-only)", install: `${demo.timings.installSeconds.toFixed(1)} s`, "MCM → spokes": `${demo.timings.mcmSeconds.toFixed(1)} s` };
    return undefined;
  };
  try {
    // Ctrl-C during the install ends the wait: the fleet stops, whatever the demo was doing.
    const interrupted = await Promise.race([work(), signalled]);
    if (interrupted !== undefined) return interrupted;
  } catch (err) {
    console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}\ncomponent logs: ${logs}`);
    return stop(1, "the demo failed");
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
  // --exit: the fleet stops now, so no kubectl line for it.
  if (exitAfterSummary) return stop(0, "--exit");
  for (const c of [fleet.info.hub, ...fleet.info.spokes]) console.log(`kubectl --kubeconfig ${c.kubeconfig}   # ${c.name}`);
  console.log(`logs: ${logs}`);
  console.log("\nrunning; Ctrl-C stops everything");
  return signalled;
}

guardOutput("demo");
const argv = process.argv.slice(2);
await runCommandLine({ name: "demo", usage: USAGE, helpCommand: "npm run demo -- --help" }, argv, async () => {
  const { values } = parseCommandLine({ args: argv, options: { exit: { type: "boolean", default: false }, "kwok-only": { type: "boolean", default: false } }, strict: true });
  return demoMain(values.exit, !values["kwok-only"]);
});
