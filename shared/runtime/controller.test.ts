import { Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { Controller, type Reconcile, TerminalError, isTerminal } from "./controller.ts";
import { createLogger } from "./logger.ts";
import { ItemExponentialFailureRateLimiter } from "./rate-limiter.ts";

function quietLogger(): { logger: ReturnType<typeof createLogger>; text: () => string } {
  let buf = "";
  const destination = new Writable({
    write(c: Buffer, _e, cb) {
      buf += c.toString();
      cb();
    },
  });
  return { logger: createLogger({ name: "test", destination }), text: () => buf };
}

async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await sleep(2);
  }
}

async function value(reg: Registry, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const m = reg.getSingleMetric(name);
  const data = await m?.get();
  return data?.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x) && !("le" in v.labels))?.value;
}

function make(reconcile: Reconcile, workers = 1, reg = new Registry()): { c: Controller; reg: Registry; log: () => string } {
  const { logger, text } = quietLogger();
  const c = new Controller({ name: "test", reconcile, logger, registry: reg, maxConcurrentReconciles: workers });
  return { c, reg, log: text };
}

describe("Controller", () => {
  it("bounds concurrency to maxConcurrentReconciles and processes every key", async () => {
    let active = 0;
    let peak = 0;
    const done: string[] = [];
    const { c, reg } = make(async (key) => {
      active++;
      peak = Math.max(peak, active);
      await sleep(15);
      active--;
      done.push(key);
      return undefined;
    }, 3);
    for (let i = 0; i < 12; i++) c.enqueue(`k${i}`);
    c.start();
    await until(() => done.length === 12);
    expect(peak).toBe(3);
    expect(await value(reg, "controller_runtime_max_concurrent_reconciles", { controller: "test" })).toBe(3);
    expect(await value(reg, "controller_runtime_reconcile_total", { controller: "test", result: "success" })).toBe(12);
    await c.stop();
  });

  it("never runs one key in two workers; an event during a reconcile causes exactly one more run", async () => {
    let running = 0;
    let overlap = false;
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { c } = make(async () => {
      running++;
      if (running > 1) overlap = true;
      runs++;
      if (runs === 1) await gate;
      running--;
      return undefined;
    }, 4);
    c.start();
    c.enqueue("same");
    await until(() => runs === 1);
    for (let i = 0; i < 5; i++) c.enqueue("same");
    await sleep(20);
    expect(runs).toBe(1);
    release();
    await until(() => runs === 2);
    await sleep(30);
    expect(runs).toBe(2);
    expect(overlap).toBe(false);
    await c.stop();
  });

  it("retries a failing key with growing backoff, then forgets it after success", async () => {
    const times: number[] = [];
    const { logger } = quietLogger();
    const reg = new Registry();
    const c = new Controller({
      name: "retry",
      logger,
      registry: reg,
      rateLimiter: new ItemExponentialFailureRateLimiter(20, 10_000),
      reconcile: (): Promise<undefined> => {
        times.push(performance.now());
        if (times.length < 4) return Promise.reject(new Error("transient"));
        return Promise.resolve(undefined);
      },
    });
    c.start();
    c.enqueue("k");
    await until(() => times.length === 4);
    const gaps = times.slice(1).map((t, i) => t - (times[i] ?? 0));
    // 20, 40, 80 ms of backoff (timers may fire a little late, never early).
    expect(gaps[0]).toBeGreaterThanOrEqual(19);
    expect(gaps[1]).toBeGreaterThanOrEqual(39);
    expect(gaps[2]).toBeGreaterThanOrEqual(79);
    expect(c.queue.numRequeues("k")).toBe(0);
    expect(await value(reg, "controller_runtime_reconcile_errors_total", { controller: "retry" })).toBe(3);
    expect(await value(reg, "controller_runtime_reconcile_total", { controller: "retry", result: "error" })).toBe(3);
    expect(await value(reg, "workqueue_retries_total", { name: "retry" })).toBe(3);
    await c.stop();
  });

  it("logs a TerminalError and does not retry it", async () => {
    let runs = 0;
    const { c, reg, log } = make(() => {
      runs++;
      return Promise.reject(new TerminalError("spec.selector is empty: fix the object"));
    });
    c.start();
    c.enqueue("bad");
    await until(() => runs === 1);
    await sleep(100);
    expect(runs).toBe(1);
    expect(c.queue.waitingLen()).toBe(0);
    expect(log()).toContain("spec.selector is empty");
    expect(await value(reg, "controller_runtime_terminal_reconcile_errors_total", { controller: "test" })).toBe(1);
    await c.stop();
  });

  it("requeueAfter runs the key again after the delay; requeue uses the rate limiter", async () => {
    const at: number[] = [];
    const { c, reg } = make((): Promise<{ requeueAfter?: number; requeue?: boolean }> => {
      at.push(performance.now());
      if (at.length === 1) return Promise.resolve({ requeueAfter: 120 });
      if (at.length === 2) return Promise.resolve({ requeue: true });
      return Promise.resolve({});
    });
    c.start();
    c.enqueue("k");
    await until(() => at.length === 3);
    expect((at[1] ?? 0) - (at[0] ?? 0)).toBeGreaterThanOrEqual(119);
    expect(await value(reg, "controller_runtime_reconcile_total", { controller: "test", result: "requeue_after" })).toBe(1);
    expect(await value(reg, "controller_runtime_reconcile_total", { controller: "test", result: "requeue" })).toBe(1);
    await c.stop();
  });

  it("stop aborts reconciles in flight, waits for them, and takes no more work", async () => {
    let sawAbort = false;
    let runs = 0;
    const { c, reg } = make(async (_key, signal) => {
      runs++;
      await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
      sawAbort = signal.aborted;
      return undefined;
    }, 2);
    c.start();
    c.enqueue("a");
    c.enqueue("b");
    c.enqueue("c");
    await until(() => runs === 2);
    expect(await value(reg, "controller_runtime_active_workers", { controller: "test" })).toBe(2);
    await c.stop();
    expect(sawAbort).toBe(true);
    expect(runs).toBe(2);
    c.enqueue("d");
    await sleep(20);
    expect(runs).toBe(2);
    expect(await value(reg, "controller_runtime_active_workers", { controller: "test" })).toBe(0);
  });

  it("recognises a TerminalError wrapped as the cause of another error", () => {
    expect(isTerminal(new Error("apply failed", { cause: new TerminalError("bad spec") }))).toBe(true);
    expect(isTerminal(new Error("timeout", { cause: new Error("socket") }))).toBe(false);
    expect(isTerminal("string")).toBe(false);
  });

  it("rejects a non-positive worker count", () => {
    expect(() => make(() => Promise.resolve(undefined), 0)).toThrow(/maxConcurrentReconciles must be a positive integer/);
  });
});
