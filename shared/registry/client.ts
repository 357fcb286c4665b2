import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { Transform, type Readable, type TransformCallback } from "node:stream";
import type { z } from "zod";
import { mergeScopes, parseChallenge, repositoryScope, validateRealm } from "./auth.ts";
import {
  DigestMismatchError,
  ImageNotFoundError,
  RegistryAuthError,
  RegistryError,
  RegistryUnreachableError,
  forImage,
  type RegistryErrorContext,
} from "./errors.ts";
import { Keychain, type Credential } from "./keychain.ts";
import { SharedWork, abortReason } from "./abort.ts";
import {
  apiHost,
  formatReference,
  manifestIdentifier,
  parseReference,
  validateDigest,
  type ImageReference,
} from "./reference.ts";
import {
  ImageConfigSchema,
  ImageIndexSchema,
  ImageManifestSchema,
  INDEX_MEDIA_TYPES,
  MANIFEST_ACCEPT,
  RegistryErrorBodySchema,
  TokenResponseSchema,
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  type Platform,
  type RegistryTLS,
} from "./schemas.ts";
import {
  drain,
  headerValue,
  HttpTransport,
  readBody,
  type HttpResponse,
  type RequestBody,
  type TlsSettings,
  type TransportOptions,
} from "./transport.ts";

/** go-containerregistry's limit too: a manifest bigger than this is not a manifest. */
const MANIFEST_LIMIT = 4 * 1024 * 1024;
const ERROR_BODY_LIMIT = 64 * 1024;
const CONFIG_LIMIT = 16 * 1024 * 1024;
/** Token lifetime when the token service does not say (distribution's documented default). */
const DEFAULT_TOKEN_SECONDS = 60;
/** Renew tokens this long before they expire so a request never carries a dying token. */
const TOKEN_EXPIRY_MARGIN_MS = 5_000;
const DEFAULT_CHUNK_SIZE = 5 * 1024 * 1024;

export interface ClientOptions extends TransportOptions {
  /** Credentials used when a call does not bring its own keychain. */
  keychain?: Keychain;
  /** PEM CA bundle trusted for every registry, on top of the system roots. */
  caBundle?: string;
  /** Clock for token expiry (tests). */
  now?: () => number;
}

/** Per-call settings: the Module's registryTLS and its pull secrets. */
export interface CallOptions {
  tls?: RegistryTLS;
  keychain?: Keychain;
  /**
   * Gives up on the call: requests in flight are destroyed, waits (back-off, a free slot, the
   * /v2/ check or token another call started) end at once, and the call rejects with the signal's
   * reason. Work shared with other calls goes on while any of them still wants it.
   */
  signal?: AbortSignal;
}

export type BlobSource = Buffer | { file: string };

export type ManifestKind = { kind: "index"; index: ImageIndex } | { kind: "image"; manifest: ImageManifest };

export type FetchedManifest = ManifestKind & {
  digest: string;
  mediaType: string;
  bytes: Buffer;
};

type AuthMode = { kind: "none" } | { kind: "basic" } | { kind: "bearer"; realm: URL; service: string | undefined };

interface RegistryState {
  base: URL;
  auth: AuthMode;
}

interface Ctx {
  ref: ImageReference;
  image: string;
  registry: string;
  host: string;
  insecure: boolean;
  tls: TlsSettings;
  credential: Credential | undefined;
  signal: AbortSignal | undefined;
}

interface SendOptions {
  method: string;
  /** Path under the registry (/v2/...) or an absolute URL from a Location header. */
  path: string;
  headers?: Record<string, string>;
  body?: RequestBody;
  scopes: string[];
}

export function sha256(data: Buffer): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

function isNetworkError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && !(err instanceof RegistryError) && typeof (err as NodeJS.ErrnoException).code === "string";
}

function credentialKey(c: Credential | undefined): string {
  return c ? createHash("sha256").update(`${c.username}\0${c.password}`).digest("hex").slice(0, 16) : "anonymous";
}

