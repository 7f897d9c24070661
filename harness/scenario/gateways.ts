/**
 * Ingress gateways a scenario declares (`spec.gateways`): a Gateway API `Gateway` of class `istio`
 * in a shared namespace, with one HTTP listener, and each tenant's routes on it (a hostname and the
 * tenant's backend). The `gateway` generator tries, from each tenant, its own host to its own
 * backend (must be allowed) and its own host to every other tenant's backend (must fail). This
 * module owns the zod fields, their resolution with located problems, and the names Istio gives
 * what it deploys for such a Gateway.
 *
 * Sources (istio/istio at 1.30.3, the release bulkhead pins, harness/cluster/versions.ts):
 * - The Deployment and Service Istio deploys for a Gateway are named `<name>-<gatewayClassName>`
 *   (`pilot/pkg/config/kube/gatewaycommon/gateway_utils.go:36-41` GetDefaultName), and so is its
 *   ServiceAccount (`pilot/pkg/config/kube/gatewaycommon/deploymentcontroller.go:396-429`:
 *   DeploymentName and ServiceAccount both default to it; `manifests/charts/istio-control/
 *   istio-discovery/files/kube-gateway.yaml:85` `serviceAccountName: {{.ServiceAccount}}`).
 * - Its Service is of type LoadBalancer for class `istio` (`gatewaycommon/classinfo.go:111`
 *   DefaultServiceType), unless the Gateway carries the annotation
 *   `networking.istio.io/service-type` (`deploymentcontroller.go:398-401`; test data
 *   `gatewaycommon/testdata/deployment/cluster-ip.yaml` renders `type: ClusterIP`). A LoadBalancer
 *   whose address stays pending (kind, reference/istio-calico-facts.md C) keeps Programmed False with
 *   reason AddressNotAssigned and "address pending for hostname"
 *   (`gatewaycommon/context.go:66-115`, `pilot/pkg/config/kube/gateway/conversion.go:1900-1931`).
 * - The gateway pod's labels: `gateway.networking.k8s.io/gateway-name: <name>`,
 *   `gateway.networking.k8s.io/gateway-class-name: istio`, `sidecar.istio.io/inject: "false"`,
 *   `service.istio.io/canonical-name: <deployment>` (the same test data, the pod template).
 * - The gateway pod listens on the listener port itself: the Service's ports are the listeners'
 *   ports with no targetPort (`deploymentcontroller.go:911-938` extractServicePorts;
 *   `kube-gateway.yaml:347-352`), so Kubernetes sends each to the same port of the pod, and the
 *   pod may bind ports below 1024 (`kube-gateway.yaml:76-79` sysctl
 *   `net.ipv4.ip_unprivileged_port_start: "0"`; Envoy skips a privileged port only for a proxy
 *   whose metadata says UNPRIVILEGED_POD, which the template does not set:
 *   `pilot/pkg/networking/core/gateway.go:134-142`, `pilot/pkg/model/context.go:824-831`). Its
 *   pod labels add `gateway.istio.io/managed: istio.io-gateway-controller` and
 *   `service.istio.io/canonical-revision: latest` (`kube-gateway.yaml:59-71`).
 * - Host routing: a gateway's routes are virtual hosts keyed by the routes' hostnames, matched with
 *   the port ignored (`pilot/pkg/networking/core/gateway.go:430-520,562-574`,
 *   IgnorePortInHostMatching); a Host no route names matches no virtual host and Envoy answers 404.
 * - A cross-namespace backendRef without a ReferenceGrant is dropped from the route with
 *   ResolvedRefs=False, reason RefNotPermitted (`pilot/pkg/config/kube/gateway/conversion.go:
 *   1085-1098` buildDestination), and the route answers 500 for it
 *   (`pilot/pkg/networking/core/route/route.go:616-620` ClusterNotFoundResponseCode); the Gateway
 *   API requires 500 (kubernetes-sigs/gateway-api v1.5.1 `apis/v1/httproute_types.go:262-286`,
 *   conformance `conformance/tests/httproute-invalid-cross-namespace-backend-ref.go`, which Istio's
 *   conformance run does not skip: istio@1.30.3 `tests/integration/pilot/gateway_conformance_test.go:66-80`).
 * - Path precedence across an HTTPRoute's rules: the longest Prefix match wins (gateway-api v1.5.1
 *   `apis/v1/httproute_types.go:181-198`), so the cross route's prefix below takes its requests
 *   and `/` takes the rest.
 */
import { z } from 'zod';

import type { Problem } from '../errors.js';
import type { DocPath } from '../yaml-source.js';
import { problemAt } from './origin.js';
import type { Namespace, Origin, Port, Workload, WorkloadRef } from './types.js';

