/**
 * AuthorizationPolicy in ambient mode: at the destination's ztunnel (L4) and at a waypoint (L7).
 * Facts from ../shared/reference/ambient-cnp-facts.md, which cites istio@1.30.3 and ztunnel@1.30.3:
 *
 * - A4.1: a policy with a selector, or none, goes to ztunnel (scopes WORKLOAD_SELECTOR, NAMESPACE,
 *   GLOBAL in the root namespace); a `targetRefs` policy never does. Only ALLOW and DENY reach
 *   ztunnel: CUSTOM and AUDIT are not sent ("ztunnel does not support the %s action").
 *   (pilot/pkg/serviceregistry/ambient/authorization.go:419-445)
 * - A4.2: the fields ztunnel evaluates (from principals, namespaces, serviceAccounts, ipBlocks;
 *   to ports; when source.ip/namespace/principal, destination.ip/port); every other field is L7.
 * - A4.3: at ztunnel an ALLOW rule with an L7 field is dropped (a policy left with no rule allows
 *   nothing); a DENY rule loses its L7 fields, and a clause left empty never matches
 *   (ztunnel src/rbac.rs:114-118), so `DENY methods: [GET]` alone denies nothing while
 *   `DENY methods: [GET], ports: ["8080"]` denies every connection to 8080. Both set the status
 *   condition ZtunnelAccepted, reason UnsupportedValue, with the message below.
 * - A4.4/A4.5: a `targetRefs` policy is enforced by the waypoint: kinds Service and Gateway (and
 *   GatewayClass istio-waypoint from the root namespace, for every waypoint); the waypoint sees the
 *   client's identity, the destination ztunnel sees the waypoint's (A3.2, A4.4 table).
 */
import { WAYPOINT_CLASS, type Waypoint } from '../scenario/dataplane.js';
import {
  label,
  type AuthorizationLayer,
  type AuthzDecision,
  type CompiledAuthorizationPolicy,
  type CompiledRule,
  type RequestContext,
} from './authorization.js';
import type { Endpoint } from './cluster.js';
import { NO, YES, triAnd, triOr, type Tri } from './types.js';

const GATEWAY_GROUP = 'gateway.networking.k8s.io';

/** The ZtunnelAccepted condition istiod writes on a policy whose HTTP attributes ztunnel drops (A4.3). */
export interface ZtunnelStatus {
  readonly reason: 'UnsupportedValue';
  readonly message: string;
  readonly attributes: readonly string[];
}

/** The L7 attributes of a policy as ztunnel would get it, in the order written; empty when none. */
export function ztunnelL7Attributes(p: CompiledAuthorizationPolicy): string[] {
  const found = new Set<string>();
  for (const rule of p.rules)
    for (const clause of rule.clauses)
      for (const alt of clause) for (const f of alt) if (f.ztunnelL7) found.add(f.attribute);
  return [...found];
}

/** The ZtunnelAccepted status of a selector policy with HTTP attributes (A4.3), or undefined. */
export function ztunnelStatus(p: CompiledAuthorizationPolicy): ZtunnelStatus | undefined {
  if (p.targetRefs || (p.action !== 'ALLOW' && p.action !== 'DENY')) return undefined;
  const attributes = ztunnelL7Attributes(p);
  if (attributes.length === 0) return undefined;
  const tail =
    p.action === 'ALLOW'
      ? 'Within an ALLOW policy, rules matching HTTP attributes are omitted. This will be more restrictive than requested.'
      : 'DENY policy with HTTP attributes is enforced without the HTTP rules. This will be more restrictive than requested.';
  return {
    reason: 'UnsupportedValue',
    attributes,
    message: `ztunnel does not support HTTP attributes (found: ${attributes.join(', ')}). In ambient mode you must use a waypoint proxy to enforce HTTP rules. ${tail}`,
  };
}

/** One rule as ztunnel matches it (A4.3). */
function matchZtunnelRule(rule: CompiledRule, action: string, ctx: RequestContext): Tri {
  if (action === 'ALLOW' && rule.clauses.some((c) => c.some((alt) => alt.some((f) => f.ztunnelL7))))
    return NO;
  let m: Tri = YES;
  for (const clause of rule.clauses) {
    let c: Tri = NO;
    for (const alt of clause) {
      const l4 = alt.filter((f) => !f.ztunnelL7);
      // A DENY alternative whose fields were all HTTP is an empty match group: skipped, never a match.
      if (l4.length === 0) continue;
      let a: Tri = YES;
      for (const f of l4) {
        a = triAnd(a, f.test(ctx));
        if (a === NO) break;
      }
      c = triOr(c, a);
      if (c === YES) break;
    }
    m = triAnd(m, c);
    if (m === NO) return NO;
  }
  return m;
}

