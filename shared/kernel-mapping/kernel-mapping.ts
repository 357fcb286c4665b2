// Which kernel mapping of a Module serves a given kernel, and what it resolves to once the mapping
// settings are layered over moduleLoader.container and the ${…} variables are expanded.
//
// Merge rules (those of upstream KMM's kernel mapper and build/sign helper, kept for compatibility):
// - containerImage: the mapping's if set, else the container's.
// - registryTLS: the mapping's if present at all (even `{}`), else the container's, else `{}`.
// - inTreeModulesToRemove: the mapping's list if present (an empty list clears it), else the container's.
//   The deprecated inTreeModuleToRemove (mapping's if set, else container's) replaces the list when set.
// - build: only one side set → that one. Both → the container's, with
//     dockerfileConfigMap from the mapping, buildArgs merged by name (mapping values replace container
//     values in place; new names are appended sorted by name), secrets = container's then mapping's;
//     baseImageRegistryTLS, kanikoParams and selector stay the container's.
// - sign: only one side set → that one. Both → the container's, with unsignedImage, keySecret and
//     certSecret from the mapping when it sets them, filesToSign = container's then mapping's;
//     unsignedImageRegistryTLS stays the container's.
// - Substitution: containerImage, sign.unsignedImage and sign.filesToSign. Build args and the Dockerfile
//   are not substituted: KMM passes KERNEL_FULL_VERSION, KERNEL_VERSION, MOD_NAME and MOD_NAMESPACE as
//   --build-arg and the Dockerfile's ARG lines pick them up (see kmmBuildArgs).
// Deliberate differences: upstream expands ${MOD_NAME}/${MOD_NAMESPACE} to "" in sign fields and
// unknown variables to ""; here both MOD_* variables work everywhere and unknown ones are errors.
// Every regexp of the Module is checked, not only those tried before the match, because upstream
// rejects such a Module at admission, where we cannot run RE2.
import type { Build, BuildArg, KernelMapping, ModuleSpec, RegistryTLS, Sign } from "../api/module.ts";
import { parseKernelVersion, type KernelVersion } from "./kernel-version.ts";
import { compileRE2, RE2SyntaxError } from "./regexp.ts";
import { MissingKernelPartError, substitute, SubstitutionError, substitutionValues, type SubstitutionValues } from "./substitute.ts";

export interface ModuleContext {
  moduleName: string;
  moduleNamespace: string;
}

/** A kernel mapping of a Module that cannot be used; the message names the mapping and the Module. */
export class KernelMappingError extends Error {
  override readonly name = "KernelMappingError";
  readonly module: ModuleContext;
  readonly mappingIndex: number;
  readonly detail: string;
  constructor(
    module: ModuleContext,
    /** Index in spec.moduleLoader.container.kernelMappings. */
    mappingIndex: number,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(`kernel mapping ${mappingIndex} of Module ${module.moduleNamespace}/${module.moduleName}: ${detail}`, options);
    this.module = module;
    this.mappingIndex = mappingIndex;
    this.detail = detail;
  }
}

export interface ResolvedKernelMapping {
  kernel: KernelVersion;
  /** Index of the mapping that matched. */
  mappingIndex: number;
  matchedBy: { literal: string } | { regexp: string };
  /** Substituted. */
  containerImage: string;
  /** Merged; its buildArgs do not include KMM's own (see effectiveBuildArgs). */
  build?: Build;
  /** Merged; unsignedImage and filesToSign substituted. */
  sign?: Sign;
  registryTLS: RegistryTLS;
  inTreeModulesToRemove?: string[];
}

export type KernelMappingResolution =
  | { found: true; mapping: ResolvedKernelMapping }
  /** `mappingIndex` is set when a mapping matched but its templates need a part the kernel lacks. */
  | { found: false; kernel: KernelVersion; reason: string; mappingIndex?: number };

/** The mapping that matched needs ${KERNEL_X/Y/Z/XYZ} of a kernel that lacks that part: this kernel is refused. */
class KernelPartMissing extends Error {
  override readonly name = "KernelPartMissing";
}

