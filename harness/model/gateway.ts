/**
 * An attempt through an ingress gateway of `spec.gateways`, as three hops:
 *
 *   1. the source → the gateway's pod: the network (the source's egress, the gateway namespace's
 *      ingress, after the Service's DNAT to the pod's own listener port), then the gateway's own
 *      authorization for a plaintext caller;
 *   2. the gateway's routing: the route's backendRef resolves, or the gateway answers 500 itself
 *      (a cross-namespace backendRef without a ReferenceGrant: reference-grant.ts);
 *   3. the gateway → the backend's pod, the gateway being a meshed client with its own identity:
 *      the network (the gateway's egress, the backend's ingress), mTLS and the backend's
 *      authorization, as for any Service-addressed client (evaluate.ts `reach`).
 *
 * Sources (istio/istio at 1.30.3):
 * - Which AuthorizationPolicies apply to a Gateway API gateway's pod: those of the root namespace
 *   and the gateway's namespace (`pilot/pkg/model/authorization.go:97-106`) that
 *   `ShouldAttachPolicy` attaches (`pilot/pkg/model/policyattachment.go:123-201`): without
 *   targetRefs, by selector (none: all), since ENABLE_SELECTOR_BASED_K8S_GATEWAY_POLICY defaults
 *   to true (`pilot/pkg/features/pilot.go:274-276`); with targetRefs, only a policy in the
 *   gateway's own namespace naming its Gateway (group gateway.networking.k8s.io, kind Gateway);
 *   Service, ServiceEntry and GatewayClass targets attach to waypoints only.
 * - The caller reaches the gateway in plaintext (its listener is HTTP, the probe is out of the
 *   mesh), so no principal or namespace matches there; PeerAuthentication configures sidecar
 *   and ztunnel inbound listeners, and bulkhead has no source for a gateway listener's, so it is
 *   not evaluated on hop 1.
 * - The gateway originates Istio mTLS to a backend whose pod carries `security.istio.io/tlsMode:
 *   istio` (a sidecar) unless the backend's mode is DISABLE (auto mTLS, on by default:
 *   `pkg/config/mesh/mesh.go:82`; `pilot/pkg/networking/core/cluster_tls.go:90-110,463-472`), with
 *   the gateway's service account as its identity (kube-gateway.yaml `serviceAccountName`,
 *   harness/scenario/gateways.ts); to a pod without a sidecar it sends plaintext.
 * - What the client sees: a network drop before the gateway is the client's own timeout (or a
 *   refusal with Felix's Reject); the gateway's own 403 (its RBAC) and 500 (no ReferenceGrant)
 *   and the backend's relayed 403 are `denied-l7`; a drop between the gateway and the backend is
 *   the gateway's 503 upstream failure or the client's timeout, `denied-l4`
 *   (harness/agent/classify.ts `classifyGatewayAnswer`).
 * - The gateway's pod is an istio-proxy like a sidecar's (kube-gateway.yaml `args: [proxy,
 *   router]`): without istiod and DNS it gets no configuration (fact O13, the evaluator's start-up
 *   check).
 */
import type { AddressedHttpAttempt, HttpAttempt, Port } from '../scenario/types.js';
import { refText } from '../scenario/types.js';
import {
  normalizePath,
  type AuthorizationLayer,
  type CompiledAuthorizationPolicy,
  type RequestContext,
} from './authorization.js';
import type { Cluster, Endpoint } from './cluster.js';
import type { Unmodeled } from './objects.js';
import type { ReferenceGrants } from './reference-grant.js';
import { MAYBE, NO, type PredictedOutcome, type Prediction, type Tri } from './types.js';

const GATEWAY_GROUP = 'gateway.networking.k8s.io';

export type GatewayTarget = Extract<AddressedHttpAttempt['target'], { kind: 'gateway' }>;

interface Verdict {
  readonly verdict: Tri;
  readonly reasons: readonly string[];
}

export interface GatewayDeps {
  readonly cluster: Cluster;
  readonly authz: AuthorizationLayer;
  readonly grants: ReferenceGrants;
  readonly unmodeled: readonly Unmodeled[];
  /** Source egress then destination ingress (evaluate.ts). */
  path(src: Endpoint, dst: Endpoint, port: number): Verdict;
  /** Whether a proxy gets its configuration (istiod, DNS: fact O13). */
  startup(e: Endpoint): Verdict;
  dropOutcome(src: Endpoint, viaSidecar: boolean): PredictedOutcome;
  /** A Service-addressed attempt from a meshed client, through mTLS and the backend's authorization. */
  reach(client: Endpoint, attempt: HttpAttempt): Prediction;
  /** How Istio treats a port (evaluate.ts `istioProtocol`). */
  protocol(port: Port): 'http' | 'tcp' | 'sniffed';
}

export class GatewayPaths {
  private readonly deps: GatewayDeps;

  constructor(deps: GatewayDeps) {
    this.deps = deps;
  }

