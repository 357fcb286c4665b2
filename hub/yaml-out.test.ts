import { execFileSync } from "node:child_process";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { doubleQuoted, plainIsSafe, toYaml } from "./yaml-out.ts";

// Reads YAML with PyYAML (a real YAML 1.1 reader, as kubectl's go-yaml v2 is) and answers JSON.
function readWithPyYaml(text: string): unknown[] {
  const script = "import sys, json, yaml\nprint(json.dumps(list(yaml.safe_load_all(sys.stdin.buffer.read().decode('utf-8'))), default=str))";
  return JSON.parse(execFileSync("python3", ["-c", script], { input: Buffer.from(text, "utf8") }).toString("utf8")) as unknown[];
}

// Issue 13 kind 8: values go-yaml v2 reads as numbers (its liberal int/float forms), YAML 1.1 line
// breaks and non-printables, the YAML 1.1 value key, tabs, and strings the yaml library warned about.
const REVIEWED = [
  "0X1F", "0O17", "0B101", "+0X1F", "-0O17", "0X_1F", "0o1_7", "0B1_0", "0b-1", "-_1", "+_1", "1e1_0", "0.1e1_0", "1e3_0",
  "a\u2028b", "a\u2029b", "a\u0085b", "a\u007fb", "a\ufffeb", "a\uffffb", "\u0001", "\u009f", "\ufeffx",
  "=", "a\tb", "\t", "%pct", "!tag", "&a", "*a", "- x", "? x", "a #b", "a: b", "x:", "@x", "`x", "|", ">",
  "on", "Off", "YES", "n", "NULL", "~", "", " ", "<<", ".inf", ".NaN", "1:20", "0755", "2001-12-14", "2001-12-14t21:59:43.10-05:00",
  "_1", "1_000", "0x_1", "-.5", "+.5e1", "6.1.0-18-amd64", "registry.example.com/kmm/kmod@sha256:" + "a".repeat(64),
];

describe("toYaml (issue 13 kind 8)", () => {
  it("every reviewed value, as key and value, reads back as the same string with PyYAML (YAML 1.1) and the yaml library 1.1/1.2", () => {
    const objects = [{ values: REVIEWED, map: Object.fromEntries(REVIEWED.map((v, i) => [v, `${i}`])) }];
    const text = toYaml(objects);
    expect(readWithPyYaml(text)).toEqual(objects);
    for (const version of ["1.1", "1.2"] as const) expect(parseAllDocuments(text, { version }).map((d) => d.toJS() as unknown)).toEqual(objects);
  });

  it("writes no plain scalar that starts with a digit, sign or '.', or holds a tab or space", () => {
    for (const v of REVIEWED) if (/^[-+.0-9]|[\t ]/.test(v) || v === "") expect(plainIsSafe(v), v).toBe(false);
    expect(plainIsSafe("6.1.0-18-amd64")).toBe(false);
    expect(plainIsSafe("kmm.node.kubernetes.io/module.ready")).toBe(true);
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

describe("kmm-hub render output (issue 13 kind 8)", () => {
  it("an MCM whose modprobe args hold every reviewed value renders YAML PyYAML reads back to the same strings", async () => {
    const { parseClusters, parseMcm, render } = await import("./render.ts");
    const { DIGEST_A } = await import("./testdata.ts");
    const { KERNEL_VERSIONS_CLAIM } = await import("./names.ts");
    const values = REVIEWED.filter((v) => v !== "");
    const mcm = parseMcm(
      JSON.stringify({
        apiVersion: "hub.kmm.sigs.x-k8s.io/v1beta1",
        kind: "ManagedClusterModule",
        metadata: { name: "kmod" },
        spec: {
          spokeNamespace: "kmm",
          selector: { "wants-kmod": "true" },
          moduleSpec: {
            selector: { kmm: "true" },
            moduleLoader: { container: { modprobe: { moduleName: "kmod", args: { load: values } }, kernelMappings: [{ literal: "6.1.0-18-amd64", containerImage: "registry.example.com/kmm/kmod:6.1.0-18-amd64" }] } },
          },
        },
      }),
      "mcm",
    );
    const clusters = parseClusters(JSON.stringify({ apiVersion: "cluster.open-cluster-management.io/v1", kind: "ManagedCluster", metadata: { name: "spoke1", labels: { "wants-kmod": "true" } }, spec: { hubAcceptsClient: true }, status: { clusterClaims: [{ name: KERNEL_VERSIONS_CLAIM, value: "6.1.0-18-amd64" }] } }), "clusters");
    const { works } = render(mcm, clusters, new Map([["registry.example.com/kmm/kmod:6.1.0-18-amd64", { digest: DIGEST_A }]]));
    expect(works).toHaveLength(1);
    const read = readWithPyYaml(toYaml(works));
    expect(read).toEqual(JSON.parse(JSON.stringify(works)));
    expect(JSON.stringify(read)).toContain(JSON.stringify(values));
  });
});
