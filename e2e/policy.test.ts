// The spoke edition installed as users install it: the generated Policy applied on the hub, the real
// OCM placement controller choosing clusters, the real governance policy propagator replicating the
// Policy, and on each spoke the real config policy controller enforcing it (the fleet's policy sync
// stands in for governance-policy-framework-addon). Also: which RBAC the work agent really uses.
import { parseKubeDocuments } from "../shared/yaml/read.ts";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { AuthorizationV1Api, type KubernetesObject } from "@kubernetes/client-node";
import { z } from "zod";
import { RawClient, isNotFound } from "../shared/kube/raw.ts";
import { decidedClusters, PlacementDecision, PLACEMENT_LABEL } from "../shared/ocm/placement.ts";
import { Policy } from "../shared/ocm/policy.ts";
import { POLICY_NAMESPACE, SPOKE_NAMESPACE, WORK_AGENT_SA, WORK_AGGREGATION_LABEL, renderPolicy, spokeObjects } from "../scripts/gen-policy.ts";
import { FLEET_MODULES_CLUSTERROLE, WORK_AGGREGATE_CLUSTERROLE, fleetModulesRole } from "./controlplane/klusterlet.ts";
import { connectionFrom } from "./controlplane/kube.ts";
import { clientsFor, eventually } from "./support/clients.ts";

const fleet = inject("fleet");
const hubRaw = new RawClient(await connectionFrom(fleet.hub.kubeconfig));
const spokes = await Promise.all(
  fleet.spokes.map(async (s) => ({ name: s.name, raw: new RawClient(await connectionFrom(s.kubeconfig)), clients: clientsFor(s.kubeconfig) })),
);
const POLICY = "install-kmm-spoke";
const REPLICATED = `${POLICY_NAMESPACE}.${POLICY}`;
const PLACEMENT = "all-managed-clusters";
/** The test's Policy selects ManagedClusters with this label, so that removing it deselects a cluster. */
const SELECT_LABEL = "kmm-e2e.kmm.node.kubernetes.io/install-spoke";
const WORK = "kmm-e2e-policy-modules";
const WORK_AGENT = `system:serviceaccount:${WORK_AGENT_SA.namespace}:${WORK_AGENT_SA.name}`;
const MODULES_CLUSTERROLE = "kmm-module-manager";
const MODULES_BINDING = "klusterlet-kmm";

const policyApi = "/apis/policy.open-cluster-management.io/v1";
const statusSchema = z.looseObject({ status: z.looseObject({ compliant: z.string().optional() }).optional() });

async function canI(spoke: (typeof spokes)[number], user: string, verb: string, group: string, resource: string, namespace?: string): Promise<boolean> {
  const review = await spoke.clients.kc.makeApiClient(AuthorizationV1Api).createSubjectAccessReview({
    body: { spec: { user, resourceAttributes: { verb, group, resource, ...(namespace ? { namespace } : {}) } } },
  });
  return review.status?.allowed === true;
}

async function labelCluster(name: string, value: string | null): Promise<void> {
  await hubRaw.request("PATCH", `/apis/cluster.open-cluster-management.io/v1/managedclusters/${name}`, { metadata: { labels: { [SELECT_LABEL]: value } } }, "application/merge-patch+json");
}

