/**
 * docs/samples/: the sample reports the README links are what `npm run samples` makes today. The
 * script's real run against the fake API server is made again into a temporary folder, and every
 * file must equal the committed one; a change to the reports (or to what a run records) shows up
 * here until the samples are made again.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { makeSamples, SAMPLE_FILES, SAMPLES_DIR, STORY } from '../../scripts/sample-reports.js';
import { repoRoot } from '../support/scenarios.js';

describe('docs/samples: the sample reports', function () {
  this.timeout(120_000);
  let dir: string;
  let exitCode: number;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-samples-test-'));
    exitCode = await makeSamples(dir);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const file of SAMPLE_FILES) {
    it(`${file} is what \`npm run samples\` makes`, async () => {
      const made = await readFile(path.join(dir, file), 'utf8');
      const committed = await readFile(path.join(repoRoot, SAMPLES_DIR, file), 'utf8').catch(() => '');
      // Not chai's diff of two long texts: the first line that differs, and what to do.
      const a = committed.split('\n');
      const b = made.split('\n');
      const at = a.findIndex((line, i) => line !== b[i]);
      const first = at >= 0 ? at : a.length < b.length ? a.length : -1;
      expect(
        first,
        `${SAMPLES_DIR}/${file} differs from what the script makes, first at line ${first + 1}:\n` +
          `  committed: ${a[first]?.slice(0, 200) ?? '(end of file)'}\n` +
          `  made now:  ${b[first]?.slice(0, 200) ?? '(end of file)'}\n` +
          'run `npm run samples` to refresh them, and look at the change before committing it',
      ).to.equal(-1);
    });
  }

  it('shows every state: a pass at L7, a refusal at L4, an allowed intra-tenant attempt, a leak and a probe error', async () => {
    expect(exitCode).to.equal(1);
    const doc = JSON.parse(await readFile(path.join(repoRoot, SAMPLES_DIR, 'results.json'), 'utf8')) as {
      summary: Record<string, number>;
      attempts: {
        id: string;
        verdict: string;
        outcome: string;
        layer: string;
        category: string;
        leak: boolean;
      }[];
    };
    expect(doc.summary).to.deep.include({ attempts: 5, passed: 3, failed: 1, errors: 1, leaks: 1 });
    const shown = doc.attempts.map((a) => `${a.id} ${a.category} ${a.verdict}:${a.outcome} ${a.layer}`);
    expect(shown).to.have.members([
      'globex-to-acme-api cross-tenant pass:denied-l7 l7',
      'acme-to-globex-api cross-tenant pass:refused l4',
      'acme-reads-own-orders intra-tenant pass:allowed none',
      'acme-to-globex-metrics cross-tenant fail:allowed none',
      'initech-to-acme-api cross-tenant error:error none',
    ]);
    expect(Object.keys(STORY)).to.have.members(doc.attempts.map((a) => a.id));
    const html = await readFile(path.join(repoRoot, SAMPLES_DIR, 'report.html'), 'utf8');
    for (const state of ['v-pass', 'v-fail', 'v-error']) expect(html).to.contain(`class="${state}"`);
  });
});
