/**
 * `bulkhead run` on an ambient scenario, end to end on the fake cluster: a mixed scenario (two
 * ambient tenants, one behind a waypoint, and one tenant still on sidecars) with the built-in
 * bundle goes through apply, read-back, the ambient footing (ztunnel capture, waypoint Programmed,
 * pods Ready, Services WaypointBound), both barriers and the rounds. The stand-in dataplane answers
 * on real loopback sockets as the facts say (../../../shared/reference/ambient-cnp-facts.md):
 * - an ambient client's connect is always local; a network drop of its ztunnel's onward connect
 *   is a reset after ztunnel's 10 s connect timeout (AO5, AO7), for the attempts and for the
 *   network canary alike;
 * - a sidecar client behind the same drop gets Envoy's 503 connect timeout (sidecar facts O6);
 * - before the policies are in the store, everything gets through (so a barrier that let round 1
 *   start early would show as a leak).
 * A pod that ztunnel does not capture is a fault before any attempt.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { ZTUNNEL_CONNECT_TIMEOUT_MS } from '../../harness/agent/classify-ambient.js';
import { readResultsRecords, type BarrierRecord, type ResultsRecord } from '../../harness/results/records.js';
import { CANARY_PORT } from '../../harness/run/canary.js';
import { captureOnAdmit, putAmbientDataPlane, WaypointController } from '../support/ambient-cluster.js';
import { runExisting } from '../support/cli.js';
import { putReadyCluster } from '../support/existing-cluster.js';
import { FakeApiServer } from '../support/fake-apiserver/server.js';
import { agentBundle, agentExec, closedPort, scriptedServer } from '../support/fake-cluster.js';
import { FakeIstiod, putIstioCrds } from '../support/istiod.js';
import { HEAD } from '../support/scenarios.js';

const SCENARIO = `${HEAD}  tenants:
    - name: acme
      dataplane: ambient
      probes: false
      waypoints: [{ name: waypoint }]
      workloads: [{ name: client }, { name: api, ports: [8080] }]
    - name: globex
      dataplane: ambient
      probes: false
      workloads: [{ name: client }]
    - name: initech
      probes: false
      workloads: [{ name: client }]
  policies:
    - builtin: hard-isolation
  attempts:
    - { id: acme-to-acme, kind: http, from: tenant-acme/client, to: tenant-acme/api, expect: allowed }
    - { id: globex-to-acme, kind: http, from: tenant-globex/client, to: tenant-acme/api, expect: denied }
    - { id: initech-to-acme, kind: http, from: tenant-initech/client, to: tenant-acme/api, expect: denied }
`;

/** One ambient tenant and a ztunnel-enforced policy, no network policy (so no canary). */
const ZTUNNEL_ONLY = `${HEAD}  tenants:
    - name: acme
      dataplane: ambient
      probes: false
      workloads: [{ name: client }, { name: api, ports: [8080] }]
  policies:
    - inline: |
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: { name: same-tenant-only, namespace: tenant-acme }
        spec: { action: ALLOW, rules: [{ from: [{ source: { namespaces: [tenant-acme] } }] }] }
  attempts:
    - { id: acme-to-acme, kind: http, from: tenant-acme/client, to: tenant-acme/api, expect: allowed }
`;

const AMBIENT_NAMESPACES = new Set(['tenant-acme', 'tenant-globex']);

/**
 * What an ambient client's ztunnel does when the network drops its onward connect: the client's
 * own connect succeeded (it is local), nothing comes back, and after ztunnel's fixed 10 s connect
 * timeout the client's socket is reset (AO5, AO7).
 */
