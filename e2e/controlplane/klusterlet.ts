// The work agent's identity on a spoke, as OCM's klusterlet operator sets it up: the ServiceAccount
// klusterlet-work-sa with the klusterlet's own RBAC, rendered from OCM's manifests in the Go module
// cache (manifests/klusterlet/{managed,management}/klusterlet-work-*.yaml), plus the aggregate
// ClusterRole the operator creates in code. The fleet's work agent runs with a token of that account,
// so a ManifestWork applies exactly what a real klusterlet's work agent may apply.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { KubernetesObject } from "@kubernetes/client-node";
import { parseKubeDocuments } from "../../shared/yaml/read.ts";
import { z } from "zod";
import type { KubeConnection } from "../../shared/kube/connection.ts";
import { RawClient } from "../../shared/kube/raw.ts";
import type { ControlPlaneManifest } from "./binaries.ts";
import type { LocalCluster } from "./cluster.ts";
import { applyObjects } from "./kube.ts";
import { writeKubeconfig } from "./pki.ts";

export const KLUSTERLET_NAME = "klusterlet";
export const WORK_SERVICE_ACCOUNT = "klusterlet-work-sa";
/** ClusterRoles with this label are aggregated into the work agent's aggregate ClusterRole (OCM klusterlet operator). */
export const AGGREGATE_TO_WORK_LABEL = "open-cluster-management.io/aggregate-to-work";
export const WORK_AGGREGATE_CLUSTERROLE = `open-cluster-management:${KLUSTERLET_NAME}-work:aggregate`;

const MANIFESTS = [
  "managed/klusterlet-work-serviceaccount.yaml",
  "managed/klusterlet-work-clusterrole.yaml",
  "managed/klusterlet-work-clusterrole-execution.yaml",
  "managed/klusterlet-work-clusterrolebinding.yaml",
  "managed/klusterlet-work-clusterrolebinding-aggregate.yaml",
  "managed/klusterlet-work-clusterrolebinding-execution-admin.yaml",
  "management/klusterlet-work-role.yaml",
  "management/klusterlet-work-rolebinding.yaml",
];

/**
 * Renders the klusterlet's manifest templates for a klusterlet without extra labels: `{{ if … }}` blocks
 * are dropped (no labels, no AWS IRSA), the names substituted. Throws on a template this does not know.
 */
export function renderKlusterletTemplate(text: string, values: Record<string, string>): string {
  const out: string[] = [];
  let skipping = 0;
  for (const line of text.split("\n")) {
    const t = line.trim();
    // Every condition here is false and every range empty for a klusterlet without labels.
    if (/^\{\{-?\s*(if|range)\b/.test(t)) {
      skipping++;
      continue;
    }
    if (/^\{\{-?\s*end\s*-?\}\}$/.test(t)) {
      if (skipping > 0) skipping--;
      continue;
    }
    if (skipping > 0) continue;
    const rendered = line.replace(/\{\{\s*\.(\w+)\s*\}\}/g, (_, key: string) => {
      const v = values[key];
      if (v === undefined) throw new Error(`klusterlet manifest: no value for {{ .${key} }}`);
      return v;
    });
    if (rendered.includes("{{")) throw new Error(`klusterlet manifest: template action not understood: ${t}`);
    out.push(rendered);
  }
  return out.join("\n");
}

/** The klusterlet's RBAC for its work agent in `namespace`, from OCM's manifests. */
export async function klusterletWorkRbac(m: ControlPlaneManifest, namespace: string): Promise<KubernetesObject[]> {
  const values = { KlusterletName: KLUSTERLET_NAME, WorkServiceAccount: WORK_SERVICE_ACCOUNT, KlusterletNamespace: namespace, AgentNamespace: namespace };
  const objects: KubernetesObject[] = [];
  for (const f of MANIFESTS) {
    if (!m.modules.ocm) throw new Error("the control plane build does not record the OCM module folder: run 'npm run controlplane:build'");
    const text = renderKlusterletTemplate(await readFile(join(m.modules.ocm, "manifests/klusterlet", f), "utf8"), values);
    for (const d of parseKubeDocuments(text)) {
      const o = d.toJS() as KubernetesObject | null;
      if (!o?.kind) continue;
      // An empty `labels:` block (no klusterlet labels) parses as null.
      const meta = o.metadata as { labels?: unknown } | undefined;
      if (meta?.labels === null) delete meta.labels;
      objects.push(o);
    }
  }
  // The operator creates this one in code (klusterlet_managed_reconcile.go, createAggregationRule).
  objects.push({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name: WORK_AGGREGATE_CLUSTERROLE },
    aggregationRule: { clusterRoleSelectors: [{ matchLabels: { [AGGREGATE_TO_WORK_LABEL]: "true" } }] },
    rules: [],
  } as KubernetesObject);
  return objects;
}

/**
 * The fleet's stand-in for the spoke edition's install: a ClusterRole aggregated into the work agent's
 * role that lets it manage Modules, so suites about the hub and the spoke find the rights an installed
 * spoke edition gives (policies/ delivers the same rule; e2e/policy.test.ts removes this one to prove it).
 */
export const FLEET_MODULES_CLUSTERROLE = "kmm-e2e-fleet:work-agent-modules";
export function fleetModulesRole(): KubernetesObject {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name: FLEET_MODULES_CLUSTERROLE, labels: { [AGGREGATE_TO_WORK_LABEL]: "true" } },
    rules: [{ apiGroups: ["kmm.sigs.x-k8s.io"], resources: ["modules"], verbs: ["create", "delete", "get", "list", "patch", "update", "watch"] }],
  } as KubernetesObject;
}

const tokenSchema = z.object({ status: z.object({ token: z.string().min(1) }) });

/**
 * Installs the klusterlet's work RBAC on the spoke and writes a kubeconfig with a token of its
 * ServiceAccount (valid `hours`, default a week: fleets are pruned after a day). Returns its path.
 */
export async function workAgentKubeconfig(spoke: LocalCluster, conn: KubeConnection, m: ControlPlaneManifest, namespace: string, path: string, hours = 168): Promise<string> {
  await applyObjects(conn, [...(await klusterletWorkRbac(m, namespace)), fleetModulesRole()]);
  const raw = new RawClient(conn);
  try {
    const res = await raw.request("POST", `/api/v1/namespaces/${namespace}/serviceaccounts/${WORK_SERVICE_ACCOUNT}/token`, {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: { expirationSeconds: hours * 3600 },
    });
    await writeKubeconfig(path, {
      cluster: spoke.info.name,
      server: spoke.info.server,
      caCert: spoke.pki.caCert,
      user: `system:serviceaccount:${namespace}:${WORK_SERVICE_ACCOUNT}`,
      token: tokenSchema.parse(res.body).status.token,
    });
  } finally {
    raw.close();
  }
  return path;
}