/** Makes a stream that passes bytes through and fails at the end unless they hash to `digest` with `size` bytes. */
export function verifyingStream(digest: string, size: number | undefined, onMismatch: (why: string) => Error): Transform {
  const [algorithm = "", expected = ""] = digest.split(":", 2);
  const hash = createHash(algorithm);
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      seen += chunk.length;
      if (size !== undefined && seen > size) {
        cb(onMismatch(`more than the ${size} bytes its descriptor announces`));
        return;
      }
      hash.update(chunk);
      cb(null, chunk);
    },
    flush(cb: TransformCallback) {
      if (size !== undefined && seen !== size) {
        cb(onMismatch(`${seen} bytes instead of ${size}`));
        return;
      }
      const actual = hash.digest("hex");
      cb(actual === expected ? null : onMismatch(`content hashes to ${algorithm}:${actual}`));
    },
  });
}

/**
 * An OCI distribution client modelled on go-containerregistry's behaviour:
 * ping /v2/, then anonymous, basic or bearer auth from the challenge, tokens
 * cached until they expire.
 */
export class RegistryClient {
  readonly transport: HttpTransport;
  private readonly keychain: Keychain;
  private readonly caBundle: string | undefined;
  private readonly now: () => number;
  private readonly states = new Map<string, SharedWork<RegistryState>>();
  private readonly tokens = new Map<string, { token: string; expiresAt: number }>();
  private readonly tokenFetches = new Map<string, SharedWork<string>>();

  constructor(options: ClientOptions = {}) {
    this.transport = new HttpTransport(options);
    this.keychain = options.keychain ?? Keychain.anonymous();
    this.caBundle = options.caBundle;
    this.now = options.now ?? Date.now;
  }

  close(): void {
    this.transport.close();
  }

  private ctx(input: string | ImageReference, opts: CallOptions | undefined): Ctx {
    const ref = typeof input === "string" ? parseReference(input) : input;
    const tlsOpt = opts?.tls ?? {};
    return {
      ref,
      image: formatReference(ref),
      registry: ref.registry,
      host: apiHost(ref.registry),
      insecure: tlsOpt.insecure === true,
      tls: { insecureSkipTLSVerify: tlsOpt.insecureSkipTLSVerify === true, caBundle: this.caBundle },
      credential: (opts?.keychain ?? this.keychain).resolve(ref),
      signal: opts?.signal,
    };
  }

  private errCtx(ctx: Ctx, extra: Partial<RegistryErrorContext> = {}): RegistryErrorContext {
    return { image: ctx.image, registry: ctx.registry, ...extra };
  }

  // ---- registry discovery and auth ----

  private stateKey(ctx: Ctx): string {
    return `${ctx.host}|${ctx.insecure}|${ctx.tls.insecureSkipTLSVerify}`;
  }

  private registryState(ctx: Ctx): Promise<RegistryState> {
    const key = this.stateKey(ctx);
    let state = this.states.get(key);
    if (!state) {
      const work = new SharedWork((signal) => this.ping({ ...ctx, signal }));
      this.states.set(key, work);
      // A failed ping is not remembered: the next call tries again.
      work.promise.catch(() => {
        if (this.states.get(key) === work) this.states.delete(key);
      });
      state = work;
    }
    return state.wait(ctx.signal);
  }

