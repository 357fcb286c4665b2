// Watches the images each ManagedClusterModule's last reconcile pinned (or failed to pin), so a
// moved tag or a registry that comes back is acted on within a tick (250 ms) of the registry saying
// so, instead of at the MCM's next periodic requeue (issue 14: tag moved ≤ refresh interval + 5 s,
// recovery ≤ 5 s after the registry returns). Each tick asks the hub-wide DigestCache once per
// distinct image, for all MCMs together: it goes to the registry only for a digest older than the
// refresh interval, or a look-up that failed; everything else is a cache hit (no I/O, so a short
// tick costs next to nothing and writes nothing). An MCM whose answer changed is enqueued.
import type { DigestCache, Keychain } from "../shared/registry/index.ts";
import type { ImageToPin, Pin } from "./manifestwork.ts";
import { pinFromError } from "./pinning.ts";

/**
 * Time between looks: a stale digest is looked up at most this long after it went stale (the
 * refresh interval). Was 1 s; each tick is cache hits unless something is due.
 */
export const DEFAULT_TICK_MS = 250;

export interface ImageWatchOptions {
  digests: DigestCache;
  /** Reconciles an MCM soon (the controller's queue). */
  enqueue: (mcm: string) => void;
  /** Time between looks, ms (DEFAULT_TICK_MS). */
  tickMs?: number;
}

interface Watched {
  image: ImageToPin;
  keychain: Keychain | undefined;
  pin: Pin;
}

/** What a look-up says, for comparison: a digest, or the kind of failure (messages may vary). */
function outcomeOf(pin: Pin): string {
  return "digest" in pin ? `digest ${pin.digest}` : `failed ${pin.reason}`;
}

/** Failures a later look-up cannot change (the reference itself is bad; hub builds say when they end). */
function settled(pin: Pin): boolean {
  return !("digest" in pin) && (pin.reason === "InvalidReference" || pin.buildSign !== undefined);
}

export class ImageWatch {
  private readonly digests: DigestCache;
  private readonly enqueue: (mcm: string) => void;
  private readonly tickMs: number;
  private readonly byMcm = new Map<string, Watched[]>();
  private readonly keychainIds = new WeakMap<Keychain, number>();
  private nextKeychainId = 1;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  /** Aborted by stop(): a tick's registry look-ups end at once. */
  private stopping = new AbortController();

  constructor(opts: ImageWatchOptions) {
    this.digests = opts.digests;
    this.enqueue = opts.enqueue;
    this.tickMs = opts.tickMs ?? DEFAULT_TICK_MS;
  }

  /** Records what the MCM's reconcile got for each image (replacing what it got before). */
  set(mcm: string, images: readonly ImageToPin[], pins: ReadonlyMap<string, Pin>, keychain: Keychain | undefined): void {
    const watched = images.flatMap((image) => {
      const pin = pins.get(image.image);
      return pin === undefined || settled(pin) ? [] : [{ image, keychain, pin }];
    });
    if (watched.length === 0) this.byMcm.delete(mcm);
    else this.byMcm.set(mcm, watched);
  }

  forget(mcm: string): void {
    this.byMcm.delete(mcm);
  }

  /** MCMs watched (tests). */
  watching(): string[] {
    return [...this.byMcm.keys()];
  }

  start(): void {
    if (this.stopping.signal.aborted) this.stopping = new AbortController();
    this.timer ??= setInterval(() => {
      // One tick at a time: a registry that hangs must not pile look-ups up.
      this.ticking ??= this.tick().finally(() => {
        this.ticking = undefined;
      });
    }, this.tickMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopping.abort(new Error("image watch is stopping"));
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.byMcm.clear();
    await this.ticking;
  }

  /** Looks at every watched image once; enqueues each MCM whose answer changed. */
  async tick(): Promise<void> {
    const byImage = new Map<string, { w: Watched; mcms: string[] }>();
    for (const [mcm, watched] of this.byMcm) {
      for (const w of watched) {
        const key = `${w.image.image}|${JSON.stringify(w.image.tls)}|${this.keychainId(w.keychain)}|${outcomeOf(w.pin)}`;
        const entry = byImage.get(key);
        if (entry) entry.mcms.push(mcm);
        else byImage.set(key, { w, mcms: [mcm] });
      }
    }
    await Promise.all(
      [...byImage.values()].map(async ({ w, mcms }) => {
        let now: Pin;
        try {
          const opts = { tls: w.image.tls, signal: this.stopping.signal, ...(w.keychain ? { keychain: w.keychain } : {}) };
          now = { digest: await this.digests.resolve(w.image.image, opts) };
        } catch (err: unknown) {
          if (this.stopping.signal.aborted) return;
          now = pinFromError(w.image.image, err);
        }
        if (outcomeOf(now) === outcomeOf(w.pin)) return;
        for (const mcm of mcms) {
          // Its reconcile records the new answer; until then nothing more to say about it.
          if (this.byMcm.delete(mcm)) this.enqueue(mcm);
        }
      }),
    );
  }

  private keychainId(k: Keychain | undefined): number {
    if (k === undefined) return 0;
    let id = this.keychainIds.get(k);
    if (id === undefined) {
      id = this.nextKeychainId++;
      this.keychainIds.set(k, id);
    }
    return id;
  }
}
