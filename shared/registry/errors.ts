// Typed errors of the registry client. Messages name the image, the registry and
// what the registry answered; they never contain credentials or tokens.

export class InvalidReferenceError extends Error {
  override readonly name = "InvalidReferenceError";
  readonly reference: string;
  readonly reason: string;
  constructor(
    reference: string,
    reason: string,
  ) {
    super(`invalid image reference ${JSON.stringify(reference)}: ${reason}`);
    this.reference = reference;
    this.reason = reason;
  }
}

export interface RegistryErrorContext {
  /** The image as the user wrote it or as we normalised it. */
  image: string;
  /** host[:port] of the registry. */
  registry: string;
  status?: number;
  /** First error code from the registry's JSON error body, e.g. MANIFEST_UNKNOWN. */
  code?: string;
  /** The registry's own message for that code. */
  registryMessage?: string;
}

function describe(ctx: RegistryErrorContext): string {
  const parts = [`image ${ctx.image}`, `registry ${ctx.registry}`];
  if (ctx.status !== undefined) parts.push(`HTTP ${ctx.status}`);
  if (ctx.code !== undefined) {
    parts.push(ctx.registryMessage ? `${ctx.code}: ${ctx.registryMessage}` : ctx.code);
  }
  return parts.join(", ");
}

export class RegistryError extends Error {
  override name = "RegistryError";
  readonly image: string;
  readonly registry: string;
  readonly status: number | undefined;
  readonly code: string | undefined;
  constructor(summary: string, ctx: RegistryErrorContext, options?: ErrorOptions) {
    super(`${summary} (${describe(ctx)})`, options);
    this.image = ctx.image;
    this.registry = ctx.registry;
    this.status = ctx.status;
    this.code = ctx.code;
  }
}

/** The registry answered, and the manifest or blob is not there. */
export class ImageNotFoundError extends RegistryError {
  override name = "ImageNotFoundError";
  constructor(ctx: RegistryErrorContext) {
    super(`${ctx.image} does not exist`, ctx);
  }
}

/** No HTTP answer at all: DNS, refused connection, TLS failure, timeout. */
export class RegistryUnreachableError extends RegistryError {
  override name = "RegistryUnreachableError";
  constructor(ctx: RegistryErrorContext, detail: string, options?: ErrorOptions) {
    super(`registry unreachable: ${detail}`, ctx, options);
  }
}

/** The registry (or its token service) refused our credentials or lack of them. */
export class RegistryAuthError extends RegistryError {
  override name = "RegistryAuthError";
}

/** Content did not hash to the digest it was asked or announced under. */
export class DigestMismatchError extends RegistryError {
  override name = "DigestMismatchError";
}

/** A layer tries to write outside the extraction directory or holds an unsupported entry. */
export class UnsafeLayerError extends Error {
  override readonly name = "UnsafeLayerError";
  readonly entry: string;
  readonly reason: string;
  constructor(
    entry: string,
    reason: string,
  ) {
    super(`refusing layer entry ${JSON.stringify(entry)}: ${reason}`);
    this.entry = entry;
    this.reason = reason;
  }
}
