/**
 * What a list of observations means for one attempt: the convergence rule, as data in and a
 * judgement out. Policies take effect eventually, so attempts are repeated in rounds until each
 * one's outcome has been the same in `stableRounds` consecutive rounds (or a deadline passes).
 * Two rules override stability: a must-deny attempt seen granted in any round after the
 * policies were applied is a leak, whatever later rounds show; and `error` never satisfies an
 * expectation. The runner judges with it as rounds go (harness/run/convergence.ts); the fold
 * judges with it the attempts of a run that stopped before it could (build-results.ts).
 */
import {
  GRANTED_OUTCOMES,
  isMustDeny,
  satisfies,
  type Expectation,
  type Outcome,
} from '../scenario/outcomes.js';

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

/** One observation as judging needs it. */
export interface Seen {
  /** 1-based round number. */
  readonly round: number;
  readonly outcome: Outcome;
}

/** Settled: the last `stableRounds` outcomes are equal. */
export function isSettled(list: readonly Seen[], stableRounds: number): boolean {
  if (list.length < stableRounds) return false;
  const tail = list.slice(-stableRounds);
  return tail.every((o) => o.outcome === tail[0]?.outcome);
}

/** The first granted observation of a must-deny attempt: a leak, final whatever follows. */
export function leakIn<T extends Seen>(list: readonly T[], expect: Expectation): T | undefined {
  if (!isMustDeny(expect)) return undefined;
  return list.find((o) => GRANTED_OUTCOMES.includes(o.outcome));
}

export function judgeObservations(
  attempt: string,
  list: readonly Seen[],
  expect: Expectation,
  stableRounds: number,
): Judgement {
  const last = list.at(-1);
  const rounds = list.length;
  const stable = isSettled(list, stableRounds);
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
  const leak = leakIn(list, expect);
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
        ? `${last.outcome} in the last ${stableRounds} rounds`
        : `expected ${expect.words.join('|')}, observed ${last.outcome} in the last ${stableRounds} rounds`,
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
