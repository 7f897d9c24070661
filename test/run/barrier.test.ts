/**
 * The propagation barrier on the fake cluster, whose stand-in dataplane enforces a policy only
 * some time after it is applied (as Felix does): round 1 waits for the network canary, so a slow
 * dataplane gives no false leak; a real leak after the barrier is caught in round 1; a canary
 * that never flips is a clear fault with nothing attempted; and the results say what was waited
 * on, or why nothing was.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { readResultsRecords, type BarrierRecord, type ResultsRecord } from '../../harness/results/records.js';
import { canaryTierName } from '../../harness/run/canary.js';
import { RUN_LABEL } from '../../harness/run/identity.js';
import { canaryDataplane, type CanaryDataplane } from '../support/canary.js';
import { runExisting } from '../support/cli.js';
import { FakeApiServer } from '../support/fake-apiserver/server.js';
import { putReadyCluster } from '../support/existing-cluster.js';
import {
  agentBundle,
  agentExec,
  agentSubcommand,
  closedPort,
  scriptedServer,
} from '../support/fake-cluster.js';
import { HEAD } from '../support/scenarios.js';

const TENANTS = `  tenants:
    - name: acme
      probes: false
      workloads: [{ name: client }, { name: api, ports: [8080] }]
    - name: globex
      probes: false
      workloads: [{ name: client }]
`;
const ATTEMPTS = `  attempts:
    - { id: globex-to-acme, kind: http, from: tenant-globex/client, to: tenant-acme/api, expect: denied }
    - { id: acme-to-acme, kind: http, from: tenant-acme/client, to: tenant-acme/api, expect: allowed }
`;
const POLICY = `  policies:
    - inline: |
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: { name: same-tenant-only, namespace: tenant-acme }
        spec: { podSelector: {}, policyTypes: [Ingress], ingress: [{ from: [{ podSelector: {} }] }] }
`;

interface Setup {
  readonly dir: string;
  readonly server: FakeApiServer;
  readonly dataplane: CanaryDataplane;
  /** When the tenant policy became enforced by the stand-in dataplane. */
  readonly enforcedAt: () => number | undefined;
  records(): Promise<readonly ResultsRecord[]>;
  close(): Promise<void>;
}

/**
 * A fake cluster whose "dataplane" enforces acme's NetworkPolicy `lagMs` after it is stored (the
 * canary's deny the same lag after it is), unless `leak`: then globex always gets through.
 */
