// Cancellation for registry calls: callers pass the standard AbortSignal; requests, back-off waits
// and waits for work shared with other callers (the /v2/ check, token fetches, digest look-ups) end
// at once with the signal's reason.

/** The signal's reason when it is an Error (a DOMException "AbortError" without one); else an Error wrapping it. */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  return new Error(`registry call aborted: ${String(reason)}`, { cause: reason });
}

/** Waits for `promise`, or rejects with the signal's reason as soon as it aborts. */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortReason(signal));
  let onAbort = (): void => undefined;
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(abortReason(signal));
    signal.addEventListener("abort", onAbort, { once: true });
  });
  return Promise.race([promise, aborted]).finally(() => signal.removeEventListener("abort", onAbort));
}

/**
 * Work shared by several callers, each of which may give up on its own: the work is aborted
 * (its request and socket destroyed) once every caller waiting for it has given up. A caller
 * without a signal never gives up, so it keeps the work going for the others.
 */
export class SharedWork<T> {
  readonly promise: Promise<T>;
  private readonly controller = new AbortController();
  private waiting = 0;

  constructor(work: (signal: AbortSignal) => Promise<T>) {
    this.promise = work(this.controller.signal);
    // Callers see the rejection through wait(); an unwatched one must not crash the process.
    this.promise.catch(() => undefined);
  }

  /** The work's result for one caller; rejects with that caller's abort reason when it gives up. */
  wait(signal: AbortSignal | undefined): Promise<T> {
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    this.waiting++;
    if (!signal) return this.promise;
    const onAbort = (): void => {
      this.waiting--;
      if (this.waiting === 0) this.controller.abort(abortReason(signal));
    };
    signal.addEventListener("abort", onAbort, { once: true });
    const forget = (): void => signal.removeEventListener("abort", onAbort);
    this.promise.then(forget, forget);
    return untilAborted(this.promise, signal);
  }
}
