// Objects shared by the hub's unit tests (validated through the real schemas).
import { managedClusterModuleSchema, type ManagedClusterModule } from "../shared/api/index.ts";
import { ManagedCluster, type ManagedClusterObject } from "../shared/ocm/index.ts";
import { KERNEL_VERSIONS_CLAIM } from "./names.ts";

export const DIGEST_A = `sha256:${"a".repeat(64)}`;
export const DIGEST_B = `sha256:${"b".repeat(64)}`;

export function testMcm(overrides: { name?: string; spokeNamespace?: string; selector?: Record<string, string>; moduleSpec?: unknown } = {}): ManagedClusterModule {
  return managedClusterModuleSchema.parse({
    apiVersion: "hub.kmm.sigs.x-k8s.io/v1beta1",
    kind: "ManagedClusterModule",
    metadata: { name: overrides.name ?? "kmod", uid: "0b5c8a2e-5b1a-4c2d-9f0e-6f1b2c3d4e5f", generation: 3 },
    spec: {
      spokeNamespace: overrides.spokeNamespace ?? "kmm-ns",
      selector: overrides.selector ?? { "wants-kmod": "true" },
      moduleSpec: overrides.moduleSpec ?? {
        selector: { "node-role.kubernetes.io/worker": "" },
        imageRepoSecret: { name: "pull" },
        moduleLoader: {
          container: {
            modprobe: { moduleName: "kmod" },
            inTreeModulesToRemove: ["intree"],
            build: { dockerfileConfigMap: { name: "dockerfile" } },
            sign: { keySecret: { name: "key" }, certSecret: { name: "cert" }, filesToSign: ["/opt/lib/modules/${KERNEL_FULL_VERSION}/kmod.ko"] },
            kernelMappings: [
              { literal: "6.1.0-18-amd64", containerImage: "registry.example.com/kmm/${MOD_NAMESPACE}-${MOD_NAME}:${KERNEL_FULL_VERSION}" },
              {
                regexp: "^5\\.14\\..*\\.el9\\.x86_64$",
                containerImage: "registry.example.com/kmm/kmod:el9-${KERNEL_XYZ}",
                registryTLS: { insecureSkipTLSVerify: true },
                inTreeModulesToRemove: ["other"],
                build: { dockerfileConfigMap: { name: "df-el9" } },
              },
              { regexp: "^4\\.18\\.", containerImage: `registry.example.com/kmm/kmod@${DIGEST_B}` },
            ],
          },
        },
      },
    },
  });
}

export function testCluster(name: string, labels: Record<string, string>, claim?: string): ManagedClusterObject {
  return ManagedCluster.parse({
    apiVersion: "cluster.open-cluster-management.io/v1",
    kind: "ManagedCluster",
    metadata: { name, labels },
    spec: { hubAcceptsClient: true },
    status: claim === undefined ? {} : { clusterClaims: [{ name: "id.k8s.io", value: name }, { name: KERNEL_VERSIONS_CLAIM, value: claim }] },
  });
}
