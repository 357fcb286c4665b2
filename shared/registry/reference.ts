import { InvalidReferenceError } from "./errors.ts";

// Image references per the distribution grammar (github.com/distribution/reference):
//   reference := name [ ":" tag ] [ "@" digest ]
//   name      := [domain "/"] path-component ("/" path-component)*
// with Docker Hub normalisation as the Docker CLI and kubelet apply it.

export const DOCKER_HUB_DOMAIN = "docker.io";
/** Where Docker Hub's registry API actually lives. */
export const DOCKER_HUB_API_HOST = "registry-1.docker.io";
const LEGACY_DOCKER_HUB_DOMAIN = "index.docker.io";
const OFFICIAL_NAMESPACE = "library";
const NAME_TOTAL_LENGTH_MAX = 255;

const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const IPV6_HOST = /^\[[0-9a-fA-F:.]+\]$/;
const PORT = /^[0-9]+$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const SHA256_HEX = /^[a-f0-9]{64}$/;
const SHA512_HEX = /^[a-f0-9]{128}$/;

export interface ImageReference {
  /** host[:port] as written after normalisation (docker.io for Docker Hub). */
  readonly registry: string;
  /** Path inside the registry, e.g. library/busybox. */
  readonly repository: string;
  readonly tag: string | undefined;
  readonly digest: string | undefined;
}

function fail(input: string, reason: string): never {
  throw new InvalidReferenceError(input, reason);
}

function validHost(host: string): boolean {
  if (IPV6_HOST.test(host)) return true;
  return host.split(".").every((c) => DOMAIN_COMPONENT.test(c));
}

function validDomain(domain: string): boolean {
  const m = /^(\[[^\]]+\]|[^:]+)(?::([^:]*))?$/.exec(domain);
  if (!m?.[1]) return false;
  if (m[2] !== undefined && !PORT.test(m[2])) return false;
  return validHost(m[1]);
}

/** Validates a digest string ("sha256:<64 hex>"), throwing InvalidReferenceError. */
export function validateDigest(digest: string, input = digest): string {
  if (!DIGEST.test(digest)) fail(input, `digest ${JSON.stringify(digest)} is not algorithm:hex`);
  const [algorithm, encoded = ""] = digest.split(":", 2);
  if (algorithm === "sha256" && !SHA256_HEX.test(encoded)) {
    fail(input, "a sha256 digest is 64 lowercase hexadecimal characters");
  }
  if (algorithm === "sha512" && !SHA512_HEX.test(encoded)) {
    fail(input, "a sha512 digest is 128 lowercase hexadecimal characters");
  }
  if (algorithm !== "sha256" && algorithm !== "sha512") {
    fail(input, `digest algorithm ${JSON.stringify(algorithm)} is not supported (sha256, sha512)`);
  }
  return digest;
}

/**
 * Parses an image reference, normalising Docker Hub names
 * ("busybox" → docker.io/library/busybox). A reference with neither tag nor
 * digest gets the tag "latest", as every container runtime does.
 */
export function parseReference(input: string): ImageReference {
  if (input.length === 0) fail(input, "it is empty");
  if (input !== input.trim()) fail(input, "it has leading or trailing whitespace");

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = validateDigest(rest.slice(at + 1), input);
    rest = rest.slice(0, at);
  }

  // A tag colon is one after the last slash; earlier colons belong to a port.
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.indexOf(":", lastSlash + 1);
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) {
      fail(input, `tag ${JSON.stringify(tag)} must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`);
    }
  }
  if (rest.length === 0) fail(input, "the repository name is empty");

  let domain: string;
  let path: string;
  const slash = rest.indexOf("/");
  const first = slash >= 0 ? rest.slice(0, slash) : "";
  if (slash >= 0 && (first.includes(".") || first.includes(":") || first === "localhost" || first !== first.toLowerCase())) {
    domain = first;
    path = rest.slice(slash + 1);
    if (!validDomain(domain)) fail(input, `registry host ${JSON.stringify(domain)} is not a valid host[:port]`);
  } else {
    domain = DOCKER_HUB_DOMAIN;
    path = rest;
  }
  if (domain === LEGACY_DOCKER_HUB_DOMAIN) domain = DOCKER_HUB_DOMAIN;
  if (domain === DOCKER_HUB_DOMAIN && !path.includes("/")) path = `${OFFICIAL_NAMESPACE}/${path}`;

  if (path !== path.toLowerCase() && path.split("/").every((c) => PATH_COMPONENT.test(c.toLowerCase()))) {
    fail(input, "the repository name must be lowercase");
  }
  for (const component of path.split("/")) {
    if (!PATH_COMPONENT.test(component)) {
      fail(
        input,
        `path component ${JSON.stringify(component)} must be lowercase letters and digits separated by ".", "_", "__" or "-"`,
      );
    }
  }
  if (domain.length + 1 + path.length > NAME_TOTAL_LENGTH_MAX) {
    fail(input, `the repository name is longer than ${NAME_TOTAL_LENGTH_MAX} characters`);
  }
  if (tag === undefined && digest === undefined) tag = "latest";
  return { registry: domain, repository: path, tag, digest };
}

/** The fully qualified name without tag or digest: registry/repository. */
export function repositoryName(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}`;
}

/** The canonical string: registry/repository[:tag][@digest]. */
export function formatReference(ref: ImageReference): string {
  let s = repositoryName(ref);
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** The reference pinned to a digest: registry/repository@digest (the tag is dropped). */
export function pinnedReference(ref: ImageReference, digest: string): string {
  return `${repositoryName(ref)}@${digest}`;
}

/** What goes after /manifests/ in the API: the digest when there is one, else the tag. */
export function manifestIdentifier(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? "latest";
}

/** Host (and port) the registry API is served from. */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB_DOMAIN ? DOCKER_HUB_API_HOST : registry;
}

/** The same repository with another tag (used by push, copies between tags). */
export function withTag(ref: ImageReference, tag: string): ImageReference {
  return parseReference(`${repositoryName(ref)}:${tag}`);
}
