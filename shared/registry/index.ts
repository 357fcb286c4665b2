// The OCI registry client's public surface.
export { RegistryClient, sha256, type CallOptions, type ClientOptions, type FetchedManifest } from "./client.ts";
export { DigestCache, type DigestCacheOptions } from "./digest-cache.ts";
export {
  DigestMismatchError,
  ImageNotFoundError,
  InvalidReferenceError,
  RegistryAuthError,
  RegistryError,
  RegistryUnreachableError,
  UnsafeLayerError,
} from "./errors.ts";
export { extractLayer, decompressorFor, UnsupportedLayerError } from "./extract.ts";
export { Keychain, PullSecretError, type Credential } from "./keychain.ts";
export { pullImage, type PullOptions, type PullResult } from "./pull.ts";
export { buildLayer, layerFromTar, pushImage, pushIndex, imageDocuments, type Layer, type ImageToPush } from "./push.ts";
export {
  formatReference,
  parseReference,
  pinnedReference,
  repositoryName,
  type ImageReference,
} from "./reference.ts";
export { MediaType, RegistryTLSSchema, type RegistryTLS } from "./schemas.ts";
export { createTar, readTar } from "./tar.ts";
