// The field cases of November 2026 that concern the spoke edition (inputs in
// spoke/testdata/field-2026-11), each with its right value.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseKubeDocuments } from "../shared/yaml/read.ts";
import { moduleSchema, type Module } from "../shared/api/module.ts";
import { isQualifiedName, isLabelValue } from "../shared/kube/names.ts";
import { nodeSchema, podSchema, type Node, type Pod } from "./objects.ts";
import { plan } from "./plan.ts";
import { settings } from "./testdata.ts";

const CASES = join(import.meta.dirname, "testdata", "field-2026-11");
const docs = (f: string): unknown[] => parseKubeDocuments(readFileSync(join(CASES, f), "utf8")).map((d) => d.toJS() as unknown).filter((d) => d !== null);
const moduleOf = (f: string): Module => moduleSchema.parse({ ...(docs(f)[0] as object), metadata: { ...(docs(f)[0] as { metadata: object }).metadata, uid: "u1", generation: 1 } });
const nodesOf = (f: string): Node[] => docs(f).map((d) => nodeSchema.parse(d));
const podsOf = (f: string): Pod[] => docs(f).map((d) => podSchema.parse(d));
const now = new Date("2026-11-30T12:00:00Z");

describe("case 01: derived names too long", () => {
  it("a Module of 23 + 18 = 41 characters with version gets a DaemonSet and node labels the API server accepts", () => {
    const module = moduleOf("01-version-label-length.yaml");
    const nodes = nodesOf("01-nodes.yaml");
    const p = plan(module, { nodes, pods: [], daemonSets: [] }, settings, now);
    const [loader] = p.apply;
    expect(p.unmapped).toEqual([]);
    expect(loader?.spec.template.spec.nodeSelector).toEqual({
      "node-role.kubernetes.io/worker": "",
      "kmm.node.kubernetes.io/kernel-version.full": "5.14.0-427.13.1.el9_4.x86_64",
      "beta.kmm.node.kubernetes.io/version-worker-pod.accel-drivers-prod.gpu-driver-ordered-upgr": "1.0",
    });
    // The node asks for 1.0 and runs nothing yet: KMM's loader label moves to 1.0 (61 characters after the slash).
    expect(p.nodeLabels.get("worker-0")).toEqual({ "beta.kmm.node.kubernetes.io/version-worker-pod.accel-drivers-prod.gpu-driver-ordered-upgr": "1.0" });
    for (const labels of [loader?.metadata.labels, loader?.spec.selector.matchLabels, loader?.spec.template.spec.nodeSelector, p.nodeLabels.get("worker-0")]) {
      for (const [k, v] of Object.entries(labels ?? {})) expect(isQualifiedName(k) && (v === null || isLabelValue(v)), k).toBe(true);
    }
  });
});

describe("case 10: version.ready label", () => {
  it("sets kmm.node.kubernetes.io/<ns>.<name>.version.ready=2.0 with the ready label once the 2.0 loader pod is Ready", () => {
    const module = moduleOf("10-version-ready-module.yaml");
    const p = plan(module, { nodes: nodesOf("10-version-ready-nodes.yaml"), pods: podsOf("10-version-ready-pods.yaml"), daemonSets: [] }, settings, now);
    expect(p.nodeLabels.get("worker-0")).toEqual({
      "kmm.node.kubernetes.io/kmm-nic.nic-driver.ready": "",
      "kmm.node.kubernetes.io/kmm-nic.nic-driver.version.ready": "2.0",
      // The loader label of the earlier name becomes upstream's name, same value.
      "beta.kmm.node.kubernetes.io/version-module-loader.kmm-nic.nic-driver": null,
      "beta.kmm.node.kubernetes.io/version-worker-pod.kmm-nic.nic-driver": "2.0",
    });
    expect(p.nodeEvents).toEqual([{ node: "worker-0", reason: "ModuleLoaded", message: "Module kmm-nic/nic-driver loaded into the kernel" }]);
  });
});
