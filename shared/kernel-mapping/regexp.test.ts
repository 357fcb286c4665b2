import { describe, expect, it } from "vitest";
import { moduleSpecSchema } from "../api/module.ts";
import { RE2SyntaxError, compileRE2, matchRE2, unnameGroups } from "./regexp.ts";
import { resolveKernelMapping } from "./kernel-mapping.ts";

describe("named groups (issue 13 kind 3: Go's regexp lets groups share a name, C++ RE2 does not)", () => {
  it("duplicate names compile and match as Go would", () => {
    expect(matchRE2("^(?P<n>6)(?P<n>\\.1)", "6.1.0-18-amd64")).toBe(true);
    expect(matchRE2("^(?P<n>6)(?P<n>\\.1)", "6.2.0")).toBe(false);
    expect(matchRE2("^(?<v>\\d+)\\.(?<v>\\d+)$", "6.1")).toBe(true);
    expect(matchRE2("^(?P<a>x)|(?P<a>y)$", "y")).toBe(true);
  });

  it("a Module with such a mapping is admitted and resolves", () => {
    const spec = moduleSpecSchema.parse({
      selector: {},
      moduleLoader: { container: { modprobe: { moduleName: "m" }, kernelMappings: [{ regexp: "^(?P<n>6)(?P<n>\\.1)", containerImage: "registry.example.com/m:${KERNEL_FULL_VERSION}" }] } },
    });
    const r = resolveKernelMapping(spec, "6.1.0-18-amd64", { moduleName: "m", moduleNamespace: "kmm" });
    expect(r.found && r.mapping.containerImage).toBe("registry.example.com/m:6.1.0-18-amd64");
  });

  it("rewrites only groups: not escaped parentheses, class contents or \\Q…\\E text", () => {
    expect(unnameGroups("(?P<n>6)(?<m>\\.1)")).toBe("(6)(\\.1)");
    for (const p of ["\\(?P<n>x)", "[(?P<n>]", "[^(?P<n>]", "[]\\](?P<n>]", "[\\](?P<n>]", "[[:alpha:](?P<n>]", "\\Q(?P<n>\\E", "(?P<a-b>x)", "(?P<>x)", "(?i)x", "(?:x)"]) {
      expect(unnameGroups(p), p).toBe(p);
    }
    expect(unnameGroups("[]](?P<n>a)")).toBe("[]](a)");
    expect(unnameGroups("\\Q(\\E(?P<n>a)")).toBe("\\Q(\\E(a)");
    expect(matchRE2("^\\(\\?P<n>x\\)$", "(?P<n>x)")).toBe(true);
    expect(matchRE2("^[(?P<n>]+$", "?P<n>(")).toBe(true);
  });

  it("invalid regexps give RE2's error for the pattern as written", () => {
    for (const [p, words] of [
      ["(?P<n>a", "missing ): (?P<n>a"],
      ["(?P<a-b>x)", "invalid named capture group: (?P<a-b>"],
      ["(?P<n>a)(?P<n>b", "missing )"],
    ] as const) {
      let err: unknown;
      try {
        compileRE2(p);
      } catch (e) {
        err = e;
      }
      expect(err, p).toBeInstanceOf(RE2SyntaxError);
      expect((err as RE2SyntaxError).message).toBe(`regexp ${JSON.stringify(p)} is not valid RE2: ${(err as RE2SyntaxError).reason}`);
      expect((err as RE2SyntaxError).reason).toContain(words);
    }
  });
});
