/**
 * Ablation: which layers hold a denied attempt on their own. The article claims the layers "fail
 * safely when any single layer is misconfigured"; here each attempt expected to be denied is
 * predicted again with each layer's policies removed (does it still hold without it?) and with
 * only one layer's policies kept (does that layer hold it alone?). ClusterNetworkPolicy counts as
 * a layer of its own (`cluster-network`), weighed only when the policies hold some.
 */
import { GRANTED_OUTCOMES, isMustDeny } from '../scenario/outcomes.js';
import type { Attempt } from '../scenario/types.js';
import { located, PolicyModel, type ModelInput } from './evaluate.js';
import { layerOf } from './objects.js';
import { ABLATABLE_LAYERS, type AblatableLayer, type PredictedOutcome, type Prediction } from './types.js';

export interface Ablation {
  /** The outcome with that layer's policies removed, for each layer weighed. */
  readonly without: Readonly<Partial<Record<AblatableLayer, PredictedOutcome>>>;
  /** The outcome with only that layer's policies kept, for each layer weighed. */
  readonly alone: Readonly<Partial<Record<AblatableLayer, PredictedOutcome>>>;
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

/** The layers ablation weighs for these policies: always network, mTLS and authorization. */
export function ablatedLayers(input: ModelInput): readonly AblatableLayer[] {
  const present = new Set(input.manifests.map((m, i) => layerOf(located(m, i))));
  return ABLATABLE_LAYERS.filter((l) => l !== 'cluster-network' || present.has(l));
}

export class Ablator {
  readonly layers: readonly AblatableLayer[];
  private readonly without: ReadonlyMap<AblatableLayer, PolicyModel>;
  private readonly alone: ReadonlyMap<AblatableLayer, PolicyModel>;

  constructor(input: ModelInput) {
    const layers = ablatedLayers(input);
    this.layers = layers;
    this.without = new Map(layers.map((l) => [l, new PolicyModel(input, { without: [l] })]));
    this.alone = new Map(
      layers.map((l) => [l, new PolicyModel(input, { without: ABLATABLE_LAYERS.filter((o) => o !== l) })]),
    );
  }

  ablate(attempt: Attempt): Ablation {
    const run = (models: ReadonlyMap<AblatableLayer, PolicyModel>) =>
      new Map(this.layers.map((l) => [l, (models.get(l) as PolicyModel).predict(attempt).outcome]));
    const without = run(this.without);
    const alone = run(this.alone);
    return {
      without: Object.fromEntries(without),
      alone: Object.fromEntries(alone),
      holdsAlone: this.layers.filter((l) => holds(alone.get(l) ?? 'unknown')),
      failsWithout: this.layers.filter((l) => !holds(without.get(l) ?? 'unknown')),
    };
  }
}