async function ztunnelGivingUp(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.resume();
    const timer = setTimeout(() => {
      socket.resetAndDestroy();
    }, ZTUNNEL_CONNECT_TIMEOUT_MS + 100);
    socket.on('close', () => {
      clearTimeout(timer);
      sockets.delete(socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}

interface Setup {
  readonly dir: string;
  readonly server: FakeApiServer;
  readonly istiod: FakeIstiod;
  records(): Promise<readonly ResultsRecord[]>;
  close(): Promise<void>;
}

async function setup(
  options: { uncaptured?: string; scenario?: string; ztunnels?: readonly string[] } = {},
): Promise<Setup> {
  const dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-ambient-run-'));
  const app = await scriptedServer(['app']);
  const upstream503 = await scriptedServer(['upstream-timeout']);
  const givingUp = await ztunnelGivingUp();
  const late: { server?: FakeApiServer; istiod?: FakeIstiod } = {};
  const stored = (apiVersion: string, kind: string, namespace: string | undefined, name: string) =>
    late.server?.get(apiVersion, kind, namespace, name) !== undefined;
  const canaryDenied = () =>
    (late.server?.list('projectcalico.org/v3', 'GlobalNetworkPolicy') ?? []).some(
      (p) => p.metadata.name.startsWith('bulkhead-canary-') && p.metadata.name.endsWith('.deny'),
    );
  const server: FakeApiServer = await new FakeApiServer({
    admit: captureOnAdmit(() => late.server, {
      uncaptured: (pod) => pod.namespace === options.uncaptured,
    }),
    exec: agentExec({
      bundlePath: await agentBundle(),
      unroutedPort: await closedPort(),
      override: (request) => late.istiod?.exec(request),
      route: (source, host, port) => {
        const ambient = AMBIENT_NAMESPACES.has(source.namespace);
        // The canary pod is out of the mesh: an ambient pod's dial goes through its ztunnel.
        if (port === CANARY_PORT) return canaryDenied() ? (ambient ? givingUp.port : undefined) : app.port;
        if (!host.startsWith('api.tenant-acme.')) return undefined;
        if (source.namespace === 'tenant-acme') return app.port;
        // acme's default deny, once in the store, drops the other tenants (network layer).
        if (!stored('networking.k8s.io/v1', 'NetworkPolicy', 'tenant-acme', 'default-deny-all'))
          return app.port;
        return ambient ? givingUp.port : upstream503.port;
      },
    }),
  }).start();
  late.server = server;
  putReadyCluster(server);
  putIstioCrds(server);
  putAmbientDataPlane(server);
  const istiod = new FakeIstiod(server, { ztunnels: options.ztunnels ?? ['ztunnel-abcde'] });
  late.istiod = istiod;
  const waypoints = new WaypointController(server);
  await writeFile(path.join(dir, 'kubeconfig'), server.kubeConfig().exportConfig());
  await writeFile(path.join(dir, 'scenario.yaml'), options.scenario ?? SCENARIO);
  return {
    dir,
    server,
    istiod,
    records: async () => (await readResultsRecords(path.join(dir, 'reports', 'r1', 'results.jsonl'))).records,
    close: async () => {
      waypoints.stop();
      istiod.stop();
      await server.stop();
      await app.close();
      await upstream503.close();
      await givingUp.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const barrierOf = (records: readonly ResultsRecord[]) =>
  records.find((r): r is BarrierRecord => r.type === 'barrier');

describe('run: an ambient scenario end to end on the fake cluster', function () {
  this.timeout(120_000);
  let s: Setup | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
  });

  it('runs a mixed ambient/sidecar scenario: footing, both barriers, and verdicts as ztunnel and Envoy answer', async () => {
    s = await setup();
    const r = await runExisting(s.dir, '--context', 'fake', '--barrier-timeout', '60');
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    // The ambient client behind a network drop: ztunnel's reset after 10 s (AO5) is a network deny.
    expect(r.stdout).to.match(/^PASS\s+globex-to-acme\s+denied\s+denied-l4\s+3$/m);
    expect(r.stdout).to.match(/^PASS\s+initech-to-acme\s+denied\s+denied-l4\s+3$/m);
    expect(r.stdout).to.match(/^PASS\s+acme-to-acme\s+allowed\s+allowed\s+3$/m);
    expect(r.stderr).to.contain('3 ambient pods captured by ztunnel, 1 waypoints usable');
    expect(r.stderr).to.match(/network policy in force after \d+ ms, mesh proxies in sync after \d+ ms/);

    const records = await s.records();
    const footing = records.find((x) => x.type === 'footing');
    expect(footing).to.deep.include({ ambient: { captured: 3, waypoints: 1 } });
    const observation = records.find((x) => x.type === 'observation' && x.attempt === 'globex-to-acme');
    expect(observation).to.deep.include({ outcome: 'denied-l4' });
    expect(observation && 'reason' in observation ? observation.reason : '').to.contain('facts AO5, AO7');

    const barrier = barrierOf(records);
    // The canary: every pod reached it, then saw its deny; the ambient ones as ztunnel's give-up.
    expect(barrier?.network.status, barrier?.network.reasoning).to.equal('passed');
    expect(barrier?.network.ms).to.be.at.least(ZTUNNEL_CONNECT_TIMEOUT_MS);
    // The mesh: the initech sidecar, the acme waypoint pod and the ztunnel, each pushed to.
    const mesh = barrier?.mesh;
    expect(mesh?.status, mesh?.reasoning).to.equal('passed');
    expect(mesh).to.deep.include({ proxies: 3, pushed: 3 });
    expect(mesh?.reasoning).to.contain('1 ztunnel(s) acknowledge a authorization (WADS) push');
    expect(mesh?.reasoning).to.contain('1 waypoint pod(s) acknowledge a listener (LDS) push');
    expect(mesh?.reasoning).to.contain('config_dump (facts C1.5, C1.6) were not read');

    const doc = JSON.parse(await readFile(path.join(s.dir, 'reports', 'r1', 'results.json'), 'utf8')) as {
      attempts: { id: string; dataplanes?: unknown }[];
      method: { footing?: { ambient?: unknown } };
    };
    const planes = Object.fromEntries(doc.attempts.map((a) => [a.id, a.dataplanes]));
    expect(planes).to.deep.equal({
      'acme-to-acme': { from: 'ambient', to: 'ambient' },
      'globex-to-acme': { from: 'ambient', to: 'ambient' },
      'initech-to-acme': { from: 'sidecar', to: 'ambient' },
    });
    expect(doc.method.footing?.ambient).to.deep.equal({ captured: 3, waypoints: 1 });
  });

  it('waits on ztunnel for a ztunnel-enforced policy, and with no ztunnel connected is a fault naming it', async () => {
    s = await setup({ scenario: ZTUNNEL_ONLY });
    const ok = await runExisting(s.dir, '--context', 'fake', '--barrier-timeout', '30');
    expect(ok.code, ok.stdout + ok.stderr).to.equal(0);
    const mesh = barrierOf(await s.records())?.mesh;
    expect(mesh).to.deep.include({ status: 'passed', proxies: 1, pushed: 1 });
    await s.close();
    s = await setup({ scenario: ZTUNNEL_ONLY, ztunnels: [] });
    const r = await runExisting(s.dir, '--context', 'fake', '--barrier-timeout', '2');
    expect(r.code, r.stdout + r.stderr).to.equal(2);
    expect(r.stderr).to.contain(
      'istiod did not see 1 of 1 run proxies take the policies within 2 s: ztunnel (NOT CONNECTED: no ztunnel is connected to the istiods read, yet 2 run pod(s) are captured)',
    );
    const records = await s.records();
    expect(barrierOf(records)?.mesh.status).to.equal('timed-out');
    expect(records.filter((x) => x.type === 'observation')).to.deep.equal([]);
  });

  it('a pod that ztunnel does not capture is a fault before any attempt', async () => {
    s = await setup({ uncaptured: 'tenant-globex' });
    const r = await runExisting(
      s.dir,
      '--context',
      'fake',
      '--barrier-timeout',
      '60',
      '--ready-timeout',
      '2',
    );
    expect(r.code, r.stdout + r.stderr).to.equal(2);
    expect(r.stderr, r.stderr).to.match(
      /the pods do not have the data plane the scenario says: tenant-globex\/client is not captured by ztunnel \(no ambient.istio.io\/redirection: enabled\)/,
    );
    const records = await s.records();
    expect(records.filter((x) => x.type === 'observation')).to.deep.equal([]);
    expect(records.at(-1)).to.deep.include({ type: 'end', exitCode: 2 });
  });
});
