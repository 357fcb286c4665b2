import { execFileSync } from "node:child_process";

/** `text` (YAML documents) as PyYAML reads it, a real YAML 1.1 reader as kubectl's go-yaml v2 is: one JSON value per document. Throws when python3 fails. */
export function readWithPyYaml(text: string): unknown[] {
  const script = "import sys, json, yaml\nprint(json.dumps(list(yaml.safe_load_all(sys.stdin.buffer.read().decode('utf-8'))), default=str))";
  return JSON.parse(execFileSync("python3", ["-c", script], { input: Buffer.from(text, "utf8") }).toString("utf8")) as unknown[];
}

/**
 * Strings some YAML reader Kubernetes users meet reads as something else unless quoted: values
 * go-yaml v2 reads as numbers (its liberal int/float forms), YAML 1.1 line breaks and non-printables,
 * the YAML 1.1 value key, tabs, strings the yaml library warned about (issue 13 kind 8), and the
 * exponent-only forms (`e0`, `E+5`) the yaml library's YAML 1.1 schema reads as NaN (field case 15).
 */
export const AMBIGUOUS_STRINGS: readonly string[] = [
  "0X1F", "0O17", "0B101", "+0X1F", "-0O17", "0X_1F", "0o1_7", "0B1_0", "0b-1", "-_1", "+_1", "1e1_0", "0.1e1_0", "1e3_0",
  "a\u2028b", "a\u2029b", "a\u0085b", "a\u007fb", "a\ufffeb", "a\uffffb", "\u0001", "\u009f", "\ufeffx",
  "=", "a\tb", "\t", "%pct", "!tag", "&a", "*a", "- x", "? x", "a #b", "a: b", "x:", "@x", "`x", "|", ">",
  "on", "Off", "YES", "n", "NULL", "~", "", " ", "<<", ".inf", ".NaN", "1:20", "0755", "2001-12-14", "2001-12-14t21:59:43.10-05:00",
  "e0", "E5", "e+3", "E-0", "e1_0", ".e3",
  "_1", "1_000", "0x_1", "-.5", "+.5e1", "6.1.0-18-amd64", "registry.example.com/kmm/kmod@sha256:" + "a".repeat(64),
];
