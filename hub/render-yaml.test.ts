// kmm-hub render's output read back by a real YAML 1.1 reader (issue 13 kind 8, field case 15).
import { describe, expect, it } from "vitest";
import { AMBIGUOUS_STRINGS as REVIEWED, readWithPyYaml } from "../shared/testing/yaml.ts";
import { KERNEL_VERSIONS_CLAIM } from "./names.ts";
import { parseClusters, parseDigests, parseMcm, render, toYaml } from "./render.ts";
import { DIGEST_A } from "./testdata.ts";

describe("kmm-hub render output (issue 13 kind 8)", () => {
  it("an MCM whose modprobe args hold every reviewed value renders YAML PyYAML reads back to the same strings", () => {
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

describe("kmm-hub render input: a __proto__ key (zod drops it; shared/k8s/maps.ts)", () => {
  const mcmYaml = (selectorLine: string): string =>
    [
      "apiVersion: hub.kmm.sigs.x-k8s.io/v1beta1",
      "kind: ManagedClusterModule",
      "metadata: {name: kmod}",
      "spec:",
      "  spokeNamespace: kmm",
      '  selector: {wants-kmod: "true"}',
      "  moduleSpec:",
      "    selector:",
      `      ${selectorLine}`,
      "    moduleLoader:",
      "      container:",
      "        modprobe: {moduleName: kmod}",
      "        kernelMappings: [{literal: 6.1.0-18-amd64, containerImage: registry.example.com/kmm/kmod:6.1.0-18-amd64}]",
    ].join("\n");

  it("is refused in an MCM's node selector with Kubernetes' message, not dropped (the works would select every node)", () => {
    expect(() => parseMcm(mcmYaml('__proto__: "x"'), "mcm.yaml")).toThrow(/spec\.moduleSpec\.selector\.__proto__: name part must consist of alphanumeric characters/);
    expect(parseMcm(mcmYaml('kmm: "true"'), "mcm.yaml").spec.moduleSpec.selector).toEqual({ kmm: "true" });
  });

  it("is refused in the digests file with the file named, not dropped", () => {
    expect(() => parseDigests(`__proto__: "${DIGEST_A}"\n`, "digests.yaml")).toThrow(/digests\.yaml: .*__proto__: the key "__proto__" cannot be read/);
  });
});

