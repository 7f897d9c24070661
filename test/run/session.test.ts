/**
 * The run session: the cluster released once, at scope exit, kept as the user asked (a run that
 * faulted counts as failed); the provisioning log saved even when acquiring fails; Ctrl-C
 * handled by one interrupt scope; and the runner's waits taken on the injected clock.
 */
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import type { AcquireProps } from '../../harness/cluster/acquire.js';
import type { Cluster, ReleaseProps } from '../../harness/cluster/provider.js';
import { readResultsRecords } from '../../harness/results/records.js';
import { InterruptScope } from '../../harness/run/interrupts.js';
import { ClusterRefusal } from '../../harness/run/preflight.js';
import { createProgress } from '../../harness/run/progress.js';
import { RunSession, type SessionProps } from '../../harness/run/session.js';
import type { Scenario } from '../../harness/scenario/types.js';
import { FakeApiServer } from '../support/fake-apiserver/server.js';
import { agentBundle, agentExec, closedPort, scriptedServer } from '../support/fake-cluster.js';
import { ManualClock } from '../support/manual-clock.js';
import { HEAD, load } from '../support/scenarios.js';

const SCENARIO = `${HEAD}  tenants:
    - name: acme
      probes: false
      workloads: [{ name: client }, { name: api, ports: [8080] }]
    - name: globex
      probes: false
      workloads: [{ name: client }]
  attempts:
    - { id: globex-to-acme, kind: http, from: tenant-globex/client, to: tenant-acme/api, expect: denied }
    - { id: acme-to-acme, kind: http, from: tenant-acme/client, to: tenant-acme/api, expect: allowed }
`;

