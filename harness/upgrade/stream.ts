/**
 * The probe stream of a transition: while istiod rolls out or the sidecars restart, every source
 * pod sends a small batch of its must-deny and must-allow attempts at a fixed rate through its
 * persistent agent session (harness/run/sessions.ts: one exec per pod, kept open, a batch per
 * line), and every result is kept with the time it came back. What the results mean is
 * stream-analysis.ts's.
 *
 * - The sessions are opened by a warm-up batch per source before the transition starts, so the
 *   first second of the transition is not spent opening execs; the warm-up is judged by nothing.
 * - Each source sends at most `ratePerSecond` batches a second (a batch still running when the
 *   next is due delays it: the achieved rate is recorded), each of at most {@link MAX_STREAM_BATCH}
 *   attempts; a source with more takes them in turn.
 * - The source pod of each workload is looked up again at most once a `refreshMs`, so a restart's
 *   new pods take over from the old ones; a workload without a Ready pod gets `error`
 *   observations, never a deny.
 * - Stopping waits for the batches in flight, then closes the sessions.
 */
import type { RoundObservation, SourceBatch } from '../run/execute.js';
import type { RunClock } from '../run/clock.js';
import type { Outcome } from '../scenario/outcomes.js';
import type { Attempt } from '../scenario/types.js';
import type { TransitionPart } from '../results/transition-schema.js';
import { analyseStream, type StreamAttempt, type StreamObservation } from './stream-analysis.js';

/** Attempts in one batch of the stream at most. */
export const MAX_STREAM_BATCH = 16;
/** The fastest stream a flag may ask for, batches per second per source. */
export const MAX_STREAM_RATE = 10;

export const STREAM_DEFAULTS = {
  ratePerSecond: 2,
  disruptionThresholdMs: 1000,
  refreshMs: 1000,
} as const;

/** How the stream's batches reach the pods. */
export interface StreamProber {
  /** Runs one batch in its source pod, each result handed to `observe` as it comes. */
  batch(batch: SourceBatch, observe: (o: RoundObservation) => void): Promise<void>;
  /** Ends every session. */
  close(): Promise<void>;
}

export interface ProbeStreamProps {
  /** The scenario's attempts the stream sends, each with what it must show. */
  readonly attempts: readonly { readonly attempt: Attempt; readonly stream: StreamAttempt }[];
  /** `namespace/workload` → the name of its Ready pod now. */
  readonly pods: () => Promise<ReadonlyMap<string, string>>;
  readonly prober: StreamProber;
  readonly clock: RunClock;
  /** Batches per second per source. @default 2 */
  readonly ratePerSecond?: number;
  /** @default 1000 */
  readonly disruptionThresholdMs?: number;
  /** How often the pods are looked up again. @default 1000 */
  readonly refreshMs?: number;
  readonly signal?: AbortSignal;
}

export interface StreamEnd {
  readonly name: string;
  readonly title: string;
  readonly completed: boolean;
  readonly barrier: TransitionPart['barrier'];
}

interface Source {
  readonly source: string;
  readonly namespace: string;
  readonly attempts: readonly Attempt[];
  /** Batches sent since the start. */
  batches: number;
  /** Batches sent in all, the warm-up's included: whose turn it is. */
  turns: number;
}

export class ProbeStream {
  readonly #props: ProbeStreamProps;
  readonly #interval: number;
  readonly #stopping = new AbortController();
  readonly #signal: AbortSignal;
  readonly #sources: Source[];
  readonly #observations: StreamObservation[] = [];
  #before = 0;
  #startedAt = 0;
  #loops: Promise<void>[] = [];
  #pods: ReadonlyMap<string, string> = new Map();
  #podsAt = Number.NEGATIVE_INFINITY;
  #refresh: Promise<void> | undefined;

