// Kernel mapping regexps are Go regexps upstream, i.e. RE2. re2-wasm gives the same engine: same syntax
// (no lookaround, no backreferences) and linear-time matching, so a pattern like (a+)+$ cannot hang us.
import { createRequire } from "node:module";
import type { RE2 } from "re2-wasm";

// re2-wasm compiles and instantiates its WebAssembly (16 MiB of linear memory) as soon as it is
// loaded: load it with the first pattern, so a process whose Modules map only literal kernels
// never pays for it (~5 MiB RSS at start, issue 16).
let re2Class: typeof RE2 | undefined;
function re2(): typeof RE2 {
  re2Class ??= (createRequire(import.meta.url)("re2-wasm") as typeof import("re2-wasm")).RE2;
  return re2Class;
}

/** Why a pattern is not valid RE2 (as Go's regexp package would refuse it). */
export class RE2SyntaxError extends Error {
  override readonly name = "RE2SyntaxError";
  readonly pattern: string;
  readonly reason: string;
  constructor(
    pattern: string,
    reason: string,
  ) {
    super(`regexp ${JSON.stringify(pattern)} is not valid RE2: ${reason}`);
    this.pattern = pattern;
    this.reason = reason;
  }
}

// re2-wasm accepts a few JavaScript spellings and rewrites them before RE2 sees them (\uXXXX, \cX);
// RE2 itself accepts \C. Go's regexp rejects all three, so a Module using them would be refused upstream.
function goOnlyEscapeError(pattern: string): string | undefined {
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] !== "\\") continue;
    const next = pattern[i + 1];
    if (next === "u" || next === "c" || next === "C") return `invalid escape sequence: \\${next}`;
    i++;
  }
  return undefined;
}

/**
 * `pattern` with every named group `(?P<name>…)` / `(?<name>…)` turned into a plain capturing group
 * `(…)`. Go's regexp lets several groups share a name (see its Regexp.SubexpIndex docs) but C++ RE2
 * (re2-wasm) refuses duplicates; group names are never used here, and group numbering is unchanged.
 * Only text RE2 would read as a group is rewritten: not after `\`, not inside a character class
 * (`[...]`, `[]...]`, `[^]...]`, escapes and `[:alpha:]` inside), not inside `\Q…\E`. A name that is
 * not Go's `[A-Za-z0-9_]+` is left as is, so RE2 still refuses it ("invalid named capture group").
 */
export function unnameGroups(pattern: string): string {
  let out = "";
  let i = 0;
  const n = pattern.length;
  while (i < n) {
    const c = pattern.charAt(i);
    if (c === "\\") {
      if (pattern[i + 1] === "Q") {
        const end = pattern.indexOf("\\E", i + 2);
        const stop = end === -1 ? n : end + 2;
        out += pattern.slice(i, stop);
        i = stop;
      } else {
        out += pattern.slice(i, i + 2);
        i += 2;
      }
      continue;
    }
    if (c === "[") {
      let j = i + 1;
      if (pattern[j] === "^") j++;
      if (pattern[j] === "]") j++;
      while (j < n && pattern[j] !== "]") {
        if (pattern[j] === "\\") j += 2;
        else if (pattern.startsWith("[:", j) && pattern.indexOf(":]", j + 2) !== -1) j = pattern.indexOf(":]", j + 2) + 2;
        else j++;
      }
      const stop = Math.min(n, j + 1);
      out += pattern.slice(i, stop);
      i = stop;
      continue;
    }
    if (c === "(") {
      const named = /^\(\?P?<([A-Za-z0-9_]+)>/.exec(pattern.slice(i, i + 300));
      if (named !== null) {
        out += "(";
        i += named[0].length;
        continue;
      }
    }
    out += c;
    i++;
  }
  return out;
}

// Compiled patterns are kept for the life of the process: re2-wasm objects hold WebAssembly memory
// that is never released, so compiling once per distinct pattern is both the fast and the frugal choice.
// The set of distinct patterns is bounded by what Modules contain.
const compiled = new Map<string, RE2 | RE2SyntaxError>();

/** Compiles `pattern` with RE2 semantics (unanchored, like Go's regexp.MatchString); throws RE2SyntaxError. */
export function compileRE2(pattern: string): RE2 {
  let entry = compiled.get(pattern);
  if (entry === undefined) {
    const goError = goOnlyEscapeError(pattern);
    if (goError !== undefined) {
      entry = new RE2SyntaxError(pattern, goError);
    } else {
      try {
        entry = new (re2())(unnameGroups(pattern), "u");
      } catch {
        // The error of the pattern as written (its words name the user's text, not our rewrite).
        try {
          entry = new (re2())(pattern, "u");
        } catch (e) {
          const message = e instanceof Error ? e.message : String(e);
          // re2-wasm prefixes "Invalid regular expression: /<pattern>/u: "; keep RE2's own words.
          const prefix = `Invalid regular expression: /${pattern}/u: `;
          entry = new RE2SyntaxError(pattern, message.startsWith(prefix) ? message.slice(prefix.length) : message);
        }
      }
    }
    compiled.set(pattern, entry);
  }
  if (entry instanceof RE2SyntaxError) throw entry;
  return entry;
}

/** True when `pattern` matches anywhere in `input` (anchor with ^…$ to match the whole kernel version). */
export function matchRE2(pattern: string, input: string): boolean {
  const re = compileRE2(pattern);
  // test() on a non-global, non-sticky RE2 always starts at 0; reset anyway in case of shared instances.
  re.lastIndex = 0;
  return re.test(input);
}
