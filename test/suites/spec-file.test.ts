/**
 * suites/isolation.spec.ts under mocha's own command line (`npm run suites`) over a saved
 * results.json, with a user's spec after it: a real child process, as a user would run it.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { expect } from 'chai';

import { buildResults } from '../../harness/results/build-results.js';
import { fakeRun } from '../report/support.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('suites: isolation.spec.ts under the mocha command line', function () {
  this.timeout(60_000);
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-spec-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('one describe per category, one it per attempt; exit code = failures; user specs read the same run', async () => {
    const run = await fakeRun();
    const doc = buildResults({
      records: run.records,
      scenario: run.scenario,
      version: '0.1.0',
    });
    const results = path.join(dir, 'results.json');
    await writeFile(results, JSON.stringify(doc));
    const mine = path.join(dir, 'mine.spec.ts');
    await writeFile(
      mine,
      `import { currentRun, expect } from ${JSON.stringify(path.join(ROOT, 'harness/index.ts'))};
describe('mine', () => {
  it('globex is refused at L7', () => { expect(currentRun().attempt('globex-to-acme')).to.be.deniedAt('l7'); });
});
`,
    );
    const { code, stdout } = await new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile(
        process.execPath,
        [
          path.join(ROOT, 'node_modules/mocha/bin/mocha.js'),
          '--no-config',
          '--node-option',
          'import=tsx',
          '--extension',
          'ts',
          '--reporter',
          'spec',
          'suites/isolation.spec.ts',
          mine,
        ],
        { cwd: ROOT, env: { ...process.env, BULKHEAD_RESULTS: results, NO_COLOR: '1' } },
        (error, out) => {
          resolve({ code: error ? Number(error.code) : 0, stdout: out });
        },
      );
    });
    expect(stdout).to.match(
      /cross-tenant: cross-tenant isolation\n\s+✔ globex-to-acme: tenant-globex\/client -> tenant-acme\/api:8080/,
    );
    expect(stdout).to.match(/intra-tenant: intra-tenant access\n\s+✔ acme-to-acme/);
    expect(stdout).to.match(/\d\) initech-to-acme: tenant-initech\/client -> tenant-acme\/api:8080/);
    expect(stdout).to.contain('✔ globex is refused at L7');
    expect(stdout).to.contain('4 passing');
    expect(stdout).to.contain('2 failing');
    expect(stdout).to.contain('LEAK: expected denied, observed allowed');
    expect(stdout).to.contain('HarnessFault: umbrella-to-acme: could not be judged');
    expect(code).to.equal(2);
  });
});
