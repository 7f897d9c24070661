/**
 * `bulkhead report`: the reports of a run rebuilt from its results.jsonl alone (plus the
 * scenario), the same as the run wrote them; the log of a run that was killed mid-round turned
 * into honest reports; and the inputs it must refuse.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { readResultsFile } from '../../harness/results/read-results.js';
import { FakeApiServer } from '../support/fake-apiserver/server.js';
import { runCli, runExisting } from '../support/cli.js';
import { putReadyCluster } from '../support/existing-cluster.js';
import { agentBundle, agentExec, closedPort, scriptedServer } from '../support/fake-cluster.js';
import { HEAD } from '../support/scenarios.js';

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

describe('cli: bulkhead report', function () {
  this.timeout(60_000);
  let dir: string;
  let run: string;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-cli-report-'));
    const app = await scriptedServer(['app']);
    const server = await new FakeApiServer({
      exec: agentExec({
        bundlePath: await agentBundle(),
        unroutedPort: await closedPort(),
        // globex is refused (a closed port); acme reaches its api.
        route: (source, host) =>
          source.namespace === 'tenant-acme' && host.startsWith('api.') ? app.port : undefined,
      }),
    }).start();
    try {
      putReadyCluster(server);
      await writeFile(path.join(dir, 'kubeconfig'), server.kubeConfig().exportConfig());
      await writeFile(path.join(dir, 'scenario.yaml'), SCENARIO);
      const r = await runExisting(dir, '--context', 'fake');
      expect(r.code, r.stderr).to.equal(0);
      run = path.join(dir, 'reports', 'r1');
    } finally {
      await server.stop();
      await app.close();
    }
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('rebuilds results.json and junit.xml byte for byte from the log, and prints what run printed', async () => {
    const written = await readFile(path.join(run, 'results.json'), 'utf8');
    const junit = await readFile(path.join(run, 'junit.xml'), 'utf8');
    const out = path.join(dir, 'again');
    const r = await runCli(['report', 'reports/r1/results.jsonl', '--out', 'again'], dir);
    expect(r.code, r.stderr).to.equal(0);
    expect(await readFile(path.join(out, 'results.json'), 'utf8')).to.equal(written);
    expect(await readFile(path.join(out, 'junit.xml'), 'utf8')).to.equal(junit);
    expect(existsSync(path.join(out, 'report.html'))).to.equal(true);
    expect(r.stdout).to.match(/^RESULT\s+ATTEMPT/);
    expect(r.stdout).to.contain('2 passed, 0 failed, 0 errors\nrun r1: reports/r1/results.jsonl\n');
    expect(r.stdout).to.contain('reports: again/results.json, again/junit.xml, again/report.html');
  });

  it('takes the run folder too, and writes beside the log by default', async () => {
    await rm(path.join(run, 'results.json'));
    const r = await runCli(['report', 'reports/r1'], dir);
    expect(r.code, r.stderr).to.equal(0);
    expect((await readResultsFile(path.join(run, 'results.json'))).summary.passed).to.equal(2);
  });

  it('reports a run killed mid-round from what it had written: interrupted, judged from its observations, exit 2', async () => {
    const lines = (await readFile(path.join(run, 'results.jsonl'), 'utf8')).trimEnd().split('\n');
    const types = lines.map((l) => (JSON.parse(l) as { type: string }).type);
    // Cut after the first round's observations, then a line torn mid-write.
    const firstRound = types.indexOf('observation') + 2;
    const killed = path.join(dir, 'killed');
    await mkdir(killed);
    await writeFile(
      path.join(killed, 'results.jsonl'),
      `${lines.slice(0, firstRound).join('\n')}\n${lines[firstRound]?.slice(0, 25) ?? ''}`,
    );
    const r = await runCli(['report', 'killed'], dir);
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stderr).to.contain('the last line of the log was cut off mid-write');
    const doc = await readResultsFile(path.join(killed, 'results.json'));
    expect(doc.run.interrupted).to.equal(true);
    expect(doc.run.fault).to.match(/stopped without an end record/);
    expect(doc.attempts.map((a) => `${a.id}:${a.verdict}:${a.rounds}`)).to.deep.equal([
      'globex-to-acme:not-judged:1',
      'acme-to-acme:not-judged:1',
    ]);
    // Seen once each before the kill: not settled, so neither passed nor failed.
    expect(doc.attempts[0]?.reason).to.equal(
      'not judged: the run was interrupted before the outcome settled (did not settle in 1 round(s): observed refused, each satisfying the expectation)',
    );
    expect(doc.summary).to.deep.include({ passed: 0, notJudged: 2 });
    expect(r.stdout).to.contain('0 passed, 0 failed, 0 errors, 2 not judged (never settled) (interrupted)');
    expect(r.stdout).to.contain('(interrupted)');
  });

  it('refuses a scenario that is not the one the run used, and a log that is not one', async () => {
    await writeFile(path.join(dir, 'other.yaml'), SCENARIO.replace('expect: allowed', 'expect: denied'));
    const changed = await runCli(['report', 'reports/r1', '-f', 'other.yaml'], dir);
    expect(changed.code).to.equal(2);
    expect(changed.stderr).to.match(
      /^error: other\.yaml is not the scenario run r1 used \(SHA-256 [0-9a-f]{12}…, the run recorded [0-9a-f]{12}…\); give the file the run used with -f\n$/,
    );
    await writeFile(path.join(dir, 'bad.jsonl'), '{"v":1,"type":"run"}\nnot json\n');
    const bad = await runCli(['report', 'bad.jsonl'], dir);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/^error: bad\.jsonl:1:1: runId: run record: /);
    expect(bad.stderr).to.contain('error: bad.jsonl:2:1: not a JSON record');
    expect(bad.stderr).to.not.contain('internal error');
    const missing = await runCli(['report', 'nope/results.jsonl'], dir);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.equal('error: nope/results.jsonl: no such file\n');
  });
});
