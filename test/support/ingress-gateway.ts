/**
 * Istio's gateway controller and an ingress gateway's Envoy on the fake cluster, as far as a run
 * reads and dials them (sources in harness/scenario/gateways.ts and harness/agent/classify.ts,
 * istio@1.30.3 and kubernetes-sigs/gateway-api v1.5.1):
 * - {@link IngressGatewayController}: a Gateway of class `istio` gets a ServiceAccount, a
 *   Deployment and a Service named `<name>-istio`, their pods labelled
 *   `gateway.networking.k8s.io/gateway-name`, `…/gateway-class-name`, `sidecar.istio.io/inject:
 *   "false"`, `service.istio.io/canonical-name` and the Gateway's own labels (kube-gateway.yaml:59-70,
 *   deploymentcontroller.go extractInfrastructureLabels). The Service is ClusterIP only when the
 *   Gateway's `networking.istio.io/service-type` says so, else LoadBalancer, whose address never
 *   comes on this fake (as on kind): Programmed is True for the current generation only with
 *   ClusterIP, else False, reason AddressNotAssigned. Each HTTPRoute on such a Gateway gets a
 *   parent status from controller `istio.io/gateway-controller` (pilot/pkg/features/pilot.go:289):
 *   Accepted True, or False NotAllowedByListeners when the listener's `allowedRoutes` (default
 *   `Same`) does not take its namespace; ResolvedRefs True, or False RefNotPermitted for a
 *   cross-namespace backendRef no ReferenceGrant in the backend's namespace permits, or False
 *   BackendNotFound for a Service that is not there.
 * - {@link GatewayDataPlane}: the gateway's listener, a loopback HTTP server: a Host no attached
 *   route names gets Envoy's own 404, a backendRef not permitted its 500, both with an empty body
 *   and `server: istio-envoy`; any other request is forwarded to the backend's loopback server
 *   (the test says which), its answer passed on with `server: istio-envoy` and
 *   `x-envoy-upstream-service-time`, as Envoy's router does.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { gatewayPodLabels } from '../../harness/scenario/gateways.js';
import type { FakeApiServer } from './fake-apiserver/server.js';

interface Obj {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    generation?: number;
  };
  spec?: unknown;
  status?: unknown;
}

const GROUP = 'gateway.networking.k8s.io';
const V1 = `${GROUP}/v1`;
export const ISTIO_CONTROLLER = 'istio.io/gateway-controller';

interface Listener {
  name?: string;
  port?: number;
  allowedRoutes?: { namespaces?: { from?: string } };
}
interface ParentRef {
  group?: string;
  kind?: string;
  name?: string;
  namespace?: string;
  sectionName?: string;
}
interface BackendRef {
  group?: string;
  kind?: string;
  name?: string;
  namespace?: string;
  port?: number;
}
interface Rule {
  matches?: { path?: { type?: string; value?: string } }[];
  backendRefs?: BackendRef[];
}
interface RouteSpec {
  parentRefs?: ParentRef[];
  hostnames?: string[];
  rules?: Rule[];
}

export interface IngressGatewayOptions {
  /** Never program any Gateway, as a controller that is down. @default false */
  readonly neverProgram?: boolean;
}

