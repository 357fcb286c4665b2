#!/usr/bin/env node
// kmm-hub: `run` the hub controllers, or `render` the ManifestWorks of an MCM offline.
import { realpathSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { InClusterConfigError, KubeconfigError, NoConnectionError } from "../shared/kube/connection.ts";
import { isParseArgsError, usageErrorText, UsageError } from "../shared/runtime/cli-args.ts";
import { applyBindAddressFlags, BIND_ADDRESS_FLAGS, ConfigError, exitAfterFlush, guardOutput, loadConfig } from "../shared/runtime/index.ts";
import { HubStartError, runHub } from "./main.ts";
import { RenderInputError, parseClusters, parseDigests, parseMcm, render, toJson, toYaml } from "./render.ts";

export const USAGE = `usage:
  kmm-hub run [--config FILE] [--kubeconfig FILE] [--namespace NS] [--registry-ca FILE]
              [--health-probe-bind-address ADDR] [--metrics-bind-address ADDR]
  kmm-hub render --mcm FILE --cluster FILE [--cluster FILE ...] [--digests FILE] [-o yaml|json]

render prints the ManifestWorks the hub would write for the ManagedClusterModule in --mcm and the
ManagedClusters (with their kernel-versions.kmm.node.kubernetes.io claims) in the --cluster files:
as YAML documents that YAML 1.1 readers such as kubectl read back to the same strings (-o yaml, the
default), or as one JSON List (-o json). --digests is a map "image: sha256:…" standing in for the
registry; a tag missing from it leaves its cluster without a ManifestWork. Exit status: 0 every
selected cluster and kernel rendered, 1 bad input, 2 some selected clusters or kernels skipped
(each named on stderr with the reason).
--health-probe-bind-address and --metrics-bind-address (controller-runtime's flags) win over the
config file's healthProbeBindAddress and metrics.bindAddress, e.g. "$(POD_IP):8081" from the pod spec.`;

export { UsageError };
const PROGRAM = { name: "kmm-hub", usage: USAGE, helpCommand: "kmm-hub --help" };

/** A `run` flag naming a file that cannot be used (printed in one line, exit 1). */
export class RunInputError extends Error {
  override readonly name = "RunInputError";
}

export interface CliIO {
  out: (s: string) => void;
  err: (s: string) => void;
  readFile: (path: string) => Promise<string>;
}

const defaultIO: CliIO = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  readFile: (p) => readFile(p, "utf8"),
};

