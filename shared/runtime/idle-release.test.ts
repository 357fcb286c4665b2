import { spawnSync } from "node:child_process";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { FakeClock } from "./clock.ts";
import { IdleMemoryRelease, lastResortGc } from "./idle-release.ts";
import { createLogger } from "./logger.ts";
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

  it("waits another idleMs while a busy check says work is under way (a reconcile longer than idleMs)", () => {
    const clock = new FakeClock();
    let collected = 0;
    let busy = true;
    const release = new IdleMemoryRelease({ idleMs: 10_000, collect: () => { collected += 1; }, clock, rss: () => 0 });
    release.addBusyCheck(() => busy);
    release.addBusyCheck(() => false);
    release.activity();
    clock.advance(35_000);
    expect(collected).toBe(0);
    expect(clock.pendingTimers()).toBe(1);
    // Due at 10, 20 and 30 s, busy each time. The work ends at 35 s without a done (say, a status
    // write): collected at the next due time (40 s), idleMs after it was last seen busy.
    busy = false;
    clock.advance(4_999);
    expect(collected).toBe(0);
    clock.advance(1);
    expect(collected).toBe(1);
    expect(clock.pendingTimers()).toBe(0);
  });

  it("logs a failed collection or RSS read and goes on (EMFILE reading /proc), never throwing from its timer", () => {
    const clock = new FakeClock();
    const out: string[] = [];
    const logger = createLogger({ name: "t", destination: new Writable({ write(chunk, _enc, cb) { out.push(String(chunk)); cb(); } }) });
    let calls = 0;
    const release = new IdleMemoryRelease({
      idleMs: 100,
      collect: () => { calls += 1; },
      clock,
      logger,
      rss: () => { throw Object.assign(new Error("EMFILE: too many open files, uv_resident_set_memory"), { code: "EMFILE" }); },
    });
    release.activity();
    expect(() => clock.advance(100)).not.toThrow();
    expect(out.join("")).toContain("memory release after a burst of work failed");
    expect(out.join("")).toContain("EMFILE");
    const failing = new IdleMemoryRelease({ idleMs: 100, collect: () => { throw new Error("gc refused"); }, clock, logger, rss: () => 0 });
    failing.activity();
    expect(() => clock.advance(100)).not.toThrow();
    expect(out.join("")).toContain("gc refused");
    // Still armed for the next burst.
    release.activity();
    clock.advance(100);
    expect(calls).toBe(0);
    expect(out.filter((l) => l.includes("failed")).length).toBe(3);
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
