// Kernel versions as nodes report them (Node.status.nodeInfo.kernelVersion, `uname -r`), and the
// ${KERNEL_*} values derived from them.
import { MAX_KERNEL_VERSION_LENGTH } from "../api/module.ts";

/** A kernel version KMM cannot work with (empty, not starting with X.Y.Z, containing whitespace…). */
export class KernelVersionError extends Error {
  override readonly name = "KernelVersionError";
  readonly kernel: string;
  readonly reason: string;
  constructor(
    kernel: string,
    reason: string,
  ) {
    super(`kernel version ${JSON.stringify(kernel)} is not valid: ${reason}`);
    this.kernel = kernel;
    this.reason = reason;
  }
}

export interface KernelVersion {
  /** The version exactly as the node reports it; what literal mappings and regexps are matched against. */
  full: string;
  /**
   * The version with every character other than [A-Za-z0-9._-] replaced by "_". Upstream KMM substitutes
   * this one into ${KERNEL_FULL_VERSION} / ${KERNEL_VERSION} (identical to `full` for real kernels).
   */
  normalized: string;
  /** Major version: "5" for 5.14.0-70.el9.x86_64. */
  x: string;
  /** Minor version: "14" for 5.14.0-70.el9.x86_64. */
  y: string;
  /** Patch level: "0" for 5.14.0-70.el9.x86_64. */
  z: string;
  /** "X.Y.Z": "5.14.0" for 5.14.0-70.el9.x86_64. */
  xyz: string;
}

// X.Y.Z must be followed by the end or a non-digit separator ("-", ".", "+", "_"…): the components upstream
// KMM gets by splitting on [.,-] for every real kernel, without its silent garbage for odd inputs.
const XYZ = /^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?![0-9])/;

export function normalizeKernelVersion(kernel: string): string {
  return kernel.replace(/[^A-Za-z0-9._-]/g, "_");
}

/**
 * Parses a kernel release string: 5.14.0-70.el9.x86_64 → X=5 Y=14 Z=0 XYZ=5.14.0;
 * 6.1.0-18-amd64 → 6, 1, 0; 4.18.0-372.9.1.el8_6.x86_64 → 4, 18, 0.
 */
export function parseKernelVersion(kernel: string): KernelVersion {
  if (kernel === "") throw new KernelVersionError(kernel, "it is empty");
  // The Module CRD bounds literal kernel versions the same way.
  if (kernel.length > MAX_KERNEL_VERSION_LENGTH) {
    throw new KernelVersionError(kernel, `it is longer than ${MAX_KERNEL_VERSION_LENGTH} characters`);
  }
  if (/\s/.test(kernel)) throw new KernelVersionError(kernel, "it contains whitespace");
  const m = XYZ.exec(kernel);
  const [, x, y, z] = m ?? [];
  if (x === undefined || y === undefined || z === undefined) {
    throw new KernelVersionError(
      kernel,
      "it must start with MAJOR.MINOR.PATCH in decimal (e.g. 5.14.0-70.el9.x86_64), as `uname -r` prints it",
    );
  }
  return { full: kernel, normalized: normalizeKernelVersion(kernel), x, y, z, xyz: `${x}.${y}.${z}` };
}
