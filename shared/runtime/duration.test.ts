import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DurationError, formatGoDuration, parseGoDuration } from "./duration.ts";

describe("parseGoDuration", () => {
  it.each([
    ["0", 0],
    ["0s", 0],
    ["1h", 3_600_000],
    ["1h30m", 5_400_000],
    ["10m", 600_000],
    ["1.5s", 1500],
    [".5s", 500],
    ["300ms", 300],
    ["2h45m10.5s", 2 * 3_600_000 + 45 * 60_000 + 10_500],
    ["1500us", 1.5],
    ["1500µs", 1.5],
    ["1000000ns", 1],
    ["-1m", -60_000],
    ["+5s", 5000],
    ["1m1m", 120_000],
  ])("%s → %d ms", (input, ms) => {
    expect(parseGoDuration(input)).toBeCloseTo(ms, 9);
  });

  it.each([
    ["", /empty/],
    ["1", /unexpected "1"|unknown unit/],
    ["10", /unexpected|unknown unit/],
    ["1d", /unknown unit "d"/],
    ["h", /unexpected|number is missing/],
    ["1h 30m", /unexpected " 30m"/],
    ["5 s", /unexpected/],
    [".s", /number is missing/],
    ["1.2.3s", /unexpected/],
  ])("refuses %j", (input, why) => {
    expect(() => parseGoDuration(input)).toThrow(DurationError);
    expect(() => parseGoDuration(input)).toThrow(why);
  });

  it("round-trips through Go's String() form", () => {
    expect(formatGoDuration(5_400_000)).toBe("1h30m0s");
    expect(formatGoDuration(1500)).toBe("1.5s");
    expect(formatGoDuration(0)).toBe("0s");
    fc.assert(
      fc.property(fc.integer({ min: -1e9, max: 1e10 }), (ms) => {
        expect(parseGoDuration(formatGoDuration(ms))).toBeCloseTo(ms, 3);
      }),
    );
  });
});
