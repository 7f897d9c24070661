/**
 * A plan: every attempt of a scenario with its declared expectation, the model's prediction and
 * whether they agree (an `auto` expectation takes the prediction; `unknown` is not judged). With
 * `staged`, Calico's staged policies are predicted as if enforced (staged.ts), and each attempt
 * whose outcome that changes keeps the prediction of the policies as enforced today.
 */
import { satisfies } from '../scenario/outcomes.js';
import type { Attempt } from '../scenario/types.js';
import { Ablator, expectedDenied, type Ablation } from './ablation.js';
import { located, PolicyModel, type ModelInput } from './evaluate.js';
import { enforceStaged } from './staged.js';
import type { Prediction } from './types.js';

export interface PlannedAttempt {
  readonly attempt: Attempt;
  readonly predicted: Prediction;
  /** True when the prediction meets the expectation; null when the prediction is unknown. */
  readonly agrees: boolean | null;
  readonly ablation?: Ablation;
  /** With `staged`: the attempt's outcome would change; this is the prediction without them. */
  readonly wouldChange?: { readonly current: Prediction };
}

export interface PlanOptions {
  /** Ablate every attempt expected to be denied. Default: false. */
  readonly ablate?: boolean;
  /** Predict Calico's staged policies as if enforced, and mark what would change. Default: false. */
  readonly staged?: boolean;
}

/** The model input with its staged policies enforced. */
export function stagedInput(input: ModelInput): ModelInput {
  return { ...input, manifests: enforceStaged(input.manifests.map(located)) };
}

export function planAttempts(
  input: ModelInput,
  attempts: readonly Attempt[],
  options: PlanOptions = {},
): PlannedAttempt[] {
  // The attempts that dial addresses make endpoints of their own (harness/model/external.ts).
  const withAttempts = input.attempts ? input : { ...input, attempts };
  const effective = options.staged ? stagedInput(withAttempts) : withAttempts;
  const model = new PolicyModel(effective);
  const today = options.staged ? new PolicyModel(withAttempts) : undefined;
  const ablator = options.ablate ? new Ablator(effective) : undefined;
  return attempts.map((attempt) => {
    const predicted = model.predict(attempt);
    const current = today?.predict(attempt);
    const wouldChange = current && current.outcome !== predicted.outcome ? { current } : undefined;
    const agrees =
      predicted.outcome === 'unknown'
        ? null
        : attempt.expect.auto || satisfies(attempt.expect, predicted.outcome);
    const ablation = ablator && expectedDenied(attempt, predicted) ? ablator.ablate(attempt) : undefined;
    return {
      attempt,
      predicted,
      agrees,
      ...(ablation ? { ablation } : {}),
      ...(wouldChange ? { wouldChange } : {}),
    };
  });
}
