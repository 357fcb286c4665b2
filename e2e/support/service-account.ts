// Run controllers in-process with the credentials their pod would have: a bound ServiceAccount
// token in a file, loaded through our own kubeconfig loader (which re-reads rotated token files),
// so a suite proves that the RBAC a component ships is enough.
import { rmSync } from "node:fs";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { CoreV1Api } from "@kubernetes/client-node";
import { loadKubeconfigFile, type KubeConnection } from "../../shared/kube/connection.ts";
import { cacheDir } from "../controlplane/binaries.ts";

export class ServiceAccountTokenError extends Error {
  override readonly name = "ServiceAccountTokenError";
}

export interface ServiceAccountConnectionOptions {
  /** Admin clients of the cluster: they request the token. */
  core: CoreV1Api;
  /** Admin connection of the same cluster: its server URL and CA are reused. */
  admin: KubeConnection;
  namespace: string;
  serviceAccount: string;
  /** Token lifetime; the API server's minimum is 600. */
  expirationSeconds?: number;
}

// Token folders stay while the connection may re-read them, and go when the test process ends.
const tokenDirs = new Set<string>();
process.once("exit", () => {
  for (const dir of tokenDirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * A connection authenticated as `namespace/serviceAccount` (TokenRequest, as the kubelet does for a
 * pod). Its token folder is removed when the test process exits.
 */
export async function serviceAccountConnection(opts: ServiceAccountConnectionOptions): Promise<KubeConnection> {
  const { core, admin, namespace, serviceAccount } = opts;
  const tr = await core.createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: opts.expirationSeconds ?? 3600 } },
  });
  const token = tr.status?.token;
  if (token === undefined) throw new ServiceAccountTokenError(`TokenRequest for ServiceAccount ${namespace}/${serviceAccount} returned no token`);
  if (admin.ca === undefined) throw new ServiceAccountTokenError(`the admin kubeconfig of ${admin.server} has no CA; the ServiceAccount kubeconfig needs one`);
  // Under the project's cache, not the system temp folder: the folder must outlive the test files
  // that use it (it goes at process exit), and vitest checks the temp folder before its workers exit.
  const parent = join(cacheDir, "sa-tokens");
  await mkdir(parent, { recursive: true });
  const dir = await mkdtemp(join(parent, `${serviceAccount}-sa-`));
  tokenDirs.add(dir);
  await writeFile(join(dir, "token"), token, { mode: 0o600 });
  await writeFile(join(dir, "ca.crt"), admin.ca);
  const kubeconfig = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "cluster", cluster: { server: admin.server, "certificate-authority": "ca.crt" } }],
    users: [{ name: serviceAccount, user: { tokenFile: "token" } }],
    contexts: [{ name: serviceAccount, context: { cluster: "cluster", user: serviceAccount, namespace } }],
    "current-context": serviceAccount,
  };
  await writeFile(join(dir, "kubeconfig"), JSON.stringify(kubeconfig));
  return loadKubeconfigFile(join(dir, "kubeconfig"));
}
