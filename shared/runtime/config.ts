// The operator configuration file (upstream KMM's `controller_config.yaml` from
// the kmm-operator[-hub]-manager-config ConfigMap), plus KMM-Hub's own settings.
// Unknown keys are refused: a typo would otherwise silently fall back to a default.
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { YAMLParseError } from "yaml";
import { z } from "zod";
import { parseKubeYaml } from "../yaml/read.ts";
import { DurationError, parseGoDuration } from "./duration.ts";

export class ConfigError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConfigError";
  }
}

export type Edition = "hub" | "spoke";

export const defaultResourceID: Record<Edition, string> = {
  hub: "kmm-hub.sigs.x-k8s.io",
  spoke: "kmm.sigs.x-k8s.io",
};

/** A Go duration string, parsed to milliseconds. */
const duration = (def: string, opts: { min?: number } = {}) =>
  z
    .string()
    .default(def)
    .transform((s, ctx) => {
      try {
        const ms = parseGoDuration(s);
        if (opts.min !== undefined && ms < opts.min) {
          ctx.addIssue({ code: "custom", message: `must be at least ${opts.min} ms, got "${s}"` });
          return z.NEVER;
        }
        return ms;
      } catch (err: unknown) {
        ctx.addIssue({ code: "custom", message: err instanceof DurationError ? err.message : String(err) });
        return z.NEVER;
      }
    });

/** "host:port", ":port" or "0" (disabled), as controller-runtime accepts. */
const bindAddressString = () =>
  z.string().superRefine((s, ctx) => {
      if (s === "0") return;
      const i = s.lastIndexOf(":");
      const host = i < 0 ? "" : s.slice(0, i).replace(/^\[(.*)\]$/, "$1");
      const port = i < 0 ? "" : s.slice(i + 1);
      const validPort = /^\d{1,5}$/.test(port) && Number(port) <= 65535;
      const validHost = host === "" || isIP(host) !== 0 || /^[a-zA-Z0-9.-]+$/.test(host);
      if (!validPort || !validHost) {
        ctx.addIssue({ code: "custom", message: `"${s}" is not a bind address; use "host:port", ":port", or "0" to disable` });
      }
    });
const bindAddress = (def: string) => bindAddressString().default(def);

function schemaFor(edition: Edition) {
  const leaderElection = z
    .strictObject({
      enabled: z.boolean().default(true),
      resourceID: z.string().min(1).default(defaultResourceID[edition]),
      // KMM-Hub additions (controller-runtime's defaults).
      namespace: z.string().min(1).optional(),
      leaseDuration: duration("15s", { min: 1000 }),
      renewDeadline: duration("10s", { min: 1000 }),
      retryPeriod: duration("2s", { min: 100 }),
    })
    .superRefine((le, ctx) => {
      if (le.leaseDuration <= le.renewDeadline) {
        ctx.addIssue({ code: "custom", path: ["leaseDuration"], message: "must be longer than leaderElection.renewDeadline" });
      }
      // client-go's rule: the renew deadline must leave room for a jittered retry.
      if (le.renewDeadline <= 1.2 * le.retryPeriod) {
        ctx.addIssue({ code: "custom", path: ["renewDeadline"], message: "must be longer than 1.2 × leaderElection.retryPeriod" });
      }
    })
    .prefault({});

  return z
    .strictObject({
      healthProbeBindAddress: bindAddress(":8081"),
      job: z.strictObject({ gcDelay: duration("0s", { min: 0 }) }).prefault({}),
      leaderElection,
      webhook: z
        .strictObject({
          disableHTTP2: z.boolean().default(true),
          port: z.number().int().min(1).max(65535).default(9443),
          certDir: z.string().optional(),
        })
        .prefault({}),
      metrics: z
        .strictObject({
          bindAddress: bindAddress("0.0.0.0:8443"),
          disableHTTP2: z.boolean().default(true),
          enableAuthnAuthz: z.boolean().default(true),
          secureServing: z.boolean().default(true),
          // KMM-Hub addition: serving certificate for secureServing (PEM files).
          certFile: z.string().min(1).optional(),
          keyFile: z.string().min(1).optional(),
        })
        .refine((m) => (m.certFile === undefined) === (m.keyFile === undefined), {
          message: "certFile and keyFile must be given together",
          path: ["certFile"],
        })
        .prefault({}),
      worker: z
        .strictObject({
          runAsUser: z.number().int().min(0).default(0),
          seLinuxType: z.string().min(1).default("spc_t"),
          firmwareHostPath: z.string().startsWith("/", "must be an absolute path").default("/var/lib/firmware"),
          // When set, workers write it to the kernel's firmware_class.path before loading and copy
          // firmware there, so the kernel finds what was copied.
          setFirmwareClassPath: z.string().startsWith("/", "must be an absolute path").optional(),
        })
        .transform(({ setFirmwareClassPath, ...w }) => ({
          ...w,
          firmwareHostPath: setFirmwareClassPath ?? w.firmwareHostPath,
          ...(setFirmwareClassPath !== undefined ? { firmwareClassPath: setFirmwareClassPath } : {}),
        }))
        .prefault({}),
      // Older upstream releases used flat keys; accepted so their files keep working.
      metricsBindAddress: bindAddressString().optional(),
      webhookPort: z.number().int().min(1).max(65535).optional(),

      // KMM-Hub additions.
      /** parallel reconciles per controller */
      maxConcurrentReconciles: z.number().int().min(1).max(256).default(1),
      /** how often the hub re-resolves image tags to digests */
      digestRefreshInterval: duration("10m", { min: 1000 }),
      logLevel: z.enum(["trace", "debug", "info", "warn", "error", "fatal"]).default("info"),
    })
    .transform(({ metricsBindAddress, webhookPort, ...c }) => ({
      ...c,
      metrics: { ...c.metrics, bindAddress: metricsBindAddress ?? c.metrics.bindAddress },
      webhook: { ...c.webhook, port: webhookPort ?? c.webhook.port },
    }));
}

