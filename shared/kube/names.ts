// Kubernetes' rules for object names, label keys and label values (k8s.io/apimachinery
// pkg/util/validation), and the one way this project shortens a derived name that could break them:
// a readable prefix plus a hash of the whole input, so two different inputs never share a name.
import { createHash } from "node:crypto";

/** Label values, label key names (after the slash) and DNS labels stop at 63 characters. */
export const MAX_LABEL_LENGTH = 63;
/** DNS subdomains (most object names, label key prefixes) stop at 253 characters. */
export const MAX_SUBDOMAIN_LENGTH = 253;

const DNS_LABEL = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)?$/;
const QUALIFIED_NAME_PART = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;

/** RFC 1123 label (Namespace, ManagedCluster and Service names): `IsDNS1123Label`. */
export function isDnsLabel(s: string): boolean {
  return s.length <= MAX_LABEL_LENGTH && DNS_LABEL.test(s);
}

/** RFC 1123 subdomain (DaemonSet, Job, ManifestWork, Event names): `IsDNS1123Subdomain`. */
export function isDnsSubdomain(s: string): boolean {
  return s.length <= MAX_SUBDOMAIN_LENGTH && DNS_SUBDOMAIN.test(s);
}

/** A label value (empty allowed): `IsValidLabelValue`. */
export function isLabelValue(s: string): boolean {
  return s.length <= MAX_LABEL_LENGTH && LABEL_VALUE.test(s);
}

/** A label or annotation key `[prefix/]name`: `IsQualifiedName`. */
export function isQualifiedName(key: string): boolean {
  const slash = key.indexOf("/");
  const name = slash === -1 ? key : key.slice(slash + 1);
  const prefix = slash === -1 ? undefined : key.slice(0, slash);
  if (prefix !== undefined && (prefix === "" || !isDnsSubdomain(prefix))) return false;
  return name.length <= MAX_LABEL_LENGTH && QUALIFIED_NAME_PART.test(name);
}

/** Hex SHA-256 of `text`, cut to `length` characters. */
export function shortHash(text: string, length = 10): string {
  return createHash("sha256").update(text).digest("hex").slice(0, length);
}

/**
 * `name` when it is at most `max` characters; otherwise its first characters, "-" and a 10-character
 * hash of the whole name (so distinct names stay distinct), with the cut never leaving a trailing
 * "." or "-". Callers pass a name made of valid characters; the result keeps them.
 */
export function boundedName(name: string, max: number): string {
  if (name.length <= max) return name;
  const hash = shortHash(name, 10);
  const head = name.slice(0, max - hash.length - 1).replace(/[^A-Za-z0-9]+$/, "");
  return head === "" ? hash : `${head}-${hash}`;
}
