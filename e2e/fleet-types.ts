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
}

export interface FleetInfo {
  dir: string;
  hub: ClusterInfo;
  spokes: ClusterInfo[];
}

declare module "vitest" {
  export interface ProvidedContext {
    fleet: FleetInfo;
  }
}
