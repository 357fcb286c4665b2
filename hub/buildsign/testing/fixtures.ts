// ManagedClusterModules and resolved mappings shared by the unit tests of hub/buildsign (validated
// through the real schema): one place for the MCM shape the Job builders, decisions and progress
// are tested with. Not part of the hub build (testing/ is excluded).
import { managedClusterModuleSchema, type ManagedClusterModule } from "../../../shared/api/index.ts";
import { resolveKernelMapping, type ResolvedKernelMapping } from "../../../shared/kernel-mapping/kernel-mapping.ts";
import { moduleContext } from "../../manifestwork.ts";

export const KERNEL = "6.1.0-18-amd64";
/** The tagged image every fixture builds or signs, one per kernel. */
export const IMAGE = "registry.example.com/kmm/kmod:${KERNEL_FULL_VERSION}";
/** A sign section with the key and cert Secrets `key` and `cert`. */
export const SIGN = { keySecret: { name: "key" }, certSecret: { name: "cert" }, filesToSign: ["/opt/lib/modules/${KERNEL_FULL_VERSION}/kmod.ko"] };

export interface BuildSignMcm {
  /** metadata.name; the uid is `uid-<name>`. */
  name?: string;
  /** moduleLoader.container fields over `modprobe: {moduleName: kmod}`. */
  container: Record<string, unknown>;
  /** moduleSpec fields over `selector: {}` and the moduleLoader. */
  moduleSpec?: Record<string, unknown>;
  /** spec.selector (the ManagedCluster selector); `{}` by default. */
  selector?: Record<string, string>;
}

/** An MCM (spokeNamespace kmm-ns) whose container is `container`. */
export function buildSignMcm(o: BuildSignMcm): ManagedClusterModule {
  const name = o.name ?? "kmod";
  return managedClusterModuleSchema.parse({
    apiVersion: "hub.kmm.sigs.x-k8s.io/v1beta1",
    kind: "ManagedClusterModule",
    metadata: { name, uid: `uid-${name}` },
    spec: {
      spokeNamespace: "kmm-ns",
      selector: o.selector ?? {},
      moduleSpec: { selector: {}, moduleLoader: { container: { modprobe: { moduleName: "kmod" }, ...o.container } }, ...o.moduleSpec },
    },
  });
}

/** The MCM's mapping resolved for `kernel`; throws when none matches. */
export function resolvedMapping(m: ManagedClusterModule, kernel = KERNEL): ResolvedKernelMapping {
  const r = resolveKernelMapping(m.spec.moduleSpec, kernel, moduleContext(m));
  if (!r.found) throw new Error(r.reason);
  return r.mapping;
}
