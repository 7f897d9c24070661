/**
 * Where an EnvoyFilter patch puts an HTTP filter in a sidecar's inbound chain, relative to RBAC:
 * the one reading of it, for the model (whether RBAC sees what a Lua script leaves) and for lint.
 *
 * Istio's inbound HTTP chain (pilot/pkg/networking/core/listener_builder.go
 * `buildHTTPConnectionManager`, Istio 1.24 and later): metadata exchange, the CUSTOM action's
 * RBAC and ext_authz filters, jwt_authn (when a RequestAuthentication applies), RBAC (one filter
 * per action: AUDIT, DENY, ALLOW), WasmPlugins, grpc_stats, fault, cors, istio.stats, router.
 * Istio before 1.24 also built `istio_authn` in the authn slot; no release bulkhead provisions
 * (1.27 and later) does, and `istio.authn` was never a filter name (docs/behaviour.md §D(a)).
 *
 * How a patch lands (pilot/pkg/networking/core/envoyfilter/listener_patch.go `patchHTTPFilters`):
 * - ADD appends the filter at the end, after the router, whatever the sub-filter.
 * - INSERT_FIRST puts it first.
 * - INSERT_BEFORE / INSERT_AFTER without `match.listener.filterChain.filter.subFilter`: first
 *   ("insert before without a filter match is same as insert in the beginning") / at the end.
 * - With a sub-filter: next to the first filter of that name; when no filter has that name,
 *   nothing is inserted (`insertBeforeFunc`/`insertAfterFunc` return unapplied).
 */
import { isObj } from './read.js';

/** Istio's inbound HTTP filter names in chain order (the authn slot is jwt_authn). */
export const INBOUND_HTTP_FILTERS: readonly string[] = [
  'istio.metadata_exchange',
  'envoy.filters.http.ext_authz',
  'envoy.filters.http.jwt_authn',
  'envoy.filters.http.rbac',
  'envoy.filters.http.grpc_stats',
  'envoy.filters.http.fault',
  'envoy.filters.http.cors',
  'istio.stats',
  'envoy.filters.http.router',
];
const RBAC_INDEX = INBOUND_HTTP_FILTERS.indexOf('envoy.filters.http.rbac');

/**
 * - `before`: the filter runs before every RBAC filter, so RBAC sees what it leaves;
 * - `after`: it runs after RBAC (or is appended after the router);
 * - `no-such-filter`: the sub-filter names no filter of Istio's inbound chain, so Istio inserts
 *   nothing (unless another patch adds a filter of that name), and RBAC sees the client's headers.
 *
 * Read from the patch alone, as if every filter of the chain were there: ext_authz is built only
 * when a CUSTOM policy applies to the workload and jwt_authn only when a RequestAuthentication
 * does, and a patch next to a missing one inserts nothing. `INSERT_AFTER envoy.filters.http.rbac`
 * lands after the first RBAC filter Istio builds for the workload; it counts as `after`, which is
 * exact when one action's policies apply to it.
 */
export type RbacPlacement = 'before' | 'after' | 'no-such-filter';

/**
 * Where the configPatch `patch` puts its HTTP filter; undefined when it is not an insertion into
 * the HTTP chain (another applyTo, REPLACE, MERGE, REMOVE, no operation).
 */
export function rbacPlacement(patch: unknown): RbacPlacement | undefined {
  if (!isObj(patch) || patch.applyTo !== 'HTTP_FILTER' || !isObj(patch.patch)) return undefined;
  const operation = patch.patch.operation;
  if (operation === 'INSERT_FIRST') return 'before';
  if (operation === 'ADD') return 'after';
  if (operation !== 'INSERT_BEFORE' && operation !== 'INSERT_AFTER') return undefined;
  const sub = subFilterOf(patch);
  if (sub === undefined) return operation === 'INSERT_BEFORE' ? 'before' : 'after';
  const at = INBOUND_HTTP_FILTERS.indexOf(sub);
  if (at < 0) return 'no-such-filter';
  return (operation === 'INSERT_BEFORE' ? at <= RBAC_INDEX : at < RBAC_INDEX) ? 'before' : 'after';
}

/** `match.listener.filterChain.filter.subFilter.name`, when the patch names one. */
export function subFilterOf(patch: unknown): string | undefined {
  const match = isObj(patch) && isObj(patch.match) ? patch.match : {};
  const listener = isObj(match.listener) ? match.listener : {};
  const chain = isObj(listener.filterChain) ? listener.filterChain : {};
  const filter = isObj(chain.filter) ? chain.filter : {};
  return isObj(filter.subFilter) && typeof filter.subFilter.name === 'string'
    ? filter.subFilter.name
    : undefined;
}