/** The class Istio's gateway controller serves. */
function isIstioGateway(g: Obj | undefined): g is Obj {
  return (g?.spec as { gatewayClassName?: string } | undefined)?.gatewayClassName === 'istio';
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Whether a ReferenceGrant in the backend's namespace lets an HTTPRoute of `from` refer to this Service. */
export function permitted(server: FakeApiServer, fromNamespace: string, backend: BackendRef): boolean {
  const namespace = backend.namespace ?? fromNamespace;
  if (namespace === fromNamespace) return true;
  // One store per kind, whichever version wrote it (list matches on group and kind).
  const grants = server.list(`${GROUP}/v1beta1`, 'ReferenceGrant', namespace);
  return grants.some((g) => {
    const spec = g.spec as {
      from?: { group?: string; kind?: string; namespace?: string }[];
      to?: { group?: string; kind?: string; name?: string }[];
    };
    const from = (spec.from ?? []).some(
      (f) => f.group === GROUP && f.kind === 'HTTPRoute' && f.namespace === fromNamespace,
    );
    const to = (spec.to ?? []).some(
      (t) =>
        (t.group ?? '') === '' && t.kind === 'Service' && (t.name === undefined || t.name === backend.name),
    );
    return from && to;
  });
}

/** Istio's gateway controller on the fake (see the header); `stop()` ends it. */
export class IngressGatewayController {
  private readonly timer: NodeJS.Timeout;
  private readonly server: FakeApiServer;
  private readonly options: IngressGatewayOptions;
  constructor(server: FakeApiServer, options: IngressGatewayOptions = {}) {
    this.server = server;
    this.options = options;
    this.timer = setInterval(() => {
      this.tick();
    }, 20);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    const gateways = this.server.list(V1, 'Gateway').filter(isIstioGateway);
    for (const g of gateways) this.deploy(g);
    for (const route of this.server.list(V1, 'HTTPRoute')) this.routeStatus(route, gateways);
  }

  private deploy(g: Obj): void {
    const { name: gateway } = g.metadata;
    const namespace = g.metadata.namespace ?? '';
    const name = `${gateway}-istio`;
    const clusterIp = g.metadata.annotations?.['networking.istio.io/service-type'] === 'ClusterIP';
    const listeners = (g.spec as { listeners?: Listener[] }).listeners ?? [];
    if (!this.server.get('v1', 'ServiceAccount', namespace, name))
      this.server.put({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } });
    const labels = { ...g.metadata.labels, ...gatewayPodLabels(gateway) };
    if (!this.server.get('apps/v1', 'Deployment', namespace, name))
      this.server.put({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name, namespace, labels },
        spec: {
          replicas: 1,
          selector: { matchLabels: { 'gateway.networking.k8s.io/gateway-name': gateway } },
          template: {
            metadata: { labels },
            spec: {
              serviceAccountName: name,
              containers: [{ name: 'istio-proxy', image: 'docker.io/istio/proxyv2:1.30.3' }],
            },
          },
        },
      });
    if (!this.server.get('v1', 'Service', namespace, name))
      this.server.put({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name, namespace, labels },
        spec: {
          type: clusterIp ? 'ClusterIP' : 'LoadBalancer',
          selector: { 'gateway.networking.k8s.io/gateway-name': gateway },
          ports: listeners.map((l) => ({
            name: `http-${l.port ?? 80}`,
            port: l.port ?? 80,
            protocol: 'TCP',
          })),
        },
      });
    const generation = g.metadata.generation ?? 1;
    const programmed =
      clusterIp && !this.options.neverProgram
        ? { type: 'Programmed', status: 'True', reason: 'Programmed', observedGeneration: generation }
        : {
            type: 'Programmed',
            status: 'False',
            reason: 'AddressNotAssigned',
            message: `Assigned to service(s) ${name}.${namespace}.svc.cluster.local:80, but failed to assign to all requested addresses: address pending for hostname "${name}.${namespace}.svc.cluster.local"`,
            observedGeneration: generation,
          };
    const status = {
      ...(programmed.status === 'True'
        ? { addresses: [{ type: 'Hostname', value: `${name}.${namespace}.svc.cluster.local` }] }
        : {}),
      conditions: [
        { type: 'Accepted', status: 'True', reason: 'Accepted', observedGeneration: generation },
        programmed,
      ],
    };
    if (!sameJson(g.status, status)) this.server.put({ ...g, status });
  }

  private routeStatus(route: Obj, gateways: readonly Obj[]): void {
    const namespace = route.metadata.namespace ?? '';
    const spec = (route.spec ?? {}) as RouteSpec;
    const generation = route.metadata.generation ?? 1;
    const parents = (spec.parentRefs ?? []).flatMap((ref) => {
      const g = gateways.find(
        (x) => x.metadata.name === ref.name && x.metadata.namespace === (ref.namespace ?? namespace),
      );
      if (!g) return [];
      const listeners = ((g.spec as { listeners?: Listener[] }).listeners ?? []).filter(
        (l) => ref.sectionName === undefined || l.name === ref.sectionName,
      );
      const allowed = listeners.some((l) => {
        const from = l.allowedRoutes?.namespaces?.from ?? 'Same';
        return from === 'All' || (from === 'Same' && g.metadata.namespace === namespace);
      });
      const backends = (spec.rules ?? []).flatMap((r) => r.backendRefs ?? []);
      const missing = backends.find(
        (b) => !this.server.get('v1', 'Service', b.namespace ?? namespace, b.name ?? ''),
      );
      const refused = backends.find((b) => !permitted(this.server, namespace, b));
      const resolved = refused
        ? {
            type: 'ResolvedRefs',
            status: 'False',
            reason: 'RefNotPermitted',
            message: `backendRef ${refused.name ?? ''}/${refused.namespace ?? ''} not accessible to a HTTPRoute in namespace "${namespace}" (missing a ReferenceGrant?)`,
          }
        : missing
          ? {
              type: 'ResolvedRefs',
              status: 'False',
              reason: 'BackendNotFound',
              message: `backend(${missing.name ?? ''}.${missing.namespace ?? namespace}.svc.cluster.local) not found`,
            }
          : {
              type: 'ResolvedRefs',
              status: 'True',
              reason: 'ResolvedRefs',
              message: 'All references resolved',
            };
      return [
        {
          parentRef: {
            group: ref.group ?? GROUP,
            kind: ref.kind ?? 'Gateway',
            name: ref.name,
            namespace: ref.namespace ?? namespace,
            ...(ref.sectionName ? { sectionName: ref.sectionName } : {}),
          },
          controllerName: ISTIO_CONTROLLER,
          conditions: [
            allowed
              ? {
                  type: 'Accepted',
                  status: 'True',
                  reason: 'Accepted',
                  message: 'Route was valid',
                  observedGeneration: generation,
                }
              : {
                  type: 'Accepted',
                  status: 'False',
                  reason: 'NotAllowedByListeners',
                  message: 'hostnames matched parent hostname "", but namespace is not allowed by the parent',
                  observedGeneration: generation,
                },
            { ...resolved, observedGeneration: generation },
          ],
        },
      ];
    });
    if (parents.length === 0) return;
    const status = { parents };
    if (!sameJson(route.status, status)) this.server.put({ ...route, status });
  }
}

