/**
 * Ablation: which layers hold a denied attempt on their own. The article claims the layers "fail
 * safely when any single layer is misconfigured"; here each attempt expected to be denied is
 * predicted again with each layer's policies removed (does it still hold without it?) and with
 * only one layer's policies kept (does that layer hold it alone?).
 */
import { GRANTED_OUTCOMES, isMustDeny } from '../scenario/outcomes.js';
import type { Attempt } from '../scenario/types.js';
import { PolicyModel, type ModelInput } from './evaluate.js';
import { ABLATABLE_LAYERS, type AblatableLayer, type PredictedOutcome, type Prediction } from './types.js';

export interface Ablation {
  /** The outcome with that layer's policies removed. */
  readonly without: Readonly<Record<AblatableLayer, PredictedOutcome>>;
  /** The outcome with only that layer's policies kept. */
  readonly alone: Readonly<Record<AblatableLayer, PredictedOutcome>>;
  /** Layers that deny the attempt with the other two removed. */
  readonly holdsAlone: readonly AblatableLayer[];
  /** Layers whose removal lets the attempt through (or makes it unpredictable): single points of failure. */
  readonly failsWithout: readonly AblatableLayer[];
}

/** An outcome that refuses what was asked (anything but allowed, api-allowed or unknown). */
export function holds(outcome: PredictedOutcome): boolean {
  return outcome !== 'unknown' && !GRANTED_OUTCOMES.includes(outcome);
}

/** Whether ablation applies: the attempt is expected denied (or `auto` and predicted denied). */
export function expectedDenied(attempt: Attempt, predicted: Prediction): boolean {
  return isMustDeny(attempt.expect) || (attempt.expect.auto && holds(predicted.outcome));
}

export class Ablator {
  private readonly without: ReadonlyMap<AblatableLayer, PolicyModel>;
  private readonly alone: ReadonlyMap<AblatableLayer, PolicyModel>;

  constructor(input: ModelInput) {
    this.without = new Map(ABLATABLE_LAYERS.map((l) => [l, new PolicyModel(input, { without: [l] })]));
    this.alone = new Map(
      ABLATABLE_LAYERS.map((l) => [
        l,
        new PolicyModel(input, { without: ABLATABLE_LAYERS.filter((o) => o !== l) }),
      ]),
    );
  }

  ablate(attempt: Attempt): Ablation {
    const run = (models: ReadonlyMap<AblatableLayer, PolicyModel>) =>
      Object.fromEntries(
        ABLATABLE_LAYERS.map((l) => [l, (models.get(l) as PolicyModel).predict(attempt).outcome]),
      ) as Record<AblatableLayer, PredictedOutcome>;
    const without = run(this.without);
    const alone = run(this.alone);
    return {
      without,
      alone,
      holdsAlone: ABLATABLE_LAYERS.filter((l) => holds(alone[l])),
      failsWithout: ABLATABLE_LAYERS.filter((l) => !holds(without[l])),
    };
  }
}
