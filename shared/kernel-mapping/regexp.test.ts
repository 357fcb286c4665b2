import { describe, expect, it } from "vitest";
import { moduleSpecSchema, regexpProblem } from "../api/module.ts";
import { RE2SyntaxError, compileRE2, matchRE2, unnameGroups } from "./regexp.ts";
import { resolveKernelMapping } from "./kernel-mapping.ts";

describe("named groups (issue 13 kind 3: Go's regexp lets groups share a name, re2js and C++ RE2 do not)", () => {
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

  it("invalid regexps give Go's error for the pattern as written, also when a name is used twice before the error", () => {
    for (const [p, reason] of [
      ["(?P<n>a", "missing closing ): `(?P<n>a`"],
      ["(?P<a-b>x)", "invalid named capture: `(?P<a-b>`"],
      ["(?P<n>a)(?P<n>b", "missing closing ): `(?P<n>a)(?P<n>b`"],
      ["(?P<n>a)(?P<n>b))", "unexpected ): `(?P<n>a)(?P<n>b))`"],
      ["(?P<n>a)(?P<n>*)", "missing argument to repetition operator: `*`"],
      ["(?P<n>a)(?P<n>b)[a", "missing closing ]: `[a`"],
      ["(?P<n>a)(?P<n>b)(?=c)", "invalid or unsupported Perl syntax: `(?=`"],
      ["(?P<n>a)(?P<n>b)\\", "trailing backslash at end of expression: ``"],
      [`(?P<n>a)(?P<n>b)${"(".repeat(1001)}${")".repeat(1001)}`, `expression nests too deeply: \`(?P<n>a)(?P<n>b)${"(".repeat(1001)}${")".repeat(1001)}\``],
    ] as const) {
      let err: unknown;
      try {
        compileRE2(p);
      } catch (e) {
        err = e;
      }
      expect(err, p).toBeInstanceOf(RE2SyntaxError);
      expect((err as RE2SyntaxError).reason, p).toBe(reason);
      expect((err as RE2SyntaxError).message).toBe(`regexp ${JSON.stringify(p)} is not valid RE2: ${reason}`);
    }
  });
});

// Expected texts are Go 1.26's regexp.Compile errors without "error parsing regexp: " (checked
// against Go's regexp package: go run with regexp.Compile on each pattern).
describe("Go's regexp syntax, as re2js reads it", () => {
  it.each([
    ["\\u0041", "invalid escape sequence: `\\u`"],
    ["\\cA", "invalid escape sequence: `\\c`"],
    ["\\C", "invalid escape sequence: `\\C`"],
    ["(a)\\1", "invalid escape sequence: `\\1`"],
    ["(?<n>a)\\k<n>", "invalid escape sequence: `\\k`"],
    ["(?=x)", "invalid or unsupported Perl syntax: `(?=`"],
    ["(?!x)", "invalid or unsupported Perl syntax: `(?!`"],
    ["(?<=x)", "invalid named capture: `(?<=x)`"],
    ["(?<!x)", "invalid named capture: `(?<!x)`"],
    ["(?>a)", "invalid or unsupported Perl syntax: `(?>`"],
    ["a++", "invalid nested repetition operator: `++`"],
    ["a\\Z", "invalid escape sequence: `\\Z`"],
    ["[[:foo:]]", "invalid character class range: `[:foo:]`"],
    ["\\p{Foo}", "invalid character class range: `\\p{Foo}`"],
    ["[\\Q]\\E]", "invalid escape sequence: `\\Q`"],
    ["x{1001}", "invalid repeat count: `{1001}`"],
    ["(a{1000}){1000}", "invalid repeat count: `{1000}`"],
    ["\\", "trailing backslash at end of expression: ``"],
    ["(?P<é>a)", "invalid named capture: `(?P<é>`"],
    [`${"(".repeat(1001)}a${")".repeat(1001)}`, `expression nests too deeply: \`${"(".repeat(1001)}a${")".repeat(1001)}\``],
  ])("refuses %j as Go does", (pattern, reason) => {
    expect(regexpProblem(pattern)).toBe(`regexp ${JSON.stringify(pattern)} is not valid RE2: ${reason}`);
  });

  it.each([
    ["", "6.1.0", true],
    ["^(?P<v>[0-9]+)\\.el9\\.x86_64$", "123.el9.x86_64", true],
    ["^(?<v>[0-9]+)\\.el9$", "5.el9", true],
    ["^\\Q6.1\\E", "6.1.0", true],
    ["^\\Q6.1\\E", "601.0", false],
    ["\\Q.*\\E", "6.1", false],
    ["^[[:alpha:]]+$", "abc", true],
    ["^[[:alpha:]]+$", "ab1", false],
    ["^\\pL+$", "αβγ", true],
    ["^\\pL+$", "6.1", false],
    ["(?i)EL9", "5.14.0-284.el9.x86_64", true],
    ["EL9", "5.14.0-284.el9.x86_64", false],
    ["(?i)k", "\u212a", true],
    ["a\\z", "ba", true],
    ["a\\z", "a\n", false],
    ["^.+\\fc37\\.x86_64$", "6.0.16-300.\fc37.x86_64", true],
    ["^\\x{41}$", "A", true],
    ["(?s)^a.x$", "a\nx", true],
    ["^a.x$", "a\nx", false],
  ])("%j against %j: %s, as Go's MatchString", (pattern, input, want) => {
    expect(matchRE2(pattern, input)).toBe(want);
  });

  it("matches in linear time: (a+)+$ against 30 a's and a b (exponential for a backtracking engine)", () => {
    expect(matchRE2("(a+)+$", `${"a".repeat(30)}b`)).toBe(false);
    expect(matchRE2("^(a+)+$", "a".repeat(30))).toBe(true);
  });
});
