/**
 * End to end: a run of the runner against the fake cluster → its results.jsonl folded and
 * reported (reportRun → writeRunReports) → the
 * files in the run folder, checked as their consumers would: the JSON against its committed
 * schema (ajv), the JUnit against the XSD (xmllint), the bundle by re-reading the archive.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Ajv2020 } from 'ajv/dist/2020.js';
import { expect } from 'chai';

import { UserError } from '../../harness/errors.js';
import { verifyBundle } from '../../harness/report/bundle.js';
import { readResultsFile } from '../../harness/results/read-results.js';
import type { ResultsDocument } from '../../harness/results/results-model.js';
import { reportRun, type ReportedRun } from '../../harness/run/report-run.js';
import { runCli } from '../support/cli.js';
import { fakeRun, xsdValidate, type FakeRun } from './support.js';

const XSD = fileURLToPath(new URL('../../harness/report/schemas/junit.xsd', import.meta.url));
const SCHEMA = fileURLToPath(
  new URL('../../harness/results/schemas/results.v1.schema.json', import.meta.url),
);
const PUBLIC_API = fileURLToPath(new URL('../../harness/index.ts', import.meta.url));

const USER_SUITE = `
import { currentRun, expect } from ${JSON.stringify(PUBLIC_API)};
describe('payments team', () => {
  it('globex is refused by Istio authorization', () => {
    expect(currentRun().attempt('globex-to-acme')).to.be.deniedAt('l7');
  });
  it('acme-to-globex is refused by the network', () => {
    expect(currentRun().attempt('acme-to-globex')).to.be.deniedAt('l4');
  });
  it('initech is denied at L7 (it is not: the run saw a leak)', () => {
    expect(currentRun().attempt('initech-to-acme')).to.be.deniedAt('l7');
  });
  it('asks for an attempt that does not exist', () => {
    currentRun().attempt('globex-to-acmee');
  });
});
`;

describe('report: the reports of a run against the fake cluster, from its records', function () {
  this.timeout(60_000);
  let run: FakeRun;
  let reports: ReportedRun;
  let doc: ResultsDocument;

  before(async () => {
    run = await fakeRun();
    const suite = path.join(run.scratch, 'payments.spec.ts');
    await writeFile(suite, USER_SUITE);
    reports = await reportRun({
      directory: run.result.directory,
      scenario: run.scenario,
      environment: {
        provider: 'kind',
        environment: 'replica',
        trigger: 'scheduled',
        versions: { kubernetes: 'v1.34.0', calico: 'v3.31.0', istio: '1.29.3' },
      },
      bundle: true,
      suites: [suite],
      cwd: run.scratch,
      logs: { 'progress.txt': 'apply fixtures ... done\n' },
    });
    doc = reports.document;
  });

  it('the runner produced the mix of verdicts these tests rely on', () => {
    const verdicts = Object.fromEntries(doc.attempts.map((a) => [a.id, `${a.verdict}:${a.outcome}`]));
    expect(verdicts).to.deep.equal({
      'globex-to-acme': 'pass:denied-l7',
      'acme-to-acme': 'pass:allowed',
      'initech-to-acme': 'fail:allowed',
      'acme-to-globex': 'pass:refused',
      'umbrella-to-acme': 'error:error',
    });
    expect(run.result.exitCode).to.equal(1);
  });

  it('writes results.json, junit.xml, report.html and the bundle into the run folder', () => {
    const names = reports.files.map((f) => path.relative(run.result.directory, f));
    expect(names).to.deep.equal([
      'results.json',
      'junit.xml',
      'report.html',
      'bulkhead-run-1.tar.gz',
      'bulkhead-run-1.tar.gz.sha256',
    ]);
    for (const f of reports.files) expect(existsSync(f), f).to.be.true;
  });

  it('results.json validates against the committed JSON Schema and reads back', async () => {
    const file = path.join(run.result.directory, 'results.json');
    const ajv = new Ajv2020({ strict: false });
    const validate = ajv.compile(JSON.parse(await readFile(SCHEMA, 'utf8')) as object);
    const value = JSON.parse(await readFile(file, 'utf8')) as unknown;
    expect(validate(value), JSON.stringify(validate.errors)).to.be.true;
    const back = await readResultsFile(file);
    expect(back.summary).to.deep.equal({
      attempts: 5,
      passed: 3,
      failed: 1,
      errors: 1,
      skipped: 0,
      notJudged: 0,
      leaks: 1,
    });
    expect(back.method.scenario.sha256).to.equal(run.scenario.sha256);
    expect(back.scope.tenants).to.deep.equal(['acme', 'globex', 'initech', 'umbrella']);
    expect(back.scope.policies).to.deep.equal(['NetworkPolicy tenant-acme/same-tenant-only']);
  });

  it('keeps every observation and the evidence the verdict rests on', () => {
    const leak = doc.attempts.find((a) => a.id === 'initech-to-acme');
    expect(leak?.leak).to.be.true;
    expect(leak?.observations[0]?.outcome).to.equal('allowed');
    expect(leak?.evidence).to.include({ status: 200 });
    expect(leak?.diagnostics?.reproduce).to.contain('kubectl exec -n tenant-initech');
    const l7 = doc.attempts.find((a) => a.id === 'globex-to-acme');
    expect(l7?.layer).to.equal('l7');
    expect(l7?.observations.map((o) => o.outcome)).to.deep.equal(['denied-l7', 'denied-l7', 'denied-l7']);
    expect(String(l7?.evidence?.body)).to.contain('RBAC: access denied');
  });

  it('runs the built-in suites (one test per attempt) and the user suite through mocha', () => {
    const states = Object.fromEntries(reports.suites.builtin.map((b) => [b.attempt, b.state]));
    expect(states).to.deep.equal({
      'globex-to-acme': 'passed',
      'acme-to-acme': 'passed',
      'initech-to-acme': 'failed',
      'acme-to-globex': 'passed',
      'umbrella-to-acme': 'failed',
    });
    const user = reports.suites.user.map((u) => `${u.state} ${u.title}`);
    expect(user).to.deep.equal([
      'passed globex is refused by Istio authorization',
      'passed acme-to-globex is refused by the network',
      'failed initech is denied at L7 (it is not: the run saw a leak)',
      'failed asks for an attempt that does not exist',
    ]);
    const leakMessage = reports.suites.user[2]?.error?.message ?? '';
    expect(leakMessage).to.contain('expected initech-to-acme to be denied at L7 (Istio authorization)');
    expect(leakMessage).to.contain('observed allowed');
    expect(leakMessage).to.contain('leak');
    expect(leakMessage).to.match(/evidence: status: 200; body: \{"ok":true\}/);
    expect(reports.suites.user[3]?.error?.message).to.contain("did you mean 'globex-to-acme'?");
    expect(reports.suitesPassed).to.be.false;
  });

  it('junit.xml validates against the JUnit XSD', async function () {
    const xml = await readFile(path.join(run.result.directory, 'junit.xml'), 'utf8');
    const verdict = await xsdValidate(xml, XSD);
    if (!verdict) {
      console.log('    (skipped: xmllint is not installed; apt-get install libxml2-utils)');
      this.skip();
    }
    expect(verdict.ok, verdict.output).to.be.true;
    expect(verdict.output).to.contain('validates');
  });

  it('junit.xml: one flat suite per category, failure for the leak, error for the fault, properties and evidence', async () => {
    const xml = await readFile(path.join(run.result.directory, 'junit.xml'), 'utf8');
    expect(xml.match(/<testsuite /g)).to.have.length(3);
    expect(xml).to.contain(
      '<testsuite name="bulkhead.cross-tenant" id="0" tests="4" failures="1" errors="1" skipped="0"',
    );
    expect(xml).to.contain(
      '<testsuite name="bulkhead.intra-tenant" id="1" tests="1" failures="0" errors="0"',
    );
    expect(xml).to.match(
      /<testcase name="initech-to-acme: tenant-initech\/client -&gt; tenant-acme\/api:8080" classname="bulkhead\.cross-tenant\.tenant-initech"/,
    );
    // The leak said once, with what the agent saw in the leaking round.
    expect(xml).to.contain(
      '<failure message="LEAK: expected denied, observed allowed in round 1 (the server answered 200: the request got through to the app)" type="leak">',
    );
    expect(xml).to.not.contain('(leak:');
    // The error's real cause: the deciding observation's reason, not only "the probe failed".
    expect(xml).to.match(
      /<error message="could not be judged: the probe failed in round \d+: the agent session in tenant-umbrella\/client [^"]+ \(expected denied\)" type="harness-fault">/,
    );
    expect(xml).to.contain('<property name="run.complete" value="true"/>');
    expect(xml).to.not.contain('bulkhead.run');
    expect(xml).to.contain('<property name="layer" value="l7"/>');
    expect(xml).to.contain('<property name="scenario.sha256" value="' + run.scenario.sha256 + '"/>');
    expect(xml).to.contain('<property name="istio.version" value="1.29.3"/>');
    expect(xml).to.contain('evidence status: 403');
    // Paths relative to where the command ran, so annotations point at the scenario file.
    expect(xml).to.match(
      /classname="bulkhead\.cross-tenant\.tenant-globex" time="[\d.]+" file="scenario\.yaml" line="\d+"/,
    );
    // The user's suite follows, assertion → failure, an unknown id (a thrown Error) → error.
    expect(xml).to.contain('<testsuite name="suite.payments team" id="2" tests="4" failures="1" errors="1"');
    // The root's time is the run's wall time, not the sum of the attempts' spans.
    const wall = (Date.parse(doc.run.endedAt) - Date.parse(doc.run.startedAt)) / 1000;
    expect(xml).to.match(new RegExp(`^<testsuites [^>]* time="${wall.toFixed(3)}">$`, 'm'));
    // (classname, name) pairs are unique.
    const pairs = [...xml.matchAll(/<testcase name="([^"]*)" classname="([^"]*)"/g)].map(
      (m) => `${m[2]}|${m[1]}`,
    );
    expect(new Set(pairs).size).to.equal(pairs.length);
    // No dots but the category separators in the attempt classnames.
    for (const m of xml.matchAll(/classname="(bulkhead\.[^"]*)"/g))
      expect(m[1]?.split('.')).to.have.length(3);
  });

  it("a --suite file that does not exist is the user's error, raised after the reports are written", async () => {
    const directory = await mkdtemp(path.join(run.scratch, 'other-'));
    let error: unknown;
    await reportRun({
      directory: run.result.directory,
      out: directory,
      scenario: run.scenario,
      suites: ['missing.spec.ts'],
      cwd: run.scratch,
    }).catch((e: unknown) => {
      error = e;
    });
    expect(error).to.be.instanceOf(UserError);
    expect((error as Error).message).to.equal('--suite missing.spec.ts: no such file');
    for (const name of ['results.json', 'junit.xml', 'report.html'])
      expect(existsSync(path.join(directory, name)), name).to.be.true;
  });

  it('the bundle holds results, reports, scenario, manifests, versions and logs, and verifies', async () => {
    const bundle = reports.bundle;
    expect(bundle).to.not.equal(undefined);
    const check = await verifyBundle(bundle!.file);
    expect(check.problems).to.deep.equal([]);
    expect(check.ok).to.be.true;
    // Results (2), reports (2), scenario, policies, the cluster's own policies, versions, meta, logs.
    expect(check.checked).to.equal(10);
    expect(check.sha256).to.equal(bundle!.sha256);
    const sum = await readFile(`${bundle!.file}.sha256`, 'utf8');
    expect(sum).to.equal(`${bundle!.sha256}  bulkhead-run-1.tar.gz\n`);
    const cli = await runCli(['verify-bundle', bundle!.file, '--sha256', bundle!.sha256]);
    expect(cli.code, cli.stdout + cli.stderr).to.equal(0);
    expect(cli.stdout).to.contain('10 files checked against SHA256SUMS');
    expect(cli.stdout).to.contain('OK');
  });
});
