/**
 * What a probe stream's observations say about one transition (harness/upgrade/stream.ts
 * collects them): data in, the `transition` part out (harness/results/transition-schema.ts).
 *
 * - Only what was sent at or after the transition's start counts; what the sessions' warm-up
 *   sent before it is counted as `before` and judged by nothing.
 * - A must-deny attempt seen with a granting outcome (`allowed`, `api-allowed`) is a leak, each
 *   one listed with its wall-clock time and its offset from the start.
 * - A must-allow attempt's observations, errors left out, in time order: each run of failures
 *   (any outcome its expectation does not admit) spans from the last success before it (or the
 *   start) to the first success after it (or the end); its length is the gap. The longest gap and
 *   the longest run are the attempt's; a gap longer than the threshold is a disruption. At a
 *   sampling interval of `1/rate`, one lost sample already makes a gap of about two intervals.
 * - An `error` (the probe or its exec failed) says nothing about the data path: counted apart,
 *   never a deny, a leak or a failure.
 */
import { GRANTED_OUTCOMES, type Outcome } from '../scenario/outcomes.js';
import type { TransitionGap, TransitionLeak, TransitionPart } from '../results/transition-schema.js';

/** One attempt of the stream and what it must show. */
export interface StreamAttempt {
  readonly id: string;
  /** `namespace/workload` of the source. */
  readonly from: string;
  /** The destination as dialled. */
  readonly to: string;
  /** Must-deny (a granting outcome is a leak); otherwise must-allow. */
  readonly mustDeny: boolean;
  /** The outcomes the expectation admits. */
  readonly expected: readonly Outcome[];
}

export interface StreamObservation {
  readonly attempt: string;
  readonly outcome: Outcome;
  /** When the result came back, ms since the epoch. */
  readonly at: number;
  /** When its batch was sent. */
  readonly sentAt: number;
  /** `namespace/name` of the source pod. */
  readonly pod: string;
}

export interface AnalysisProps {
  readonly name: string;
  readonly title: string;
  /** The transition's start and the stream's end, ms since the epoch. */
  readonly startedAt: number;
  readonly endedAt: number;
  readonly completed: boolean;
  readonly barrier: TransitionPart['barrier'];
  readonly ratePerSecond: number;
  readonly disruptionThresholdMs: number;
  readonly maxBatch: number;
  readonly attempts: readonly StreamAttempt[];
  readonly observations: readonly StreamObservation[];
  /** Results of batches sent before the start (the warm-up), counted apart. @default 0 */
  readonly before?: number;
  /** Batches sent per source since the start. */
  readonly sources: readonly { readonly source: string; readonly batches: number }[];
}

/** Leaks listed at most (the count says how many there were). */
export const MAX_LISTED_LEAKS = 200;
/** Disruptions listed at most per attempt. */
export const MAX_LISTED_GAPS = 50;
/** The timeline has at most this many buckets (each a whole number of seconds). */
export const MAX_BUCKETS = 120;

export function streamRule(props: Pick<AnalysisProps, 'ratePerSecond' | 'disruptionThresholdMs'>): string {
  return (
    `Every source pod sends a batch of its must-deny and must-allow attempts ${String(props.ratePerSecond)} times a second ` +
    `through its agent session, from the start of the transition until it completed and istiod showed every run sidecar in sync. ` +
    `A must-deny attempt seen granted is a leak. A must-allow attempt without success for more than ` +
    `${String(props.disruptionThresholdMs)} ms around failures is a disruption. A probe error is neither.`
  );
}

const iso = (ms: number) => new Date(ms).toISOString();

