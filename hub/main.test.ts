import { describe, expect, it } from "vitest";
import { HEAP_SETTINGS } from "../shared/runtime/node-options.ts";
import { hubMemoryRelease } from "./main.ts";

describe("hubMemoryRelease", () => {
  it("runs V8's last-resort GC 10 s after each burst when node exposes gc, as the hub's Deployment starts it", () => {
    const calls: unknown[] = [];
    const release = hubMemoryRelease((o: unknown) => calls.push(o));
    expect(release?.idleMs).toBe(HEAP_SETTINGS.hub.releaseWhenIdleMs);
    expect(HEAP_SETTINGS.hub.releaseWhenIdleMs).toBe(10_000);
    release?.collect();
    expect(calls).toEqual([{ type: "major", execution: "sync", flavor: "last-resort" }]);
  });

  it("is off when node runs without --expose-gc", () => {
    expect(hubMemoryRelease(undefined)).toBeUndefined();
  });
});