async function getOrUndefined(raw: RawClient, path: string): Promise<unknown> {
  try {
    return (await raw.request("GET", path)).body;
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

async function rootPolicy() {
  return Policy.parse((await hubRaw.request("GET", `${policyApi}/namespaces/${POLICY_NAMESPACE}/policies/${POLICY}`)).body);
}

async function placementDecisions(): Promise<string[]> {
  const list = z.object({ items: z.array(z.unknown()) }).parse(
    (await hubRaw.request("GET", `/apis/cluster.open-cluster-management.io/v1beta1/namespaces/${POLICY_NAMESPACE}/placementdecisions?labelSelector=${encodeURIComponent(`${PLACEMENT_LABEL}=${PLACEMENT}`)}`)).body,
  );
  return decidedClusters(list.items.map((d) => PlacementDecision.parse(d)));
}

/** Cluster → compliance as the root Policy on the hub reports it. */
async function complianceByCluster(): Promise<Record<string, string | undefined>> {
  const p = await rootPolicy();
  return Object.fromEntries((p.status?.status ?? []).map((s) => [s.clustername ?? "", s.compliant]));
}

/** A ManifestWork for spoke1 holding one Module; a new `rev` changes the work, so the agent applies it at once. */
function moduleWork(moduleName: string, rev = "1"): KubernetesObject & { spec: { workload: { manifests: KubernetesObject[] } } } {
  const module = {
    apiVersion: "kmm.sigs.x-k8s.io/v1beta1",
    kind: "Module",
    metadata: { name: moduleName, namespace: "default", annotations: { "kmm-e2e/rev": rev } },
    spec: {
      selector: { "kmm-e2e-policy": "true" },
      moduleLoader: { container: { modprobe: { moduleName: "kmm_ci_a" }, kernelMappings: [{ literal: "6.1.0-e2e", containerImage: "registry.example/kmm/kmod-a@sha256:" + "a".repeat(64) }] } },
    },
  };
  return {
    apiVersion: "work.open-cluster-management.io/v1",
    kind: "ManifestWork",
    metadata: { name: WORK, namespace: spokes[0]!.name },
    spec: { workload: { manifests: [module] } },
  };
}

type Cond = { type: string; status: string; message?: string };
const condition = z.looseObject({ type: z.string(), status: z.string(), message: z.string().optional() });
const workSchema = z.looseObject({
  status: z
    .looseObject({
      conditions: z.array(condition).optional(),
      resourceStatus: z.looseObject({ manifests: z.array(z.looseObject({ conditions: z.array(condition).optional() })).optional() }).optional(),
    })
    .optional(),
});
/** The work's Applied condition; its message is the first manifest's Applied message (where the agent puts the API server's refusal). */
async function workApplied(): Promise<Cond | undefined> {
  const w = workSchema.parse((await hubRaw.request("GET", `/apis/work.open-cluster-management.io/v1/namespaces/${spokes[0]!.name}/manifestworks/${WORK}`)).body);
  const work = w.status?.conditions?.find((c) => c.type === "Applied");
  const manifest = w.status?.resourceStatus?.manifests?.[0]?.conditions?.find((c) => c.type === "Applied");
  return work && { ...work, message: manifest?.message ?? work.message };
}

describe("policies/install-kmm-spoke.yaml through the real OCM policy framework", () => {
  beforeAll(async () => {
    for (const s of spokes) await labelCluster(s.name, "true");
  });

  afterAll(async () => {
    await hubRaw.request("DELETE", `/apis/work.open-cluster-management.io/v1/namespaces/${spokes[0]!.name}/manifestworks/${WORK}`).catch(() => undefined);
    await hubRaw.delete({ apiVersion: "v1", kind: "Namespace", metadata: { name: POLICY_NAMESPACE } }).catch(() => undefined);
    for (const s of spokes) {
      await labelCluster(s.name, null).catch(() => undefined);
      await s.raw.delete({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "kmm-spoke", namespace: SPOKE_NAMESPACE } }).catch(() => undefined);
      // Back to what the fleet gives the work agent for the other suites.
      await s.raw.apply(fleetModulesRole(), "kmm-e2e-fleet");
    }
  });

  it("is accepted by the hub's real CRDs in both flavours (Placement; PlacementRule)", async () => {
    for (const flavour of ["placement", "placementrule"] as const) {
      for (const d of parseKubeDocuments(renderPolicy(undefined, undefined, flavour))) {
        const o = d.toJS() as KubernetesObject;
        if (o.kind === "Namespace") continue;
        const q = new URLSearchParams({ fieldManager: "kmm-e2e", force: "true", dryRun: "All" });
        // The namespace does not exist yet: dry-run into an existing one.
        const obj = { ...o, metadata: { ...o.metadata, namespace: "default" } };
        await hubRaw.request("PATCH", `${await hubRaw.objectPath(obj)}?${q.toString()}`, obj, "application/apply-patch+yaml");
      }
    }
  });

  it("placement → propagator → config policy controller: each selected spoke gets the spoke edition and is Compliant on the hub", async () => {
    const objects = parseKubeDocuments(renderPolicy(undefined, undefined, "placement", { [SELECT_LABEL]: "true" })).map((d) => d.toJS() as KubernetesObject);
    for (const o of objects) await hubRaw.apply(o, "kmm-e2e");

    const names = spokes.map((s) => s.name).sort();
    expect(await eventually("the placement to decide on both spokes", async () => ((await placementDecisions()).join() === names.join() ? true : undefined), 120_000)).toBe(true);
    const compliance = await eventually(
      "the root Policy Compliant on every spoke",
      async () => {
        const c = await complianceByCluster();
        return names.every((n) => c[n] === "Compliant") ? c : undefined;
      },
      180_000,
    );
    expect(compliance).toEqual(Object.fromEntries(names.map((n) => [n, "Compliant"])));
    expect((await rootPolicy()).status?.compliant).toBe("Compliant");

    for (const s of spokes) {
      // The propagator's replica in the cluster namespace on the hub, and the spoke's copy.
      expect(await getOrUndefined(hubRaw, `${policyApi}/namespaces/${s.name}/policies/${REPLICATED}`)).toBeDefined();
      expect(statusSchema.parse(await s.raw.request("GET", `${policyApi}/namespaces/${s.name}/policies/${REPLICATED}`).then((r) => r.body)).status?.compliant).toBe("Compliant");
      // The config policy controller's verdict on the spoke.
      const config = statusSchema.parse((await s.raw.request("GET", `${policyApi}/namespaces/${s.name}/configurationpolicies/${POLICY}`)).body);
      expect(config.status?.compliant).toBe("Compliant");
      // What it created, as the Policy specifies it.
      expect(await getOrUndefined(s.raw, `/api/v1/namespaces/${SPOKE_NAMESPACE}`)).toBeDefined();
      expect(await getOrUndefined(s.raw, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/modules.kmm.sigs.x-k8s.io")).toBeDefined();
      const deployment = await s.clients.apps.readNamespacedDeployment({ name: "kmm-spoke", namespace: SPOKE_NAMESPACE });
      const wanted = spokeObjects().find((o) => o.kind === "Deployment") as unknown as { spec: { template: { spec: { containers: { image: string }[] } } } };
      expect(deployment.spec?.template.spec?.containers[0]?.env).toContainEqual({ name: "KMM_MANAGED", value: "1" });
      expect(deployment.spec?.template.spec?.containers[0]?.image).toBe(wanted.spec.template.spec.containers[0]?.image);
      expect(deployment.spec?.template.spec?.serviceAccountName).toBe("kmm-spoke");

      // The spoke edition gets its own rights and no more.
      const spokeSa = `system:serviceaccount:${SPOKE_NAMESPACE}:kmm-spoke`;
      expect(await canI(s, spokeSa, "patch", "apps", "daemonsets", "default")).toBe(true);
      expect(await canI(s, spokeSa, "watch", "kmm.sigs.x-k8s.io", "modules")).toBe(true);
      expect(await canI(s, spokeSa, "get", "", "secrets", "default")).toBe(false);
      expect(await canI(s, spokeSa, "create", "kmm.sigs.x-k8s.io", "modules", "default")).toBe(false);
    }
  });

  it("upgrades in place: the Policy of a newer build updates the CRD and the Deployment, and Modules stay", async () => {
    // A newer build: another spoke image and one more printer column in the Module CRD.
    const newImage = `registry.example/kmm-hub/kmm-hub-spoke@sha256:${"b".repeat(64)}`;
    const objects = parseKubeDocuments(renderPolicy(newImage, undefined, "placement", { [SELECT_LABEL]: "true" })).map((d) => d.toJS() as KubernetesObject);
    const root = objects.find((o) => o.kind === "Policy") as unknown as {
      spec: { "policy-templates": { objectDefinition: { spec: { "object-templates": { objectDefinition: { kind: string; spec: { versions: { additionalPrinterColumns?: unknown[] }[] } } }[] } } }[] };
    };
    const crd = root.spec["policy-templates"][0]!.objectDefinition.spec["object-templates"].find((t) => t.objectDefinition.kind === "CustomResourceDefinition")!;
    const column = { name: "Upgraded", type: "integer", jsonPath: ".metadata.generation" };
    crd.objectDefinition.spec.versions[0]!.additionalPrinterColumns = [...(crd.objectDefinition.spec.versions[0]!.additionalPrinterColumns ?? []), column];

    const uidSchema = z.looseObject({ metadata: z.looseObject({ uid: z.string() }) });
    const uid = async (raw: RawClient, path: string) => uidSchema.parse((await raw.request("GET", path)).body).metadata.uid;
    const paths = {
      crd: "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/modules.kmm.sigs.x-k8s.io",
      deployment: `/apis/apps/v1/namespaces/${SPOKE_NAMESPACE}/deployments/kmm-spoke`,
      module: "/apis/kmm.sigs.x-k8s.io/v1beta1/namespaces/default/modules/kmm-e2e-policy-upgrade",
    };
    const before = [];
    for (const s of spokes) {
      await s.raw.apply(moduleWork("kmm-e2e-policy-upgrade").spec.workload.manifests[0]!, "kmm-e2e");
      before.push({ crd: await uid(s.raw, paths.crd), deployment: await uid(s.raw, paths.deployment), module: await uid(s.raw, paths.module) });
    }

    for (const o of objects) await hubRaw.apply(o, "kmm-e2e");
    for (const [i, s] of spokes.entries()) {
      await eventually(`${s.name}: the new image and CRD column`, async () => {
        const d = await s.clients.apps.readNamespacedDeployment({ name: "kmm-spoke", namespace: SPOKE_NAMESPACE });
        const c = z.looseObject({ spec: z.looseObject({ versions: z.array(z.looseObject({ additionalPrinterColumns: z.array(z.looseObject({ name: z.string() })).optional() })) }) }).parse(
          (await s.raw.request("GET", paths.crd)).body,
        );
        return d.spec?.template.spec?.containers[0]?.image === newImage && c.spec.versions[0]?.additionalPrinterColumns?.some((x) => x.name === "Upgraded") === true;
      }, 120_000);
      expect({ crd: await uid(s.raw, paths.crd), deployment: await uid(s.raw, paths.deployment), module: await uid(s.raw, paths.module) }).toEqual(before[i]);
    }
    await eventually("the upgraded Policy Compliant on every spoke", async () => {
      const c = await complianceByCluster();
      return spokes.every((s) => c[s.name] === "Compliant");
    }, 120_000);
    for (const s of spokes) await s.raw.request("DELETE", paths.module);
  });

  it("removing a cluster's label removes it from the placement and from the Policy's compliance list", async () => {
    const [gone, kept] = [spokes[0]!, spokes[1]!];
    await labelCluster(gone.name, null);
    await eventually("the placement to drop the cluster", async () => ((await placementDecisions()).join() === kept.name ? true : undefined), 120_000);
    const compliance = await eventually("the compliance list without the cluster", async () => {
      const c = await complianceByCluster();
      return !(gone.name in c) ? c : undefined;
    }, 120_000);
    expect(compliance).toEqual({ [kept.name]: "Compliant" });
    await eventually("the replicated Policy gone from the hub and the spoke", async () =>
      (await getOrUndefined(hubRaw, `${policyApi}/namespaces/${gone.name}/policies/${REPLICATED}`)) === undefined &&
      (await getOrUndefined(gone.raw, `${policyApi}/namespaces/${gone.name}/policies/${REPLICATED}`)) === undefined &&
      (await getOrUndefined(gone.raw, `${policyApi}/namespaces/${gone.name}/configurationpolicies/${POLICY}`)) === undefined,
    60_000);
    // What was installed stays: the ConfigurationPolicy does not prune.
    expect(await getOrUndefined(gone.raw, `/apis/apps/v1/namespaces/${SPOKE_NAMESPACE}/deployments/kmm-spoke`)).toBeDefined();
  });

  it("the work agent (klusterlet-work-sa, the klusterlet's RBAC) manages Modules through the aggregated ClusterRole; the binding alone works too", async () => {
    // spoke1 is no longer selected, so nothing re-enforces what this test removes.
    const s = spokes[0]!;
    await s.raw.delete({ apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name: FLEET_MODULES_CLUSTERROLE } });
    await s.raw.delete({ apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding", metadata: { name: MODULES_BINDING } });

    // Only the Policy's aggregated role grants Modules now: the klusterlet's aggregate role has picked up its rule.
    await eventually("the aggregate ClusterRole to hold only the Policy's Module rule", async () => {
      const role = z.object({ rules: z.array(z.looseObject({ resources: z.array(z.string()).optional() })).nullable().optional() }).parse(
        (await s.raw.request("GET", `/apis/rbac.authorization.k8s.io/v1/clusterroles/${encodeURIComponent(WORK_AGGREGATE_CLUSTERROLE)}`)).body,
      );
      return (role.rules ?? []).filter((r) => r.resources?.includes("modules")).length === 1;
    });
    await hubRaw.apply(moduleWork("kmm-e2e-policy-a"), "kmm-e2e");
    const applied = await eventually("the ManifestWork Applied on spoke1", async () => ((await workApplied())?.status === "True" ? true : undefined), 60_000);
    expect(applied).toBe(true);
    expect(await getOrUndefined(s.raw, "/apis/kmm.sigs.x-k8s.io/v1beta1/namespaces/default/modules/kmm-e2e-policy-a")).toBeDefined();

    // Without the aggregation label nothing grants it: the work agent is refused.
    await s.raw.request("PATCH", `/apis/rbac.authorization.k8s.io/v1/clusterroles/${MODULES_CLUSTERROLE}`, { metadata: { labels: { [WORK_AGGREGATION_LABEL]: null } } }, "application/merge-patch+json");
    await eventually("the work agent to lose Modules", async () => !(await canI(s, WORK_AGENT, "create", "kmm.sigs.x-k8s.io", "modules", "default")));
    await hubRaw.apply(moduleWork("kmm-e2e-policy-b"), "kmm-e2e");
    const refused = await eventually("the ManifestWork refused", async () => {
      const c = await workApplied();
      return c?.status === "False" ? c : undefined;
    }, 60_000);
    expect(refused.message ?? "").toMatch(/forbidden/i);

    // The binding by name (the upstream KMM documentation's way) works on its own.
    const binding = spokeObjects().find((o) => o.kind === "ClusterRoleBinding" && o.metadata?.name === MODULES_BINDING)!;
    await s.raw.apply(binding, "kmm-e2e");
    await eventually("the work agent to get Modules through the binding", async () => canI(s, WORK_AGENT, "create", "kmm.sigs.x-k8s.io", "modules", "default"));
    await hubRaw.apply(moduleWork("kmm-e2e-policy-b", "2"), "kmm-e2e");
    await eventually("the ManifestWork Applied again through the binding", async () => ((await workApplied())?.status === "True" ? true : undefined), 120_000);
    expect(await getOrUndefined(s.raw, "/apis/kmm.sigs.x-k8s.io/v1beta1/namespaces/default/modules/kmm-e2e-policy-b")).toBeDefined();

    await hubRaw.request("DELETE", `/apis/work.open-cluster-management.io/v1/namespaces/${s.name}/manifestworks/${WORK}`);
    const role = spokeObjects().find((o) => o.kind === "ClusterRole" && o.metadata?.name === MODULES_CLUSTERROLE)!;
    await s.raw.apply(role, "kmm-e2e");
  });
});
