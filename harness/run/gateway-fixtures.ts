/**
 * The objects a run deploys for a scenario's ingress gateways (`spec.gateways`,
 * harness/scenario/gateways.ts): the Gateway, each tenant's own HTTPRoute, and, as the apparatus
 * of the `gateway` attempts, each cross-tenant HTTPRoute, the misconfiguration under test. Pure.
 *
 * - The Gateway is of class `istio` with one HTTP listener on the scenario's port, annotated
 *   `networking.istio.io/service-type: ClusterIP`: Istio's default for the class is a LoadBalancer
 *   Service (istio@1.30.3 `pilot/pkg/config/kube/gatewaycommon/classinfo.go:111`), whose address
 *   stays pending on kind and keeps `Programmed` False (`gatewaycommon/context.go:66-115`).
 * - Its listener takes routes from every namespace (`allowedRoutes.namespaces.from: All`): the
 *   default is `Same` (kubernetes-sigs/gateway-api v1.5.1 `apis/v1/gateway_types.go:471,879`,
 *   `config/crd/standard/gateway.networking.k8s.io_gateways.yaml` `default: Same`), which would
 *   leave every tenant's route unattached (`NotAllowedByListeners`). Who may attach is not what the
 *   `gateway` generator tests; where a route may send is.
 * - A tenant's own route lives in its backend's namespace, for its hostname, `/` to its backend's
 *   Service port: a same-namespace backendRef, which needs no ReferenceGrant.
 * - A cross route lives in the attacking tenant's namespace (the attempt's `routeNamespace`), for
 *   the same hostname, one rule on `crossPath(backend)` (the longer prefix wins, gateways.ts) whose
 *   backendRef is the other tenant's Service. No ReferenceGrant is rendered here: one exists only if
 *   a tenant's policies hold it, and the run applies it with them.
 * Every field is written as the API server would default it (group, kind, weight, path type), so the
 * read-back compares like with like.
 */
import type { KubernetesObject } from '@kubernetes/client-node';

import { GATEWAY_API_GROUP } from '../cluster/gateway-api-names.js';
import {
  crossPath,
  ISTIO_GATEWAY_CLASS,
  SERVICE_TYPE_ANNOTATION,
  type Gateway,
} from '../scenario/gateways.js';
import type { Attempt, Scenario, WorkloadRef } from '../scenario/types.js';
import { sha256 } from '../values.js';

/** The HTTPRoute and Gateway version bulkhead writes and istiod watches (istio@1.30.3 `pkg/config/schema/gvr/resources.gen.go:33,40`). */
export const GATEWAY_API_V1 = `${GATEWAY_API_GROUP}/v1`;
/** The name of the one listener bulkhead gives a gateway. */
export const GATEWAY_LISTENER = 'http';
/** Marks each HTTPRoute bulkhead renders as a tenant's own route or a cross-tenant one. */
export const ROUTE_ROLE_LABEL = 'bulkhead.dev/gateway-route';
export type RouteRole = 'own' | 'cross';

/** An HTTPRoute a run deploys, with what the footing expects of it. */
export interface RenderedRoute {
  readonly role: RouteRole;
  readonly gateway: WorkloadRef;
  readonly namespace: string;
  readonly name: string;
  readonly hostname: string;
  readonly backend: WorkloadRef;
  readonly port: number;
}

/** Every gateway of the scenario and its tenants' own routes; then the cross routes its attempts use. */
export function renderGatewayFixtures(
  scenario: Pick<Scenario, 'gateways' | 'attempts'>,
  labels: Readonly<Record<string, string>>,
): KubernetesObject[] {
  const gateways = scenario.gateways ?? [];
  return [
    ...gateways.map((g) => gatewayObject(g, labels)),
    ...gatewayRoutes(scenario).map((r) => routeObject(r, labels)),
  ];
}

/** The routes a run deploys, own routes first (in scenario order), then one per distinct cross target. */
export function gatewayRoutes(scenario: Pick<Scenario, 'gateways' | 'attempts'>): RenderedRoute[] {
  const out: RenderedRoute[] = [];
  for (const g of scenario.gateways ?? []) {
    for (const r of g.routes) {
      out.push({
        role: 'own',
        gateway: { namespace: g.namespace, name: g.name },
        namespace: r.backend.namespace,
        name: routeName(`${g.name}-${r.hostname}`),
        hostname: r.hostname,
        backend: r.backend,
        port: r.port.port,
      });
    }
  }
  const seen = new Set<string>();
  for (const a of scenario.attempts) {
    const t = crossTarget(a);
    if (!t) continue;
    const base = `${t.gateway.name}-${t.hostname}-to-${t.backend.namespace}-${t.backend.name}-${t.backendPort}`;
    const key = `${t.gateway.namespace}/${t.routeNamespace}/${base}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({
      role: 'cross',
      gateway: t.gateway,
      namespace: t.routeNamespace,
      name: routeName(base),
      hostname: t.hostname,
      backend: t.backend,
      port: t.backendPort,
    });
  }
  return out;
}

/** A gateway attempt's target when its route sends to another namespace than the route's own. */
function crossTarget(a: Attempt) {
  if (!('target' in a) || a.target.kind !== 'gateway') return undefined;
  return a.target.backend.namespace === a.target.routeNamespace ? undefined : a.target;
}

/** An object name (a DNS-1123 subdomain, at most 253 characters), shortened by a hash when longer. */
function routeName(base: string): string {
  if (base.length <= 253) return base;
  return `${base.slice(0, 240)}-${sha256(base).slice(0, 12)}`;
}

function gatewayObject(g: Gateway, labels: Readonly<Record<string, string>>): KubernetesObject {
  return {
    apiVersion: GATEWAY_API_V1,
    kind: 'Gateway',
    metadata: {
      name: g.name,
      namespace: g.namespace,
      labels: { ...labels },
      annotations: { [SERVICE_TYPE_ANNOTATION]: 'ClusterIP' },
    },
    spec: {
      gatewayClassName: ISTIO_GATEWAY_CLASS,
      listeners: [
        {
          name: GATEWAY_LISTENER,
          port: g.port,
          protocol: 'HTTP',
          allowedRoutes: { namespaces: { from: 'All' } },
        },
      ],
    },
  } as KubernetesObject;
}

function routeObject(r: RenderedRoute, labels: Readonly<Record<string, string>>): KubernetesObject {
  const path = r.role === 'own' ? '/' : crossPath(r.backend);
  return {
    apiVersion: GATEWAY_API_V1,
    kind: 'HTTPRoute',
    metadata: { name: r.name, namespace: r.namespace, labels: { ...labels, [ROUTE_ROLE_LABEL]: r.role } },
    spec: {
      parentRefs: [
        {
          group: GATEWAY_API_GROUP,
          kind: 'Gateway',
          name: r.gateway.name,
          namespace: r.gateway.namespace,
          sectionName: GATEWAY_LISTENER,
        },
      ],
      hostnames: [r.hostname],
      rules: [
        {
          matches: [{ path: { type: 'PathPrefix', value: path } }],
          backendRefs: [
            {
              group: '',
              kind: 'Service',
              name: r.backend.name,
              ...(r.role === 'cross' ? { namespace: r.backend.namespace } : {}),
              port: r.port,
              weight: 1,
            },
          ],
        },
      ],
    },
  } as KubernetesObject;
}
