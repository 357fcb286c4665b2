#!/usr/bin/env node
// kmm-signer: the program of the hub's sign Jobs (hub/signer/Dockerfile runs dist/hub/signer/main.js).
// Exit 0 after writing the pushed digest to the termination log, so the hub pins it from the pod's
// status without asking the registry; exit 1 with the reason there instead (2 for bad flags).
import { readFile, writeFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import type { Logger } from "pino";
import { RegistryClient } from "../../shared/registry/client.ts";
import { Keychain } from "../../shared/registry/keychain.ts";
import { usageErrorText, USAGE_EXIT, wantsHelp } from "../../shared/runtime/cli-args.ts";
import { createLogger } from "../../shared/runtime/logger.ts";
import { parseSignerArgs, SIGNER_USAGE, SignerInputError, type SignerConfig } from "./config.ts";
import { findSignFile, redactPem } from "./sign-file.ts";
import { signImage, type SignImageResult } from "./signer.ts";

/** The kubelet keeps at most 4096 bytes of a termination message. */
const TERMINATION_MESSAGE_LIMIT = 4096;

async function keychainFrom(config: SignerConfig): Promise<Keychain> {
  if (config.dockerConfig === undefined) return Keychain.anonymous();
  const text = await readFile(config.dockerConfig, "utf8");
  return Keychain.fromDockerConfig(text, config.dockerConfig);
}

/** Signs as `config` says; the caller reports. */
export async function runSigner(config: SignerConfig, log: Logger): Promise<SignImageResult> {
  const signFile = await findSignFile(config.signFile);
  const keychain = await keychainFrom(config);
  const caBundle = config.caFile === undefined ? undefined : await readFile(config.caFile, "utf8");
  const client = new RegistryClient({ keychain, ...(caBundle !== undefined ? { caBundle } : {}) });
  const [os = "linux", architecture = "amd64", variant] = config.platform.split("/");
  try {
    log.info(
      { unsignedImage: config.unsignedImage, destination: config.destination, filesToSign: config.filesToSign, dirName: config.dirName, signFile },
      "signing",
    );
    return await signImage({
      client,
      keychain,
      unsignedImage: config.unsignedImage,
      destination: config.destination,
      filesToSign: config.filesToSign,
      dirName: config.dirName,
      keyFile: config.keyFile,
      certFile: config.certFile,
      signFile,
      pullTLS: config.pullTLS,
      pushTLS: config.pushTLS,
      platform: variant === undefined ? { os, architecture } : { os, architecture, variant },
      log,
    });
  } finally {
    client.close();
  }
}

async function terminationMessage(file: string, text: string, log: Logger): Promise<void> {
  try {
    await writeFile(file, text.slice(0, TERMINATION_MESSAGE_LIMIT));
  } catch (err) {
    // Outside a pod there may be no termination log; the result is in the log line either way.
    log.warn({ file, err: err instanceof Error ? err.message : String(err) }, "could not write the termination message");
  }
}

/** CLI entry: returns the exit status. */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, log: Logger = createLogger({ name: "kmm-signer" })): Promise<number> {
  if (wantsHelp(argv)) {
    process.stdout.write(`${SIGNER_USAGE}\n`);
    return 0;
  }
  let config: SignerConfig;
  try {
    config = parseSignerArgs(argv, env);
  } catch (err) {
    if (!(err instanceof SignerInputError)) throw err;
    process.stderr.write(usageErrorText({ name: "kmm-signer", usage: SIGNER_USAGE, helpCommand: "kmm-signer --help" }, err.message));
    const file = env.KMM_TERMINATION_LOG ?? "/dev/termination-log";
    await terminationMessage(file, `invalid arguments: ${err.message}`, log);
    return USAGE_EXIT;
  }
  try {
    const result = await runSigner(config, log);
    log.info({ destination: config.destination, ...result }, "pushed");
    await terminationMessage(config.terminationLog, result.digest, log);
    return 0;
  } catch (err) {
    const message = redactPem(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
    log.error({ err: message }, "signing failed");
    await terminationMessage(config.terminationLog, message, log);
    return 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  process.exitCode = await main(process.argv.slice(2));
}
