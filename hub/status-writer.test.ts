import { describe, expect, it } from "vitest";
import type { ManagedClusterModuleStatus } from "../shared/api/index.ts";
import { StatusWriter, type StatusWriteResult } from "./status-writer.ts";
import { testMcm } from "./testdata.ts";

/** A write that finishes when the test says so. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

const a = testMcm({ name: "a" });
const b = testMcm({ name: "b" });
const c = testMcm({ name: "c" });
const status = (n: number): ManagedClusterModuleStatus => ({ numberDesired: n });
/** A status listing `listed` clusters (weight listed + 1). */
const listing = (n: number, listed: number): ManagedClusterModuleStatus => ({
  numberDesired: n,
  clusters: Array.from({ length: listed }, (_, i) => ({ cluster: `cluster-${i}` })),
});

describe("StatusWriter", () => {
  it("writes one status per MCM at a time, and of those handed over meanwhile only the newest", async () => {
    const written: [string, number | undefined][] = [];
    const gates: ReturnType<typeof gate>[] = [];
    const w = new StatusWriter({
      write: async (mcm, s) => {
        const g = gate();
        gates.push(g);
        await g.wait;
        written.push([mcm.metadata.name ?? "", s.numberDesired]);
        return {};
      },
      failed: () => Promise.reject(new Error("no failure expected")),
      stopped: () => false,
    });
    w.submit(a, status(1));
    w.submit(b, status(10));
    expect(gates).toHaveLength(2);
    w.submit(a, status(2));
    w.submit(a, status(3));
    // The newest known status of a is the one waiting, not the one being written.
    expect(w.pending("a")).toEqual(status(3));
    expect(gates).toHaveLength(2);
    gates[0]!.open();
    gates[1]!.open();
    await new Promise((r) => setTimeout(r, 0));
    expect(gates).toHaveLength(3);
    expect(w.pending("a")).toEqual(status(3));
    gates[2]!.open();
    await w.idle("a");
    await w.idle("b");
    expect(written).toEqual([["a", 1], ["b", 10], ["a", 3]]);
    expect(w.pending("a")).toBeUndefined();
  });

  it("says it is busy while a status waits or is being written, and calls written after each write", async () => {
    const gates: ReturnType<typeof gate>[] = [];
    let writtenCalls = 0;
    const w = new StatusWriter({
      write: async () => {
        const g = gate();
        gates.push(g);
        await g.wait;
        return {};
      },
      failed: () => Promise.resolve(),
      stopped: () => false,
      // a: 1 + 3 listed, b: 1 + 3 listed; room for 5: b waits for a's room.
      maxClustersInFlight: 5,
      written: () => { writtenCalls += 1; },
    });
    expect(w.busy()).toBe(false);
    w.submit(a, listing(1, 3));
    w.submit(b, listing(1, 3));
    expect(w.busy()).toBe(true);
    expect(gates).toHaveLength(1);
    gates[0]!.open();
    await new Promise((r) => setTimeout(r, 0));
    expect(writtenCalls).toBe(1);
    expect(w.busy()).toBe(true);
    gates[1]!.open();
    await w.idle("b");
    expect(writtenCalls).toBe(2);
    expect(w.busy()).toBe(false);
  });

  it("reports a refused or failed write, and writes nothing once stopped", async () => {
    const failures: StatusWriteResult[] = [];
    let stopped = false;
    let writes = 0;
    const w = new StatusWriter({
      write: () => {
        writes++;
        return Promise.resolve(writes === 1 ? { refused: "too large" } : { retry: true });
      },
      failed: (_mcm, r) => {
        failures.push(r);
        return Promise.resolve();
      },
      stopped: () => stopped,
    });
    w.submit(a, status(1));
    await w.idle("a");
    w.submit(a, status(2));
    await w.idle("a");
    expect(failures).toEqual([{ refused: "too large" }, { retry: true }]);
    stopped = true;
    w.submit(a, status(3));
    await w.idle("a");
    expect(writes).toBe(2);
    expect(w.pending("a")).toBeUndefined();
  });

  it("writes large statuses one at a time hub-wide, in the order handed over, and small ones side by side", async () => {
    const started: string[] = [];
    const gates = new Map<string, ReturnType<typeof gate>>();
    const w = new StatusWriter({
      write: async (mcm, s) => {
        const key = `${mcm.metadata.name ?? ""}${s.numberDesired ?? ""}`;
        const g = gate();
        gates.set(key, g);
        started.push(key);
        await g.wait;
        return {};
      },
      failed: () => Promise.reject(new Error("no failure expected")),
      stopped: () => false,
      maxClustersInFlight: 10,
    });
    // a (weight 9) goes at once; b (9) does not fit beside it, and c (1) waits behind b.
    w.submit(a, listing(1, 8));
    w.submit(b, listing(1, 8));
    w.submit(c, status(1));
    expect(started).toEqual(["a1"]);
    // A newer status of a waits for a's write, behind b and c.
    w.submit(a, listing(2, 8));
    gates.get("a1")!.open();
    await new Promise((r) => setTimeout(r, 0));
    // b and c fit together (9 + 1); a's second write waits for the room.
    expect(started).toEqual(["a1", "b1", "c1"]);
    gates.get("c1")!.open();
    await w.idle("c");
    expect(started).toEqual(["a1", "b1", "c1"]);
    gates.get("b1")!.open();
    await new Promise((r) => setTimeout(r, 0));
    expect(started).toEqual(["a1", "b1", "c1", "a2"]);
    gates.get("a2")!.open();
    await w.idle("a");
    await w.idle("b");
    expect(w.pending("a")).toBeUndefined();
  });

  it("writes a status larger than the limit when nothing else is in flight", async () => {
    const written: number[] = [];
    const w = new StatusWriter({
      write: (_mcm, s) => {
        written.push(s.clusters?.length ?? 0);
        return Promise.resolve({});
      },
      failed: () => Promise.reject(new Error("no failure expected")),
      stopped: () => false,
      maxClustersInFlight: 5,
    });
    w.submit(a, listing(1, 50));
    w.submit(b, listing(1, 50));
    await w.idle("a");
    await w.idle("b");
    expect(written).toEqual([50, 50]);
  });

  it("gives the room back when the API server answered, before the failure is reported", async () => {
    const started: string[] = [];
    const report = gate();
    const w = new StatusWriter({
      write: (mcm) => {
        started.push(mcm.metadata.name ?? "");
        return Promise.resolve(mcm.metadata.name === "a" ? { refused: "too large" } : {});
      },
      failed: () => report.wait,
      stopped: () => false,
      maxClustersInFlight: 10,
    });
    w.submit(a, listing(1, 8));
    w.submit(b, listing(1, 8));
    w.submit(a, listing(2, 8));
    await new Promise((r) => setTimeout(r, 0));
    // a's refusal is still being reported (its Event): b is written meanwhile, a's next status waits.
    expect(started).toEqual(["a", "b"]);
    expect(w.pending("a")).toEqual(listing(2, 8));
    report.open();
    await w.idle("a");
    expect(started).toEqual(["a", "b", "a"]);
  });
});
