/**
 * The chai plugin's verdicts and messages on judged attempts, and the suite runner: one test per
 * attempt grouped by category, passing exactly when the runner's verdict is pass, and users'
 * spec files reading the same run.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { AssertionError, expect, use } from 'chai';

import type { AttemptEntry, ResultsDocument } from '../../harness/results/results-model.js';
import { bulkheadChai, HarnessFault } from '../../suites/chai-bulkhead.js';
import { currentRun } from '../../suites/context.js';
import { runSuites } from '../../suites/run-suites.js';

use(bulkheadChai);

const PUBLIC_API = fileURLToPath(new URL('../../harness/index.ts', import.meta.url));

function entry(id: string, change: Partial<AttemptEntry> = {}): AttemptEntry {
  return {
    id,
    category: 'cross-tenant',
    kind: 'http',
    from: { namespace: 'tenant-globex', name: 'client' },
    to: { namespace: 'tenant-acme', name: 'api' },
    port: 8080,
    target: 'tenant-acme/api:8080',
    expect: 'denied',
    expectedOutcomes: ['denied-l7', 'denied-l4', 'reset', 'refused'],
    mustDeny: true,
    verdict: 'pass',
    outcome: 'denied-l7',
    layer: 'l7',
    rounds: 3,
    stable: true,
    leak: false,
    reason: 'denied-l7 in the last 3 rounds',
    observations: [1, 2, 3].map((round) => ({
      round,
      outcome: 'denied-l7' as const,
      at: '2026-11-24T12:00:00Z',
    })),
    evidence: { status: 403, body: 'RBAC: access denied', elapsedMs: 3 },
    origin: { file: 'scenario.yaml', line: 10 },
    ...change,
  };
}

function message(fn: () => void): string {
  try {
    fn();
  } catch (error) {
    expect(error).to.be.instanceOf(AssertionError);
    return (error as Error).message;
  }
  expect.fail('the assertion held');
}

describe('suites: chai assertions on judged attempts', () => {
  const l7 = entry('globex-to-acme');
  const leak = entry('initech-to-acme', {
    verdict: 'fail',
    outcome: 'allowed',
    layer: 'none',
    leak: true,
    reason: 'leak: expected denied, observed allowed in round 1',
    evidence: { status: 200, body: '{"ok":true}' },
  });
  const broken = entry('umbrella-to-acme', {
    verdict: 'error',
    outcome: 'error',
    layer: 'none',
    reason: 'the probe failed in round 3',
  });

  it('deniedAt holds for the layer that refused, and not for another', () => {
    expect(l7).to.be.deniedAt('l7');
    expect(l7).to.not.be.deniedAt('l4');
    const text = message(() => expect(l7).to.be.deniedAt('l4'));
    expect(text).to.equal(
      'expected globex-to-acme to be denied at L4 (network policy), but observed denied-l7 (L7 (Istio authorization)) over 3 round(s); scenario expects denied; evidence: status: 403; body: RBAC: access denied; elapsedMs: 3',
    );
  });

  it('a leak is never denied, whatever the last rounds showed', () => {
    const seenDeniedLater = { ...leak, outcome: 'denied-l7' as const, layer: 'l7' as const };
    const text = message(() => expect(seenDeniedLater).to.be.deniedAt('l7'));
    expect(text).to.contain('including an allowed round (leak)');
    expect(() => expect(leak).to.be.denied()).to.throw(
      AssertionError,
      /expected initech-to-acme to be denied, but observed allowed/,
    );
    expect(leak).to.be.allowed();
  });

  it('holdItsExpectation follows the verdict and says why', () => {
    expect(l7).to.holdItsExpectation();
    expect(message(() => expect(leak).to.holdItsExpectation())).to.match(
      /^initech-to-acme: LEAK: expected denied, observed allowed in round 1; observed allowed/,
    );
  });

  it('an attempt that could not be judged satisfies no assertion: it is a harness fault, not a failure', () => {
    for (const check of [
      () => expect(broken).to.be.denied(),
      () => expect(broken).to.not.be.allowed(),
      () => expect(broken).to.holdItsExpectation(),
    ]) {
      expect(check).to.throw(
        HarnessFault,
        'umbrella-to-acme: could not be judged: the probe failed in round 3',
      );
    }
  });

  it('something that is not an attempt result is a type error naming the likely cause', () => {
    expect(() => expect(undefined).to.be.denied()).to.throw(TypeError, 'undefined (no such attempt?)');
  });
});

describe('suites: the programmatic mocha runner', function () {
  this.timeout(30_000);
  const doc = {
    v: 1,
    kind: 'bulkhead-results',
    run: {
      id: 'r1',
      startedAt: '',
      endedAt: '',
      exitCode: 1,
      interrupted: false,
      kept: false,
      appliedPolicies: [],
      trigger: 'manual',
    },
    attempts: [
      entry('globex-to-acme'),
      entry('acme-to-acme', {
        category: 'intra-tenant',
        expect: 'allowed',
        outcome: 'allowed',
        layer: 'none',
        mustDeny: false,
      }),
      entry('initech-to-acme', { verdict: 'fail', outcome: 'allowed', layer: 'none', leak: true }),
      entry('skipped-one', {
        verdict: 'skipped',
        rounds: 0,
        reason: 'not attempted: the run was interrupted first',
      }),
    ],
  } as unknown as ResultsDocument;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-suites-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('one test per attempt; each passes exactly when the verdict is pass; skipped stays pending', async () => {
    const result = await runSuites({ run: doc });
    expect(result.builtin.map((b) => `${b.attempt}:${b.state}`)).to.deep.equal([
      'globex-to-acme:passed',
      'initech-to-acme:failed',
      'skipped-one:pending',
      'acme-to-acme:passed',
    ]);
    expect(result.failures).to.equal(1);
    expect(result.passed).to.be.false;
    expect(result.user).to.deep.equal([]);
  });

  it("runs a user's spec over the same run and leaves no run set afterwards", async () => {
    const spec = path.join(dir, 'mine.spec.ts');
    await writeFile(
      spec,
      `import { currentRun, expect } from ${JSON.stringify(PUBLIC_API)};
describe('mine', () => {
  it('counts the attempts', () => { expect(currentRun().attempts({ category: 'cross-tenant' })).to.have.length(3); });
  it('globex is denied at L7', () => { expect(currentRun().attempt('globex-to-acme')).to.be.deniedAt('l7'); });
});
`,
    );
    const result = await runSuites({
      run: { ...doc, attempts: doc.attempts.slice(0, 2) },
      specFiles: [spec],
    });
    expect(result.user.map((u) => `${u.suite} / ${u.title}: ${u.state}`)).to.deep.equal([
      'mine / counts the attempts: failed',
      'mine / globex is denied at L7: passed',
    ]);
    expect(result.user[0]?.error?.message).to.match(/to have a length of 3 but got 1/);
    expect(() => currentRun()).to.throw('no bulkhead run is under test');
  });

  it('a --suite file that does not exist or does not load is the user’s error', async () => {
    let missing = '';
    await runSuites({ run: doc, specFiles: ['nope.spec.ts'], cwd: dir }).catch((e: unknown) => {
      missing = (e as Error).message;
    });
    expect(missing).to.equal('--suite nope.spec.ts: no such file');
    const broken = path.join(dir, 'broken.spec.ts');
    await writeFile(broken, "import { nothing } from './not-there.js';\nnothing();\n");
    let failed = '';
    await runSuites({ run: doc, specFiles: [broken] }).catch((e: unknown) => {
      failed = (e as Error).message;
    });
    expect(failed).to.contain('a --suite file could not be loaded');
  });
});
