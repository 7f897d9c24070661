/**
 * Monotonic milliseconds. Not `performance.now()`: the first touch of the `performance` global
 * loads perf_hooks and ten internal modules with it, a cost every agent start paid for a clock.
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Elapsed time of one attempt, and what is left of its deadline. */
export class Clock {
  readonly #started = monotonicMs();

  elapsed(): number {
    return Math.round(monotonicMs() - this.#started);
  }

  /** Milliseconds left before `timeoutMs` since the start, never below zero. */
  remaining(timeoutMs: number): number {
    return Math.max(0, timeoutMs - (monotonicMs() - this.#started));
  }
}

/** Marks a promise that lost the race against the deadline. */
export class DeadlineExceeded extends Error {
  override readonly name = 'DeadlineExceeded';
}

/** The promise's value, or DeadlineExceeded after `ms`. The timer never outlives the race. */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new DeadlineExceeded());
    }, ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Node's error code and message, from whatever was thrown (AggregateError included). */
export function errorFacts(error: unknown): { code?: string; message: string } {
  if (error instanceof AggregateError && error.errors.length > 0) {
    const first = errorFacts(error.errors[0]);
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? { ...first, code } : first;
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? { code, message: error.message } : { message: error.message };
  }
  return { message: String(error) };
}
