/**
 * `builtin: hard-isolation`'s allowance for the scenario's declared ingress gateways
 * (`spec.gateways`): a platform engineer expects a declared gateway that routes a tenant's host to
 * the tenant's own backend to work under hard isolation. Without this the tenants' default deny
 * drops the hop to the gateway's pod and the gateway's hop to the backend (the gateway lives in a
 * shared namespace, its pod is no workload of the scenario). Each allowance is narrow:
 *
 * - the source tenant's namespaces may send to the gateway's pod, on its listener port only;
 * - the gateway's namespace admits those tenants' namespaces to that pod, on that port only;
 * - the gateway's pod may send to each routed backend, on the routed port only, and each routed
 *   backend admits the gateway's pod on that port only;
 * - the gateway's pod may reach istiod (its proxy's configuration and certificate, fact O13);
 * - Istio: the tenants' cross-tenant DENY already spares shared namespaces, so the gateway's
 *   identity (`<trustDomain>/ns/<gateway namespace>/sa/<name>-istio`) passes it; an ALLOW on a
 *   routed backend (the api-gateway's least privilege) names that identity too (hard-isolation.ts).
 *
 * What isolation between tenants through the gateway then rests on is the route's ReferenceGrant:
 * the gateway may reach every routed backend, so another tenant's route to it is refused by the
 * gateway's routing (no ReferenceGrant: its 500), not by these policies. Ambient backends get no
 * allowance: the model has no facts for a gateway's hop into ambient. The pod's labels, port and
 * service account are Istio's (harness/scenario/gateways.ts).
 */
import { dataPlaneOf } from '../scenario/dataplane.js';
import {
  GATEWAY_NAME_LABEL,
  gatewayDeploymentName,
  gatewayPodPort,
  type Gateway,
  type GatewayRoute,
} from '../scenario/gateways.js';
import type { Namespace, Workload } from '../scenario/types.js';
import type { BundleDocument } from './documents.js';
import { meta, nsSelector, type Context, type Obj } from './hard-isolation-common.js';
import { TENANT_LABEL } from './options.js';

const CLAIM =
  'Shared Services Without Shared Risk: a declared ingress gateway reaches only its routed backends';

function gatewaysOf(ctx: Context): readonly Gateway[] {
  return ctx.scenario.gateways ?? [];
}

function podSelector(g: Gateway): Obj {
  return { matchLabels: { [GATEWAY_NAME_LABEL]: g.name } };
}

function backendOf(ctx: Context, r: GatewayRoute): Workload | undefined {
  const w = ctx.scenario.workloads.find(
    (x) => x.namespace === r.backend.namespace && x.name === r.backend.name,
  );
  return w && dataPlaneOf(w) !== 'ambient' ? w : undefined;
}

/** The gateway's identity, as the backends' sidecars see it over mTLS. */
export function gatewayPrincipal(ctx: Context, g: Gateway): string {
  return `${ctx.scenario.trustDomain}/ns/${g.namespace}/sa/${gatewayDeploymentName(g.name)}`;
}

/** Whether a namespace holds a declared gateway (its pod needs istiod). */
export function holdsGateway(ctx: Context, ns: string): boolean {
  return gatewaysOf(ctx).some((g) => g.namespace === ns);
}

/** The principals of the gateways that route to this workload. */
export function gatewayPrincipalsFor(ctx: Context, w: Workload): string[] {
  return gatewaysOf(ctx)
    .filter((g) => g.routes.some((r) => r.backend.namespace === w.namespace && r.backend.name === w.name))
    .map((g) => gatewayPrincipal(ctx, g));
}

/** In a tenant namespace: egress to each gateway its tenant has a route on, on the listener port. */
export function allowToGateways(ctx: Context, ns: Namespace): BundleDocument | undefined {
  const gateways = gatewaysOf(ctx).filter((g) => g.routes.some((r) => r.tenant === ns.tenant));
  if (gateways.length === 0) return undefined;
  return {
    comment: "Egress to the ingress gateways this tenant has routes on: their pods' listener port only.",
    object: {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta('allow-ingress-gateways', ns.name, CLAIM),
      spec: {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: gateways.map((g) => ({
          to: [{ namespaceSelector: nsSelector(g.namespace), podSelector: podSelector(g) }],
          ports: [{ protocol: 'TCP', port: gatewayPodPort(g) }],
        })),
      },
    },
  };
}

/** In a gateway's namespace: its pod admits its routed tenants on the listener and reaches its backends. */
export function gatewayPolicies(ctx: Context, ns: Namespace): BundleDocument[] {
  return gatewaysOf(ctx)
    .filter((g) => g.namespace === ns.name)
    .flatMap((g): BundleDocument[] => {
      const tenants = [...new Set(g.routes.map((r) => r.tenant))];
      const backends = g.routes.flatMap((r) => {
        const w = backendOf(ctx, r);
        return w ? [{ w, port: r.port.port }] : [];
      });
      const docs: BundleDocument[] = [
        {
          comment: `The gateway ${g.name}'s pod admits the namespaces of the tenants routed on it, on its listener port.`,
          object: {
            apiVersion: 'networking.k8s.io/v1',
            kind: 'NetworkPolicy',
            metadata: meta(`allow-tenants-to-${g.name}`, ns.name, CLAIM),
            spec: {
              podSelector: podSelector(g),
              policyTypes: ['Ingress'],
              ingress: [
                {
                  from: [
                    {
                      namespaceSelector: {
                        matchExpressions: [{ key: TENANT_LABEL, operator: 'In', values: tenants }],
                      },
                    },
                  ],
                  ports: [{ protocol: 'TCP', port: gatewayPodPort(g) }],
                },
              ],
            },
          },
        },
      ];
      if (backends.length > 0) {
        docs.push({
          comment: `The gateway ${g.name}'s pod reaches each routed backend, on the routed port only.`,
          object: {
            apiVersion: 'networking.k8s.io/v1',
            kind: 'NetworkPolicy',
            metadata: meta(`allow-${g.name}-to-backends`, ns.name, CLAIM),
            spec: {
              podSelector: podSelector(g),
              policyTypes: ['Egress'],
              egress: backends.map(({ w, port }) => ({
                to: [
                  {
                    namespaceSelector: nsSelector(w.namespace),
                    podSelector: { matchLabels: { ...w.labels } },
                  },
                ],
                ports: [{ protocol: 'TCP', port }],
              })),
            },
          },
        });
      }
      return docs;
    });
}

/** In a tenant namespace: each routed backend admits the gateways that route to it, on the routed port. */
export function allowFromGateways(ctx: Context, ns: Namespace): BundleDocument[] {
  const byBackend = new Map<string, { w: Workload; rules: Obj[] }>();
  for (const g of gatewaysOf(ctx)) {
    for (const r of g.routes) {
      const w = r.backend.namespace === ns.name ? backendOf(ctx, r) : undefined;
      if (!w) continue;
      const entry = byBackend.get(w.name) ?? { w, rules: [] };
      entry.rules.push({
        from: [{ namespaceSelector: nsSelector(g.namespace), podSelector: podSelector(g) }],
        ports: [{ protocol: 'TCP', port: r.port.port }],
      });
      byBackend.set(w.name, entry);
    }
  }
  return [...byBackend.values()].map(({ w, rules }) => ({
    comment: `${w.name} admits the ingress gateways that route to it, on the routed port only.`,
    object: {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta(`allow-ingress-gateways-to-${w.name}`, ns.name, CLAIM),
      spec: {
        podSelector: { matchLabels: { ...w.labels } },
        policyTypes: ['Ingress'],
        ingress: rules,
      },
    },
  }));
}