  private async ping(ctx: Ctx): Promise<RegistryState> {
    // As go-containerregistry: HTTPS first; plain HTTP only for registries marked insecure.
    const schemes = ctx.insecure ? ["https", "http"] : ["https"];
    let lastError: unknown;
    const failures: string[] = [];
    for (const scheme of schemes) {
      const base = new URL(`${scheme}://${ctx.host}`);
      let res: HttpResponse;
      try {
        res = await this.transport.request({
          method: "GET",
          url: new URL("/v2/", base),
          headers: {},
          registry: ctx.host,
          tls: ctx.tls,
          signal: ctx.signal,
        });
      } catch (err) {
        if (ctx.signal?.aborted === true) throw abortReason(ctx.signal);
        lastError = err;
        failures.push(`${scheme}: ${err instanceof Error ? err.message : String(err)}`);
        continue;
      }
      drain(res);
      if (res.status === 200) return { base, auth: { kind: "none" } };
      if (res.status === 401) {
        const challenge = parseChallenge(headerValue(res.headers["www-authenticate"]));
        if (challenge?.scheme === "basic") return { base, auth: { kind: "basic" } };
        if (challenge?.scheme === "bearer") {
          const realm = validateRealm(challenge.params.realm ?? "", ctx.insecure);
          if (typeof realm === "string") throw new RegistryAuthError(realm, this.errCtx(ctx, { status: 401 }));
          return { base, auth: { kind: "bearer", realm, service: challenge.params.service } };
        }
        throw new RegistryAuthError(
          "registry asks for an authentication scheme this client does not support",
          this.errCtx(ctx, { status: 401 }),
        );
      }
      lastError = new RegistryError("registry did not answer the /v2/ API check", this.errCtx(ctx, { status: res.status }));
      if (scheme === "https" && res.status < 500) break;
    }
    if (lastError instanceof RegistryError) throw lastError;
    // Both attempts are reported: with HTTP fallback the HTTPS error (often a certificate problem) is the useful one.
    throw new RegistryUnreachableError(this.errCtx(ctx), failures.join("; "), { cause: lastError });
  }

  private async bearerToken(ctx: Ctx, auth: Extract<AuthMode, { kind: "bearer" }>, scopes: string[], force: boolean): Promise<string> {
    const merged = mergeScopes(scopes);
    const key = `${auth.realm.href}|${auth.service ?? ""}|${merged.join(" ")}|${credentialKey(ctx.credential)}`;
    const cached = this.tokens.get(key);
    if (!force && cached && cached.expiresAt > this.now()) return cached.token;
    const inFlight = this.tokenFetches.get(key);
    if (inFlight) return inFlight.wait(ctx.signal);
    const work = new SharedWork((signal) => this.fetchToken({ ...ctx, signal }, auth, merged, key));
    this.tokenFetches.set(key, work);
    const forget = (): void => {
      if (this.tokenFetches.get(key) === work) this.tokenFetches.delete(key);
    };
    work.promise.then(forget, forget);
    return work.wait(ctx.signal);
  }

  private async fetchToken(ctx: Ctx, auth: Extract<AuthMode, { kind: "bearer" }>, scopes: string[], key: string): Promise<string> {
    const url = new URL(auth.realm);
    if (auth.service !== undefined) url.searchParams.set("service", auth.service);
    for (const scope of scopes) url.searchParams.append("scope", scope);
    const headers: Record<string, string> = { accept: "application/json" };
    if (ctx.credential) headers.authorization = basicHeader(ctx.credential);
    let res: HttpResponse;
    try {
      res = await this.transport.request({ method: "GET", url, headers, registry: url.host, tls: ctx.tls, signal: ctx.signal });
    } catch (err) {
      if (ctx.signal?.aborted === true) throw abortReason(ctx.signal);
      const detail = err instanceof Error ? err.message : String(err);
      throw new RegistryUnreachableError(this.errCtx(ctx), `token service ${url.origin}: ${detail}`, { cause: err });
    }
    if (res.status === 401 || res.status === 403) {
      const info = await this.errorInfo(res);
      throw new RegistryAuthError(
        ctx.credential
          ? `token service ${url.origin} rejected the credentials from the pull secret`
          : `token service ${url.origin} refused anonymous access; add a pull secret for ${ctx.registry}`,
        this.errCtx(ctx, { status: res.status, ...info }),
      );
    }
    if (res.status !== 200) {
      const info = await this.errorInfo(res);
      throw new RegistryError(`token service ${url.origin} failed`, this.errCtx(ctx, { status: res.status, ...info }));
    }
    const body = await this.parseJsonBody(ctx, res, TokenResponseSchema, `token response from ${url.origin}`);
    const token = body.token ?? body.access_token ?? "";
    const issued = body.issued_at ? Date.parse(body.issued_at) : NaN;
    const start = Number.isNaN(issued) ? this.now() : Math.min(issued, this.now());
    const expiresAt = start + (body.expires_in ?? DEFAULT_TOKEN_SECONDS) * 1000 - TOKEN_EXPIRY_MARGIN_MS;
    this.tokens.set(key, { token, expiresAt });
    return token;
  }

