/**
 * Version matrices over CI jobs: `run --istio-matrix` and `upgrade-check --matrix ... --matrix-format`
 * print a matrix GitHub Actions (JSON) and GitLab (YAML, parsed with the real `yaml` package) read,
 * naming every cell, without a Docker engine, a network or a cluster; `bulkhead matrix-report`
 * merges cell folders written apart (docs/samples/results.json as each run cell's results), marks
 * a missing cell and sets the exit code, fails on a failed cell, and locates an unreadable one.
 */
import dns from 'node:dns';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';
import { parse } from 'yaml';

import type { ResultsDocument } from '../../harness/results/results-model.js';
import { runCli } from '../support/cli.js';
import { repoRoot } from '../support/scenarios.js';

const SAMPLE = path.join(repoRoot, 'docs', 'samples', 'results.json');

async function sample(exitCode: 0 | 1 | 2): Promise<ResultsDocument> {
  const doc = JSON.parse(await readFile(SAMPLE, 'utf8')) as ResultsDocument;
  const held = { attempts: 5, passed: 5, failed: 0, errors: 0, skipped: 0, leaks: 0 };
  return {
    ...doc,
    run: { ...doc.run, exitCode },
    summary: exitCode === 0 ? held : doc.summary,
  };
}

/** What upgrade-check writes (harness/upgrade/report.ts crossPhaseJson), the fields a merge reads. */
function upgradeJson(exitCode: number, leaks: number, transitionLeaks?: readonly number[]): string {
  const summary = { attempts: 5, passed: 5 - leaks, failed: leaks, errors: 0, skipped: 0, leaks };
  return JSON.stringify({
    v: 1,
    kind: 'bulkhead-upgrade-check',
    exitCode,
    phases: ['before', 'mixed', 'after'].map((name) => ({ name, exitCode, summary })),
    changed: [],
    mustDenyFailures: [],
    ...(transitionLeaks
      ? {
          transitions: transitionLeaks.map((leakCount, i) => ({
            into: ['mixed', 'after'][i],
            name: ['control-plane', 'workloads'][i],
            leakCount,
            leaks: [],
          })),
        }
      : {}),
    faults: [],
    diffs: [],
    attempts: [],
  });
}

