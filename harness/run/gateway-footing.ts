/**
 * The ingress-gateway side of a run's footing: before any attempt, every gateway of the scenario
 * is in service and every route bulkhead rendered (harness/run/gateway-fixtures.ts) is attached,
 * read from the status Istio's gateway controller writes. Polled with one deadline, never slept
 * on; what is still missing when it runs out is an {@link EnvironmentError} (exit 2) naming it, as
 * for waypoints (harness/run/ambient-footing.ts, whose helpers this reuses):
 * 1. the Gateway has `Programmed=True` for its current generation (the condition's
 *    `observedGeneration` equals `metadata.generation`: a status written for an older spec says
 *    nothing of this one, gateway-api v1.5.1 `apis/v1/gateway_types.go` GatewayConditionType
 *    docs). istiod sets Programmed from the Service's address (istio@1.30.3
 *    `pilot/pkg/config/kube/gateway/conversion.go:1900-1931`), so a pending LoadBalancer shows as
 *    `AddressNotAssigned` here;
 * 2. a pod of its Deployment `<name>-istio` (label `gateway.networking.k8s.io/gateway-name`,
 *    `manifests/charts/istio-control/istio-discovery/files/kube-gateway.yaml:59-70`) is Ready:
 *    Programmed does not wait for it;
 * 3. each HTTPRoute has a parent status for the gateway with `Accepted=True` (for its current
 *    generation); a tenant's own route also `ResolvedRefs=True`. A cross route's `ResolvedRefs`
 *    is what the attempts test: it is read and recorded, not required. Without a ReferenceGrant
 *    Istio sets it `False`, reason `RefNotPermitted` (`conversion.go:1085-1098`).
 * The route conditions are the Gateway API's (`apis/v1/shared_types.go` RouteConditionType:
 * Accepted, ResolvedRefs; reasons RefNotPermitted, BackendNotFound, NotAllowedByListeners).
 */
import type { KubernetesObject, V1Pod } from '@kubernetes/client-node';

import type { KubeClient } from '../kube/client.js';
import { waitFor } from '../kube/wait.js';
import { gatewayDeploymentName, type Gateway } from '../scenario/gateways.js';
import type { Scenario, WorkloadRef } from '../scenario/types.js';
import { condition, podGaps, type Condition } from './ambient-footing.js';
import { GATEWAY_API_V1, gatewayRoutes, type RenderedRoute, type RouteRole } from './gateway-fixtures.js';

/** What the footing read of one route, for the record. */
export interface RouteFooting {
  /** `namespace/name` */
  readonly route: string;
  readonly role: RouteRole;
  /** `True/Accepted` */
  readonly accepted: string;
  /** `True/ResolvedRefs`, `False/RefNotPermitted` */
  readonly resolvedRefs: string;
}

/** What the footing read of one gateway, for the record. */
export interface GatewayFooting {
  /** `namespace/name` */
  readonly gateway: string;
  /** `True/Programmed`, with the generation it was written for. */
  readonly programmed: string;
  readonly generation: number;
  /** `namespace/pod`: the Ready pod of `<name>-istio`. */
  readonly pod: string;
  readonly routes: readonly RouteFooting[];
  /** When the routes were last read: once attached (before the policies), or after the barrier. */
  readonly routesReadAfter: 'routes-attached' | 'barrier';
}

export interface GatewayFootingProps {
  readonly client: KubeClient;
  readonly scenario: Pick<Scenario, 'gateways' | 'attempts'>;
  readonly timeoutMs: number;
  readonly progress?: (line: string) => void;
  readonly signal?: AbortSignal;
}

/** Whether the scenario declares a gateway for these checks. */
export function hasGatewayFooting(scenario: Pick<Scenario, 'gateways'>): boolean {
  return (scenario.gateways ?? []).length > 0;
}

function said(c: Condition | undefined): string {
  return c ? `${c.status ?? '?'}/${c.reason ?? ''}` : 'absent';
}

function generationOf(object: KubernetesObject): number | undefined {
  return object.metadata?.generation;
}

/** Whether a condition was written for the object's current generation (unknown counts as current). */
function current(object: KubernetesObject, c: Condition): boolean {
  const generation = generationOf(object);
  return generation === undefined || c.observedGeneration === undefined || c.observedGeneration >= generation;
}

