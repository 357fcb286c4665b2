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
const status = (n: number): ManagedClusterModuleStatus => ({ numberDesired: n });

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
});
