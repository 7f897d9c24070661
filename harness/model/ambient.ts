/**
 * Ambient paths: what a connection meets when its client or server is on the ambient data plane
 * (ztunnel per node, waypoints for L7), and what the client then observes. Every step rests on a
 * fact of ../shared/reference/ambient-cnp-facts.md, named by its id; where the facts do not say
 * (a sidecar talking to an ambient pod, a waypoint hop refused by ztunnel, a TCP deny at a
 * waypoint), the prediction is `unknown` with that reason.
 *
 *   ambient → ambient          network on HBONE 15008 (A1.14, A4.9) → destination ztunnel L4
 *                              authorization with the client's identity (A4.1-A4.3)
 *   ambient → Service with a   client → waypoint on 15008, waypoint → destination on 15008,
 *     service waypoint         the destination sees the waypoint's address (A2.4, A3.2);
 *                              waypoint L7 authorization by targetRefs with the client's identity,
 *                              then destination ztunnel L4 with the waypoint's (A4.4)
 *   out-of-mesh → ambient      plain TCP on the app port (A1.14), waypoint bypassed (AO8); STRICT
 *                              resets it (AO3, A4.7), else ztunnel L4 with no identity
 *   ambient → out-of-mesh      ztunnel dials plain TCP on the app port (A1.14); nothing enforces
 *                              Istio policy at the server
 *
 * Observations (cheat-sheet part 0): a ztunnel deny or STRICT against plaintext is connect-then-
 * reset, `reset` (AO1, AO3); a network drop is `denied-l4` whichever way it shows: the ambient
 * client's reset after ztunnel's 10 s HBONE give-up (AO5, AO7), the waypoint's 503 (AO6), or an
 * out-of-mesh client's connect timeout (AO7); a waypoint L7 deny is a 403, `denied-l7` (AO4).
 */
import {
  HBONE_PORT,
  KUBELET_PROBE_ADDRESS,
  takesServiceTraffic,
  takesWorkloadTraffic,
  type Waypoint,
} from '../scenario/dataplane.js';
import type { Attempt } from '../scenario/types.js';
import type { AmbientAuthorization } from './ambient-authz.js';
import type { AuthzDecision, RequestContext } from './authorization.js';
import type { Cluster, Endpoint } from './cluster.js';
import type { Protocol } from './network.js';
import type { PeerAuthenticationLayer } from './peerauthentication.js';
import { MAYBE, NO, YES, type Layer, type Prediction, type Tri } from './types.js';

export interface PathVerdict {
  readonly verdict: Tri;
  readonly reasons: readonly string[];
}

type Connection = Extract<Attempt, { to: unknown }>;

/** How a client addressed its destination: by Service name or by pod IP. */
export type Addressing = 'service' | 'pod';

export interface AmbientProps {
  readonly cluster: Cluster;
  /** Source egress then destination ingress, as the network layer sees one TCP connection. */
  readonly path: (src: Endpoint, dst: Endpoint, port: number, protocol: Protocol) => PathVerdict;
  /** Destination ingress only (for sources that are not pods: the kubelet). */
  readonly ingress: (dst: Endpoint, src: Endpoint, port: number) => PathVerdict;
  readonly peerAuth: PeerAuthenticationLayer;
  readonly authz: AmbientAuthorization;
  /** The request as the enforcer sees it, for a given peer identity and source. */
  readonly context: (
    attempt: Connection,
    src: Endpoint,
    dst: Endpoint,
    principal: string | undefined,
  ) => RequestContext;
  /** Felix answers dropped packets with a rejection instead of dropping them. */
  readonly reject: boolean;
  /** Whether Istio treats the attempt as HTTP (port protocol selection). */
  readonly http: (attempt: Connection) => boolean;
}

const AMBIENT_SIDECAR =
  'how a sidecar and an ambient pod connect (HBONE to 15008 or mTLS to the app port) is not in the reference facts';

export class AmbientPaths {
  private readonly p: AmbientProps;

  constructor(props: AmbientProps) {
    this.p = props;
  }

  /** True when the ambient rules apply: either end is captured by ztunnel. */
  static applies(src: Endpoint, dst: Endpoint): boolean {
    return src.dataplane === 'ambient' || dst.dataplane === 'ambient';
  }