/** What keeps a gateway from being Programmed for its current generation, in words; empty when it is. */
export function programmedGaps(gateway: WorkloadRef, object: KubernetesObject | undefined): string[] {
  const name = `${gateway.namespace}/${gateway.name}`;
  if (!object) return [`Gateway ${name} is not there`];
  const c = condition(object, 'Programmed');
  if (!c) return [`Gateway ${name} is not Programmed (no Programmed condition yet)`];
  if (c.status !== 'True')
    return [
      `Gateway ${name} is not Programmed (${c.reason ?? c.status ?? ''}${c.message ? `: ${c.message}` : ''})`,
    ];
  if (!current(object, c))
    return [
      `Gateway ${name} is Programmed only for generation ${String(c.observedGeneration)}, not its current ${String(generationOf(object))}`,
    ];
  return [];
}

interface ParentStatus {
  parentRef?: { name?: string; namespace?: string };
  conditions?: Condition[];
}

/** The route's parent status for its gateway, if the controller wrote one. */
function parentStatus(route: RenderedRoute, object: KubernetesObject | undefined): ParentStatus | undefined {
  const parents = (object as { status?: { parents?: ParentStatus[] } } | undefined)?.status?.parents ?? [];
  return parents.find(
    (p) =>
      p.parentRef?.name === route.gateway.name &&
      (p.parentRef.namespace ?? route.namespace) === route.gateway.namespace,
  );
}

function routeCondition(route: RenderedRoute, object: KubernetesObject | undefined, type: string) {
  return (parentStatus(route, object)?.conditions ?? []).find((c) => c.type === type);
}

/** What keeps a route from the state the footing needs (see the header), in words; empty when it is there. */
export function routeGaps(route: RenderedRoute, object: KubernetesObject | undefined): string[] {
  const name = `HTTPRoute ${route.namespace}/${route.name}`;
  if (!object) return [`${name} is not there`];
  const gateway = `${route.gateway.namespace}/${route.gateway.name}`;
  if (!parentStatus(route, object)) return [`${name} has no status for Gateway ${gateway} yet`];
  const accepted = routeCondition(route, object, 'Accepted');
  if (accepted?.status !== 'True' || !current(object, accepted))
    return [
      `${name} is not Accepted by Gateway ${gateway} (${accepted ? `${said(accepted)}${accepted.message ? `: ${accepted.message}` : ''}` : 'no Accepted condition yet'})`,
    ];
  const resolved = routeCondition(route, object, 'ResolvedRefs');
  if (!resolved) return [`${name} has no ResolvedRefs condition yet`];
  if (route.role === 'own' && resolved.status !== 'True')
    return [
      `${name}, the tenant's own route, does not resolve its backend ${route.backend.namespace}/${route.backend.name}:${route.port} (ResolvedRefs ${said(resolved)}${resolved.message ? `: ${resolved.message}` : ''})`,
    ];
  return [];
}

/** The route as the footing read it. */
export function routeFooting(route: RenderedRoute, object: KubernetesObject | undefined): RouteFooting {
  return {
    route: `${route.namespace}/${route.name}`,
    role: route.role,
    accepted: said(routeCondition(route, object, 'Accepted')),
    resolvedRefs: said(routeCondition(route, object, 'ResolvedRefs')),
  };
}

/**
 * Waits until every gateway is Programmed with a Ready pod and every rendered route is attached
 * (see the header), within one deadline; returns what was read.
 */
