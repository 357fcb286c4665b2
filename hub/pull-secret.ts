// The pull secret an MCM names in imageRepoSecret, read from the hub namespace's cache. A missing
// Secret, one of a type that holds no registry credentials, or one that cannot be read is said in
// an Event; the images are then looked up anonymously (upstream KMM behaves the same, silently).
import type { ManagedClusterModule } from "../shared/api/index.ts";
import { Keychain, PullSecretError } from "../shared/registry/index.ts";
import { DOCKER_CFG_TYPE, DOCKER_CONFIG_JSON_TYPE, type PullSecret } from "../shared/registry/keychain.ts";

export interface PullSecretResult {
  keychain?: Keychain;
  /** Why the secret is not used: Event reason and message. */
  problem?: { reason: "PullSecretMissing" | "PullSecretInvalid"; message: string };
}

/**
 * The keychain for an MCM's imageRepoSecret. `lookup` reads the hub namespace's Secret cache.
 * Never throws.
 */
export function pullSecretKeychain(mcm: ManagedClusterModule, namespace: string, lookup: (name: string) => PullSecret | undefined): PullSecretResult {
  const ref = mcm.spec.moduleSpec.imageRepoSecret?.name;
  if (ref === undefined || ref === "") return {};
  const secret = lookup(ref);
  if (!secret) {
    return { problem: { reason: "PullSecretMissing", message: `imageRepoSecret ${ref} does not exist in the hub namespace ${namespace}; images are looked up anonymously` } };
  }
  if (secret.type !== DOCKER_CONFIG_JSON_TYPE && secret.type !== DOCKER_CFG_TYPE) {
    return {
      problem: {
        reason: "PullSecretInvalid",
        message: `imageRepoSecret ${namespace}/${ref} is of type ${secret.type ?? "Opaque"}, not ${DOCKER_CONFIG_JSON_TYPE} or ${DOCKER_CFG_TYPE}, so it holds no registry credentials; images are looked up anonymously`,
      },
    };
  }
  try {
    return { keychain: Keychain.fromSecrets([secret]) };
  } catch (err: unknown) {
    const why = err instanceof PullSecretError ? err.message : String(err);
    return { problem: { reason: "PullSecretInvalid", message: `imageRepoSecret ${namespace}/${ref} cannot be used: ${why}; images are looked up anonymously` } };
  }
}
