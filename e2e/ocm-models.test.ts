// The OCM models against the real CRDs on the hub's API server: what our builders produce is accepted,
// and what the server (and the real OCM agents) send back parses with our schemas without losing a field.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  ClusterClaim,
  clusterClaim,
  ConfigurationPolicy,
  configurationPolicy,
  embeddedConfigurationPolicies,
  feedbackValues,
  isConditionTrue,
  jsonPathsFeedback,
  ManagedCluster,
  ManifestWork,
  manifestWork,
  Placement,
  placement,
  PlacementBinding,
  placementBinding,
  PlacementDecision,
  PlacementRule,
  Policy,
  policy,
  readClusterClaims,
  stringFeedback,
} from "../shared/ocm/index.ts";
import { clientsFor, eventually } from "./support/clients.ts";

const fleet = inject("fleet");
const hub = clientsFor(fleet.hub.kubeconfig);
const spoke1Info = fleet.spokes[0];
if (!spoke1Info) throw new Error("the fleet has no spoke");
const spoke1 = clientsFor(spoke1Info.kubeconfig);
const suffix = randomBytes(3).toString("hex");
const ns = `ocm-models-${suffix}`;

interface Gvr {
  group: string;
  version: string;
  plural: string;
}
const gvr = {
  manifestworks: { group: "work.open-cluster-management.io", version: "v1", plural: "manifestworks" },
  managedclusters: { group: "cluster.open-cluster-management.io", version: "v1", plural: "managedclusters" },
  clusterclaims: { group: "cluster.open-cluster-management.io", version: "v1alpha1", plural: "clusterclaims" },
  placements: { group: "cluster.open-cluster-management.io", version: "v1beta1", plural: "placements" },
  placementdecisions: { group: "cluster.open-cluster-management.io", version: "v1beta1", plural: "placementdecisions" },
  policies: { group: "policy.open-cluster-management.io", version: "v1", plural: "policies" },
  configurationpolicies: { group: "policy.open-cluster-management.io", version: "v1", plural: "configurationpolicies" },
  placementbindings: { group: "policy.open-cluster-management.io", version: "v1", plural: "placementbindings" },
  placementrules: { group: "apps.open-cluster-management.io", version: "v1", plural: "placementrules" },
} satisfies Record<string, Gvr>;

async function create(r: Gvr, namespace: string, body: object): Promise<unknown> {
  return hub.custom.createNamespacedCustomObject({ ...r, namespace, body });
}
async function get(r: Gvr, namespace: string, name: string): Promise<unknown> {
  return hub.custom.getNamespacedCustomObject({ ...r, namespace, name });
}

beforeAll(async () => {
  await hub.core.createNamespace({ body: { metadata: { name: ns } } });
});

afterAll(async () => {
  await hub.custom
    .deleteNamespacedCustomObject({ ...gvr.manifestworks, namespace: spoke1Info.name, name: `ocm-models-${suffix}` })
    .catch(() => undefined);
  await spoke1.custom.deleteClusterCustomObject({ ...gvr.clusterclaims, name: `ocm-models-${suffix}.kmm.node.kubernetes.io` }).catch(() => undefined);
  await hub.core.deleteNamespace({ name: ns }).catch(() => undefined);
});

