import fc from "fast-check";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { FakeClock } from "./clock.ts";
import { ItemExponentialFailureRateLimiter } from "./rate-limiter.ts";
import { WorkQueue } from "./workqueue.ts";

async function metricValue(reg: Registry, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const m = reg.getSingleMetric(name);
  if (!m) return undefined;
  const data = await m.get();
  const v = data.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val) && !("le" in x.labels));
  return v?.value;
}

describe("WorkQueue", () => {
  it("hands keys out in FIFO order and de-duplicates queued keys", async () => {
    const q = new WorkQueue({ name: "t", clock: new FakeClock() });
    q.add("a");
    q.add("b");
    q.add("a");
    q.add("c");
    q.add("b");
    expect(q.len()).toBe(3);
    expect([await q.get(), await q.get(), await q.get()]).toEqual(["a", "b", "c"]);
    expect(q.len()).toBe(0);
  });

  it("never hands out a key being processed; a re-add while processing queues it once after done", async () => {
    const q = new WorkQueue({ name: "t", clock: new FakeClock() });
    q.add("a");
    const first = await q.get();
    expect(first).toBe("a");
    q.add("a");
    q.add("a");
    expect(q.len()).toBe(0);
    q.add("b");
    expect(await q.get()).toBe("b");
    expect(q.len()).toBe(0);
    q.done("a");
    expect(q.len()).toBe(1);
    expect(await q.get()).toBe("a");
    q.done("a");
    q.done("b");
    expect(q.len()).toBe(0);
  });

  it("calls its done listeners after each done, once the key is no longer processing", async () => {
    const q = new WorkQueue({ name: "t", clock: new FakeClock() });
    const seen: boolean[] = [];
    q.onDone(() => seen.push(q.isProcessing("a")));
    q.add("a");
    const key = await q.get();
    expect(seen).toEqual([]);
    q.done(key ?? "");
    // Not a key handed out: no listener call.
    q.done("never-handed-out");
    expect(seen).toEqual([false]);
  });

  it("wakes a waiting get when a key arrives", async () => {
    const q = new WorkQueue({ name: "t", clock: new FakeClock() });
    const pending = q.get();
    q.add("x");
    expect(await pending).toBe("x");
    expect(q.isProcessing("x")).toBe(true);
  });

  it("addAfter delivers after the delay, keeping the earliest deadline", async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ name: "t", clock });
    q.addAfter("a", 1000);
    q.addAfter("a", 300);
    q.addAfter("a", 5000);
    clock.advance(299);
    expect(q.len()).toBe(0);
    expect(q.waitingLen()).toBe(1);
    clock.advance(1);
    expect(q.len()).toBe(1);
    expect(q.waitingLen()).toBe(0);
    expect(await q.get()).toBe("a");
    q.done("a");
    clock.advance(10_000);
    expect(q.len()).toBe(0);
  });

  it("addAfter with zero delay adds at once; a delayed key already queued stays single", async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ name: "t", clock });
    q.addAfter("a", 0);
    expect(q.len()).toBe(1);
    q.addAfter("a", 50);
    clock.advance(50);
    expect(q.len()).toBe(1);
    expect(await q.get()).toBe("a");
  });

  it("addRateLimited backs off exponentially per key and forget resets", async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ name: "t", clock, rateLimiter: new ItemExponentialFailureRateLimiter(5, 1_000_000) });
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      const t0 = clock.now();
      q.addRateLimited("k");
      while (q.len() === 0) clock.advance(1);
      delays.push(clock.now() - t0);
      expect(await q.get()).toBe("k");
      q.done("k");
    }
    expect(delays).toEqual([5, 10, 20, 40, 80, 160]);
    expect(q.numRequeues("k")).toBe(6);
    q.forget("k");
    expect(q.numRequeues("k")).toBe(0);
    q.addRateLimited("k");
    clock.advance(5);
    expect(q.len()).toBe(1);
  });

  it("shutDown stops handing out work, wakes waiters, and resolves once in-flight keys are done", async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ name: "t", clock });
    q.add("a");
    q.add("b");
    q.addAfter("c", 100);
    expect(await q.get()).toBe("a");
    const waiter = new WorkQueue({ name: "w", clock });
    const pending = waiter.get();
    void waiter.shutDown();
    expect(await pending).toBeUndefined();

    let drained = false;
    const d = q.shutDown().then(() => (drained = true));
    await Promise.resolve();
    expect(drained).toBe(false);
    expect(await q.get()).toBeUndefined();
    q.add("z");
    clock.advance(1000);
    expect(q.len()).toBe(0);
    q.done("a");
    await d;
    expect(drained).toBe(true);
    expect(q.shuttingDown()).toBe(true);
  });

  it("keeps its invariants under arbitrary interleavings (model check)", async () => {
    const op = fc.oneof(
      fc.record({ t: fc.constant("add" as const), k: fc.constantFrom("a", "b", "c", "d") }),
      fc.record({ t: fc.constant("get" as const) }),
      fc.record({ t: fc.constant("done" as const), i: fc.nat(5) }),
      fc.record({ t: fc.constant("after" as const), k: fc.constantFrom("a", "b", "c", "d"), ms: fc.integer({ min: 0, max: 20 }) }),
      fc.record({ t: fc.constant("tick" as const), ms: fc.integer({ min: 1, max: 10 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
        const clock = new FakeClock();
        const q = new WorkQueue({ name: "m", clock });
        const inFlight: string[] = [];
        // A key "owes" a processing run when added after it was last handed out.
        const owed = new Set<string>();
        for (const o of ops) {
          if (o.t === "add") {
            q.add(o.k);
            owed.add(o.k);
          } else if (o.t === "after") {
            q.addAfter(o.k, o.ms);
            if (o.ms <= 0) owed.add(o.k);
          } else if (o.t === "tick") {
            clock.advance(o.ms);
          } else if (o.t === "get") {
            if (q.len() === 0) continue;
            const k = await q.get();
            if (k === undefined) throw new Error("queue closed unexpectedly");
            expect(inFlight).not.toContain(k);
            inFlight.push(k);
            owed.delete(k);
          } else {
            const k = inFlight.splice(o.i % Math.max(1, inFlight.length), 1)[0];
            if (k !== undefined) q.done(k);
          }
        }
        // Finish everything: every owed key must come out exactly once more.
        clock.advance(1000);
        for (const k of inFlight.splice(0)) q.done(k);
        const seen: string[] = [];
        while (q.len() > 0) {
          const k = await q.get();
          if (k === undefined) break;
          seen.push(k);
          q.done(k);
        }
        expect(new Set(seen).size).toBe(seen.length);
        for (const k of owed) expect(seen).toContain(k);
      }),
      { numRuns: 300 },
    );
  });

  it("reports controller-runtime workqueue metrics to the registry it was given", async () => {
    const clock = new FakeClock();
    const reg = new Registry();
    const q = new WorkQueue({ name: "mcm", clock, registry: reg });
    const labels = { name: "mcm", controller: "mcm" };
    q.add("a");
    q.add("a");
    q.add("b");
    expect(await metricValue(reg, "workqueue_adds_total", labels)).toBe(2);
    expect(await metricValue(reg, "workqueue_depth", labels)).toBe(2);
    clock.advance(2000);
    await q.get();
    expect(await metricValue(reg, "workqueue_depth", labels)).toBe(1);
    clock.advance(3000);
    expect(await metricValue(reg, "workqueue_unfinished_work_seconds", labels)).toBe(3);
    expect(await metricValue(reg, "workqueue_longest_running_processor_seconds", labels)).toBe(3);
    q.done("a");
    q.addRateLimited("a");
    q.addAfter("c", 10);
    expect(await metricValue(reg, "workqueue_retries_total", labels)).toBe(2);
    const text = await reg.metrics();
    expect(text).toContain('workqueue_queue_duration_seconds_sum{name="mcm",controller="mcm"} 2');
    expect(text).toContain('workqueue_work_duration_seconds_sum{name="mcm",controller="mcm"} 3');
    expect(text).toContain('workqueue_work_duration_seconds_count{name="mcm",controller="mcm"} 1');
    // A second queue on another registry does not collide.
    const other = new WorkQueue({ name: "mcm", clock, registry: new Registry() });
    other.add("x");
    expect(await metricValue(reg, "workqueue_adds_total", labels)).toBe(2);
  });
});
