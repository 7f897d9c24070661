/**
 * The auditor's HTML report: its content from a real run's results, and its rendering in a real
 * headless Chromium (Debian's `chromium`), whose screenshot must show the reachability matrices
 * with each cell in the colour of its verdict.
 */
import { expect } from 'chai';
import { PNG } from 'pngjs';

import { buildResults } from '../../harness/results/build-results.js';
import {
  CELL_COLOURS,
  reachabilityMatrices,
  reachabilityMatrix,
  renderHtmlReport,
  type CellState,
} from '../../harness/report/html.js';
import type { ResultsDocument } from '../../harness/results/results-model.js';
import { CELL_BOXES, close, hex, pixel, withPage, type CellBox } from './chromium.js';
import { fakeRun } from './support.js';

async function runDocument(): Promise<ResultsDocument> {
  const run = await fakeRun();
  const base = buildResults({
    records: run.records,
    scenario: run.scenario,
    version: '0.1.0',
    environment: {
      provider: 'kind',
      environment: 'replica',
      trigger: 'change',
      change: 'CHG-1234',
      versions: { kubernetes: 'v1.34.0', calico: 'v3.31.0', istio: '1.29.3', gitCommit: 'abc123' },
    },
  });
  return {
    ...base,
    lint: [
      {
        rule: 'authz/spiffe-principal',
        severity: 'error',
        message: 'principal written with spiffe:// <never matches>',
        hint: 'drop the spiffe:// prefix',
        object: 'AuthorizationPolicy tenant-acme/allow',
        file: 'policies/acme.yaml',
        line: 12,
      },
    ],
    ablation: [
      {
        attempt: 'globex-to-acme',
        holdsAlone: ['authorization'],
        failsWithout: ['authorization'],
        without: { network: 'denied-l7', mtls: 'denied-l7', authorization: 'allowed' },
        alone: { network: 'allowed', mtls: 'allowed', authorization: 'denied-l7' },
      },
    ],
  };
}

// Coloured by verdict: acme's own allowed call, acme refused by globex and globex refused at L7
// all held; initech's leak failed; umbrella's probe could not be judged.
const EXPECTED_MATRIX: readonly (readonly CellState[])[] = [
  ['pass', 'pass'],
  ['pass', 'none'],
  ['fail', 'none'],
  ['error', 'none'],
];
const EXPECTED_TEXT: readonly (readonly string[])[] = [
  ['1 allowed', '1 refused L4'],
  ['1 denied L7', '—'],
  ['1 allowed (leak)', '—'],
  ['1 error', '—'],
];

