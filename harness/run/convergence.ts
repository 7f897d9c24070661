/**
 * The runner's memory of a run's observations, deciding which attempts need another round.
 * What observations mean (settled, leak, the verdict) is the convergence rule in
 * harness/results/judge.ts: the runner and the results fold judge with the same function.
 */
import type { Expectation, Outcome } from '../scenario/outcomes.js';
import { isSettled, judgeObservations, leakIn, type Judgement } from '../results/judge.js';

export type { Judgement, Verdict } from '../results/judge.js';

export interface Observation {
  readonly attempt: string;
  /** 1-based round number. */
  readonly round: number;
  readonly outcome: Outcome;
  /** When it was observed (ms since the epoch). */
  readonly at: number;
  readonly evidence?: Readonly<Record<string, unknown>>;
}

export interface ConvergenceProps {
  /**
   * Consecutive equal outcomes that make an attempt settled.
   * @default 3
   */
  readonly stableRounds?: number;
}

/** Tracks every observation of a run (none is ever dropped) and judges attempts from them. */
export class Convergence {
  readonly stableRounds: number;
  private readonly byAttempt = new Map<string, Observation[]>();

  constructor(props: ConvergenceProps = {}) {
    this.stableRounds = props.stableRounds ?? 3;
    if (this.stableRounds < 1) throw new Error('stableRounds must be at least 1');
  }

  record(observation: Observation): void {
    const list = this.byAttempt.get(observation.attempt) ?? [];
    list.push(observation);
    this.byAttempt.set(observation.attempt, list);
  }

  observations(attempt: string): readonly Observation[] {
    return this.byAttempt.get(attempt) ?? [];
  }

  /** Settled: the last `stableRounds` outcomes are equal. */
  isSettled(attempt: string): boolean {
    return isSettled(this.observations(attempt), this.stableRounds);
  }

  /** Which of these attempts still need another round. A leak needs no more rounds: it is final. */
  unsettled(attempts: readonly { id: string; expect: Expectation }[]): string[] {
    return attempts
      .filter((a) => !this.isSettled(a.id) && !leakIn(this.observations(a.id), a.expect))
      .map((a) => a.id);
  }

  judge(attempt: string, expect: Expectation): Judgement {
    return judgeObservations(attempt, this.observations(attempt), expect, this.stableRounds);
  }
}
