/**
 * The ambient half of `builtin: hard-isolation`: what each layer becomes for namespaces on the
 * ambient data plane (ztunnel per node, waypoints for L7). Every choice rests on a fact of
 * ../shared/reference/ambient-cnp-facts.md (upstream Istio 1.29/1.30, Calico iptables/nftables):
 *
 * - Network (A1.14, A4.9): between ambient pods NetworkPolicy sees HBONE, TCP 15008, in the
 *   client's egress and the server's ingress (to and from waypoints too); kubelet probes arrive
 *   from 169.254.7.127, which an ingress policy must admit. The Calico tier needs nothing more: its
 *   rules have no ports, so they match HBONE as they match the app port (A4.10).
 * - Waypoints (A2.4): a tenant default deny selects the waypoint pod too; it reaches istiod on
 *   15012 (its DNS and same-namespace HBONE are the namespace's own allowances).
 * - ztunnel, L4 (A4.1-A4.3): selector and namespace-wide AuthorizationPolicies go to ztunnel, which
 *   drops HTTP attributes, so the policies here carry L4 fields only.
 * - Waypoint, L7 (A4.4, A3.2): HTTP rules attach by targetRefs (Service or waypoint Gateway) and see
 *   the client's identity; behind the waypoint the destination ztunnel sees the waypoint's.
 * - Bypass (AO8, A4.6): out-of-mesh clients and pod-IP calls skip a service waypoint, and upstream
 *   ztunnel does not trust the waypoint by itself: a ztunnel ALLOW naming only the waypoint's
 *   service account closes the bypass (the docs' pair, "enforce-auth-policies").
 * - Tenant identity (A4.8, A3.3): EnvoyFilter is not supported on waypoints; the facts' answer is
 *   to authorize on principals at the waypoint, never on an identity header.
 */
import {
  dataPlaneOf,
  HBONE_PORT,
  KUBELET_PROBE_ADDRESS,
  namespacePlane,
  takesServiceTraffic,
  type Waypoint,
} from '../scenario/dataplane.js';
import type { Namespace, Workload } from '../scenario/types.js';
import type { BundleDocument } from './documents.js';
import { meta, nsSelector, workloadsIn, type Context, type Obj } from './hard-isolation-common.js';
import { TENANT_LABEL } from './options.js';

const GATEWAY_GROUP = 'gateway.networking.k8s.io';
/** The label istiod puts on a waypoint's pods (fact A2.4). */
const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';

export function isAmbient(ns: Namespace): boolean {
  return namespacePlane(ns) === 'ambient';
}

/** The waypoint a call to the workload's Service goes through, if any (fact A2.4). */
export function serviceWaypoint(ctx: Context, w: Workload): Waypoint | undefined {
  if (dataPlaneOf(w) !== 'ambient' || w.waypoint === undefined) return undefined;
  const ns = ctx.scenario.namespaces.find((n) => n.name === w.namespace);
  const wp = ns?.waypoints?.find((x) => x.name === w.waypoint);
  return wp && takesServiceTraffic(wp) ? wp : undefined;
}

/**
 * How an AuthorizationPolicy for one workload is attached: by selector at its sidecar (or at
 * ztunnel, for L4 rules), by targetRefs to its Service at the waypoint in front of it (L7 in ambient).
 */
export type Attachment =
  | { readonly at: 'selector'; readonly spec: Obj }
  | { readonly at: 'waypoint'; readonly spec: Obj; readonly waypoint: Waypoint }
  | { readonly at: 'ztunnel'; readonly spec: Obj };

export function attachmentFor(ctx: Context, w: Workload): Attachment {
  const selector = { selector: { matchLabels: { ...w.labels } } };
  if (dataPlaneOf(w) !== 'ambient') return { at: 'selector', spec: selector };
  const wp = serviceWaypoint(ctx, w);
  if (wp)
    return {
      at: 'waypoint',
      spec: { targetRefs: [{ kind: 'Service', group: '', name: w.name }] },
      waypoint: wp,
    };
  return { at: 'ztunnel', spec: selector };
}

/** The waypoint Gateways of a namespace as targetRefs. */
export function gatewayRefs(ns: Namespace): Obj[] {
  return (ns.waypoints ?? []).map((w) => ({ kind: 'Gateway', group: GATEWAY_GROUP, name: w.name }));
}

