import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KernelVersionError, normalizeKernelVersion, parseKernelVersion } from "./kernel-version.ts";

describe("parseKernelVersion", () => {
  it.each([
    ["5.14.0-70.el9.x86_64", "5", "14", "0"],
    ["6.1.0-18-amd64", "6", "1", "0"],
    ["4.18.0-372.9.1.el8_6.x86_64", "4", "18", "0"],
    ["6.0.15-300.fc37.x86_64", "6", "0", "15"], // upstream's own KernelComponentsAsEnvVars example
    ["6.3.5-200.fc38.x86_64", "6", "3", "5"], // seed 000's KERNEL_FULL_VERSION example
    ["5.4.0-1054-gke", "5", "4", "0"], // seed 002
    ["4.18.0-348.2.1.el8_5.x86_64", "4", "18", "0"], // seed 003 signing example
    ["6.8.0", "6", "8", "0"],
    ["6.10.0-rc1+", "6", "10", "0"],
  ])("%s → X=%s Y=%s Z=%s", (kernel, x, y, z) => {
    expect(parseKernelVersion(kernel)).toEqual({ full: kernel, normalized: normalizeKernelVersion(kernel), x, y, z, xyz: `${x}.${y}.${z}` });
  });

  it("normalizes characters upstream replaces, keeping the full version as reported", () => {
    const v = parseKernelVersion("6.10.0-rc1+");
    expect(v.full).toBe("6.10.0-rc1+");
    expect(v.normalized).toBe("6.10.0-rc1_");
  });

  it.each([
    ["", /it is empty/],
    [`5.14.0-${"x".repeat(300)}`, /longer than 256 characters/],
  ])("rejects %j", (kernel, reason) => {
    expect(() => parseKernelVersion(kernel)).toThrow(KernelVersionError);
    expect(() => parseKernelVersion(kernel)).toThrow(reason);
  });

  // Field case 05: kernels `uname -r` prints without a patch level are kernels all the same.
  it.each([
    ["6.1", { x: "6", y: "1" }],
    ["3.14-1-amd64", { x: "3", y: "14" }],
    ["6-rc1", { x: "6" }],
    ["not-a-kernel", {}],
    ["linux-5.14.0", {}],
    ["5.14.01", { x: "5", y: "14", z: "01", xyz: "5.14.01" }],
    ["5.14.0 #1 SMP", { x: "5", y: "14", z: "0", xyz: "5.14.0" }],
  ])("parses %j with only the parts it has", (kernel, parts) => {
    expect(parseKernelVersion(kernel)).toEqual({ full: kernel, normalized: normalizeKernelVersion(kernel), ...parts });
  });

  const num = fc.nat({ max: 100_000 }).map(String);
  const suffix = fc.oneof(
    fc.constant(""),
    fc.tuple(fc.constantFrom("-", ".", "+", "_"), fc.stringMatching(/^[A-Za-z0-9._+-]{0,40}$/)).map(([s, r]) => s + r),
  );

  it("recovers X, Y and Z from any X.Y.Z<suffix> (property)", () => {
    fc.assert(
      fc.property(num, num, num, suffix, (x, y, z, rest) => {
        const kernel = `${x}.${y}.${z}${rest}`;
        const v = parseKernelVersion(kernel);
        expect([v.x, v.y, v.z, v.xyz, v.full]).toEqual([x, y, z, `${x}.${y}.${z}`, kernel]);
        expect(v.normalized).toHaveLength(kernel.length);
        expect(v.normalized).toMatch(/^[A-Za-z0-9._-]*$/);
      }),
    );
  });

  it("parses every non-empty string of at most 256 characters, and the parts are a prefix of it (property)", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 256, unit: "binary" }), (s) => {
        const v = parseKernelVersion(s);
        expect(v.full).toBe(s);
        const prefix = [v.x, v.y, v.z].filter((p) => p !== undefined).join(".");
        expect(s.startsWith(prefix)).toBe(true);
        if (v.xyz !== undefined) expect(v.xyz).toBe(prefix);
      }),
    );
  });
});
