/**
 * The auditor's HTML report: its content from a real run's results, and its rendering in a real
 * headless Chromium (Debian's `chromium`), whose screenshot must show the reachability matrix
 * with each cell in the colour of its outcome and layer.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { expect } from 'chai';
import { PNG } from 'pngjs';

import { buildResults } from '../../harness/results/build-results.js';
import {
  CELL_COLOURS,
  MATRIX_LAYOUT,
  reachabilityMatrix,
  renderHtmlReport,
  type CellState,
} from '../../harness/report/html.js';
import type { ResultsDocument } from '../../harness/results/results-model.js';
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

const EXPECTED_MATRIX: readonly (readonly CellState[])[] = [
  ['allowed', 'denied-l4'],
  ['denied-l7', 'none'],
  ['fail', 'none'],
  ['error', 'none'],
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
    const pdf = await render(html, 'pdf');
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
    const shot = await render(html, 'png');
    if (typeof shot === 'string') {
      console.log(`    (skipped: ${shot})`);
      this.skip();
    }
    const png = PNG.sync.read(shot);
    const frame = findFrame(png);
    expect(frame, 'the matrix frame is in the screenshot').to.not.equal(undefined);
    const L = MATRIX_LAYOUT;
    EXPECTED_MATRIX.forEach((row, r) => {
      row.forEach((state, c) => {
        const x = frame!.x + L.frame + L.rowHeaderWidth + c * L.cellWidth + L.cellInset + 4;
        const y = frame!.y + L.frame + L.columnHeaderHeight + r * L.cellHeight + L.cellInset + 4;
        const seen = pixel(png, x, y);
        expect(
          close(seen, hex(CELL_COLOURS[state])),
          `cell ${r},${c} (${state}) at ${x},${y} is ${seen.join(',')}`,
        ).to.be.true;
      });
    });
  });
});

type Rgb = readonly [number, number, number];

const hex = (colour: string): Rgb => [
  parseInt(colour.slice(1, 3), 16),
  parseInt(colour.slice(3, 5), 16),
  parseInt(colour.slice(5, 7), 16),
];
const close = (a: Rgb, b: Rgb) => a.every((v, i) => Math.abs(v - (b[i] ?? 0)) <= 3);

function pixel(png: PNG, x: number, y: number): Rgb {
  const i = (y * png.width + x) * 4;
  return [png.data[i] ?? 0, png.data[i + 1] ?? 0, png.data[i + 2] ?? 0];
}

/** Top-left corner of the matrix frame: the first row holding a long run of the frame colour. */
function findFrame(png: PNG): { x: number; y: number } | undefined {
  const colour = hex(MATRIX_LAYOUT.frameColour);
  for (let y = 0; y < png.height; y++) {
    let run = 0;
    for (let x = 0; x < png.width; x++) {
      run = close(pixel(png, x, y), colour) ? run + 1 : 0;
      if (run >= 150) return { x: x - run + 1, y };
    }
  }
  return undefined;
}

/** The page as Chromium renders it (a PNG screenshot or a printed PDF), or why it could not be. */
async function render(page: string, as: 'png' | 'pdf'): Promise<Buffer | string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-chromium-'));
  try {
    const file = path.join(dir, 'report.html');
    const out = path.join(dir, `out.${as}`);
    await writeFile(file, page);
    const args = [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${path.join(dir, 'profile')}`,
      '--hide-scrollbars',
      '--force-device-scale-factor=1',
      '--window-size=1400,2400',
      ...(as === 'png' ? [`--screenshot=${out}`] : [`--print-to-pdf=${out}`, '--no-pdf-header-footer']),
      pathToFileURL(file).href,
    ];
    const outcome = await new Promise<string | undefined>((resolve) => {
      execFile('chromium', args, { timeout: 45_000 }, (error, _stdout, stderr) => {
        if (error && (error as NodeJS.ErrnoException).code === 'ENOENT') {
          resolve('chromium is not installed (apt-get install chromium)');
          return;
        }
        resolve(error ? `chromium failed: ${error.message} ${stderr.slice(-400)}` : undefined);
      });
    });
    if (outcome?.startsWith('chromium is not installed')) return outcome;
    if (outcome) throw new Error(outcome);
    return await readFile(out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