describe("OCM models round-trip through the real API server", () => {
  it("ManifestWork: built, applied by the work agent, status and feedback parsed", async () => {
    const name = `ocm-models-${suffix}`;
    const id = { resource: "configmaps", name, namespace: "default" };
    const sent = manifestWork({
      name,
      namespace: spoke1Info.name,
      labels: { "kmm.node.kubernetes.io/managedclustermodule.name": name },
      manifests: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: "default" }, data: { kernels: "6.1.0-18-amd64" } }],
      manifestConfigs: [{ resourceIdentifier: id, feedbackRules: [jsonPathsFeedback({ kernels: ".data.kernels" })] }],
      deleteOption: { propagationPolicy: "Foreground" },
    });
    const created = await create(gvr.manifestworks, spoke1Info.name, sent);
    expect(ManifestWork.parse(created)).toEqual(created);
    expect(created).toMatchObject(sent);

    const done = await eventually(
      "ManifestWork Applied with feedback",
      async () => {
        const raw = await get(gvr.manifestworks, spoke1Info.name, name);
        const w = ManifestWork.parse(raw);
        return isConditionTrue(w.status?.conditions, "Applied") && feedbackValues(w, id).size > 0 ? { raw, w } : undefined;
      },
      120_000,
    );
    // Nothing the server or the agent reported is lost by the schema.
    expect(done.w).toEqual(done.raw);
    expect(stringFeedback(feedbackValues(done.w, id), "kernels")).toBe("6.1.0-18-amd64");
    expect(done.w.status?.resourceStatus?.manifests?.[0]?.resourceMeta).toMatchObject({ kind: "ConfigMap", name, namespace: "default", ordinal: 0 });
  });

  it("ClusterClaim on the spoke reaches ManagedCluster.status.clusterClaims on the hub", async () => {
    const name = `ocm-models-${suffix}.kmm.node.kubernetes.io`;
    const sent = clusterClaim(name, "5.14.0-70.el9.x86_64\n6.1.0-18-amd64");
    const created: unknown = await spoke1.custom.createClusterCustomObject({ ...gvr.clusterclaims, body: sent });
    expect(ClusterClaim.parse(created)).toEqual(created);
    expect(created).toMatchObject(sent);

    const mc = await eventually(
      "claim in ManagedCluster status",
      async () => {
        const raw: unknown = await hub.custom.getClusterCustomObject({ ...gvr.managedclusters, name: spoke1Info.name });
        const parsed = ManagedCluster.parse(raw);
        return readClusterClaims(parsed).get(name) === sent.spec?.value ? { raw, parsed } : undefined;
      },
      120_000,
    );
    expect(mc.parsed).toEqual(mc.raw);
    expect(isConditionTrue(mc.parsed.status?.conditions, "ManagedClusterJoined")).toBe(true);
  });

  it("Placement and PlacementDecision (status written through the status subresource)", async () => {
    const sent = placement({ name: "kmm-spokes", namespace: ns, matchLabels: { "wants-my-mcm": "true" } });
    const created = await create(gvr.placements, ns, sent);
    // The server fills in defaults (prioritizer mode, decision groups…): they must parse too.
    expect(Placement.parse(created)).toEqual(created);
    expect(created).toMatchObject(sent);

    // The fleet's real placement controller writes kmm-spokes-decision-1 for the Placement above: the
    // model's own decision takes another name and a placement label no Placement has, so it stays the test's.
    const decisionName = "kmm-spokes-model-decision-1";
    await create(gvr.placementdecisions, ns, {
      apiVersion: PlacementDecision.apiVersion,
      kind: PlacementDecision.kind,
      metadata: { name: decisionName, namespace: ns, labels: { "cluster.open-cluster-management.io/placement": "kmm-spokes-model" } },
    });
    const withStatus: unknown = await hub.custom.replaceNamespacedCustomObjectStatus({
      ...gvr.placementdecisions,
      namespace: ns,
      name: decisionName,
      body: {
        ...PlacementDecision.parse(await get(gvr.placementdecisions, ns, decisionName)),
        status: { decisions: [{ clusterName: spoke1Info.name, reason: "" }] },
      },
    });
    expect(PlacementDecision.parse(withStatus)).toEqual(withStatus);
    expect(PlacementDecision.parse(await get(gvr.placementdecisions, ns, decisionName)).status?.decisions).toEqual([
      { clusterName: spoke1Info.name, reason: "" },
    ]);
  });

  it("Policy with an embedded ConfigurationPolicy, PlacementRule and PlacementBinding (the spoke-install policy's shapes)", async () => {
    const cp = configurationPolicy({
      name: "install-kmm",
      severity: "high",
      objects: [{ complianceType: "mustonlyhave", objectDefinition: { apiVersion: "v1", kind: "Namespace", metadata: { name: "kmm-spoke" } } }],
    });
    const sentPolicy = policy({ name: "install-kmm", namespace: ns, remediationAction: "enforce", templates: [cp] });
    const createdPolicy = await create(gvr.policies, ns, sentPolicy);
    const parsedPolicy = Policy.parse(createdPolicy);
    expect(parsedPolicy).toEqual(createdPolicy);
    expect(createdPolicy).toMatchObject(sentPolicy);
    expect(embeddedConfigurationPolicies(parsedPolicy)).toEqual([cp]);

    // A ConfigurationPolicy on its own, as the policy framework writes it into a cluster namespace.
    const standalone = { ...cp, metadata: { name: "install-kmm", namespace: ns }, spec: { ...cp.spec, remediationAction: "inform" as const } };
    const createdCp = await create(gvr.configurationpolicies, ns, standalone);
    expect(ConfigurationPolicy.parse(createdCp)).toEqual(createdCp);
    expect(createdCp).toMatchObject(standalone);

    const sentRule = PlacementRule.parse({
      apiVersion: PlacementRule.apiVersion,
      kind: PlacementRule.kind,
      metadata: { name: "all-managed-clusters", namespace: ns },
      spec: { clusterSelector: { matchExpressions: [] } },
    });
    const createdRule = await create(gvr.placementrules, ns, sentRule);
    expect(PlacementRule.parse(createdRule)).toEqual(createdRule);
    expect(createdRule).toMatchObject(sentRule);

    const sentBinding = placementBinding({
      name: "install-kmm",
      namespace: ns,
      placement: { kind: "PlacementRule", name: "all-managed-clusters" },
      policies: ["install-kmm"],
    });
    const createdBinding = await create(gvr.placementbindings, ns, sentBinding);
    expect(PlacementBinding.parse(createdBinding)).toEqual(createdBinding);
    expect(createdBinding).toMatchObject(sentBinding);
  });

  it("the server rejects what our schemas reject, and our schemas reject what it rejects", async () => {
    const bad = { ...clusterClaim("too-long.kmm.node.kubernetes.io", "x"), spec: { value: "x".repeat(1025) } };
    expect(() => ClusterClaim.parse(bad)).toThrow(/spec\.value/);
    await expect(spoke1.custom.createClusterCustomObject({ ...gvr.clusterclaims, body: bad })).rejects.toThrow(/spec\.value/);
  });
});
