/**
 * `builtin: hard-isolation`: the article's layered policy set, done so that it holds on kind +
 * Calico (with its API server, projectcalico.org/v3) + Istio sidecars. Each object names the
 * article claim it implements in the `bulkhead.dev/implements` annotation; the comment above it
 * says why it is written the way it is (facts in docs/behaviour.md).
 *
 * Layers per cross-tenant boundary: the Calico tier (L3/L4, evaluated first) or, with
 * `clusterPolicy: cnp`, a ClusterNetworkPolicy in the Admin tier (Calico's kube-admin, also before
 * the default tier: reference/ambient-cnp-facts.md B2.1, B3.2), the tenant's Kubernetes
 * default-deny (L3/L4), and the tenant's Istio DENY (L7, verified mTLS identity).
 *
 * Namespaces on the ambient data plane get each layer's ambient form (HBONE and probe allowances,
 * L4-only policies at ztunnel, L7 at waypoints by targetRefs: hard-isolation-ambient.ts); sidecar
 * namespaces get the same objects whatever the rest of the scenario runs.
 */
import type { Namespace, Scenario, Workload } from '../scenario/types.js';
import { principal } from '../scenario/types.js';
import type { BundleDocument } from './documents.js';
import { toYamlText } from './documents.js';
import {
  find,
  HARD_ISOLATION,
  meta,
  nsSelector,
  portsOf,
  workloadsIn,
  type Context,
  type Obj,
} from './hard-isolation-common.js';
import {
  allowHboneFromTenants,
  allowHboneToShared,
  allowIstiodForWaypoints,
  allowKubeletProbes,
  allowViaWaypoints,
  attachmentFor,
  denyCrossTenantAtWaypoints,
  gatewayRefs,
  isAmbient,
  type Attachment,
} from './hard-isolation-ambient.js';
import {
  allowFromGateways,
  allowToGateways,
  gatewayPolicies,
  gatewayPrincipalsFor,
  holdsGateway,
} from './hard-isolation-gateways.js';
import {
  CNP_FIRST_PRIORITY,
  DEFAULT_TIER,
  IDENTITY_HEADER,
  KIND_API_SERVER,
  KUBEADM_DNS,
  TENANT_LABEL,
  type RenderOptions,
} from './options.js';

export { HARD_ISOLATION };

/** The bundle as YAML text, for the scenario's tenants and shared namespaces. */
export function renderHardIsolationText(scenario: Scenario, options: RenderOptions = {}): string {
  const ctx: Context = {
    scenario,
    tenants: scenario.namespaces.filter((n) => n.tenant !== undefined),
    shared: scenario.namespaces.filter((n) => n.tenant === undefined),
    root: scenario.meshRootNamespace,
    istiod: options.istiodNamespace ?? scenario.meshRootNamespace,
    apiServer: options.apiServer ?? KIND_API_SERVER,
    dns: options.dns ?? KUBEADM_DNS,
    tier: options.tier ?? DEFAULT_TIER,
    allowEgress: options.allowEgress ?? [],
    clusterPolicy: options.clusterPolicy ?? 'calico',
  };
  const docs: BundleDocument[] = [
    ...(ctx.clusterPolicy === 'cnp' ? clusterNetworkPolicies(ctx) : calicoTier(ctx)),
    meshStrictMtls(ctx),
    ...ctx.tenants.flatMap((ns) => tenantDocuments(ctx, ns)),
    ...ctx.shared.flatMap((ns) => sharedDocuments(ctx, ns)),
  ];
  return toYamlText(
    `builtin:${HARD_ISOLATION} for scenario '${scenario.name}' (rendered by bulkhead)\n` +
      `tenants: ${ctx.tenants.map((n) => n.name).join(', ') || 'none'}; ` +
      `shared: ${ctx.shared.map((n) => n.name).join(', ') || 'none'}; mesh root: ${ctx.root}; ` +
      `trust domain: ${scenario.trustDomain}\n` +
      `API server (after DNAT): ${ctx.apiServer.cidrs.join(', ')} port ${ctx.apiServer.port}`,
    docs,
  );
}

