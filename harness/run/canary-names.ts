/**
 * The names of the network canary (harness/run/canary.ts), in a module of their own: the
 * fixtures and the canary both need them.
 */
import { sha256 } from '../values.js';

/** The canary's TCP port: outside Istio's reserved 15000–15090 and the usual app ports. */
export const CANARY_PORT = 18_099;
export const CANARY_LABEL = 'bulkhead.dev/canary';
/** The tier's order: Calico evaluates lower orders first; `kube-admin` is 1000, `default` 1,000,000. */
export const CANARY_TIER_ORDER = 1;

/** The canary's namespace: one per run, so runs on one cluster never share it. */
export function canaryNamespace(runId: string): string {
  return `bulkhead-canary-${sha256(runId).slice(0, 10)}`;
}

export function canaryTierName(runId: string): string {
  return `bulkhead-canary-${sha256(runId).slice(0, 10)}`;
}
