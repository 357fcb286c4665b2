// What the e2e global setup hands to tests (vitest `inject("fleet")`).
export interface ClusterInfo {
  /** "hub", "spoke1", "spoke2", … (spokes are also the OCM ManagedCluster names) */
  name: string;
  /** kubeconfig of a cluster-admin user (client certificate, O=system:masters) */
  kubeconfig: string;
  /** https://127.0.0.1:PORT */
  server: string;
  /** folder with one log file per component (`<cluster>-<component>.log`) */
  logDir: string;
  /** kubeconfigs of the cluster's other users, by user name (e.g. an unprivileged token user) */
  users: Record<string, string>;
  /** the cluster's real node, when the fleet runs them (`startFleet({ realNodes: true })`) */
  realNode?: RealNodeInfo;
}

/**
 * A node whose pods really run (podman with runc, host network), beside the kwok nodes. It is
 * labelled and tainted `e2e.kmm.sigs.x-k8s.io/real-node=true:NoSchedule`: a pod lands on it only
 * with a toleration for that taint (and a nodeSelector or nodeName to pick it).
 */
export interface RealNodeInfo {
  /** Node name, `<cluster>-real` */
  name: string;
  /** the node's own loopback address (its InternalIP, its pods' hostIP and podIP): hub-real 127.0.0.1, hub-real-2 127.0.0.2, then one per spoke (spoke1-real 127.0.0.3, …) */
  hostIP: string;
  /** `status.nodeInfo.kernelVersion` it reports */
  kernelVersion: string;
  /** the node's fake host root: a hostPath `/lib/modules` is `<hostRoot>/lib/modules` */
  hostRoot: string;
  /** the node's podman storage: `podman --root <root> --runroot <runroot> ps` shows its containers */
  storage: { root: string; runroot: string };
}

/** The fleet's registry (TLS from its own CA, htpasswd auth), which the real nodes pull from. */
export interface FleetRegistry {
  /** 127.0.0.1:PORT */
  host: string;
  /** CA certificate (PEM file) of the registry's TLS certificate */
  caFile: string;
  /** folder holding ca.crt (podman/skopeo --cert-dir) */
  certDir: string;
  username: string;
  password: string;
}

export interface FleetInfo {
  dir: string;
  hub: ClusterInfo;
  spokes: ClusterInfo[];
  /** present when the fleet runs real nodes */
  registry?: FleetRegistry;
}

declare module "vitest" {
  export interface ProvidedContext {
    fleet: FleetInfo;
  }
}
