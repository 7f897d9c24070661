/**
 * The mesh barrier on the fake cluster, whose stand-in istiod (test/support/istiod.ts) pushes a
 * policy to the sidecars of its namespace and has them acknowledge it some time later, and whose
 * stand-in dataplane enforces the AuthorizationPolicy only once they have: round 1 waits for
 * istiod's sync status, so slow propagation gives no false leak; a leak after the barrier is
 * caught in round 1; a push never made, or rejected (NACK), is a clear fault with nothing attempted.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { readResultsRecords, type BarrierRecord, type ResultsRecord } from '../../harness/results/records.js';
import { runExisting } from '../support/cli.js';
import { FakeApiServer, type FakeApiServerOptions } from '../support/fake-apiserver/server.js';
import { putReadyCluster } from '../support/existing-cluster.js';
import { agentBundle, agentExec, closedPort, scriptedServer } from '../support/fake-cluster.js';
import { FakeIstiod, putIstioCrds, type FakeIstiodOptions } from '../support/istiod.js';
import { HEAD } from '../support/scenarios.js';

const TENANTS = `  tenants:
    - name: acme
      probes: false
      injection: true
      workloads: [{ name: client }, { name: api, ports: [8080] }]
    - name: globex
      probes: false
      injection: true
      workloads: [{ name: client }]
`;
const ATTEMPTS = `  attempts:
    - { id: globex-to-acme, kind: http, from: tenant-globex/client, to: tenant-acme/api, expect: denied }
    - { id: acme-to-acme, kind: http, from: tenant-acme/client, to: tenant-acme/api, expect: allowed }
`;
const POLICY = `  policies:
    - inline: |
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: { name: same-tenant-only, namespace: tenant-acme }
        spec: { action: ALLOW, rules: [{ from: [{ source: { namespaces: [tenant-acme] } }] }] }
`;

interface Setup {
  readonly dir: string;
  readonly server: FakeApiServer;
  readonly istiod: FakeIstiod;
  records(): Promise<readonly ResultsRecord[]>;
  close(): Promise<void>;
}

/**
 * A fake cluster whose acme sidecars answer globex with Envoy's RBAC 403 once istiod's push of
 * the policy is acknowledged there, unless `leak`: then globex always gets through.
 */
