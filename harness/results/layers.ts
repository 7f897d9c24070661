/**
 * Where an observed outcome was decided, and how reports show it. Read from the outcome alone
 * (docs/behaviour.md "Outcomes"): a 403 from Envoy is Istio authorization (L7), a drop or a REJECT is the
 * network (L4, Calico), a reset of a plaintext peer is mTLS.
 */
import type { Outcome } from '../scenario/outcomes.js';
import type { ObservedLayer } from './results-model.js';

const LAYER_OF: Readonly<Record<Outcome, ObservedLayer>> = {
  allowed: 'none',
  'denied-l7': 'l7',
  'denied-l4': 'l4',
  reset: 'mtls',
  refused: 'l4',
  resolved: 'none',
  nxdomain: 'dns',
  'api-forbidden': 'api',
  'api-allowed': 'none',
  error: 'none',
};

export function layerOf(outcome: Outcome): ObservedLayer {
  return LAYER_OF[outcome];
}

export const LAYER_NAMES: Readonly<Record<ObservedLayer, string>> = {
  l7: 'L7 (Istio authorization)',
  l4: 'L4 (network policy)',
  mtls: 'mTLS (peer authentication)',
  dns: 'DNS',
  api: 'Kubernetes API (RBAC)',
  none: 'not refused',
};
