import { describe, expect, it } from "vitest";
import { daemonSetCounters, mergeConditions, statusUnchanged } from "./status.ts";

describe("status", () => {
  it("sums desired and available pods over the DaemonSets", () => {
    const ds = (desired: number | undefined, available: number | undefined) => ({
      metadata: { name: "x" },
      status: { ...(desired !== undefined ? { desiredNumberScheduled: desired } : {}), ...(available !== undefined ? { numberAvailable: available } : {}) },
    });
    expect(daemonSetCounters(5, [ds(2, 1), ds(3, 3), ds(undefined, undefined)])).toEqual({ nodesMatchingSelectorNumber: 5, desiredNumber: 5, availableNumber: 4 });
    expect(daemonSetCounters(0, [])).toEqual({ nodesMatchingSelectorNumber: 0, desiredNumber: 0, availableNumber: 0 });
  });

  it("moves lastTransitionTime only when a condition's status changes", () => {
    const t0 = new Date("2026-01-01T00:00:00.123Z");
    const t1 = new Date("2026-01-02T00:00:00Z");
    const first = mergeConditions(undefined, [{ type: "A", status: "True", reason: "R", message: "m" }], 1, t0);
    expect(first).toEqual([{ type: "A", status: "True", reason: "R", message: "m", lastTransitionTime: "2026-01-01T00:00:00Z", observedGeneration: 1 }]);
    const same = mergeConditions(first, [{ type: "A", status: "True", reason: "R2", message: "m2" }], 2, t1);
    expect(same[0]?.lastTransitionTime).toBe("2026-01-01T00:00:00Z");
    const flipped = mergeConditions(first, [{ type: "A", status: "False", reason: "R", message: "m" }], 2, t1);
    expect(flipped[0]?.lastTransitionTime).toBe("2026-01-02T00:00:00Z");
    expect(statusUnchanged({ conditions: first }, { conditions: first })).toBe(true);
    expect(statusUnchanged({ conditions: first }, { conditions: same })).toBe(false);
  });
});
