// npm run fleet -- up [--spokes N] [--real-nodes] | down | status
// A local fleet for trying things by hand: `kubectl --kubeconfig <path>` against any cluster.
import { readFile, rm, symlink, readlink } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { exitAfterFlush, guardOutput } from "../shared/runtime/exit.ts";
import { cacheDir } from "./controlplane/binaries.ts";
import { startFleet } from "./controlplane/fleet.ts";
import { httpsGet } from "./controlplane/kube.ts";
import { killRecorded } from "./controlplane/procs.ts";
import type { FleetInfo } from "./fleet-types.ts";

const current = join(cacheDir, "fleets", "current");

const realNodeSchema = z.object({ name: z.string(), hostIP: z.string(), kernelVersion: z.string(), hostRoot: z.string(), storage: z.object({ root: z.string(), runroot: z.string() }) });
const clusterSchema = z.object({ name: z.string(), kubeconfig: z.string(), server: z.string(), logDir: z.string(), users: z.record(z.string(), z.string()), realNode: realNodeSchema.optional() });
const registrySchema = z.object({ host: z.string(), caFile: z.string(), certDir: z.string(), username: z.string(), password: z.string() });
const fleetSchema = z.object({ dir: z.string(), hub: clusterSchema, spokes: z.array(clusterSchema), registry: registrySchema.optional() });

async function currentFleet(): Promise<FleetInfo | undefined> {
  try {
    const dir = await readlink(current);
    return fleetSchema.parse(JSON.parse(await readFile(join(dir, "fleet.json"), "utf8")));
  } catch {
    return undefined;
  }
}

async function up(spokes: number, realNodes: boolean): Promise<void> {
  if (await currentFleet()) {
    console.error("a fleet is already up (npm run fleet -- status); take it down first");
    await exitAfterFlush(1);
  }
  const fleet = await startFleet({ spokes, realNodes, persistent: true, log: (m) => console.log(m) });
  await rm(current, { force: true });
  await symlink(fleet.info.dir, current);
  printFleet(fleet.info);
  console.log(`\nreuse it in tests: KMM_E2E_FLEET=${join(fleet.info.dir, "fleet.json")} npx vitest run --project e2e`);
  // The fleet's processes outlive this one (persistent): exit rather than wait for their handles.
  await exitAfterFlush(0);
}

function printFleet(f: FleetInfo): void {
  for (const c of [f.hub, ...f.spokes]) {
    console.log(`${c.name.padEnd(8)} ${c.server}  kubectl --kubeconfig ${c.kubeconfig}`);
    if (c.realNode) console.log(`         real node ${c.realNode.name} (kernel ${c.realNode.kernelVersion}, host root ${c.realNode.hostRoot})`);
  }
  if (f.registry) console.log(`registry: ${f.registry.host} (user ${f.registry.username}, CA ${f.registry.caFile})`);
  console.log(`logs: ${f.hub.logDir}`);
}

async function down(): Promise<void> {
  const f = await currentFleet();
  if (!f) {
    console.log("no fleet is up");
    return;
  }
  const n = await killRecorded(join(f.dir, "logs"));
  await rm(current, { force: true });
  await rm(f.dir, { recursive: true, force: true });
  console.log(`stopped ${n} processes and removed ${f.dir}`);
}

async function status(): Promise<void> {
  const f = await currentFleet();
  if (!f) {
    console.log("no fleet is up (npm run fleet -- up)");
    return;
  }
  printFleet(f);
  for (const c of [f.hub, ...f.spokes]) {
    const kc = z.object({ clusters: z.array(z.object({ cluster: z.object({ "certificate-authority-data": z.string() }) })).min(1), users: z.array(z.object({ user: z.object({ "client-certificate-data": z.string(), "client-key-data": z.string() }) })).min(1) })
      .parse(JSON.parse(await readFile(c.kubeconfig, "utf8")));
    const b = (s: string) => Buffer.from(s, "base64");
    const res = await httpsGet(`${c.server}/readyz`, {
      ca: b(kc.clusters[0]!.cluster["certificate-authority-data"]),
      cert: b(kc.users[0]!.user["client-certificate-data"]),
      key: b(kc.users[0]!.user["client-key-data"]),
    }).catch((e: unknown) => ({ status: 0, body: String(e) }));
    console.log(`${c.name}: ${res.status === 200 ? "ready" : `not ready (${res.status} ${res.body.slice(0, 200)})`}`);
  }
}

guardOutput("fleet");
const { positionals, values } = parseArgs({ allowPositionals: true, options: { spokes: { type: "string", default: "2" }, "real-nodes": { type: "boolean", default: false } } });
const spokes = z.coerce.number().int().min(0).max(10).safeParse(values.spokes);
/** Runs the command; resolves to the exit status of a usage error, or undefined. */
async function command(): Promise<number | undefined> {
  if (!spokes.success) {
    console.error("--spokes must be a whole number from 0 to 10");
    return 2;
  }
  switch (positionals[0]) {
    case "up":
      await up(spokes.data, values["real-nodes"]);
      return undefined;
    case "down":
      await down();
      return undefined;
    case "status":
      await status();
      return undefined;
    default:
      console.error("usage: npm run fleet -- up [--spokes N] [--real-nodes] | down | status");
      return 2;
  }
}
const usageError = await command();
if (usageError !== undefined) await exitAfterFlush(usageError);
