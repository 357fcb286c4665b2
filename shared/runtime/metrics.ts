// Prometheus metrics under controller-runtime's names, registered once per
// Registry so that several managers (or tests) in one process do not collide.
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** What a work queue reports at scrape time (for the "in progress" gauges). */
export interface InFlightReporter {
  readonly name: string;
  /** seconds each item currently being processed has been running */
  inFlightSeconds(): number[];
}

export interface RuntimeMetrics {
  depth: Gauge<"name" | "controller">;
  adds: Counter<"name" | "controller">;
  retries: Counter<"name" | "controller">;
  queueDuration: Histogram<"name" | "controller">;
  workDuration: Histogram<"name" | "controller">;
  reconcileTotal: Counter<"controller" | "result">;
  reconcileErrors: Counter<"controller">;
  terminalReconcileErrors: Counter<"controller">;
  reconcileTime: Histogram<"controller">;
  activeWorkers: Gauge<"controller">;
  maxConcurrentReconciles: Gauge<"controller">;
  reporters: Set<InFlightReporter>;
}

const byRegistry = new WeakMap<Registry, RuntimeMetrics>();

// client-go's workqueue buckets: 10 ns … 1000 s, decades.
const queueBuckets = Array.from({ length: 12 }, (_, i) => 1e-8 * 10 ** i);
const reconcileBuckets = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75,
  2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];

export function runtimeMetrics(registry: Registry): RuntimeMetrics {
  const existing = byRegistry.get(registry);
  if (existing) return existing;
  const registers = [registry];
  const queueLabels = ["name", "controller"] as const;
  const reporters = new Set<InFlightReporter>();
  const m: RuntimeMetrics = {
    reporters,
    depth: new Gauge({ name: "workqueue_depth", help: "Current depth of workqueue", labelNames: queueLabels, registers }),
    adds: new Counter({ name: "workqueue_adds_total", help: "Total number of adds handled by workqueue", labelNames: queueLabels, registers }),
    retries: new Counter({ name: "workqueue_retries_total", help: "Total number of retries handled by workqueue", labelNames: queueLabels, registers }),
    queueDuration: new Histogram({
      name: "workqueue_queue_duration_seconds",
      help: "How long in seconds an item stays in workqueue before being requested",
      labelNames: queueLabels,
      buckets: queueBuckets,
      registers,
    }),
    workDuration: new Histogram({
      name: "workqueue_work_duration_seconds",
      help: "How long in seconds processing an item from workqueue takes",
      labelNames: queueLabels,
      buckets: queueBuckets,
      registers,
    }),
    reconcileTotal: new Counter({
      name: "controller_runtime_reconcile_total",
      help: "Total number of reconciliations per controller",
      labelNames: ["controller", "result"],
      registers,
    }),
    reconcileErrors: new Counter({
      name: "controller_runtime_reconcile_errors_total",
      help: "Total number of reconciliation errors per controller",
      labelNames: ["controller"],
      registers,
    }),
    terminalReconcileErrors: new Counter({
      name: "controller_runtime_terminal_reconcile_errors_total",
      help: "Total number of terminal reconciliation errors per controller",
      labelNames: ["controller"],
      registers,
    }),
    reconcileTime: new Histogram({
      name: "controller_runtime_reconcile_time_seconds",
      help: "Length of time per reconciliation per controller",
      labelNames: ["controller"],
      buckets: reconcileBuckets,
      registers,
    }),
    activeWorkers: new Gauge({
      name: "controller_runtime_active_workers",
      help: "Number of currently used workers per controller",
      labelNames: ["controller"],
      registers,
    }),
    maxConcurrentReconciles: new Gauge({
      name: "controller_runtime_max_concurrent_reconciles",
      help: "Maximum number of concurrent reconciles per controller",
      labelNames: ["controller"],
      registers,
    }),
  };
  // Computed at scrape time rather than on a timer: nothing runs when nobody looks.
  new Gauge({
    name: "workqueue_unfinished_work_seconds",
    help: "How many seconds of work has been done that is in progress and hasn't been observed by work_duration",
    labelNames: queueLabels,
    registers,
    collect() {
      for (const r of reporters) {
        const total = r.inFlightSeconds().reduce((a, b) => a + b, 0);
        this.set({ name: r.name, controller: r.name }, total);
      }
    },
  });
  new Gauge({
    name: "workqueue_longest_running_processor_seconds",
    help: "How many seconds has the longest running processor for workqueue been running",
    labelNames: queueLabels,
    registers,
    collect() {
      for (const r of reporters) {
        const longest = r.inFlightSeconds().reduce((a, b) => Math.max(a, b), 0);
        this.set({ name: r.name, controller: r.name }, longest);
      }
    },
  });
  byRegistry.set(registry, m);
  return m;
}
