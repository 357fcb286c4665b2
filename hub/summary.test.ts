import { describe, expect, it } from "vitest";
import { MAX_SUMMARY_CHARS, problemSignature, summarize } from "./summary.ts";

describe("summaries of problems on many clusters", () => {
  it("groups clusters by problem, names three per problem and counts the rest", () => {
    const items = [
      ...Array.from({ length: 10 }, (_, i) => ({ cluster: `a${i}`, message: "registry down" })),
      { cluster: "b0", message: "image x does not exist" },
    ];
    expect(summarize(items)).toBe("registry down (clusters a0, a1, a2 and 7 more); image x does not exist (cluster b0)");
  });

  it("stays within its limit however many problems and clusters there are", () => {
    const items = Array.from({ length: 5000 }, (_, i) => ({ cluster: `c${i}`, message: `problem ${i % 50}: ${"y".repeat(500)}` }));
    const s = summarize(items);
    expect(s.length).toBeLessThanOrEqual(MAX_SUMMARY_CHARS);
    // Two problems of ~400 characters fit; the others are counted.
    expect(s).toContain("48 more problem(s) on 4800 cluster(s)");
  });

  it("has a signature that ignores which clusters are named", () => {
    const a = [{ cluster: "x", message: "down" }, { cluster: "y", message: "missing" }];
    const b = [{ cluster: "z", message: "missing" }, { cluster: "w", message: "down" }, { cluster: "v", message: "down" }];
    expect(problemSignature(a)).toBe(problemSignature(b));
    expect(problemSignature(a)).not.toBe(problemSignature([{ cluster: "x", message: "down" }]));
  });
});
