/**
 * The fake cluster's Gateway API side must refuse what a real API server refuses and answer as
 * Istio's controller and gateway do (test/support/gateway-api.ts, ingress-gateway.ts): these tests
 * hold it to that, through the wire, with bulkhead's own client.
 */
import { request } from 'node:http';

import type { KubernetesObject } from '@kubernetes/client-node';
import { expect } from 'chai';

import { KubeClient } from '../../harness/kube/client.js';
import { KubeApiError } from '../../harness/kube/errors.js';
import { FakeApiServer } from './fake-apiserver/server.js';
import { gatewayApiCrds } from './gateway-api.js';
import { GatewayDataPlane, IngressGatewayController } from './ingress-gateway.js';

const route = (spec: Record<string, unknown>, name = 'r'): KubernetesObject =>
  ({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name, namespace: 'tenant-a' },
    spec,
  }) as KubernetesObject;

const GOOD = {
  parentRefs: [{ name: 'public', namespace: 'ingress' }],
  hostnames: ['a.example.com'],
  rules: [
    {
      matches: [{ path: { type: 'PathPrefix', value: '/' } }],
      backendRefs: [{ name: 'api', port: 8080 }],
    },
  ],
};

async function refusal(client: KubeClient, object: KubernetesObject): Promise<string> {
  const error = await client.apply(object).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'the apply was refused').to.be.instanceOf(KubeApiError);
  return (error as KubeApiError).message;
}

function get(port: number, host: string, path: string) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>(
    (resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        });
      });
      req.on('error', reject);
      req.end();
    },
  );
}

