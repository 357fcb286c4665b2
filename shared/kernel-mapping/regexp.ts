// Kernel mapping regexps are Go regexps upstream, i.e. RE2. re2js (a JavaScript port of RE2/J) gives
// the same engine: Go's syntax (no lookaround, no backreferences), Go's error texts and linear-time
// matching, so a pattern like (a+)+$ cannot hang us.
import type { RE2JS, RE2JSSyntaxException } from "re2js";
import { loadRE2JS } from "./re2js-loader.cjs";

/** Why a pattern is not valid RE2 (as Go's regexp package would refuse it). */
export class RE2SyntaxError extends Error {
  override readonly name = "RE2SyntaxError";
  readonly pattern: string;
  /** Go's error text without its "error parsing regexp: " prefix, e.g. "missing closing ): `(`". */
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

/**
 * `pattern` with every named group `(?P<name>…)` / `(?<name>…)` turned into a plain capturing group
 * `(…)`. Go's regexp lets several groups share a name (see its Regexp.SubexpIndex docs) but re2js
 * (like C++ RE2) refuses duplicates; group names are never used here, and group numbering is unchanged.
 * Only text RE2 would read as a group is rewritten: not after `\`, not inside a character class
 * (`[...]`, `[]...]`, `[^]...]`, escapes and `[:alpha:]` inside), not inside `\Q…\E`. A name that is
 * not Go's `[A-Za-z0-9_]+` is left as is, so RE2 still refuses it ("invalid named capture").
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

const DUPLICATE_NAME = "duplicate capture group name";

/**
 * Go's text for a refused pattern, "<code>: `<expr>`": re2js raises Go's codes and excerpts but leaves
 * the excerpt out where Go quotes the whole pattern (too large, nested too deeply) or nothing (a
 * trailing backslash). `compiled` is the text re2js saw, `pattern` the one the user wrote: an excerpt
 * that is the whole compiled text names the user's pattern.
 */
function goReason(e: RE2JSSyntaxException, pattern: string, compiled: string): string {
  const expr = e.input === null ? (e.error === "trailing backslash at end of expression" ? "" : pattern) : e.input === compiled ? pattern : e.input;
  return `${e.error}: \`${expr}\``;
}

/** re2js's compile of `pattern` (Go's regexp.Compile flags: Perl syntax, Unicode classes, unanchored). */
function compileGo(pattern: string): RE2JS {
  const { RE2JS: Engine, RE2JSSyntaxException: SyntaxException } = loadRE2JS();
  try {
    return Engine.compile(pattern);
  } catch (e) {
    if (!(e instanceof SyntaxException)) throw e;
    if (e.error !== DUPLICATE_NAME) throw new RE2SyntaxError(pattern, goReason(e, pattern, pattern));
  }
  // Go accepts a name used twice; the same pattern with plain groups matches the same strings, and
  // its errors (found later in the text) are the ones Go would report.
  const plain = unnameGroups(pattern);
  try {
    return Engine.compile(plain);
  } catch (e) {
    if (!(e instanceof SyntaxException)) throw e;
    throw new RE2SyntaxError(pattern, goReason(e, pattern, plain));
  }
}

// Compiled once per distinct pattern for the life of the process: the set is bounded by what
// Modules contain, and a kernel is matched against the same mappings on every reconcile.
const compiled = new Map<string, RE2JS | RE2SyntaxError>();

/** Compiles `pattern` with RE2 semantics (unanchored, like Go's regexp.MatchString); throws RE2SyntaxError. */
export function compileRE2(pattern: string): RE2JS {
  let entry = compiled.get(pattern);
  if (entry === undefined) {
    try {
      entry = compileGo(pattern);
    } catch (e) {
      if (!(e instanceof RE2SyntaxError)) throw e;
      entry = e;
    }
    compiled.set(pattern, entry);
  }
  if (entry instanceof RE2SyntaxError) throw entry;
  return entry;
}

/** True when `pattern` matches anywhere in `input` (anchor with ^…$ to match the whole kernel version). */
export function matchRE2(pattern: string, input: string): boolean {
  return compileRE2(pattern).test(input);
}
