/**
 * results.json from an interrupted run: what was never attempted is `skipped` (JUnit
 * `<skipped>`), what was observed keeps its verdict, and the cluster facts the runner recorded
 * in the `run` line reach the report unless the caller says otherwise.
 */
import { expect } from 'chai';

import { buildResults, type LogLine } from '../../harness/results/build-results.js';
import { renderHtmlReport } from '../../harness/report/html.js';
import { runJUnit } from '../../harness/report/run-junit.js';
import type { RunResult } from '../../harness/run/runner.js';
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

describe('report: results.json of an interrupted run', () => {
  it('marks what was never attempted as skipped and keeps what was seen', async () => {
    const scenario = await load(SCENARIO, '/repo/scenarios/s.yaml');
    const [seen, never] = scenario.attempts;
    const result: RunResult = {
      runId: 'r-int',
      directory: '/nonexistent',
      interrupted: true,
      exitCode: 2,
      kept: false,
      appliedPolicies: [],
      results: [
        {
          attempt: seen!,
          expect: seen!.expect,
          judgement: {
            attempt: 'seen',
            verdict: 'pass',
            outcome: 'denied-l4',
            rounds: 1,
            stable: false,
            leak: false,
            reason: 'did not settle in 1 round(s): observed denied-l4, each satisfying the expectation',
          },
        },
        {
          attempt: never!,
          expect: never!.expect,
          judgement: {
            attempt: 'never',
            verdict: 'error',
            outcome: 'error',
            rounds: 0,
            stable: false,
            leak: false,
            reason: 'never observed',
          },
        },
      ],
    };
    const log: LogLine[] = [
      {
        type: 'run',
        runId: 'r-int',
        startedAt: '2026-11-24T12:00:00.000Z',
        cluster: 'https://10.0.0.1:6443',
        environment: { provider: 'kind', versions: { kubernetes: 'v1.34.1', istio: '1.29.3' } },
      },
      {
        type: 'observation',
        attempt: 'seen',
        round: 1,
        outcome: 'denied-l4',
        at: '2026-11-24T12:00:05.000Z',
        evidence: { errorCode: 'ETIMEDOUT', phase: 'connect' },
      },
      { type: 'end', exitCode: 2, endedAt: '2026-11-24T12:00:09.000Z', interrupted: true },
    ];
    const doc = buildResults({
      result,
      scenario,
      log,
      version: '0.1.0',
      environment: { versions: { istio: '1.30.0' } },
    });
    expect(doc.attempts.map((a) => `${a.id}:${a.verdict}`)).to.deep.equal(['seen:pass', 'never:skipped']);
    expect(doc.summary).to.deep.include({ passed: 1, skipped: 1, errors: 0 });
    expect(doc.run).to.deep.include({
      startedAt: '2026-11-24T12:00:00.000Z',
      endedAt: '2026-11-24T12:00:09.000Z',
    });
    expect(doc.scope).to.deep.include({ provider: 'kind', cluster: 'https://10.0.0.1:6443' });
    // The runner's record fills in; the caller's value wins.
    expect(doc.versions).to.deep.include({ kubernetes: 'v1.34.1', istio: '1.30.0' });
    expect(doc.attempts[0]?.evidence).to.deep.equal({ errorCode: 'ETIMEDOUT', phase: 'connect' });

    const xml = runJUnit(doc, [], { relativeTo: '/repo' });
    expect(xml).to.contain('<skipped message="not attempted: the run was interrupted first"/>');
    expect(xml).to.contain('file="scenarios/s.yaml"');
    const html = renderHtmlReport({ document: doc });
    expect(html).to.contain('INCOMPLETE: 1 not attempted; the run was interrupted');
  });
});