/** The build arguments KMM always sets; they override user-given ones of the same name. */
export const KMM_BUILD_ARGS = ["KERNEL_FULL_VERSION", "KERNEL_VERSION", "MOD_NAME", "MOD_NAMESPACE"] as const;

const isSet = (s: string | undefined): s is string => s !== undefined && s !== "";

/**
 * Replaces args whose name an override carries (in place, keeping order) and appends the remaining
 * overrides sorted by name. With repeated override names the last one wins.
 */
export function applyBuildArgOverrides(args: readonly BuildArg[], overrides: readonly BuildArg[]): BuildArg[] {
  const byName = new Map(overrides.map((o) => [o.name, o]));
  const unused = new Set(byName.keys());
  const out = args.map((a) => {
    const o = byName.get(a.name);
    if (!o) return { ...a };
    unused.delete(a.name);
    return { ...o };
  });
  for (const name of [...unused].sort()) {
    const o = byName.get(name);
    if (o) out.push({ ...o });
  }
  return out;
}

/** KMM's build args for a kernel (the kernel exactly as the node reports it, as upstream passes it). */
export function kmmBuildArgs(kernel: string, ctx: ModuleContext): BuildArg[] {
  return [
    { name: "KERNEL_VERSION", value: kernel },
    { name: "KERNEL_FULL_VERSION", value: kernel },
    { name: "MOD_NAME", value: ctx.moduleName },
    { name: "MOD_NAMESPACE", value: ctx.moduleNamespace },
  ];
}

/** The --build-arg list of a build Job: the user's args with KMM's set over them. */
export function effectiveBuildArgs(build: Build, kernel: string, ctx: ModuleContext): BuildArg[] {
  return applyBuildArgOverrides(build.buildArgs ?? [], kmmBuildArgs(kernel, ctx));
}

function mergeBuild(container: Build | undefined, mapping: Build | undefined): Build | undefined {
  if (!container) return mapping && structuredClone(mapping);
  if (!mapping) return structuredClone(container);
  const merged = structuredClone(container);
  merged.dockerfileConfigMap = { ...mapping.dockerfileConfigMap };
  if (container.buildArgs || mapping.buildArgs) {
    merged.buildArgs = applyBuildArgOverrides(container.buildArgs ?? [], mapping.buildArgs ?? []);
  }
  if (container.secrets || mapping.secrets) {
    merged.secrets = [...(container.secrets ?? []), ...structuredClone(mapping.secrets ?? [])];
  }
  return merged;
}

function mergeSign(container: Sign | undefined, mapping: Sign | undefined): Sign | undefined {
  if (!container) return mapping && structuredClone(mapping);
  if (!mapping) return structuredClone(container);
  const merged = structuredClone(container);
  if (isSet(mapping.unsignedImage)) merged.unsignedImage = mapping.unsignedImage;
  merged.keySecret = { ...mapping.keySecret };
  merged.certSecret = { ...mapping.certSecret };
  if (container.filesToSign || mapping.filesToSign) {
    merged.filesToSign = [...(container.filesToSign ?? []), ...(mapping.filesToSign ?? [])];
  }
  return merged;
}

function regexpError(m: KernelMapping, index: number, ctx: ModuleContext): KernelMappingError | undefined {
  if (!isSet(m.regexp)) return undefined;
  try {
    compileRE2(m.regexp);
    return undefined;
  } catch (e) {
    if (!(e instanceof RE2SyntaxError)) throw e;
    return new KernelMappingError(ctx, index, `regexp '${m.regexp}' is not valid RE2: ${e.reason}`, { cause: e });
  }
}

/** Every mapping of a Module whose regexp is not valid RE2, for a status condition (empty when all are fine). */
export function invalidKernelMappings(spec: ModuleSpec, ctx: ModuleContext): KernelMappingError[] {
  const mappings = spec.moduleLoader?.container.kernelMappings ?? [];
  return mappings.flatMap((m, i) => regexpError(m, i, ctx) ?? []);
}

/** Index of the first mapping matching `kernel` exactly (literal) or by RE2 search (regexp), or -1; throws RE2SyntaxError. */
export function findKernelMapping(mappings: readonly KernelMapping[], kernel: string): number {
  return mappings.findIndex(
    (m) => (isSet(m.literal) && m.literal === kernel) || (isSet(m.regexp) && compileRE2(m.regexp).test(kernel)),
  );
}