/**
 * Declares what the identity header filter does, for tools that do not run Envoy (the policy
 * model): before RBAC, the header holds the verified peer principal (`<td>/ns/<ns>/sa/<sa>`) and
 * nothing else; without a peer certificate it is absent.
 */
export const IDENTITY_HEADER_ANNOTATION = 'bulkhead.dev/sets-identity-header';

// ---------------------------------------------------------------- Calico

function calicoTier(ctx: Context): BundleDocument[] {
  if (ctx.tenants.length === 0) return [];
  const tier: BundleDocument = {
    comment:
      'Own tier, evaluated before the default tier that holds the Kubernetes NetworkPolicies (order 1000).\n' +
      'A Pass at the end of a policy here hands the packet on to those policies.',
    object: {
      apiVersion: 'projectcalico.org/v3',
      kind: 'Tier',
      metadata: meta(
        ctx.tier.name,
        undefined,
        'Blocking Cross-Tenant Traffic Explicitly: survives default-deny removal',
      ),
      spec: { order: ctx.tier.order },
    },
  };
  const policies = ctx.tenants.map((ns): BundleDocument => {
    const tenant = ns.tenant ?? ns.name;
    // `!=` alone also matches namespaces without the label; has() keeps shared namespaces out.
    const others = `has(${TENANT_LABEL}) && ${TENANT_LABEL} != '${tenant}'`;
    return {
      comment:
        `Cross-tenant deny for tenant ${tenant}: namespace labels (namespaceSelector), not pod labels.\n` +
        'Deny other tenants, then Pass: without the Pass the end of the tier would drop DNS, istiod and\n' +
        'same-namespace traffic too.',
      object: {
        apiVersion: 'projectcalico.org/v3',
        kind: 'GlobalNetworkPolicy',
        // <tier>.<name>: Calico 3.29–3.31 reject other names outside the default tier; later releases
        // accept both (projectcalico/calico#11232).
        metadata: meta(
          `${ctx.tier.name}.${tenant}`,
          undefined,
          'Blocking Cross-Tenant Traffic Explicitly: explicit deny between tenant namespaces',
        ),
        spec: {
          tier: ctx.tier.name,
          order: 100,
          namespaceSelector: `${TENANT_LABEL} == '${tenant}'`,
          types: ['Ingress', 'Egress'],
          ingress: [{ action: 'Deny', source: { namespaceSelector: others } }, { action: 'Pass' }],
          egress: [{ action: 'Deny', destination: { namespaceSelector: others } }, { action: 'Pass' }],
        },
      },
    };
  });
  return [tier, ...policies];
}

/**
 * The same cross-tenant deny as ClusterNetworkPolicies of the Admin tier, one per tenant with a
 * priority of its own (the API leaves ties to the implementation, B2.4). Nothing after the Deny:
 * kube-admin ends with Pass, so the rest goes on to the default tier like the Calico form's Pass.
 */
function clusterNetworkPolicies(ctx: Context): BundleDocument[] {
  return ctx.tenants.map((ns, i): BundleDocument => {
    const tenant = ns.tenant ?? ns.name;
    // Exists + NotIn: the tenants' namespaces but this one's; shared namespaces have no tenant label.
    const others = {
      matchExpressions: [
        { key: TENANT_LABEL, operator: 'Exists' },
        { key: TENANT_LABEL, operator: 'NotIn', values: [tenant] },
      ],
    };
    return {
      comment:
        `Cross-tenant deny for tenant ${tenant} in the Admin tier (Calico kube-admin, order 1000), which\n` +
        'runs before the NetworkPolicies and ends with Pass: what it does not deny goes on to them.',
      object: {
        apiVersion: 'policy.networking.k8s.io/v1alpha2',
        kind: 'ClusterNetworkPolicy',
        metadata: meta(
          `${ctx.tier.name}-${tenant}`,
          undefined,
          'Blocking Cross-Tenant Traffic Explicitly: explicit deny between tenant namespaces',
        ),
        spec: {
          tier: 'Admin',
          priority: CNP_FIRST_PRIORITY + i,
          subject: { namespaces: { matchLabels: { [TENANT_LABEL]: tenant } } },
          ingress: [{ name: 'deny-other-tenants', action: 'Deny', from: [{ namespaces: others }] }],
          egress: [{ name: 'deny-other-tenants', action: 'Deny', to: [{ namespaces: others }] }],
        },
      },
    };
  });
}

