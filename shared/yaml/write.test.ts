import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { AMBIGUOUS_STRINGS as REVIEWED, readWithPyYaml } from "../testing/yaml.ts";
import { doubleQuoted, plainIsSafe, toYaml } from "./write.ts";


describe("toYaml (issue 13 kind 8)", () => {
  it("every reviewed value, as key and value, reads back as the same string with PyYAML (YAML 1.1) and the yaml library 1.1/1.2", () => {
    const objects = [{ values: REVIEWED, map: Object.fromEntries(REVIEWED.map((v, i) => [v, `${i}`])) }];
    const text = toYaml(objects);
    expect(readWithPyYaml(text)).toEqual(objects);
    for (const version of ["1.1", "1.2"] as const) expect(parseAllDocuments(text, { version }).map((d) => d.toJS() as unknown)).toEqual(objects);
  });

  it("writes no plain scalar that starts with a digit, sign or '.', holds a tab, `: ` or two spaces in a row, or starts or ends with a space", () => {
    for (const v of [...REVIEWED, " a", "a ", "a  b", "a:  b", "a\tb"]) if (/^[-+.0-9 ]|[\t]| $|  |: /.test(v) || v === "") expect(plainIsSafe(v), v).toBe(false);
    expect(plainIsSafe("6.1.0-18-amd64")).toBe(false);
    expect(plainIsSafe("kmm.node.kubernetes.io/module.ready")).toBe(true);
    // Prose (CRD descriptions, CEL rules) stays plain when every reader reads it alike.
    expect(plainIsSafe("Name of the referent.")).toBe(true);
    expect(plainIsSafe("size(object.metadata.name) + size(object.metadata.namespace) <= 41")).toBe(true);
    expect(plainIsSafe("Name: the referent")).toBe(false);
  });

  it("escapes YAML 1.1 line breaks and non-printables in double quotes", () => {
    expect(doubleQuoted("a\u2028b\u2029c\u0085d\u007fe\ufffef\uffff")).toBe('"a\\Lb\\Pc\\Nd\\x7Fe\\uFFFEf\\uFFFF"');
    expect(doubleQuoted('\t"\\')).toBe('"\\t\\"\\\\"');
  });

  it("prints no warnings for %… and !… strings", () => {
    const warnings: unknown[] = [];
    const onWarning = (w: unknown): void => void warnings.push(w);
    process.on("warning", onWarning);
    try {
      toYaml([{ a: "%pct", b: "!tag", "%k": "!v" }]);
    } finally {
      process.off("warning", onWarning);
    }
    expect(warnings).toEqual([]);
  });

  it("any strings, as keys and values, read back unchanged with PyYAML (property)", () => {
    const value = fc.oneof(fc.constantFrom(...REVIEWED), fc.string({ maxLength: 12 }), fc.string({ maxLength: 8, unit: "binary" }), fc.stringMatching(/^[-+]?[0-9_.xXoObBeE]{1,8}$/));
    // Lone surrogates cannot be written as UTF-8 at all: leave them out.
    const wellFormed = value.filter((s) => s.isWellFormed());
    const docs = fc.sample(fc.record({ labels: fc.dictionary(wellFormed, wellFormed, { maxKeys: 6 }), args: fc.array(wellFormed, { maxLength: 6 }) }), { numRuns: 150, seed: 13 });
    expect(readWithPyYaml(toYaml(docs))).toEqual(docs);
  });
});
