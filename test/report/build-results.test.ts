/**
 * results.json as a fold over the records of results.jsonl. From an interrupted run: what was
 * never attempted is `skipped` (JUnit `<skipped>`), what was observed keeps its verdict, and the
 * environment the runner recorded in the `run` record reaches the report unless the caller says
 * otherwise. From a run killed before it judged: every attempt judged from its observations with
 * the runner's own rule, and the run said to have stopped early.
 */
import { expect } from 'chai';

import { buildResults } from '../../harness/results/build-results.js';
import { parseResultsRecords, type ResultsRecord, type RunRecord } from '../../harness/results/records.js';
import { renderHtmlReport } from '../../harness/report/html.js';
import { runJUnit } from '../../harness/report/run-junit.js';
import { HEAD, load } from '../support/scenarios.js';

const SCENARIO = `${HEAD}  tenants:
    - name: acme
      probes: false
      workloads:
        - { name: client }
        - { name: api, ports: [8080] }
    - name: globex
      probes: false
      workloads:
        - { name: client }
  attempts:
    - { id: seen, kind: http, from: tenant-globex/client, to: tenant-acme/api, expect: denied }
    - { id: never, kind: http, from: tenant-acme/client, to: tenant-acme/api, expect: allowed }
`;

const RUN: RunRecord = {
  type: 'run',
  runId: 'r-int',
  scenario: 's',
  scenarioFile: '/repo/scenarios/s.yaml',
  scenarioSha256: 'x',
  startedAt: '2026-11-24T12:00:00.000Z',
  cluster: 'https://10.0.0.1:6443',
  attempts: 2,
  environment: { provider: 'kind', versions: { kubernetes: 'v1.34.1', istio: '1.29.3' } },
  method: { stableRounds: 3, settleMs: 5000 },
};

const observation = (attempt: string, round: number, outcome: 'denied-l4' | 'allowed'): ResultsRecord => ({
  type: 'observation',
  attempt,
  round,
  outcome,
  at: `2026-11-24T12:00:0${round + 4}.000Z`,
  evidence: { errorCode: outcome === 'allowed' ? 'none' : 'ETIMEDOUT', phase: 'connect' },
});

describe('report: results.json of an interrupted run', () => {
  it('marks what was never attempted as skipped and keeps what was seen', async () => {
    const scenario = await load(SCENARIO, '/repo/scenarios/s.yaml');
    const records: ResultsRecord[] = [
      RUN,
      observation('seen', 1, 'denied-l4'),
      {
        type: 'result',
        attempt: 'seen',
        verdict: 'pass',
        outcome: 'denied-l4',
        expect: 'denied',
        expectedOutcomes: ['denied-l7', 'denied-l4', 'reset', 'refused'],
        mustDeny: true,
        category: 'cross-tenant',
        kind: 'http',
        from: 'tenant-globex/client',
        to: 'tenant-acme/api',
        port: 8080,
        rounds: 1,
        stable: false,
        leak: false,
        reason: 'did not settle in 1 round(s): observed denied-l4, each satisfying the expectation',
      },
      {
        type: 'result',
        attempt: 'never',
        verdict: 'error',
        outcome: 'error',
        expect: 'allowed',
        expectedOutcomes: ['allowed'],
        mustDeny: false,
        category: 'intra-tenant',
        kind: 'http',
        from: 'tenant-acme/client',
        to: 'tenant-acme/api',
        port: 8080,
        rounds: 0,
        stable: false,
        leak: false,
        reason: 'never observed',
      },
      { type: 'end', exitCode: 2, endedAt: '2026-11-24T12:00:09.000Z', interrupted: true },
    ];
    const doc = buildResults({
      records,
      scenario,
      version: '0.1.0',
      environment: { versions: { istio: '1.30.0' } },
    });
    expect(doc.attempts.map((a) => `${a.id}:${a.verdict}`)).to.deep.equal([
      'seen:not-judged',
      'never:skipped',
    ]);
    expect(doc.summary).to.deep.include({ passed: 0, notJudged: 1, skipped: 1, errors: 0 });
    expect(doc.run).to.deep.include({
      startedAt: '2026-11-24T12:00:00.000Z',
      endedAt: '2026-11-24T12:00:09.000Z',
      interrupted: true,
      exitCode: 2,
    });
    expect(doc.scope).to.deep.include({ provider: 'kind', cluster: 'https://10.0.0.1:6443' });
    // The runner's record fills in; the caller's value wins.
    expect(doc.versions).to.deep.include({ kubernetes: 'v1.34.1', istio: '1.30.0' });
    expect(doc.method).to.deep.include({ stableRounds: 3, settleMs: 5000 });
    expect(doc.attempts[0]?.evidence).to.deep.equal({ errorCode: 'ETIMEDOUT', phase: 'connect' });

    const xml = runJUnit(doc, [], { relativeTo: '/repo' });
    expect(xml).to.contain('<skipped message="not attempted: the run was interrupted first"/>');
    expect(xml).to.contain('file="scenarios/s.yaml"');
    const html = renderHtmlReport({ document: doc });
    expect(html).to.contain('INCOMPLETE: 1 not attempted; the run was interrupted');
  });
});