// ---------------------------------------------------------------- Istio, mesh-wide

function meshStrictMtls(ctx: Context): BundleDocument {
  return {
    comment: `Mesh-wide only because ${ctx.root} is the mesh root namespace; no selector (a selector is ignored there).`,
    object: {
      apiVersion: 'security.istio.io/v1',
      kind: 'PeerAuthentication',
      metadata: meta('default', ctx.root, 'Enforcing Strict mTLS Cluster-Wide'),
      spec: { mtls: { mode: 'STRICT' } },
    },
  };
}

// ---------------------------------------------------------------- Kubernetes NetworkPolicies

function defaultDeny(ns: string): BundleDocument {
  return {
    comment: `Default deny, both directions, for every pod of ${ns}.`,
    object: {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta('default-deny-all', ns, 'Implementing Default-Deny Policies'),
      spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] },
    },
  };
}

/**
 * After the kube-dns Service's DNAT a query is addressed to a DNS pod and its own port, so the rule
 * names those (the cluster's, when the run read them; kubeadm's CoreDNS by default).
 */
function allowDns(ctx: Context, ns: string, ambient = false): BundleDocument {
  return {
    comment: ambient
      ? "Cluster DNS: ztunnel's DNS proxy answers what it knows and forwards the rest from inside the pod."
      : 'Cluster DNS: the app resolves peers, the sidecar resolves istiod.',
    object: {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta('allow-dns', ns, 'Allowing Essential Cluster Services: DNS'),
      spec: {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [
          {
            to: [
              {
                namespaceSelector: nsSelector('kube-system'),
                podSelector: { matchLabels: { ...ctx.dns.podLabels } },
              },
            ],
            ports: ctx.dns.ports.map((p) => ({ protocol: p.protocol, port: p.port })),
          },
        ],
      },
    },
  };
}

