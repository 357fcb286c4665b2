// npm run demo [-- --exit]: starts a local fleet (hub + 2 spokes), a registry, the hub and the spoke
// editions, applies a ManagedClusterModule, and shows what reached each spoke. It keeps running until
// Ctrl-C so you can look around with kubectl; --exit stops after the summary.
import { parseArgs } from "node:util";
import { exitAfterFlush, guardOutput } from "../shared/runtime/exit.ts";
import { startFleet } from "./controlplane/fleet.ts";
import { DEMO_MCM, DEMO_SPOKE_NAMESPACE, runDemo } from "./demo/run-demo.ts";

guardOutput("demo");
const { values } = parseArgs({ options: { exit: { type: "boolean", default: false } }, strict: true });
const started = Date.now();
const fleet = await startFleet({ spokes: 2, log: (m) => console.log(`[fleet] ${m}`) });
let demo: Awaited<ReturnType<typeof runDemo>> | undefined;
const shutdown = async (code: number): Promise<never> => {
  await demo?.stop();
  await fleet.stop();
  return exitAfterFlush(code);
};
process.once("SIGINT", () => void shutdown(0));
process.once("SIGTERM", () => void shutdown(0));
try {
  demo = await runDemo(fleet.info, (m) => console.log(`[demo] ${m}`));
} catch (err) {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}\ncomponent logs: ${fleet.info.hub.logDir}`);
  await shutdown(1);
}
console.log(`\nModule ${DEMO_SPOKE_NAMESPACE}/${DEMO_MCM} on the spokes, ${((Date.now() - started) / 1000).toFixed(1)} s after start:`);
console.table(demo?.rows.map((r) => ({ cluster: r.cluster, kernel: r.kernel, "pinned image": r.image, "module-loader DaemonSet": r.daemonSet, "ready nodes": r.readyNodes.join(", ") })));
for (const c of [fleet.info.hub, ...fleet.info.spokes]) console.log(`kubectl --kubeconfig ${c.kubeconfig}   # ${c.name}`);
console.log(`logs: ${fleet.info.hub.logDir}`);
if (values.exit) await shutdown(0);
console.log("\nrunning; Ctrl-C stops everything");