export const hubConfigSchema = schemaFor("hub");
export const spokeConfigSchema = schemaFor("spoke");
export type OperatorConfig = z.infer<typeof hubConfigSchema>;

function describeIssues(source: string, error: z.ZodError): string {
  const lines = error.issues.map((issue) => {
    const path = issue.path.map(String).join(".");
    if (issue.code === "unrecognized_keys") {
      const keys = issue.keys.map((k) => (path === "" ? k : `${path}.${k}`));
      return `${keys.join(", ")}: unknown field${keys.length > 1 ? "s" : ""}`;
    }
    return `${path === "" ? "(top level)" : path}: ${issue.message}`;
  });
  return `invalid configuration in ${source}:\n  ${lines.join("\n  ")}`;
}

/**
 * Parses configuration text (YAML, read as YAML 1.1 like upstream KMM's sigs.k8s.io/yaml: `yes` is
 * true); `source` names it in error messages. Throws ConfigError.
 */
export function parseConfig(text: string, edition: Edition, source = "configuration"): OperatorConfig {
  let raw: unknown;
  try {
    raw = parseKubeYaml(text);
  } catch (err: unknown) {
    const why = err instanceof YAMLParseError ? err.message : String(err);
    throw new ConfigError(`invalid configuration in ${source}: not valid YAML: ${why}`, { cause: err });
  }
  const result = (edition === "hub" ? hubConfigSchema : spokeConfigSchema).safeParse(raw ?? {});
  if (!result.success) throw new ConfigError(describeIssues(source, result.error), { cause: result.error });
  return result.data;
}

/**
 * controller-runtime's `--health-probe-bind-address` and `--metrics-bind-address`, as node:util
 * parseArgs options: both programs' run commands take them (applyBindAddressFlags).
 */
export const BIND_ADDRESS_FLAGS = {
  "health-probe-bind-address": { type: "string" },
  "metrics-bind-address": { type: "string" },
} as const;

/**
 * `config` with the values of BIND_ADDRESS_FLAGS applied over the file's healthProbeBindAddress and
 * metrics.bindAddress (a flag not given keeps the file's value). Each flag is checked as its config
 * key would be: throws ConfigError "invalid configuration in the command-line flags: …" naming the key.
 */
export function applyBindAddressFlags(
  config: OperatorConfig,
  flags: { "health-probe-bind-address"?: string | undefined; "metrics-bind-address"?: string | undefined },
  edition: Edition,
): OperatorConfig {
  const health = flags["health-probe-bind-address"];
  const metrics = flags["metrics-bind-address"];
  if (health === undefined && metrics === undefined) return config;
  const parsed = parseConfig(JSON.stringify({ ...(health !== undefined ? { healthProbeBindAddress: health } : {}), ...(metrics !== undefined ? { metrics: { bindAddress: metrics } } : {}) }), edition, "the command-line flags");
  return {
    ...config,
    ...(health !== undefined ? { healthProbeBindAddress: parsed.healthProbeBindAddress } : {}),
    ...(metrics !== undefined ? { metrics: { ...config.metrics, bindAddress: parsed.metrics.bindAddress } } : {}),
  };
}

/** Reads and validates the config file; no file path → all defaults. */
export async function loadConfig(path: string | undefined, edition: Edition): Promise<OperatorConfig> {
  if (path === undefined) return parseConfig("", edition, "defaults");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err: unknown) {
    throw new ConfigError(`cannot read configuration file ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return parseConfig(text, edition, path);
}