function allowIstiod(ctx: Context, ns: string): BundleDocument {
  return {
    comment:
      'Sidecars fetch config and certificates from istiod on 15012; without it they never become ready\n' +
      '(and with native sidecars the app container never starts).',
    object: {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta(
        'allow-istiod',
        ns,
        'How Istio Assigns Workload Identity: sidecars obtain certificates from istiod',
      ),
      spec: {
        podSelector: {},
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

function allowApiServer(ctx: Context, ns: string): BundleDocument {
  return {
    comment:
      'The Kubernetes API as policy sees it after DNAT: node address(es) and 6443, not 10.96.0.1:443.\n' +
      'Tokens still get 403 without RBAC; the attempts check exactly that.',
    object: {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta('allow-api-server', ns, 'Allowing Essential Cluster Services: Kubernetes API'),
      spec: {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [
          {
            to: ctx.apiServer.cidrs.map((cidr) => ({ ipBlock: { cidr } })),
            ports: [{ protocol: 'TCP', port: ctx.apiServer.port }],
          },
        ],
      },
    },
  };
}

/**
 * The destinations outside the cluster the scenario allows (`allowEgress`), by ipBlock. Nothing
 * else outside the pod network is allowed: the default deny keeps the nodes (kubelet, SSH,
 * NodePorts), the metadata service and the internet out of reach, since Calico applies a pod's
 * egress policy to its own host too (harness/model/external.ts).
 */
function allowNamedEgress(ctx: Context, ns: string): BundleDocument | undefined {
  if (ctx.allowEgress.length === 0) return undefined;
  return {
    comment: 'Egress outside the cluster, to the destinations the scenario names (allowEgress) only.',
    object: {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta('allow-named-egress', ns, 'Egress to named destinations outside the cluster'),
      spec: {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: ctx.allowEgress.map((a) => ({
          to: [
            {
              ipBlock: {
                cidr: a.cidr.includes('/') ? a.cidr : `${a.cidr}/${a.cidr.includes(':') ? 128 : 32}`,
              },
            },
          ],
          ...(a.ports ? { ports: a.ports.map((port) => ({ protocol: 'TCP', port })) } : {}),
        })),
      },
    },
  };
}

function allowSameNamespace(ns: string): BundleDocument {
  return {
    comment: 'Pods of the same namespace talk to each other; other namespaces stay denied.',
    object: {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta('allow-same-namespace', ns, 'Permitting Intra-Tenant Communication'),
      spec: {
        podSelector: {},
        policyTypes: ['Ingress', 'Egress'],
        ingress: [{ from: [{ podSelector: {} }] }],
        egress: [{ to: [{ podSelector: {} }] }],
      },
    },
  };
}

function allowToShared(ctx: Context, ns: string): BundleDocument | undefined {
  const targets = ctx.shared.flatMap((s) => workloadsIn(ctx, s.name).filter((w) => w.ports.length > 0));
  if (targets.length === 0) return undefined;
  return {
    comment: 'Egress to the shared services, each on its own ports only.',
    object: {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta(
        'allow-shared-services',
        ns,
        'Shared Services Without Shared Risk: tenants reach the shared services',
      ),
      spec: {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: targets.map((w) => ({
          to: [{ namespaceSelector: nsSelector(w.namespace), podSelector: { matchLabels: { ...w.labels } } }],
          ports: portsOf(w),
        })),
      },
    },
  };
}

function allowFromTenants(ctx: Context, ns: string): BundleDocument | undefined {
  const targets = workloadsIn(ctx, ns).filter((w) => w.ports.length > 0);
  if (targets.length === 0 || ctx.tenants.length === 0) return undefined;
  return {
    comment: `Ingress from tenant namespaces (label ${TENANT_LABEL}) to the shared services, on their ports only.`,
    object: {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta(
        'allow-from-tenants',
        ns,
        'Missing NetworkPolicies on shared services: the shared namespace admits tenants on service ports only',
      ),
      spec: {
        podSelector: {},
        policyTypes: ['Ingress'],
        ingress: targets.map((w) => ({
          from: [{ namespaceSelector: { matchExpressions: [{ key: TENANT_LABEL, operator: 'Exists' }] } }],
          ports: portsOf(w),
        })),
      },
    },
  };
}

function networkPolicies(ctx: Context, ns: Namespace): BundleDocument[] {
  const ambient = isAmbient(ns);
  const docs: (BundleDocument | undefined)[] = [
    defaultDeny(ns.name),
    allowDns(ctx, ns.name, ambient),
    // A declared ingress gateway's pod runs an istio-proxy too (hard-isolation-gateways.ts).
    ns.injection || holdsGateway(ctx, ns.name)
      ? allowIstiod(ctx, ns.name)
      : ambient
        ? allowIstiodForWaypoints(ctx, ns)
        : undefined,
    ambient ? allowKubeletProbes(ctx, ns) : undefined,
  ];
  if (ns.tenant !== undefined) {
    docs.push(
      allowApiServer(ctx, ns.name),
      allowSameNamespace(ns.name),
      allowToShared(ctx, ns.name),
      allowHboneToShared(ctx, ns),
      allowNamedEgress(ctx, ns.name),
      allowToGateways(ctx, ns),
      ...allowFromGateways(ctx, ns),
    );
  } else {
    docs.push(
      allowSameNamespace(ns.name),
      allowFromTenants(ctx, ns.name),
      allowHboneFromTenants(ctx, ns),
      ...gatewayPolicies(ctx, ns),
    );
  }
  return docs.filter((d): d is BundleDocument => d !== undefined);
}

// ---------------------------------------------------------------- tenants

function tenantDocuments(ctx: Context, ns: Namespace): BundleDocument[] {
  const docs: (BundleDocument | undefined)[] = [
    ...networkPolicies(ctx, ns),
    namespaceStrictMtls(ns.name),
    denyCrossTenant(ctx, ns),
    denyCrossTenantAtWaypoints(ctx, ns),
    apiGatewayPolicy(ctx, ns.name),
    auditPayments(ctx, ns.name),
    ...allowViaWaypoints(ctx, ns),
  ];
  return docs.filter((d): d is BundleDocument => d !== undefined);
}

function namespaceStrictMtls(ns: string): BundleDocument {
  return {
    comment: 'Namespace-level STRICT as well: holds if the mesh-wide policy is changed or removed.',
    object: {
      apiVersion: 'security.istio.io/v1',
      kind: 'PeerAuthentication',
      metadata: meta('default', ns, 'Enforcing Strict mTLS Cluster-Wide: tenant-specific enforcement'),
      spec: { mtls: { mode: 'STRICT' } },
    },
  };
}

function denyCrossTenant(ctx: Context, namespace: Namespace): BundleDocument {
  const ns = namespace.name;
  return {
    comment:
      'DENY with a negative match (Istio best practice): anything not from this namespace or a shared one,\n' +
      'including peers without an mTLS identity.' +
      (isAmbient(namespace)
        ? '\nIn ambient mode ztunnel enforces it (no selector: scope NAMESPACE), on L4 fields only.'
        : ''),
    object: {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: meta(
        'deny-cross-tenant',
        ns,
        'Why SPIFFE Identity Matters for Multi-Tenancy: deny cross-tenant',
      ),
      spec: {
        action: 'DENY',
        rules: [{ from: [{ source: { notNamespaces: [ns, ...ctx.shared.map((s) => s.name)] } }] }],
      },
    },
  };
}

function apiGatewayPolicy(ctx: Context, ns: string): BundleDocument | undefined {
  const gateway = find(ctx, ns, 'api-gateway');
  if (!gateway) return undefined;
  const td = ctx.scenario.trustDomain;
  const frontend = find(ctx, ns, 'frontend-service');
  const admin = find(ctx, ns, 'admin-service');
  const rules: Obj[] = [];
  if (frontend) {
    rules.push({
      from: [{ source: { principals: [principal(frontend, td)] } }],
      to: [{ operation: { methods: ['GET', 'POST'], paths: ['/api/v1/orders/*', '/api/v1/products/*'] } }],
    });
  }
  if (admin) {
    rules.push({
      from: [{ source: { principals: [principal(admin, td)] } }],
      to: [{ operation: { methods: ['GET', 'POST', 'DELETE'], paths: ['/api/v1/*', '/admin/*'] } }],
    });
  }
  // A declared ingress gateway routing to it is a caller too, by its own identity
  // (hard-isolation-gateways.ts); what it may route is the ReferenceGrants' business.
  const gateways = gatewayPrincipalsFor(ctx, gateway);
  if (gateways.length > 0 && rules.length > 0) rules.push({ from: [{ source: { principals: gateways } }] });
  // An ALLOW policy without rules would deny everything: leave it out when no caller exists.
  if (rules.length === 0) return undefined;
  const attach = attachmentFor(ctx, gateway);
  // ztunnel drops an ALLOW rule with HTTP fields (fact A4.3): without a waypoint, callers only.
  const l4 = attach.at === 'ztunnel';
  return {
    comment:
      'Least privilege on the api-gateway: named callers (principals without spiffe://), methods, paths.\n' +
      "Every other caller, the tenant's own probes included, gets 403." +
      (attach.at === 'waypoint'
        ? `\nAmbient: attached to its Service, so waypoint '${attach.waypoint.name}' enforces it with the caller's identity.`
        : l4
          ? '\nAmbient without a waypoint: ztunnel enforces it and sees no HTTP, so only the callers are\n' +
            'checked here (methods and paths need a waypoint); other callers are reset, not 403.'
          : ''),
    object: {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: meta('api-gateway-policy', ns, 'Writing Tenant-Scoped AuthorizationPolicies'),
      spec: {
        ...attach.spec,
        action: 'ALLOW',
        rules: l4 ? rules.map((r) => ({ from: r.from })) : rules,
      },
    },
  };
}

function auditPayments(ctx: Context, ns: string): BundleDocument | undefined {
  const payment = find(ctx, ns, 'payment-service');
  if (!payment) return undefined;
  const attach = attachmentFor(ctx, payment);
  // ztunnel does not support AUDIT (fact A4.1): in ambient it needs the waypoint.
  if (attach.at === 'ztunnel') return undefined;
  return {
    comment:
      'AUDIT marks matching requests for audit and never allows or denies; an audit plugin records them\n' +
      '(access logs are configured separately).' +
      (attach.at === 'waypoint'
        ? `\nAmbient: waypoint '${attach.waypoint.name}' audits (ztunnel has no AUDIT).`
        : ''),
    object: {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: meta(
        'audit-transactions',
        ns,
        'Combining Namespace, Service Account, and Path-Based Rules: audit',
      ),
      spec: {
        ...attach.spec,
        action: 'AUDIT',
        rules: [{ to: [{ operation: { paths: ['/transactions/*'] } }] }],
      },
    },
  };
}

// ---------------------------------------------------------------- shared services

function sharedDocuments(ctx: Context, ns: Namespace): BundleDocument[] {
  const docs: (BundleDocument | undefined)[] = [
    ...networkPolicies(ctx, ns),
    ns.injection ? identityHeaderFilter(ns.name) : undefined,
    ns.injection ? denyImpersonation(ctx, ns) : undefined,
    // Ambient: no EnvoyFilter on waypoints (fact A4.8); the header check runs at the waypoints.
    !ns.injection && isAmbient(ns) && (ns.waypoints ?? []).length > 0
      ? denyImpersonation(ctx, ns)
      : undefined,
    ...workloadsIn(ctx, ns.name)
      // Ingestion rules are per tenant; with no tenant there is nothing to admit (and a DENY needs rules).
      .filter((w) => w.name === 'log-collector' && ctx.tenants.length > 0)
      .flatMap((w) => ingestionPolicies(ctx, ns, w)),
    ...(isAmbient(ns) ? allowViaWaypoints(ctx, ns) : []),
  ];
  return docs.filter((d): d is BundleDocument => d !== undefined);
}

/**
 * Runs first in the inbound HTTP chain (before metadata exchange, authn and RBAC), so every
 * AuthorizationPolicy on the workload reads the verified value. Removes what the client sent,
 * and only then sets the header from the peer certificate: on plaintext there is no certificate
 * and the header stays absent (a Lua error would let the request through with the client's value).
 */
const IDENTITY_LUA = `-- Sets ${IDENTITY_HEADER} from the verified peer certificate, never from the client.
function envoy_on_request(handle)
  local headers = handle:headers()
  headers:remove("${IDENTITY_HEADER}")
  local ssl = handle:streamInfo():downstreamSslConnection()
  if ssl == nil or not ssl:peerCertificatePresented() then
    return
  end
  local uris = ssl:uriSanPeerCertificate()
  if uris == nil or uris[1] == nil then
    return
  end
  local identity = uris[1]
  -- Istio principals are written without the scheme: <trust-domain>/ns/<ns>/sa/<sa>.
  if string.sub(identity, 1, 9) == "spiffe://" then
    identity = string.sub(identity, 10)
  end
  headers:replace("${IDENTITY_HEADER}", identity)
end
`;

function identityHeaderFilter(ns: string): BundleDocument {
  return {
    comment:
      `${IDENTITY_HEADER} from the verified peer certificate, replacing any client value, nil-safe on\n` +
      'plaintext, inserted first in the inbound HTTP chain so RBAC sees the verified value.',
    object: {
      apiVersion: 'networking.istio.io/v1alpha3',
      kind: 'EnvoyFilter',
      metadata: meta('tenant-identity-header', ns, 'Propagating Tenant Identity', {
        [IDENTITY_HEADER_ANNOTATION]: IDENTITY_HEADER,
      }),
      spec: {
        configPatches: [
          {
            applyTo: 'HTTP_FILTER',
            match: {
              context: 'SIDECAR_INBOUND',
              listener: {
                filterChain: { filter: { name: 'envoy.filters.network.http_connection_manager' } },
              },
            },
            patch: {
              operation: 'INSERT_FIRST',
              value: {
                name: 'bulkhead.tenant-identity',
                typed_config: {
                  '@type': 'type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua',
                  default_source_code: { inline_string: IDENTITY_LUA },
                },
              },
            },
          },
        ],
      },
    },
  };
}

function httpPorts(ctx: Context, ns: string): string[] {
  const ports = new Set(
    workloadsIn(ctx, ns).flatMap((w) =>
      w.ports.filter((p) => p.protocol === 'TCP').map((p) => String(p.port)),
    ),
  );
  return [...ports];
}

function denyImpersonation(ctx: Context, namespace: Namespace): BundleDocument {
  const ns = namespace.name;
  const td = ctx.scenario.trustDomain;
  const atWaypoints = !namespace.injection;
  const others = [ns];
  const ports = httpPorts(ctx, ns);
  // Header conditions are HTTP-only; in a DENY rule on a TCP port Istio drops them and denies
  // more. Naming the ports keeps the rule on the services' own ports.
  const to = ports.length > 0 ? [{ operation: { ports } }] : undefined;
  return {
    comment: atWaypoints
      ? 'A tenant claiming a shared-service identity in the identity header is refused, at the\n' +
        "namespace's waypoints: headers are HTTP, which ztunnel never sees. Ambient has no header filter,\n" +
        'so the header is never trusted; the ingestion policies authorize by mTLS namespace instead.'
      : 'A tenant claiming a shared-service identity in the identity header is refused here, even if the\n' +
        "header filter were missing. The article's version of this rule could never match (notNamespaces\n" +
        'and a principal in that same namespace).',
    object: {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: meta('deny-shared-service-impersonation', ns, 'Preventing Tenant Impersonation'),
      spec: {
        ...(atWaypoints ? { targetRefs: gatewayRefs(namespace) } : {}),
        action: 'DENY',
        rules: [
          {
            from: [{ source: { notNamespaces: others } }],
            ...(to ? { to } : {}),
            when: [{ key: `request.headers[${IDENTITY_HEADER}]`, values: [`${td}/ns/${ns}/sa/*`] }],
          },
        ],
      },
    },
  };
}

/**
 * The log collector's per-tenant ingestion: behind a sidecar (the header filter sets the verified
 * identity), at its waypoint in ambient (the mTLS namespace alone: no header is verified there,
 * fact A4.8), or at ztunnel without a waypoint (which tenants may connect; paths need a waypoint).
 */
function ingestionPolicies(ctx: Context, ns: Namespace, w: Workload): BundleDocument[] {
  if (ns.injection)
    return [logIngestion(ctx, w, { at: 'selector', spec: selectorOf(w) }), denyForeignIngest(ctx, w)];
  const attach = attachmentFor(ctx, w);
  if (attach.at === 'selector') return [];
  if (attach.at === 'ztunnel') return [logIngestion(ctx, w, attach)];
  return [logIngestion(ctx, w, attach), denyForeignIngestAtWaypoint(ctx, w, attach)];
}

function selectorOf(w: Workload): Obj {
  return { selector: { matchLabels: { ...w.labels } } };
}

function logIngestion(ctx: Context, w: Workload, attach: Attachment): BundleDocument {
  const td = ctx.scenario.trustDomain;
  const rules = ctx.tenants.map((t) => ({
    from: [{ source: { namespaces: [t.name] } }],
    ...(attach.at === 'ztunnel'
      ? {}
      : { to: [{ operation: { methods: ['POST'], paths: [`/ingest/${t.name}/*`] } }] }),
    ...(attach.at === 'selector'
      ? { when: [{ key: `request.headers[${IDENTITY_HEADER}]`, values: [`${td}/ns/${t.name}/sa/*`] }] }
      : {}),
  }));
  const comments = {
    selector:
      'Each tenant writes its own path only: its mTLS namespace, and the tenant identity the header\n' +
      'filter took from its certificate (not a tenant id the client sends, which proves nothing).',
    waypoint:
      "Each tenant writes its own path only, checked at the waypoint against the caller's mTLS namespace\n" +
      '(ambient has no header filter: EnvoyFilter is not supported on waypoints, so no header is trusted).',
    ztunnel:
      'Ambient without a waypoint: ztunnel sees no HTTP, so this admits the tenant namespaces only;\n' +
      'per-tenant paths need a waypoint.',
  };
  return {
    comment: comments[attach.at],
    object: {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: meta(
        'logging-ingestion-policy',
        w.namespace,
        'Combining Namespace, Service Account, and Path-Based Rules',
      ),
      spec: { ...attach.spec, action: 'ALLOW', rules },
    },
  };
}

function denyForeignIngest(ctx: Context, w: Workload): BundleDocument {
  const td = ctx.scenario.trustDomain;
  const ports = w.ports.filter((p) => p.protocol === 'TCP').map((p) => String(p.port));
  const rules = ctx.tenants.map((t) => ({
    to: [{ operation: { paths: [`/ingest/${t.name}/*`], ...(ports.length > 0 ? { ports } : {}) } }],
    when: [{ key: `request.headers[${IDENTITY_HEADER}]`, notValues: [`${td}/ns/${t.name}/sa/*`] }],
  }));
  return {
    comment:
      `A tenant's log path accepts only callers whose verified identity (${IDENTITY_HEADER}, set by the\n` +
      'header filter before RBAC) is in that tenant: forged headers do not help, a missing filter fails closed.',
    object: {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: meta('deny-foreign-ingest', w.namespace, 'Request Principals as Tenant Context'),
      spec: { selector: { matchLabels: { ...w.labels } }, action: 'DENY', rules },
    },
  };
}

/** The same per-tenant paths at the waypoint, by the caller's mTLS namespace (fact A4.8). */
function denyForeignIngestAtWaypoint(ctx: Context, w: Workload, attach: Attachment): BundleDocument {
  const ports = w.ports.filter((p) => p.protocol === 'TCP').map((p) => String(p.port));
  const rules = ctx.tenants.map((t) => ({
    from: [{ source: { notNamespaces: [t.name] } }],
    to: [{ operation: { paths: [`/ingest/${t.name}/*`], ...(ports.length > 0 ? { ports } : {}) } }],
  }));
  return {
    comment:
      "A tenant's log path refuses callers of any other namespace, by the mTLS identity the waypoint\n" +
      'verified: forged headers do not help.',
    object: {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: meta('deny-foreign-ingest', w.namespace, 'Request Principals as Tenant Context'),
      spec: { ...attach.spec, action: 'DENY', rules },
    },
  };
}
