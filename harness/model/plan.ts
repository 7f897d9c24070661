/**
 * A plan: every attempt of a scenario with its declared expectation, the model's prediction and
 * whether they agree (an `auto` expectation takes the prediction; `unknown` is not judged).
 */
import { satisfies } from '../scenario/outcomes.js';
import type { Attempt } from '../scenario/types.js';
import { Ablator, expectedDenied, type Ablation } from './ablation.js';
import { PolicyModel, type ModelInput } from './evaluate.js';
import type { Prediction } from './types.js';

export interface PlannedAttempt {
  readonly attempt: Attempt;
  readonly predicted: Prediction;
  /** True when the prediction meets the expectation; null when the prediction is unknown. */
  readonly agrees: boolean | null;
  readonly ablation?: Ablation;
}

export interface PlanOptions {
  /** Ablate every attempt expected to be denied. Default: false. */
  readonly ablate?: boolean;
}

export function planAttempts(
  input: ModelInput,
  attempts: readonly Attempt[],
  options: PlanOptions = {},
): PlannedAttempt[] {
  // The attempts that dial addresses make endpoints of their own (harness/model/external.ts).
  const withAttempts = input.attempts ? input : { ...input, attempts };
  const model = new PolicyModel(withAttempts);
  const ablator = options.ablate ? new Ablator(withAttempts) : undefined;
  return attempts.map((attempt) => {
    const predicted = model.predict(attempt);
    const agrees =
      predicted.outcome === 'unknown'
        ? null
        : attempt.expect.auto || satisfies(attempt.expect, predicted.outcome);
    const ablation = ablator && expectedDenied(attempt, predicted) ? ablator.ablate(attempt) : undefined;
    return { attempt, predicted, agrees, ...(ablation ? { ablation } : {}) };
  });
}