export function analyseStream(props: AnalysisProps): TransitionPart {
  const t0 = props.startedAt;
  const end = Math.max(props.endedAt, t0);
  const counted = props.observations.filter((o) => o.sentAt >= t0);
  const byAttempt = new Map<string, StreamObservation[]>();
  for (const o of counted) byAttempt.set(o.attempt, [...(byAttempt.get(o.attempt) ?? []), o]);
  const leaks: TransitionLeak[] = [];
  const disruptions: TransitionGap[] = [];
  let leakCount = 0;
  const attempts = props.attempts.map((a) => {
    const seen = (byAttempt.get(a.id) ?? []).toSorted((x, y) => x.at - y.at);
    const judged = seen.filter((o) => o.outcome !== 'error');
    const granted = judged.filter((o) => GRANTED_OUTCOMES.includes(o.outcome));
    const base = {
      id: a.id,
      from: a.from,
      to: a.to,
      mustDeny: a.mustDeny,
      observed: judged.length,
      granted: granted.length,
      errors: seen.length - judged.length,
    };
    if (a.mustDeny) {
      for (const o of granted) {
        leakCount += 1;
        if (leaks.length < MAX_LISTED_LEAKS)
          leaks.push({ attempt: a.id, at: iso(o.at), offsetMs: o.at - t0, outcome: o.outcome, pod: o.pod });
      }
      return base;
    }
    const gaps = failureRuns(judged, a.expected, t0, end);
    const over = gaps.filter((g) => g.gapMs > props.disruptionThresholdMs);
    for (const g of over.slice(0, MAX_LISTED_GAPS))
      disruptions.push({
        attempt: a.id,
        from: iso(g.from),
        to: iso(g.to),
        startOffsetMs: g.from - t0,
        gapMs: g.gapMs,
        failures: g.failures,
        closed: g.closed,
      });
    return {
      ...base,
      maxGapMs: Math.max(0, ...gaps.map((g) => g.gapMs)),
      longestFailures: Math.max(0, ...gaps.map((g) => g.failures)),
    };
  });
  leaks.sort((x, y) => x.offsetMs - y.offsetMs || x.attempt.localeCompare(y.attempt));
  disruptions.sort((x, y) => x.startOffsetMs - y.startOffsetMs || x.attempt.localeCompare(y.attempt));
  const duration = end - t0;
  const seconds = duration / 1000;
  return {
    name: props.name,
    title: props.title,
    startedAt: iso(t0),
    endedAt: iso(end),
    durationMs: duration,
    completed: props.completed,
    barrier: { ...props.barrier },
    method: {
      ratePerSecond: props.ratePerSecond,
      disruptionThresholdMs: props.disruptionThresholdMs,
      maxBatch: props.maxBatch,
      rule: streamRule(props),
    },
    sources: props.sources.map((s) => ({
      source: s.source,
      batches: s.batches,
      ratePerSecond: seconds > 0 ? Math.round((s.batches / seconds) * 100) / 100 : 0,
    })),
    attempts,
    leaks,
    leakCount,
    disruptions,
    errors: counted.filter((o) => o.outcome === 'error').length,
    before: (props.before ?? 0) + props.observations.length - counted.length,
    timeline: timeline(props.attempts, counted, t0, end),
  };
}

interface Run {
  readonly from: number;
  readonly to: number;
  readonly gapMs: number;
  readonly failures: number;
  readonly closed: boolean;
}

/** Each run of failures of a must-allow attempt, with the successes around it. */
function failureRuns(
  judged: readonly StreamObservation[],
  expected: readonly Outcome[],
  t0: number,
  end: number,
): Run[] {
  const runs: Run[] = [];
  let lastSuccess = t0;
  let failures = 0;
  for (const o of judged) {
    if (expected.includes(o.outcome)) {
      if (failures > 0)
        runs.push({ from: lastSuccess, to: o.at, gapMs: o.at - lastSuccess, failures, closed: true });
      failures = 0;
      lastSuccess = o.at;
    } else failures += 1;
  }
  if (failures > 0)
    runs.push({ from: lastSuccess, to: end, gapMs: end - lastSuccess, failures, closed: false });
  return runs;
}

function timeline(
  attempts: readonly StreamAttempt[],
  counted: readonly StreamObservation[],
  t0: number,
  end: number,
): TransitionPart['timeline'] {
  const duration = end - t0;
  const bucketMs = Math.max(1000, Math.ceil(duration / MAX_BUCKETS / 1000) * 1000);
  const n = Math.max(1, Math.ceil(duration / bucketMs));
  const buckets = Array.from({ length: n }, () => ({ held: 0, leaks: 0, failures: 0, errors: 0 }));
  const byId = new Map(attempts.map((a) => [a.id, a]));
  for (const o of counted) {
    const a = byId.get(o.attempt);
    if (!a) continue;
    const b = buckets[Math.min(n - 1, Math.max(0, Math.floor((o.at - t0) / bucketMs)))];
    if (!b) continue;
    if (o.outcome === 'error') b.errors += 1;
    else if (a.mustDeny) {
      if (GRANTED_OUTCOMES.includes(o.outcome)) b.leaks += 1;
      else b.held += 1;
    } else if (a.expected.includes(o.outcome)) b.held += 1;
    else b.failures += 1;
  }
  return { bucketMs, buckets };
}