describe('cli: version matrices spread over CI jobs', function () {
  this.timeout(60_000);
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-matrix-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('printing', () => {
    const proto = net.Socket.prototype;
    const saved = {
      connect: Reflect.get(proto, 'connect') as unknown,
      lookup: Reflect.get(dns, 'lookup') as unknown,
      path: process.env.PATH,
    };
    const touched: string[] = [];
    beforeEach(() => {
      touched.length = 0;
      // Any socket or name lookup while printing is recorded and refused; no docker or kind on PATH.
      Reflect.set(proto, 'connect', (...args: unknown[]) => {
        touched.push(`connect ${JSON.stringify(args[0])}`);
        throw new Error('printing a matrix must not open a socket');
      });
      Reflect.set(dns, 'lookup', (host: string) => {
        touched.push(`lookup ${host}`);
        throw new Error('printing a matrix must not resolve a name');
      });
      process.env.PATH = path.join(dir, 'no-tools');
    });
    afterEach(() => {
      Reflect.set(proto, 'connect', saved.connect);
      Reflect.set(dns, 'lookup', saved.lookup);
      process.env.PATH = saved.path;
    });

    it('run --istio-matrix: GitHub strategy.matrix JSON naming every cell with its versions, offline', async () => {
      const r = await runCli([
        'run',
        '-f',
        'scenarios/hard-isolation.yaml',
        '--istio-matrix',
        '1.29.6, 1.30.3',
        '--kubernetes',
        '1.34.0',
      ]);
      expect(r.stderr).to.equal('');
      expect(r.code).to.equal(0);
      expect(r.stdout.trim().split('\n'), 'one line, for $GITHUB_OUTPUT').to.have.length(1);
      const matrix = JSON.parse(r.stdout) as { include: Record<string, string>[] };
      expect(matrix.include).to.deep.equal([
        {
          cell: 'istio-1.29.6',
          istio: '1.29.6',
          kubernetes: '1.34.0',
          calico: 'v3.31.2',
          expect: '1.29.6,1.30.3',
        },
        {
          cell: 'istio-1.30.3',
          istio: '1.30.3',
          kubernetes: '1.34.0',
          calico: 'v3.31.2',
          expect: '1.29.6,1.30.3',
        },
      ]);
      expect(touched).to.deep.equal([]);
    });

    it('upgrade-check --matrix from:to --matrix-format gitlab: parallel:matrix YAML, one cell per pair, offline', async () => {
      const r = await runCli([
        'upgrade-check',
        '-f',
        'scenarios/hard-isolation.yaml',
        '--matrix',
        '1.29.6:1.30.3,1.30.3:1.30.4',
        '--kubernetes',
        '1.34.0',
        '--matrix-format',
        'gitlab',
      ]);
      expect(r.stderr).to.equal('');
      expect(r.code).to.equal(0);
      const job = parse(r.stdout) as { parallel: { matrix: Record<string, string>[] } };
      expect(job.parallel.matrix.map((c) => [c.BULKHEAD_CELL, c.BULKHEAD_FROM, c.BULKHEAD_TO])).to.deep.equal(
        [
          ['upgrade-1.29.6-to-1.30.3', '1.29.6', '1.30.3'],
          ['upgrade-1.30.3-to-1.30.4', '1.30.3', '1.30.4'],
        ],
      );
      expect(job.parallel.matrix[0]).to.include({
        BULKHEAD_KUBERNETES: '1.34.0',
        BULKHEAD_EXPECT: '1.29.6:1.30.3,1.30.3:1.30.4',
      });
      expect(touched).to.deep.equal([]);
    });

    it('bad cells are one sentence and exit 2: unknown versions, unsupported pairs, mixed or duplicate cells', async () => {
      const cases: [string[], RegExp][] = [
        [
          ['run', '-f', 'x', '--istio-matrix', '1.25.1'],
          /^error: Istio 1\.25\.1 is not a release bulkhead knows/,
        ],
        [['run', '-f', 'x', '--istio-matrix', '1.30.3,1.30.3'], /names the cell istio-1\.30\.3 twice/],
        [['run', '-f', 'x', '--istio-matrix', '1.29.6:1.30.3'], /takes Istio versions/],
        [['run', '-f', 'x', '--istio-matrix', 'latest'], /'latest' is not a version like 1\.30\.3/],
        [['run', '-f', 'x', '--matrix-format', 'gitlab'], /give --istio-matrix too/],
        [
          ['upgrade-check', '-f', 'x', '--matrix', '1.30.3:1.29.6', '--matrix-format', 'github'],
          /is not newer than/,
        ],
        [
          ['upgrade-check', '-f', 'x', '--matrix', '1.29.6:1.30.3,1.30.4', '--matrix-format', 'github'],
          /mixes from:to pairs/,
        ],
        [['upgrade-check', '-f', 'x', '--matrix', '1.29.6:1.30.3'], /add --matrix-format/],
      ];
      for (const [args, message] of cases) {
        const r = await runCli(args);
        expect(r.code, args.join(' ')).to.equal(2);
        expect(r.stdout, args.join(' ')).to.equal('');
        expect(r.stderr.trim().split('\n'), args.join(' ')).to.have.length(1);
        expect(r.stderr, args.join(' ')).to.match(message);
      }
      expect(touched).to.deep.equal([]);
    });
  });

  describe('matrix-report', () => {
    /** Writes one cell's folder as its job would have uploaded it, each under its own artifact. */
    async function cell(
      id: string,
      file: 'results.json' | 'upgrade-check.json',
      text: string,
    ): Promise<string> {
      const folder = path.join(dir, 'artifacts', id);
      await mkdir(folder, { recursive: true });
      await writeFile(path.join(folder, file), text);
      return path.relative(dir, folder);
    }

    it('merges run cells from separate folders into one table, JSON, JUnit and HTML; exit 0 when all held', async () => {
      const a = await cell('istio-1.29.6', 'results.json', JSON.stringify(await sample(0)));
      const b = await cell('istio-1.30.3', 'results.json', JSON.stringify(await sample(0)));
      const r = await runCli(['matrix-report', a, b, '--expect', '1.29.6,1.30.3', '--out', 'merged'], dir);
      expect(r.stderr).to.equal('');
      expect(r.code).to.equal(0);
      expect(r.stdout).to.match(/^istio-1\.29\.6\s+held\s+5\s+0\s+0\s+0/m);
      expect(r.stdout).to.match(/^istio-1\.30\.3\s+held\s+5/m);
      expect(r.stdout).to.contain('2 cells: 2 held, 0 failed, 0 fault, 0 missing');
      const json = JSON.parse(await readFile(path.join(dir, 'merged', 'matrix-report.json'), 'utf8')) as {
        exitCode: number;
        cells: { id: string; state: string; kind: string }[];
      };
      expect(json.exitCode).to.equal(0);
      expect(json.cells.map((c) => `${c.id} ${c.state} ${c.kind}`)).to.deep.equal([
        'istio-1.29.6 held run',
        'istio-1.30.3 held run',
      ]);
      const junit = await readFile(path.join(dir, 'merged', 'matrix-report.xml'), 'utf8');
      expect(junit).to.match(/<testsuite name="bulkhead.matrix" id="0" tests="2" failures="0" errors="0"/);
      const html = await readFile(path.join(dir, 'merged', 'matrix-report.html'), 'utf8');
      expect(html).to.contain('<td>istio-1.30.3</td>');
    });

    it('a cell of --expect with no folder is MISSING and exits 2; a failed cell exits 1 and is a JUnit failure', async () => {
      const a = await cell('istio-1.29.6', 'results.json', JSON.stringify(await sample(0)));
      const missing = await runCli(['matrix-report', a, '--expect', '1.29.6,1.30.3', '--out', 'm'], dir);
      expect(missing.code).to.equal(2);
      expect(missing.stdout).to.match(/^istio-1\.30\.3\s+MISSING\s+-\s+-\s+-\s+-\s+no results folder/m);
      const junit = await readFile(path.join(dir, 'm', 'matrix-report.xml'), 'utf8');
      expect(junit).to.match(/<error message="cell istio-1\.30\.3 has no results folder/);

      const b = await cell('istio-1.30.3', 'results.json', JSON.stringify(await sample(1)));
      const failed = await runCli(['matrix-report', a, b, '--expect', '1.29.6,1.30.3'], dir);
      expect(failed.code).to.equal(1);
      expect(failed.stdout).to.match(/^istio-1\.30\.3\s+FAILED\s+5\s+1\s+1\s+1/m);
      // Without --expect the folders are the matrix: nothing is missing, the failure still fails.
      const given = await runCli(['matrix-report', b, a], dir);
      expect(given.code).to.equal(1);
      expect(given.stdout.indexOf('istio-1.29.6')).to.be.lessThan(given.stdout.indexOf('istio-1.30.3'));
    });

    it('with --expect and no artifacts at all, every cell is MISSING (exit 2), not an error about the glob', async () => {
      // A shell leaves an unmatched glob as it is: the path then does not exist.
      const r = await runCli(
        ['matrix-report', 'nothing/*', '--expect', '1.29.6,1.30.3', '--out', 'none'],
        dir,
      );
      expect(r.code).to.equal(2);
      expect(r.stderr).to.equal('warning: nothing/*: no such file or folder; no cell read from it\n');
      expect(r.stdout).to.match(/^istio-1\.29\.6\s+MISSING/m);
      expect(r.stdout).to.match(/^istio-1\.30\.3\s+MISSING/m);
      const json = JSON.parse(await readFile(path.join(dir, 'none', 'matrix-report.json'), 'utf8')) as {
        missing: string[];
      };
      expect(json.missing).to.deep.equal(['istio-1.29.6', 'istio-1.30.3']);
      // No folder at all is the same; without --expect there is nothing to report, so it is refused.
      const bare = await runCli(['matrix-report', '--expect', '1.29.6'], dir);
      expect(bare.code).to.equal(2);
      expect(bare.stdout).to.match(/^istio-1\.29\.6\s+MISSING/m);
      const neither = await runCli(['matrix-report'], dir);
      expect(neither.code).to.equal(2);
      expect(neither.stderr).to.contain('--expect');
      // Without --expect a path that does not exist is still an error.
      const stray = await runCli(['matrix-report', 'nothing/*'], dir);
      expect(stray.code).to.equal(2);
      expect(stray.stderr).to.contain('error: nothing/*');
    });

    it('upgrade cells merge from upgrade-check.json; a fault is exit 2, a failure outranks a missing cell', async () => {
      const a = await cell('upgrade-1.29.6-to-1.30.3', 'upgrade-check.json', upgradeJson(0, 0));
      const b = await cell('upgrade-1.30.3-to-1.30.4', 'upgrade-check.json', upgradeJson(2, 0));
      const spec = '1.29.6:1.30.3,1.30.3:1.30.4,1.28.6:1.29.6';
      const fault = await runCli(['matrix-report', a, b, '--expect', spec], dir);
      expect(fault.code).to.equal(2);
      expect(fault.stdout).to.match(/^upgrade-1\.29\.6-to-1\.30\.3\s+held\s+15\s+0/m);
      expect(fault.stdout).to.match(/^upgrade-1\.30\.3-to-1\.30\.4\s+FAULT/m);
      expect(fault.stdout).to.match(/^upgrade-1\.28\.6-to-1\.29\.6\s+MISSING/m);
      const c = await cell('upgrade-1.30.3-to-1.30.4', 'upgrade-check.json', upgradeJson(1, 1));
      const failed = await runCli(['matrix-report', a, c, '--expect', spec], dir);
      expect(failed.code).to.equal(1);
      expect(failed.stdout).to.match(/^upgrade-1\.30\.3-to-1\.30\.4\s+FAILED\s+15\s+3\s+0\s+3/m);
    });

    it("an upgrade cell's leaks include those seen during its transitions, in every format", async () => {
      // Every phase held; the control plane's rollout leaked twice: exit 1 and 2 leaks, not 0.
      const a = await cell('upgrade-1.29.6-to-1.30.3', 'upgrade-check.json', upgradeJson(1, 0, [2, 0]));
      const r = await runCli(['matrix-report', a, '--out', 'm'], dir);
      expect(r.code, r.stderr).to.equal(1);
      expect(r.stdout).to.match(/^upgrade-1\.29\.6-to-1\.30\.3\s+FAILED\s+15\s+0\s+0\s+2\s/m);
      const json = JSON.parse(await readFile(path.join(dir, 'm', 'matrix-report.json'), 'utf8')) as {
        cells: { leaks: number; transitionLeaks: number }[];
      };
      expect(json.cells[0]).to.include({ leaks: 2, transitionLeaks: 2 });
      const junit = await readFile(path.join(dir, 'm', 'matrix-report.xml'), 'utf8');
      expect(junit).to.contain('2 leaks (2 during upgrade transitions)');
    });

    it('an unreadable cell is a located error (exit 2, nothing merged); so is a folder outside --expect', async () => {
      const a = await cell('istio-1.29.6', 'results.json', JSON.stringify(await sample(0)));
      const broken = await cell('istio-1.30.3', 'results.json', '{"v":1,"kind":"bulkhead-results"}\n');
      const r = await runCli(['matrix-report', a, broken, '--out', 'm'], dir);
      expect(r.code).to.equal(2);
      expect(r.stdout).to.equal('');
      expect(r.stderr).to.contain(`error: ${path.join(broken, 'results.json')}:1:`);
      const empty = path.relative(dir, path.join(dir, 'artifacts', 'istio-1.28.6'));
      await mkdir(path.join(dir, empty));
      const none = await runCli(['matrix-report', empty], dir);
      expect(none.code).to.equal(2);
      expect(none.stderr).to.contain(`error: ${path.join(empty, 'results.json')}: no such file`);
      // An upgrade-check.json that cannot be read is the error, not a fall-back to results.json.
      await mkdir(path.join(dir, a, 'upgrade-check.json'));
      const folder = await runCli(['matrix-report', a], dir);
      expect(folder.code).to.equal(2);
      expect(folder.stderr).to.contain(
        `error: ${path.join(a, 'upgrade-check.json')}: cannot read: it is a folder`,
      );
      await rm(path.join(dir, a, 'upgrade-check.json'), { recursive: true });
      const stray = await runCli(['matrix-report', a, '--expect', '1.30.3'], dir);
      expect(stray.code).to.equal(2);
      expect(stray.stderr).to.contain('cell istio-1.29.6 is not in the expected matrix (istio-1.30.3)');
    });
  });
});
