// Where build.sh put the control-plane binaries and which Go module folders hold the
// third-party CRDs and kwok stages (read at run time, never copied into the repo).
import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const cacheDir = process.env.KMM_CACHE_DIR ?? join(repoRoot, ".cache");

const manifestSchema = z.object({
  kubernetesVersion: z.string(),
  bin: z.object({
    kcp: z.string(),
    registration: z.string(),
    work: z.string(),
    kwok: z.string(),
    // The policy framework (startFleet({ policy: true })); absent from builds without it.
    placement: z.string().optional(),
    policyPropagator: z.string().optional(),
    configPolicyController: z.string().optional(),
  }),
  modules: z.object({
    ocmApi: z.string(),
    ocm: z.string().optional(),
    kwok: z.string(),
    policyPropagator: z.string(),
    configPolicyController: z.string(),
    subscription: z.string(),
  }),
});
export type ControlPlaneManifest = z.infer<typeof manifestSchema>;

export async function loadManifest(): Promise<ControlPlaneManifest> {
  const file = join(cacheDir, "controlplane", "current", "manifest.json");
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    throw new Error(`the local control plane is not built (${file} is missing): run 'npm run controlplane:build'`);
  }
  const parsed = manifestSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`the local control plane build is out of date (${file}: ${parsed.error.issues.map((i) => i.path.join(".")).join(", ")}): run 'npm run controlplane:build'`);
  return parsed.data;
}

/** The CRD files a hub needs (OCM cluster/work/addon, policy framework, PlacementRule). */
export function hubCrdFiles(m: ControlPlaneManifest): string[] {
  const api = m.modules.ocmApi;
  return [
    join(api, "cluster/v1/0000_00_clusters.open-cluster-management.io_managedclusters.crd.yaml"),
    join(api, "cluster/v1beta2/0000_00_clusters.open-cluster-management.io_managedclustersets.crd.yaml"),
    join(api, "cluster/v1beta2/0000_01_clusters.open-cluster-management.io_managedclustersetbindings.crd.yaml"),
    join(api, "cluster/v1beta1/0000_02_clusters.open-cluster-management.io_placements.crd.yaml"),
    join(api, "cluster/v1beta1/0000_03_clusters.open-cluster-management.io_placementdecisions.crd.yaml"),
    join(api, "cluster/v1alpha1/0000_05_clusters.open-cluster-management.io_addonplacementscores.crd.yaml"),
    join(api, "work/v1/0000_00_work.open-cluster-management.io_manifestworks.crd.yaml"),
    join(api, "work/v1alpha1/0000_00_work.open-cluster-management.io_manifestworkreplicasets.crd.yaml"),
    join(api, "addon/v1beta1/0000_00_addon.open-cluster-management.io_clustermanagementaddons.crd.yaml"),
    join(api, "addon/v1beta1/0000_01_addon.open-cluster-management.io_managedclusteraddons.crd.yaml"),
    join(api, "addon/v1beta1/0000_02_addon.open-cluster-management.io_addondeploymentconfigs.crd.yaml"),
    join(api, "addon/v1alpha1/0000_03_addon.open-cluster-management.io_addontemplates.crd.yaml"),
    join(m.modules.policyPropagator, "deploy/crds/policy.open-cluster-management.io_policies.yaml"),
    join(m.modules.policyPropagator, "deploy/crds/policy.open-cluster-management.io_placementbindings.yaml"),
    join(m.modules.policyPropagator, "deploy/crds/policy.open-cluster-management.io_policysets.yaml"),
    join(m.modules.configPolicyController, "deploy/crds/policy.open-cluster-management.io_configurationpolicies.yaml"),
    join(m.modules.subscription, "deploy/hub-common/apps.open-cluster-management.io_placementrules_crd.yaml"),
  ];
}

/** CRDs the policy propagator watches on the hub besides those of hubCrdFiles. */
export function policyHubCrdFiles(m: ControlPlaneManifest): string[] {
  return [join(m.modules.policyPropagator, "deploy/crds/policy.open-cluster-management.io_policyautomations.yaml")];
}

/** CRDs of the policy framework on a managed cluster: replicated Policies and ConfigurationPolicies. */
export function policySpokeCrdFiles(m: ControlPlaneManifest): string[] {
  return [
    join(m.modules.policyPropagator, "deploy/crds/policy.open-cluster-management.io_policies.yaml"),
    join(m.modules.configPolicyController, "deploy/crds/policy.open-cluster-management.io_configurationpolicies.yaml"),
  ];
}

/** The CRD files a spoke needs (ClusterClaim, AppliedManifestWork). */
export function spokeCrdFiles(m: ControlPlaneManifest): string[] {
  const api = m.modules.ocmApi;
  return [
    join(api, "cluster/v1alpha1/0000_02_clusters.open-cluster-management.io_clusterclaims.crd.yaml"),
    join(api, "work/v1/0000_01_work.open-cluster-management.io_appliedmanifestworks.crd.yaml"),
  ];
}

export function kwokStageFiles(m: ControlPlaneManifest): string[] {
  const s = join(m.modules.kwok, "kustomize/stage");
  return [
    join(s, "node/fast/node-initialize.yaml"),
    join(s, "node/heartbeat/node-heartbeat.yaml"),
    join(s, "pod/fast/pod-ready.yaml"),
    join(s, "pod/fast/pod-complete.yaml"),
    join(s, "pod/fast/pod-delete.yaml"),
  ];
}
