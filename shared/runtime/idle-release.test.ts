import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { FakeClock } from "./clock.ts";
import { IdleMemoryRelease, lastResortGc } from "./idle-release.ts";
import { HEAP_SETTINGS, nodeOptions } from "./node-options.ts";

describe("IdleMemoryRelease", () => {
  it("collects once, idleMs after the last activity, and not again until the next activity", () => {
    const clock = new FakeClock();
    let collected = 0;
    const release = new IdleMemoryRelease({ idleMs: 10_000, collect: () => { collected += 1; }, clock, rss: () => 0 });
    release.activity();
    clock.advance(9_999);
    expect(collected).toBe(0);
    // More work pushes the collection back: a busy process is never paused by it.
    release.activity();
    clock.advance(9_999);
    expect(collected).toBe(0);
    clock.advance(1);
    expect(collected).toBe(1);
    // Idle: no timer left, nothing more to collect.
    clock.advance(60_000);
    expect(collected).toBe(1);
    expect(release.releases).toBe(1);
    release.activity();
    clock.advance(10_000);
    expect(collected).toBe(2);
  });

  it("keeps one timer however many reconciles report activity, and waits idleMs after the last one", () => {
    const clock = new FakeClock();
    let collected = 0;
    const release = new IdleMemoryRelease({ idleMs: 10_000, collect: () => { collected += 1; }, clock, rss: () => 0 });
    // 50,000 reconciles 1 ms apart (a rollout at 5,000 x 10): one timer pending throughout.
    for (let i = 0; i < 50_000; i++) {
      release.activity();
      expect(clock.pendingTimers()).toBe(1);
      clock.advance(1);
    }
    expect(collected).toBe(0);
    // The last activity was at 49,999 ms: due at 59,999 ms, not before.
    clock.advance(59_998 - clock.now());
    expect(collected).toBe(0);
    clock.advance(1);
    expect(collected).toBe(1);
    expect(clock.pendingTimers()).toBe(0);
  });

  it("collects nothing after stop, and refuses a non-positive idle time", () => {
    const clock = new FakeClock();
    let collected = 0;
    const release = new IdleMemoryRelease({ idleMs: 100, collect: () => { collected += 1; }, clock, rss: () => 0 });
    release.activity();
    release.stop();
    release.activity();
    clock.advance(1_000);
    expect(collected).toBe(0);
    expect(() => new IdleMemoryRelease({ idleMs: 0, collect: () => undefined })).toThrow(RangeError);
    expect(() => new IdleMemoryRelease({ idleMs: Number.NaN, collect: () => undefined })).toThrow(/positive/);
  });
});

describe("lastResortGc", () => {
  it("is undefined without V8's gc extension, and asks the extension for a synchronous last-resort major GC", () => {
    expect(lastResortGc(undefined)).toBeUndefined();
    expect(lastResortGc("gc")).toBeUndefined();
    const calls: unknown[] = [];
    lastResortGc((o: unknown) => calls.push(o))?.();
    expect(calls).toEqual([{ type: "major", execution: "sync", flavor: "last-resort" }]);
  });

  it("gives the young generation's pages back in a real node started with the hub's NODE_OPTIONS", () => {
    // The hub's settings (4 MiB semi-spaces, --expose-gc): a burst of short-lived allocations grows
    // the young generation to its cap; the last-resort GC shrinks it back and unmaps the pages.
    const module = fileURLToPath(new URL("./idle-release.ts", import.meta.url));
    const script = `
      const { lastResortGc } = await import(${JSON.stringify(module)});
      const v8 = await import("node:v8");
      const newSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size;
      let keep = [];
      for (let i = 0; i < 200000; i++) { keep.push({ i, s: "x" + i }); if (keep.length > 20000) keep = []; }
      const before = newSpace();
      const collect = lastResortGc();
      collect();
      console.log(JSON.stringify({ before, after: newSpace(), exposed: typeof collect }));
    `;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      env: { ...process.env, NODE_OPTIONS: nodeOptions(HEAP_SETTINGS.hub) },
      encoding: "utf8",
    });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { before: number; after: number; exposed: string };
    expect(out.exposed).toBe("function");
    expect(out.before).toBeGreaterThanOrEqual(4 * 2 ** 20);
    expect(out.after).toBeLessThanOrEqual(out.before / 4);
  });
});
