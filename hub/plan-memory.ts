// What the reconciler remembers of one ManagedClusterModule's last plan, so that a change to one
// ManagedCluster (its labels, its kernel claim) or to one ManifestWork replans that cluster only,
// not every selected cluster (issue 16: at 5,000 clusters × 10 MCMs each change cost O(C) per MCM).
// Pure, no I/O. The full plan (planClusters, then outcome per cluster) is what it must always
// equal: plan-memory.test.ts checks that after random changes.
import type { ManagedClusterModule } from "../shared/api/index.ts";
import type { ManagedClusterObject } from "../shared/ocm/index.ts";
import { compareClusterNames, isSelected, kernelClaimValue } from "./clusters.ts";
import type { ClusterOutcome, ImageToPin, KernelPlan, PinMap } from "./manifestwork.ts";
import { imagesOfKernelPlans, newPlanContext, outcome, planCluster, type ClusterPlan } from "./plan.ts";

/** Where the memory reads clusters: the informer cache (cluster-scoped, by name). */
export interface ClusterSource {
  get(name: string): ManagedClusterObject | undefined;
  list(): readonly ManagedClusterObject[];
}

interface Entry {
  /** The kernel claim the plan was made from; null when the cluster could not be read (always replanned). */
  claim: string | undefined | null;
  plan: ClusterPlan;
  /** Made with the memory's current pins; undefined until asked for. */
  outcome: ClusterOutcome | undefined;
}

function claimOf(c: ManagedClusterObject): string | undefined | null {
  try {
    return kernelClaimValue(c);
  } catch {
    return null;
  }
}

/** Index of `name` in the sorted `names`, or of where it would go. */
function searchSorted(names: readonly string[], name: string): number {
  let lo = 0;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareClusterNames(names[mid]!, name) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The plans and outcomes of one MCM version (uid and generation: its spec) for every cluster it
 * selects. Built whole once (`full`), then kept current cluster by cluster (`replan`) from the
 * names the cluster and work events bring; `setPins` remakes every outcome when a digest moved.
 */
export class PlanMemory {
  /** The MCM version the plans are for (versionOf). */
  readonly version: string;
  private readonly ctx = newPlanContext();
  private readonly entries = new Map<string, Entry>();
  /** Selected cluster names in planClusters' order. */
  private names: string[] = [];
  /** Kernel plans in use (shared by clusters with that kernel), with how many clusters use each. */
  private readonly kernelUse = new Map<KernelPlan, number>();
  private pins: PinMap = new Map();
  private pinsKey = "[]";
  /** One copy of each distinct kernel list of the outcomes (with these pins), shared by clusters. */
  private kernelLists = new Map<string, ClusterOutcome["kernels"]>();

  private constructor(mcm: ManagedClusterModule) {
    this.version = PlanMemory.versionOf(mcm);
  }

  /** What the plans depend on in the MCM: its identity and its spec's generation. */
  static versionOf(mcm: ManagedClusterModule): string {
    return `${mcm.metadata.uid ?? ""}/${mcm.metadata.generation ?? ""}`;
  }

  /** The plans of every cluster the MCM selects now (planClusters' result). */
  static full(mcm: ManagedClusterModule, source: ClusterSource): PlanMemory {
    const m = new PlanMemory(mcm);
    for (const c of source.list()) m.place(mcm, c.metadata.name ?? "", c, false);
    m.names = [...m.entries.keys()].sort(compareClusterNames);
    return m;
  }

  /**
   * Plans these clusters again as the source has them now: a cluster that joined the selection is
   * planned, one that left (or is gone) is dropped, one whose kernel claim is unchanged keeps its plan.
   */
  replan(mcm: ManagedClusterModule, source: ClusterSource, names: Iterable<string>): void {
    for (const name of names) this.place(mcm, name, source.get(name), true);
  }

  private place(mcm: ManagedClusterModule, name: string, c: ManagedClusterObject | undefined, keepSorted: boolean): void {
    const old = this.entries.get(name);
    if (c === undefined || !isSelected(mcm.spec.selector, c)) {
      if (old === undefined) return;
      this.entries.delete(name);
      this.use(old.plan, -1);
      if (keepSorted) this.names.splice(searchSorted(this.names, name), 1);
      return;
    }
    const claim = claimOf(c);
    if (old !== undefined && claim !== null && old.claim === claim) return;
    const plan = planCluster(mcm, c, this.ctx);
    if (old !== undefined) this.use(old.plan, -1);
    else if (keepSorted) this.names.splice(searchSorted(this.names, name), 0, name);
    this.entries.set(name, { claim, plan, outcome: undefined });
    this.use(plan, 1);
  }

  private use(plan: ClusterPlan, delta: 1 | -1): void {
    for (const k of plan.plans) {
      const n = (this.kernelUse.get(k) ?? 0) + delta;
      if (n > 0) this.kernelUse.set(k, n);
      else this.kernelUse.delete(k);
    }
  }

  /**
   * The digests outcomes are made with (after builds and signing). When they differ from the last
   * ones, every outcome is made again; returns whether they differed.
   */
  setPins(pins: PinMap): boolean {
    const key = JSON.stringify([...pins].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    if (key === this.pinsKey) return false;
    this.pins = pins;
    this.pinsKey = key;
    this.kernelLists = new Map();
    for (const e of this.entries.values()) e.outcome = undefined;
    return true;
  }

  /** Whether the MCM selects this cluster. */
  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Selected clusters. */
  get size(): number {
    return this.entries.size;
  }

  /** Selected cluster names in planClusters' order. */
  selected(): readonly string[] {
    return this.names;
  }

  plan(name: string): ClusterPlan | undefined {
    return this.entries.get(name)?.plan;
  }

  /** Every selected cluster's plan, in planClusters' order. */
  plans(): ClusterPlan[] {
    return this.names.map((n) => this.entries.get(n)!.plan);
  }

  /** The outcome of one selected cluster with the current pins (outcome() of plan.ts, remembered). */
  outcome(mcm: ManagedClusterModule, name: string): ClusterOutcome | undefined {
    const e = this.entries.get(name);
    if (e === undefined) return undefined;
    if (e.outcome === undefined) {
      const o = outcome(mcm, e.plan, this.pins);
      const key = JSON.stringify(o.kernels);
      const known = this.kernelLists.get(key);
      if (known !== undefined) o.kernels = known;
      else this.kernelLists.set(key, o.kernels);
      e.outcome = o;
    }
    return e.outcome;
  }

  /** Every selected cluster's outcome, in planClusters' order. */
  outcomes(mcm: ManagedClusterModule): ClusterOutcome[] {
    return this.names.map((n) => this.outcome(mcm, n)!);
  }

  /** The tagged images the plans need pinned (planImages' set, from the kernels in use). */
  images(mcm: ManagedClusterModule): ImageToPin[] {
    return imagesOfKernelPlans(mcm, [...this.kernelUse.keys()].map((k) => [k]), this.entries.size > 0);
  }
}