async function read(io: CliIO, path: string, what: string): Promise<string> {
  try {
    return await io.readFile(path);
  } catch (err: unknown) {
    throw new RenderInputError(`cannot read ${what} ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

async function renderCommand(args: string[], io: CliIO): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      help: { type: "boolean", short: "h" },
      mcm: { type: "string" },
      cluster: { type: "string", multiple: true },
      digests: { type: "string" },
      output: { type: "string", short: "o", default: "yaml" },
    },
    strict: true,
  });
  if (values.help === true) return help(io);
  if (values.output !== "yaml" && values.output !== "json") throw new UsageError(`-o must be yaml or json, not ${JSON.stringify(values.output)}`);
  if (values.mcm === undefined) throw new UsageError("render needs --mcm FILE");
  if (values.cluster === undefined || values.cluster.length === 0) throw new UsageError("render needs at least one --cluster FILE");
  const mcm = parseMcm(await read(io, values.mcm, "ManagedClusterModule file"), values.mcm);
  const clusters = [];
  const seen = new Map<string, string>();
  for (const f of values.cluster) {
    const parsed = parseClusters(await read(io, f, "ManagedCluster file"), f);
    parsed.forEach((c, i) => {
      // ManagedClusters are cluster-scoped: two with one name would make two ManifestWorks for one namespace.
      const name = c.metadata.name;
      if (name === undefined) return;
      const where = `${f}, document ${i + 1}`;
      const first = seen.get(name);
      if (first !== undefined) throw new RenderInputError(`ManagedCluster ${name} is given twice (${first} and ${where}); give each cluster once`);
      seen.set(name, where);
    });
    clusters.push(...parsed);
  }
  const digests = values.digests === undefined ? new Map() : parseDigests(await read(io, values.digests, "digest map"), values.digests);
  const result = render(mcm, clusters, digests);
  io.out(values.output === "json" ? toJson(result.works) : toYaml(result.works));
  for (const o of result.notRendered) io.err(`cluster ${o.cluster}: no ManifestWork (${o.kind === "blocked" ? o.reason : "Pending"}): ${o.message}\n`);
  for (const k of result.skippedKernels) io.err(`cluster ${k.cluster}: kernel ${k.kernel} skipped: ${k.message}\n`);
  if (result.works.length === 0 && result.notRendered.length === 0) {
    const where = values.cluster.join(", ");
    io.err(clusters.length === 0
      ? `kmm-hub: ${where} holds no ManagedCluster: nothing to render\n`
      : `kmm-hub: none of the ${clusters.length} ManagedCluster(s) in ${where} has the labels of the ManagedClusterModule's spec.selector ${JSON.stringify(mcm.spec.selector)}: nothing to render\n`);
  }
  return result.notRendered.length > 0 || result.skippedKernels.length > 0 ? 2 : 0;
}

async function runCommand(args: string[], io: CliIO): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      help: { type: "boolean", short: "h" },
      config: { type: "string" },
      kubeconfig: { type: "string" },
      namespace: { type: "string" },
      "registry-ca": { type: "string" },
      ...BIND_ADDRESS_FLAGS,
    },
    strict: true,
  });
  if (values.help === true) return help(io);
  const registryCa = values["registry-ca"];
  if (registryCa !== undefined) {
    // Checked here so that a wrong path or file is one line naming the flag, not a stack trace from start-up.
    let pem: string;
    try {
      pem = await io.readFile(registryCa);
    } catch (err: unknown) {
      throw new RunInputError(`--registry-ca ${registryCa}: cannot read it: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new RunInputError(`--registry-ca ${registryCa}: not a PEM file of CA certificates (no "-----BEGIN CERTIFICATE-----" line)`);
  }
  const config = applyBindAddressFlags(await loadConfig(values.config ?? process.env.KMM_HUB_CONFIG, "hub"), values, "hub");
  await runHub({ config, kubeconfigPath: values.kubeconfig, namespace: values.namespace, registryCaFile: values["registry-ca"] });
  return 0;
}

function help(io: CliIO): number {
  io.out(`${USAGE}\n`);
  return 0;
}

/** Runs the CLI; returns the exit status (errors are printed, not thrown). */
export async function main(argv: string[], io: CliIO = defaultIO): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === "render") return await renderCommand(rest, io);
    if (command === "run") return await runCommand(rest, io);
    if (command === "help" || command === "--help" || command === "-h") return help(io);
    throw new UsageError(command === undefined ? "no command given" : `unknown command ${JSON.stringify(command)}`);
  } catch (err: unknown) {
    if (err instanceof UsageError || isParseArgsError(err)) {
      // Exit 1, not the other programs' 2: render's 2 means "some clusters skipped" (USAGE), a usage error is bad input.
      io.err(usageErrorText(PROGRAM, err.message));
      return 1;
    }
    // No API server to talk to, or a kubeconfig that cannot be read: the message says which and what to pass.
    const noCluster = err instanceof KubeconfigError || err instanceof NoConnectionError || err instanceof InClusterConfigError;
    if (err instanceof RenderInputError || err instanceof ConfigError || err instanceof HubStartError || err instanceof RunInputError || noCluster) {
      io.err(`kmm-hub: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

// `npx kmm-hub` and installed bins start it through a symbolic link (node_modules/.bin/kmm-hub): compare real paths.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  // `render | head` ends quietly, `render > /dev/full` says so in one line (no stack trace).
  guardOutput("kmm-hub");
  // Exit only once stdout and stderr are flushed: `render | cat` must get every ManifestWork.
  main(process.argv.slice(2)).then(
    (code) => exitAfterFlush(code),
    (err: unknown) => {
      process.stderr.write(`kmm-hub: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      return exitAfterFlush(1);
    },
  );
}
