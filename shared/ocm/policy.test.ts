import { describe, expect, it } from "vitest";
import { OcmObjectInvalidError } from "./model.ts";
import { decidedClusters, placement, PlacementDecision, PlacementRule } from "./placement.ts";
import {
  configurationPolicy,
  ConfigurationPolicy,
  embeddedConfigurationPolicies,
  placementBinding,
  Policy,
  policy,
} from "./policy.ts";

// The RHACM Policy from the operator guide (seed 003, "hub and spoke"), trimmed to two object templates.
const installKmm: unknown = {
  apiVersion: "policy.open-cluster-management.io/v1",
  kind: "Policy",
  metadata: { name: "install-kmm", namespace: "default" },
  spec: {
    remediationAction: "enforce",
    disabled: false,
    "policy-templates": [
      {
        objectDefinition: {
          apiVersion: "policy.open-cluster-management.io/v1",
          kind: "ConfigurationPolicy",
          metadata: { name: "install-kmm" },
          spec: {
            severity: "high",
            "object-templates": [
              { complianceType: "mustonlyhave", objectDefinition: { apiVersion: "v1", kind: "Namespace", metadata: { name: "openshift-kmm" } } },
              {
                complianceType: "mustonlyhave",
                objectDefinition: {
                  apiVersion: "operators.coreos.com/v1",
                  kind: "OperatorGroup",
                  metadata: { name: "kmm", namespace: "openshift-kmm" },
                  spec: { upgradeStrategy: "Default" },
                },
              },
            ],
          },
        },
      },
    ],
  },
};

const placementRuleFromSeed: unknown = {
  apiVersion: "apps.open-cluster-management.io/v1",
  kind: "PlacementRule",
  metadata: { name: "all-managed-clusters", namespace: "default" },
  spec: { clusterSelector: { matchExpressions: [] } },
  status: { decisions: [{ clusterName: "spoke1", clusterNamespace: "spoke1" }] },
};

describe("Policy", () => {
  it("parses the seed's install-kmm Policy and its embedded ConfigurationPolicy", () => {
    const p = Policy.parse(installKmm);
    const [cp, ...rest] = embeddedConfigurationPolicies(p);
    expect(rest).toEqual([]);
    expect(cp?.metadata.name).toBe("install-kmm");
    expect(cp?.spec["object-templates"]?.map((t) => t.objectDefinition.kind)).toEqual(["Namespace", "OperatorGroup"]);
    // Embedded objects keep fields our schemas do not model: the spoke needs them whole.
    expect(cp?.spec["object-templates"]?.[1]?.objectDefinition["spec"]).toEqual({ upgradeStrategy: "Default" });
  });

  it("skips templates of other kinds", () => {
    const p = Policy.parse(installKmm);
    p.spec["policy-templates"].push({
      objectDefinition: { apiVersion: "policy.open-cluster-management.io/v1beta1", kind: "OperatorPolicy", metadata: { name: "op" } },
    });
    expect(embeddedConfigurationPolicies(p)).toHaveLength(1);
  });

  it("names the Policy and template index when an embedded ConfigurationPolicy is malformed", () => {
    const broken = structuredClone(installKmm) as { spec: { "policy-templates": { objectDefinition: { spec: { severity: string } } }[] } };
    const t = broken.spec["policy-templates"][0];
    if (t) t.objectDefinition.spec.severity = "urgent";
    const p = Policy.parse(broken);
    expect(() => embeddedConfigurationPolicies(p)).toThrow(
      /ConfigurationPolicy in Policy default\/install-kmm policy-templates\[0\] install-kmm is not valid: spec\.severity/,
    );
  });

  it.each([
    ["without disabled", (p: Record<string, Record<string, unknown>>) => { delete p["spec"]?.["disabled"]; }, /spec\.disabled/],
    ["with an unknown remediationAction", (p: Record<string, Record<string, unknown>>) => { if (p["spec"]) p["spec"]["remediationAction"] = "fix"; }, /spec\.remediationAction/],
    ["with a template lacking TypeMeta", (p: Record<string, Record<string, unknown>>) => { if (p["spec"]) p["spec"]["policy-templates"] = [{ objectDefinition: { spec: {} } }]; }, /spec\.policy-templates\[0\]\.objectDefinition\.apiVersion/],
  ])("rejects a Policy %s", (_n, mutate, message) => {
    const broken = structuredClone(installKmm) as Record<string, Record<string, unknown>>;
    mutate(broken);
    expect(() => Policy.parse(broken)).toThrow(OcmObjectInvalidError);
    expect(() => Policy.parse(broken)).toThrow(message);
  });

  it("builds Policy, ConfigurationPolicy and PlacementBinding that match the seed's shapes", () => {
    const cp = configurationPolicy({
      name: "install-kmm",
      severity: "high",
      objects: [{ complianceType: "mustonlyhave", objectDefinition: { apiVersion: "v1", kind: "Namespace", metadata: { name: "openshift-kmm" } } }],
    });
    const p = policy({ name: "install-kmm", namespace: "default", remediationAction: "enforce", templates: [cp] });
    expect(p.spec).toEqual({ disabled: false, remediationAction: "enforce", "policy-templates": [{ objectDefinition: cp }] });
    expect(embeddedConfigurationPolicies(p)).toEqual([cp]);

    expect(placementBinding({ name: "install-kmm", namespace: "default", placement: { kind: "PlacementRule", name: "all-managed-clusters" }, policies: ["install-kmm"] })).toEqual({
      apiVersion: "policy.open-cluster-management.io/v1",
      kind: "PlacementBinding",
      metadata: { name: "install-kmm", namespace: "default" },
      placementRef: { apiGroup: "apps.open-cluster-management.io", kind: "PlacementRule", name: "all-managed-clusters" },
      subjects: [{ apiGroup: "policy.open-cluster-management.io", kind: "Policy", name: "install-kmm" }],
    });
    expect(placementBinding({ name: "b", namespace: "default", placement: { kind: "Placement", name: "p" }, policies: ["a", "b"] }).placementRef.apiGroup).toBe(
      "cluster.open-cluster-management.io",
    );
  });

  it("refuses a ConfigurationPolicy with an unknown compliance type", () => {
    expect(() =>
      ConfigurationPolicy.parse({
        apiVersion: "policy.open-cluster-management.io/v1",
        kind: "ConfigurationPolicy",
        metadata: { name: "x", namespace: "spoke1" },
        spec: { remediationAction: "inform", "object-templates": [{ complianceType: "shouldhave", objectDefinition: { apiVersion: "v1", kind: "Namespace" } }] },
      }),
    ).toThrow(/ConfigurationPolicy spoke1\/x is not valid: spec\.object-templates\[0\]\.complianceType/);
  });
});