  private async authorization(ctx: Ctx, state: RegistryState, scopes: string[], force: boolean): Promise<string | undefined> {
    switch (state.auth.kind) {
      case "none":
        return undefined;
      case "basic":
        return ctx.credential ? basicHeader(ctx.credential) : undefined;
      case "bearer":
        return `Bearer ${await this.bearerToken(ctx, state.auth, scopes, force).catch((err: unknown) => {
          throw forImage(err, ctx.image);
        })}`;
    }
  }

  /** One request with auth; a 401 carrying a bearer challenge is retried once with the challenge's scope. */
  private async send(ctx: Ctx, opts: SendOptions): Promise<HttpResponse> {
    // The ping and the token are shared with other images of the same registry: their errors are
    // renamed for this image.
    const state = await this.registryState(ctx).catch((err: unknown) => {
      throw forImage(err, ctx.image);
    });
    const url = new URL(opts.path, state.base);
    let scopes = opts.scopes;
    for (let attempt = 0; ; attempt++) {
      const authz = await this.authorization(ctx, state, scopes, attempt > 0);
      const headers: Record<string, string> = { ...opts.headers };
      if (authz) headers.authorization = authz;
      let res: HttpResponse;
      try {
        res = await this.transport.request({
          method: opts.method,
          url,
          headers,
          ...(opts.body !== undefined ? { body: opts.body } : {}),
          registry: ctx.host,
          tls: ctx.tls,
          signal: ctx.signal,
        });
      } catch (err) {
        if (ctx.signal?.aborted === true) throw abortReason(ctx.signal);
        if (isNetworkError(err)) {
          throw new RegistryUnreachableError(this.errCtx(ctx), err.message, { cause: err });
        }
        throw err;
      }
      if (res.status !== 401 || attempt > 0 || state.auth.kind !== "bearer") return res;
      const challenge = parseChallenge(headerValue(res.headers["www-authenticate"]));
      if (challenge?.scheme !== "bearer") return res;
      drain(res);
      if (challenge.params.scope) scopes = mergeScopes([...scopes, challenge.params.scope]);
    }
  }

  /** Turns a failed response into the typed error for it. */
  private async failure(ctx: Ctx, res: HttpResponse, what: string): Promise<RegistryError> {
    const info = await this.errorInfo(res);
    const ectx = this.errCtx(ctx, { status: res.status, ...info });
    const notFoundCodes = ["MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UNKNOWN"];
    if (res.status === 404 || (info.code !== undefined && notFoundCodes.includes(info.code))) {
      return new ImageNotFoundError(ectx);
    }
    if (res.status === 401) {
      return new RegistryAuthError(
        ctx.credential
          ? `the registry rejected the credentials from the pull secret while trying to ${what}`
          : `the registry requires authentication to ${what}; add a pull secret for ${ctx.registry}`,
        ectx,
      );
    }
    if (res.status === 403) return new RegistryAuthError(`access denied to ${what}`, ectx);
    return new RegistryError(`could not ${what}`, ectx);
  }

  private async errorInfo(res: HttpResponse): Promise<{ code?: string; registryMessage?: string }> {
    let body: Buffer;
    try {
      body = await readBody(res, ERROR_BODY_LIMIT);
    } catch {
      return {};
    }
    let json: unknown;
    try {
      json = JSON.parse(body.toString("utf8"));
    } catch {
      return {};
    }
    const parsed = RegistryErrorBodySchema.safeParse(json);
    const first = parsed.success ? parsed.data.errors[0] : undefined;
    if (!first) return {};
    return first.message !== undefined ? { code: first.code, registryMessage: first.message } : { code: first.code };
  }