describe('run session', function () {
  this.timeout(30_000);
  let dir: string;
  let server: FakeApiServer;
  let app: Awaited<ReturnType<typeof scriptedServer>>;
  let scenario: Scenario;
  let released: ReleaseProps[];

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-session-'));
    app = await scriptedServer(['app']);
    server = await new FakeApiServer({
      exec: agentExec({
        bundlePath: await agentBundle(),
        unroutedPort: await closedPort(),
        route: (source, host) =>
          source.namespace === 'tenant-acme' && (host.startsWith('api.') || host === '127.0.0.3')
            ? app.port
            : undefined,
      }),
    }).start();
    scenario = await load(SCENARIO, path.join(dir, 'scenario.yaml'));
    released = [];
  });
  afterEach(async () => {
    await server.stop();
    await app.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A kind-like provider: logs a create step, hands out the fake cluster, records each release. */
  const acquire = (props: AcquireProps): Promise<Cluster> => {
    props.log('$ kind create cluster --name bulkhead');
    return Promise.resolve({
      kubeConfig: server.kubeConfig(),
      environment: { provider: 'kind', cluster: 'bulkhead', kubernetes: 'v1.35.0', reused: false },
      release: (r: ReleaseProps) => {
        released.push(r);
        props.log('$ kind delete cluster --name bulkhead');
        return Promise.resolve();
      },
    });
  };

  const props = (extra: Partial<SessionProps> = {}): SessionProps => ({
    scenario,
    settings: { agentBundle: '// bundle', settleMs: 0, roundIntervalMs: 0, convergeTimeoutMs: 20_000 },
    runId: 'r1',
    directory: path.join(dir, 'reports', 'r1'),
    progress: createProgress({ write: () => undefined, interactive: false }),
    provision: { provider: 'kind' },
    acquire,
    ...extra,
  });

  it("on kind, starts the internet stand-in with the agent's image and dials it for internet attempts", async () => {
    const asked: AcquireProps[] = [];
    const withInternet = await load(
      `${SCENARIO}    - { id: to-internet, kind: http, from: tenant-acme/client, to: { internet: true }, port: 80, expect: allowed }\n`,
      path.join(dir, 'scenario.yaml'),
    );
    {
      await using session = await RunSession.open(
        props({
          scenario: withInternet,
          acquire: async (p) => {
            asked.push(p);
            return { ...(await acquire(p)), internet: '127.0.0.3' };
          },
        }),
      );
      await session.run();
    }
    expect(asked[0]?.internetImage).to.match(/^docker\.io\/library\/node:24-alpine@sha256:[0-9a-f]{64}$/);
    const { records } = await readResultsRecords(path.join(dir, 'reports', 'r1', 'results.jsonl'));
    const seen = records.find((r) => r.type === 'observation' && r.attempt === 'to-internet');
    // Only the stand-in's address (127.0.0.3 here) leads to the app in the test's network.
    expect(seen?.type === 'observation' && seen.outcome).to.equal('allowed');
  });

  it('releases the cluster once at scope exit, after the reports, and saves the provisioning log', async () => {
    const echoed: string[] = [];
    let exitCode: number;
    {
      await using session = await RunSession.open(
        props({ keepCluster: 'on-failure', echo: (l) => echoed.push(l) }),
      );
      const outcome = await session.run();
      exitCode = outcome.exitCode;
      expect(released, 'not before the scope ends').to.deep.equal([]);
      expect(existsSync(path.join(dir, 'reports', 'r1', 'results.json'))).to.equal(true);
      await session[Symbol.asyncDispose]();
    }
    expect(exitCode).to.equal(0);
    // Once, though disposed twice; a passing run keeps nothing on 'on-failure'.
    expect(released).to.deep.equal([
      { keep: false, logsDir: path.join(dir, 'reports', 'r1', 'cluster-logs') },
    ]);
    expect(echoed).to.deep.equal([
      '$ kind create cluster --name bulkhead',
      '$ kind delete cluster --name bulkhead',
    ]);
    expect(await readFile(path.join(dir, 'reports', 'r1', 'provision.log'), 'utf8')).to.equal(
      '$ kind create cluster --name bulkhead\n$ kind delete cluster --name bulkhead\n',
    );
    // The run record holds where it ran: the given environment over the provider's facts.
    const { records } = await readResultsRecords(path.join(dir, 'reports', 'r1', 'results.jsonl'));
    const run = records[0];
    expect(run?.type === 'run' && run.environment).to.deep.include({
      provider: 'kind',
      environment: 'replica',
      clusterName: 'bulkhead',
      reused: false,
    });
  });

  it('keeps the cluster of a run that faulted when asked to keep on failure, and never otherwise', async () => {
    // A scenario namespace that exists without bulkhead's label: the run refuses it in preflight.
    server.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'tenant-acme' } });
    for (const keepCluster of ['on-failure', 'never'] as const) {
      released = [];
      let error: unknown;
      try {
        await using session = await RunSession.open(props({ keepCluster }));
        await session.run();
      } catch (e) {
        error = e;
      }
      expect(error).to.be.instanceOf(ClusterRefusal);
      expect(released.map((r) => r.keep)).to.deep.equal([keepCluster === 'on-failure']);
    }
  });

  it('saves the provisioning log when acquiring fails, and has nothing to release', async () => {
    const failing = (p: AcquireProps): Promise<Cluster> => {
      p.log('$ kind create cluster --name bulkhead');
      return Promise.reject(new Error('kind create cluster failed'));
    };
    let error: unknown;
    try {
      await using session = await RunSession.open(props({ acquire: failing }));
      await session.run();
    } catch (e) {
      error = e;
    }
    expect((error as Error).message).to.equal('kind create cluster failed');
    expect(released).to.deep.equal([]);
    expect(await readFile(path.join(dir, 'reports', 'r1', 'provision.log'), 'utf8')).to.equal(
      '$ kind create cluster --name bulkhead\n',
    );
  });

  it('refuses a --suite file that does not exist before acquiring anything', async () => {
    let acquired = false;
    const error = await RunSession.open(
      props({
        suites: ['missing.spec.ts'],
        cwd: dir,
        acquire: (p) => {
          acquired = true;
          return acquire(p);
        },
      }),
    ).catch((e: unknown) => e);
    expect((error as Error).message).to.equal('--suite missing.spec.ts: no such file');
    expect(acquired).to.equal(false);
  });

  it('takes settle, round pauses and the convergence deadline on the injected clock, without sleeping', async () => {
    const clock = new ManualClock();
    const started = Date.now();
    await using session = await RunSession.open(
      props({
        clock,
        settings: {
          agentBundle: '// bundle',
          settleMs: 60_000,
          roundIntervalMs: 30_000,
          convergeTimeoutMs: 600_000,
        },
      }),
    );
    const outcome = await session.run();
    expect(outcome.exitCode).to.equal(0);
    // One settle, then a pause after each round that left something unsettled (3 rounds to settle).
    expect(clock.sleeps).to.deep.equal([60_000, 30_000, 30_000]);
    expect(Date.now() - started, 'no real minute-long waits').to.be.below(15_000);
    const doc = outcome.reports.document;
    expect(doc.method).to.deep.include({
      settleMs: 60_000,
      roundIntervalMs: 30_000,
      convergeTimeoutMs: 600_000,
    });
    // Observation times are the clock's: round 2 is 30 s after round 1.
    const at = doc.attempts[0]?.observations.map((o) => Date.parse(o.at)) ?? [];
    expect(at[1]! - at[0]!).to.equal(30_000);
    expect(doc.run.startedAt).to.equal('2026-12-01T00:00:00.000Z');
  });
});

describe('interrupt scope', () => {
  it('aborts on the first signal, quits with 130 on the second, and removes its handlers when disposed', () => {
    const target = new EventEmitter();
    const told: string[] = [];
    const exits: number[] = [];
    let signal: AbortSignal;
    {
      using scope = new InterruptScope({
        onInterrupt: (s) => told.push(s),
        exit: (code) => exits.push(code),
        target: target as unknown as NodeJS.Process,
      });
      signal = scope.signal;
      expect(target.listenerCount('SIGINT')).to.equal(1);
      expect(target.listenerCount('SIGTERM')).to.equal(1);
      target.emit('SIGTERM', 'SIGTERM');
      expect(signal.aborted).to.equal(true);
      expect(told).to.deep.equal(['SIGTERM']);
      expect(exits).to.deep.equal([]);
      target.emit('SIGINT', 'SIGINT');
      expect(exits).to.deep.equal([130]);
      expect(told, 'told once').to.have.length(1);
    }
    expect(target.listenerCount('SIGINT')).to.equal(0);
    expect(target.listenerCount('SIGTERM')).to.equal(0);
  });
});