function principalOfWaypoint(ctx: Context, ns: string, wp: Waypoint): string {
  // The waypoint runs as the service account of its name (fact A2.4).
  return `${ctx.scenario.trustDomain}/ns/${ns}/sa/${wp.name}`;
}

// ---------------------------------------------------------------- NetworkPolicies

/** A waypoint fetches its configuration from istiod on 15012 (fact A2.4, harness note). */
export function allowIstiodForWaypoints(ctx: Context, ns: Namespace): BundleDocument | undefined {
  if ((ns.waypoints ?? []).length === 0) return undefined;
  return {
    comment:
      'Ambient pods need no istiod (their node ztunnel talks to it); the waypoint pods do, on 15012,\n' +
      'and the default deny above selects them too.',
    object: {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta(
        'allow-istiod',
        ns.name,
        'How Istio Assigns Workload Identity: waypoints obtain configuration and certificates from istiod',
      ),
      spec: {
        podSelector: { matchExpressions: [{ key: GATEWAY_NAME_LABEL, operator: 'Exists' }] },
        policyTypes: ['Egress'],
        egress: [
          {
            to: [
              { namespaceSelector: nsSelector(ctx.istiod), podSelector: { matchLabels: { app: 'istiod' } } },
            ],
            ports: [{ protocol: 'TCP', port: 15012 }],
          },
        ],
      },
    },
  };
}

/** Kubelet probes reach ambient pods from 169.254.7.127, on the ports they serve (fact A4.9). */
export function allowKubeletProbes(ctx: Context, ns: Namespace): BundleDocument | undefined {
  const ports = [
    ...new Set(
      workloadsIn(ctx, ns.name)
        .filter((w) => dataPlaneOf(w) === 'ambient')
        .flatMap((w) => w.ports.filter((p) => p.protocol === 'TCP').map((p) => p.port)),
    ),
  ];
  if (ports.length === 0) return undefined;
  return {
    comment:
      `Kubelet probes arrive at ambient pods from ${KUBELET_PROBE_ADDRESS} (SNAT inside the pod), not from the\n` +
      'node: without this the default deny may keep the pods from becoming Ready.',
    object: {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta(
        'allow-kubelet-probes',
        ns.name,
        'Implementing Default-Deny Policies: ambient health probes',
      ),
      spec: {
        podSelector: {},
        policyTypes: ['Ingress'],
        ingress: [
          {
            from: [{ ipBlock: { cidr: `${KUBELET_PROBE_ADDRESS}/32` } }],
            ports: ports.map((port) => ({ protocol: 'TCP', port })),
          },
        ],
      },
    },
  };
}

/**
 * From an ambient tenant to the ambient shared services: HBONE on 15008 to the waypoint in front
 * of a service, or to the service's pods when it has none. The app-port rules of
 * allow-shared-services stay for the tenant's out-of-mesh pods.
 */
export function allowHboneToShared(ctx: Context, ns: Namespace): BundleDocument | undefined {
  if (!isAmbient(ns)) return undefined;
  const to: Obj[] = [];
  const seen = new Set<string>();
  for (const s of ctx.shared) {
    for (const w of workloadsIn(ctx, s.name).filter(
      (x) => x.ports.length > 0 && dataPlaneOf(x) === 'ambient',
    )) {
      const wp = serviceWaypoint(ctx, w);
      const podSelector = wp
        ? { matchLabels: { [GATEWAY_NAME_LABEL]: wp.name } }
        : { matchLabels: { ...w.labels } };
      const key = JSON.stringify([s.name, podSelector]);
      if (seen.has(key)) continue;
      seen.add(key);
      to.push({ namespaceSelector: nsSelector(s.name), podSelector });
    }
  }
  if (to.length === 0) return undefined;
  return {
    comment:
      `Ambient pods reach ambient shared services over HBONE (TCP ${HBONE_PORT}), not the app port: to the\n` +
      "service's waypoint when it has one, else to its pods.",
    object: {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta(
        'allow-hbone-to-shared',
        ns.name,
        'Shared Services Without Shared Risk: tenants reach the shared services (ambient)',
      ),
      spec: {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [{ to, ports: [{ protocol: 'TCP', port: HBONE_PORT }] }],
      },
    },
  };
}

