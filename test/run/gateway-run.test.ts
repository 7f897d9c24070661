/**
 * `bulkhead run` on a scenario that declares an ingress gateway, end to end on the fake cluster:
 * the Gateway and the routes are applied and read back, the footing waits for the Gateway
 * Programmed, its pod Ready and every route attached, and the rounds dial the gateway's Service,
 * which the stand-in Envoy (test/support/ingress-gateway.ts) answers on loopback as the facts say:
 * Envoy's own 500 for a cross-namespace backendRef no ReferenceGrant permits, the backend's answer
 * otherwise. A Gateway that is never Programmed is a fault naming it, before any attempt.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { readResultsRecords, type FootingRecord, type ResultsRecord } from '../../harness/results/records.js';
import { CANARY_PORT } from '../../harness/run/canary.js';
import { runExisting } from '../support/cli.js';
import { putReadyCluster } from '../support/existing-cluster.js';
import { FakeApiServer } from '../support/fake-apiserver/server.js';
import { agentBundle, agentExec, closedPort, scriptedServer } from '../support/fake-cluster.js';
import { gatewayApiCrds } from '../support/gateway-api.js';
import { GatewayDataPlane, IngressGatewayController } from '../support/ingress-gateway.js';
import { FakeIstiod, putIstioCrds, type FakeIstiodOptions } from '../support/istiod.js';
import { HEAD } from '../support/scenarios.js';

const BODY = `  namespaces: [{ name: ingress }]
  tenants:
    - name: acme
      workloads: [{ name: api, ports: [8080] }]
    - name: globex
      workloads: [{ name: web, ports: [9000] }]
  gateways:
    - name: public
      namespace: ingress
      routes:
        - { hostname: acme.example.com, backend: tenant-acme/api }
        - { hostname: globex.example.com, backend: tenant-globex/web }
  generators: [{ kind: gateway }]
`;

const SCENARIO = `${HEAD}${BODY}  policies:
    - builtin: hard-isolation
`;

/** globex grants HTTPRoutes of tenant-acme its Service web: acme's cross route then resolves. */
const GRANTED = `${HEAD}${BODY}  policies:
    - builtin: hard-isolation
    - inline: |
        apiVersion: gateway.networking.k8s.io/v1beta1
        kind: ReferenceGrant
        metadata: { name: let-acme-in, namespace: tenant-globex }
        spec:
          from: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: tenant-acme }]
          to: [{ group: "", kind: Service, name: web }]
`;

const CONTROL_ACME = 'gateway:tenant-acme/probe-nosidecar->ingress/public:acme.example.com';
const CROSS_ACME = `${CONTROL_ACME}/to/tenant-globex/web:9000`;
const CONTROL_GLOBEX = 'gateway:tenant-globex/probe-nosidecar->ingress/public:globex.example.com';
const CROSS_GLOBEX = `${CONTROL_GLOBEX}/to/tenant-acme/api:8080`;
const GATEWAY_HOST = 'public-istio.ingress.svc.cluster.local';

interface Setup {
  readonly dir: string;
  readonly server: FakeApiServer;
  readonly plane: GatewayDataPlane;
  readonly backendHits: () => { acme: number; globex: number };
  records(): Promise<readonly ResultsRecord[]>;
  close(): Promise<void>;
}

