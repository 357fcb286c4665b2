// Time source for the work queue and rate limiters. Injected so that backoff
// arithmetic can be tested without sleeping for minutes.

export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** milliseconds since an arbitrary, fixed origin */
  now(): number;
  setTimer(fn: () => void, ms: number): TimerHandle;
}

export const realClock: Clock = {
  now: () => performance.now(),
  setTimer(fn, ms) {
    const t = setTimeout(fn, Math.max(0, ms));
    // A pending requeue must not keep a finished process alive.
    t.unref();
    return { cancel: () => { clearTimeout(t); } };
  },
};

interface FakeTimer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** Deterministic clock: time moves only when `advance` is called. */
export class FakeClock implements Clock {
  private current: number;
  private seq = 0;
  private timers: FakeTimer[] = [];

  constructor(start = 0) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimer(fn: () => void, ms: number): TimerHandle {
    const timer: FakeTimer = { at: this.current + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.timers.push(timer);
    return { cancel: () => { timer.cancelled = true; } };
  }

  /** Moves time forward, firing due timers in time order (ties in creation order). */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      const live = this.timers.filter((t) => !t.cancelled && t.at <= target);
      if (live.length === 0) break;
      live.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = live[0];
      if (next === undefined) break;
      next.cancelled = true;
      this.current = Math.max(this.current, next.at);
      next.fn();
    }
    this.timers = this.timers.filter((t) => !t.cancelled);
    this.current = target;
  }

  pendingTimers(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }
}
