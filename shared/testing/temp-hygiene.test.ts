import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import setup, { TempLeftoversError } from "./temp-hygiene.ts";

describe("temp hygiene (the unit and e2e projects' global setup)", () => {
  const before = process.env.TMPDIR;
  afterEach(() => {
    process.exitCode = 0;
  });

  it("gives the run a private TMPDIR and fails the run when a test leaves something in it", () => {
    const teardown = setup();
    const dir = process.env.TMPDIR ?? "";
    expect(dir).toMatch(/kmm-test-run-/);
    mkdirSync(join(dir, "kmm-hub-sa-abc"));
    writeFileSync(join(dir, "kmm-hub-sa-abc", "token"), "t");
    expect(() => teardown()).toThrow(new TempLeftoversError("tests left 1 entries in the temporary folder (removed now; fix the test that creates them): kmm-hub-sa-abc"));
    expect(process.exitCode).toBe(1);
    expect(existsSync(dir)).toBe(false);
    expect(process.env.TMPDIR).toBe(before);
  });

  it("passes, and removes the folder, when nothing is left", () => {
    const teardown = setup();
    const dir = process.env.TMPDIR ?? "";
    teardown();
    expect(existsSync(dir)).toBe(false);
    expect(process.exitCode ?? 0).toBe(0);
  });

  it("gives every project of one run the same folder, and checks it once, at the last teardown", () => {
    const unit = setup();
    const dir = process.env.TMPDIR ?? "";
    const e2e = setup();
    expect(process.env.TMPDIR).toBe(dir);
    writeFileSync(join(dir, "left-by-a-test"), "x");
    unit();
    expect(existsSync(dir)).toBe(true);
    expect(() => e2e()).toThrow(TempLeftoversError);
    expect(existsSync(dir)).toBe(false);
    expect(process.env.TMPDIR).toBe(before);
  });
});