  private async parseJsonBody<T extends z.ZodType>(ctx: Ctx, res: HttpResponse, schema: T, what: string): Promise<z.infer<T>> {
    const body = await readBody(res, MANIFEST_LIMIT);
    return this.parseJson(ctx, body, schema, what);
  }

  private parseJson<T extends z.ZodType>(ctx: Ctx, body: Buffer, schema: T, what: string): z.infer<T> {
    let json: unknown;
    try {
      json = JSON.parse(body.toString("utf8"));
    } catch {
      throw new RegistryError(`${what} is not JSON`, this.errCtx(ctx));
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new RegistryError(`${what} is malformed: ${issue?.path.join(".") ?? ""} ${issue?.message ?? ""}`.trim(), this.errCtx(ctx));
    }
    return parsed.data;
  }

  // ---- manifests and digests ----

  /**
   * The digest a reference points at. A tag is resolved with HEAD (falling
   * back to GET and hashing the body); a digest reference is verified to
   * exist under that digest, not re-resolved. For a multi-arch image this is
   * the index digest.
   */
  async resolveDigest(input: string | ImageReference, opts?: CallOptions): Promise<string> {
    return this.withCredentials(input, opts, (ctx) => this.resolveDigestCtx(ctx));
  }

  /**
   * Runs `fn` with each matching credential in turn until one is not refused,
   * as the kubelet tries every pull-secret entry that matches an image.
   */
  private async withCredentials<T>(input: string | ImageReference, opts: CallOptions | undefined, fn: (ctx: Ctx) => Promise<T>): Promise<T> {
    const base = this.ctx(input, opts);
    const candidates = (opts?.keychain ?? this.keychain).lookup(base.ref);
    if (candidates.length <= 1) return fn(base);
    let refused: unknown;
    for (const credential of candidates) {
      try {
        return await fn({ ...base, credential });
      } catch (err) {
        if (!(err instanceof RegistryAuthError)) throw err;
        refused = err;
      }
    }
    throw refused;
  }

  private async resolveDigestCtx(ctx: Ctx): Promise<string> {
    const scopes = [repositoryScope(ctx.ref.repository, ["pull"])];
    const res = await this.send(ctx, {
      method: "HEAD",
      path: `/v2/${ctx.ref.repository}/manifests/${manifestIdentifier(ctx.ref)}`,
      headers: { accept: MANIFEST_ACCEPT.join(", ") },
      scopes,
    });
    if (res.status === 404 || res.status === 401 || res.status === 403) {
      // HEAD answers carry no error body, so the message has the status but no registry code.
      throw await this.failure(ctx, res, "read the manifest");
    }
    drain(res);
    if (res.status === 200) {
      const header = headerValue(res.headers["docker-content-digest"]);
      const contentType = headerValue(res.headers["content-type"])?.split(";")[0]?.trim() ?? "";
      const usable = header !== undefined && validDigest(header) && (MANIFEST_ACCEPT as readonly string[]).includes(contentType);
      if (usable) {
        if (ctx.ref.digest !== undefined && header !== ctx.ref.digest) {
          throw new DigestMismatchError(`registry serves ${header} under ${ctx.ref.digest}`, this.errCtx(ctx));
        }
        return header;
      }
    }
    return (await this.fetchManifest(ctx)).digest;
  }

  /** GETs a manifest or index, checking its bytes against the digest asked for and the one announced. */
  async getManifest(input: string | ImageReference, opts?: CallOptions): Promise<FetchedManifest> {
    return this.withCredentials(input, opts, (ctx) => this.fetchManifest(ctx));
  }

