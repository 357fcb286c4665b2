import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KERNEL_CLAIM_NAME, kernelClaim } from "./claim.ts";

describe("kernelClaim", () => {
  it("is the sorted unique kernels, newline-joined", () => {
    const c = kernelClaim(["6.1.0-18-amd64", "5.14.0-70.el9.x86_64", "6.1.0-18-amd64", "", "  "]);
    expect(c.value).toBe("5.14.0-70.el9.x86_64\n6.1.0-18-amd64");
    expect(c.omitted).toEqual([]);
    expect(KERNEL_CLAIM_NAME).toBe("kernel-versions.kmm.node.kubernetes.io");
  });

  it("is empty without nodes", () => {
    expect(kernelClaim([])).toEqual({ value: "", published: [], omitted: [] });
  });

  it("on overflow keeps the kernels of most nodes, whole, and reports the rest", () => {
    // 3 kernels of 10 characters: two fit in 21 characters ("a\nb"), the third does not.
    const kernels = ["1.0.0-aaaa", "1.0.0-bbbb", "1.0.0-bbbb", "1.0.0-cccc", "1.0.0-cccc", "1.0.0-cccc"];
    const c = kernelClaim(kernels, 21);
    expect(c.value).toBe("1.0.0-bbbb\n1.0.0-cccc");
    expect(c.omitted).toEqual(["1.0.0-aaaa"]);
  });

  it("skips a kernel that does not fit but keeps shorter ones after it", () => {
    const c = kernelClaim(["9.9.9-a-very-long-kernel-name", "1.0.0-x", "2.0.0-y"], 16);
    expect(c.published).toEqual(["1.0.0-x", "2.0.0-y"]);
    expect(c.omitted).toEqual(["9.9.9-a-very-long-kernel-name"]);
  });

  it("never exceeds the limit, never cuts a kernel, and does not depend on node order", () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[0-9]\.[0-9]{1,2}\.[0-9]-[a-z0-9.]{1,40}$/), { maxLength: 80 }), fc.integer({ min: 1, max: 1024 }), (kernels, max) => {
        const c = kernelClaim(kernels, max);
        expect(c.value.length).toBeLessThanOrEqual(max);
        const unique = new Set(kernels);
        for (const k of c.published) expect(unique.has(k)).toBe(true);
        expect(new Set([...c.published, ...c.omitted])).toEqual(unique);
        expect(kernelClaim([...kernels].reverse(), max)).toEqual(c);
        expect(c.value).toBe(c.published.join("\n"));
      }),
    );
  });
});
