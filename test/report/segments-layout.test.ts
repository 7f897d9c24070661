/**
 * The segmentation table as a real headless Chromium lays it out: present, first after the
 * verdict, one row per declared direction, each result cell in its verdict's colour on the
 * screenshot, and nothing wider than the page at 1400 px or printed to A4 landscape.
 */
import { expect } from 'chai';
import { PNG } from 'pngjs';

import { CELL_COLOURS, renderHtmlReport } from '../../harness/report/html.js';
import {
  A4_LANDSCAPE_CONTENT_HEIGHT,
  A4_LANDSCAPE_CONTENT_WIDTH,
  MEASURE_LAYOUT,
  close,
  hex,
  pixel,
  withPage,
  type Layout,
} from './chromium.js';
import { generatedDocument, segmentedDocument } from './generated.js';

interface Row {
  readonly pair: string;
  readonly state: 'fail' | 'error' | 'pass';
  readonly text: string;
  readonly left: number;
  readonly top: number;
}

const ROWS = `(() => {
  const table = document.querySelector('table.segments');
  if (!table) return null;
  const first = document.querySelector('h2');
  return {
    first: first ? first.textContent : '',
    rows: [...table.querySelectorAll('tbody tr')].map((tr) => {
      const cell = tr.querySelector('td.verdict');
      const r = cell.getBoundingClientRect();
      return { pair: tr.dataset.pair, state: tr.dataset.state, text: cell.textContent, left: r.left + scrollX, top: r.top + scrollY };
    }),
  };
})()`;

describe('report: the segmentation table in Chromium', function () {
  this.timeout(120_000);
  type Look = { layout: Layout; found: { first: string; rows: Row[] } | null; png: PNG };
  let seen: { screen: Look; print: Look; plain: { first: string; rows: Row[] } | null } | string;

  before(async () => {
    const html = renderHtmlReport({ document: segmentedDocument() });
    seen = await withPage(html, async (page) => {
      const look = async (): Promise<Look> => ({
        layout: await page.evaluate<Layout>(MEASURE_LAYOUT),
        found: await page.evaluate<{ first: string; rows: Row[] } | null>(ROWS),
        png: PNG.sync.read(await page.screenshot()),
      });
      await page.setViewport(1400, 1000);
      const screen = await look();
      await page.emulateMedia('print');
      await page.setViewport(A4_LANDSCAPE_CONTENT_WIDTH, A4_LANDSCAPE_CONTENT_HEIGHT);
      return { screen, print: await look() };
    }).then(async (result) => {
      if (typeof result === 'string') return result;
      const plain = await withPage(renderHtmlReport({ document: generatedDocument() }), (page) =>
        page.evaluate<{ first: string; rows: Row[] } | null>(ROWS),
      );
      return { ...result, plain: typeof plain === 'string' ? null : plain };
    });
  });

  function seenOrSkip(this: Mocha.Context) {
    if (typeof seen === 'string') {
      console.log(`    (skipped: ${seen})`);
      this.skip();
    }
    return seen;
  }

  for (const medium of ['screen', 'print'] as const)
    it(`${medium === 'screen' ? 'in a 1400 px window' : 'printed to A4 landscape'}: the table comes first, one row per direction, each result in its colour, nothing clipped`, function () {
      const { layout, found, png } = seenOrSkip.call(this)[medium];
      expect(found, 'table.segments').to.not.equal(null);
      expect(found?.first).to.equal('Segmentation controls verified');
      expect(found?.rows.map((r) => `${r.pair}:${r.state}`)).to.deep.equal([
        'corp>cde:fail',
        'cde>corp:pass',
        'shared>cde:error',
      ]);
      for (const row of found?.rows ?? []) {
        const colour = pixel(png, Math.round(row.left + 3), Math.round(row.top + 3));
        expect(close(colour, hex(CELL_COLOURS[row.state])), `${row.pair} ${row.text}: ${colour.join(',')}`).to
          .be.true;
      }
      expect(layout.scrollWidth, 'the page scrolls sideways').to.be.at.most(layout.viewport);
      const table = layout.tables.find((t) => t.kind.includes('segments'));
      expect(table, 'the segment table is measured').to.not.equal(undefined);
      expect(table!.right).to.be.at.most(table!.containerRight + 0.5);
      expect(layout.overflowing, 'content wider than its box').to.deep.equal([]);
    });

  it('a report without declared segments has no segment table', function () {
    expect(seenOrSkip.call(this).plain).to.equal(null);
  });
});
