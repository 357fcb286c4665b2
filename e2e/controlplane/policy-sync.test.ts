import { describe, expect, it } from "vitest";
import { CLUSTER_NAME_LABEL, CLUSTER_NAMESPACE_LABEL, desiredTemplates, policyStatus } from "./policy-sync.ts";

const policy = {
  apiVersion: "policy.open-cluster-management.io/v1",
  kind: "Policy",
  metadata: { name: "ns.p", namespace: "spoke1", uid: "uid-1", labels: { [CLUSTER_NAME_LABEL]: "spoke1", [CLUSTER_NAMESPACE_LABEL]: "spoke1" } },
  spec: {
    remediationAction: "Enforce",
    "policy-templates": [
      { objectDefinition: { apiVersion: "policy.open-cluster-management.io/v1", kind: "ConfigurationPolicy", metadata: { name: "a" }, spec: { remediationAction: "inform", severity: "low" } } },
      { objectDefinition: { apiVersion: "policy.open-cluster-management.io/v1", kind: "ConfigurationPolicy", metadata: { name: "b" }, spec: {} } },
    ],
  },
};

/** An event as config-policy-controller writes it: <policy>.<hex nanoseconds>, reason "policy: <ns>/<template>". */
function event(template: string, message: string, nanos: bigint, uid = "uid-1") {
  return {
    metadata: { name: `ns.p.${nanos.toString(16)}`, namespace: "spoke1" },
    involvedObject: { kind: "Policy", name: "ns.p", uid },
    reason: `policy: spoke1/${template}`,
    message,
    lastTimestamp: new Date(Number(nanos / 1_000_000n)).toISOString().replace(/\.\d+Z$/, "Z"),
  };
}
const t0 = 1_764_000_000_000_000_000n;

describe("policy sync (the fleet's governance-policy-framework-addon stand-in)", () => {
  it("creates templates in the Policy's namespace, owned by it, labelled, with its remediationAction", () => {
    const [a, b] = desiredTemplates(policy);
    expect(a?.metadata.namespace).toBe("spoke1");
    expect(a?.metadata.ownerReferences).toEqual([{ apiVersion: "policy.open-cluster-management.io/v1", kind: "Policy", name: "ns.p", uid: "uid-1", controller: true, blockOwnerDeletion: true }]);
    expect(a?.metadata.labels).toEqual({ "cluster-name": "spoke1", [CLUSTER_NAME_LABEL]: "spoke1", "cluster-namespace": "spoke1", [CLUSTER_NAMESPACE_LABEL]: "spoke1" });
    expect(a?.spec).toEqual({ remediationAction: "enforce", severity: "low" });
    expect(b?.spec).toEqual({ remediationAction: "enforce" });
    // The Policy itself is not changed.
    expect(policy.spec["policy-templates"][0]?.objectDefinition.spec.remediationAction).toBe("inform");
  });

  it("is Compliant when every template's newest event says so; NonCompliant if any template's does", () => {
    const compliant = policyStatus(policy, [
      event("a", "NonCompliant; violation - deployments not found", t0),
      event("a", "Compliant; notification - deployments found as specified", t0 + 5n),
      event("b", "Compliant; notification - namespaces found", t0 + 1n),
    ]);
    expect(compliant.compliant).toBe("Compliant");
    expect(compliant.details?.map((d) => [d.templateMeta?.name, d.compliant, d.history?.length])).toEqual([
      ["a", "Compliant", 2],
      ["b", "Compliant", 1],
    ]);
    // Newest first, ordered by the nanoseconds in the event name (both events share a second).
    expect(compliant.details?.[0]?.history?.[0]?.message).toMatch(/^Compliant;/);

    const nonCompliant = policyStatus(policy, [event("a", "Compliant; ok", t0), event("b", "NonCompliant; violation - x", t0 + 1n)]);
    expect(nonCompliant.compliant).toBe("NonCompliant");
    expect(policyStatus(policy, [event("a", "Pending; waiting", t0), event("b", "Compliant; ok", t0)]).compliant).toBe("Pending");
  });

  it("ignores events of other objects and other reasons, and keeps at most ten per template", () => {
    const events = [
      event("a", "NonCompliant; other policy", t0 + 100n, "uid-other"),
      { ...event("a", "Compliant; not a compliance event", t0 + 101n), reason: "PolicySpecSync" },
      ...Array.from({ length: 12 }, (_, i) => event("a", `Compliant; n${i}`, t0 + BigInt(i))),
    ];
    const status = policyStatus(policy, events);
    const a = status.details?.[0];
    expect(a?.history).toHaveLength(10);
    expect(a?.history?.[0]?.message).toBe("Compliant; n11");
    // Template b has no verdict yet: the Policy is not Compliant.
    expect(status.details?.[1]?.compliant).toBeUndefined();
    expect(status.compliant).toBeUndefined();
  });
});
