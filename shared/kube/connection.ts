// How to reach one API server, loaded from a kubeconfig or from a pod's service account, without
// @kubernetes/client-node: importing it costs ~80 MiB of RSS (its whole generated API), and all we
// need from a kubeconfig is a URL, TLS material and a bearer token or client certificate.
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { delimiter, dirname, isAbsolute, join, resolve } from "node:path";
import { z } from "zod";
import { parseKubeYaml } from "../yaml/read.ts";

export class KubeconfigError extends Error {
  override readonly name: string = "KubeconfigError";
}

/** A kubeconfig entry uses a feature this operator does not implement. */
export class UnsupportedKubeconfigError extends KubeconfigError {
  override readonly name: string = "UnsupportedKubeconfigError";
}

/** A user entry authenticates in a way this operator does not implement. */
export class UnsupportedAuthError extends UnsupportedKubeconfigError {
  override readonly name: string = "UnsupportedAuthError";
}

/** A context, cluster or user named in the kubeconfig is not defined there. */
export class MissingKubeconfigEntryError extends KubeconfigError {
  override readonly name: string = "MissingKubeconfigEntryError";
  readonly entry: "context" | "cluster" | "user";
  readonly entryName: string;
  constructor(path: string, entry: "context" | "cluster" | "user", entryName: string) {
    super(`kubeconfig ${path}: ${entry} "${entryName}" is not defined in its ${entry === "context" ? "contexts" : `${entry}s`}`);
    this.entry = entry;
    this.entryName = entryName;
  }
}

/** The bearer token file cannot be read and no earlier read left a token to fall back on. */
export class TokenFileError extends KubeconfigError {
  override readonly name: string = "TokenFileError";
  readonly file: string;
  constructor(file: string, cause: unknown) {
    super(`cannot read the bearer token file ${file}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.file = file;
  }
}

export class InClusterConfigError extends Error {
  override readonly name: string = "InClusterConfigError";
}

export class NoConnectionError extends Error {
  override readonly name: string = "NoConnectionError";
}

export interface KubeConnectionOptions {
  /** https://host:port (or http:// for a plain local server) */
  server: string;
  /** PEM of the CA(s) trusted for the API server; the system roots when unset */
  ca?: string | undefined;
  /** PEM client certificate and key (x509 authentication) */
  cert?: string | undefined;
  key?: string | undefined;
  insecureSkipTlsVerify?: boolean | undefined;
  /** name checked against the server certificate instead of the URL's host */
  tlsServerName?: string | undefined;
  /** a static bearer token */
  token?: string | undefined;
  /** a file holding the bearer token, re-read because bound ServiceAccount tokens rotate */
  tokenFile?: string | undefined;
  /** namespace for objects that name none; "default" when unset */
  namespace?: string | undefined;
}

/** Re-read a token file at most this often (kubelet rotates projected tokens well before expiry). */
const TOKEN_FILE_REFRESH_MS = 60_000;

/** Everything needed to talk to one API server. Immutable apart from the cached token. */
export class KubeConnection {
  readonly server: string;
  readonly ca: string | undefined;
  readonly cert: string | undefined;
  readonly key: string | undefined;
  readonly insecureSkipTlsVerify: boolean;
  readonly tlsServerName: string | undefined;
  readonly namespace: string;
  readonly tokenFile: string | undefined;
  private readonly staticToken: string | undefined;
  // readAt is -Infinity once the server rejected the token: re-read it, but keep it in case the file cannot be read.
  private cachedToken: { value: string; readAt: number } | undefined;
  // One read shared by every request that finds the cache stale (up to the socket pool's size at once).
  private tokenRead: Promise<string> | undefined;
  private lastTokenError: TokenFileError | undefined;
  private tokenGeneration = 0;

  constructor(opts: KubeConnectionOptions) {
    let url: URL;
    try {
      url = new URL(opts.server);
    } catch {
      throw new KubeconfigError(`API server URL "${opts.server}" is not a valid URL`);
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw new KubeconfigError(`API server URL "${opts.server}" must start with https:// (or http://)`);
    }
    if (opts.token !== undefined && opts.tokenFile !== undefined) {
      throw new KubeconfigError("a connection takes a token or a token file, not both");
    }
    this.server = opts.server;
    this.ca = opts.ca;
    this.cert = opts.cert;
    this.key = opts.key;
    this.insecureSkipTlsVerify = opts.insecureSkipTlsVerify ?? false;
    this.tlsServerName = opts.tlsServerName;
    this.staticToken = opts.token;
    this.tokenFile = opts.tokenFile;
    this.namespace = opts.namespace ?? "default";
  }

