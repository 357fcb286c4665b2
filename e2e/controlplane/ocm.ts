// Open Cluster Management on the local fleet, joined the real way: the hub runs the
// registration controller; each spoke runs a registration agent that bootstraps with a
// token, creates its ManagedCluster and a CSR, which the hub accepts (as `clusteradm accept`
// does) and the hub's kube-controller-manager signs; then the spoke's work agent starts
// with the hub credentials the registration agent obtained (optionally as the klusterlet's work ServiceAccount).
import { access } from "node:fs/promises";
import { join } from "node:path";
import {
  CertificatesV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type KubernetesObject,
  type V1CertificateSigningRequest,
} from "@kubernetes/client-node";
import type { ControlPlaneManifest } from "./binaries.ts";
import { hubCrdFiles, spokeCrdFiles } from "./binaries.ts";
import type { LocalCluster } from "./cluster.ts";
import type { KubeConnection } from "../../shared/kube/connection.ts";
import { applyFiles, applyObjects, connectionFrom, kubeConfigFrom, readYamlObjects, waitForCrdsEstablished } from "./kube.ts";
import { workAgentKubeconfig } from "./klusterlet.ts";
import { writeKubeconfig } from "./pki.ts";
import { freePort, waitFor, type ProcessGroup } from "./procs.ts";

export const AGENT_NAMESPACE = "open-cluster-management-agent";
export const HUB_NAMESPACE = "open-cluster-management-hub";
export const BOOTSTRAP_GROUP = "system:bootstrappers:managedcluster";

async function crdNames(files: string[]): Promise<string[]> {
  const objs = (await Promise.all(files.map(readYamlObjects))).flat();
  return objs.filter((o) => o.kind === "CustomResourceDefinition").map((o) => o.metadata?.name ?? "");
}

export async function installCrds(conn: KubeConnection, files: string[]): Promise<void> {
  await applyFiles(conn, files);
  await waitForCrdsEstablished(conn, await crdNames(files));
}

function namespace(name: string): KubernetesObject {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name } };
}

/** RBAC the bootstrap identity needs on the hub (the facts of OCM's cluster-manager chart). */
function bootstrapRbac(): KubernetesObject[] {
  const role = {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name: "open-cluster-management:bootstrap" },
    rules: [
      { apiGroups: [""], resources: ["configmaps"], verbs: ["get"] },
      { apiGroups: ["certificates.k8s.io"], resources: ["certificatesigningrequests"], verbs: ["create", "get", "list", "watch"] },
      { apiGroups: ["cluster.open-cluster-management.io"], resources: ["managedclusters"], verbs: ["get", "create", "list", "watch"] },
      { apiGroups: ["cluster.open-cluster-management.io"], resources: ["managedclustersets/join"], verbs: ["create"] },
    ],
  };
  const binding = {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name: "open-cluster-management:bootstrap:managedcluster" },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "open-cluster-management:bootstrap" },
    subjects: [{ kind: "Group", apiGroup: "rbac.authorization.k8s.io", name: BOOTSTRAP_GROUP }],
  };
  return [role, binding];
}

export async function startHubOcm(hub: LocalCluster, m: ControlPlaneManifest, group: ProcessGroup): Promise<void> {
  const conn = await connectionFrom(hub.info.kubeconfig);
  await installCrds(conn, hubCrdFiles(m));
  await applyObjects(conn, [namespace(HUB_NAMESPACE), ...bootstrapRbac()]);
  group.start(`${hub.info.name}-ocm-registration-controller`, m.bin.registration, [
    "controller",
    `--kubeconfig=${hub.info.kubeconfig}`,
    `--namespace=${HUB_NAMESPACE}`,
    "--disable-leader-election",
    `--listen=127.0.0.1:${await freePort()}`,
  ]);
}

export interface JoinOptions {
  hub: LocalCluster;
  spoke: LocalCluster;
  bootstrapToken: string;
  manifest: ControlPlaneManifest;
  group: ProcessGroup;
  dir: string;
  abort?: Promise<never>;
  /** run the work agent as the klusterlet's klusterlet-work-sa with its RBAC instead of cluster-admin */
  klusterletIdentity?: boolean;
}

