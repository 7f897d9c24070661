/**
 * A clock for runs that must not wait: time moves only when the run sleeps, by exactly what it
 * asked, and every sleep is recorded, so a test can assert the waits without taking them.
 */
import type { RunClock } from '../../harness/run/clock.js';

export class ManualClock implements RunClock {
  #now: number;
  readonly sleeps: number[] = [];

  constructor(start = Date.parse('2026-12-01T00:00:00.000Z')) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.#now += ms;
    return Promise.resolve();
  }
}