  private constructor(props: ProbeStreamProps) {
    const rate = props.ratePerSecond ?? STREAM_DEFAULTS.ratePerSecond;
    if (!(rate > 0 && rate <= MAX_STREAM_RATE))
      throw new RangeError(
        `a probe stream runs at more than 0 and at most ${String(MAX_STREAM_RATE)} batches a second, not ${String(rate)}`,
      );
    this.#props = props;
    this.#interval = 1000 / rate;
    this.#signal = props.signal
      ? AbortSignal.any([this.#stopping.signal, props.signal])
      : this.#stopping.signal;
    const bySource = new Map<string, Attempt[]>();
    for (const { attempt } of props.attempts) {
      const key = `${attempt.from.namespace}/${attempt.from.name}`;
      bySource.set(key, [...(bySource.get(key) ?? []), attempt]);
    }
    this.#sources = [...bySource].map(([source, attempts]) => ({
      source,
      namespace: attempts[0]?.from.namespace ?? '',
      attempts,
      batches: 0,
      turns: 0,
    }));
  }

  /**
   * Opens the sessions (one warm-up batch per source), then marks the transition's start and
   * starts the stream; returns once it runs.
   */
  static async start(props: ProbeStreamProps): Promise<ProbeStream> {
    const stream = new ProbeStream(props);
    await stream.#warmUp();
    stream.#startedAt = props.clock.now();
    stream.#loops = stream.#sources.map((s) => stream.#loop(s));
    return stream;
  }

  /** When the transition started, ms since the epoch. */
  get startedAt(): number {
    return this.#startedAt;
  }

  /** Stops sending, waits for the batches in flight, closes the sessions and says what the stream saw. */
  async stop(end: StreamEnd): Promise<TransitionPart> {
    const endedAt = this.#props.clock.now();
    this.#stopping.abort();
    try {
      await Promise.all(this.#loops);
    } finally {
      await this.#props.prober.close();
    }
    return analyseStream({
      ...end,
      startedAt: this.#startedAt,
      endedAt,
      ratePerSecond: 1000 / this.#interval,
      disruptionThresholdMs: this.#props.disruptionThresholdMs ?? STREAM_DEFAULTS.disruptionThresholdMs,
      maxBatch: MAX_STREAM_BATCH,
      attempts: this.#props.attempts.map((a) => a.stream),
      observations: this.#observations.filter((o) => o.sentAt <= endedAt),
      before: this.#before,
      sources: this.#sources.map((s) => ({ source: s.source, batches: s.batches })),
    });
  }

  async #warmUp(): Promise<void> {
    await Promise.all(
      this.#sources.map(async (s) => {
        await this.#send(s, () => {
          this.#before += 1;
        });
        s.batches = 0;
      }),
    );
  }

  async #loop(s: Source): Promise<void> {
    const { clock } = this.#props;
    let due = this.#startedAt;
    while (!this.#stopped()) {
      const wait = due - clock.now();
      if (wait > 0) await clock.sleep(wait, this.#signal);
      if (this.#stopped()) return;
      await this.#send(s, (o) => this.#observations.push(o));
      // Never faster than the rate; a slow batch makes the next one late, not two at once.
      due = Math.max(due + this.#interval, clock.now());
    }
  }

  #stopped(): boolean {
    return this.#signal.aborted;
  }

  /** Sends the source's next batch. */
  async #send(s: Source, keep: (o: StreamObservation) => void): Promise<void> {
    const { clock } = this.#props;
    const window = nextWindow(s);
    if (window.length === 0) return;
    const pods = await this.#currentPods();
    const pod = pods.get(s.source);
    const sentAt = clock.now();
    s.batches += 1;
    s.turns += 1;
    const where = `${s.namespace}/${pod ?? ''}`;
    const record = (attempt: string, outcome: Outcome) => {
      keep({ attempt, outcome, at: clock.now(), sentAt, pod: where });
    };
    if (!pod) {
      for (const a of window) record(a.id, 'error');
      return;
    }
    await this.#props.prober.batch(
      { source: s.source, namespace: s.namespace, pod, attempts: window },
      (o) => {
        record(o.attempt, o.outcome);
      },
    );
  }

  /** The pods, looked up again when the last lookup is older than `refreshMs` (one lookup at a time). */
  async #currentPods(): Promise<ReadonlyMap<string, string>> {
    const { clock } = this.#props;
    const refreshMs = this.#props.refreshMs ?? STREAM_DEFAULTS.refreshMs;
    if (clock.now() - this.#podsAt >= refreshMs) {
      this.#refresh ??= (async () => {
        try {
          this.#pods = await this.#props.pods();
        } catch {
          // The API server did not answer: the pods known before stand.
        } finally {
          this.#podsAt = clock.now();
          this.#refresh = undefined;
        }
      })();
      await this.#refresh;
    }
    return this.#pods;
  }
}

/** The source's next attempts, at most {@link MAX_STREAM_BATCH}, in turn. */
function nextWindow(s: Source): Attempt[] {
  const n = s.attempts.length;
  if (n <= MAX_STREAM_BATCH) return [...s.attempts];
  const start = (s.turns * MAX_STREAM_BATCH) % n;
  return Array.from({ length: MAX_STREAM_BATCH }, (_, i) => s.attempts[(start + i) % n]).filter(
    (a): a is Attempt => a !== undefined,
  );
}