/** An ambient shared namespace admits HBONE from the ambient tenant namespaces. */
export function allowHboneFromTenants(ctx: Context, ns: Namespace): BundleDocument | undefined {
  const served = workloadsIn(ctx, ns.name).some((w) => w.ports.length > 0 && dataPlaneOf(w) === 'ambient');
  if (!isAmbient(ns) || !served || !ctx.tenants.some(isAmbient)) return undefined;
  return {
    comment:
      `HBONE (TCP ${HBONE_PORT}) from tenant namespaces on the ambient data plane, to the waypoints and the\n` +
      'services behind them; which tenant may do what is decided by identity at the waypoint.',
    object: {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta(
        'allow-hbone-from-tenants',
        ns.name,
        'Missing NetworkPolicies on shared services: the shared namespace admits ambient tenants over HBONE',
      ),
      spec: {
        podSelector: {},
        policyTypes: ['Ingress'],
        ingress: [
          {
            from: [
              {
                namespaceSelector: {
                  matchLabels: { 'istio.io/dataplane-mode': 'ambient' },
                  matchExpressions: [{ key: TENANT_LABEL, operator: 'Exists' }],
                },
              },
            ],
            ports: [{ protocol: 'TCP', port: HBONE_PORT }],
          },
        ],
      },
    },
  };
}

// ---------------------------------------------------------------- AuthorizationPolicies

/**
 * The cross-tenant DENY at each waypoint of the namespace. Behind a waypoint the destination
 * ztunnel sees the waypoint's identity (same namespace), so the namespace-wide DENY there cannot
 * tell tenants apart; the waypoint sees the client's (A3.2, A4.4).
 */
export function denyCrossTenantAtWaypoints(ctx: Context, ns: Namespace): BundleDocument | undefined {
  const refs = gatewayRefs(ns);
  if (refs.length === 0) return undefined;
  return {
    comment:
      "The same DENY at the namespace's waypoints, which see the client's identity: behind a waypoint\n" +
      "the destination's ztunnel sees the waypoint's, which is of this namespace.",
    object: {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: meta(
        'deny-cross-tenant-at-waypoint',
        ns.name,
        'Why SPIFFE Identity Matters for Multi-Tenancy: deny cross-tenant (waypoint)',
      ),
      spec: {
        targetRefs: refs,
        action: 'DENY',
        rules: [{ from: [{ source: { notNamespaces: [ns.name, ...ctx.shared.map((s) => s.name)] } }] }],
      },
    },
  };
}

/**
 * ztunnel ALLOWs naming only the waypoint: what goes through it is admitted (its L7 policies have
 * run), what skips it (out-of-mesh clients, pod-IP calls) is reset (A4.6, AO8). Namespace-wide when
 * the waypoint takes every ambient workload that serves; else one per workload it takes.
 */
export function allowViaWaypoints(ctx: Context, ns: Namespace): BundleDocument[] {
  const serving = workloadsIn(ctx, ns.name).filter((w) => w.ports.length > 0);
  return (ns.waypoints ?? []).flatMap((wp): BundleDocument[] => {
    const taken = serving.filter((w) => serviceWaypoint(ctx, w)?.name === wp.name);
    if (taken.length === 0) return [];
    const rules = [{ from: [{ source: { principals: [principalOfWaypoint(ctx, ns.name, wp)] } }] }];
    const comment =
      `ztunnel admits only waypoint '${wp.name}': a client that skips it (out of the mesh, or calling a\n` +
      'pod IP) would skip its L7 policies, and is reset instead. L4 fields only (ztunnel sees no HTTP).';
    const claim = 'Writing Tenant-Scoped AuthorizationPolicies: no way around the waypoint';
    if (taken.length === serving.length) {
      return [
        {
          comment,
          object: {
            apiVersion: 'security.istio.io/v1',
            kind: 'AuthorizationPolicy',
            metadata: meta(`allow-via-${wp.name}`, ns.name, claim),
            spec: { action: 'ALLOW', rules },
          },
        },
      ];
    }
    return taken.map((w) => ({
      comment,
      object: {
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: meta(`allow-via-${wp.name}-${w.name}`, ns.name, claim),
        spec: { selector: { matchLabels: { ...w.labels } }, action: 'ALLOW', rules },
      },
    }));
  });
}