  /**
   * @param addressing how the client addressed the destination: its Service (default) or its pod
   *   IP, which decides the waypoint on the path (fact A2.4: original addressing).
   */
  predict(src: Endpoint, dst: Endpoint, attempt: Connection, addressing: Addressing = 'service'): Prediction {
    const ready = this.readiness(dst);
    if (ready) return unknown('network', [ready]);
    if (src.dataplane === 'sidecar' || dst.dataplane === 'sidecar')
      return this.mixed(src, dst, attempt, addressing);
    if (src.dataplane === 'none') return this.fromOutside(src, dst, attempt, addressing);
    if (dst.dataplane === 'none') return this.toOutside(src, dst, attempt);
    const waypoint = this.waypointOf(dst, addressing);
    if (waypoint) return this.viaWaypoint(src, dst, waypoint, attempt);
    const p = this.direct(src, dst, attempt);
    const skipped = this.waypointOf(dst, 'service');
    if (addressing === 'pod' && skipped) {
      const note = `by pod IP: the call skips ${skipped.key}, which takes traffic to the Service only, and meets the destination ztunnel alone (fact AO8)`;
      return { ...p, reasons: [note, ...p.reasons] };
    }
    return p;
  }

  /** The waypoint a call to the destination goes through, by its addressing (A2.4). */
  private waypointOf(dst: Endpoint, addressing: Addressing): Endpoint | undefined {
    const name = dst.workload?.waypoint;
    if (name === undefined || dst.namespace === undefined) return undefined;
    const w = this.p.cluster.waypoints.get(`${dst.namespace}/${name}`);
    if (!w) return undefined;
    return (addressing === 'service' ? takesServiceTraffic(w.waypoint) : takesWorkloadTraffic(w.waypoint))
      ? w.endpoint
      : undefined;
  }

  /**
   * Kubelet probes reach an ambient pod from 169.254.7.127 (A4.9); the fixtures give every pod with
   * a TCP port a readiness probe on the first. Denied there, the pod may never be Ready, "depending
   * on the CNI", and whether Calico exempts the address is unverified: the model cannot tell.
   */
  private readiness(dst: Endpoint): string | undefined {
    if (dst.dataplane !== 'ambient') return undefined;
    const port = dst.ports.find((p) => p.protocol === 'TCP');
    if (!port) return undefined;
    const v = this.p.ingress(dst, this.p.cluster.kubelet, port.port);
    if (v.verdict === YES) return undefined;
    return `kubelet readiness probes reach ambient pod ${dst.key} from ${KUBELET_PROBE_ADDRESS} (fact A4.9), and its ingress policy ${v.verdict === NO ? 'does not allow' : 'may not allow'} that on ${port.port}/TCP: whether the pod becomes Ready then depends on the CNI (unverified for Calico); allow ipBlock ${KUBELET_PROBE_ADDRESS}/32: ${v.reasons.join('; ')}`;
  }

  /** ambient → ambient without a waypoint: HBONE on 15008, then the destination ztunnel. */
  private direct(src: Endpoint, dst: Endpoint, attempt: Connection): Prediction {
    const net = this.p.path(src, dst, HBONE_PORT, 'TCP');
    const hbone = `HBONE from ${src.key} to ${dst.key}: network policy sees TCP ${HBONE_PORT}, not ${attempt.port.port} (fact A1.14)`;
    if (net.verdict === MAYBE) return unknown('network', [hbone, ...net.reasons]);
    if (net.verdict === NO) return this.dropped(src, [hbone, ...net.reasons, DROP_HBONE]);
    const reasons = [hbone, ...net.reasons, ...this.ignoredDisable(dst, attempt)];
    const principal = principalOf(src, this.p.cluster.trustDomain);
    reasons.push(`mTLS (HBONE): the destination ztunnel sees the peer ${principal}`);
    return this.atZtunnel(dst, this.p.context(attempt, src, dst, principal), reasons, 'AO1');
  }

