// Go's time.ParseDuration grammar ("0", "1h30m", "1.5s", "300ms", "2h45m10.5s"),
// because operator config files written for upstream KMM use it.

export class DurationError extends Error {
  constructor(input: string, why: string) {
    super(`invalid duration "${input}": ${why} (use Go syntax such as "0s", "90s", "10m", "1h30m")`);
    this.name = "DurationError";
  }
}

const unitMs: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "\u00b5s": 1e-3,
  "\u03bcs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const part = /^(\d*)(?:\.(\d*))?([a-zµμ]+)/u;

/** Parses a Go duration; returns milliseconds (fractional below 1 ms). */
export function parseGoDuration(input: string): number {
  let s = input;
  let sign = 1;
  if (s.startsWith("-") || s.startsWith("+")) {
    if (s.startsWith("-")) sign = -1;
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") throw new DurationError(input, "empty");
  let total = 0;
  while (s !== "") {
    const m = part.exec(s);
    if (!m) throw new DurationError(input, `unexpected "${s}"`);
    const [all, int = "", frac, unit = ""] = m;
    if (int === "" && (frac === undefined || frac === "")) throw new DurationError(input, "a number is missing before the unit");
    const factor = unitMs[unit];
    if (factor === undefined) throw new DurationError(input, `unknown unit "${unit}" (valid: ns, us, ms, s, m, h)`);
    total += Number(`${int === "" ? "0" : int}.${frac ?? ""}0`) * factor;
    s = s.slice(all.length);
  }
  if (!Number.isFinite(total) || total > 9.223372036854775e12) throw new DurationError(input, "out of range");
  return sign * total;
}

/** Go's Duration.String() form, for messages and round trips ("1h30m0s", "1.5s", "0s"). */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return "0s";
  const neg = ms < 0;
  let rest = Math.abs(ms);
  let out = "";
  if (rest < 1000) {
    out = `${+rest.toFixed(6)}ms`;
  } else {
    const h = Math.floor(rest / 3_600_000);
    rest -= h * 3_600_000;
    const m = Math.floor(rest / 60_000);
    rest -= m * 60_000;
    const sec = +(rest / 1000).toFixed(9);
    if (h > 0) out += `${h}h`;
    if (h > 0 || m > 0) out += `${m}m`;
    out += `${sec}s`;
  }
  return neg ? `-${out}` : out;
}
