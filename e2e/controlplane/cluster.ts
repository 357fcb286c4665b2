// One local Kubernetes cluster: etcd, kube-apiserver (TLS, RBAC), kube-controller-manager,
// kube-scheduler and kwok, all from the kcp/kwok binaries that build.sh made.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ClusterInfo } from "../fleet-types.ts";
import { kwokStageFiles, type ControlPlaneManifest } from "./binaries.ts";
import { httpsGet } from "./kube.ts";
import { REAL_NODE_LABEL } from "./node-agent/node.ts";
import { createPki, writeKubeconfig, type ClusterPki } from "./pki.ts";
import { freePort, waitFor, type ProcessGroup } from "./procs.ts";

export interface StaticToken {
  token: string;
  user: string;
  uid: string;
  groups: string[];
}

export interface LocalCluster {
  info: ClusterInfo;
  pki: ClusterPki;
  /** kubeconfig files by user: admin, and each static token user */
  kubeconfigs: Record<string, string>;
}

export interface StartClusterOptions {
  name: string;
  dir: string;
  manifest: ControlPlaneManifest;
  group: ProcessGroup;
  tokens?: StaticToken[];
  /** rejects when any process of the group dies, to fail fast instead of timing out */
  abort?: Promise<never>;
}

export async function startCluster(opts: StartClusterOptions): Promise<LocalCluster> {
  const { name, dir, manifest, group } = opts;
  const kcp = manifest.bin.kcp;
  const pki = await createPki(join(dir, "pki"), name);

  const [etcdClient, etcdPeer, apiPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const server = `https://127.0.0.1:${apiPort}`;
  const log = (component: string) => `${name}-${component}`;

  group.start(log("etcd"), kcp, [
    "etcd",
    "--name", name,
    "--data-dir", join(dir, "etcd"),
    "--listen-client-urls", `http://127.0.0.1:${etcdClient}`,
    "--advertise-client-urls", `http://127.0.0.1:${etcdClient}`,
    "--listen-peer-urls", `http://127.0.0.1:${etcdPeer}`,
    "--initial-advertise-peer-urls", `http://127.0.0.1:${etcdPeer}`,
    "--initial-cluster", `${name}=http://127.0.0.1:${etcdPeer}`,
    "--unsafe-no-fsync",
    "--log-level", "warn",
  ]);

  const tokens = opts.tokens ?? [];
  const tokenFile = join(pki.dir, "tokens.csv");
  await writeFile(tokenFile, tokens.map((t) => `${t.token},${t.user},${t.uid},"${t.groups.join(",")}"`).join("\n") + "\n", { mode: 0o600 });

  group.start(log("kube-apiserver"), kcp, [
    "kube-apiserver",
    `--etcd-servers=http://127.0.0.1:${etcdClient}`,
    "--bind-address=127.0.0.1",
    "--advertise-address=127.0.0.1",
    `--secure-port=${apiPort}`,
    `--tls-cert-file=${pki.serverCert}`,
    `--tls-private-key-file=${pki.serverKey}`,
    `--client-ca-file=${pki.caCert}`,
    `--token-auth-file=${tokenFile}`,
    `--service-account-issuer=${server}`,
    `--service-account-key-file=${pki.saPub}`,
    `--service-account-signing-key-file=${pki.saKey}`,
    "--service-cluster-ip-range=10.0.0.0/24",
    "--allow-privileged=true",
    "--authorization-mode=RBAC",
    // As on OpenShift hubs: setting blockOwnerDeletion needs update on the owner's finalizers, so
    // the e2e suites prove the shipped RBAC grants it (the hub's ManifestWorks are owned by MCMs).
    "--enable-admission-plugins=OwnerReferencesPermissionEnforcement",
    "--max-requests-inflight=1000",
    "--max-mutating-requests-inflight=500",
    "--profiling=false",
    "--v=1",
  ]);

  const admin = await pki.client("kmm-admin", ["system:masters"]);
  const kubeconfigs: Record<string, string> = { admin: join(dir, "admin.kubeconfig") };
  await writeKubeconfig(kubeconfigs.admin!, { cluster: name, server, caCert: pki.caCert, user: "kmm-admin", cert: admin });
  for (const t of tokens) {
    const file = join(dir, `${t.user.replace(/[^a-zA-Z0-9_.-]/g, "_")}.kubeconfig`);
    await writeKubeconfig(file, { cluster: name, server, caCert: pki.caCert, user: t.user, token: t.token });
    kubeconfigs[t.user] = file;
  }

  const ca = await readFile(pki.caCert);
  const cert = await readFile(admin.cert);
  const key = await readFile(admin.key);
  await waitFor(`${name} kube-apiserver /readyz`, async () => (await httpsGet(`${server}/readyz`, { ca, cert, key })).status === 200, {
    timeoutMs: 90_000,
    intervalMs: 200,
    ...(opts.abort ? { abort: opts.abort } : {}),
  });

  const kcmCert = await pki.client("system:kube-controller-manager", []);
  const kcmKubeconfig = join(dir, "kube-controller-manager.kubeconfig");
  await writeKubeconfig(kcmKubeconfig, { cluster: name, server, caCert: pki.caCert, user: "system:kube-controller-manager", cert: kcmCert });
  group.start(log("kube-controller-manager"), kcp, [
    "kube-controller-manager",
    `--kubeconfig=${kcmKubeconfig}`,
    `--authentication-kubeconfig=${kcmKubeconfig}`,
    `--authorization-kubeconfig=${kcmKubeconfig}`,
    "--leader-elect=false",
    "--controllers=*,bootstrapsigner,tokencleaner",
    `--service-account-private-key-file=${pki.saKey}`,
    `--root-ca-file=${pki.caCert}`,
    `--cluster-signing-cert-file=${pki.caCert}`,
    `--cluster-signing-key-file=${pki.caKey}`,
    "--use-service-account-credentials=true",
    "--bind-address=127.0.0.1",
    `--secure-port=${await freePort()}`,
    "--v=1",
  ]);

  const schedCert = await pki.client("system:kube-scheduler", []);
  const schedKubeconfig = join(dir, "kube-scheduler.kubeconfig");
  await writeKubeconfig(schedKubeconfig, { cluster: name, server, caCert: pki.caCert, user: "system:kube-scheduler", cert: schedCert });
  group.start(log("kube-scheduler"), kcp, [
    "kube-scheduler",
    `--kubeconfig=${schedKubeconfig}`,
    `--authentication-kubeconfig=${schedKubeconfig}`,
    `--authorization-kubeconfig=${schedKubeconfig}`,
    "--leader-elect=false",
    "--bind-address=127.0.0.1",
    `--secure-port=${await freePort()}`,
    "--v=1",
  ]);

  // kwok plays the kubelet of every node but the real one (node-agent/), which it must leave alone;
  // it acts with admin rights as a node agent would.
  const kwokConfig = join(dir, "kwok.yaml");
  const stages = await Promise.all(kwokStageFiles(manifest).map((f) => readFile(f, "utf8")));
  await writeFile(kwokConfig, stages.map((s) => s.trim()).join("\n---\n") + "\n");
  group.start(log("kwok"), manifest.bin.kwok, [
    `--kubeconfig=${kubeconfigs.admin!}`,
    `--config=${kwokConfig}`,
    "--manage-all-nodes=false",
    `--manage-nodes-with-label-selector=!${REAL_NODE_LABEL}`,
    "--cidr=10.244.0.0/16",
    "--node-ip=10.1.0.1",
    `--server-address=127.0.0.1:${await freePort()}`,
    "--v=info",
  ]);

  const users = Object.fromEntries(Object.entries(kubeconfigs).filter(([u]) => u !== "admin"));
  return { info: { name, kubeconfig: kubeconfigs.admin!, server, logDir: group.dir, users }, pki, kubeconfigs };
}