describe('report: HTML for auditors', function () {
  this.timeout(60_000);
  let doc: ResultsDocument;
  let html: string;
  before(async () => {
    doc = await runDocument();
    html = renderHtmlReport({ document: doc, files: [{ name: 'results.json', sha256: 'f'.repeat(64) }] });
  });

  it('builds the tenants × services matrix from the attempts', () => {
    const m = reachabilityMatrix(doc);
    expect(m.rows.map((r) => r.key)).to.deep.equal(['acme', 'globex', 'initech', 'umbrella']);
    expect(m.columns).to.deep.equal(['tenant-acme/api', 'tenant-globex/api']);
    expect(m.cells.map((row) => row.map((c) => c.state))).to.deep.equal(EXPECTED_MATRIX);
    expect(m.cells.map((row) => row.map((c) => c.items.map((i) => i.text).join(' · ') || '—'))).to.deep.equal(
      EXPECTED_TEXT,
    );
    // Drawn as one matrix per destination namespace, every source row in each.
    const drawn = reachabilityMatrices(doc);
    expect(drawn.map((g) => g.caption)).to.deep.equal([
      'to tenant-acme (tenant acme)',
      'to tenant-globex (tenant globex)',
    ]);
    expect(drawn.map((g) => g.cells.map((row) => row.map((c) => c.state)))).to.deep.equal([
      EXPECTED_MATRIX.map((row) => [row[0]]),
      EXPECTED_MATRIX.map((row) => [row[1]]),
    ]);
  });

  it('is self-contained: no scripts, stylesheets, images, frames or fonts fetched from anywhere', () => {
    expect(html).to.not.match(/<script|<link|<img|<iframe|<object|<embed|@import|url\(|src=|href=/i);
  });

  it('states scope, times, trigger, versions and method', () => {
    for (const text of [
      'replica cluster (not production)',
      doc.run.startedAt,
      doc.run.endedAt,
      'CHG-1234',
      'v1.34.0',
      'v3.31.0',
      '1.29.3',
      'commit abc123',
      doc.method.scenario.sha256,
      'consecutive rounds',
      '20000 ms',
      'acme, globex, initech, umbrella',
      'Segmentation controls in scope (1)',
    ])
      expect(html, text).to.contain(text);
  });

  it('puts failures first, with their evidence, and escapes what it quotes', () => {
    const failures = html.indexOf('<h2>Failures (2)</h2>');
    expect(failures).to.be.greaterThan(0);
    const leak = html.indexOf('FAIL initech-to-acme', failures);
    const error = html.indexOf('ERROR umbrella-to-acme', failures);
    expect(leak).to.be.greaterThan(failures);
    expect(error).to.be.greaterThan(leak);
    const table = html.slice(html.indexOf('<h2>Per-boundary results'));
    const order = [...table.matchAll(/<tr class="v-(\w+)">/g)].map((m) => m[1]);
    expect(order).to.deep.equal(['fail', 'error', 'pass', 'pass', 'pass']);
    expect(html).to.contain('kubectl exec -n tenant-initech');
    expect(html).to.contain('&lt;never matches&gt;');
    expect(html).to.not.contain('<never matches>');
  });

  it('shows lint findings and the ablation table when given, and the integrity hashes', () => {
    expect(html).to.contain('Policy lint findings (1)');
    expect(html).to.contain('authz/spiffe-principal');
    expect(html).to.contain('Defence in depth: layer ablation');
    expect(html).to.match(/<td>globex-to-acme<\/td><td>denied-l7<\/td><td>denied-l7<\/td><td>allowed<\/td>/);
    expect(html).to.contain('f'.repeat(64));
  });

  it('prints to PDF in headless Chromium (A4 pages)', async function () {
    const pdf = await withPage(html, (page) => page.pdf());
    if (typeof pdf === 'string') {
      console.log(`    (skipped: ${pdf})`);
      this.skip();
    }
    const text = pdf.toString('latin1');
    expect(text.startsWith('%PDF-')).to.be.true;
    const pages = text.match(/\/Type\s*\/Page[^s]/g) ?? [];
    expect(pages.length).to.be.within(1, 10);
    // A4 landscape: 842 x 595 points.
    expect(text).to.match(/\/MediaBox\s*\[\s*0 0 84[12]\.\d+ 59[45]\.\d+\s*\]/);
  });

  it('renders in headless Chromium with the matrix cells in their colours', async function () {
    const seen = await withPage(html, async (page) => {
      const cells = await page.evaluate<CellBox[]>(CELL_BOXES);
      return { cells, png: PNG.sync.read(await page.screenshot()) };
    });
    if (typeof seen === 'string') {
      console.log(`    (skipped: ${seen})`);
      this.skip();
    }
    // The two matrices (to tenant-acme, to tenant-globex), cells in row order within each.
    const want = [0, 1].flatMap((column) =>
      EXPECTED_MATRIX.map((row, r) => ({ state: row[column], text: EXPECTED_TEXT[r]?.[column] })),
    );
    expect(seen.cells.map((c) => ({ state: c.state, text: c.text }))).to.deep.equal(want);
    for (const cell of seen.cells) {
      const colour = pixel(seen.png, Math.round(cell.left + 2), Math.round(cell.top + 2));
      expect(
        close(colour, hex(CELL_COLOURS[cell.state as CellState])),
        `cell ${cell.text} (${cell.state}) at ${cell.left},${cell.top} is ${colour.join(',')}`,
      ).to.be.true;
    }
  });
});
