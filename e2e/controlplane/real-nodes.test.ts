import { describe, expect, it } from "vitest";
import { realNodeLayout } from "./real-nodes.ts";

describe("realNodeLayout", () => {
  it("gives every real node its own loopback address: the hub's first, then one per spoke in order", () => {
    expect(realNodeLayout(["hub", "spoke1", "spoke2"], 2).map((s) => [s.cluster, s.name, s.hostIP, s.first])).toEqual([
      ["hub", "hub-real", "127.0.0.1", true],
      ["hub", "hub-real-2", "127.0.0.2", false],
      ["spoke1", "spoke1-real", "127.0.0.3", true],
      ["spoke2", "spoke2-real", "127.0.0.4", true],
    ]);
    // The hub's nodes come first wherever the hub is listed; one hub node leaves 127.0.0.2 to spoke1.
    expect(realNodeLayout(["spoke1", "hub"], 1).map((s) => [s.name, s.hostIP])).toEqual([
      ["hub-real", "127.0.0.1"],
      ["spoke1-real", "127.0.0.2"],
    ]);
    expect(realNodeLayout(["hub"], 3).map((s) => s.name)).toEqual(["hub-real", "hub-real-2", "hub-real-3"]);
  });

  it("refuses more nodes than 127.0.0.1-254 holds", () => {
    const spokes = Array.from({ length: 253 }, (_, i) => `spoke${i + 1}`);
    expect(realNodeLayout(["hub", ...spokes], 1).at(-1)?.hostIP).toBe("127.0.0.254");
    expect(() => realNodeLayout(["hub", ...spokes], 2)).toThrow("255 real nodes do not fit in 127.0.0.1-127.0.0.254");
  });
});
