// The value of the kernel-versions ClusterClaim, which the hub reads to decide which kernels to
// build and map for this cluster. OCM refuses claim values longer than 1024 characters.
//
// Overflow rule (documented, deterministic): when every kernel does not fit, kernels are taken in
// order of how many nodes run them (most first; ties by kernel version, lexically) while the value
// still fits; a kernel that does not fit is skipped whole, never cut. The published value is
// then sorted like the full one. So the kernels serving most nodes are the ones the hub sees.
import { CLUSTER_CLAIM_VALUE_MAX_LENGTH } from "../shared/ocm/managedcluster.ts";

export const KERNEL_CLAIM_NAME = "kernel-versions.kmm.node.kubernetes.io";

export interface KernelClaim {
  /** Newline-joined sorted kernels; "" when no node reports a kernel (the claim is then deleted). */
  value: string;
  published: string[];
  /** Kernels left out because the value would exceed the OCM limit. */
  omitted: string[];
}

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** `kernels` holds one entry per node (repeats count as more nodes); empty strings are ignored. */
export function kernelClaim(kernels: readonly string[], maxLength = CLUSTER_CLAIM_VALUE_MAX_LENGTH): KernelClaim {
  const counts = new Map<string, number>();
  for (const k of kernels) {
    const kernel = k.trim();
    if (kernel !== "") counts.set(kernel, (counts.get(kernel) ?? 0) + 1);
  }
  const all = [...counts.keys()].sort(byText);
  const full = all.join("\n");
  if (full.length <= maxLength) return { value: full, published: all, omitted: [] };

  const byNodes = [...all].sort((a, b) => counts.get(b)! - counts.get(a)! || byText(a, b));
  const published: string[] = [];
  const omitted: string[] = [];
  let length = 0;
  for (const k of byNodes) {
    const added = (published.length === 0 ? 0 : 1) + k.length;
    if (length + added <= maxLength) {
      published.push(k);
      length += added;
    } else {
      omitted.push(k);
    }
  }
  published.sort(byText);
  omitted.sort(byText);
  return { value: published.join("\n"), published, omitted };
}