function substituteField(
  ctx: ModuleContext,
  index: number,
  field: string,
  template: string,
  values: SubstitutionValues,
): string {
  try {
    return substitute(template, values);
  } catch (e) {
    if (e instanceof MissingKernelPartError) {
      throw new KernelPartMissing(`kernel mapping ${index} matches, but its ${field} '${template}' uses ${e.expression}, which ${e.reason}`);
    }
    if (!(e instanceof SubstitutionError)) throw e;
    throw new KernelMappingError(ctx, index, `${field} '${template}': ${e.expression} ${e.reason}`, { cause: e });
  }
}

/**
 * Resolves the kernel mapping for one kernel. A literal mapping matches the kernel string as given,
 * whatever its shape; when the mapping that matched uses ${KERNEL_X/Y/Z/XYZ} and the kernel lacks that
 * part ("6.1" has no patch level) the kernel is refused: `found: false` with the reason. Throws
 * KernelVersionError for an empty or over-long kernel and KernelMappingError for an invalid regexp,
 * an unknown variable or a missing image.
 */
export function resolveKernelMapping(spec: ModuleSpec, kernel: string, ctx: ModuleContext): KernelMappingResolution {
  const version = parseKernelVersion(kernel);
  try {
    return resolveParsed(spec, kernel, version, ctx);
  } catch (e) {
    if (!(e instanceof KernelPartMissing)) throw e;
    const index = findKernelMapping(spec.moduleLoader?.container.kernelMappings ?? [], kernel);
    return { found: false, kernel: version, reason: e.message, mappingIndex: index };
  }
}

function resolveParsed(spec: ModuleSpec, kernel: string, version: KernelVersion, ctx: ModuleContext): KernelMappingResolution {
  const container = spec.moduleLoader?.container;
  if (!container) return { found: false, kernel: version, reason: "the Module has no moduleLoader" };
  const mappings = container.kernelMappings;
  const invalid = mappings.map((m, i) => regexpError(m, i, ctx)).find((e) => e !== undefined);
  if (invalid) throw invalid;
  const index = findKernelMapping(mappings, kernel);
  const m = mappings[index];
  if (!m) {
    return { found: false, kernel: version, reason: `none of the ${mappings.length} kernel mappings matches ${kernel}` };
  }
  const values = substitutionValues(version, ctx.moduleName, ctx.moduleNamespace);

  const image = isSet(m.containerImage) ? m.containerImage : container.containerImage;
  if (!isSet(image)) {
    throw new KernelMappingError(ctx, index, "no containerImage, and moduleLoader.container.containerImage is not set either");
  }

  const resolved: ResolvedKernelMapping = {
    kernel: version,
    mappingIndex: index,
    matchedBy: isSet(m.literal) && m.literal === kernel ? { literal: m.literal } : { regexp: m.regexp ?? "" },
    containerImage: substituteField(ctx, index, "containerImage", image, values),
    registryTLS: { ...(m.registryTLS ?? container.registryTLS ?? {}) },
  };

  const build = mergeBuild(container.build, m.build);
  if (build) resolved.build = build;

  const sign = mergeSign(container.sign, m.sign);
  if (sign) {
    if (isSet(sign.unsignedImage)) {
      sign.unsignedImage = substituteField(ctx, index, "sign.unsignedImage", sign.unsignedImage, values);
    }
    if (sign.filesToSign) {
      sign.filesToSign = sign.filesToSign.map((f, i) => substituteField(ctx, index, `sign.filesToSign[${i}]`, f, values));
    }
    resolved.sign = sign;
  }

  const list = m.inTreeModulesToRemove ?? container.inTreeModulesToRemove;
  const deprecated = isSet(m.inTreeModuleToRemove) ? m.inTreeModuleToRemove : container.inTreeModuleToRemove;
  if (isSet(deprecated)) resolved.inTreeModulesToRemove = [deprecated];
  else if (list) resolved.inTreeModulesToRemove = [...list];

  return { found: true, mapping: resolved };
}
