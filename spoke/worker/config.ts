import { readFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { parseKubeYaml } from "../../shared/yaml/read.ts";

// The worker's config file: the module loader spec already resolved for one
// kernel (the DaemonSet builder writes it), plus where the host's files are.
// Field names under `modprobe` follow upstream KMM's ModprobeSpec exactly.

/** Where the module-loader pod mounts the worker's config file (the DaemonSet builder) and the worker reads it by default. */
export const DEFAULT_CONFIG_PATH = "/etc/kmm-worker/config.yaml";

// Kernel module names as kmod accepts them; never starting with "-" so a name
// can never be read as an option.
const moduleNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_-]*$/, "must be a kernel module name (letters, digits, '_' and '-', not starting with '-')")
  .max(255);

// `name` or `name=value`; the value may hold anything printable, since it is
// passed as one argv element after "--" and never through a shell.
const moduleParameterSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9_][A-Za-z0-9_.-]*(=[^\0\n]*)?$/,
    "must be 'name' or 'name=value' with a parameter name of letters, digits, '_', '.' or '-' (not starting with '-')",
  );

// Options the user deliberately passes to modprobe (`args`); they must look
// like options so none of them can stand in for a module name. A bare "--"
// would end option parsing early and is refused.
const modprobeOptionSchema = z
  .string()
  .regex(/^-[^\0\n]*$/, "must be a modprobe option starting with '-' (use the '--option=value' form for values)")
  .refine((s) => s !== "--", "'--' is added by the worker itself and may not appear in args");

const rawArgSchema = z.string().min(1).regex(/^[^\0\n]*$/, "must not contain NUL or newline");

const absolutePathSchema = z
  .string()
  .min(1)
  .refine((p) => path.posix.isAbsolute(p), "must be an absolute path")
  .refine((p) => !p.split("/").includes(".."), "must not contain '..'")
  .refine((p) => !p.includes("\0"), "must not contain NUL");

// Kernel release strings such as 6.1.0-56-amd64 or 5.14.0-284.el9.x86_64, but any string `uname -r`
// prints must do (the kernel takes what it was built with): only what would break the
// lib/modules/<kernel> path or modprobe's command line is refused.
export const kernelVersionSchema = z
  .string()
  .min(1)
  .max(255)
  .refine((k) => !/[/\0\n]/.test(k), "must not contain '/', NUL or a newline")
  .refine((k) => k !== "." && k !== "..", "must not be '.' or '..'")
  .refine((k) => !k.startsWith("-"), "must not start with '-'");

const modprobeArgsSchema = z.object({
  load: z.array(modprobeOptionSchema).default([]),
  unload: z.array(modprobeOptionSchema).default([]),
});

const modprobeRawArgsSchema = z.object({
  load: z.array(rawArgSchema).min(1),
  unload: z.array(rawArgSchema).min(1),
});

export const modprobeSpecSchema = z
  .object({
    moduleName: moduleNameSchema.optional(),
    parameters: z.array(moduleParameterSchema).default([]),
    dirName: absolutePathSchema.default("/opt"),
    args: modprobeArgsSchema.optional(),
    rawArgs: modprobeRawArgsSchema.optional(),
    firmwarePath: absolutePathSchema.optional(),
    modulesLoadingOrder: z.array(moduleNameSchema).optional(),
  })
  .superRefine((spec, ctx) => {
    if (spec.moduleName === undefined && spec.rawArgs === undefined) {
      ctx.addIssue({ code: "custom", path: ["moduleName"], message: "moduleName is required unless rawArgs is set" });
    }
    const order = spec.modulesLoadingOrder;
    if (order !== undefined && order.length > 0) {
      if (order.length < 2) {
        ctx.addIssue({
          code: "custom",
          path: ["modulesLoadingOrder"],
          message: "modulesLoadingOrder needs at least two modules (the module itself, then what it must follow)",
        });
      }
      if (order[0] !== spec.moduleName) {
        ctx.addIssue({
          code: "custom",
          path: ["modulesLoadingOrder", 0],
          message: `the first module of modulesLoadingOrder (loaded last) must be moduleName '${spec.moduleName ?? ""}'`,
        });
      }
      const seen = new Set<string>();
      order.forEach((name, i) => {
        if (seen.has(name)) {
          ctx.addIssue({ code: "custom", path: ["modulesLoadingOrder", i], message: `duplicate module '${name}' in the loading order` });
        }
        seen.add(name);
      });
    }
  });

export const workerConfigSchema = z
  .object({
    containerImage: z.string().min(1),
    kernelVersion: kernelVersionSchema,
    // Accepted for compatibility with upstream's worker config; the kubelet pulls the image here.
    insecurePull: z.boolean().optional(),
    inTreeModulesToRemove: z.array(moduleNameSchema).default([]),
    // Upstream's deprecated single-module form; merged into inTreeModulesToRemove.
    inTreeModuleToRemove: moduleNameSchema.optional(),
    modprobe: modprobeSpecSchema,
    // Where the init container put the kmod image's files; dirName and
    // firmwarePath are resolved under it.
    imageRoot: absolutePathSchema.default("/"),
    // Where the host's /lib/modules tree is reachable (in-tree removals use it).
    hostModulesRoot: absolutePathSchema.default("/"),
    firmwareHostPath: absolutePathSchema.default("/var/lib/firmware"),
    // Value for the kernel's firmware_class.path (upstream worker.setFirmwareClassPath); unset leaves it alone.
    firmwareClassPath: absolutePathSchema.optional(),
    firmwareClassPathFile: absolutePathSchema.default("/sys/module/firmware_class/parameters/path"),
    // Loaded modules have <sysModuleDir>/<name>/initstate, the same check kmod makes.
    sysModuleDir: absolutePathSchema.default("/sys/module"),
    modprobeConfigDir: absolutePathSchema.default("/etc/modprobe.d"),
    // Holds the ready marker and the record of copied firmware files.
    stateDir: absolutePathSchema.default("/var/run/kmm-worker"),
  })
  .transform(({ inTreeModuleToRemove, ...cfg }) => ({
    ...cfg,
    inTreeModulesToRemove:
      inTreeModuleToRemove !== undefined && !cfg.inTreeModulesToRemove.includes(inTreeModuleToRemove)
        ? [...cfg.inTreeModulesToRemove, inTreeModuleToRemove]
        : cfg.inTreeModulesToRemove,
  }));

export type WorkerConfig = z.infer<typeof workerConfigSchema>;
export type WorkerConfigInput = z.input<typeof workerConfigSchema>;
export type ModprobeSpec = z.infer<typeof modprobeSpecSchema>;

export class WorkerConfigError extends Error {
  override name = "WorkerConfigError";
}

export function parseWorkerConfig(data: unknown, source: string): WorkerConfig {
  const result = workerConfigSchema.safeParse(data);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.length > 0 ? i.path.join(".") : "(root)"}: ${i.message}`);
    throw new WorkerConfigError(`worker config ${source} is not valid: ${problems.join("; ")}`);
  }
  return result.data;
}

export async function readWorkerConfig(file: string): Promise<WorkerConfig> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new WorkerConfigError(`cannot read worker config ${file}: ${(err as Error).message}`);
  }
  let data: unknown;
  try {
    data = parseKubeYaml(text);
  } catch (err) {
    throw new WorkerConfigError(`worker config ${file} is not valid YAML: ${(err as Error).message}`);
  }
  return parseWorkerConfig(data, file);
}