describe("Placement, PlacementDecision, PlacementRule", () => {
  it("parses the seed's PlacementRule", () => {
    const pr = PlacementRule.parse(placementRuleFromSeed);
    expect(pr.spec.clusterSelector).toEqual({ matchExpressions: [] });
    expect(pr.status?.decisions?.[0]?.clusterName).toBe("spoke1");
    expect(() => PlacementRule.parse({ ...(placementRuleFromSeed as object), spec: undefined })).toThrow(/PlacementRule default\/all-managed-clusters is not valid: spec/);
  });

  it("builds a label-selecting Placement", () => {
    expect(placement({ name: "p", namespace: "default", matchLabels: { "wants-my-mcm": "true" }, clusterSets: ["default"] }).spec).toEqual({
      clusterSets: ["default"],
      predicates: [{ requiredClusterSelector: { labelSelector: { matchLabels: { "wants-my-mcm": "true" } } } }],
    });
  });

  it("collects decided clusters across several PlacementDecisions, sorted and unique", () => {
    const decision = (name: string, clusters: string[]) =>
      PlacementDecision.parse({
        apiVersion: "cluster.open-cluster-management.io/v1beta1",
        kind: "PlacementDecision",
        metadata: { name, namespace: "default", labels: { "cluster.open-cluster-management.io/placement": "p" } },
        status: { decisions: clusters.map((clusterName) => ({ clusterName, reason: "" })) },
      });
    expect(decidedClusters([decision("p-decision-1", ["spoke2", "spoke1"]), decision("p-decision-2", ["spoke1", "spoke3"])])).toEqual([
      "spoke1",
      "spoke2",
      "spoke3",
    ]);
    expect(() =>
      PlacementDecision.parse({ apiVersion: "cluster.open-cluster-management.io/v1beta1", kind: "PlacementDecision", metadata: { name: "d" }, status: { decisions: [{ clusterName: "a" }] } }),
    ).toThrow(/status\.decisions\[0\]\.reason/);
  });
});