  /** The same connection to another address (a proxy in front of the same server). */
  withServer(server: string): KubeConnection {
    return new KubeConnection({ ...this.options(), server });
  }

  /**
   * The bearer token to send, if any; a token file is read at most once a minute. A failed re-read
   * keeps the previous token (a rotated token stays valid well past the rotation) and the next call
   * tries the file again; only a connection that never read a token fails.
   */
  async bearerToken(now = Date.now()): Promise<string | undefined> {
    const file = this.tokenFile;
    if (file === undefined) return this.staticToken;
    const cached = this.cachedToken;
    if (cached && now - cached.readAt < TOKEN_FILE_REFRESH_MS) return cached.value;
    let read = this.tokenRead;
    if (read === undefined) {
      const started = this.readTokenFile(file, now);
      const forget = (): void => {
        if (this.tokenRead === started) this.tokenRead = undefined;
      };
      started.then(forget, forget);
      this.tokenRead = read = started;
    }
    try {
      return await read;
    } catch (err: unknown) {
      if (this.cachedToken !== undefined) return this.cachedToken.value;
      throw err;
    }
  }

  /** Why the last read of the token file failed, or undefined when it succeeded. */
  get tokenFileError(): TokenFileError | undefined {
    return this.lastTokenError;
  }

  private async readTokenFile(file: string, now: number): Promise<string> {
    const generation = this.tokenGeneration;
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err: unknown) {
      this.lastTokenError = new TokenFileError(file, err);
      throw this.lastTokenError;
    }
    this.lastTokenError = undefined;
    const value = text.trim();
    // A read overtaken by a rejection must not cache what may be the rejected token for a minute.
    if (generation === this.tokenGeneration) this.cachedToken = { value, readAt: now };
    return value;
  }

  /**
   * The server refused the token (401): the next request re-reads the file.
   * Returns whether re-reading can help, i.e. whether the token comes from a file.
   */
  tokenRejected(): boolean {
    if (this.cachedToken) this.cachedToken = { value: this.cachedToken.value, readAt: -Infinity };
    // A read started before the rejection may return the rejected token: let the next call start its own.
    this.tokenRead = undefined;
    this.tokenGeneration++;
    return this.tokenFile !== undefined;
  }

  private options(): KubeConnectionOptions {
    return {
      server: this.server,
      ca: this.ca,
      cert: this.cert,
      key: this.key,
      insecureSkipTlsVerify: this.insecureSkipTlsVerify,
      tlsServerName: this.tlsServerName,
      token: this.staticToken,
      tokenFile: this.tokenFile,
      namespace: this.namespace,
    };
  }
}

const clusterSchema = z.looseObject({
  server: z.string().min(1),
  "certificate-authority": z.string().optional(),
  "certificate-authority-data": z.string().optional(),
  "insecure-skip-tls-verify": z.boolean().optional(),
  "tls-server-name": z.string().optional(),
  // Present only to be refused with a clear message.
  "proxy-url": z.string().optional(),
});

const userSchema = z.looseObject({
  "client-certificate": z.string().optional(),
  "client-certificate-data": z.string().optional(),
  "client-key": z.string().optional(),
  "client-key-data": z.string().optional(),
  token: z.string().optional(),
  tokenFile: z.string().optional(),
  // Present only to be refused with a clear message.
  exec: z.unknown().optional(),
  "auth-provider": z.unknown().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
});

const contextSchema = z.looseObject({
  cluster: z.string().min(1),
  user: z.string().optional(),
  namespace: z.string().optional(),
});

const kubeconfigSchema = z.looseObject({
  clusters: z.array(z.looseObject({ name: z.string().min(1), cluster: clusterSchema })).nullish(),
  // `user: {}` is how kubectl writes a user without credentials; YAML may also leave it empty.
  users: z.array(z.looseObject({ name: z.string().min(1), user: userSchema.nullish() })).nullish(),
  contexts: z.array(z.looseObject({ name: z.string().min(1), context: contextSchema })).nullish(),
  "current-context": z.string().optional(),
});

