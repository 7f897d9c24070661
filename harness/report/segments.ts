/**
 * The report's opening for a segmentation test (PCI DSS v4.0 11.4.5: "penetration testing is
 * performed to verify segmentation controls", covering "all segmentation controls/methods in
 * use"): one row per declared direction of isolation between two segments, with the attempts
 * that tested it, how many held, failed or were not judged, and the methods and layers used;
 * then the segments themselves, who tested (as given, not vouched for) and what was left out of
 * scope. Renderers only, from results.json (scope.segments, scope.isolate, run.tester).
 */
import { shownVerdict, type ShownVerdict } from '../results/describe.js';
import { LAYER_NAMES } from '../results/layers.js';
import type { AttemptEntry, ResultsDocument } from '../results/results-model.js';
import { pairAttempts } from '../scenario/segments.js';

export type SegmentRowState = 'fail' | 'error' | 'pass';

/** One direction of isolation as the report states it. */
export interface SegmentRow {
  readonly from: string;
  readonly to: string;
  readonly attempts: number;
  readonly passed: number;
  readonly failed: number;
  /** Errors, not attempted and not settled: neither passed nor failed. */
  readonly notJudged: number;
  readonly leaks: number;
  /** Attempt kinds and categories, in the order first seen: `HTTP`, `cross-tenant`. */
  readonly methods: readonly string[];
  /** The layers that refused the attempts, and `reached the workload` for what got through. */
  readonly layers: readonly string[];
  /** Red when anything failed; amber when untested or anything was not judged; else green. */
  readonly state: SegmentRowState;
}

const unique = (list: readonly string[]) => [...new Set(list)];

export function segmentRows(doc: ResultsDocument): SegmentRow[] {
  const segments = doc.scope.segments ?? [];
  return (doc.scope.isolate ?? []).map((pair) => {
    const attempts: AttemptEntry[] = pairAttempts(doc.attempts, pair, segments);
    const verdicts: ShownVerdict[] = attempts.map((a) => shownVerdict(a, doc.run));
    const passed = verdicts.filter((v) => v === 'pass').length;
    const failed = verdicts.filter((v) => v === 'fail').length;
    const notJudged = attempts.length - passed - failed;
    const judged = attempts.filter((_, i) => verdicts[i] === 'pass' || verdicts[i] === 'fail');
    return {
      from: pair.from,
      to: pair.to,
      attempts: attempts.length,
      passed,
      failed,
      notJudged,
      leaks: attempts.filter((a) => a.leak).length,
      methods: [
        ...unique(attempts.map((a) => a.kind.toUpperCase())),
        ...unique(attempts.map((a) => a.category)),
      ],
      layers: unique(
        judged.map((a) => (a.layer === 'none' ? 'none: reached the workload' : LAYER_NAMES[a.layer])),
      ),
      state: failed > 0 ? 'fail' : notJudged > 0 || attempts.length === 0 ? 'error' : 'pass',
    };
  });
}

/** A row's result in words: what an auditor signs off, or why not. */
export function segmentRowResult(row: SegmentRow): string {
  if (row.attempts === 0) return 'NOT TESTED: no attempt crossed this boundary';
  if (row.failed > 0)
    return `FAILED: ${row.failed} of ${row.attempts} did not hold${row.leaks > 0 ? ` (${row.leaks} reached the segment)` : ''}`;
  if (row.notJudged > 0) return `INCOMPLETE: ${row.notJudged} of ${row.attempts} not judged`;
  return row.attempts === 1 ? 'VERIFIED: the one attempt held' : `VERIFIED: all ${row.attempts} held`;
}

type Escape = (text: string) => string;

/** The segment table's result colours: the matrix cells' (html.ts CELL_COLOURS). */
export function segmentCss(colours: Readonly<Record<SegmentRowState, string>>): string {
  return `tr.seg-fail td.verdict { background: ${colours.fail}; color: #fff; font-weight: bold; }
tr.seg-error td.verdict { background: ${colours.error}; font-weight: bold; }
tr.seg-pass td.verdict { background: ${colours.pass}; color: #fff; font-weight: bold; }
ul.segments { margin: 2px 0 8px; padding-left: 20px; }`;
}

/** "Segmentation controls verified": the table, when the scenario declares isolation. */
export function segmentationSection(doc: ResultsDocument, h: Escape): string {
  const rows = segmentRows(doc);
  if (rows.length === 0) return '';
  const segments = doc.scope.segments ?? [];
  const body = rows
    .map(
      (r) =>
        `<tr class="seg-${r.state}" data-pair="${h(`${r.from}>${r.to}`)}" data-state="${r.state}"><td><b>${h(r.from)}</b> → <b>${h(r.to)}</b></td><td class="verdict">${h(segmentRowResult(r))}</td><td>${r.attempts}</td><td>${r.passed}</td><td>${r.failed}</td><td>${r.notJudged}</td><td>${h(r.methods.join(', ') || '—')}</td><td>${h(r.layers.join('; ') || '—')}</td></tr>`,
    )
    .join('\n');
  const list = segments
    .map(
      (s) =>
        `<li><b>${h(s.name)}</b>${s.description ? ` (${h(s.description)})` : ''}: ${h(s.namespaces.join(', '))}</li>`,
    )
    .join('');
  return `<h2>Segmentation controls verified</h2>
<p class="muted">Each row is one direction the scenario declares must be isolated: every attempt from a workload in a namespace of the first segment to a workload in a namespace of the second, made for real on the cluster. Not judged: errors, attempts not made, and attempts an interrupted run never settled; they are neither passed nor failed.</p>
<table class="list fixed segments"><colgroup><col style="width:13%"><col style="width:20%"><col style="width:7%"><col style="width:7%"><col style="width:7%"><col style="width:8%"><col style="width:17%"><col style="width:21%"></colgroup><thead><tr><th>From → to</th><th>Result</th><th>Attempts</th><th>Passed</th><th>Failed</th><th>Not judged</th><th>Methods</th><th>Layers that decided</th></tr></thead><tbody>
${body}
</tbody></table>
<p><b>Segments:</b></p><ul class="segments">${list}</ul>`;
}

/** The out-of-scope statement: what the operator declared, or that nothing was. */
export function outOfScopeStatement(doc: ResultsDocument): string {
  return doc.scope.outOfScope.length > 0 ? doc.scope.outOfScope.join('; ') : 'nothing declared';
}

/** Who tested, as given on the command line, and that bulkhead does not vouch for it. */
export function testerSection(doc: ResultsDocument, h: Escape): string {
  const t = doc.run.tester;
  const rows: [string, string | undefined][] = [
    ['Tester', t?.name],
    ['Organisation', t?.organisation],
    ['Independence', t?.independence],
  ];
  const given = rows.filter((r): r is [string, string] => r[1] !== undefined);
  const stated =
    given.length > 0
      ? `<dl class="kv">${given.map(([k, v]) => `<dt>${h(k)}</dt><dd>${h(v)}</dd>`).join('')}</dl>`
      : '<p>Not stated (run with --tester, --organisation and --independence to record them).</p>';
  return `<h2>Tested by</h2>
${stated}
<p class="muted">As given by whoever ran bulkhead; bulkhead records these fields and does not vouch for them: the tester's identity, qualification and independence are for the process around the test to establish.</p>`;
}
