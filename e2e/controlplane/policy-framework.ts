// The OCM policy framework in the fleet: the hub runs the placement controller (OCM) and the
// governance policy propagator; each spoke runs the config policy controller and the fleet's
// policy sync (policy-sync.ts, in place of governance-policy-framework-addon), which reads and
// writes the cluster's namespace on the hub with the cluster's own OCM identity, as the addon does.
import { join } from "node:path";
import type { KubernetesObject } from "@kubernetes/client-node";
import type { ControlPlaneManifest } from "./binaries.ts";
import { policyHubCrdFiles, policySpokeCrdFiles, repoRoot } from "./binaries.ts";
import type { LocalCluster } from "./cluster.ts";
import { applyObjects, connectionFrom } from "./kube.ts";
import { HUB_NAMESPACE, installCrds } from "./ocm.ts";
import { freePort, waitFor, type ProcessGroup } from "./procs.ts";

/** Group in the client certificate OCM registration issues to a managed cluster's agents. */
export function clusterGroup(cluster: string): string {
  return `system:open-cluster-management:${cluster}`;
}

/** Starts the hub's placement controller and policy propagator (CRDs are installed with OCM's). */
async function startHubPolicyFramework(hub: LocalCluster, m: ControlPlaneManifest, group: ProcessGroup): Promise<number> {
  const conn = await connectionFrom(hub.info.kubeconfig);
  await installCrds(conn, policyHubCrdFiles(m));
  group.start(`${hub.info.name}-ocm-placement-controller`, m.bin.placement ?? "placement", [
    "controller",
    `--kubeconfig=${hub.info.kubeconfig}`,
    `--namespace=${HUB_NAMESPACE}`,
    "--disable-leader-election",
    `--listen=127.0.0.1:${await freePort()}`,
  ]);
  const probe = await freePort();
  group.start(
    `${hub.info.name}-governance-policy-propagator`,
    m.bin.policyPropagator ?? "governance-policy-propagator",
    [
      `--kubeconfig=${hub.info.kubeconfig}`,
      "--leader-elect=false",
      "--enable-webhooks=false",
      `--metrics-bind-address=127.0.0.1:${await freePort()}`,
      `--health-probe-bind-address=127.0.0.1:${probe}`,
    ],
    { WATCH_NAMESPACE: "", KUBECONFIG: hub.info.kubeconfig },
  );
  return probe;
}

/** Waits for a controller-runtime manager's /readyz. */
async function ready(what: string, port: number, abort?: Promise<never>): Promise<void> {
  await waitFor(`${what} ready`, async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, {
    timeoutMs: 120_000,
    intervalMs: 250,
    ...(abort ? { abort } : {}),
  });
}

/** What the policy framework addon's identity may do in the cluster's namespace on the hub. */
function hubSyncRbac(cluster: string): KubernetesObject[] {
  const name = "open-cluster-management:policy-framework-sync";
  const role = {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: { name, namespace: cluster },
    rules: [
      { apiGroups: ["policy.open-cluster-management.io"], resources: ["policies"], verbs: ["get", "list", "watch"] },
      { apiGroups: ["policy.open-cluster-management.io"], resources: ["policies/status"], verbs: ["get", "patch", "update"] },
      { apiGroups: ["", "events.k8s.io"], resources: ["events"], verbs: ["create", "patch", "update"] },
    ],
  };
  const binding = {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name, namespace: cluster },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
    subjects: [{ kind: "Group", apiGroup: "rbac.authorization.k8s.io", name: clusterGroup(cluster) }],
  };
  return [role, binding];
}

interface SpokePolicyOptions {
  hub: LocalCluster;
  spoke: LocalCluster;
  /** the kubeconfig the spoke's registration agent obtained from the hub */
  hubKubeconfig: string;
  manifest: ControlPlaneManifest;
  group: ProcessGroup;
}

/** Starts a spoke's config policy controller and policy sync, watching the cluster's namespace. */
async function startSpokePolicyFramework(o: SpokePolicyOptions): Promise<number> {
  const cluster = o.spoke.info.name;
  const spokeConn = await connectionFrom(o.spoke.info.kubeconfig);
  await installCrds(spokeConn, policySpokeCrdFiles(o.manifest));
  await applyObjects(spokeConn, [{ apiVersion: "v1", kind: "Namespace", metadata: { name: cluster } }]);
  // The registration controller creates the cluster namespace on the hub once the cluster is accepted.
  await applyObjects(await connectionFrom(o.hub.info.kubeconfig), hubSyncRbac(cluster));
  const probe = await freePort();
  o.group.start(
    `${cluster}-config-policy-controller`,
    o.manifest.bin.configPolicyController ?? "config-policy-controller",
    [
      "controller",
      `--kubeconfig=${o.spoke.info.kubeconfig}`,
      `--cluster-name=${cluster}`,
      "--leader-elect=false",
      "--enable-lease=false",
      "--evaluation-backoff=1",
      `--metrics-bind-address=127.0.0.1:${await freePort()}`,
      `--health-probe-bind-address=127.0.0.1:${probe}`,
    ],
    // Local run mode: it does not look for its own Deployment (it has none here).
    { WATCH_NAMESPACE: cluster, OSDK_FORCE_RUN_MODE: "local", KUBECONFIG: o.spoke.info.kubeconfig },
  );
  o.group.start(`${cluster}-policy-sync`, process.execPath, [
    join(repoRoot, "e2e/controlplane/policy-sync.ts"),
    `--cluster=${cluster}`,
    `--hub-kubeconfig=${o.hubKubeconfig}`,
    `--spoke-kubeconfig=${o.spoke.info.kubeconfig}`,
  ]);
  return probe;
}

export interface PolicyFrameworkOptions {
  hub: LocalCluster;
  /** joined spokes with the hub kubeconfig their registration agent obtained */
  spokes: { cluster: LocalCluster; hubKubeconfig: string }[];
  manifest: ControlPlaneManifest;
  group: ProcessGroup;
  abort?: Promise<never>;
}

/** Starts the policy framework on the hub and every spoke; resolves once its controllers are ready. */
export async function startPolicyFramework(o: PolicyFrameworkOptions): Promise<void> {
  const { hub, manifest, group } = o;
  const { placement, policyPropagator, configPolicyController } = manifest.bin;
  if (!placement || !policyPropagator || !configPolicyController) {
    throw new Error("the control plane build has no policy framework: run 'npm run controlplane:build' with e2e/controlplane/go/policy");
  }
  const hubProbe = await startHubPolicyFramework(hub, manifest, group);
  const spokeProbes = await Promise.all(
    o.spokes.map(async (s) => ({ name: s.cluster.info.name, port: await startSpokePolicyFramework({ hub, spoke: s.cluster, hubKubeconfig: s.hubKubeconfig, manifest, group }) })),
  );
  await Promise.all([
    ready("governance policy propagator", hubProbe, o.abort),
    ...spokeProbes.map((p) => ready(`${p.name} config policy controller`, p.port, o.abort)),
  ]);
}
