/**
 * A clock for code with several timelines at once (a probe stream's sources, the transition they
 * watch): each sleep is a timer at now + ms, and time jumps to the earliest timer once everything
 * else has run (after a macrotask turn), so concurrent sleepers wake in time order and no test
 * waits for real time. Work that takes time in the code under test takes it by sleeping.
 */
import type { RunClock } from '../../harness/run/clock.js';

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly wake: () => void;
}

export class VirtualClock implements RunClock {
  #now: number;
  #seq = 0;
  #timers: Timer[] = [];
  #scheduled = false;

  constructor(start = Date.parse('2026-12-01T00:00:00.000Z')) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const timer: Timer = {
        at: this.#now + Math.max(0, ms),
        seq: this.#seq++,
        wake: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.#timers = this.#timers.filter((t) => t !== timer);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#timers.push(timer);
      this.#kick();
    });
  }

  #kick(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      const next = this.#timers.toSorted((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!next) return;
      this.#timers = this.#timers.filter((t) => t !== next);
      this.#now = Math.max(this.#now, next.at);
      next.wake();
      if (this.#timers.length > 0) this.#kick();
    });
  }
}
