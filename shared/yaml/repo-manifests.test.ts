// Every YAML file of the repository (install manifests, CRDs, the Policy, examples, test inputs) is
// read by users with kubectl, whose sigs.k8s.io/yaml reads YAML 1.1: each must mean the same to a
// YAML 1.1 reader (PyYAML) as to the YAML 1.2 reader the project's own code uses (field case 15's kind).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { readWithPyYaml } from "../testing/yaml.ts";

const ROOT = path.join(import.meta.dirname, "..", "..");
const files = execFileSync("git", ["ls-files", "*.yaml", "*.yml"], { cwd: ROOT, encoding: "utf8" }).split("\n").filter((f) => f !== "");

describe("the repository's YAML files", () => {
  it("are found (the install files, CRDs and Policy among them)", () => {
    expect(files).toEqual(expect.arrayContaining(["hub/deploy/deployment.yaml", "crds/kmm.sigs.x-k8s.io_modules.yaml", "policies/install-kmm-spoke.yaml"]));
  });

  it.each(files)("%s reads the same with PyYAML (YAML 1.1) as with YAML 1.2", (file) => {
    const text = readFileSync(path.join(ROOT, file), "utf8");
    const docs = parseAllDocuments(text).map((d) => d.toJS() as unknown);
    expect(readWithPyYaml(text)).toEqual(JSON.parse(JSON.stringify(docs)) as unknown);
  });
});