/** The GatewayClass Istio's gateway controller serves (classinfo.go, features.GatewayAPIDefaultGatewayClass). */
export const ISTIO_GATEWAY_CLASS = 'istio';
/** Makes Istio deploy the gateway's Service as ClusterIP, not LoadBalancer (deploymentcontroller.go:398-401). */
export const SERVICE_TYPE_ANNOTATION = 'networking.istio.io/service-type';
export const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';
export const GATEWAY_CLASS_LABEL = 'gateway.networking.k8s.io/gateway-class-name';
/**
 * ReferenceGrant is served as v1beta1 by both pinned bundles (v1.4.1 has only v1beta1; v1.5.1
 * adds v1 and still serves v1beta1: `config/crd/standard/gateway.networking.k8s.io_referencegrants.yaml`).
 */
export const REFERENCE_GRANT_VERSIONS = ['gateway.networking.k8s.io/v1beta1', 'gateway.networking.k8s.io/v1'];
/** Where a cross-tenant route's rule matches: its prefix is longer than `/`, so it wins (see header). */
export const CROSS_PATH_PREFIX = '/bulkhead-cross';

/** The Deployment, Service and ServiceAccount Istio deploys for the Gateway (GetDefaultName). */
export function gatewayDeploymentName(gateway: string): string {
  return `${gateway}-${ISTIO_GATEWAY_CLASS}`;
}

/**
 * The labels of the gateway's pod (`kube-gateway.yaml:59-71`, see the header): what a network
 * policy's or an AuthorizationPolicy's selector meets.
 */
export function gatewayPodLabels(gateway: string): Readonly<Record<string, string>> {
  return {
    'sidecar.istio.io/inject': 'false',
    'service.istio.io/canonical-name': gatewayDeploymentName(gateway),
    'service.istio.io/canonical-revision': 'latest',
    [GATEWAY_NAME_LABEL]: gateway,
    [GATEWAY_CLASS_LABEL]: ISTIO_GATEWAY_CLASS,
    'gateway.istio.io/managed': 'istio.io-gateway-controller',
  };
}

/**
 * The port the gateway's pod listens on for a listener: the listener's own port (the Service has
 * no targetPort, and the pod may bind below 1024; see the header). After the Service's DNAT this
 * is the port network policy sees.
 */
export function gatewayPodPort(gateway: Pick<Gateway, 'port'>): number {
  return gateway.port;
}

/** The path a cross-tenant attempt asks for, which only the cross route's rule matches. */
export function crossPath(backend: WorkloadRef): string {
  return `${CROSS_PATH_PREFIX}/${backend.namespace}/${backend.name}/`;
}

const dnsLabel = z
  .string()
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS-1123 label: lower-case letters, digits and "-"');

// An HTTPRoute hostname as the Gateway API takes it (gateway-api v1.5.1 `apis/v1/shared_types.go:
// 604-618` Hostname: lower-case RFC 1123 labels, at most 253 characters, no IP address), less the
// wildcard form, and with a dot, so that it cannot be taken for a Service's short name.
const hostname = z
  .string()
  .max(253)
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$/,
    'must be a lower-case DNS name with at least one dot, e.g. acme.example.com (no wildcard)',
  );

export const GatewayRouteSchema = z
  .strictObject({
    hostname: hostname.meta({ description: "The tenant's host on the gateway: acme.example.com." }),
    backend: z
      .string()
      .regex(/^[a-z0-9-]+\/[a-z0-9-]+$/, 'must be "namespace/workload"')
      .meta({ description: "namespace/workload: the tenant's workload the host routes to." }),
    port: z.int().min(1).max(65535).optional().meta({
      description: "The backend's Service port. Default: its only TCP port.",
    }),
  })
  .meta({
    description:
      "A tenant's route: an HTTPRoute in the backend's namespace, for this hostname, to the backend's Service.",
  });

export const GatewaySchema = z
  .strictObject({
    name: dnsLabel.meta({
      description: 'Gateway name; Istio deploys its Deployment, Service and ServiceAccount as <name>-istio.',
    }),
    namespace: dnsLabel.meta({ description: 'A shared namespace of spec.namespaces (no tenant).' }),
    port: z.int().min(1).max(65535).default(80).meta({ description: 'The HTTP listener port.' }),
    routes: z.array(GatewayRouteSchema).min(1).meta({ description: "The tenants' routes on it." }),
  })
  .meta({
    description:
      'An ingress gateway: a Gateway API Gateway of class istio with one HTTP listener, its Service made ClusterIP.',
  });

/** The field schema.ts spreads into `spec`. */
export const gatewayFields = {
  gateways: z.array(GatewaySchema).default([]).meta({
    description: "Ingress gateways and each tenant's routes on them; the gateway generator tests them.",
  }),
} as const;

export type RawGateway = z.output<typeof GatewaySchema>;

