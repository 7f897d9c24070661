/**
 * The words of report.html and junit.xml where a reader was misled: the Layer column for what
 * nothing refused, plurals, the leak said twice, a probe error without its cause, pod
 * diagnostics as raw JSON, an unstated environment read as "kind cluster", and attempts without
 * a destination workload missing from every table.
 */
import { expect } from 'chai';

import { coverageTables, reachabilityMatrices, renderHtmlReport } from '../../harness/report/html.js';
import { runJUnit } from '../../harness/report/run-junit.js';
import { layerText, tallyText, tally } from '../../harness/results/describe.js';
import type { ResultsDocument } from '../../harness/results/results-model.js';
import { generatedDocument } from './generated.js';

/** The per-boundary row of an attempt. */
const row = (html: string, id: string) =>
  new RegExp(`<tr class="v-[\\w-]+"><td class="verdict">[^<]*</td><td>${id}<br>.*?</tr>`).exec(html)?.[0] ??
  '';
const layerCell = (html: string, id: string) =>
  /<td>([^<]*)<\/td><td>\d+( \(unsettled\))?<\/td>/.exec(row(html, id))?.[1];

describe('report: the words of report.html and junit.xml', () => {
  const doc = generatedDocument();
  const html = renderHtmlReport({ document: doc });
  const xml = runJUnit(doc);
  const find = (p: (a: ResultsDocument['attempts'][number]) => boolean) => {
    const a = doc.attempts.find(p);
    if (!a) throw new Error('the generated run has no such attempt');
    return a;
  };
  const leak = find((a) => a.leak);
  const error = find((a) => a.verdict === 'error');

  it('the Layer column says what happened when nothing refused: reached the app, connected, resolved, granted', () => {
    expect(layerCell(html, find((a) => a.kind === 'http' && a.outcome === 'allowed').id)).to.equal(
      'none: reached the app',
    );
    expect(layerCell(html, find((a) => a.kind === 'tcp' && a.outcome === 'allowed').id)).to.equal(
      'none: connected',
    );
    expect(layerCell(html, find((a) => a.outcome === 'resolved').id)).to.equal('none: resolved');
    expect(layerCell(html, find((a) => a.outcome === 'denied-l7').id)).to.equal('L7 (Istio authorization)');
    expect(layerCell(html, error.id)).to.equal('no layer: not judged');
    expect(layerText({ layer: 'none', outcome: 'api-allowed' })).to.equal('none: the API server granted it');
    expect(html).to.not.contain('not refused');
    expect(xml).to.not.contain('not refused');
  });

  it('counts in the singular when there is one: 1 error, not 1 errors', () => {
    expect(tally(doc).errors).to.equal(1);
    expect(html).to.contain(
      `<div>${doc.attempts.length - 3} passed · 2 failed · 1 error · 0 not attempted</div>`,
    );
    expect(html).to.not.match(/\b1 errors\b/);
    expect(tallyText({ ...tally(doc), errors: 2 })).to.contain('· 2 errors ·');
  });

  it('says a leak once, with what the agent saw in the leaking round', () => {
    const message =
      'LEAK: expected denied, observed allowed in round 1 (the server answered 200: the request got through to the app)';
    expect(html).to.contain(`<p>${message}</p>`);
    expect(xml).to.contain(`<failure message="${message}" type="leak">`);
    expect(html).to.not.contain('(leak:');
    expect(xml).to.not.contain('(leak:');
    expect(leak.reason).to.match(/^leak: /);
  });

  it("shows a probe error's cause, the deciding observation's reason, in both reports", () => {
    const cause =
      'Envoy answered 503 itself with a reply that is neither an RBAC deny nor an upstream connect failure';
    expect(error.observations.at(-1)?.reason).to.equal(cause);
    expect(error.reason).to.not.contain(cause);
    const message = `could not be judged: the probe failed in round 3: ${cause} (expected denied)`;
    expect(html).to.contain(`<p>${message}</p>`);
    expect(row(html, error.id)).to.contain(`<small>${cause}</small>`);
    expect(xml).to.contain(`<error message="${message}" type="harness-fault">`);
    expect(xml).to.contain(`why: ${cause}`);
  });

  it('shows pod diagnostics as a definition list, not raw JSON', () => {
    expect(html).to.not.match(/\{&quot;pod&quot;|"pod":/);
    const box = html.slice(
      html.indexOf(`FAIL ${leak.id}`),
      html.indexOf('</div>', html.indexOf(`FAIL ${leak.id}`)),
    );
    expect(box).to.contain(
      '<dt>Source pod</dt><dd><dl class="kv"><dt>pod</dt><dd>tenant-globex/client-7c9f8d6b5d-x2k9q</dd>',
    );
    expect(box).to.contain('<dt>phase</dt><dd>Running</dd>');
    expect(box).to.contain('<dt>events</dt><dd>none</dd>');
    expect(box).to.contain('<dt>istio-proxy log</dt><dd><pre>[2026-12-01T02:00:12.000Z]');
    expect(box).to.contain('<dt>Evidence</dt><dd><dl class="kv"><dt>status</dt><dd>200</dd>');
    // JUnit's text: one labelled line per field, indented under the pod.
    expect(xml).to.contain(
      'source pod:\n  pod: tenant-globex/client-7c9f8d6b5d-x2k9q\n  phase: Running\n  conditions: PodScheduled=True, Initialized=True, ContainersReady=True, Ready=True\n',
    );
    expect(xml).to.not.match(/pod: \{/);
  });

  it('never says "cluster kind" for an environment nobody declared, and names each declared one', () => {
    const unknown = renderHtmlReport({
      document: { ...doc, scope: { ...doc.scope, environment: 'unknown' } },
    });
    const words = 'environment not declared (production, staging or replica: run with --environment)';
    expect(unknown).to.contain(
      `<div class="muted">run generated-4x16 · ${doc.run.startedAt} to ${doc.run.endedAt} · ${words}</div>`,
    );
    expect(unknown).to.contain(`<dt>Environment</dt><dd>${words}</dd>`);
    expect(unknown).to.not.match(/cluster kind|kind not|not stated/);
    expect(html).to.contain('<dt>Environment</dt><dd>replica cluster (not production)</dd>');
    for (const [kind, text] of [
      ['production', 'production cluster'],
      ['staging', 'staging cluster (not production)'],
    ] as const)
      expect(
        renderHtmlReport({ document: { ...doc, scope: { ...doc.scope, environment: kind } } }),
      ).to.contain(`<dt>Environment</dt><dd>${text}</dd>`);
  });

  it('puts every attempt in a table: the matrices count those with a destination, the coverage tables the DNS and API ones', () => {
    const cells = [...reachabilityMatrices(doc), ...coverageTables(doc)].flatMap((g) => g.cells.flat());
    expect(cells.reduce((n, c) => n + c.attempts.length, 0)).to.equal(doc.attempts.length);
    const ids = cells.flatMap((c) => c.attempts.map((a) => a.id));
    expect(new Set(ids).size).to.equal(doc.attempts.length);
    const drawn = [...html.matchAll(/data-count="(\d+)"/g)].reduce((n, m) => n + Number(m[1]), 0);
    expect(drawn).to.equal(doc.attempts.length);
    expect(html).to.contain('<caption>DNS queries by source tenant</caption>');
    expect(html).to.contain('<caption>Kubernetes API requests by source tenant</caption>');
    expect(html).to.match(
      /<th class="rowhead" scope="row" title="list pods -n tenant-acme">list pods -n tenant-acme<\/th>/,
    );
  });

  it('never labels a mixed cell with one outcome: each outcome is counted', () => {
    const acme = reachabilityMatrices(doc).find((g) => g.caption === 'to tenant-acme (tenant acme)');
    const own = acme?.cells[0]?.[0];
    expect(own?.items.map((i) => i.text)).to.deep.equal(['2 allowed', '4 denied L7']);
    expect(own?.state).to.equal('pass');
    expect(html).to.not.match(/denied ×\d/);
  });
});
