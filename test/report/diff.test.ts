/**
 * `bulkhead diff`: changes per attempt between two results.json files, as table, JSON and
 * JUnit, exit 1 on a must-deny regression, exit 2 with file:line for a file that is not one.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { expect } from 'chai';

import { buildResults } from '../../harness/results/build-results.js';
import { diffResults } from '../../harness/report/diff.js';
import type { AttemptEntry, ResultsDocument } from '../../harness/results/results-model.js';
import { runCli } from '../support/cli.js';
import { fakeRun } from './support.js';
import { xsdValidate } from './support.js';

const XSD = fileURLToPath(new URL('../../harness/report/schemas/junit.xsd', import.meta.url));

function withAttempt(doc: ResultsDocument, id: string, change: Partial<AttemptEntry>): ResultsDocument {
  return { ...doc, attempts: doc.attempts.map((a) => (a.id === id ? { ...a, ...change } : a)) };
}

describe('report: diff of two runs', function () {
  this.timeout(60_000);
  let before: ResultsDocument;
  let dir: string;

  beforeEach(async () => {
    const run = await fakeRun();
    const doc = buildResults({
      records: run.records,
      scenario: run.scenario,
      version: '0.1.0',
    });
    // "before": the same run where the leak had not happened yet (initech was refused at L7).
    before = withAttempt(doc, 'initech-to-acme', {
      verdict: 'pass',
      outcome: 'denied-l7',
      layer: 'l7',
      leak: false,
    });
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-diff-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function files(a: ResultsDocument, b: ResultsDocument): Promise<[string, string]> {
    const oldFile = path.join(dir, 'old.json');
    const newFile = path.join(dir, 'new.json');
    await writeFile(oldFile, JSON.stringify(a, null, 2));
    await writeFile(newFile, JSON.stringify(b, null, 2));
    return [oldFile, newFile];
  }

  it('classifies newly allowed, layer changed, newly denied, new errors, added and removed', () => {
    let after = withAttempt(before, 'initech-to-acme', {
      verdict: 'fail',
      outcome: 'allowed',
      layer: 'none',
      leak: true,
    });
    after = withAttempt(after, 'globex-to-acme', { outcome: 'denied-l4', layer: 'l4' });
    after = withAttempt(after, 'acme-to-acme', { verdict: 'fail', outcome: 'denied-l7', layer: 'l7' });
    after = withAttempt(after, 'acme-to-globex', { verdict: 'error', outcome: 'error', layer: 'none' });
    after = {
      ...after,
      attempts: [
        ...after.attempts.filter((a) => a.id !== 'umbrella-to-acme'),
        { ...after.attempts[0]!, id: 'new-attempt' },
      ],
    };
    const diff = diffResults(before, after);
    expect(diff.changes.map((c) => `${c.id} ${c.kind}${c.regression ? ' REGRESSION' : ''}`)).to.deep.equal([
      'initech-to-acme newly-allowed REGRESSION',
      'acme-to-acme newly-denied',
      'globex-to-acme layer-changed',
      'acme-to-globex new-error',
      'new-attempt added',
      'umbrella-to-acme removed',
    ]);
    expect(diff.regressions).to.equal(1);
    expect(diff.unchanged).to.equal(0);
  });

  it('finds nothing between a run and itself', () => {
    const diff = diffResults(before, before);
    expect(diff.changes).to.deep.equal([]);
    expect(diff.unchanged).to.equal(5);
  });

  it('bulkhead diff: table, exit 1 on a must-deny regression', async () => {
    const after = withAttempt(before, 'initech-to-acme', {
      verdict: 'fail',
      outcome: 'allowed',
      layer: 'none',
      leak: true,
    });
    const [oldFile, newFile] = await files(before, after);
    const r = await runCli(['diff', oldFile, newFile]);
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stdout).to.match(
      /REGRESSION\s+initech-to-acme\s+newly-allowed\s+denied-l7 \[pass\]\s+allowed \[fail\]\s+denied/,
    );
    expect(r.stdout).to.contain('1 changed, 4 unchanged, 1 must-deny regression');
  });

  it('bulkhead diff: exit 0 when only allowed paths or layers changed; JSON and JUnit outputs', async () => {
    const after = withAttempt(before, 'globex-to-acme', { outcome: 'denied-l4', layer: 'l4' });
    const [oldFile, newFile] = await files(before, after);
    const json = await runCli(['diff', oldFile, newFile, '-o', 'json']);
    expect(json.code, json.stderr).to.equal(0);
    const parsed = JSON.parse(json.stdout) as { kind: string; changes: { id: string; kind: string }[] };
    expect(parsed.kind).to.equal('bulkhead-diff');
    expect(parsed.changes).to.have.length(1);
    expect(parsed.changes[0]).to.include({ id: 'globex-to-acme', kind: 'layer-changed' });

    const regressed = withAttempt(before, 'initech-to-acme', {
      verdict: 'fail',
      outcome: 'allowed',
      layer: 'none',
      leak: true,
    });
    const [o2, n2] = await files(before, regressed);
    const junit = await runCli(['diff', o2, n2, '-o', 'junit']);
    expect(junit.code).to.equal(1);
    expect(junit.stdout).to.contain(
      '<failure message="must-deny regression: denied-l7 [pass] -&gt; allowed (leak) [fail]"',
    );
    const verdict = await xsdValidate(junit.stdout, XSD);
    if (verdict) expect(verdict.ok, verdict.output).to.be.true;
  });

  it('bulkhead diff: a file that is not a results.json is bad input, located by line and field', async () => {
    const broken = JSON.parse(JSON.stringify(before)) as { attempts: { verdict: string }[] };
    broken.attempts[1]!.verdict = 'maybe';
    const [oldFile, newFile] = await files(before, before);
    await writeFile(newFile, JSON.stringify(broken, null, 2));
    const r = await runCli(['diff', oldFile, newFile]);
    expect(r.code).to.equal(2);
    const line = (await readFile(newFile, 'utf8')).split('\n').findIndex((l) => l.includes('"maybe"')) + 1;
    expect(r.stderr).to.contain(`${newFile}:${line}:`);
    expect(r.stderr).to.contain('attempts[1].verdict');
    expect(r.stderr).to.not.contain('    at ');

    const missing = await runCli(['diff', oldFile, path.join(dir, 'nope.json')]);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.contain('nope.json: no such file');

    await writeFile(newFile, JSON.stringify({ ...before, v: 2 }));
    const future = await runCli(['diff', oldFile, newFile]);
    expect(future.code).to.equal(2);
    expect(future.stderr).to.contain('results.json version 2 is not supported (this bulkhead reads 1)');
  });
});
