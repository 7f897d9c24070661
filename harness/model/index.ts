/**
 * The policy model: predicts what each attempt of a scenario observes, from the policies alone.
 *
 *   const model = new PolicyModel({ ...scenario, manifests });
 *   model.predict(attempt) // → { outcome, layer, reasons }
 */
export { Ablator, holds, type Ablation } from './ablation.js';
export {
  PolicyModel,
  istioProtocol,
  type ModelInput,
  type ModelOptions,
  type PolicyObject,
} from './evaluate.js';
export { planAttempts, type PlannedAttempt, type PlanOptions } from './plan.js';
export {
  ABLATABLE_LAYERS,
  DEFAULT_CLUSTER_FACTS,
  LAYERS,
  type AblatableLayer,
  type ClusterFacts,
  type Layer,
  type PredictedOutcome,
  type Prediction,
} from './types.js';
