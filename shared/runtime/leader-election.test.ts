import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { cancellableSleep, microTime } from "./leader-election.ts";

describe("microTime", () => {
  it("writes RFC 3339 with microseconds, as the Lease's MicroTime fields require, and reads back to the same instant", () => {
    const d = new Date("2026-11-23T17:08:44.533Z");
    expect(microTime(d)).toBe("2026-11-23T17:08:44.533000Z");
    expect(microTime(d)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(z.coerce.date().parse(microTime(d)).getTime()).toBe(d.getTime());
  });
});

const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;

describe("cancellableSleep", () => {
  it("leaves no timer and no abort listener behind once it lost a race and was cancelled", async () => {
    const stopping = new AbortController();
    const before = timers();
    // One per renewal: the renewal answers first, the deadline timer loses the race.
    for (let i = 0; i < 50; i++) {
      const timer = cancellableSleep(60_000, stopping.signal);
      const winner = await Promise.race([Promise.resolve("renewed"), timer.done.then(() => "deadline")]);
      expect(winner).toBe("renewed");
      timer.cancel();
      expect(getEventListeners(stopping.signal, "abort")).toHaveLength(0);
      expect(timers()).toBe(before);
      // Cancelling settles it: nothing is left waiting on a promise that never resolves.
      await timer.done;
    }
  });

  it("ends when its time is up or the signal aborts, removing what it registered", async () => {
    const stopping = new AbortController();
    const before = timers();
    const t0 = performance.now();
    await cancellableSleep(30, stopping.signal).done;
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
    expect(getEventListeners(stopping.signal, "abort")).toHaveLength(0);

    const long = cancellableSleep(60_000, stopping.signal);
    expect(getEventListeners(stopping.signal, "abort")).toHaveLength(1);
    stopping.abort();
    await long.done;
    expect(timers()).toBe(before);
    // Already aborted: returns at once and registers nothing.
    const after = cancellableSleep(60_000, stopping.signal);
    await after.done;
    after.cancel();
    expect(timers()).toBe(before);
  });
});