  private async fetchManifest(ctx: Ctx): Promise<FetchedManifest> {
    const res = await this.send(ctx, {
      method: "GET",
      path: `/v2/${ctx.ref.repository}/manifests/${manifestIdentifier(ctx.ref)}`,
      headers: { accept: MANIFEST_ACCEPT.join(", ") },
      scopes: [repositoryScope(ctx.ref.repository, ["pull"])],
    });
    if (res.status !== 200) throw await this.failure(ctx, res, "read the manifest");
    const bytes = await readBody(res, MANIFEST_LIMIT).catch((err: unknown) => {
      throw new RegistryError(`manifest could not be read: ${err instanceof Error ? err.message : String(err)}`, this.errCtx(ctx), {
        cause: err,
      });
    });
    const digest = sha256(bytes);
    if (ctx.ref.digest !== undefined && ctx.ref.digest.startsWith("sha256:") && digest !== ctx.ref.digest) {
      throw new DigestMismatchError(`manifest content hashes to ${digest}`, this.errCtx(ctx));
    }
    const announced = headerValue(res.headers["docker-content-digest"]);
    if (announced?.startsWith("sha256:") && announced !== digest) {
      throw new DigestMismatchError(`registry announced ${announced} but the manifest hashes to ${digest}`, this.errCtx(ctx));
    }
    const headerType = headerValue(res.headers["content-type"])?.split(";")[0]?.trim();
    const probe = this.parseJson(ctx, bytes, ManifestProbeSchema, "manifest");
    const mediaType = probe.mediaType ?? headerType ?? "";
    const isIndex = INDEX_MEDIA_TYPES.includes(mediaType) || (mediaType === "" && probe.manifests !== undefined);
    if (isIndex) {
      return { kind: "index", index: this.parseJson(ctx, bytes, ImageIndexSchema, "image index"), digest, mediaType, bytes };
    }
    if (!(MANIFEST_ACCEPT as readonly string[]).includes(mediaType) && mediaType !== "") {
      throw new RegistryError(`manifest media type ${mediaType} is not supported`, this.errCtx(ctx));
    }
    return { kind: "image", manifest: this.parseJson(ctx, bytes, ImageManifestSchema, "image manifest"), digest, mediaType, bytes };
  }

  // ---- blobs ----

  /** A blob as a stream that errors at its end unless the bytes match the descriptor's digest and size. */
  async openBlob(input: string | ImageReference, descriptor: Pick<Descriptor, "digest" | "size">, opts?: CallOptions): Promise<Readable> {
    return this.withCredentials(input, opts, (ctx) => this.openBlobCtx(ctx, descriptor));
  }

  private async openBlobCtx(ctx: Ctx, descriptor: Pick<Descriptor, "digest" | "size">): Promise<Readable> {
    let res = await this.send(ctx, {
      method: "GET",
      path: `/v2/${ctx.ref.repository}/blobs/${descriptor.digest}`,
      scopes: [repositoryScope(ctx.ref.repository, ["pull"])],
    });
    // Registries commonly redirect blob downloads to object storage; credentials stay behind.
    for (let hops = 0; hops < 5 && [301, 302, 303, 307, 308].includes(res.status); hops++) {
      const location = headerValue(res.headers.location);
      drain(res);
      if (!location) break;
      const url = new URL(location, res.url);
      if (url.protocol !== "https:" && !(url.protocol === "http:" && ctx.insecure)) {
        throw new RegistryError(`blob redirect to ${url.origin} is not HTTPS`, this.errCtx(ctx));
      }
      try {
        res = await this.transport.request({ method: "GET", url, headers: {}, registry: url.host, tls: ctx.tls, signal: ctx.signal });
      } catch (err) {
        if (ctx.signal?.aborted === true) throw abortReason(ctx.signal);
        throw new RegistryUnreachableError(this.errCtx(ctx), `blob storage ${url.origin}: ${String(err)}`, { cause: err });
      }
    }
    if (res.status !== 200) throw await this.failure(ctx, res, `read blob ${descriptor.digest}`);
    const verifier = verifyingStream(
      descriptor.digest,
      descriptor.size,
      (why) => new DigestMismatchError(`blob ${descriptor.digest} failed verification: ${why}`, this.errCtx(ctx)),
    );
    res.body.once("error", (err) => verifier.destroy(err));
    return res.body.pipe(verifier);
  }

