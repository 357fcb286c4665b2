// ${VARIABLE} substitution in containerImage, sign.unsignedImage and sign.filesToSign.
import type { KernelVersion } from "./kernel-version.ts";

/** Every variable a kernel mapping may use, in the order the documentation lists them. */
export const SUBSTITUTION_VARIABLES = [
  "KERNEL_FULL_VERSION",
  "KERNEL_VERSION",
  "KERNEL_XYZ",
  "KERNEL_X",
  "KERNEL_Y",
  "KERNEL_Z",
  "MOD_NAME",
  "MOD_NAMESPACE",
] as const;
export type SubstitutionVariable = (typeof SUBSTITUTION_VARIABLES)[number];
/** A variable is absent when the kernel lacks the part it stands for (`${KERNEL_Z}` of "6.1"). */
export type SubstitutionValues = Readonly<Partial<Record<SubstitutionVariable, string>>>;

/** A template that cannot be expanded: unknown variable, or a `${…}` that is not a plain variable. */
export class SubstitutionError extends Error {
  override readonly name = "SubstitutionError";
  readonly template: string;
  readonly expression: string;
  readonly reason: string;
  constructor(
    template: string,
    expression: string,
    reason: string,
  ) {
    super(`${JSON.stringify(template)}: ${expression} ${reason}`);
    this.template = template;
    this.expression = expression;
    this.reason = reason;
  }
}

/** A template needs a part of the kernel version that this kernel does not have. */
export class MissingKernelPartError extends Error {
  override readonly name = "MissingKernelPartError";
  readonly template: string;
  readonly expression: string;
  readonly reason: string;
  constructor(
    template: string,
    expression: string,
    reason: string,
  ) {
    super(`${JSON.stringify(template)}: ${expression} ${reason}`);
    this.template = template;
    this.expression = expression;
    this.reason = reason;
  }
}

const PART_NAMES: Partial<Record<SubstitutionVariable, string>> = {
  KERNEL_X: "a major version",
  KERNEL_Y: "a minor version",
  KERNEL_Z: "a patch level",
  KERNEL_XYZ: "a MAJOR.MINOR.PATCH prefix",
};

export function substitutionValues(kernel: KernelVersion, moduleName: string, moduleNamespace: string): SubstitutionValues {
  // Upstream substitutes the normalized version (it only differs for characters no real kernel uses).
  return {
    KERNEL_FULL_VERSION: kernel.normalized,
    KERNEL_VERSION: kernel.normalized,
    ...(kernel.xyz !== undefined ? { KERNEL_XYZ: kernel.xyz } : {}),
    ...(kernel.x !== undefined ? { KERNEL_X: kernel.x } : {}),
    ...(kernel.y !== undefined ? { KERNEL_Y: kernel.y } : {}),
    ...(kernel.z !== undefined ? { KERNEL_Z: kernel.z } : {}),
    MOD_NAME: moduleName,
    MOD_NAMESPACE: moduleNamespace,
  };
}

const KNOWN = `known variables: ${SUBSTITUTION_VARIABLES.map((v) => `\${${v}}`).join(", ")}`;

function isVariable(name: string): name is SubstitutionVariable {
  return (SUBSTITUTION_VARIABLES as readonly string[]).includes(name);
}

// `${NAME}` or, as envsubst (which upstream uses) also accepts, a bare `$NAME`. A `$` not followed by
// a name or `{` is kept as is.
const REFERENCE = /\$\{([^}]*)\}|\$\{|\$([A-Za-z_][A-Za-z0-9_]*)/g;

/**
 * Expands every variable reference in `template`; throws MissingKernelPartError when a ${KERNEL_X/Y/Z/XYZ}
 * has no value for this kernel, SubstitutionError otherwise. Unknown variables are an error rather than an empty
 * string (envsubst's behaviour upstream), because an image named `repo:` or a path `/opt/lib/modules//x.ko`
 * only fails much later and far from the typo.
 */
export function substitute(template: string, values: SubstitutionValues): string {
  if (!template.includes("$")) return template;
  return template.replace(REFERENCE, (match: string, braced: string | undefined, bare: string | undefined) => {
    const name = braced ?? bare;
    if (name === undefined) throw new SubstitutionError(template, match, "is not closed: write ${NAME}");
    if (isVariable(name)) {
      const value = values[name];
      if (value === undefined) throw new MissingKernelPartError(template, match, `needs ${PART_NAMES[name] ?? "a value"}, which the kernel version lacks`);
      return value;
    }
    if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new SubstitutionError(template, match, `is not a variable KMM sets (${KNOWN})`);
    }
    throw new SubstitutionError(template, match, `is not supported: only plain variables are substituted (${KNOWN})`);
  });
}
