// Readiness that follows the API server itself. An informer notices a lost API server only when its
// watch breaks; an API server whose etcd is gone, or a stopped process, keeps the watch open and
// silent. A GET /readyz every couple of seconds (allowed to everyone by Kubernetes'
// system:public-info-viewer role) turns readiness red within a few seconds of either.
import type { RawClient } from "../kube/raw.ts";
import type { Logger } from "./logger.ts";

export interface ApiServerProbeOptions {
  raw: RawClient;
  logger: Logger;
  /** Time between probes (ms). */
  intervalMs?: number;
  /** A probe unanswered this long counts as a failure (ms). */
  timeoutMs?: number;
}

export class ApiServerProbe {
  private readonly raw: RawClient;
  private readonly log: Logger;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private timer: NodeJS.Timeout | undefined;
  private inFlightSince: number | undefined;
  private failure: string | undefined;
  private stopped = false;

  constructor(opts: ApiServerProbeOptions) {
    this.raw = opts.raw;
    this.log = opts.logger.child({ component: "apiserver-probe" });
    this.intervalMs = opts.intervalMs ?? 2000;
    this.timeoutMs = opts.timeoutMs ?? 2000;
  }

  start(): void {
    this.stopped = false;
    this.tick();
    this.timer = setInterval(() => { this.tick(); }, this.intervalMs);
    this.timer.unref();
  }

  stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    return Promise.resolve();
  }

  /** Readiness: fails while the last probe failed or one has gone unanswered too long. */
  readinessCheck(): () => boolean {
    return () => {
      this.tick();
      if (this.failure !== undefined) throw new Error(`API server: ${this.failure}`);
      return true;
    };
  }

  private fail(why: string): void {
    if (this.failure === undefined) this.log.warn({ err: why }, "API server probe failing");
    this.failure = why;
  }

  private tick(): void {
    if (this.stopped) return;
    const now = Date.now();
    if (this.inFlightSince !== undefined) {
      // One probe at a time: a hung API server must not pile requests up.
      if (now - this.inFlightSince > this.timeoutMs) this.fail(`no answer to GET /readyz within ${this.timeoutMs} ms`);
      return;
    }
    this.inFlightSince = now;
    this.raw.request("GET", "/readyz").then(
      () => {
        if (this.failure !== undefined) this.log.info("API server probe recovered");
        this.failure = undefined;
      },
      (err: unknown) => { this.fail(err instanceof Error ? err.message : String(err)); },
    ).finally(() => {
      this.inFlightSince = undefined;
    });
  }
}