  /** ambient → a Service with a waypoint: two HBONE hops, L7 at the waypoint, L4 at the destination. */
  private viaWaypoint(src: Endpoint, dst: Endpoint, wp: Endpoint, attempt: Connection): Prediction {
    const waypoint = this.p.cluster.waypoints.get(wp.key.replace(/^waypoint /, ''))?.waypoint as Waypoint;
    const name = `waypoint ${waypoint.namespace}/${waypoint.name}`;
    const startup = this.waypointStartup(wp);
    if (startup) return unknown('network', [startup]);
    const reasons: string[] = [
      `${src.key} calls Service ${dst.service.namespace}/${dst.service.name}, which uses ${name} (fact A2.4)`,
    ];
    const first = this.p.path(src, wp, HBONE_PORT, 'TCP');
    if (first.verdict === MAYBE) return unknown('network', [...reasons, ...first.reasons]);
    if (first.verdict === NO)
      return this.dropped(src, [
        ...reasons,
        `to the ${name} on ${HBONE_PORT}:`,
        ...first.reasons,
        DROP_HBONE,
      ]);
    reasons.push(...first.reasons);
    const second = this.p.path(wp, dst, HBONE_PORT, 'TCP');
    const hop = `the ${name} opens its own HBONE connection to ${dst.key} from the waypoint pod's address (fact A3.2)`;
    if (second.verdict === MAYBE) return unknown('network', [...reasons, hop, ...second.reasons]);
    if (second.verdict === NO) {
      return {
        outcome: 'denied-l4',
        layer: 'network',
        reasons: [
          ...reasons,
          hop,
          ...second.reasons,
          "the waypoint's upstream connect fails: Envoy's 503 after its connect timeout (fact AO6)",
        ],
      };
    }
    reasons.push(hop, ...second.reasons);
    const client = principalOf(src, this.p.cluster.trustDomain);
    const http = this.p.http(attempt);
    const l7 = this.p.authz.waypoint(
      { waypoint, service: dst.service },
      { ...this.p.context(attempt, src, dst, client), http },
    );
    reasons.push(`the ${name} sees the peer ${client} (fact A4.4)`, ...l7.reasons);
    if (l7.verdict === MAYBE) return unknown('authorization', reasons);
    if (l7.verdict === NO) {
      if (!http)
        return unknown('authorization', [
          ...reasons,
          'what a client sees when a waypoint denies a non-HTTP connection is not in the reference facts',
        ]);
      return {
        outcome: 'denied-l7',
        layer: 'authorization',
        reasons: [...reasons, "the waypoint answers 403 'RBAC: access denied' (fact AO4)"],
      };
    }
    const waypointPrincipal = `${this.p.cluster.trustDomain}/ns/${waypoint.namespace}/sa/${waypoint.name}`;
    reasons.push(
      `the destination ztunnel sees the waypoint's identity ${waypointPrincipal}, not the client's (facts A3.2, A4.4)`,
    );
    const l4 = this.p.authz.ztunnel(dst, {
      ...this.p.context(attempt, wp, dst, waypointPrincipal),
      http: false,
    });
    reasons.push(...l4.reasons);
    if (l4.verdict === MAYBE) return unknown('authorization', reasons);
    if (l4.verdict === NO) {
      return unknown('authorization', [
        ...reasons,
        `the destination ztunnel refuses the waypoint's hop (add a ztunnel ALLOW naming ${waypointPrincipal}, fact A4.6); what the waypoint then answers the client (a reset or a 503) is not in the reference facts`,
      ]);
    }
    return { outcome: 'allowed', layer: 'none', reasons };
  }

  /** An out-of-mesh client: plain TCP on the app port, straight to the pod; waypoints bypassed (AO8). */
  private fromOutside(src: Endpoint, dst: Endpoint, attempt: Connection, addressing: Addressing): Prediction {
    const net = this.p.path(src, dst, attempt.port.port, 'TCP');
    const plain = `${src.key} is out of the mesh: plain TCP to ${dst.key} on ${attempt.port.port}, as network policy sees it (fact A1.14)`;
    if (net.verdict === MAYBE) return unknown('network', [plain, ...net.reasons]);
    if (net.verdict === NO) {
      return {
        outcome: this.p.reject ? 'refused' : 'denied-l4',
        layer: 'network',
        reasons: [plain, ...net.reasons, "the client's own SYN is dropped: a connect timeout (fact AO7)"],
      };
    }
    const reasons = [plain, ...net.reasons];
    const wp = this.waypointOf(dst, addressing);
    if (wp) {
      reasons.push(
        `the client is not captured, so it bypasses ${wp.key}: its L7 policies are not evaluated (fact AO8)`,
      );
    }
    const mtls = this.p.peerAuth.modeFor(dst, attempt.port.port);
    if (mtls.mode === undefined) return unknown('mtls', [...reasons, ...mtls.reasons]);
    reasons.push(...mtls.reasons);
    if (mtls.mode === 'DISABLE') {
      return unknown('mtls', [
        ...reasons,
        'PeerAuthentication DISABLE is ignored in ambient mode (fact A4.7); which mode then applies is not in the reference facts',
      ]);
    }
    if (mtls.mode === 'STRICT') {
      return {
        outcome: 'reset',
        layer: 'mtls',
        reasons: [
          ...reasons,
          `STRICT: ztunnel closes the plaintext connection by the policy istio_converted_static_strict (connection reset, fact AO3)`,
        ],
      };
    }
    reasons.push('PERMISSIVE: ztunnel accepts the plaintext, and the peer has no identity (fact A4.7)');
    return this.atZtunnel(dst, this.p.context(attempt, src, dst, undefined), reasons, 'AO3');
  }

  /** An ambient client to an out-of-mesh server: ztunnel dials plain TCP on the app port. */
  private toOutside(src: Endpoint, dst: Endpoint, attempt: Connection): Prediction {
    const net = this.p.path(src, dst, attempt.port.port, 'TCP');
    const plain = `${dst.key} is out of the mesh: the ztunnel of ${src.key} dials it in plain TCP on ${attempt.port.port} (fact A1.14)`;
    if (net.verdict === MAYBE) return unknown('network', [plain, ...net.reasons]);
    if (net.verdict === NO) return this.dropped(src, [plain, ...net.reasons, DROP_PLAIN]);
    return {
      outcome: 'allowed',
      layer: 'none',
      reasons: [plain, ...net.reasons, `${dst.key} is out of the mesh: no mTLS or authorization`],
    };
  }

