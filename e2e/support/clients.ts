// Typed API clients for a cluster of the fleet, and polling for eventual state.
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, KubernetesObjectApi } from "@kubernetes/client-node";
import { waitFor } from "../controlplane/procs.ts";

export interface Clients {
  kc: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  custom: CustomObjectsApi;
  objects: KubernetesObjectApi;
}

export function clientsFor(kubeconfig: string): Clients {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    objects: KubernetesObjectApi.makeApiClient(kc),
  };
}

/** Polls until fn returns a value other than undefined/false; the last error is in the timeout message. */
export function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  return waitFor(what, fn, { timeoutMs, intervalMs: 250 });
}

export { waitFor };

/** A kubeconfig identical to `base` but reaching the API server through a local proxy on `port`. */
export function viaProxy(base: KubeConfig, port: number): KubeConfig {
  const cluster = base.getCurrentCluster();
  const user = base.getCurrentUser();
  if (!cluster || !user) throw new Error("fleet kubeconfig has no current cluster/user");
  const out = new KubeConfig();
  out.loadFromOptions({
    clusters: [{ ...cluster, server: `https://127.0.0.1:${port}` }],
    users: [user],
    contexts: [{ name: "proxy", cluster: cluster.name, user: user.name }],
    currentContext: "proxy",
  });
  return out;
}