describe('fake cluster: Gateway API kinds and the stand-in for Istio’s gateway controller', function () {
  this.timeout(30_000);
  let server: FakeApiServer;
  let client: KubeClient;
  beforeEach(async () => {
    server = await new FakeApiServer().start();
    client = new KubeClient({ kubeConfig: server.kubeConfig() });
    for (const ns of ['tenant-a', 'tenant-b', 'ingress'])
      server.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  });
  afterEach(async () => {
    await server.stop();
  });

  it('refuses HTTPRoutes that break the schema: patterns, enums, maxItems, required fields', async () => {
    for (const crd of gatewayApiCrds()) server.put(crd);
    await client.apply(route(GOOD));
    expect(await refusal(client, route({ ...GOOD, hostnames: ['A.example.com'] }))).to.contain(
      'spec.hostnames[0]: Invalid value: "A.example.com": spec.hostnames[0] in body should match \'^(\\*\\.)?[a-z0-9]',
    );
    expect(
      await refusal(
        client,
        route({ ...GOOD, hostnames: Array.from({ length: 17 }, (_, i) => `h${i}.example.com`) }),
      ),
    ).to.contain('spec.hostnames: Too many: 17: must have at most 16 items');
    expect(
      await refusal(
        client,
        route({
          ...GOOD,
          rules: [
            {
              matches: [{ path: { type: 'Prefix', value: '/' } }],
              backendRefs: [{ name: 'api', port: 8080 }],
            },
          ],
        }),
      ),
    ).to.contain('spec.rules[0].matches[0].path.type: Unsupported value: "Prefix"');
    expect(await refusal(client, route({ ...GOOD, rules: [{ backendRefs: [{ port: 8080 }] }] }))).to.contain(
      'spec.rules[0].backendRefs[0].name: Required value',
    );
    expect(
      await refusal(client, route({ ...GOOD, rules: [{ backendRefs: [{ name: 'api', port: 0 }] }] })),
    ).to.contain('spec.rules[0].backendRefs[0].port: Invalid value: 0');
    // Only the good one was stored.
    expect(
      server.list('gateway.networking.k8s.io/v1', 'HTTPRoute').map((o) => o.metadata.name),
    ).to.deep.equal(['r']);
  });

  it('refuses a ReferenceGrant without from or to, or with an empty from', async () => {
    for (const crd of gatewayApiCrds()) server.put(crd);
    const grant = (spec: Record<string, unknown>) =>
      ({
        apiVersion: 'gateway.networking.k8s.io/v1beta1',
        kind: 'ReferenceGrant',
        metadata: { name: 'g', namespace: 'tenant-b' },
        spec,
      }) as KubernetesObject;
    expect(
      await refusal(
        client,
        grant({ from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'tenant-a' }] }),
      ),
    ).to.contain('spec.to: Required value');
    expect(await refusal(client, grant({ from: [], to: [{ group: '', kind: 'Service' }] }))).to.contain(
      'spec.from: Invalid value: 0: spec.from in body should have at least 1 items',
    );
    expect(
      await refusal(
        client,
        grant({
          from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute' }],
          to: [{ group: '', kind: 'Service' }],
        }),
      ),
    ).to.contain('spec.from[0].namespace: Required value');
  });

  it('serves ReferenceGrant v1 only from the v1.5 bundle on (v1.4.1: 404), v1beta1 from both', async () => {
    for (const crd of gatewayApiCrds('v1.4.1')) server.put(crd);
    const grant = (apiVersion: string) =>
      ({
        apiVersion,
        kind: 'ReferenceGrant',
        metadata: { name: 'g', namespace: 'tenant-b' },
        spec: {
          from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'tenant-a' }],
          to: [{ group: '', kind: 'Service' }],
        },
      }) as KubernetesObject;
    expect(await refusal(client, grant('gateway.networking.k8s.io/v1'))).to.match(/404|does not serve/);
    await client.apply(grant('gateway.networking.k8s.io/v1beta1'));
    for (const crd of gatewayApiCrds('v1.5.1')) server.put(crd);
    await client.apply(grant('gateway.networking.k8s.io/v1'));
  });

  it('keeps a generation on custom resources that grows with each change of the spec only', async () => {
    for (const crd of gatewayApiCrds()) server.put(crd);
    await client.apply(route(GOOD));
    const at = () =>
      server.get('gateway.networking.k8s.io/v1', 'HTTPRoute', 'tenant-a', 'r')?.metadata.generation;
    expect(at()).to.equal(1);
    await client.apply(route({ ...GOOD, hostnames: ['b.example.com'] }));
    expect(at()).to.equal(2);
    const stored = server.get('gateway.networking.k8s.io/v1', 'HTTPRoute', 'tenant-a', 'r');
    server.put({ ...stored, status: { parents: [] } });
    expect(at()).to.equal(2);
  });

  it('programs a Gateway only when it asks for a ClusterIP Service, and attaches routes as its listener allows', async () => {
    for (const crd of gatewayApiCrds()) server.put(crd);
    const controller = new IngressGatewayController(server);
    try {
      const gateway = (name: string, annotations: Record<string, string>, from?: string) =>
        ({
          apiVersion: 'gateway.networking.k8s.io/v1',
          kind: 'Gateway',
          metadata: { name, namespace: 'ingress', annotations },
          spec: {
            gatewayClassName: 'istio',
            listeners: [
              {
                name: 'http',
                port: 80,
                protocol: 'HTTP',
                ...(from ? { allowedRoutes: { namespaces: { from } } } : {}),
              },
            ],
          },
        }) as KubernetesObject;
      await client.apply(gateway('open', { 'networking.istio.io/service-type': 'ClusterIP' }, 'All'));
      await client.apply(gateway('pending', {}));
      server.put({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'api', namespace: 'tenant-a' },
        spec: { ports: [{ port: 8080 }] },
      });
      await client.apply(route({ ...GOOD, parentRefs: [{ name: 'open', namespace: 'ingress' }] }, 'on-open'));
      await client.apply(
        route({ ...GOOD, parentRefs: [{ name: 'pending', namespace: 'ingress' }] }, 'on-pending'),
      );
      await new Promise((r) => setTimeout(r, 200));
      const cond = (o: object | undefined, type: string) =>
        (
          (o as { status?: { conditions?: { type: string; status: string; reason: string }[] } } | undefined)
            ?.status?.conditions ?? []
        ).find((c) => c.type === type);
      const open = server.get('gateway.networking.k8s.io/v1', 'Gateway', 'ingress', 'open');
      expect(cond(open, 'Programmed')).to.deep.include({ status: 'True', observedGeneration: 1 });
      expect(server.get('v1', 'Service', 'ingress', 'open-istio')?.spec).to.deep.include({
        type: 'ClusterIP',
      });
      expect(
        cond(server.get('gateway.networking.k8s.io/v1', 'Gateway', 'ingress', 'pending'), 'Programmed'),
      ).to.deep.include({
        status: 'False',
        reason: 'AddressNotAssigned',
      });
      expect(server.get('v1', 'Service', 'ingress', 'pending-istio')?.spec).to.deep.include({
        type: 'LoadBalancer',
      });
      expect(server.get('apps/v1', 'Deployment', 'ingress', 'open-istio')?.spec).to.nested.include({
        'template.metadata.labels.gateway\\.networking\\.k8s\\.io/gateway-name': 'open',
        'template.metadata.labels.sidecar\\.istio\\.io/inject': 'false',
      });
      const parent = (name: string) =>
        (
          server.get('gateway.networking.k8s.io/v1', 'HTTPRoute', 'tenant-a', name)?.status as {
            parents: { conditions: { type: string; status: string; reason: string }[] }[];
          }
        ).parents[0]?.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`);
      expect(parent('on-open')).to.deep.equal(['Accepted=True/Accepted', 'ResolvedRefs=True/ResolvedRefs']);
      // The default `from: Same` leaves a route of another namespace unattached.
      expect(parent('on-pending')).to.deep.equal([
        'Accepted=False/NotAllowedByListeners',
        'ResolvedRefs=True/ResolvedRefs',
      ]);
    } finally {
      controller.stop();
    }
  });

  it("answers as Istio's gateway: 404 for an unknown Host, 500 for a backendRef no ReferenceGrant permits", async () => {
    for (const crd of gatewayApiCrds()) server.put(crd);
    const controller = new IngressGatewayController(server);
    const plane = await GatewayDataPlane.start(
      server,
      { namespace: 'ingress', name: 'public' },
      () => undefined,
    );
    try {
      await client.apply({
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'Gateway',
        metadata: {
          name: 'public',
          namespace: 'ingress',
          annotations: { 'networking.istio.io/service-type': 'ClusterIP' },
        },
        spec: {
          gatewayClassName: 'istio',
          listeners: [
            { name: 'http', port: 80, protocol: 'HTTP', allowedRoutes: { namespaces: { from: 'All' } } },
          ],
        },
      } as KubernetesObject);
      server.put({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'web', namespace: 'tenant-b' },
        spec: { ports: [{ port: 9000 }] },
      });
      await client.apply(
        route({
          ...GOOD,
          rules: [
            {
              matches: [{ path: { type: 'PathPrefix', value: '/x/' } }],
              backendRefs: [{ name: 'web', namespace: 'tenant-b', port: 9000 }],
            },
          ],
        }),
      );
      await new Promise((r) => setTimeout(r, 200));
      const unknown = await get(plane.port, 'nobody.example.com', '/');
      expect(unknown).to.deep.include({ status: 404, body: '' });
      expect(unknown.headers.server).to.equal('istio-envoy');
      const cross = await get(plane.port, 'a.example.com', '/x/');
      expect(cross).to.deep.include({ status: 500, body: '' });
      expect(cross.headers).to.not.have.property('x-envoy-upstream-service-time');
    } finally {
      controller.stop();
      await plane.close();
    }
  });
});
