// YAML output every Kubernetes tool reads back to the same values (kubectl's YAML 1.1 reader,
// PyYAML, YAML 1.2 readers): conservative plain scalars, escaped double-quoted strings.
import { Document, type ScalarTag } from "yaml";

// Words YAML 1.1 (kubectl's go-yaml v2, PyYAML) or YAML 1.2 reads as booleans or null, compared
// lower-cased (readers accept only some casings; quoting every casing is the safe side).
const RESERVED_WORDS = new Set(["y", "n", "yes", "no", "true", "false", "on", "off", "null"]);
// The yaml library's YAML 1.1 float form `[-+]?([0-9][0-9_]*)?(\.[0-9_]*)?[eE][-+]?[0-9]+` has an
// optional mantissa, so `e0` or `E+5` alone is a float (NaN) to it: the only letter-first number of
// any reader. Digits and `_` after the sign are both refused, to stay on the safe side.
const BARE_EXPONENT = /^[eE][-+]?[0-9_]+$/;
// A letter, `_` or `/` first, then runs of safe characters with single spaces between them.
const PLAIN = /^[A-Za-z_/][A-Za-z0-9_./@:+=,;()<>'-]*(?: [A-Za-z0-9_./@:+=,;()<>'-]+)*$/;

/**
 * Whether `value` can be written as a plain (unquoted) scalar, key or value, and read back as this
 * very string by every YAML reader Kubernetes users meet: YAML 1.1 (sigs.k8s.io/yaml → go-yaml v2,
 * whose number forms are liberal: signs, `_`, 0b/0o/0x in any case; PyYAML: `=`, `<<`, dates) and
 * YAML 1.2. Deliberately conservative: plain only when the string starts with a letter, `_` or `/`
 * (every number, date, `.inf`, `~`, `=`, `<<`, `%`, `!`, `&`, `*`, `-`… starts otherwise), continues
 * with `[A-Za-z0-9_./@:+=,;()<>'-]` and single spaces between them only (no tab, leading or trailing
 * space, `#`, `"`, backslash or flow bracket), holds no `: `, does not end with `:`, is not a boolean
 * or null word, and is not an exponent with no mantissa (`e0`, `E+5`: the yaml library's YAML 1.1
 * schema reads those as the number NaN). Anything else is double-quoted. Checked exhaustively
 * against the yaml library (1.1 and 1.2), PyYAML and sigs.k8s.io/yaml for short strings.
 */
export function plainIsSafe(value: string): boolean {
  if (!PLAIN.test(value)) return false;
  if (value.endsWith(":") || value.includes("::") || value.includes(": ")) return false;
  if (BARE_EXPONENT.test(value)) return false;
  return !RESERVED_WORDS.has(value.toLowerCase());
}

const ESCAPES: Record<string, string> = {
  "\0": "\\0",
  "\x07": "\\a",
  "\b": "\\b",
  "\t": "\\t",
  "\n": "\\n",
  "\x0b": "\\v",
  "\f": "\\f",
  "\r": "\\r",
  "\x1b": "\\e",
  '"': '\\"',
  "\\": "\\\\",
  "\x85": "\\N",
  "\u2028": "\\L",
  "\u2029": "\\P",
};

/**
 * `value` as a YAML double-quoted scalar on one line that YAML 1.1 and 1.2 readers both read back
 * exactly: `"` and `\` escaped; every character outside YAML 1.1's printable set (C0 and C1
 * controls, DEL, U+FFFE, U+FFFF, lone surrogates), the YAML 1.1 line breaks U+0085, U+2028, U+2029
 * and the byte-order mark U+FEFF escaped (`\N`, `\L`, `\P`, `\xNN`, `\uNNNN`).
 */
export function doubleQuoted(value: string): string {
  let out = '"';
  for (const ch of value) {
    const known = ESCAPES[ch];
    if (known !== undefined) {
      out += known;
      continue;
    }
    const cp = ch.codePointAt(0) ?? 0;
    if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) out += `\\x${cp.toString(16).padStart(2, "0").toUpperCase()}`;
    else if ((cp >= 0xd800 && cp <= 0xdfff) || cp === 0xfeff || cp === 0xfffe || cp === 0xffff) out += `\\u${cp.toString(16).toUpperCase()}`;
    else out += ch;
  }
  return `${out}"`;
}

// The core schema's string tag, writing plain only what plainIsSafe allows and double-quoting the rest.
const safeStringTag: ScalarTag = {
  identify: (value: unknown) => typeof value === "string",
  default: true,
  tag: "tag:yaml.org,2002:str",
  resolve: (str: string) => str,
  stringify: (item) => {
    const value = String(item.value);
    return plainIsSafe(value) ? value : doubleQuoted(value);
  },
};

/**
 * YAML documents (separated by `---`) that every Kubernetes tool reads back to the same values: any
 * string, key or value, that is not plainly a string to every YAML 1.1 or 1.2 reader (see
 * plainIsSafe) is double-quoted with escapes (see doubleQuoted). Numbers, booleans and null stay
 * plain. Never warns (nothing is parsed).
 */
export function toYaml(objects: readonly unknown[]): string {
  return objects.map((o) => new Document(o, { customTags: (tags) => [safeStringTag, ...tags] }).toString()).join("---\n");
}
