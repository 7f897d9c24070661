/**
 * What the cluster's own policy objects (read by policies/cluster-policies.ts, located as
 * `cluster:Kind/namespace/name`) change in the predictions: an attempt is flipped when its
 * prediction with the cluster's objects added differs from the prediction of the scenario's
 * policies alone and that changes the verdict the prediction gives its expectation (meets it,
 * or no longer does; for `auto`, any change of outcome, since `auto` takes the prediction). A
 * prediction that becomes `unknown` is not a flip: it says nothing either way. `plan
 * --from-cluster` warns of each flip; `run` records them before any attempt (run/runner.ts).
 */
import { foreignObjects, foreignReasons } from '../policies/cluster-location.js';
import { formatExpectation, satisfies } from '../scenario/outcomes.js';
import type { Attempt } from '../scenario/types.js';
import type { Prediction, PredictedOutcome } from './types.js';

export interface ClusterFlip {
  readonly attempt: string;
  /** The expectation as written (`auto` for one that takes the prediction). */
  readonly expect: string;
  /** The prediction of the scenario's policies alone. */
  readonly alone: PredictedOutcome;
  /** The prediction with the cluster's own objects added. */
  readonly predicted: PredictedOutcome;
  /** The cluster objects the prediction's reasons name (`cluster:Kind/namespace/name`). */
  readonly decidedBy: readonly string[];
  /** Those reasons: each names the object, its tier and priority (or order), and the rule. */
  readonly reasons: readonly string[];
}

/** How `run` judges a flip (the method section says it). */
export const FLIP_JUDGING =
  "A flip is a warning, said before round 1: it neither stops the run nor changes how a declared expectation is judged (the expectation is the requirement; the observation shows whether the cluster meets it, and the flip names the cluster's objects that explain a failure). An auto expectation takes the prediction with the cluster's objects, which is what the cluster will do.";

type Predict = (attempt: Attempt) => Prediction | undefined;

export function clusterFlips(
  attempts: readonly Attempt[],
  alone: Predict,
  withCluster: Predict,
): ClusterFlip[] {
  return attempts.flatMap((attempt) => {
    const before = alone(attempt);
    const after = withCluster(attempt);
    if (!before || !after || before.outcome === after.outcome || after.outcome === 'unknown') return [];
    const meets = (o: PredictedOutcome) => (o === 'unknown' ? null : satisfies(attempt.expect, o));
    if (!attempt.expect.auto && meets(before.outcome) === meets(after.outcome)) return [];
    return [
      {
        attempt: attempt.id,
        expect: formatExpectation(attempt.expect),
        alone: before.outcome,
        predicted: after.outcome,
        decidedBy: foreignObjects(after.reasons),
        reasons: foreignReasons(after.reasons),
      },
    ];
  });
}

/** One line for a flip: `the cluster's cluster:Kind/name flips a-b: allowed with … (expected allowed)`. */
export function flipText(f: ClusterFlip): string {
  const by = f.decidedBy.join(', ') || 'policies';
  return (
    `the cluster's ${by} flip${f.decidedBy.length === 1 ? 's' : ''} ${f.attempt}: ` +
    `${f.alone} with the scenario's policies alone, ${f.predicted} with the cluster's (expected ${f.expect})`
  );
}