  /** A small blob (config) read whole and verified. */
  async readBlob(input: string | ImageReference, descriptor: Pick<Descriptor, "digest" | "size">, opts?: CallOptions): Promise<Buffer> {
    const ctx = this.ctx(input, opts);
    if (descriptor.size > CONFIG_LIMIT) {
      throw new RegistryError(`blob ${descriptor.digest} is too large to read into memory`, this.errCtx(ctx));
    }
    const stream = await this.openBlob(ctx.ref, descriptor, opts);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /** The image config of a single-platform manifest. */
  async readConfig(input: string | ImageReference, manifest: ImageManifest, opts?: CallOptions): Promise<ImageConfig> {
    const ctx = this.ctx(input, opts);
    const bytes = await this.readBlob(ctx.ref, manifest.config, opts);
    return this.parseJson(ctx, bytes, ImageConfigSchema, "image config");
  }

  /** Picks the manifest for a platform from an index (linux/amd64 unless told). */
  selectPlatform(index: ImageIndex, platform: Pick<Platform, "os" | "architecture" | "variant">): Descriptor | undefined {
    return index.manifests.find(
      (m) =>
        m.platform?.os === platform.os &&
        m.platform.architecture === platform.architecture &&
        (platform.variant === undefined || m.platform.variant === platform.variant),
    );
  }

  // ---- push ----

  async blobExists(input: string | ImageReference, digest: string, opts?: CallOptions): Promise<boolean> {
    const ctx = this.ctx(input, opts);
    const res = await this.send(ctx, {
      method: "HEAD",
      path: `/v2/${ctx.ref.repository}/blobs/${digest}`,
      scopes: [repositoryScope(ctx.ref.repository, ["pull", "push"])],
    });
    if (res.status === 200 || res.status === 404) {
      drain(res);
      return res.status === 200;
    }
    throw await this.failure(ctx, res, `check blob ${digest}`);
  }

  /**
   * Uploads a blob unless the repository has it. With `mountFrom` (a
   * repository on the same registry holding the blob) it is mounted instead of
   * uploaded. With `chunkSize` the upload is chunked (PATCH per chunk).
   * Returns the digest and how the blob got there.
   */
  async pushBlob(
    input: string | ImageReference,
    source: BlobSource,
    opts?: CallOptions & { digest?: string; chunkSize?: number; chunked?: boolean; mountFrom?: string },
  ): Promise<{ digest: string; size: number; how: "existing" | "mounted" | "uploaded" }> {
    const ctx = this.ctx(input, opts);
    const repo = ctx.ref.repository;
    const { digest, size } = await describeSource(source, opts?.digest);
    if (await this.blobExists(ctx.ref, digest, opts)) return { digest, size, how: "existing" };

    const scopes = [repositoryScope(repo, ["pull", "push"])];
    let start = `/v2/${repo}/blobs/uploads/`;
    if (opts?.mountFrom !== undefined && opts.mountFrom !== repo) {
      scopes.push(repositoryScope(opts.mountFrom, ["pull"]));
      start += `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(opts.mountFrom)}`;
    }
    const res = await this.send(ctx, { method: "POST", path: start, scopes });
    if (res.status !== 201 && res.status !== 202) throw await this.failure(ctx, res, "start a blob upload");
    drain(res);
    if (res.status === 201) return { digest, size, how: "mounted" };
    let location = uploadLocation(ctx, res);

    const chunkSize = opts?.chunkSize ?? DEFAULT_CHUNK_SIZE;
    if (opts?.chunked === true || opts?.chunkSize !== undefined) {
      for (let offset = 0; offset < size; offset += chunkSize) {
        const end = Math.min(size, offset + chunkSize);
        const patch = await this.send(ctx, {
          method: "PATCH",
          path: location,
          headers: {
            "content-type": "application/octet-stream",
            "content-range": `${offset}-${end - 1}`,
            "content-length": String(end - offset),
          },
          body: sliceSource(source, offset, end),
          scopes,
        });
        if (patch.status !== 202) throw await this.failure(ctx, patch, `upload bytes ${offset}-${end - 1} of blob ${digest}`);
        drain(patch);
        location = uploadLocation(ctx, patch);
      }
      const done = await this.send(ctx, { method: "PUT", path: withDigest(location, digest), scopes });
      if (done.status !== 201) throw await this.failure(ctx, done, `complete the upload of blob ${digest}`);
      drain(done);
    } else {
      const put = await this.send(ctx, {
        method: "PUT",
        path: withDigest(location, digest),
        headers: { "content-type": "application/octet-stream", "content-length": String(size) },
        body: sliceSource(source, 0, size),
        scopes,
      });
      if (put.status !== 201) throw await this.failure(ctx, put, `upload blob ${digest}`);
      drain(put);
    }
    return { digest, size, how: "uploaded" };
  }

  /** PUTs a manifest under the reference's tag (or digest) and returns its digest. */
  async putManifest(input: string | ImageReference, bytes: Buffer, mediaType: string, opts?: CallOptions): Promise<string> {
    const ctx = this.ctx(input, opts);
    const digest = sha256(bytes);
    if (ctx.ref.digest !== undefined && ctx.ref.digest !== digest) {
      throw new DigestMismatchError(`manifest hashes to ${digest}, not the reference's digest`, this.errCtx(ctx));
    }
    const res = await this.send(ctx, {
      method: "PUT",
      path: `/v2/${ctx.ref.repository}/manifests/${manifestIdentifier(ctx.ref)}`,
      headers: { "content-type": mediaType },
      body: bytes,
      scopes: [repositoryScope(ctx.ref.repository, ["pull", "push"])],
    });
    if (res.status !== 201) throw await this.failure(ctx, res, "write the manifest");
    drain(res);
    const announced = headerValue(res.headers["docker-content-digest"]);
    if (announced !== undefined && announced !== digest) {
      throw new DigestMismatchError(`registry stored the manifest as ${announced}, expected ${digest}`, this.errCtx(ctx));
    }
    return digest;
  }
}

/** Enough of a manifest to tell an index from an image before the full parse. */
const ManifestProbeSchema = ImageIndexSchema.partial().pick({ mediaType: true, manifests: true });

function validDigest(d: string): boolean {
  try {
    validateDigest(d);
    return true;
  } catch {
    return false;
  }
}

function basicHeader(c: Credential): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString("base64")}`;
}

function uploadLocation(ctx: Ctx, res: HttpResponse): string {
  const location = headerValue(res.headers.location);
  if (!location) {
    throw new RegistryError("registry started an upload without a Location", {
      image: ctx.image,
      registry: ctx.registry,
      status: res.status,
    });
  }
  return new URL(location, res.url).href;
}

function withDigest(location: string, digest: string): string {
  const url = new URL(location);
  url.searchParams.set("digest", digest);
  return url.href;
}

async function describeSource(source: BlobSource, digest: string | undefined): Promise<{ digest: string; size: number }> {
  if (Buffer.isBuffer(source)) return { digest: digest ?? sha256(source), size: source.length };
  const size = (await stat(source.file)).size;
  if (digest !== undefined) return { digest, size };
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(source.file)) hash.update(chunk as Buffer);
  return { digest: `sha256:${hash.digest("hex")}`, size };
}

function sliceSource(source: BlobSource, start: number, end: number): RequestBody {
  if (Buffer.isBuffer(source)) return source.subarray(start, end);
  return () => createReadStream(source.file, { start, end: end - 1 });
}
