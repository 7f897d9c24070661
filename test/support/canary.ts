/**
 * The network canary (harness/run/canary.ts) on the fake cluster: the fake has no dataplane, so
 * this stands in for Calico's. A dial of the canary port reaches `acceptPort` (a local server
 * that answers, as the canary pod's echo does) until the canary's deny policy is in the fake's
 * store and `lagMs` has passed since it was first seen there (Felix programming it); from then on
 * it goes nowhere (refused). Other dials go to the test's own route.
 */
import { CANARY_PORT } from '../../harness/run/canary.js';
import type { FakeApiServer } from './fake-apiserver/server.js';
import type { Route } from './fake-cluster.js';

export interface CanaryDataplane {
  /** When the deny was first seen programmed (ms since the epoch), once it was. */
  readonly programmedAt: () => number | undefined;
  readonly route: Route;
}

export function canaryDataplane(
  server: FakeApiServer,
  acceptPort: number,
  inner: Route,
  options: { readonly lagMs?: number; readonly never?: boolean } = {},
): CanaryDataplane {
  let seen: number | undefined;
  let programmed: number | undefined;
  const denied = () => {
    if (options.never) return false;
    const deny = server
      .list('projectcalico.org/v3', 'GlobalNetworkPolicy')
      .some((p) => p.metadata.name.endsWith('.deny') && p.metadata.name.startsWith('bulkhead-canary-'));
    if (!deny) return false;
    seen ??= Date.now();
    if (Date.now() - seen < (options.lagMs ?? 0)) return false;
    programmed ??= Date.now();
    return true;
  };
  return {
    programmedAt: () => programmed,
    route: (source, host, port) =>
      port === CANARY_PORT ? (denied() ? undefined : acceptPort) : inner(source, host, port),
  };
}
