// WWW-Authenticate challenges (RFC 7235) and the distribution token flow's
// scopes. The HTTP part of fetching tokens lives in client.ts beside the
// other requests so it shares retries, TLS and counters.

export type Challenge =
  | { scheme: "basic"; params: Record<string, string> }
  | { scheme: "bearer"; params: Record<string, string> }
  | { scheme: "other"; name: string; params: Record<string, string> };

/**
 * Parses the first challenge of a WWW-Authenticate header:
 *   Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull"
 * Quoted values may hold commas and escaped quotes.
 */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)\s*(.*)$/s.exec(header);
  if (!m?.[1]) return undefined;
  const name = m[1];
  const params: Record<string, string> = {};
  const re = /\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*(?:,|$)/gy;
  const rest = m[2] ?? "";
  let match: RegExpExecArray | null;
  while ((match = re.exec(rest)) !== null) {
    const key = (match[1] ?? "").toLowerCase();
    const value = match[2] !== undefined ? match[2].replace(/\\(.)/g, "$1") : (match[3] ?? "");
    params[key] = value;
    if (re.lastIndex >= rest.length) break;
  }
  const lower = name.toLowerCase();
  if (lower === "basic") return { scheme: "basic", params };
  if (lower === "bearer") return { scheme: "bearer", params };
  return { scheme: "other", name, params };
}

/** repository:<name>:<actions> as the token service expects it. */
export function repositoryScope(repository: string, actions: readonly string[]): string {
  return `repository:${repository}:${[...actions].sort().join(",")}`;
}

/**
 * Merges scopes, joining the actions of scopes on the same resource, so a
 * token request asks for everything a request needs in one go.
 */
export function mergeScopes(scopes: readonly string[]): string[] {
  const byResource = new Map<string, Set<string>>();
  for (const scope of scopes.flatMap((s) => s.split(" ")).filter((s) => s.length > 0)) {
    const idx = scope.lastIndexOf(":");
    const resource = idx > 0 ? scope.slice(0, idx) : scope;
    const actions = idx > 0 ? scope.slice(idx + 1).split(",") : [];
    const set = byResource.get(resource) ?? new Set<string>();
    for (const a of actions) if (a) set.add(a);
    byResource.set(resource, set);
  }
  return [...byResource.entries()]
    .map(([resource, actions]) => (actions.size > 0 ? `${resource}:${[...actions].sort().join(",")}` : resource))
    .sort();
}

/**
 * The realm is where credentials are sent, so it must be HTTPS; plain HTTP
 * only when the registry itself is allowed to be insecure.
 */
export function validateRealm(realm: string, allowHttp: boolean): URL | string {
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    return `token realm ${JSON.stringify(realm)} is not a URL`;
  }
  if (url.protocol === "https:") return url;
  if (url.protocol === "http:" && allowHttp) return url;
  if (url.protocol === "http:") {
    return `token realm ${url.origin} is plain HTTP; set registryTLS.insecure to allow it`;
  }
  return `token realm ${JSON.stringify(realm)} has unsupported scheme ${url.protocol}`;
}