export interface GatewayRoute {
  readonly hostname: string;
  readonly backend: WorkloadRef;
  readonly port: Port;
  /** The tenant that owns the backend's namespace, where the route lives. */
  readonly tenant: string;
  readonly origin: Origin;
}

export interface Gateway {
  readonly name: string;
  readonly namespace: string;
  /** The HTTP listener's port: what the gateway's Service and pod serve. */
  readonly port: number;
  readonly routes: readonly GatewayRoute[];
  readonly origin: Origin;
}

export interface GatewayResolveContext {
  readonly namespaces: ReadonlyMap<string, Namespace>;
  readonly workloads: ReadonlyMap<string, Workload>;
  origin(path: DocPath): Origin;
  problem(path: DocPath, message: string): void;
}

/** Resolves `spec.gateways` against the scenario's namespaces and workloads. */
export function resolveGateways(raw: readonly RawGateway[], ctx: GatewayResolveContext): Gateway[] {
  const out: Gateway[] = [];
  const seen = new Set<string>();
  raw.forEach((g, i) => {
    const at: DocPath = ['spec', 'gateways', i];
    const key = `${g.namespace}/${g.name}`;
    let ok = true;
    if (seen.has(key)) {
      ctx.problem([...at, 'name'], `gateway ${key} is declared twice`);
      ok = false;
    }
    seen.add(key);
    const ns = ctx.namespaces.get(g.namespace);
    if (!ns) {
      ctx.problem(
        [...at, 'namespace'],
        `'${g.namespace}' is not a namespace of the scenario (spec.namespaces)`,
      );
      ok = false;
    } else if (ns.tenant !== undefined) {
      ctx.problem(
        [...at, 'namespace'],
        `'${g.namespace}' belongs to tenant '${ns.tenant}'; a gateway shared by tenants lives in a shared namespace`,
      );
      ok = false;
    } else if (ns.dataplane === 'ambient') {
      ctx.problem(
        [...at, 'namespace'],
        `'${g.namespace}' is an ambient namespace; bulkhead has no facts for an ingress gateway there`,
      );
      ok = false;
    }
    const deployment = gatewayDeploymentName(g.name);
    if (ctx.workloads.has(`${g.namespace}/${deployment}`)) {
      ctx.problem(
        [...at, 'name'],
        `Istio names the gateway's Service ${deployment}, which is already a workload of ${g.namespace}`,
      );
      ok = false;
    }
    const hosts = new Map<string, number>();
    const routes: GatewayRoute[] = [];
    g.routes.forEach((r, j) => {
      const here: DocPath = [...at, 'routes', j];
      const prior = hosts.get(r.hostname);
      if (prior !== undefined) {
        ctx.problem([...here, 'hostname'], `hostname ${r.hostname} is already routed by routes[${prior}]`);
        ok = false;
        return;
      }
      hosts.set(r.hostname, j);
      const w = ctx.workloads.get(r.backend);
      if (!w) {
        ctx.problem([...here, 'backend'], `names no workload of the scenario: '${r.backend}'`);
        ok = false;
        return;
      }
      const tenant = ctx.namespaces.get(w.namespace)?.tenant;
      if (tenant === undefined) {
        ctx.problem(
          [...here, 'backend'],
          `'${r.backend}' is not in a tenant namespace; routes belong to tenants`,
        );
        ok = false;
        return;
      }
      const tcp = w.ports.filter((p) => p.protocol === 'TCP');
      const port =
        r.port === undefined ? (tcp.length === 1 ? tcp[0] : undefined) : tcp.find((p) => p.port === r.port);
      if (!port) {
        ctx.problem(
          [...here, r.port === undefined ? 'backend' : 'port'],
          r.port === undefined
            ? `'${r.backend}' serves ${tcp.length === 0 ? 'no TCP port' : `${tcp.length} TCP ports`}; name one with port`
            : `'${r.backend}' serves no TCP port ${r.port}`,
        );
        ok = false;
        return;
      }
      routes.push({
        hostname: r.hostname,
        backend: { namespace: w.namespace, name: w.name },
        port,
        tenant,
        origin: ctx.origin(here),
      });
    });
    if (ok) out.push({ name: g.name, namespace: g.namespace, port: g.port, routes, origin: ctx.origin(at) });
  });
  return out;
}

/**
 * The problem a command that cannot handle ingress gateways reports for a scenario that declares
 * one, at the gateway; undefined when it declares none. `why` completes "…, and <why>".
 */
export function gatewayRefusal(
  scenario: { readonly gateways?: readonly Gateway[] },
  command: string,
  why: string,
): Problem | undefined {
  const first = scenario.gateways?.[0];
  if (!first) return undefined;
  return problemAt(
    first.origin,
    `${command} refuses this scenario: it declares the ingress gateway ${first.namespace}/${first.name}, and ${why}`,
  );
}