/** Joins a spoke and starts its work agent; resolves to the hub kubeconfig its registration agent obtained. */
export async function joinSpoke(o: JoinOptions): Promise<string> {
  const { hub, spoke, manifest: m, group } = o;
  const name = spoke.info.name;
  const spokeConn = await connectionFrom(spoke.info.kubeconfig);
  await installCrds(spokeConn, spokeCrdFiles(m));
  await applyObjects(spokeConn, [namespace(AGENT_NAMESPACE)]);

  const bootstrapKubeconfig = join(o.dir, "bootstrap-hub.kubeconfig");
  await writeKubeconfig(bootstrapKubeconfig, {
    cluster: "hub",
    server: hub.info.server,
    caCert: hub.pki.caCert,
    user: `system:bootstrap:${name}`,
    token: o.bootstrapToken,
  });
  const hubKubeconfigDir = join(o.dir, "hub-kubeconfig");
  group.start(`${name}-ocm-registration-agent`, m.bin.registration, [
    "agent",
    `--cluster-name=${name}`,
    `--bootstrap-kubeconfig=${bootstrapKubeconfig}`,
    `--hub-kubeconfig-dir=${hubKubeconfigDir}`,
    "--hub-kubeconfig-secret=hub-kubeconfig-secret",
    `--spoke-kubeconfig=${spoke.info.kubeconfig}`,
    `--kubeconfig=${spoke.info.kubeconfig}`,
    `--spoke-external-server-urls=${spoke.info.server}`,
    `--namespace=${AGENT_NAMESPACE}`,
    "--cluster-healthcheck-period=10s",
    "--disable-leader-election",
    `--listen=127.0.0.1:${await freePort()}`,
  ]);

  await acceptCluster(kubeConfigFrom(hub.info.kubeconfig), name, o.abort);
  const hubKubeconfig = join(hubKubeconfigDir, "kubeconfig");
  await waitFor(`${name} hub kubeconfig from the registration agent`, async () => {
    await access(hubKubeconfig);
    return true;
  }, { timeoutMs: 120_000, intervalMs: 500, ...(o.abort ? { abort: o.abort } : {}) });

  // The work agent acts on the spoke as the klusterlet's klusterlet-work-sa, with the klusterlet's RBAC.
  const workKubeconfig = o.klusterletIdentity === true ? await workAgentKubeconfig(spoke, spokeConn, m, AGENT_NAMESPACE, join(o.dir, "work-agent.kubeconfig")) : spoke.info.kubeconfig;
  group.start(`${name}-ocm-work-agent`, m.bin.work, [
    "agent",
    `--spoke-cluster-name=${name}`,
    "--workload-source-driver=kube",
    `--workload-source-config=${hubKubeconfig}`,
    `--hub-kubeconfig=${hubKubeconfig}`,
    `--spoke-kubeconfig=${workKubeconfig}`,
    `--kubeconfig=${workKubeconfig}`,
    `--namespace=${AGENT_NAMESPACE}`,
    "--status-sync-interval=1s",
    "--disable-leader-election",
    `--listen=127.0.0.1:${await freePort()}`,
  ]);
  return hubKubeconfig;
}

type Condition = { type: string; status: string };

/** What `clusteradm accept` does: set hubAcceptsClient and approve the cluster's CSRs. */
export async function acceptCluster(hubKc: KubeConfig, cluster: string, abort?: Promise<never>): Promise<void> {
  const custom = hubKc.makeApiClient(CustomObjectsApi);
  const certs = hubKc.makeApiClient(CertificatesV1Api);
  const ab = abort ? { abort } : {};
  await waitFor(`ManagedCluster ${cluster} created by its agent`, async () => {
    await custom.getClusterCustomObject({ group: "cluster.open-cluster-management.io", version: "v1", plural: "managedclusters", name: cluster });
    return true;
  }, { timeoutMs: 120_000, intervalMs: 500, ...ab });
  await custom.patchClusterCustomObject({
    group: "cluster.open-cluster-management.io",
    version: "v1",
    plural: "managedclusters",
    name: cluster,
    body: { spec: { hubAcceptsClient: true } },
  }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch));
  const csr = await waitFor(`CSR of ${cluster}`, async () => {
    const list = await certs.listCertificateSigningRequest({ labelSelector: `open-cluster-management.io/cluster-name=${cluster}` });
    return list.items.find((c) => !(c.status?.conditions ?? []).some((x) => x.type === "Approved"));
  }, { timeoutMs: 120_000, intervalMs: 500, ...ab });
  await approveCsr(certs, csr);
  await waitFor(`ManagedCluster ${cluster} joined and available`, async () => {
    const mc = (await custom.getClusterCustomObject({
      group: "cluster.open-cluster-management.io",
      version: "v1",
      plural: "managedclusters",
      name: cluster,
    })) as { status?: { conditions?: Condition[] } };
    const conds = mc.status?.conditions ?? [];
    const ok = (t: string) => conds.some((c) => c.type === t && c.status === "True");
    return ok("ManagedClusterJoined") && ok("ManagedClusterConditionAvailable");
  }, { timeoutMs: 120_000, intervalMs: 500, ...ab });
}

async function approveCsr(certs: CertificatesV1Api, csr: V1CertificateSigningRequest): Promise<void> {
  const name = csr.metadata?.name ?? "";
  const now = new Date();
  csr.status = {
    ...csr.status,
    conditions: [
      ...(csr.status?.conditions ?? []),
      { type: "Approved", status: "True", reason: "KMMFleetAccept", message: "approved by the local fleet fixture", lastUpdateTime: now, lastTransitionTime: now },
    ],
  };
  await certs.replaceCertificateSigningRequestApproval({ name, body: csr });
}
