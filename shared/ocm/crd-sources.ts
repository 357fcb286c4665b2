// Where the real OCM CRDs live: published Go modules, read from the Go module cache (never copied into
// this repository). Used by the schema conformance test and available to the e2e control plane.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { z } from "zod";

const run = promisify(execFile);

export interface CrdSource {
  kind: string;
  module: string;
  version: string;
  /** Path of the CRD YAML inside the module. */
  path: string;
}

const OCM_API = { module: "open-cluster-management.io/api", version: "v1.2.0" };
// The same versions the e2e control plane installs (e2e/controlplane/build.sh); the proxy does not list
// versions for these modules, so they are pinned exactly.
const PROPAGATOR = { module: "open-cluster-management.io/governance-policy-propagator", version: "v0.18.0" };
const CONFIG_POLICY = { module: "open-cluster-management.io/config-policy-controller", version: "v0.18.0" };
const SUBSCRIPTION = { module: "open-cluster-management.io/multicloud-operators-subscription", version: "v0.16.0" };

export const OCM_CRD_SOURCES: readonly CrdSource[] = [
  { kind: "ManifestWork", ...OCM_API, path: "work/v1/0000_00_work.open-cluster-management.io_manifestworks.crd.yaml" },
  { kind: "ManagedCluster", ...OCM_API, path: "cluster/v1/0000_00_clusters.open-cluster-management.io_managedclusters.crd.yaml" },
  { kind: "ClusterClaim", ...OCM_API, path: "cluster/v1alpha1/0000_02_clusters.open-cluster-management.io_clusterclaims.crd.yaml" },
  { kind: "Placement", ...OCM_API, path: "cluster/v1beta1/0000_02_clusters.open-cluster-management.io_placements.crd.yaml" },
  { kind: "PlacementDecision", ...OCM_API, path: "cluster/v1beta1/0000_03_clusters.open-cluster-management.io_placementdecisions.crd.yaml" },
  { kind: "Policy", ...PROPAGATOR, path: "deploy/crds/policy.open-cluster-management.io_policies.yaml" },
  { kind: "PlacementBinding", ...PROPAGATOR, path: "deploy/crds/policy.open-cluster-management.io_placementbindings.yaml" },
  { kind: "ConfigurationPolicy", ...CONFIG_POLICY, path: "deploy/crds/policy.open-cluster-management.io_configurationpolicies.yaml" },
  { kind: "PlacementRule", ...SUBSCRIPTION, path: "deploy/hub-common/apps.open-cluster-management.io_placementrules_crd.yaml" },
];

export class GoModuleUnavailableError extends Error {
  override readonly name = "GoModuleUnavailableError";
}

const downloadInfoSchema = z.object({ Dir: z.string().min(1) });

/**
 * Absolute path of a CRD file, downloading its module into the Go module cache if needed
 * (GOTOOLCHAIN=local so an old pinned toolchain never triggers a toolchain download).
 */
export async function crdPath(source: CrdSource): Promise<string> {
  let stdout: string;
  try {
    ({ stdout } = await run("go", ["mod", "download", "-json", `${source.module}@${source.version}`], {
      env: { ...process.env, GOTOOLCHAIN: "local", GOFLAGS: "-mod=mod" },
      cwd: process.env.TMPDIR ?? "/tmp",
    }));
  } catch (e) {
    const detail = e instanceof Error ? e.message : String(e);
    throw new GoModuleUnavailableError(
      `cannot get ${source.module}@${source.version} from the Go module proxy (needed for the ${source.kind} CRD): ${detail}`,
    );
  }
  return join(downloadInfoSchema.parse(JSON.parse(stdout)).Dir, source.path);
}
