/**
 * The shared writers and their contracts: the committed results.json schema matches the zod
 * source, every command's JUnit (plan, lint, run, diff) validates against the one XSD, and the
 * evidence bundle detects an altered, removed or added file.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { expect } from 'chai';

import { MANIFEST_NAME, verifyBundle, writeBundle } from '../../harness/report/bundle.js';
import { RESULTS_SCHEMA_FILE, resultsSchemaText } from '../../harness/results/write-results-schema.js';
import { runCli } from '../support/cli.js';
import { xsdValidate } from './support.js';

const XSD = fileURLToPath(new URL('../../harness/report/schemas/junit.xsd', import.meta.url));
const SCENARIO = fileURLToPath(new URL('../../scenarios/hard-isolation.yaml', import.meta.url));
const run = promisify(execFile);

describe('report: formats', function () {
  this.timeout(60_000);

  it('the committed results.json JSON Schema is the one the zod schema generates (npm run schema:results)', async () => {
    // Compared as data: the file is also formatted by prettier with the rest of the repository.
    expect(JSON.parse(await readFile(RESULTS_SCHEMA_FILE, 'utf8'))).to.deep.equal(
      JSON.parse(resultsSchemaText()),
    );
  });

  it('the XSD rejects what CI consumers would misread (it is not a rubber stamp)', async function () {
    const bad = await xsdValidate(
      '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites><testsuite name="x" tests="-1"><testcase classname="c"/></testsuite></testsuites>\n',
      XSD,
    );
    if (!bad) {
      console.log('    (skipped: xmllint is not installed; apt-get install libxml2-utils)');
      this.skip();
    }
    expect(bad.ok).to.be.false;
    expect(bad.output).to.contain("attribute 'name' is required");
  });

  for (const [command, args] of [
    ['plan', ['plan', '-f', SCENARIO, '-o', 'junit']],
    ['lint', ['lint', '-f', SCENARIO, '-o', 'junit']],
  ] as const) {
    it(`bulkhead ${command} -o junit validates against the same XSD (one writer for every command)`, async function () {
      const r = await runCli(args);
      expect(r.stdout).to.match(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites /);
      const verdict = await xsdValidate(r.stdout, XSD);
      if (!verdict) {
        console.log('    (skipped: xmllint is not installed; apt-get install libxml2-utils)');
        this.skip();
      }
      expect(verdict.ok, verdict.output).to.be.true;
    });
  }

  describe('evidence bundle', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-bundle-test-'));
    });
    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    const files = [
      { name: 'results/results.json', content: '{"v":1}\n' },
      { name: 'reports/report.html', content: '<!DOCTYPE html>\n' },
    ];

    /** Rewrites an archive after `change` edits its extracted tree, as a tamperer would. */
    async function tamper(bundle: string, change: (root: string) => Promise<void>): Promise<string> {
      const tree = path.join(dir, 'tree');
      await mkdir(tree, { recursive: true });
      await run('tar', ['-xzf', bundle, '-C', tree]);
      await change(path.join(tree, 'bulkhead-r1'));
      const out = path.join(dir, 'tampered.tar.gz');
      await run('tar', ['-czf', out, '-C', tree, 'bulkhead-r1']);
      return out;
    }

    it('writes SHA256SUMS that sha256sum -c accepts, and verifies', async () => {
      const bundle = await writeBundle({ file: path.join(dir, 'b.tar.gz'), root: 'bulkhead-r1', files });
      expect(bundle.entries).to.equal(3);
      const check = await verifyBundle(bundle.file);
      expect(check).to.deep.include({ ok: true, checked: 2, root: 'bulkhead-r1', sha256: bundle.sha256 });
      const tree = path.join(dir, 'x');
      await mkdir(tree);
      await run('tar', ['-xzf', bundle.file, '-C', tree]);
      const { stdout } = await run('sha256sum', ['-c', MANIFEST_NAME], {
        cwd: path.join(tree, 'bulkhead-r1'),
      });
      expect(stdout).to.contain('results/results.json: OK');
    });

    it('the same inputs give the same archive (fixed mtimes and order)', async () => {
      const a = await writeBundle({ file: path.join(dir, 'a.tar.gz'), root: 'bulkhead-r1', files });
      const b = await writeBundle({
        file: path.join(dir, 'b.tar.gz'),
        root: 'bulkhead-r1',
        files: [...files].reverse(),
      });
      expect(a.sha256).to.equal(b.sha256);
    });

    it('detects an altered, a removed and an added file, and bulkhead verify-bundle exits 1', async () => {
      const bundle = await writeBundle({ file: path.join(dir, 'b.tar.gz'), root: 'bulkhead-r1', files });
      const altered = await tamper(bundle.file, async (root) => {
        await writeFile(path.join(root, 'results', 'results.json'), '{"v":1,"all":"fine"}\n');
        await rm(path.join(root, 'reports', 'report.html'));
        await writeFile(path.join(root, 'extra.txt'), 'added later\n');
      });
      const check = await verifyBundle(altered);
      expect(check.ok).to.be.false;
      expect(check.problems).to.have.length(3);
      expect(check.problems.join('\n')).to.match(/results\/results.json was altered: SHA-256 [0-9a-f]{64}/);
      expect(check.problems).to.include('reports/report.html is listed in SHA256SUMS but missing');
      expect(check.problems).to.include('bulkhead-r1/extra.txt is not in SHA256SUMS');
      const cli = await runCli(['verify-bundle', altered]);
      expect(cli.code).to.equal(1);
      expect(cli.stdout).to.contain('FAIL results/results.json was altered');
    });

    it('a wrong --sha256 for the archive, a file that is no archive, and a missing file', async () => {
      const bundle = await writeBundle({ file: path.join(dir, 'b.tar.gz'), root: 'bulkhead-r1', files });
      const wrong = await runCli(['verify-bundle', bundle.file, '--sha256', '0'.repeat(64)]);
      expect(wrong.code).to.equal(1);
      expect(wrong.stdout).to.contain(`the archive's SHA-256 is ${bundle.sha256}, not ${'0'.repeat(64)}`);
      const junk = path.join(dir, 'junk.tar.gz');
      await writeFile(junk, 'not an archive');
      const notArchive = await verifyBundle(junk);
      expect(notArchive.ok).to.be.false;
      const missing = await runCli(['verify-bundle', path.join(dir, 'none.tar.gz')]);
      expect(missing.code).to.equal(2);
      expect(missing.stderr).to.contain('none.tar.gz: no such file');
    });

    it('refuses entry names that would escape the bundle folder', async () => {
      for (const name of ['../evil', '/etc/passwd', 'a/../../b', MANIFEST_NAME]) {
        let message = '';
        try {
          await writeBundle({ file: path.join(dir, 'b.tar.gz'), root: 'r', files: [{ name, content: 'x' }] });
        } catch (error) {
          message = (error as Error).message;
        }
        expect(message, name).to.contain('not allowed');
      }
    });
  });
});
