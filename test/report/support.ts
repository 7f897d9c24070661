/**
 * One real run of the runner against the fake cluster, shared by the report tests: four tenants,
 * each attempt meeting a real local server (Envoy's 403, the app) or a closed port, and one
 * tenant whose exec cannot start. Outcomes: a pass at L7, a pass at L4 (refused), an allowed
 * pass, a leak (fail) and a harness error, in several categories.
 */
import { spawn } from 'node:child_process';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { readResultsRecords, type ResultsRecord } from '../../harness/results/records.js';
import { createProgress } from '../../harness/run/progress.js';
import { runScenario, type RunResult } from '../../harness/run/runner.js';
import type { Scenario } from '../../harness/scenario/types.js';
import { FakeApiServer } from '../support/fake-apiserver/server.js';
import { agentBundle, agentExec, closedPort, scriptedServer } from '../support/fake-cluster.js';
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
        - { name: api, ports: [8080] }
    - name: initech
      probes: false
      workloads:
        - { name: client }
    - name: umbrella
      probes: false
      workloads:
        - { name: client }
  policies:
    - inline: |
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: { name: same-tenant-only, namespace: tenant-acme }
        spec: { podSelector: {}, policyTypes: [Ingress], ingress: [{ from: [{ podSelector: {} }] }] }
  attempts:
    - { id: globex-to-acme, kind: http, from: tenant-globex/client, to: tenant-acme/api, expect: denied }
    - { id: acme-to-acme, kind: http, from: tenant-acme/client, to: tenant-acme/api, expect: allowed }
    - { id: initech-to-acme, kind: http, from: tenant-initech/client, to: tenant-acme/api, expect: denied }
    - { id: acme-to-globex, kind: tcp, from: tenant-acme/client, to: tenant-globex/api, expect: denied }
    - { id: umbrella-to-acme, kind: http, from: tenant-umbrella/client, to: tenant-acme/api, expect: denied }
`;

export interface FakeRun {
  readonly result: RunResult;
  /** The records of its results.jsonl. */
  readonly records: readonly ResultsRecord[];
  readonly scenario: Scenario;
  /** A folder the tests may write into; removed after the whole test process. */
  readonly scratch: string;
}

async function makeRun(): Promise<FakeRun> {
  const bundlePath = await agentBundle();
  const rbac = await scriptedServer(['rbac']);
  const app = await scriptedServer(['app']);
  const unroutedPort = await closedPort();
  const server = await new FakeApiServer({
    exec: agentExec({
      bundlePath,
      unroutedPort,
      route: (source, host) => {
        if (host !== 'api.tenant-acme.svc.cluster.local') return undefined;
        if (source.namespace === 'tenant-globex') return rbac.port;
        return app.port;
      },
      override: (r) =>
        r.namespace === 'tenant-umbrella'
          ? spawn('/nonexistent/bulkhead-agent', [], { stdio: 'pipe' })
          : undefined,
    }),
  }).start();
  const scratch = await mkdtemp(path.join(tmpdir(), 'bulkhead-report-'));
  const scenarioFile = path.join(scratch, 'scenario.yaml');
  await writeFile(scenarioFile, SCENARIO);
  try {
    const scenario = await load(SCENARIO, scenarioFile);
    const result = await runScenario({
      scenario,
      kubeConfig: server.kubeConfig(),
      agentBundle: '// bundle',
      directory: path.join(scratch, 'reports', 'run-1'),
      runId: 'run-1',
      progress: createProgress({ write: () => undefined, interactive: false }),
      settleMs: 0,
      roundIntervalMs: 0,
      convergeTimeoutMs: 20_000,
    });
    const { records } = await readResultsRecords(path.join(result.directory, 'results.jsonl'));
    return { result, records, scenario, scratch };
  } finally {
    await server.stop();
    await rbac.close();
    await app.close();
  }
}

let shared: Promise<FakeRun> | undefined;

/** The shared run (made once per test process). */
export function fakeRun(): Promise<FakeRun> {
  shared ??= makeRun();
  return shared;
}

after(async () => {
  if (!shared) return;
  const run = await shared.catch(() => undefined);
  if (run) await rm(run.scratch, { recursive: true, force: true });
});

/** xmllint's verdict on an XML text against an XSD, or undefined when xmllint is not installed. */
export async function xsdValidate(
  xml: string,
  xsd: string,
): Promise<{ ok: boolean; output: string } | undefined> {
  const dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-xsd-'));
  const file = path.join(dir, 'report.xml');
  await writeFile(file, xml);
  try {
    return await new Promise((resolve) => {
      execFile('xmllint', ['--noout', '--schema', xsd, file], (error, stdout, stderr) => {
        if (error && (error as NodeJS.ErrnoException).code === 'ENOENT') {
          resolve(undefined);
          return;
        }
        resolve({ ok: !error, output: `${stdout}${stderr}` });
      });
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