type Kubeconfig = z.infer<typeof kubeconfigSchema>;

async function readText(file: string, what: string, source: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (err: unknown) {
    throw new KubeconfigError(`${source}: cannot read ${what} ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/** Inline base64 data wins over a file path, as with kubectl. */
async function material(
  data: string | undefined,
  file: string | undefined,
  baseDir: string,
  what: string,
  source: string,
): Promise<string | undefined> {
  if (data !== undefined && data !== "") return Buffer.from(data, "base64").toString("utf8");
  if (file !== undefined && file !== "") return readText(resolve(baseDir, file), what, source);
  return undefined;
}

function pick<T extends { name: string }>(list: T[] | null | undefined, name: string, path: string, entry: "context" | "cluster" | "user"): T {
  const found = list?.find((x) => x.name === name);
  if (!found) throw new MissingKubeconfigEntryError(path, entry, name);
  return found;
}

/** Reads a kubeconfig file and builds the connection of its current (or the given) context. */
export async function loadKubeconfigFile(path: string, opts: { context?: string | undefined } = {}): Promise<KubeConnection> {
  const text = await readText(path, "kubeconfig", "kubeconfig");
  let doc: unknown;
  try {
    // client-go reads kubeconfigs through sigs.k8s.io/yaml (YAML 1.1): `insecure-skip-tls-verify: yes` is true.
    doc = parseKubeYaml(text);
  } catch (err: unknown) {
    throw new KubeconfigError(`kubeconfig ${path} is not valid YAML: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const parsed = kubeconfigSchema.safeParse(doc);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 3).map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`).join("; ");
    throw new KubeconfigError(`kubeconfig ${path} is not a valid kubeconfig: ${issues}`);
  }
  return connectionFromKubeconfig(parsed.data, path, opts.context);
}

async function connectionFromKubeconfig(kc: Kubeconfig, path: string, contextName: string | undefined): Promise<KubeConnection> {
  const baseDir = dirname(resolve(path));
  const ctxName = contextName ?? kc["current-context"];
  if (ctxName === undefined || ctxName === "") {
    throw new KubeconfigError(`kubeconfig ${path} has no current-context; set one (kubectl config use-context) or name a context`);
  }
  const context = pick(kc.contexts, ctxName, path, "context").context;
  const cluster = pick(kc.clusters, context.cluster, path, "cluster").cluster;
  if (cluster["proxy-url"] !== undefined && cluster["proxy-url"] !== "") {
    // Ignoring it would send requests straight to a server that is likely reachable only through the proxy.
    throw new UnsupportedKubeconfigError(
      `kubeconfig ${path}: cluster "${context.cluster}" sets proxy-url, which is not supported; remove it and make the server reachable directly`,
    );
  }
  const userName = context.user;
  const user = userName === undefined || userName === "" ? {} : (pick(kc.users, userName, path, "user").user ?? {});
  const unsupported = user.exec !== undefined && user.exec !== null
    ? "exec credential plugins"
    : user["auth-provider"] !== undefined && user["auth-provider"] !== null
      ? "auth-provider plugins"
      : user.username !== undefined || user.password !== undefined
        ? "basic authentication (username/password)"
        : undefined;
  if (unsupported !== undefined) {
    throw new UnsupportedAuthError(
      `kubeconfig ${path}: user "${userName ?? ""}" uses ${unsupported}, which is not supported; use a ServiceAccount token (token or tokenFile) or a client certificate`,
    );
  }
  const source = `kubeconfig ${path}`;
  const token = user.token !== undefined && user.token !== "" ? user.token : undefined;
  const tokenFile = token === undefined && user.tokenFile !== undefined && user.tokenFile !== "" ? resolve(baseDir, user.tokenFile) : undefined;
  const conn = new KubeConnection({
    server: cluster.server,
    ca: await material(cluster["certificate-authority-data"], cluster["certificate-authority"], baseDir, "certificate-authority", source),
    cert: await material(user["client-certificate-data"], user["client-certificate"], baseDir, "client-certificate", source),
    key: await material(user["client-key-data"], user["client-key"], baseDir, "client-key", source),
    insecureSkipTlsVerify: cluster["insecure-skip-tls-verify"],
    tlsServerName: cluster["tls-server-name"],
    token,
    tokenFile,
    namespace: context.namespace,
  });
  if ((conn.cert === undefined) !== (conn.key === undefined)) {
    throw new KubeconfigError(`${source}: user "${userName ?? ""}" has a client certificate without a key or a key without a certificate`);
  }
  // Fail at start-up, not on the first request, when the token file is missing.
  if (tokenFile !== undefined) await conn.bearerToken();
  return conn;
}

export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** The namespace of the pod's service account, when running in a pod. */
async function serviceAccountNamespace(dir = SERVICE_ACCOUNT_DIR): Promise<string | undefined> {
  try {
    const ns = (await readFile(join(dir, "namespace"), "utf8")).trim();
    return ns === "" ? undefined : ns;
  } catch {
    return undefined;
  }
}

/** The namespace this process runs in: $POD_NAMESPACE, else its pod's service account namespace. */
export async function podNamespace(env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const ns = env.POD_NAMESPACE;
  return ns !== undefined && ns !== "" ? ns : serviceAccountNamespace();
}

/** The pod's own service account: the API server from the environment, token and CA from the mounted secret. */
export async function inClusterConnection(
  opts: { env?: NodeJS.ProcessEnv; serviceAccountDir?: string } = {},
): Promise<KubeConnection> {
  const env = opts.env ?? process.env;
  const dir = opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (host === undefined || host === "" || port === undefined || port === "") {
    throw new InClusterConfigError("not running in a pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set");
  }
  const hostPart = host.includes(":") ? `[${host}]` : host;
  const tokenFile = join(dir, "token");
  let ca: string;
  try {
    ca = await readFile(join(dir, "ca.crt"), "utf8");
  } catch (err: unknown) {
    throw new InClusterConfigError(
      `cannot read the service account CA ${join(dir, "ca.crt")} (is automountServiceAccountToken disabled?): ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  const namespace = await serviceAccountNamespace(dir);
  const conn = new KubeConnection({ server: `https://${hostPart}:${port}`, ca, tokenFile, namespace });
  try {
    await conn.bearerToken();
  } catch (err: unknown) {
    throw new InClusterConfigError(`cannot read the service account token ${tokenFile}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return conn;
}

/**
 * kubectl's order: the first existing file of $KUBECONFIG, else ~/.kube/config, else the pod's service
 * account. Throws NoConnectionError saying what it tried and what to do; `kubeconfigFlag: false` (a
 * program without --kubeconfig, the spoke edition) leaves --kubeconfig out of that advice.
 */
export async function defaultConnection(
  opts: { env?: NodeJS.ProcessEnv; home?: string; serviceAccountDir?: string; kubeconfigFlag?: boolean } = {},
): Promise<KubeConnection> {
  const env = opts.env ?? process.env;
  const flag = opts.kubeconfigFlag ?? true;
  const listed = (env.KUBECONFIG ?? "").split(delimiter).filter((p) => p !== "").map((p) => (isAbsolute(p) ? p : resolve(p)));
  if (listed.length > 0) {
    // As kubectl does, entries that do not exist are skipped; it does not fall back to ~/.kube/config either.
    const first = listed.find((p) => existsSync(p));
    if (first === undefined) {
      throw new NoConnectionError(`none of the files in $KUBECONFIG exists (${listed.join(", ")}); fix $KUBECONFIG${flag ? " or pass --kubeconfig" : ""}`);
    }
    return loadKubeconfigFile(first);
  }
  const home = join(opts.home ?? homedir(), ".kube", "config");
  if (existsSync(home)) return loadKubeconfigFile(home);
  try {
    return await inClusterConnection({ env, ...(opts.serviceAccountDir !== undefined ? { serviceAccountDir: opts.serviceAccountDir } : {}) });
  } catch (err: unknown) {
    throw new NoConnectionError(
      `no API server to talk to: $KUBECONFIG is not set, ${home} does not exist, and ${err instanceof Error ? err.message : String(err)}; ${flag ? "pass --kubeconfig" : "set $KUBECONFIG"} or run in a pod`,
      { cause: err },
    );
  }
}
