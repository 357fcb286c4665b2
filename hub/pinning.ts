// Tag → digest look-ups for the images a ManagedClusterModule needs, through the hub-wide DigestCache.
import {
  ImageNotFoundError,
  InvalidReferenceError,
  RegistryAuthError,
  RegistryUnreachableError,
  type DigestCache,
  type Keychain,
} from "../shared/registry/index.ts";
import type { ImageToPin, Pin, PinFailureReason } from "./manifestwork.ts";

/** A failed look-up as the status and events show it (never the credentials). */
export function pinFromError(image: string, err: unknown): Pin {
  const message = err instanceof Error ? err.message : String(err);
  let reason: PinFailureReason = "RegistryError";
  if (err instanceof ImageNotFoundError) reason = "ImageNotFound";
  else if (err instanceof RegistryUnreachableError) reason = "RegistryUnreachable";
  else if (err instanceof RegistryAuthError) reason = "RegistryAuth";
  else if (err instanceof InvalidReferenceError) reason = "InvalidReference";
  return { error: message.includes(image) ? message : `${image}: ${message}`, reason };
}

/**
 * Resolves every image (in parallel; the cache coalesces repeats across MCMs and clusters).
 * `signal` (the reconcile's stop signal) aborts the look-ups: the call then rejects with its reason
 * instead of reporting a registry failure.
 */
export async function resolvePins(cache: DigestCache, images: readonly ImageToPin[], keychain: Keychain | undefined, signal?: AbortSignal): Promise<Map<string, Pin>> {
  const entries = await Promise.all(
    images.map(async (img): Promise<[string, Pin]> => {
      try {
        const digest = await cache.resolve(img.image, { tls: img.tls, ...(keychain ? { keychain } : {}), ...(signal ? { signal } : {}) });
        return [img.image, { digest }];
      } catch (err: unknown) {
        if (signal?.aborted === true) throw err;
        return [img.image, pinFromError(img.image, err)];
      }
    }),
  );
  return new Map(entries);
}

/**
 * Remembers each MCM's imageRebuildTriggerGeneration: a change means "look at every image again now",
 * even before the refresh interval is up. The first sighting is not a change (the cache is cold anyway).
 */
export class RebuildTriggers {
  private readonly seen = new Map<string, number | undefined>();

  /** Records the current value; true when it differs from the one seen before. */
  changed(mcm: string, generation: number | undefined): boolean {
    const known = this.seen.has(mcm);
    const before = this.seen.get(mcm);
    this.seen.set(mcm, generation);
    return known && before !== generation;
  }

  forget(mcm: string): void {
    this.seen.delete(mcm);
  }
}

/** Forgets the cached digests of these images so the next look-up asks the registry. */
export function expireImages(cache: DigestCache, images: readonly ImageToPin[]): void {
  for (const img of images) cache.invalidate(img.image);
}
