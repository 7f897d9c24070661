/**
 * The report's segmentation opening (PCI DSS 11.4.5): one row per declared direction with the
 * attempts that crossed it and what they showed, the segments, who tested (not vouched for) and
 * what was out of scope; and results.json carrying segments and isolation from the run's log.
 */
import { expect } from 'chai';

import { renderHtmlReport } from '../../harness/report/html.js';
import { segmentRows } from '../../harness/report/segments.js';
import { buildResults } from '../../harness/results/build-results.js';
import type { ResultsRecord } from '../../harness/results/records.js';
import { shownVerdict } from '../../harness/results/describe.js';
import { generatedDocument, segmentedDocument } from './generated.js';
import { load } from '../support/scenarios.js';

const doc = segmentedDocument();
const html = renderHtmlReport({ document: doc });

/** The attempts from namespaces `from` to namespaces `to`, counted the plain way. */
function crossing(from: readonly string[], to: readonly string[]) {
  const list = doc.attempts.filter(
    (a) => a.to !== undefined && from.includes(a.from.namespace) && to.includes(a.to.namespace),
  );
  const v = list.map((a) => shownVerdict(a, doc.run));
  return {
    attempts: list.length,
    passed: v.filter((x) => x === 'pass').length,
    failed: v.filter((x) => x === 'fail').length,
  };
}

