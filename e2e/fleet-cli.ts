// npm run fleet -- up [--spokes N] [--real-nodes] | down | status  (--help: usage)
// A local fleet for trying things by hand: `kubectl --kubeconfig <path>` against any cluster.
import { readFile, rm, symlink, readlink } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { z } from "zod";
import { parseCommandLine, runCommandLine, UsageError } from "../shared/runtime/cli-args.ts";
import { guardOutput } from "../shared/runtime/exit.ts";
import { cacheDir } from "./controlplane/binaries.ts";
import { FleetInterruptedError, realNodeNames, startFleet } from "./controlplane/fleet.ts";
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

async function up(spokes: number, realNodes: boolean): Promise<number> {
  if (await currentFleet()) {
    console.error("a fleet is already up (npm run fleet -- status); take it down first");
    return 1;
  }
  let fleet: Awaited<ReturnType<typeof startFleet>>;
  try {
    fleet = await startFleet({ spokes, realNodes, persistent: true, log: (m) => console.log(m) });
  } catch (err) {
    if (!(err instanceof FleetInterruptedError)) throw err;
    console.log(`stopped (${err.signal} while the fleet was starting): what had started is stopped and its data removed`);
    return 130;
  }
  await rm(current, { force: true });
  await symlink(fleet.info.dir, current);
  printFleet(fleet.info);
  console.log(`\nreuse it in tests: KMM_E2E_FLEET=${join(fleet.info.dir, "fleet.json")} npx vitest run --project e2e`);
  // The fleet's processes outlive this one (persistent): runCommandLine exits rather than wait for their handles.
  return 0;
}

function printFleet(f: FleetInfo): void {
  for (const c of [f.hub, ...f.spokes]) {
    console.log(`${c.name.padEnd(8)} ${c.server}  kubectl --kubeconfig ${c.kubeconfig}`);
    if (c.realNode) {
      // The hub has more real nodes than FleetInfo's first (hub-real-2: realNodeLayout).
      const names = realNodeNames([c.name], true);
      console.log(`         real node${names.length > 1 ? "s" : ""} ${names.join(", ")} (kernel ${c.realNode.kernelVersion}, host root ${c.realNode.hostRoot})`);
    }
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

const USAGE = `usage: npm run fleet -- up [--spokes N] [--real-nodes] | down | status
  up      start a fleet (hub + N spokes, default 2; --real-nodes: nodes that run pods, and a registry)
          that keeps running after this command, until \`down\`
  down    stop the fleet and remove its folder
  status  print the clusters, their kubeconfigs and whether each API server is ready`;

/** The fleet command of a command line. Throws UsageError for anything else. */
export function parseFleetArgs(argv: readonly string[]): { command: "up" | "down" | "status"; spokes: number; realNodes: boolean } {
  const { positionals, values } = parseCommandLine({ args: [...argv], allowPositionals: true, strict: true, options: { spokes: { type: "string", default: "2" }, "real-nodes": { type: "boolean", default: false } } });
  const spokes = z.coerce.number().int().min(0).max(10).safeParse(values.spokes);
  if (!spokes.success) throw new UsageError("--spokes must be a whole number from 0 to 10");
  const [command, ...extra] = positionals;
  if (command !== "up" && command !== "down" && command !== "status") throw new UsageError(command === undefined ? "no command given" : `unknown command ${JSON.stringify(command)}`);
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(" ")}`);
  return { command, spokes: spokes.data, realNodes: values["real-nodes"] };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  guardOutput("fleet");
  const argv = process.argv.slice(2);
  await runCommandLine({ name: "fleet", usage: USAGE, helpCommand: "npm run fleet -- --help" }, argv, async () => {
    const args = parseFleetArgs(argv);
    if (args.command === "up") return up(args.spokes, args.realNodes);
    await (args.command === "down" ? down() : status());
    return 0;
  });
}
