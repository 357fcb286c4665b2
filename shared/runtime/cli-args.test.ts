import { describe, expect, it } from "vitest";
import { isParseArgsError, parseCommandLine, usageErrorText, UsageError, wantsHelp } from "./cli-args.ts";

describe("command-line conventions", () => {
  it("--help and -h ask for help anywhere before --, not after it (data)", () => {
    expect(wantsHelp(["render", "--mcm", "f", "-h"])).toBe(true);
    expect(wantsHelp(["--help"])).toBe(true);
    expect(wantsHelp(["up", "--", "--help"])).toBe(false);
    expect(wantsHelp(["--helpful"])).toBe(false);
  });

  it("parseArgs' errors become UsageError with the same message", () => {
    const err: unknown = (() => {
      try {
        return parseCommandLine({ args: ["--bogus"], options: { out: { type: "string" } }, strict: true });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(/^Unknown option '--bogus'/);
    expect(isParseArgsError(Object.assign(new TypeError("x"), { code: "ERR_PARSE_ARGS_UNKNOWN_OPTION" }))).toBe(true);
    expect(isParseArgsError(new Error("x"))).toBe(false);
    expect(parseCommandLine({ args: ["--out", "f"], options: { out: { type: "string" } }, strict: true }).values.out).toBe("f");
  });

  it("a usage error is one line naming the program, and a hint to --help", () => {
    expect(usageErrorText({ name: "gen-policy", usage: "usage: …", helpCommand: "npm run gen:policy -- --help" }, "--out needs --image")).toBe(
      "gen-policy: --out needs --image\ntry 'npm run gen:policy -- --help' for usage\n",
    );
  });
});