  predict(src: Endpoint, attempt: AddressedHttpAttempt, t: GatewayTarget): Prediction {
    const d = this.deps;
    const found = d.cluster.gateways.get(refText(t.gateway));
    const through = `through the ingress gateway ${refText(t.gateway)} with Host ${t.hostname}`;
    if (!found) return unknown('none', [`${through}: not a gateway of the scenario (spec.gateways)`]);
    if (src.dataplane !== 'none')
      return unknown('none', [
        `${through}: ${src.key} is in the mesh; its ${src.sidecar ? 'sidecar' : 'ztunnel'} would route the tenant's Host, which names no Service of the mesh, and the facts do not say how (the gateway generator tries only sources out of the mesh)`,
      ]);
    const gw = found.endpoint;
    const port = attempt.port.port;
    const reasons: string[] = [`hop 1, ${src.key} → the gateway's pod ${gw.key}:${port}:`];

    const startup = d.startup(gw);
    if (startup.verdict !== 1) return unknown('network', [...reasons, ...startup.reasons]);
    const net = d.path(src, gw, port);
    if (net.verdict === MAYBE) return unknown('network', [...reasons, ...net.reasons]);
    reasons.push(...net.reasons);
    if (net.verdict === NO) return { outcome: d.dropOutcome(src, false), layer: 'network', reasons };

    const opaque = d.unmodeled.find((u) => u.gateway?.(gw) === true);
    if (opaque)
      return unknown('authorization', [...reasons, `${opaque.title} acts on ${gw.key}: ${opaque.why}`]);
    const ctx = this.callerContext(src, gw, attempt, t.hostname);
    const decision = d.authz.decide(
      `the gateway ${gw.key}`,
      this.gatewayPolicies(gw, found.gateway.name),
      ctx,
    );
    reasons.push(...decision.reasons);
    if (decision.verdict === MAYBE) return unknown('authorization', reasons);
    if (decision.verdict === NO) {
      reasons.push('the gateway answers 403 itself');
      return { outcome: 'denied-l7', layer: 'authorization', reasons };
    }

    reasons.push(
      `hop 2, the route in ${t.routeNamespace} for ${t.hostname} to Service ${refText(t.backend)}:${t.backendPort}:`,
    );
    const grant = d.grants.backendAllowed(t.routeNamespace, t.backend);
    reasons.push(grant.reason);
    if (grant.allowed === undefined) return unknown('routing', reasons);
    if (!grant.allowed) return { outcome: 'denied-l7', layer: 'routing', reasons };

    const backend = d.cluster.byKey.get(refText(t.backend));
    const backendPort = backend?.ports.find((p) => p.port === t.backendPort && p.protocol === 'TCP');
    if (!backend || !backendPort)
      return unknown('none', [
        ...reasons,
        `${refText(t.backend)}:${t.backendPort} is not a workload port of the scenario`,
      ]);
    reasons.push(`hop 3, the gateway ${gw.key} → ${backend.key}:${t.backendPort}:`);
    if (backend.dataplane === 'ambient')
      return unknown('none', [
        ...reasons,
        `${backend.key} is on the ambient data plane; bulkhead has no facts for an ingress gateway's hop to an ambient workload`,
      ]);
    if (d.protocol(backendPort) === 'tcp')
      return unknown('none', [
        ...reasons,
        `port ${t.backendPort} is named '${backendPort.name ?? ''}', so Istio reads it as TCP; what the gateway's HTTP request meets there is not in the facts`,
      ]);
    // The gateway's Envoy as the client: a meshed proxy with its own service account (see header).
    const client: Endpoint = { ...gw, sidecar: true };
    const { target: _target, ...rest } = attempt;
    const hop = d.reach(client, {
      ...rest,
      from: { namespace: gw.namespace ?? '', name: gw.name },
      to: t.backend,
      port: backendPort,
    });
    const note =
      hop.outcome === 'denied-l7'
        ? ["the gateway passes on the backend's 403"]
        : hop.outcome === 'denied-l4'
          ? ["the gateway's upstream connection fails: its 503, or the client's own timeout"]
          : [];
    return { ...hop, reasons: [...reasons, ...hop.reasons, ...note] };
  }

  /** The root namespace's and the gateway namespace's policies Istio attaches to the gateway (see header). */
  private gatewayPolicies(gw: Endpoint, gateway: string): CompiledAuthorizationPolicy[] {
    const root = this.deps.authz.rootNamespace;
    return this.deps.authz.compiled.filter((p) => {
      if (p.namespace !== root && p.namespace !== gw.namespace) return false;
      if (!p.targetRefs) return p.selector(gw.labels);
      return (
        p.namespace === gw.namespace &&
        p.targets.some((r) => r.group === GATEWAY_GROUP && r.kind === 'Gateway' && r.name === gateway)
      );
    });
  }

  /** What the gateway's RBAC sees of the caller: plaintext HTTP on the listener, the tenant's Host. */
  private callerContext(
    src: Endpoint,
    gw: Endpoint,
    attempt: AddressedHttpAttempt,
    hostname: string,
  ): RequestContext {
    const headers = new Map<string, string>();
    for (const [k, v] of Object.entries(attempt.http.headers)) {
      const key = k.toLowerCase();
      const prior = headers.get(key);
      headers.set(key, prior === undefined ? v : `${prior},${v}`);
    }
    const host = headers.get('host') ?? hostname;
    headers.set(':authority', host);
    return {
      http: true,
      principal: undefined,
      sourceAddresses: src.addresses,
      destinationAddresses: gw.addresses,
      port: attempt.port.port,
      method: attempt.http.method,
      path: normalizePath(attempt.http.path),
      hosts: [host],
      headers,
    };
  }
}

function unknown(layer: Prediction['layer'], reasons: readonly string[]): Prediction {
  return { outcome: 'unknown', layer, reasons };
}
