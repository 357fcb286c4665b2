import { z } from "zod";
import { DOCKER_HUB_DOMAIN, repositoryName, type ImageReference } from "./reference.ts";

// Registry credentials from Kubernetes pull secrets, matched against images
// the way the kubelet's credentialprovider keyring does:
//  - a key is host[:port][/path], any http(s):// scheme and a /v1/ or /v2/
//    path prefix dropped;
//  - a key matches an image when the port is equal, the host has as many
//    dot-separated labels and each label matches as a filepath.Match glob
//    ("*.example.com"), and the key's path is a string prefix of the image path;
//  - keys are tried in reverse lexical order (more specific paths first);
//  - Docker Hub images fall back to credentials stored under index.docker.io.

export const DOCKER_CONFIG_JSON_TYPE = "kubernetes.io/dockerconfigjson";
export const DOCKER_CFG_TYPE = "kubernetes.io/dockercfg";
const DOCKER_CONFIG_JSON_KEY = ".dockerconfigjson";
const DOCKER_CFG_KEY = ".dockercfg";
const DOCKER_HUB_KEYRING_HOST = "index.docker.io";

export class PullSecretError extends Error {
  override readonly name = "PullSecretError";
}

/** The parts of a core/v1 Secret the keychain reads (data values are base64). */
export const PullSecretSchema = z.looseObject({
  metadata: z.looseObject({ name: z.string().optional(), namespace: z.string().optional() }).optional(),
  type: z.string().optional(),
  data: z.record(z.string(), z.string()).optional(),
});
export type PullSecret = z.infer<typeof PullSecretSchema>;

const DockerConfigEntrySchema = z.looseObject({
  auth: z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  email: z.string().optional(),
});
const DockerConfigSchema = z.record(z.string(), DockerConfigEntrySchema);
const DockerConfigJsonSchema = z.looseObject({ auths: DockerConfigSchema });

export const CredentialSchema = z.object({ username: z.string(), password: z.string() });
export type Credential = z.infer<typeof CredentialSchema>;

function secretName(secret: PullSecret): string {
  const ns = secret.metadata?.namespace;
  const name = secret.metadata?.name ?? "<unnamed>";
  return ns ? `${ns}/${name}` : name;
}

function decodeEntry(entry: z.infer<typeof DockerConfigEntrySchema>, where: string): Credential {
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) throw new PullSecretError(`${where}: "auth" does not decode to username:password`);
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return { username: entry.username ?? "", password: entry.password ?? "" };
}

interface ParsedKey {
  hostLabels: string[];
  port: string;
  path: string;
}

/** Splits a scheme-less host[:port][/path] as Go's url.Parse("https://"+s) would. */
function splitLocation(location: string): ParsedKey | undefined {
  const slash = location.indexOf("/");
  const hostPort = slash >= 0 ? location.slice(0, slash) : location;
  const path = slash >= 0 ? location.slice(slash) : "";
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(hostPort);
  if (!m) return undefined;
  return { hostLabels: (m[1] ?? "").split("."), port: m[2] ?? "", path };
}

function globToRegExp(glob: string): RegExp | undefined {
  let re = "^";
  for (let i = 0; i < glob.length; i++) {
    const c = glob.charAt(i);
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "\\") {
      i++;
      if (i >= glob.length) return undefined;
      re += glob.charAt(i).replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
    } else if (c === "[") {
      const end = glob.indexOf("]", i + 2);
      if (end < 0) return undefined;
      let cls = glob.slice(i + 1, end);
      if (cls.startsWith("^")) cls = `^${cls.slice(1).replace(/\\/g, "\\\\")}`;
      else cls = cls.replace(/\\/g, "\\\\");
      re += `[${cls}]`;
      i = end;
    } else re += c.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
  }
  try {
    return new RegExp(`${re}$`);
  } catch {
    return undefined;
  }
}

/** Exported for tests: does keyring key `glob` match the image location `target`? */
export function keyMatches(glob: string, target: string): boolean {
  const g = splitLocation(glob);
  const t = splitLocation(target);
  if (!g || !t) return false;
  if (g.port !== t.port) return false;
  if (g.hostLabels.length !== t.hostLabels.length) return false;
  if (!t.path.startsWith(g.path)) return false;
  return g.hostLabels.every((label, i) => globToRegExp(label)?.test(t.hostLabels[i] ?? "") ?? false);
}