describe('report: results.json of a run killed before it judged', () => {
  it('judges each attempt from its observations with the runner rule: a leak seen is a failure', async () => {
    const scenario = await load(SCENARIO, '/repo/scenarios/s.yaml');
    // No result and no end record: the process was killed in round 2.
    const records: ResultsRecord[] = [
      RUN,
      observation('seen', 1, 'denied-l4'),
      observation('never', 1, 'allowed'),
      observation('seen', 2, 'allowed'),
    ];
    const doc = buildResults({ records, scenario, version: '0.1.0' });
    const [seen, never] = doc.attempts;
    expect(seen).to.deep.include({ verdict: 'fail', leak: true, outcome: 'allowed', rounds: 2 });
    expect(seen?.reason).to.equal('leak: expected denied, observed allowed in round 2');
    // The leaking round's evidence, not the last one's.
    expect(seen?.evidence).to.deep.equal({ errorCode: 'none', phase: 'connect' });
    // Seen once as expected, then the run died: not settled, so neither passed nor failed.
    expect(never).to.deep.include({ verdict: 'not-judged', outcome: 'allowed', stable: false });
    expect(never?.reason).to.match(/^not judged: the run was interrupted before the outcome settled \(/);
    expect(doc.run).to.deep.include({ interrupted: true, exitCode: 1, endedAt: '2026-11-24T12:00:06.000Z' });
    expect(doc.run.fault).to.match(/stopped without an end record/);
    expect(doc.summary).to.deep.include({ failed: 1, passed: 0, notJudged: 1, leaks: 1 });
  });

  it('exits 2 when nothing failed; what was never seen is skipped and what never settled not judged, neither passed', async () => {
    const scenario = await load(SCENARIO, '/repo/scenarios/s.yaml');
    const doc = buildResults({
      records: [RUN, observation('seen', 1, 'denied-l4')],
      scenario,
      version: '0.1.0',
    });
    expect(doc.attempts.map((a) => `${a.id}:${a.verdict}`)).to.deep.equal([
      'seen:not-judged',
      'never:skipped',
    ]);
    expect(doc.run.exitCode).to.equal(2);
    // No policies record: the run had not applied any, and the scope does not pretend otherwise.
    expect(doc.scope.policies).to.equal(undefined);
  });
});

describe('report: the cluster facts of the facts record', () => {
  it('keep every field of the deadline reasoning the run recorded (margin, retryOn)', async () => {
    const scenario = await load(SCENARIO, '/repo/scenarios/s.yaml');
    const deadlines = {
      formula: '(1 + retries) x connectTimeout + margin',
      source: 'MeshConfig',
      reasoning: 'from the mesh',
      scenarioDefaultMs: 5000,
      derivedMs: 40_000,
      connectTimeoutMs: 10_000,
      retries: 2,
      lengthened: 1,
      keptExplicit: 0,
      marginMs: 10_000,
      retryOn: 'connect-failure',
    };
    const facts: ResultsRecord = {
      type: 'facts',
      provider: 'kind',
      apiServer: { value: null, source: 'not needed', reasoning: 'no allow-api-server' },
      dns: { status: 'kubeadm-coredns', reasoning: 'read' },
      deadlines,
    };
    // Written and read back as results.jsonl, the way `bulkhead report` and a run's reports read it.
    const jsonl = [RUN, facts].map((r) => JSON.stringify({ v: 1, ...r })).join('\n') + '\n';
    const { records } = parseResultsRecords(jsonl, 'results.jsonl');
    const doc = buildResults({ records, scenario, version: '0.1.0' });
    expect(doc.method.clusterFacts?.deadlines).to.deep.equal(deadlines);
  });
});