async function setup(
  istiodOptions: FakeIstiodOptions,
  options: {
    leak?: boolean;
    unreadable?: boolean;
    answerLateMs?: FakeApiServerOptions['answerLateMs'];
    policy?: string;
  } = {},
): Promise<Setup> {
  const dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-mesh-barrier-'));
  const app = await scriptedServer(['app']);
  const rbac = await scriptedServer(['rbac']);
  const late: { istiod?: FakeIstiod } = {};
  const server: FakeApiServer = await new FakeApiServer({
    ...(options.answerLateMs ? { answerLateMs: options.answerLateMs } : {}),
    exec: agentExec({
      bundlePath: await agentBundle(),
      unroutedPort: await closedPort(),
      override: (request) =>
        options.unreadable && request.command[0] === 'pilot-discovery'
          ? spawn(process.execPath, ['-e', 'process.stderr.write("permission denied"); process.exit(1)'], {
              stdio: 'pipe',
            })
          : late.istiod?.exec(request),
      route: (source, host) => {
        if (!host.startsWith('api.tenant-acme.')) return undefined;
        if (source.namespace === 'tenant-acme') return app.port;
        return !options.leak && late.istiod?.enforcedIn('tenant-acme') !== undefined ? rbac.port : app.port;
      },
    }),
  }).start();
  putReadyCluster(server);
  putIstioCrds(server);
  const istiod = (late.istiod = new FakeIstiod(server, istiodOptions));
  await writeFile(path.join(dir, 'kubeconfig'), server.kubeConfig().exportConfig());
  await writeFile(path.join(dir, 'scenario.yaml'), `${HEAD}${TENANTS}${options.policy ?? POLICY}${ATTEMPTS}`);
  return {
    dir,
    server,
    istiod,
    records: async () => (await readResultsRecords(path.join(dir, 'reports', 'r1', 'results.jsonl'))).records,
    close: async () => {
      istiod.stop();
      await server.stop();
      await app.close();
      await rbac.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const barrierOf = (records: readonly ResultsRecord[]) =>
  records.find((r): r is BarrierRecord => r.type === 'barrier');
const observationTimes = (records: readonly ResultsRecord[]) =>
  records.flatMap((r) => (r.type === 'observation' ? [Date.parse(r.at)] : []));

describe("propagation barrier: istiod's sync status of the sidecars", function () {
  this.timeout(90_000);
  let s: Setup | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
  });

  it('holds round 1 until the sidecars acknowledge the push, so slow propagation gives no false leak', async () => {
    s = await setup({ pushLagMs: 300, ackLagMs: 1200 });
    const r = await runExisting(s.dir, '--context', 'fake', '--barrier-timeout', '60');
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    const records = await s.records();
    const mesh = barrierOf(records)?.mesh;
    expect(mesh?.status, mesh?.reasoning).to.equal('passed');
    expect(mesh?.ms).to.be.at.least(1000);
    // Three sidecars; the policy's namespace holds two, the third gets no push and has nothing pending.
    expect(mesh).to.deep.include({ proxies: 3, pushed: 2 });
    expect(mesh?.istiods?.[0]).to.deep.include({ revision: 'default', version: '1.29.3' });
    expect(mesh?.reasoning).to.contain(
      'acknowledge a listener (LDS) push sent after the last policy concerning it was applied',
    );
    expect(barrierOf(records)?.network.status).to.equal('skipped');
    // Every attempt was made after the stand-in dataplane enforced the policy.
    const enforced = s.istiod.enforcedIn('tenant-acme');
    expect(enforced).to.be.a('number');
    for (const at of observationTimes(records)) expect(at).to.be.at.least(enforced! - 5);
    expect(r.stderr).to.match(/mesh: 3\/3 sidecars in order \(2 acknowledged the policies' push\)/);
    const doc = JSON.parse(await readFile(path.join(s.dir, 'reports', 'r1', 'results.json'), 'utf8')) as {
      method: { barrier?: { mesh: { status: string; proxies?: number } } };
    };
    expect(doc.method.barrier?.mesh).to.deep.include({ status: 'passed', proxies: 3 });
    expect(await readFile(path.join(s.dir, 'reports', 'r1', 'report.html'), 'utf8')).to.match(
      /Policy in force before round 1[\s\S]*mesh: passed in \d+ ms/,
    );
  });

  it('without the barrier, the same slow propagation is reported as a leak', async () => {
    s = await setup({ pushLagMs: 300, ackLagMs: 1200 });
    const r = await runExisting(s.dir, '--context', 'fake', '--barrier-timeout', '0');
    expect(r.code, r.stdout + r.stderr).to.equal(1);
    expect(r.stdout).to.match(/^FAIL\s+globex-to-acme\s+denied\s+allowed\s+1\s+leak/m);
    expect(barrierOf(await s.records())?.mesh).to.deep.include({ status: 'skipped' });
  });

  it('catches a leak after the barrier in the first round', async () => {
    s = await setup({ pushLagMs: 300 }, { leak: true });
    const r = await runExisting(s.dir, '--context', 'fake', '--barrier-timeout', '60');
    expect(r.code, r.stdout + r.stderr).to.equal(1);
    expect(barrierOf(await s.records())?.mesh.status).to.equal('passed');
    expect(r.stdout).to.match(
      /^FAIL\s+globex-to-acme\s+denied\s+allowed\s+1\s+leak: expected denied, observed allowed in round 1/m,
    );
  });

  it('a push never made is a fault naming the sidecars and their state, with no attempt made', async () => {
    s = await setup({ never: true });
    const r = await runExisting(s.dir, '--context', 'fake', '--barrier-timeout', '2');
    expect(r.code, r.stdout + r.stderr).to.equal(2);
    expect(r.stderr).to.match(
      /^error: istiod did not see 2 of 3 run sidecars take the policies within 2 s: tenant-acme\/\S+ \(NOT SENT: no LDS push since the policies\), tenant-acme\/\S+ \(NOT SENT/m,
    );
    expect(r.stderr).to.contain('whether its clock is behind');
    expect(r.stderr).to.not.contain('internal error');
    const records = await s.records();
    expect(observationTimes(records)).to.deep.equal([]);
    const mesh = barrierOf(records)?.mesh;
    expect(mesh?.status).to.equal('timed-out');
    expect(mesh?.waiting?.map((w) => w.state)).to.deep.equal(['NOT SENT', 'NOT SENT']);
    expect(mesh?.waiting?.[0]?.istiod).to.match(/^istio-system\/istiod-/);
    expect(records.at(-1)).to.deep.include({ type: 'end', exitCode: 2 });
  });

  // The API server stores the policy, istiod pushes within its debounce and the sidecars take it,
  // and only then does the apply's answer reach bulkhead (a loaded runner): the push is not after T1.
  const lateAnswer = (r: { method: string; path: string }) =>
    r.method === 'PATCH' && r.path.includes('/authorizationpolicies/') ? 1500 : 0;

  it('a push sent before the apply answered is proven by its content, not taken for missing', async () => {
    s = await setup({ pushLagMs: 100 }, { answerLateMs: lateAnswer });
    const r = await runExisting(s.dir, '--context', 'fake', '--barrier-timeout', '8');
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    const mesh = barrierOf(await s.records())?.mesh;
    expect(mesh?.status, mesh?.reasoning).to.equal('passed');
    expect(mesh).to.deep.include({ proxies: 3, pushed: 2 });
    expect(mesh?.reasoning).to.contain(
      "2 of those sidecar(s) by the content of that push: it was sent before the apply returned, and istiod's configuration for the sidecar built from it (/debug/config_dump) holds the AuthorizationPolicy last applied for it",
    );
    // Only the two sidecars the policy concerns were looked at, once each.
    expect([...s.istiod.dumps].sort()).to.have.length(2);
    expect(s.istiod.dumps.every((id) => id.endsWith('.tenant-acme'))).to.equal(true);
  });

  it('an early push that did not hold the last policy is not taken for it: the barrier times out', async () => {
    const policy = `${POLICY}    - inline: |
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: { name: second, namespace: tenant-acme }
        spec: { action: DENY, rules: [{ from: [{ source: { namespaces: [nowhere] } }] }] }
`;
    // istiod pushes the first policy (before its apply answered) and never sees the second.
    s = await setup(
      { pushLagMs: 100, unseen: (key) => key === 'AuthorizationPolicy/tenant-acme/second' },
      { answerLateMs: lateAnswer, policy },
    );
    const r = await runExisting(s.dir, '--context', 'fake', '--barrier-timeout', '4');
    expect(r.code, r.stdout + r.stderr).to.equal(2);
    expect(r.stderr).to.match(/istiod did not see 2 of 3 run sidecars take the policies within 4 s/);
    const records = await s.records();
    expect(observationTimes(records)).to.deep.equal([]);
    expect(barrierOf(records)?.mesh.waiting?.map((w) => w.state)).to.deep.equal(['NOT SENT', 'NOT SENT']);
    // Their config was read, and it lacked the second policy.
    expect(s.istiod.dumps.filter((id) => id.endsWith('.tenant-acme')).length).to.be.at.least(2);
  });

  it('a rejected push (NACK) is a fault that shows the rejection', async () => {
    const message = 'Error adding/updating listener(s) virtualInbound: rbac: invalid principal';
    s = await setup({ pushLagMs: 300, nack: (proxy) => (proxy.startsWith('api-') ? message : undefined) });
    const r = await runExisting(s.dir, '--context', 'fake', '--barrier-timeout', '2');
    expect(r.code, r.stdout + r.stderr).to.equal(2);
    expect(r.stderr).to.match(
      /^error: istiod did not see 1 of 3 run sidecars take the policies within 2 s: tenant-acme\/api-\S+ \(ERROR: LDS rejected: Error adding\/updating listener\(s\) virtualInbound: rbac: invalid principal\)/m,
    );
    expect(r.stderr).to.contain('rejected (NACKed) the push');
    const mesh = barrierOf(await s.records())?.mesh;
    expect(mesh?.waiting).to.have.length(1);
    expect(mesh?.waiting?.[0]).to.deep.include({ state: 'ERROR', detail: `LDS rejected: ${message}` });
  });

  it("says so when istiod's sync status cannot be read, and goes on with --settle", async () => {
    s = await setup({}, { unreadable: true });
    // --settle is then the only wait: without it round 1 could start before the stand-in
    // dataplane enforces the policy (about 100 ms after the apply) and see a real leak.
    const r = await runExisting(s.dir, '--context', 'fake', '--barrier-timeout', '60', '--settle', '2');
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    const mesh = barrierOf(await s.records())?.mesh;
    expect(mesh?.status).to.equal('unavailable');
    expect(mesh?.reasoning).to.match(
      /^istiod's sync status could not be read \(istiod istio-system\/istiod-\S+ could not be asked for \/debug\/syncz: pilot-discovery request exited with exit code 1: permission denied\): --settle is the only wait/,
    );
  });
});
