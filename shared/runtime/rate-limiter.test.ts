import { describe, expect, it } from "vitest";
import { FakeClock } from "./clock.ts";
import {
  BucketRateLimiter,
  ItemExponentialFailureRateLimiter,
  MaxOfRateLimiter,
  defaultControllerRateLimiter,
} from "./rate-limiter.ts";

describe("ItemExponentialFailureRateLimiter", () => {
  it("doubles per failure from 5 ms and caps at 1000 s, per key", () => {
    const rl = new ItemExponentialFailureRateLimiter(5, 1_000_000);
    const seq = Array.from({ length: 20 }, () => rl.when("a"));
    expect(seq.slice(0, 5)).toEqual([5, 10, 20, 40, 80]);
    // 5·2^17 = 655 360 ms is the last step under the cap; then the cap.
    expect(seq[17]).toBe(655_360);
    expect(seq[18]).toBe(1_000_000);
    expect(seq[19]).toBe(1_000_000);
    expect(rl.numRequeues("a")).toBe(20);
    expect(rl.when("b")).toBe(5);
  });

  it("forget resets the key's history only", () => {
    const rl = new ItemExponentialFailureRateLimiter(5, 1_000_000);
    rl.when("a");
    rl.when("a");
    rl.when("b");
    rl.forget("a");
    expect(rl.numRequeues("a")).toBe(0);
    expect(rl.when("a")).toBe(5);
    expect(rl.when("b")).toBe(10);
  });

  it("never overflows to Infinity after very many failures", () => {
    const rl = new ItemExponentialFailureRateLimiter(5, 1_000_000);
    let last = 0;
    for (let i = 0; i < 2000; i++) last = rl.when("x");
    expect(last).toBe(1_000_000);
  });
});

describe("BucketRateLimiter", () => {
  it("allows a burst of 100 and then spaces retries at 10 qps", () => {
    const clock = new FakeClock();
    const rl = new BucketRateLimiter(10, 100, clock);
    const burst = Array.from({ length: 100 }, (_, i) => rl.when(`k${i}`));
    expect(burst.every((d) => d === 0)).toBe(true);
    expect(rl.when("k100")).toBeCloseTo(100);
    expect(rl.when("k101")).toBeCloseTo(200);
    expect(rl.when("k102")).toBeCloseTo(300);
  });

  it("refills with time, up to the burst", () => {
    const clock = new FakeClock();
    const rl = new BucketRateLimiter(10, 100, clock);
    for (let i = 0; i < 100; i++) rl.when("k");
    clock.advance(1000); // 10 tokens back
    const d = Array.from({ length: 11 }, () => rl.when("k"));
    expect(d.slice(0, 10).every((x) => x === 0)).toBe(true);
    expect(d[10]).toBeCloseTo(100);
    clock.advance(3_600_000);
    const after = Array.from({ length: 101 }, () => rl.when("k"));
    expect(after.filter((x) => x === 0)).toHaveLength(100);
  });
});

describe("defaultControllerRateLimiter", () => {
  it("is the max of per-key backoff and the global bucket", () => {
    const clock = new FakeClock();
    const rl = defaultControllerRateLimiter(clock);
    // One key failing repeatedly: the per-key backoff dominates.
    expect([rl.when("a"), rl.when("a"), rl.when("a")]).toEqual([5, 10, 20]);
    // 97 more distinct keys exhaust the bucket (3 + 97 = 100 tokens).
    for (let i = 0; i < 97; i++) expect(rl.when(`b${i}`)).toBe(5);
    // A fresh key now waits for the bucket (100 ms), not its own 5 ms.
    expect(rl.when("fresh")).toBeCloseTo(100);
    rl.forget("a");
    expect(rl.numRequeues("a")).toBe(0);
  });

  it("MaxOf reports the largest requeue count", () => {
    const a = new ItemExponentialFailureRateLimiter(1, 10);
    const b = new ItemExponentialFailureRateLimiter(1, 10);
    const m = new MaxOfRateLimiter(a, b);
    a.when("k");
    expect(m.numRequeues("k")).toBe(1);
  });
});
