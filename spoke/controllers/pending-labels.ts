// Read-your-writes for node labels: the Module reconciler plans from the Node cache, which can lag
// behind a label patch it just made. Without this, a reconcile that runs before the watch delivers
// the patch plans the same change again: a second patch and a second ModuleLoaded/ModuleUnloaded
// Event for one transition. Kubernetes controllers solve the same lag with "expectations"
// (kube-controller-manager's ControllerExpectations); this is the label-level form of it.
import type { Node } from "../objects.ts";

/** How long a written label is trusted over the cache (a watch that lags longer has bigger problems). */
export const PENDING_LABEL_TTL_MS = 30_000;

interface Pending {
  /** label key → value written (null = removed) */
  labels: Map<string, string | null>;
  /** Date.now() of the latest write */
  at: number;
}

/**
 * The node labels this process wrote and the Node cache may not show yet, per node name. Only
 * labels the writer alone owns belong here (the Module's own keys), so the cache showing a written
 * value, or a deadline passing, is enough to drop it.
 */
export class PendingNodeLabels {
  private readonly pending = new Map<string, Pending>();
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  /** Remembers a merge patch of `labels` (null = removal) that the API server accepted for `node`. */
  wrote(node: string, labels: Record<string, string | null>): void {
    const p = this.pending.get(node) ?? { labels: new Map<string, string | null>(), at: 0 };
    for (const [k, v] of Object.entries(labels)) p.labels.set(k, v);
    p.at = this.now();
    this.pending.set(node, p);
  }

  /**
   * The nodes as the API server has them after this process's writes: each cached node with the
   * written labels the cache does not show yet laid over its own. Entries the cache has caught up
   * with, or older than PENDING_LABEL_TTL_MS, are forgotten. Returns the cached objects unchanged
   * when nothing is pending (no copies).
   */
  view(nodes: readonly Node[]): Node[] {
    if (this.pending.size === 0) return [...nodes];
    const now = this.now();
    const present = new Set<string>();
    const out = nodes.map((n) => {
      const name = n.metadata.name;
      present.add(name);
      const p = this.pending.get(name);
      if (p === undefined) return n;
      const cached = n.metadata.labels ?? {};
      for (const [k, v] of p.labels) if ((v === null ? cached[k] === undefined : cached[k] === v)) p.labels.delete(k);
      if (p.labels.size === 0 || now - p.at > PENDING_LABEL_TTL_MS) {
        this.pending.delete(name);
        return n;
      }
      const labels = Object.fromEntries(
        [...Object.entries(cached).filter(([k]) => !p.labels.has(k)), ...[...p.labels].filter((e): e is [string, string] => e[1] !== null)],
      );
      return { ...n, metadata: { ...n.metadata, labels } };
    });
    // A node gone from the cache needs no labels remembered.
    for (const name of [...this.pending.keys()]) if (!present.has(name)) this.pending.delete(name);
    return out;
  }
}
