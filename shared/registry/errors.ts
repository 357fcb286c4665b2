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
  private readonly summary: string;
  private readonly context: RegistryErrorContext;
  constructor(summary: string, ctx: RegistryErrorContext, options?: ErrorOptions) {
    super(`${summary} (${describe(ctx)})`, options);
    this.summary = summary;
    this.context = ctx;
    this.image = ctx.image;
    this.registry = ctx.registry;
    this.status = ctx.status;
    this.code = ctx.code;
  }

  /**
   * The same error about another image. A registry's ping and token requests are shared by every
   * image that needs them at the same moment; the error each caller sees must name its own image,
   * not the one whose request happened to go first. Same class, same cause; `this` when it already fits.
   */
  forImage(image: string): this {
    if (image === this.image) return this;
    const copy = Object.create(Object.getPrototypeOf(this) as object) as this;
    Object.assign(copy, this);
    const ctx = { ...this.context, image };
    const summary = this.summary.split(this.image).join(image);
    Object.defineProperty(copy, "message", { value: `${summary} (${describe(ctx)})`, writable: true, configurable: true, enumerable: false });
    Object.defineProperty(copy, "stack", { value: `${copy.name}: ${copy.message}\n${(this.stack ?? "").split("\n").slice(1).join("\n")}`, writable: true, configurable: true, enumerable: false });
    if (this.cause !== undefined) Object.defineProperty(copy, "cause", { value: this.cause, writable: true, configurable: true, enumerable: false });
    Object.assign(copy, { image, summary, context: ctx });
    return copy;
  }
}

/** Rethrow helper: a shared request's failure, named for the image of this caller. */
export function forImage(err: unknown, image: string): unknown {
  return err instanceof RegistryError ? err.forImage(image) : err;
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