/** Turns a dockercfg key (maybe a URL) into the keyring's host[:port][/path] form. */
function normaliseKey(location: string): string | undefined {
  const withScheme = /^https?:\/\//.test(location) ? location : `https://${location}`;
  const m = /^https?:\/\/([^/?#]*)([^?#]*)/.exec(withScheme);
  if (!m?.[1]) return undefined;
  let path = m[2] ?? "";
  if (path.startsWith("/v2/") || path.startsWith("/v1/")) path = path.slice(3);
  return path.length > 0 && path !== "/" ? `${m[1]}${path}` : m[1];
}

export class Keychain {
  private readonly creds = new Map<string, Credential[]>();
  private index: string[] = [];

  /** An empty keychain: every image is pulled anonymously. */
  static anonymous(): Keychain {
    return new Keychain();
  }

  /** Builds a keychain from pull secrets; secrets of other types are ignored, as the kubelet does. */
  static fromSecrets(secrets: readonly unknown[]): Keychain {
    const keychain = new Keychain();
    for (const raw of secrets) {
      const parsed = PullSecretSchema.safeParse(raw);
      if (!parsed.success) throw new PullSecretError(`pull secret is not a Secret: ${parsed.error.message}`);
      keychain.addSecret(parsed.data);
    }
    return keychain;
  }

  /**
   * Builds a keychain from a docker config file's text: `{"auths": {...}}` (config.json, a
   * mounted .dockerconfigjson) or the legacy .dockercfg map. `where` names the file in errors.
   * Throws PullSecretError when the text is not such a document.
   */
  static fromDockerConfig(text: string, where: string): Keychain {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new PullSecretError(`${where}: not JSON`);
    }
    const json = DockerConfigJsonSchema.safeParse(value);
    const config = json.success ? json.data.auths : DockerConfigSchema.safeParse(value).data;
    if (config === undefined) throw new PullSecretError(`${where}: neither a docker config.json ({"auths": {…}}) nor a .dockercfg`);
    const keychain = new Keychain();
    for (const [location, entry] of Object.entries(config)) keychain.add(location, decodeEntry(entry, `${where}, registry ${location}`));
    return keychain;
  }

  addSecret(secret: PullSecret): void {
    const where = `pull secret ${secretName(secret)}`;
    let config: z.infer<typeof DockerConfigSchema>;
    if (secret.type === DOCKER_CONFIG_JSON_TYPE) {
      const data = secret.data?.[DOCKER_CONFIG_JSON_KEY];
      if (!data) throw new PullSecretError(`${where}: type ${secret.type} but no ${DOCKER_CONFIG_JSON_KEY} key`);
      config = parseJson(DockerConfigJsonSchema, data, where).auths;
    } else if (secret.type === DOCKER_CFG_TYPE) {
      const data = secret.data?.[DOCKER_CFG_KEY];
      if (!data) throw new PullSecretError(`${where}: type ${secret.type} but no ${DOCKER_CFG_KEY} key`);
      config = parseJson(DockerConfigSchema, data, where);
    } else {
      return;
    }
    for (const [location, entry] of Object.entries(config)) {
      this.add(location, decodeEntry(entry, `${where}, registry ${location}`));
    }
  }

  add(location: string, credential: Credential): void {
    const key = normaliseKey(location);
    if (key === undefined) return;
    const list = this.creds.get(key) ?? [];
    list.push(credential);
    this.creds.set(key, list);
    this.index = [...this.creds.keys()].sort().reverse();
  }

  /** Every matching credential, most specific first (the kubelet tries them in order). */
  lookup(ref: ImageReference): Credential[] {
    const target = repositoryName(ref);
    const found = this.index.filter((k) => keyMatches(k, target)).flatMap((k) => this.creds.get(k) ?? []);
    if (found.length > 0) return found;
    if (ref.registry === DOCKER_HUB_DOMAIN) return this.creds.get(DOCKER_HUB_KEYRING_HOST) ?? [];
    return [];
  }

  /** The credential to use for `ref`, or undefined for anonymous access. */
  resolve(ref: ImageReference): Credential | undefined {
    return this.lookup(ref)[0];
  }
}

function parseJson<T extends z.ZodType>(schema: T, base64: string, where: string): z.infer<T> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(base64, "base64").toString("utf8"));
  } catch {
    throw new PullSecretError(`${where}: data is not base64-encoded JSON`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new PullSecretError(`${where}: ${parsed.error.issues[0]?.message ?? "invalid"}`);
  return parsed.data;
}
