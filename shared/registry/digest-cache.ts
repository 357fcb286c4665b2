import { createHash } from "node:crypto";
import { SharedWork } from "./abort.ts";
import type { CallOptions, RegistryClient } from "./client.ts";
import { ImageNotFoundError } from "./errors.ts";
import { formatReference, parseReference, type ImageReference } from "./reference.ts";

// One cache of tag → digest for the whole hub. However many clusters and
// ManagedClusterModules ask for a reference, the registry sees one request per
// distinct reference per refresh interval; look-ups of a reference that is
// being resolved wait for that request instead of sending their own.
// "Does not exist" is cached like a digest (a build or sign finishing calls
// invalidate()); other failures are not, so the next look-up tries again.
// A look-up given an AbortSignal stops waiting when it aborts; the registry request is
// aborted once every look-up waiting for it has given up.

export interface DigestCacheOptions {
  client: RegistryClient;
  /** How long a resolved digest is trusted before the registry is asked again. */
  refreshIntervalMs: number;
  now?: () => number;
}

type Entry =
  | { state: "resolved"; digest: string; at: number }
  | { state: "missing"; error: ImageNotFoundError; at: number }
  | { state: "pending"; work: SharedWork<string> };

export class DigestCache {
  private readonly entries = new Map<string, Entry>();
  private readonly client: RegistryClient;
  private readonly interval: number;
  private readonly now: () => number;

  constructor(opts: DigestCacheOptions) {
    this.client = opts.client;
    this.interval = opts.refreshIntervalMs;
    this.now = opts.now ?? Date.now;
  }

  /** Distinct references currently cached (resolved, missing or in flight). */
  get size(): number {
    return this.entries.size;
  }

  private key(ref: ImageReference, opts: CallOptions | undefined): string {
    // TLS settings and credentials change what the registry answers, so they are part of the key.
    const tls = opts?.tls ?? {};
    const cred = opts?.keychain?.resolve(ref);
    const who = cred ? createHash("sha256").update(`${cred.username}\0${cred.password}`).digest("hex").slice(0, 16) : "-";
    return `${formatReference(ref)}|${tls.insecure === true}|${tls.insecureSkipTLSVerify === true}|${who}`;
  }

  /**
   * The digest for a reference, from the cache while it is fresh. With `opts.signal`, rejects with
   * its reason as soon as it aborts.
   */
  async resolve(input: string | ImageReference, opts?: CallOptions): Promise<string> {
    const ref = typeof input === "string" ? parseReference(input) : input;
    const key = this.key(ref, opts);
    const entry = this.entries.get(key);
    if (entry?.state === "pending") return entry.work.wait(opts?.signal);
    if (entry && this.now() - entry.at < this.interval) {
      if (entry.state === "resolved") return entry.digest;
      throw entry.error;
    }
    const work = new SharedWork((signal) =>
      this.client.resolveDigest(ref, { ...opts, signal }).then(
        (digest) => {
          this.entries.set(key, { state: "resolved", digest, at: this.now() });
          return digest;
        },
        (err: unknown) => {
          if (err instanceof ImageNotFoundError) this.entries.set(key, { state: "missing", error: err, at: this.now() });
          else if (entry) this.entries.set(key, entry);
          else this.entries.delete(key);
          throw err;
        },
      ),
    );
    this.entries.set(key, { state: "pending", work });
    return work.wait(opts?.signal);
  }

  /** Forgets a reference (every TLS/credential variant), e.g. after a build or sign pushed it. */
  invalidate(input: string | ImageReference): void {
    const ref = typeof input === "string" ? parseReference(input) : input;
    const prefix = `${formatReference(ref)}|`;
    for (const [key, entry] of this.entries) {
      if (key.startsWith(prefix) && entry.state !== "pending") this.entries.delete(key);
    }
  }

  /** Marks every entry stale: the next look-up of each reference asks the registry again. */
  expireAll(): void {
    for (const [key, entry] of this.entries) {
      if (entry.state !== "pending") this.entries.set(key, { ...entry, at: Number.NEGATIVE_INFINITY });
    }
  }
}
