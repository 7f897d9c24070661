/**
 * The time a run reads and waits on: settle, round intervals, the convergence deadline and the
 * timestamps of its records. Injected (as testcontainers-node injects its clock), so tests drive
 * a run through its waits without sleeping.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface RunClock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: RunClock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    ms <= 0 ? Promise.resolve() : sleep(ms, undefined, signal ? { signal } : {}).catch(() => undefined),
};