/** Where the gateway forwards a backend's request: the loopback port of its server, if the test has one. */
export type Forward = (backend: { namespace: string; name: string; port: number }) => number | undefined;

/** An ingress gateway's Envoy on loopback (see the header). */
export class GatewayDataPlane {
  readonly hits: { host: string; path: string; status: number }[] = [];
  private readonly http: Server;
  readonly port: number;
  private constructor(http: Server, port: number) {
    this.http = http;
    this.port = port;
  }

  static async start(
    server: FakeApiServer,
    gateway: { namespace: string; name: string },
    forward: Forward,
  ): Promise<GatewayDataPlane> {
    const holder: { plane?: GatewayDataPlane } = {};
    const http = createServer((req, res) => {
      req.resume();
      const answer = (status: number) => {
        holder.plane?.hits.push({ host: req.headers.host ?? '', path: req.url ?? '', status });
      };
      const local = (status: number) => {
        answer(status);
        res.writeHead(status, { server: 'istio-envoy', 'content-length': '0' }).end();
      };
      const chosen = choose(server, gateway, req);
      if (!chosen) {
        local(404);
        return;
      }
      if (!permitted(server, chosen.routeNamespace, chosen.backend)) {
        local(500);
        return;
      }
      const port = forward({
        namespace: chosen.backend.namespace ?? chosen.routeNamespace,
        name: chosen.backend.name ?? '',
        port: chosen.backend.port ?? 80,
      });
      if (port === undefined) {
        answer(503);
        res
          .writeHead(503, { server: 'istio-envoy', 'content-type': 'text/plain' })
          .end('upstream connect error or disconnect/reset before headers. reset reason: connection failure');
        return;
      }
      relay(req, res, port, answer);
    });
    http.keepAliveTimeout = 1;
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const plane = new GatewayDataPlane(http, (http.address() as AddressInfo).port);
    holder.plane = plane;
    return plane;
  }

  close(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.http.closeAllConnections();
      this.http.close(() => {
        resolve();
      });
    });
  }
}

/** The rule a request meets: the attached routes for its Host, the longest matching PathPrefix. */
function choose(
  server: FakeApiServer,
  gateway: { namespace: string; name: string },
  req: IncomingMessage,
): { routeNamespace: string; backend: BackendRef } | undefined {
  const host = (req.headers.host ?? '').replace(/:\d+$/, '');
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  let best: { length: number; routeNamespace: string; backend: BackendRef } | undefined;
  for (const route of server.list(V1, 'HTTPRoute')) {
    const namespace = route.metadata.namespace ?? '';
    const spec = (route.spec ?? {}) as RouteSpec;
    if (!(spec.hostnames ?? []).includes(host)) continue;
    const parents =
      (
        route.status as
          | { parents?: { parentRef?: ParentRef; conditions?: { type?: string; status?: string }[] }[] }
          | undefined
      )?.parents ?? [];
    const attached = parents.some(
      (p) =>
        p.parentRef?.name === gateway.name &&
        p.parentRef.namespace === gateway.namespace &&
        (p.conditions ?? []).some((c) => c.type === 'Accepted' && c.status === 'True'),
    );
    if (!attached) continue;
    for (const rule of spec.rules ?? []) {
      const backend = rule.backendRefs?.[0];
      if (!backend) continue;
      for (const m of rule.matches ?? [{ path: { type: 'PathPrefix', value: '/' } }]) {
        const prefix = m.path?.value ?? '/';
        const matches =
          prefix === '/' ||
          path === prefix.replace(/\/$/, '') ||
          path.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`);
        if (matches && (!best || prefix.length > best.length))
          best = { length: prefix.length, routeNamespace: namespace, backend };
      }
    }
  }
  return best;
}

/** Forwards the request to the backend's loopback server and passes its answer on, as Envoy's router does. */
function relay(
  req: IncomingMessage,
  res: ServerResponse,
  port: number,
  answer: (status: number) => void,
): void {
  const started = Date.now();
  const upstream = request(
    { host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers },
    (reply) => {
      const status = reply.statusCode ?? 502;
      answer(status);
      res.writeHead(status, {
        ...reply.headers,
        server: 'istio-envoy',
        'x-envoy-upstream-service-time': String(Date.now() - started),
      });
      reply.pipe(res);
    },
  );
  upstream.on('error', () => {
    answer(503);
    res
      .writeHead(503, { server: 'istio-envoy', 'content-type': 'text/plain' })
      .end('upstream connect error or disconnect/reset before headers. reset reason: connection failure');
  });
  upstream.end();
}
