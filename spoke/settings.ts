// What the spoke edition takes from its environment, beside the operator config file. The variable
// names are upstream KMM's, so the same Deployment manifest works for both.
import { parseArgs } from "node:util";
import { z } from "zod";
import { applyBindAddressFlags, BIND_ADDRESS_FLAGS, loadConfig, type OperatorConfig } from "../shared/runtime/config.ts";

/** Upstream's default ServiceAccounts for Modules in the operator's own namespace. */
export const DEFAULT_MODULE_LOADER_SERVICE_ACCOUNT = "kmm-operator-module-loader";
export const DEFAULT_DEVICE_PLUGIN_SERVICE_ACCOUNT = "kmm-operator-device-plugin";

export class SettingsError extends Error {
  override readonly name = "SettingsError";
}

const envSchema = z.object({
  // Required, as upstream KMM requires it: a placeholder default would only fail later, on every node.
  RELATED_IMAGE_WORKER: z
    .string({ error: (i) => (i.input === undefined ? "is not set: the spoke needs the worker image (kmm-hub-worker, by digest) that its module-loader pods run; set RELATED_IMAGE_WORKER as spoke/deploy and the Policy do" : undefined) })
    .regex(/^[^\s]+$/, "must be an image reference without spaces"),
  OPERATOR_NAMESPACE: z.string().min(1).optional(),
  POD_NAMESPACE: z.string().min(1).optional(),
  KMM_MANAGED: z.enum(["0", "1", "true", "false", ""]).default("0"),
});

export interface SpokeSettings {
  workerImage: string;
  /** Modules here run with KMM's own ServiceAccounts unless they name one. */
  operatorNamespace: string;
  /** Managed by a hub (KMM_MANAGED=1): also publish the kernel ClusterClaim. */
  managed: boolean;
  runAsUser: number;
  seLinuxType: string;
  firmwareHostPath: string;
  /** worker.setFirmwareClassPath: written to the kernel's firmware_class.path before a load with firmware */
  firmwareClassPath?: string | undefined;
}

/**
 * The spoke's settings from its environment (upstream KMM's variable names) and config file.
 * Throws SettingsError naming the variable when one is missing (RELATED_IMAGE_WORKER) or not valid.
 */
export function settingsFrom(env: NodeJS.ProcessEnv, config: OperatorConfig): SpokeSettings {
  const parsed = envSchema.safeParse({
    RELATED_IMAGE_WORKER: env.RELATED_IMAGE_WORKER === "" ? undefined : env.RELATED_IMAGE_WORKER,
    OPERATOR_NAMESPACE: env.OPERATOR_NAMESPACE === "" ? undefined : env.OPERATOR_NAMESPACE,
    POD_NAMESPACE: env.POD_NAMESPACE === "" ? undefined : env.POD_NAMESPACE,
    KMM_MANAGED: env.KMM_MANAGED,
  });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new SettingsError(`spoke environment is not valid: ${problems}`);
  }
  const e = parsed.data;
  return {
    workerImage: e.RELATED_IMAGE_WORKER,
    operatorNamespace: e.OPERATOR_NAMESPACE ?? e.POD_NAMESPACE ?? "kmm-operator-system",
    managed: e.KMM_MANAGED === "1" || e.KMM_MANAGED === "true",
    runAsUser: config.worker.runAsUser,
    seLinuxType: config.worker.seLinuxType,
    firmwareHostPath: config.worker.firmwareHostPath,
    firmwareClassPath: config.worker.firmwareClassPath,
  };
}

/**
 * The spoke edition's configuration from its command line, `[--config FILE]
 * [--health-probe-bind-address ADDR] [--metrics-bind-address ADDR]`: the config file (defaults
 * without one) with the two flags (controller-runtime's, as `kmm-hub run` takes them) over its
 * healthProbeBindAddress and metrics.bindAddress, e.g. `$(POD_IP):8081` in a pod spec whose pods
 * share a network. Throws ConfigError naming the file's field or the flag's key, and node:util's
 * ERR_PARSE_ARGS_* TypeError for an unknown flag.
 */
export async function configFromArgs(argv: readonly string[]): Promise<OperatorConfig> {
  const { values } = parseArgs({ args: [...argv], options: { config: { type: "string" }, ...BIND_ADDRESS_FLAGS }, strict: true });
  return applyBindAddressFlags(await loadConfig(values.config, "spoke"), values, "spoke");
}