describe('report: segmentation controls verified', () => {
  it('counts each direction from the attempts between the two segments’ namespaces', () => {
    const corp = ['tenant-globex', 'tenant-initech', 'tenant-umbrella'];
    const rows = segmentRows(doc);
    expect(rows.map((r) => `${r.from}>${r.to}:${r.state}`)).to.deep.equal([
      'corp>cde:fail',
      'cde>corp:pass',
      'shared>cde:error',
    ]);
    const [corpToCde, cdeToCorp, sharedToCde] = rows;
    expect(corpToCde).to.deep.include({ ...crossing(corp, ['tenant-acme']), notJudged: 0, leaks: 1 });
    expect(cdeToCorp).to.deep.include({ ...crossing(['tenant-acme'], corp), failed: 0, notJudged: 0 });
    expect(corpToCde?.attempts).to.be.greaterThan(0);
    expect(corpToCde?.methods).to.deep.equal(['HTTP', 'TCP', 'cross-tenant']);
    expect(corpToCde?.layers).to.include.members(['L7 (Istio authorization)', 'none: reached the workload']);
    expect(sharedToCde).to.deep.include({ attempts: 0, passed: 0, failed: 0, notJudged: 0 });
  });

  it('opens the report, before the facts, with one row per direction and its result in words', () => {
    const table = html.indexOf('<h2>Segmentation controls verified</h2>');
    expect(table).to.be.greaterThan(0);
    expect(table).to.be.lessThan(html.indexOf('<h2>Scope, time, versions and method</h2>'));
    expect(html).to.match(
      /<tr class="seg-fail" data-pair="corp&gt;cde" data-state="fail"><td><b>corp<\/b> → <b>cde<\/b><\/td><td class="verdict">FAILED: 1 of \d+ did not hold \(1 reached the segment\)<\/td>/,
    );
    const cde = segmentRows(doc)[1];
    expect(html).to.contain(
      `<td class="verdict">VERIFIED: all ${cde?.attempts ?? -1} held</td><td>${cde?.attempts ?? -1}</td><td>${cde?.passed ?? -1}</td><td>0</td><td>0</td>`,
    );
    expect(html).to.contain(
      '<td class="verdict">NOT TESTED: no attempt crossed this boundary</td><td>0</td><td>0</td><td>0</td><td>0</td><td>—</td><td>—</td>',
    );
    expect(html).to.contain('<li><b>cde</b> (cardholder data environment): tenant-acme</li>');
  });

  it('an interrupted run counts what never settled as not judged, and the direction is INCOMPLETE, not verified', () => {
    const first = segmentRows(doc)[1];
    const interrupted = {
      ...doc,
      run: { ...doc.run, interrupted: true },
      attempts: doc.attempts.map((a) =>
        a.from.namespace === 'tenant-acme' && a.to?.namespace === 'tenant-globex'
          ? { ...a, verdict: 'not-judged' as const, stable: false }
          : a,
      ),
    };
    const row = segmentRows(interrupted)[1];
    const skipped = doc.attempts.filter(
      (a) => a.from.namespace === 'tenant-acme' && a.to?.namespace === 'tenant-globex',
    ).length;
    expect(row).to.deep.include({
      state: 'error',
      notJudged: skipped,
      passed: (first?.passed ?? 0) - skipped,
    });
    expect(renderHtmlReport({ document: interrupted })).to.contain(
      `INCOMPLETE: ${skipped} of ${row?.attempts ?? -1} not judged`,
    );
  });

  it('lists what is out of scope, and states the tester as given, with a sentence that bulkhead does not vouch for it', () => {
    expect(html).to.contain(
      '<dt>Out of scope</dt><dd>payments database (managed, outside the cluster): covered by the provider report</dd>',
    );
    expect(html).to.contain(
      '<h2>Tested by</h2>\n<dl class="kv"><dt>Tester</dt><dd>Dana Auditor</dd><dt>Organisation</dt><dd>Example QSA Ltd</dd><dt>Independence</dt><dd>external assessor; no role in operating the cluster</dd></dl>',
    );
    expect(html).to.contain('bulkhead records these fields and does not vouch for them');
    const plain = renderHtmlReport({ document: generatedDocument() });
    expect(plain).to.not.contain('Segmentation controls verified');
    expect(plain).to.contain('<dt>Out of scope</dt><dd>nothing declared</dd>');
    expect(plain).to.contain(
      '<p>Not stated (run with --tester, --organisation and --independence to record them).</p>',
    );
  });

  it('results.json takes segments, isolation and out-of-scope systems from the run record, so the log alone rebuilds them', async () => {
    const scenario = await load(
      `apiVersion: bulkhead.dev/v1alpha1
kind: Scenario
metadata: { name: s }
spec:
  tenants:
    - { name: acme, workloads: [{ name: web, ports: [8080] }] }
    - { name: globex, workloads: [{ name: web, ports: [8080] }] }
  generators: [{ kind: cross-tenant }]
`,
      '/repo/s.yaml',
    );
    const run: ResultsRecord = {
      type: 'run',
      runId: 'r1',
      scenario: 's',
      scenarioFile: '/repo/s.yaml',
      scenarioSha256: scenario.sha256,
      startedAt: '2026-12-01T00:00:00.000Z',
      cluster: 'https://127.0.0.1:6443',
      attempts: scenario.attempts.length,
      environment: { environment: 'staging', tester: { name: 'Dana', independence: 'external' } },
      scope: {
        segments: [
          { name: 'cde', namespaces: ['tenant-acme'] },
          { name: 'corp', namespaces: ['tenant-globex'] },
        ],
        isolate: [{ from: 'corp', to: 'cde' }],
        outOfScope: [{ name: 'mainframe', reason: 'not on this cluster' }],
      },
    };
    const built = buildResults({ records: [run], scenario, version: '0.1.0' });
    expect(built.scope).to.deep.include({
      environment: 'staging',
      segments: [
        { name: 'cde', namespaces: ['tenant-acme'] },
        { name: 'corp', namespaces: ['tenant-globex'] },
      ],
      isolate: [{ from: 'corp', to: 'cde' }],
      outOfScope: ['mainframe: not on this cluster'],
    });
    expect(built.run.tester).to.deep.equal({ name: 'Dana', independence: 'external' });
    // A run record without them, and a scenario without them: none in results.json.
    const { scope: _scope, ...older } = run;
    const plain = buildResults({ records: [older], scenario, version: '0.1.0' });
    expect(plain.scope.segments).to.equal(undefined);
    expect(plain.scope.isolate).to.equal(undefined);
    expect(plain.scope.outOfScope).to.deep.equal([]);
  });
});
