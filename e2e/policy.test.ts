// The spoke installation Policy against real API servers: the hub accepts it with the real policy
// framework CRDs, and its objects — enforced on a spoke as the config policy controller would —
// are accepted there and give the OCM work agent and the spoke exactly the rights they need.
import { parseAllDocuments } from "yaml";
import { afterAll, describe, expect, it } from "vitest";
import { AuthorizationV1Api, type KubernetesObject } from "@kubernetes/client-node";
import { RawClient } from "../shared/kube/raw.ts";
import { POLICY_NAMESPACE, SPOKE_NAMESPACE, WORK_AGENT_SA, renderPolicy, spokeObjects } from "../scripts/gen-policy.ts";
import { inject } from "vitest";
import { connectionFrom } from "./controlplane/kube.ts";
import { clientsFor, eventually } from "./support/clients.ts";

const fleet = inject("fleet");
const spokeKubeconfig = fleet.spokes[fleet.spokes.length - 1]!.kubeconfig;
const spoke = clientsFor(spokeKubeconfig);
const hubRaw = new RawClient(await connectionFrom(fleet.hub.kubeconfig));
const spokeRaw = new RawClient(await connectionFrom(spokeKubeconfig));

async function canI(user: string, verb: string, group: string, resource: string, namespace?: string): Promise<boolean> {
  const authz = spoke.kc.makeApiClient(AuthorizationV1Api);
  const review = await authz.createSubjectAccessReview({
    body: { spec: { user, resourceAttributes: { verb, group, resource, ...(namespace ? { namespace } : {}) } } },
  });
  return review.status?.allowed === true;
}

describe("policies/install-kmm-spoke.yaml", () => {

  afterAll(async () => {
    await hubRaw.delete({ apiVersion: "v1", kind: "Namespace", metadata: { name: POLICY_NAMESPACE } }).catch(() => undefined);
    await spokeRaw.delete({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "kmm-spoke", namespace: SPOKE_NAMESPACE } }).catch(() => undefined);
  });

  it("is accepted by the hub's real Policy, Placement and PlacementBinding CRDs", async () => {
    const objects = parseAllDocuments(renderPolicy()).map((d) => d.toJS() as KubernetesObject);
    for (const o of objects) await hubRaw.apply(o, "kmm-e2e");
    const stored = (await hubRaw.get({ apiVersion: "policy.open-cluster-management.io/v1", kind: "Policy", metadata: { name: "install-kmm-spoke", namespace: POLICY_NAMESPACE } })) as {
      spec: { "policy-templates": unknown[] };
    };
    expect(stored.spec["policy-templates"]).toHaveLength(1);
  });

  it("installs on a spoke, and grants the work agent Modules and the spoke edition its own rights only", async () => {
    for (const o of spokeObjects()) {
      await eventually(`apply ${o.kind} ${o.metadata?.name ?? ""}`, async () => {
        spokeRaw.refreshDiscovery();
        await spokeRaw.apply(o, "kmm-e2e");
        return true;
      });
    }
    const workAgent = `system:serviceaccount:${WORK_AGENT_SA.namespace}:${WORK_AGENT_SA.name}`;
    expect(await canI(workAgent, "create", "kmm.sigs.x-k8s.io", "modules", "default")).toBe(true);
    expect(await canI(workAgent, "delete", "kmm.sigs.x-k8s.io", "modules", "default")).toBe(true);

    const spokeSa = `system:serviceaccount:${SPOKE_NAMESPACE}:kmm-spoke`;
    expect(await canI(spokeSa, "patch", "apps", "daemonsets", "default")).toBe(true);
    expect(await canI(spokeSa, "watch", "kmm.sigs.x-k8s.io", "modules")).toBe(true);
    expect(await canI(spokeSa, "get", "", "secrets", "default")).toBe(false);
    expect(await canI(spokeSa, "create", "kmm.sigs.x-k8s.io", "modules", "default")).toBe(false);
  });
});
