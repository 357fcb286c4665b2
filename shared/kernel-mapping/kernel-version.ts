// Kernel versions as nodes report them (Node.status.nodeInfo.kernelVersion, `uname -r`), and the
// ${KERNEL_*} values derived from them.
import { MAX_KERNEL_VERSION_LENGTH } from "../api/module.ts";

/** A kernel version KMM cannot work with: empty, or too long for a literal kernel mapping. */
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
  /** Major version: "5" for 5.14.0-70.el9.x86_64; undefined when the string does not start with a number. */
  x?: string;
  /** Minor version: "14" for 5.14.0-70.el9.x86_64; undefined for "6" or "6-rc1". */
  y?: string;
  /** Patch level: "0" for 5.14.0-70.el9.x86_64; undefined for "6.1" or "3.14-1-amd64". */
  z?: string;
  /** "X.Y.Z": "5.14.0" for 5.14.0-70.el9.x86_64; undefined when any of the three is missing. */
  xyz?: string;
}

// Leading decimal components separated by ".": as many of X, Y and Z as the string has. A kernel
// without all three is still a kernel (`uname -r` prints what the kernel was built with: "6.1",
// "3.14-1-amd64"); only a template that needs a missing part refuses it (see substitute.ts).
const COMPONENTS = /^([0-9]+)(?:\.([0-9]+)(?:\.([0-9]+))?)?/;

export function normalizeKernelVersion(kernel: string): string {
  return kernel.replace(/[^A-Za-z0-9._-]/g, "_");
}

/**
 * Parses a kernel release string: 5.14.0-70.el9.x86_64 → X=5 Y=14 Z=0 XYZ=5.14.0;
 * 6.1.0-18-amd64 → 6, 1, 0; 3.14-1-amd64 → X=3 Y=14, no Z nor XYZ; not-a-kernel → none of them.
 * Any string `uname -r` can print parses; throws KernelVersionError only for an empty string or one
 * longer than the Module CRD lets a literal mapping be (256), which no kernel can be.
 */
export function parseKernelVersion(kernel: string): KernelVersion {
  if (kernel === "") throw new KernelVersionError(kernel, "it is empty");
  // The Module CRD bounds literal kernel versions the same way: the hub could not hand it to a spoke.
  if (kernel.length > MAX_KERNEL_VERSION_LENGTH) {
    throw new KernelVersionError(kernel, `it is longer than ${MAX_KERNEL_VERSION_LENGTH} characters`);
  }
  const [, x, y, z] = COMPONENTS.exec(kernel) ?? [];
  return {
    full: kernel,
    normalized: normalizeKernelVersion(kernel),
    ...(x !== undefined ? { x } : {}),
    ...(y !== undefined ? { y } : {}),
    ...(z !== undefined ? { z } : {}),
    ...(x !== undefined && y !== undefined && z !== undefined ? { xyz: `${x}.${y}.${z}` } : {}),
  };
}