async function setup(options: {
  lagMs: number;
  leak?: boolean;
  never?: boolean;
  policies?: boolean;
}): Promise<Setup> {
  const dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-barrier-'));
  const app = await scriptedServer(['app']);
  const canaryEcho = await scriptedServer(['app']);
  let stored: number | undefined;
  let enforced: number | undefined;
  const policyEnforced = () => {
    if (options.leak || stored === undefined) return false;
    if (Date.now() - stored < options.lagMs) return false;
    enforced ??= Date.now();
    return true;
  };
  // The route needs the server, the server the route: the route reads the dataplane once it exists.
  const late: { dataplane?: CanaryDataplane } = {};
  const server: FakeApiServer = await new FakeApiServer({
    exec: agentExec({
      bundlePath: await agentBundle(),
      unroutedPort: await closedPort(),
      route: (source, host, port) => late.dataplane?.route(source, host, port),
    }),
  }).start();
  // The stand-in Felix: a policy counts from the moment it is in the store.
  const watch = setInterval(() => {
    if (server.get('networking.k8s.io/v1', 'NetworkPolicy', 'tenant-acme', 'same-tenant-only'))
      stored ??= Date.now();
  }, 20);
  const dataplane = canaryDataplane(
    server,
    canaryEcho.port,
    (source, host) => {
      if (!host.startsWith('api.tenant-acme.')) return undefined;
      if (source.namespace === 'tenant-acme') return app.port;
      return policyEnforced() ? undefined : app.port;
    },
    { lagMs: options.lagMs, ...(options.never ? { never: true } : {}) },
  );
  putReadyCluster(server);
  await writeFile(path.join(dir, 'kubeconfig'), server.kubeConfig().exportConfig());
  await writeFile(
    path.join(dir, 'scenario.yaml'),
    `${HEAD}${TENANTS}${options.policies === false ? '' : POLICY}${ATTEMPTS}`,
  );
  late.dataplane = dataplane;
  return {
    dir,
    server,
    dataplane,
    enforcedAt: () => enforced,
    records: async () => (await readResultsRecords(path.join(dir, 'reports', 'r1', 'results.jsonl'))).records,
    close: async () => {
      clearInterval(watch);
      await server.stop();
      await app.close();
      await canaryEcho.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const barrierOf = (records: readonly ResultsRecord[]) =>
  records.find((r): r is BarrierRecord => r.type === 'barrier');
const observationTimes = (records: readonly ResultsRecord[]) =>
  records.flatMap((r) => (r.type === 'observation' ? [Date.parse(r.at)] : []));

describe('propagation barrier: the network canary', function () {
  this.timeout(60_000);
  let s: Setup | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
  });

  it('holds round 1 until the canary flips, so a slow dataplane gives no false leak', async () => {
    s = await setup({ lagMs: 1500 });
    const r = await runExisting(s.dir, '--context', 'fake', '--barrier-timeout', '60');
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    const records = await s.records();
    const barrier = barrierOf(records);
    expect(barrier?.network.status).to.equal('passed');
    expect(barrier?.network.ms).to.be.at.least(1400);
    expect(barrier?.network.pods).to.equal(3);
    expect(barrier?.mesh).to.deep.equal({
      status: 'skipped',
      reasoning: 'the run applies no Istio configuration',
    });
    // Every attempt was made after the stand-in dataplane enforced the tenant policy.
    const enforced = s.enforcedAt();
    expect(enforced).to.be.a('number');
    for (const at of observationTimes(records)) expect(at).to.be.at.least(enforced! - 5);
    expect(r.stderr).to.match(/canary: 3\/3 pods see it denied/);
    // The canary's dials (several rounds of them here) and the attempts went over one agent
    // session per pod: no exec and no Node start per dial.
    const agentExecs = s.server.execs
      .filter((e) => e.request.command.some((c) => c.endsWith('/bulkhead-agent.mjs')))
      .map((e) => `${e.request.namespace}/${e.request.pod} ${agentSubcommand(e.request.command) ?? ''}`);
    expect(barrier?.network.rounds).to.be.at.least(2);
    expect(agentExecs.map((e) => e.replace(/-[0-9a-f]{10}-[0-9a-z]{5} /, ' ')).sort()).to.deep.equal([
      'tenant-acme/api session',
      'tenant-acme/client session',
      'tenant-globex/client session',
    ]);
    const doc = JSON.parse(await readFile(path.join(s.dir, 'reports', 'r1', 'results.json'), 'utf8')) as {
      method: { barrier?: { network: { status: string } } };
    };
    expect(doc.method.barrier?.network.status).to.equal('passed');
    expect(await readFile(path.join(s.dir, 'reports', 'r1', 'report.html'), 'utf8')).to.contain(
      'Policy in force before round 1',
    );
  });

  it('without the barrier, the same slow dataplane is reported as a leak', async () => {
    s = await setup({ lagMs: 1500 });
    const r = await runExisting(s.dir, '--context', 'fake', '--barrier-timeout', '0');
    expect(r.code, r.stdout + r.stderr).to.equal(1);
    expect(r.stdout).to.match(/^FAIL\s+globex-to-acme\s+denied\s+allowed\s+1\s+leak/m);
    expect(barrierOf(await s.records())?.network).to.deep.include({ status: 'skipped' });
  });

  it('catches a leak after the barrier in the first round', async () => {
    s = await setup({ lagMs: 0, leak: true });
    const r = await runExisting(s.dir, '--context', 'fake', '--barrier-timeout', '60');
    expect(r.code, r.stdout + r.stderr).to.equal(1);
    expect(r.stdout).to.match(
      /^FAIL\s+globex-to-acme\s+denied\s+allowed\s+1\s+leak: expected denied, observed allowed in round 1/m,
    );
  });

  it('a canary that never flips is a fault naming the pods, with no attempt made', async () => {
    s = await setup({ lagMs: 0, never: true });
    const r = await runExisting(s.dir, '--context', 'fake', '--barrier-timeout', '2');
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(
      /^error: Calico did not program the network canary's deny for 3 of 3 run pods within 2 s after the policies: tenant-\S+ \(allowed: the server answered 200/m,
    );
    expect(r.stderr).to.contain('the policies may not be in force either');
    expect(r.stderr).to.not.contain('internal error');
    const records = await s.records();
    expect(observationTimes(records)).to.deep.equal([]);
    expect(barrierOf(records)?.network.status).to.equal('timed-out');
    expect(records.at(-1)).to.deep.include({ type: 'end', exitCode: 2 });
    // The canary was cleaned up with everything else the run made.
    expect(s.server.list('projectcalico.org/v3', 'GlobalNetworkPolicy')).to.deep.equal([]);
    expect(s.server.list('projectcalico.org/v3', 'Tier')).to.deep.equal([]);
    expect(s.server.list('v1', 'Namespace').map((n) => n.metadata.name)).to.not.include.members([
      'tenant-acme',
    ]);
  });

  it("re-opens a canary that an earlier phase with the same run id left denied (upgrade-check's second phase)", async () => {
    s = await setup({ lagMs: 0 });
    // What the first phase of an upgrade check keeps on the cluster: the canary tier and its deny.
    const tier = canaryTierName('r1');
    s.server.put({
      apiVersion: 'projectcalico.org/v3',
      kind: 'GlobalNetworkPolicy',
      metadata: { name: `${tier}.deny`, labels: { [RUN_LABEL]: 'r1' } },
      spec: {
        tier,
        order: 100,
        selector: `${RUN_LABEL} == 'r1'`,
        types: ['Egress'],
        egress: [{ action: 'Deny' }],
      },
    });
    const r = await runExisting(s.dir, '--context', 'fake', '--barrier-timeout', '10');
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    // The canary answered every pod again before the policies, then flipped on this phase's deny.
    expect(r.stderr).to.match(/canary: 3\/3 pods reach it[\s\S]*canary: 3\/3 pods see it denied/);
    expect(barrierOf(await s.records())?.network.status).to.equal('passed');
  });

  it('says why it did not run when the run applies no network policy', async () => {
    s = await setup({ lagMs: 0, policies: false });
    const none = await runExisting(s.dir, '--context', 'fake', '--barrier-timeout', '60');
    expect(none.code, none.stderr).to.equal(1); // globex reaches acme: nothing isolates them
    expect(barrierOf(await s.records())?.network).to.deep.equal({
      status: 'skipped',
      reasoning: 'the run applies no network policy',
    });
    expect(s.server.list('projectcalico.org/v3', 'Tier'), 'no canary deployed').to.deep.equal([]);
  });
});
