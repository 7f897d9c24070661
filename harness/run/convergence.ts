/**
 * Deciding when observations have settled, and what they mean. Policies take effect
 * eventually, so attempts are repeated in rounds until each one's outcome has been the same in
 * `stableRounds` consecutive rounds (or a deadline passes). Two rules override stability:
 * a must-deny attempt seen granted in any round after the policies were applied is a leak,
 * whatever later rounds show; and `error` never satisfies an expectation.
 */
import {
  GRANTED_OUTCOMES,
  isMustDeny,
  satisfies,
  type Expectation,
  type Outcome,
} from '../scenario/outcomes.js';

export interface Observation {
  readonly attempt: string;
  /** 1-based round number. */
  readonly round: number;
  readonly outcome: Outcome;
  /** When it was observed (ms since the epoch). */
  readonly at: number;
  readonly evidence?: Readonly<Record<string, unknown>>;
}

export type Verdict = 'pass' | 'fail' | 'error';

export interface Judgement {
  readonly attempt: string;
  readonly verdict: Verdict;
  /** The outcome reported for the attempt: the settled one, or the last seen. */
  readonly outcome: Outcome;
  readonly rounds: number;
  readonly stable: boolean;
  readonly leak: boolean;
  /** One sentence saying why, for reports and failure messages. */
  readonly reason: string;
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
    const list = this.observations(attempt);
    if (list.length < this.stableRounds) return false;
    const tail = list.slice(-this.stableRounds);
    return tail.every((o) => o.outcome === tail[0]?.outcome);
  }

  /** Which of these attempts still need another round. A leak needs no more rounds: it is final. */
  unsettled(attempts: readonly { id: string; expect: Expectation }[]): string[] {
    return attempts.filter((a) => !this.isSettled(a.id) && !this.leaked(a.id, a.expect)).map((a) => a.id);
  }

  private leaked(attempt: string, expect: Expectation): Observation | undefined {
    if (!isMustDeny(expect)) return undefined;
    return this.observations(attempt).find((o) => GRANTED_OUTCOMES.includes(o.outcome));
  }

  judge(attempt: string, expect: Expectation): Judgement {
    const list = this.observations(attempt);
    const last = list.at(-1);
    const rounds = list.length;
    const stable = this.isSettled(attempt);
    if (!last) {
      return {
        attempt,
        verdict: 'error',
        outcome: 'error',
        rounds,
        stable: false,
        leak: false,
        reason: 'never observed',
      };
    }
    const leak = this.leaked(attempt, expect);
    if (leak) {
      return {
        attempt,
        verdict: 'fail',
        outcome: leak.outcome,
        rounds,
        stable,
        leak: true,
        reason: `leak: expected ${expect.words.join('|')}, observed ${leak.outcome} in round ${leak.round}`,
      };
    }
    if (last.outcome === 'error') {
      return {
        attempt,
        verdict: 'error',
        outcome: 'error',
        rounds,
        stable,
        leak: false,
        reason: `the probe failed in round ${last.round}`,
      };
    }
    const held = satisfies(expect, last.outcome);
    const seen = [...new Set(list.map((o) => o.outcome))];
    if (stable) {
      return {
        attempt,
        verdict: held ? 'pass' : 'fail',
        outcome: last.outcome,
        rounds,
        stable,
        leak: false,
        reason: held
          ? `${last.outcome} in the last ${this.stableRounds} rounds`
          : `expected ${expect.words.join('|')}, observed ${last.outcome} in the last ${this.stableRounds} rounds`,
      };
    }
    // Not settled by the deadline: it holds only if every round satisfied the expectation.
    const allHeld = list.every((o) => satisfies(expect, o.outcome));
    return {
      attempt,
      verdict: allHeld ? 'pass' : 'fail',
      outcome: last.outcome,
      rounds,
      stable,
      leak: false,
      reason:
        `did not settle in ${rounds} round(s): observed ${seen.join(', ')}` +
        (allHeld ? ', each satisfying the expectation' : ''),
    };
  }
}
