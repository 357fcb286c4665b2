import { describe, expect, it } from "vitest";
import { z } from "zod";
import { microTime } from "./leader-election.ts";

describe("microTime", () => {
  it("writes RFC 3339 with microseconds, as the Lease's MicroTime fields require, and reads back to the same instant", () => {
    const d = new Date("2026-11-23T17:08:44.533Z");
    expect(microTime(d)).toBe("2026-11-23T17:08:44.533000Z");
    expect(microTime(d)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(z.coerce.date().parse(microTime(d)).getTime()).toBe(d.getTime());
  });
});
