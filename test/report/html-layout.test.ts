/**
 * The HTML report of a large run (4 tenants × 16 tenant services, 2 shared services, DNS and API
 * attempts) laid out by a real headless Chromium, in a 1400 px window and as printed to A4
 * landscape: no table is wider than its container, no cell's content spills out of its box, and
 * the matrix cells show every outcome they count in the colour of their verdict.
 */
import { expect } from 'chai';
import { PNG } from 'pngjs';

import {
  CELL_COLOURS,
  MATRIX_LAYOUT,
  coverageTables,
  reachabilityMatrices,
  renderHtmlReport,
  type CellState,
} from '../../harness/report/html.js';
import {
  A4_LANDSCAPE_CONTENT_HEIGHT,
  A4_LANDSCAPE_CONTENT_WIDTH,
  CELL_BOXES,
  MEASURE_LAYOUT,
  close,
  hex,
  pixel,
  withPage,
  type CellBox,
  type Layout,
} from './chromium.js';
import {
  generatedDocument,
  oneNamespaceDocument,
  SHARED_NAMESPACE,
  SHARED_SERVICES,
  TENANT_SERVICES,
  TENANTS,
} from './generated.js';

interface Seen {
  readonly layout: Layout;
  readonly cells: readonly CellBox[];
  readonly png: PNG;
}

describe('report: matrices split where one namespace has more services than a page holds', () => {
  it('18 services in one namespace make three matrices of at most 7 columns, every cell kept', () => {
    const doc = oneNamespaceDocument();
    const grids = reachabilityMatrices(doc);
    expect(MATRIX_LAYOUT.matrixColumns).to.equal(7);
    expect(grids.map((g) => [g.caption, g.columns.length])).to.deep.equal([
      [`to ${SHARED_NAMESPACE} (shared), services 1–7 of 18`, 7],
      [`to ${SHARED_NAMESPACE} (shared), services 8–14 of 18`, 7],
      [`to ${SHARED_NAMESPACE} (shared), services 15–18 of 18`, 4],
    ]);
    const counted = grids.flatMap((g) => g.cells.flat()).reduce((n, c) => n + c.attempts.length, 0);
    expect(counted).to.equal(doc.attempts.filter((a) => a.to).length);
  });
});

for (const [title, make] of [
  ['a 4 tenants × 16 services run (one matrix per namespace)', generatedDocument],
  ['the same run with its 18 services in one namespace (split matrices)', oneNamespaceDocument],
] as const)
  describe(`report: HTML layout of ${title}, in Chromium`, function () {
    this.timeout(120_000);
    const doc = make();
    const html = renderHtmlReport({ document: doc });
    let seen: { screen: Seen; print: Seen; pdf: Buffer } | string;

    before(async function () {
      seen = await withPage(html, async (page) => {
        const look = async (): Promise<Seen> => ({
          layout: await page.evaluate<Layout>(MEASURE_LAYOUT),
          cells: await page.evaluate<CellBox[]>(CELL_BOXES),
          png: PNG.sync.read(await page.screenshot()),
        });
        await page.setViewport(1400, 1000);
        const screen = await look();
        // Print layout: print media at the printable width of the report's @page (A4 landscape, 12 mm margins).
        await page.emulateMedia('print');
        await page.setViewport(A4_LANDSCAPE_CONTENT_WIDTH, A4_LANDSCAPE_CONTENT_HEIGHT);
        const print = await look();
        return { screen, print, pdf: await page.pdf() };
      });
    });

    function seenOrSkip(this: Mocha.Context) {
      if (typeof seen === 'string') {
        console.log(`    (skipped: ${seen})`);
        this.skip();
      }
      return seen;
    }

    it('the run is as large as the report must lay out: 4 tenants, 18 services, DNS and API attempts', () => {
      const matrices = reachabilityMatrices(doc);
      expect(matrices.flatMap((g) => g.rows.map((r) => r.label))).to.include.members([...TENANTS]);
      expect(matrices.reduce((n, g) => n + g.columns.length, 0)).to.equal(
        TENANTS.length * TENANT_SERVICES.length + SHARED_SERVICES.length,
      );
      expect(coverageTables(doc).map((g) => g.kind)).to.deep.equal(['dns', 'api']);
      for (const g of [...matrices, ...coverageTables(doc)])
        expect(
          2 * MATRIX_LAYOUT.frame + g.rowHeaderWidth + g.columns.length * MATRIX_LAYOUT.cellWidth,
        ).to.be.at.most(MATRIX_LAYOUT.maxWidth);
    });

    for (const medium of ['screen', 'print'] as const) {
      const where =
        medium === 'screen'
          ? 'in a 1400 px window'
          : `printed to A4 landscape (${A4_LANDSCAPE_CONTENT_WIDTH} px between the margins)`;

      it(`${where}: no table is wider than its container, and nothing spills out of its cell`, function () {
        const { layout } = seenOrSkip.call(this)[medium];
        expect(layout.viewport).to.equal(medium === 'screen' ? 1400 : A4_LANDSCAPE_CONTENT_WIDTH);
        expect(layout.scrollWidth, 'the page scrolls sideways').to.be.at.most(layout.viewport);
        const matrices = layout.tables.filter((t) => ['reachability', 'dns', 'api'].includes(t.kind));
        expect(matrices.map((t) => t.kind)).to.include.members(['reachability', 'dns', 'api']);
        expect(matrices).to.have.length(reachabilityMatrices(doc).length + coverageTables(doc).length);
        for (const t of layout.tables) {
          const name = `${t.kind} ${t.caption}`;
          expect(t.left, `${name} starts left of its container`).to.be.at.least(t.containerLeft - 0.5);
          expect(t.right, `${name} ends right of its container`).to.be.at.most(t.containerRight + 0.5);
        }
        expect(layout.overflowing, 'content wider than its box').to.deep.equal([]);
      });

      it(`${where}: a mixed cell shows every count and is green when every expectation held; red and amber for the rest`, function () {
        const { cells, png } = seenOrSkip.call(this)[medium];
        const mixed = cells.find((c) => c.text === '2 allowed · 4 denied L7');
        expect(mixed, 'the cell of acme to its own api').to.not.equal(undefined);
        const leak = cells.find((c) => c.text === '1 allowed (leak) · 2 denied L7');
        const error = cells.find((c) => c.text === '1 error · 1 refused L4');
        const broken = cells.find((c) => c.text === '1 denied L4 (failed)');
        for (const [cell, state] of [
          [mixed, 'pass'],
          [leak, 'fail'],
          [error, 'error'],
          [broken, 'fail'],
        ] as const) {
          expect(cell?.state).to.equal(state);
          const colour = pixel(png, Math.round(cell!.left + 2), Math.round(cell!.top + 2));
          expect(close(colour, hex(CELL_COLOURS[state as CellState])), `${cell!.text}: ${colour.join(',')}`)
            .to.be.true;
        }
        expect(cells.some((c) => c.text.includes('×'))).to.be.false;
      });
    }

    it('prints to A4 landscape pages', function () {
      const { pdf } = seenOrSkip.call(this);
      const text = pdf.toString('latin1');
      expect(text.startsWith('%PDF-')).to.be.true;
      const boxes = text.match(/\/MediaBox\s*\[[^\]]*\]/g) ?? [];
      expect(boxes.length).to.be.greaterThan(1);
      for (const box of boxes) expect(box).to.match(/\[\s*0 0 84[12]\.\d+ 59[45]\.\d+\s*\]/);
    });
  });
