import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { moduleSpecSchema, type ModuleSpec } from "../api/module.ts";
import { findKernelMapping, resolveKernelMapping } from "./kernel-mapping.ts";
import { matchRE2 } from "./regexp.ts";

const ctx = { moduleName: "foo", moduleNamespace: "default" };

const kernelArb = fc
  .tuple(fc.nat({ max: 20 }), fc.nat({ max: 30 }), fc.nat({ max: 300 }), fc.stringMatching(/^[-.+_][A-Za-z0-9._+-]{0,30}$/))
  .map(([x, y, z, rest]) => `${x}.${y}.${z}${rest}`);

/** RE2 needs a backslash before its metacharacters; any other punctuation may be escaped too. */
const escapeRE2 = (s: string) => s.replace(/[\\^$.|?*+()[\]{}]/g, "\\$&");

type MappingInput = { literal: string } | { regexp: string };

function specOf(mappings: MappingInput[]): ModuleSpec {
  return moduleSpecSchema.parse({
    moduleLoader: {
      container: {
        modprobe: { moduleName: "m" },
        kernelMappings: mappings.map((m, i) => ({ ...m, containerImage: `r.io/m:${i}` })),
      },
    },
    selector: {},
  });
}

describe("kernel mapping matcher (properties)", () => {
  it("a literal mapping matches exactly its own kernel", () => {
    fc.assert(
      fc.property(kernelArb, kernelArb, (own, other) => {
        const spec = specOf([{ literal: own }]);
        expect(resolveKernelMapping(spec, own, ctx)).toMatchObject({ found: true, mapping: { mappingIndex: 0 } });
        expect(resolveKernelMapping(spec, other, ctx).found).toBe(own === other);
      }),
    );
  });

  it("an anchored, escaped regexp of a kernel matches that kernel only", () => {
    fc.assert(
      fc.property(kernelArb, kernelArb, (own, other) => {
        const pattern = `^${escapeRE2(own)}$`;
        expect(matchRE2(pattern, own)).toBe(true);
        expect(matchRE2(pattern, other)).toBe(own === other);
      }),
    );
  });

  it("the first matching mapping wins, whatever follows it", () => {
    const nonMatching = (kernel: string) =>
      kernelArb
        .filter((k) => k !== kernel)
        .chain((k) => fc.constantFrom<MappingInput>({ literal: k }, { regexp: `^${escapeRE2(k)}$` }));
    const matching = (kernel: string) =>
      fc.constantFrom<MappingInput>({ literal: kernel }, { regexp: `^${escapeRE2(kernel)}$` }, { regexp: "^.+$" }, { regexp: escapeRE2(kernel.slice(0, 3)) });
    const anyMapping = (kernel: string) => fc.oneof(nonMatching(kernel), matching(kernel));

    fc.assert(
      fc.property(
        kernelArb.chain((kernel) =>
          fc.record({
            kernel: fc.constant(kernel),
            before: fc.array(nonMatching(kernel), { maxLength: 5 }),
            hit: matching(kernel),
            after: fc.array(anyMapping(kernel), { maxLength: 5 }),
          }),
        ),
        ({ kernel, before, hit, after }) => {
          const spec = specOf([...before, hit, ...after]);
          const r = resolveKernelMapping(spec, kernel, ctx);
          expect(r).toMatchObject({ found: true, mapping: { mappingIndex: before.length, containerImage: `r.io/m:${before.length}` } });
          expect(findKernelMapping(spec.moduleLoader?.container.kernelMappings ?? [], kernel)).toBe(before.length);
          if (before.length > 0) expect(resolveKernelMapping(specOf(before), kernel, ctx).found).toBe(false);
        },
      ),
    );
  });

  it("RE2 matches pathological patterns against long inputs in linear time", () => {
    // Each of these takes exponential time in a backtracking engine (JavaScript RegExp) on a
    // non-matching input of a few dozen characters.
    const patterns = ["(a+)+$", "(a|a)*$", "(a*)*b", "^(\\w+\\s?)*$", "(x+x+)+y", "^(a|aa)+$"];
    fc.assert(
      fc.property(fc.constantFrom(...patterns), fc.integer({ min: 1_000, max: 50_000 }), fc.constantFrom("!", "b", "y", " !"), (pattern, n, tail) => {
        const input = (pattern.includes("x") ? "x" : "a").repeat(n) + tail;
        const started = performance.now();
        const matched = matchRE2(pattern, input);
        const elapsed = performance.now() - started;
        expect(typeof matched).toBe("boolean");
        // Linear time is a few milliseconds here; a generous bound keeps a loaded CI machine green.
        expect(elapsed).toBeLessThan(1_000);
      }),
      { numRuns: 30 },
    );
  });

  it("any string `uname -r` can print resolves or is refused with a reason, never throws (property)", () => {
    const templates = ["r.io/m:${KERNEL_FULL_VERSION}", "r.io/m:${KERNEL_X}.${KERNEL_Y}.${KERNEL_Z}", "r.io/m:${KERNEL_XYZ}", "r.io/m:v1"];
    // The kernel's release field is at most 64 bytes (__NEW_UTS_LEN) of any byte but NUL.
    const unameArb = fc.string({ minLength: 1, maxLength: 64, unit: "binary" }).filter((k) => !k.includes("\0"));
    fc.assert(
      fc.property(unameArb, fc.constantFrom(...templates), fc.boolean(), (kernel, template, literal) => {
        const spec = moduleSpecSchema.parse({
          moduleLoader: { container: { modprobe: { moduleName: "m" }, kernelMappings: [literal ? { literal: kernel, containerImage: template } : { regexp: "^", containerImage: template }] } },
          selector: {},
        });
        const r = resolveKernelMapping(spec, kernel, ctx);
        if (r.found) expect(r.mapping.kernel.full).toBe(kernel);
        else expect(r.reason).toMatch(/^kernel mapping 0 matches, but its containerImage/);
        if (template.endsWith(":v1") || template.includes("FULL")) expect(r.found).toBe(true);
      }),
    );
  });
});