function matchZtunnel(p: CompiledAuthorizationPolicy, ctx: RequestContext): Tri {
  let out: Tri = NO;
  for (const rule of p.rules) {
    out = triOr(out, matchZtunnelRule(rule, p.action, ctx));
    if (out === YES) return YES;
  }
  return out;
}

/** Where a waypoint hop is headed: the waypoint and the Service the client addressed. */
export interface WaypointHop {
  readonly waypoint: Waypoint;
  readonly service: { readonly namespace: string; readonly name: string };
}

export class AmbientAuthorization {
  private readonly layer: AuthorizationLayer;
  private readonly atZtunnel = new Map<number, CompiledAuthorizationPolicy[]>();

  constructor(layer: AuthorizationLayer) {
    this.layer = layer;
  }

  /** Selector (or selector-less) policies in scope of an ambient workload, as ztunnel gets them (A4.1). */
  private ztunnelPolicies(server: Endpoint): CompiledAuthorizationPolicy[] {
    const hit = this.atZtunnel.get(server.index);
    if (hit) return hit;
    const root = this.layer.rootNamespace;
    const found = this.layer.compiled.filter(
      (p) =>
        !p.targetRefs &&
        (p.namespace === root || p.namespace === server.namespace) &&
        p.selector(server.labels),
    );
    this.atZtunnel.set(server.index, found);
    return found;
  }

  /** The destination ztunnel's L4 verdict for one connection; `ctx.principal` is the peer it sees. */
  ztunnel(server: Endpoint, ctx: RequestContext): AuthzDecision {
    const all = this.ztunnelPolicies(server);
    const reasons: string[] = [];
    for (const p of all) {
      if (p.problem === undefined && (p.action === 'CUSTOM' || p.action === 'AUDIT')) {
        reasons.push(
          `${p.action} ${label(p)} is not sent to ztunnel: ztunnel does not support the ${p.action} action (fact A4.1)`,
        );
      }
      const status = ztunnelStatus(p);
      if (status)
        reasons.push(`${label(p)}: ZtunnelAccepted ${status.reason}: ${status.message} (fact A4.3)`);
    }
    const policies = all.filter(
      (p) => p.problem !== undefined || p.action === 'ALLOW' || p.action === 'DENY',
    );
    const d = this.layer.decide(
      `the ztunnel of ${server.key}`,
      policies,
      { ...ctx, http: false },
      matchZtunnel,
      reasons,
    );
    return d;
  }

  /** `targetRefs` policies a waypoint enforces for a call to one Service (A4.4, A4.5). */
  private waypointPolicies(hop: WaypointHop): CompiledAuthorizationPolicy[] {
    const root = this.layer.rootNamespace;
    return this.layer.compiled.filter((p) => {
      if (!p.targetRefs) return false;
      return p.targets.some((t) => {
        if (t.kind === 'GatewayClass' && t.group === GATEWAY_GROUP)
          return p.namespace === root && t.name === WAYPOINT_CLASS;
        if (p.namespace !== hop.waypoint.namespace && p.namespace !== hop.service.namespace) return false;
        if (t.kind === 'Gateway' && t.group === GATEWAY_GROUP)
          return p.namespace === hop.waypoint.namespace && t.name === hop.waypoint.name;
        if (t.kind === 'Service' && t.group === '')
          return p.namespace === hop.service.namespace && t.name === hop.service.name;
        return false;
      });
    });
  }

  /** The waypoint's L7 verdict (Envoy RBAC, as at a sidecar) for a request to a Service. */
  waypoint(hop: WaypointHop, ctx: RequestContext): AuthzDecision {
    const policies = this.waypointPolicies(hop);
    const subject = `waypoint ${hop.waypoint.namespace}/${hop.waypoint.name} for Service ${hop.service.namespace}/${hop.service.name}`;
    if (policies.length === 0)
      return { verdict: YES, reasons: [`no targetRefs AuthorizationPolicy applies at ${subject}`] };
    return this.layer.decide(subject, policies, ctx);
  }

  /** True when some targetRefs policy names this Service or a waypoint Gateway of its namespace. */
  hasL7For(service: { readonly namespace: string; readonly name: string }): boolean {
    return this.layer.compiled.some(
      (p) =>
        p.targetRefs &&
        p.namespace === service.namespace &&
        p.targets.some((t) => t.kind === 'Service' && t.group === '' && t.name === service.name),
    );
  }
}