  /** Sidecar on one end, ambient on the other: definite only when the network drops every way. */
  private mixed(src: Endpoint, dst: Endpoint, attempt: Connection, addressing: Addressing): Prediction {
    if (src.dataplane === 'none' || dst.dataplane === 'none') {
      // One end is out of the mesh, the other has a sidecar: not an ambient path at all.
      return unknown('none', [`${src.key} → ${dst.key}: no ambient end`]);
    }
    const ways: [Endpoint, Endpoint, number][] = [
      [src, dst, attempt.port.port],
      [src, dst, HBONE_PORT],
    ];
    const wp = dst.dataplane === 'ambient' ? this.waypointOf(dst, addressing) : undefined;
    if (wp) ways.push([src, wp, HBONE_PORT]);
    const verdicts = ways.map(([a, b, port]) => ({ port, to: b, v: this.p.path(a, b, port, 'TCP') }));
    const head = `${src.key} (${src.dataplane}) → ${dst.key} (${dst.dataplane}): ${AMBIENT_SIDECAR}`;
    if (verdicts.every((x) => x.v.verdict === NO)) {
      const reasons = [
        head,
        ...verdicts.map((x) => `to ${x.to.key} on ${x.port}: ${x.v.reasons.join('; ')}`),
        'the network drops every way the connection could take',
      ];
      if (src.dataplane === 'sidecar')
        return {
          outcome: 'denied-l4',
          layer: 'network',
          reasons: [
            ...reasons,
            "the client's sidecar answers Envoy's 503 after its connect timeout (fact O6)",
          ],
        };
      return this.dropped(src, [...reasons, DROP_HBONE]);
    }
    return unknown('none', [head]);
  }

  /** A dropped connection from an ambient client: ztunnel gives up after 10 s and resets it (AO5/AO7). */
  private dropped(src: Endpoint, reasons: readonly string[]): Prediction {
    if (this.p.reject && src.dataplane === 'ambient')
      return unknown('network', [
        ...reasons,
        "Felix rejects instead of dropping: what the ambient client sees when its ztunnel's connect is refused is not in the reference facts",
      ]);
    return { outcome: 'denied-l4', layer: 'network', reasons };
  }

  /** The destination ztunnel's L4 verdict: a deny closes the connected socket (`reset`). */
  private atZtunnel(dst: Endpoint, ctx: RequestContext, reasons: string[], fact: 'AO1' | 'AO3'): Prediction {
    const d: AuthzDecision = this.p.authz.ztunnel(dst, ctx);
    reasons.push(...d.reasons);
    if (d.verdict === MAYBE) return unknown('authorization', reasons);
    if (d.verdict === NO) {
      reasons.push(`ztunnel refuses the connection after it was accepted: connection reset (fact ${fact})`);
      return { outcome: 'reset', layer: 'authorization', reasons };
    }
    return { outcome: 'allowed', layer: 'none', reasons };
  }

  /** PeerAuthentication DISABLE does nothing between ambient pods (A4.7); say so when it was written. */
  private ignoredDisable(dst: Endpoint, attempt: Connection): string[] {
    const m = this.p.peerAuth.modeFor(dst, attempt.port.port);
    return m.mode === 'DISABLE'
      ? ['PeerAuthentication DISABLE is ignored in ambient mode: HBONE stays mTLS (fact A4.7)']
      : [];
  }

  /** A waypoint needs istiod (15012/TCP) for its config (A2.4's harness note, derived). */
  private waypointStartup(wp: Endpoint): string | undefined {
    const v = this.p.path(wp, this.p.cluster.istiod, 15012, 'TCP');
    if (v.verdict === YES) return undefined;
    return `${wp.key} ${v.verdict === NO ? 'cannot' : 'may not'} reach istiod on 15012/TCP, so it may never get its configuration (fact A2.4): ${v.reasons.join('; ')}`;
  }
}

const DROP_HBONE =
  "the client's ztunnel gives up its connect after 10 s and resets the client's connection (fact AO5)";
const DROP_PLAIN =
  "the client's ztunnel gives up its plain-TCP connect after 10 s and resets the client's connection (fact AO7)";

function principalOf(e: Endpoint, trustDomain: string): string {
  return `${trustDomain}/ns/${e.namespace ?? ''}/sa/${e.serviceAccount ?? 'default'}`;
}

function unknown(layer: Layer, reasons: readonly string[]): Prediction {
  return { outcome: 'unknown', layer, reasons };
}