export async function waitGateways(props: GatewayFootingProps): Promise<GatewayFooting[]> {
  const gateways = props.scenario.gateways ?? [];
  const routes = gatewayRoutes(props.scenario);
  const deadline = Date.now() + props.timeoutMs;
  const remaining = () => Math.max(1, deadline - Date.now());
  const signal = props.signal ? { signal: props.signal } : {};
  const out: GatewayFooting[] = [];
  for (const g of gateways) {
    const ref = { namespace: g.namespace, name: g.name };
    let gaps: string[] = [];
    const [gatewayObject] = await waitFor(props.client, {
      selection: { apiVersion: GATEWAY_API_V1, kind: 'Gateway', namespace: g.namespace },
      until: (objects) => {
        gaps = programmedGaps(
          ref,
          objects.find((o) => o.metadata?.name === g.name),
        );
        if (gaps.length > 0) props.progress?.(`gateway ${g.namespace}/${g.name}: ${gaps[0] ?? ''}`);
        return gaps.length === 0;
      },
      timeoutMs: remaining(),
      description: `Gateway ${g.namespace}/${g.name} Programmed`,
      describeState: () => gaps.join('; '),
      ...signal,
    }).then((objects) => objects.filter((o) => o.metadata?.name === g.name));
    const pods = await waitFor<V1Pod>(props.client, {
      selection: { apiVersion: 'v1', kind: 'Pod', namespace: g.namespace },
      until: (objects) => {
        gaps = podGaps(ref, objects, 'gateway');
        if (gaps.length > 0) props.progress?.(`gateway ${g.namespace}/${g.name}: ${gaps[0] ?? ''}`);
        return gaps.length === 0;
      },
      timeoutMs: remaining(),
      description: `a pod of ${g.namespace}/${gatewayDeploymentName(g.name)} Ready`,
      describeState: () => gaps.join('; '),
      ...signal,
    });
    const mine = routes.filter((r) => r.gateway.namespace === g.namespace && r.gateway.name === g.name);
    const read = await waitRoutes(props, g, mine, remaining(), signal);
    const pod = readyGatewayPod(ref, pods);
    const programmed = condition(gatewayObject, 'Programmed');
    out.push({
      gateway: `${g.namespace}/${g.name}`,
      programmed: said(programmed),
      generation: (gatewayObject ? generationOf(gatewayObject) : undefined) ?? 0,
      pod: pod ? `${g.namespace}/${pod}` : '',
      routes: mine.map((r) => routeFooting(r, read.get(`${r.namespace}/${r.name}`))),
      routesReadAfter: 'routes-attached',
    });
  }
  return out;
}

function readyGatewayPod(gateway: WorkloadRef, pods: readonly V1Pod[]): string | undefined {
  return pods.find((p) => podGaps(gateway, [p], 'gateway').length === 0)?.metadata?.name;
}

/** Per namespace of the gateway's routes, waits for each route's state; the routes as last read. */
async function waitRoutes(
  props: GatewayFootingProps,
  g: Gateway,
  routes: readonly RenderedRoute[],
  timeoutMs: number,
  signal: { signal?: AbortSignal },
): Promise<Map<string, KubernetesObject>> {
  const deadline = Date.now() + timeoutMs;
  const read = new Map<string, KubernetesObject>();
  for (const namespace of [...new Set(routes.map((r) => r.namespace))]) {
    const here = routes.filter((r) => r.namespace === namespace);
    let gaps: string[] = [];
    const objects = await waitFor(props.client, {
      selection: { apiVersion: GATEWAY_API_V1, kind: 'HTTPRoute', namespace },
      until: (list) => {
        gaps = here.flatMap((r) =>
          routeGaps(
            r,
            list.find((o) => o.metadata?.name === r.name),
          ),
        );
        if (gaps.length > 0) props.progress?.(`routes on ${g.namespace}/${g.name}: ${gaps[0] ?? ''}`);
        return gaps.length === 0;
      },
      timeoutMs: Math.max(1, deadline - Date.now()),
      description: `the HTTPRoutes of ${namespace} on Gateway ${g.namespace}/${g.name} Accepted`,
      describeState: () => gaps.join('; '),
      ...signal,
    });
    for (const o of objects) read.set(`${namespace}/${o.metadata?.name ?? ''}`, o);
  }
  return read;
}

/**
 * The cross routes' state as the cluster holds it now (after the policies, whose ReferenceGrants
 * may have changed their `ResolvedRefs`): one read, no wait, for the record.
 */
export async function rereadRoutes(
  client: KubeClient,
  footing: readonly GatewayFooting[],
  scenario: Pick<Scenario, 'gateways' | 'attempts'>,
): Promise<GatewayFooting[]> {
  const routes = gatewayRoutes(scenario);
  const out: GatewayFooting[] = [];
  for (const g of footing) {
    const fresh: RouteFooting[] = [];
    for (const r of g.routes) {
      const rendered = routes.find((x) => `${x.namespace}/${x.name}` === r.route);
      if (!rendered) {
        fresh.push(r);
        continue;
      }
      const object = await client
        .read({
          apiVersion: GATEWAY_API_V1,
          kind: 'HTTPRoute',
          namespace: rendered.namespace,
          name: rendered.name,
        })
        .catch(() => undefined);
      fresh.push(routeFooting(rendered, object));
    }
    out.push({ ...g, routes: fresh, routesReadAfter: 'barrier' });
  }
  return out;
}