async function setup(
  scenario: string,
  options: { neverProgram?: boolean; istiod?: FakeIstiodOptions } = {},
): Promise<Setup> {
  const dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-gateway-run-'));
  const acme = await scriptedServer(['app']);
  const globex = await scriptedServer(['app']);
  const canary = await scriptedServer(['app']);
  const late: { server?: FakeApiServer; istiod?: FakeIstiod; plane?: GatewayDataPlane } = {};
  const canaryDenied = () =>
    (late.server?.list('projectcalico.org/v3', 'GlobalNetworkPolicy') ?? []).some(
      (p) => p.metadata.name.startsWith('bulkhead-canary-') && p.metadata.name.endsWith('.deny'),
    );
  const server: FakeApiServer = await new FakeApiServer({
    exec: agentExec({
      bundlePath: await agentBundle(),
      unroutedPort: await closedPort(),
      override: (request) => late.istiod?.exec(request),
      route: (_source, host, port) => {
        if (port === CANARY_PORT) return canaryDenied() ? undefined : canary.port;
        if (host === GATEWAY_HOST && port === 80) return late.plane?.port;
        return undefined;
      },
    }),
  }).start();
  late.server = server;
  putReadyCluster(server);
  putIstioCrds(server);
  for (const crd of gatewayApiCrds()) server.put(crd);
  const istiod = new FakeIstiod(server, options.istiod);
  late.istiod = istiod;
  const controller = new IngressGatewayController(server, options.neverProgram ? { neverProgram: true } : {});
  const plane = await GatewayDataPlane.start(server, { namespace: 'ingress', name: 'public' }, (b) =>
    b.namespace === 'tenant-acme' && b.name === 'api' && b.port === 8080
      ? acme.port
      : b.namespace === 'tenant-globex' && b.name === 'web' && b.port === 9000
        ? globex.port
        : undefined,
  );
  late.plane = plane;
  await writeFile(path.join(dir, 'kubeconfig'), server.kubeConfig().exportConfig());
  await writeFile(path.join(dir, 'scenario.yaml'), scenario);
  return {
    dir,
    server,
    plane,
    backendHits: () => ({ acme: acme.hits(), globex: globex.hits() }),
    records: async () => (await readResultsRecords(path.join(dir, 'reports', 'r1', 'results.jsonl'))).records,
    close: async () => {
      controller.stop();
      istiod.stop();
      await plane.close();
      await server.stop();
      await acme.close();
      await globex.close();
      await canary.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const lastFooting = (records: readonly ResultsRecord[]) =>
  records.findLast((r): r is FootingRecord => r.type === 'footing');

describe('run: an ingress gateway end to end on the fake cluster', function () {
  this.timeout(120_000);
  let s: Setup | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
  });

  it('deploys the Gateway and routes, waits on them, and the gateway 500 denies each cross route', async () => {
    s = await setup(SCENARIO);
    const r = await runExisting(s.dir, '--context', 'fake', '--barrier-timeout', '60');
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    const row = (id: string, expect: string, outcome: string) =>
      new RegExp(`^PASS\\s+${id.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\s+${expect}\\s+${outcome}\\s`, 'm');
    expect(r.stdout).to.match(row(CONTROL_ACME, 'allowed', 'allowed'));
    expect(r.stdout).to.match(row(CONTROL_GLOBEX, 'allowed', 'allowed'));
    expect(r.stdout).to.match(row(CROSS_ACME, 'denied', 'denied-l7'));
    expect(r.stdout).to.match(row(CROSS_GLOBEX, 'denied', 'denied-l7'));
    expect(r.stderr).to.contain('1 ingress gateway(s) Programmed with 4 route(s) attached');
    // The gateway pod is istiod's router: the barrier waited for its push too.
    const barrier = (await s.records()).find((x) => x.type === 'barrier');
    expect(barrier?.type === 'barrier' ? barrier.mesh.reasoning : '').to.contain(
      'each of 1 ingress gateway pod(s) acknowledge a listener (LDS) push sent after the last policy concerning it was applied',
    );
    // The gateway refused the cross paths itself; the controls reached their own backends.
    const cross = s.plane.hits.filter((h) => h.path.startsWith('/bulkhead-cross/'));
    expect(cross.length).to.be.greaterThan(0);
    expect(new Set(cross.map((h) => h.status))).to.deep.equal(new Set([500]));
    expect(s.backendHits().acme).to.be.greaterThan(0);
    expect(s.backendHits().globex).to.be.greaterThan(0);

    const records = await s.records();
    const footing = lastFooting(records);
    expect(footing?.gateways).to.deep.equal([
      {
        gateway: 'ingress/public',
        programmed: 'True/Programmed',
        generation: 1,
        pod: footing?.gateways?.[0]?.pod,
        routes: [
          {
            route: 'tenant-acme/public-acme.example.com',
            role: 'own',
            accepted: 'True/Accepted',
            resolvedRefs: 'True/ResolvedRefs',
          },
          {
            route: 'tenant-globex/public-globex.example.com',
            role: 'own',
            accepted: 'True/Accepted',
            resolvedRefs: 'True/ResolvedRefs',
          },
          {
            route: 'tenant-acme/public-acme.example.com-to-tenant-globex-web-9000',
            role: 'cross',
            accepted: 'True/Accepted',
            resolvedRefs: 'False/RefNotPermitted',
          },
          {
            route: 'tenant-globex/public-globex.example.com-to-tenant-acme-api-8080',
            role: 'cross',
            accepted: 'True/Accepted',
            resolvedRefs: 'False/RefNotPermitted',
          },
        ],
        routesReadAfter: 'routes-attached',
      },
    ]);
    expect(footing?.gateways?.[0]?.pod).to.match(/^ingress\/public-istio-/);
    // What was applied: the Gateway made ClusterIP and open to the tenants' routes.
    const gateway = records
      .filter((x) => x.type === 'policies')
      .flatMap((x) => x.applied)
      .find((o) => o.kind === 'Gateway');
    expect(gateway, 'the Gateway is a fixture, not a policy').to.equal(undefined);
    const html = await readFile(path.join(s.dir, 'reports', 'r1', 'report.html'), 'utf8');
    expect(html).to.contain('ingress gateway ingress/public Programmed True/Programmed at generation 1');
    expect(html).to.contain('ResolvedRefs False/RefNotPermitted');
  });

  it("lets acme's cross route through once globex grants it, and records the route resolved after the barrier", async () => {
    s = await setup(GRANTED);
    const before = s.backendHits().globex;
    const r = await runExisting(s.dir, '--context', 'fake', '--barrier-timeout', '60');
    // The cross attempt expected `denied` reached globex's web: an isolation failure, exit 1.
    expect(r.code, r.stdout + r.stderr).to.equal(1);
    expect(r.stdout).to.match(
      /^FAIL\s+\S+tenant-acme\/probe-nosidecar\S+\/to\/tenant-globex\/web:9000\s+denied\s+allowed\s/m,
    );
    expect(r.stdout).to.match(
      /^PASS\s+\S+tenant-globex\/probe-nosidecar\S+\/to\/tenant-acme\/api:8080\s+denied\s+denied-l7\s/m,
    );
    const through = s.plane.hits.filter(
      (h) => h.host.startsWith('acme.example.com') && h.path === '/bulkhead-cross/tenant-globex/web/',
    );
    expect(through.length).to.be.greaterThan(0);
    expect(new Set(through.map((h) => h.status))).to.deep.equal(new Set([200]));
    expect(s.backendHits().globex).to.be.greaterThan(before);

    const footing = lastFooting(await s.records());
    expect(footing?.gateways?.[0]?.routesReadAfter).to.equal('barrier');
    const routes = Object.fromEntries(
      (footing?.gateways?.[0]?.routes ?? []).map((x) => [x.route, x.resolvedRefs]),
    );
    expect(routes).to.include({
      'tenant-acme/public-acme.example.com-to-tenant-globex-web-9000': 'True/ResolvedRefs',
      'tenant-globex/public-globex.example.com-to-tenant-acme-api-8080': 'False/RefNotPermitted',
    });
  });

  it("stops before any attempt when the gateway pod rejects the policies' push, naming it", async () => {
    s = await setup(SCENARIO, {
      istiod: { nack: (id) => (id.startsWith('public-istio-') ? 'listener rejected' : undefined) },
    });
    const r = await runExisting(s.dir, '--context', 'fake', '--barrier-timeout', '3');
    expect(r.code, r.stdout + r.stderr).to.equal(2);
    expect(r.stderr).to.match(/ingress\/public-istio-\S+ \(ERROR: LDS rejected: listener rejected\)/);
    expect((await s.records()).filter((x) => x.type === 'observation')).to.deep.equal([]);
    expect(s.plane.hits).to.deep.equal([]);
  });

  it('stops with a fault naming Programmed when the Gateway is never Programmed, before any attempt', async () => {
    s = await setup(SCENARIO, { neverProgram: true });
    const r = await runExisting(s.dir, '--context', 'fake', '--ready-timeout', '3');
    expect(r.code, r.stdout + r.stderr).to.equal(2);
    expect(r.stderr).to.contain('Gateway ingress/public is not Programmed (AddressNotAssigned');
    const records = await s.records();
    expect(records.filter((x) => x.type === 'observation')).to.deep.equal([]);
    expect(s.plane.hits).to.deep.equal([]);
  });
});
