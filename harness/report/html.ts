/**
 * The report for auditors: one self-contained HTML file (inline CSS, no scripts, nothing
 * fetched) that prints to PDF. It states scope, times, trigger, versions and method, shows a
 * tenants × services reachability matrix coloured by outcome and layer, and lists every
 * boundary with its evidence, failures first (anchors Part 2). Written from results.json only.
 */
import { evidenceLines, evidenceText, layerText, verdictMessage } from '../results/describe.js';
import type { AttemptEntry, ResultsDocument } from '../results/results-model.js';

/** Matrix cell states and their colours (also used by the legend and the screenshot test). */
export const CELL_COLOURS = {
  fail: '#dc2626',
  error: '#f59e0b',
  allowed: '#16a34a',
  'denied-l7': '#2563eb',
  'denied-l4': '#7c3aed',
  'denied-mtls': '#0d9488',
  'denied-other': '#475569',
  none: '#e5e7eb',
} as const;
export type CellState = keyof typeof CELL_COLOURS;

const CELL_LABEL: Readonly<Record<CellState, string>> = {
  fail: 'FAIL',
  error: 'ERROR',
  allowed: 'allowed',
  'denied-l7': 'denied L7',
  'denied-l4': 'denied L4',
  'denied-mtls': 'denied mTLS',
  'denied-other': 'denied',
  none: '',
};

const LEGEND: Readonly<Record<CellState, string>> = {
  fail: 'an expectation did not hold (a leak or a broken allowed path)',
  error: 'could not be judged (harness or environment fault) or not attempted',
  allowed: 'allowed, as expected',
  'denied-l7': 'denied by Istio authorization (HTTP 403 RBAC), as expected',
  'denied-l4': 'denied by network policy (drop or reject), as expected',
  'denied-mtls': 'denied by mTLS (plaintext peer reset), as expected',
  'denied-other': 'denied at several layers or by DNS / API RBAC, as expected',
  none: 'no attempt between these two',
};

/** Fixed matrix geometry in CSS pixels, so a printed page and a screenshot lay out the same. */
export const MATRIX_LAYOUT = {
  frame: 3,
  frameColour: '#0f2b46',
  rowHeaderWidth: 200,
  columnHeaderHeight: 56,
  cellWidth: 104,
  cellHeight: 36,
  cellInset: 2,
} as const;

export interface HtmlReportProps {
  readonly document: ResultsDocument;
  /** File names and SHA-256 of the other reports, listed as integrity information. */
  readonly files?: readonly { readonly name: string; readonly sha256: string }[];
}

export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}
const h = escapeHtml;

const VERDICT_ORDER = { fail: 0, error: 1, skipped: 2, pass: 3 } as const;

/** Failures first, then errors, skipped and passes; stable within each. */
export function failuresFirst(attempts: readonly AttemptEntry[]): AttemptEntry[] {
  return [...attempts].sort((a, b) => VERDICT_ORDER[a.verdict] - VERDICT_ORDER[b.verdict]);
}

export function cellState(attempts: readonly AttemptEntry[]): CellState {
  if (attempts.length === 0) return 'none';
  if (attempts.some((a) => a.verdict === 'fail')) return 'fail';
  if (attempts.some((a) => a.verdict !== 'pass')) return 'error';
  const layers = new Set(attempts.filter((a) => a.layer !== 'none').map((a) => a.layer));
  if (layers.size === 0) return 'allowed';
  if (layers.size > 1 || attempts.some((a) => a.layer === 'none')) return 'denied-other';
  const [layer] = [...layers];
  return layer === 'l7'
    ? 'denied-l7'
    : layer === 'l4'
      ? 'denied-l4'
      : layer === 'mtls'
        ? 'denied-mtls'
        : 'denied-other';
}

export interface Matrix {
  /** Source rows: a tenant, or a shared namespace. */
  readonly rows: readonly { readonly key: string; readonly namespaces: readonly string[] }[];
  /** Destination services, `namespace/name`. */
  readonly columns: readonly string[];
  readonly cells: readonly (readonly {
    readonly state: CellState;
    readonly attempts: readonly AttemptEntry[];
  }[])[];
}

/** Tenants (or shared namespaces) × services, from the attempts that target a workload. */
export function reachabilityMatrix(doc: ResultsDocument): Matrix {
  const targeted = doc.attempts.filter((a) => a.to);
  const rowOf = new Map(doc.scope.namespaces.map((n) => [n.name, n.tenant ?? n.name]));
  const rowKey = (ns: string) => rowOf.get(ns) ?? ns;
  const rowKeys = [
    ...new Set([
      ...doc.scope.namespaces.map((n) => n.tenant ?? n.name),
      ...targeted.map((a) => rowKey(a.from.namespace)),
    ]),
  ].filter((k) => targeted.some((a) => rowKey(a.from.namespace) === k));
  const columns = [
    ...new Set([
      ...doc.scope.services.map((s) => `${s.namespace}/${s.name}`),
      ...targeted.map((a) => `${a.to?.namespace ?? ''}/${a.to?.name ?? ''}`),
    ]),
  ].filter((c) => targeted.some((a) => `${a.to?.namespace ?? ''}/${a.to?.name ?? ''}` === c));
  return {
    rows: rowKeys.map((key) => ({
      key,
      namespaces: doc.scope.namespaces.filter((n) => (n.tenant ?? n.name) === key).map((n) => n.name),
    })),
    columns,
    cells: rowKeys.map((row) =>
      columns.map((column) => {
        const attempts = targeted.filter(
          (a) =>
            rowKey(a.from.namespace) === row && `${a.to?.namespace ?? ''}/${a.to?.name ?? ''}` === column,
        );
        return { state: cellState(attempts), attempts };
      }),
    ),
  };
}

const CSS = `
@page { size: A4 landscape; margin: 12mm; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { font: 13px/1.45 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #111827; margin: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 2px solid #d1d5db; padding-bottom: 3px; page-break-after: avoid; }
h3 { font-size: 14px; margin: 14px 0 4px; }
.banner { padding: 10px 14px; font-weight: bold; font-size: 15px; margin: 10px 0; border-radius: 4px; color: #fff; }
.banner.pass { background: #166534; } .banner.fail { background: #991b1b; } .banner.error { background: #92400e; }
.facts { display: grid; grid-template-columns: repeat(3, 1fr); gap: 6px 24px; }
.facts dl { margin: 0; } .facts dt { font-weight: bold; margin-top: 6px; } .facts dd { margin: 0; overflow-wrap: anywhere; }
table.list { border-collapse: collapse; width: 100%; margin: 6px 0; }
table.list th, table.list td { border: 1px solid #d1d5db; padding: 3px 6px; text-align: left; vertical-align: top; }
table.list th { background: #f3f4f6; }
table.list tr { page-break-inside: avoid; }
tr.v-fail td.verdict { background: ${CELL_COLOURS.fail}; color: #fff; font-weight: bold; }
tr.v-error td.verdict, tr.v-skipped td.verdict { background: ${CELL_COLOURS.error}; font-weight: bold; }
tr.v-pass td.verdict { color: #166534; }
pre { white-space: pre-wrap; word-break: break-all; background: #f9fafb; border: 1px solid #e5e7eb; padding: 6px; font-size: 11px; margin: 4px 0; }
.failure { page-break-inside: avoid; border-left: 4px solid ${CELL_COLOURS.fail}; padding-left: 10px; margin-bottom: 12px; }
.failure.error { border-left-color: ${CELL_COLOURS.error}; }
small, .muted { color: #4b5563; }
table.matrix { border-collapse: separate; border-spacing: 0; border: ${MATRIX_LAYOUT.frame}px solid ${MATRIX_LAYOUT.frameColour}; page-break-inside: avoid; }
table.matrix th, table.matrix td { padding: 0; border: 0; }
table.matrix .corner, table.matrix .rowhead { width: ${MATRIX_LAYOUT.rowHeaderWidth}px; }
table.matrix .rowhead div { width: ${MATRIX_LAYOUT.rowHeaderWidth}px; height: ${MATRIX_LAYOUT.cellHeight}px; padding: 0 8px; display: flex; align-items: center; font-weight: bold; overflow: hidden; white-space: nowrap; }
table.matrix .colhead div { width: ${MATRIX_LAYOUT.cellWidth}px; height: ${MATRIX_LAYOUT.columnHeaderHeight}px; padding: 4px; font-size: 10px; line-height: 1.25; overflow: hidden; word-break: break-all; display: flex; flex-direction: column; justify-content: flex-end; text-align: center; }
table.matrix .corner div { height: ${MATRIX_LAYOUT.columnHeaderHeight}px; padding: 4px 8px; font-size: 10px; display: flex; align-items: flex-end; }
table.matrix td div { width: ${MATRIX_LAYOUT.cellWidth - 2 * MATRIX_LAYOUT.cellInset}px; height: ${MATRIX_LAYOUT.cellHeight - 2 * MATRIX_LAYOUT.cellInset}px; margin: ${MATRIX_LAYOUT.cellInset}px; display: flex; align-items: center; justify-content: center; font-size: 11px; font-weight: bold; color: #fff; overflow: hidden; white-space: nowrap; }
table.matrix td div.s-none, table.matrix td div.s-error { color: #111827; }
.legend span.sw { display: inline-block; width: 14px; height: 14px; vertical-align: middle; margin-right: 6px; border: 1px solid #9ca3af; }
.legend div { margin: 2px 0; }
${(Object.keys(CELL_COLOURS) as CellState[]).map((s) => `.s-${s} { background: ${CELL_COLOURS[s]}; }`).join('\n')}
`;

function fact(label: string, value: string | number | undefined): string {
  return value === undefined || value === '' ? '' : `<dt>${h(label)}</dt><dd>${h(String(value))}</dd>`;
}

function durationText(doc: ResultsDocument): string {
  const ms = Date.parse(doc.run.endedAt) - Date.parse(doc.run.startedAt);
  return Number.isFinite(ms) && ms >= 0 ? `${(ms / 1000).toFixed(1)} s` : '';
}

function headerSection(doc: ResultsDocument): string {
  const s = doc.summary;
  const kind =
    s.failed > 0 ? 'fail' : s.errors > 0 || doc.run.interrupted || doc.run.fault ? 'error' : 'pass';
  const words =
    kind === 'pass'
      ? `PASS: every one of ${s.attempts} isolation expectations held`
      : kind === 'fail'
        ? `FAIL: ${s.failed} of ${s.attempts} isolation expectations did not hold${s.leaks > 0 ? ` (${s.leaks} leak${s.leaks === 1 ? '' : 's'})` : ''}`
        : `INCOMPLETE: ${[
            ...(s.errors > 0 ? [`${s.errors} attempt${s.errors === 1 ? '' : 's'} could not be judged`] : []),
            ...(s.skipped > 0 ? [`${s.skipped} not attempted`] : []),
            ...(doc.run.interrupted ? ['the run was interrupted'] : []),
            ...(doc.run.fault ? [`a fault stopped it: ${doc.run.fault}`] : []),
          ].join('; ')}`;
  return `<h1>Tenant isolation test report: ${h(doc.method.scenario.name)}</h1>
<div class="muted">run ${h(doc.run.id)} · ${h(doc.run.startedAt)} to ${h(doc.run.endedAt)} · ${h(doc.scope.environment === 'production' ? 'production cluster' : doc.scope.environment === 'replica' ? 'replica cluster (not production)' : 'cluster kind not stated')}</div>
<div class="banner ${kind}">${h(words)}</div>
<div>${s.passed} passed · ${s.failed} failed · ${s.errors} errors · ${s.skipped} not attempted${doc.run.fault ? ` · fault: ${h(doc.run.fault)}` : ''}</div>`;
}

function factsSection(doc: ResultsDocument): string {
  const v = doc.versions;
  const m = doc.method;
  const images = Object.entries(v.images)
    .map(([k, i]) => fact(`image ${k}`, i))
    .join('');
  return `<h2>Scope, time, versions and method</h2>
<div class="facts">
<dl>${fact('Provider', doc.scope.provider)}${fact('Environment', doc.scope.environment)}${fact('Cluster (API server)', doc.scope.cluster)}${fact('Context', doc.scope.context)}${fact('Cluster name', doc.scope.clusterName)}${fact('Cluster UID (kube-system)', doc.scope.clusterUid)}${fact('Tenants', doc.scope.tenants.join(', '))}${fact('Namespaces in scope', doc.scope.namespaces.map((n) => n.name).join(', '))}${fact('Services in scope', doc.scope.services.length)}${fact('Out of scope', doc.scope.outOfScope.join(', ') || 'nothing declared')}${doc.scope.policies ? fact(`Segmentation controls in scope (${doc.scope.policies.length})`, doc.scope.policies.join(', ') || 'none') : ''}</dl>
<dl>${fact('Run id', doc.run.id)}${fact('Started', doc.run.startedAt)}${fact('Ended', doc.run.endedAt)}${fact('Duration', durationText(doc))}${fact('Trigger', doc.run.trigger)}${fact('Change / ticket', doc.run.change)}${fact('Run by', doc.run.operator)}${fact('Exit code', doc.run.exitCode)}${fact('bulkhead', `${v.bulkhead}${v.gitCommit ? ` (commit ${v.gitCommit})` : ''}`)}${fact('Kubernetes', v.kubernetes ?? 'not recorded')}${fact('Calico', v.calico ?? 'not recorded')}${fact('Istio', v.istio ?? 'not recorded')}${fact('Node.js (harness)', v.node)}${images}</dl>
<dl>${fact('Scenario', `${m.scenario.name} (${m.scenario.file})`)}${fact('Scenario SHA-256', m.scenario.sha256)}${fact('Attempts', doc.summary.attempts)}${fact('Attempt deadline (default)', `${m.defaultAttemptTimeoutMs} ms`)}${fact('Stable rounds', m.stableRounds)}${m.convergeTimeoutMs === undefined ? '' : fact('Convergence deadline', `${m.convergeTimeoutMs} ms`)}${m.settleMs === undefined ? '' : fact('Settle time before round 1', `${m.settleMs} ms`)}${m.roundIntervalMs === undefined ? '' : fact('Pause between rounds', `${m.roundIntervalMs} ms`)}${fact('Convergence rule', m.convergenceRule)}${footingFacts(m)}</dl>
</div>`;
}

/** How the run checked its footing and what it read about the cluster, for the method. */
function footingFacts(m: ResultsDocument['method']): string {
  const f = m.footing;
  const c = m.clusterFacts;
  const b = m.barrier;
  return [
    b
      ? fact(
          'Policy in force before round 1',
          `network: ${b.network.status}${b.network.ms === undefined ? '' : ` in ${b.network.ms} ms`}: ${b.network.reasoning}; mesh: ${b.mesh.reasoning}; then ${b.settleMs} ms of --settle`,
        )
      : '',
    f
      ? fact(
          'Footing checked before any attempt',
          `${f.readBack.fixtures} fixtures and ${f.readBack.policies} policies read back as applied; istio-proxy on ${f.sidecars.withProxy} of ${f.sidecars.pods} pods, as the scenario says`,
        )
      : fact('Footing checked before any attempt', 'not reached'),
    c
      ? fact(
          'API server as policy sees it',
          `${c.apiServer.value ? `${c.apiServer.value.cidrs.join(', ')} port ${c.apiServer.value.port}` : 'not needed'} (${c.apiServer.source}): ${c.apiServer.reasoning}`,
        )
      : '',
    c ? fact('DNS path', `${c.dns.status}: ${c.dns.reasoning}`) : '',
    c
      ? fact(
          'Attempt deadlines behind a sidecar',
          `${c.deadlines.derivedMs === undefined ? 'scenario default' : `${c.deadlines.derivedMs} ms`} = ${c.deadlines.formula} (${c.deadlines.lengthened} attempts lengthened, ${c.deadlines.keptExplicit} kept their own); ${c.deadlines.reasoning}`,
        )
      : '',
  ].join('');
}

function matrixSection(doc: ResultsDocument): string {
  const m = reachabilityMatrix(doc);
  if (m.columns.length === 0) return '';
  const head = m.columns
    .map((c) => {
      const [ns = '', name = ''] = c.split('/');
      return `<th class="colhead" title="${h(c)}"><div><span>${h(ns)}/</span><span><b>${h(name)}</b></span></div></th>`;
    })
    .join('');
  const rows = m.rows
    .map((row, r) => {
      const cells = (m.cells[r] ?? [])
        .map((cell) => {
          const title = cell.attempts.map((a) => `${a.id}: ${a.verdict} ${a.outcome}`).join('\n');
          const n = cell.attempts.length;
          const label = CELL_LABEL[cell.state] + (n > 1 ? ` ×${n}` : '');
          return `<td><div class="s-${cell.state}" data-state="${cell.state}" title="${h(title)}">${h(label)}</div></td>`;
        })
        .join('');
      return `<tr><th class="rowhead" title="${h(row.namespaces.join(', '))}"><div>${h(row.key)}</div></th>${cells}</tr>`;
    })
    .join('\n');
  const legend = (Object.keys(CELL_COLOURS) as CellState[])
    .map(
      (s) =>
        `<div><span class="sw s-${s}"></span><b>${h(CELL_LABEL[s] || 'empty')}</b>: ${h(LEGEND[s])}</div>`,
    )
    .join('');
  return `<h2>Reachability: tenants × services</h2>
<p class="muted">Each cell aggregates every attempt from a tenant's workloads (rows) to a service (columns). A red cell holds at least one failed expectation; hover or see the table below for each attempt.</p>
<table class="matrix"><thead><tr><th class="corner"><div>from \\ to</div></th>${head}</tr></thead><tbody>
${rows}
</tbody></table>
<div class="legend">${legend}</div>`;
}

function failuresSection(doc: ResultsDocument): string {
  const bad = failuresFirst(doc.attempts).filter((a) => a.verdict === 'fail' || a.verdict === 'error');
  if (bad.length === 0) return '<h2>Failures</h2><p>None: every expectation held.</p>';
  return `<h2>Failures (${bad.length})</h2>
${bad
  .map(
    (
      a,
    ) => `<div class="failure ${a.verdict}"><h3>${h(a.verdict.toUpperCase())} ${h(a.id)}: ${h(a.from.namespace)}/${h(a.from.name)} → ${h(a.target)}</h3>
<div>${h(verdictMessage(a))}</div>
<pre>${h(evidenceText(a))}</pre></div>`,
  )
  .join('\n')}`;
}

function resultsSection(doc: ResultsDocument): string {
  const rows = failuresFirst(doc.attempts)
    .map(
      (a) =>
        `<tr class="v-${a.verdict}"><td class="verdict">${h(a.verdict.toUpperCase())}</td><td>${h(a.id)}<br><small>${h(a.category)} · ${h(a.kind)}</small></td><td>${h(a.from.namespace)}/${h(a.from.name)}</td><td>${h(a.target)}</td><td>${h(a.expect)}</td><td>${h(a.outcome)}${a.leak ? ' <b>(leak)</b>' : ''}</td><td>${h(layerText(a))}</td><td>${a.rounds}${a.stable ? '' : ' (unsettled)'}</td><td><small>${h(a.firstObservedAt ?? '')}<br>${h(a.lastObservedAt ?? '')}</small></td><td><small>${evidenceLines(a.evidence).slice(0, 4).map(h).join('<br>')}</small></td></tr>`,
    )
    .join('\n');
  return `<h2>Per-boundary results (${doc.attempts.length})</h2>
<table class="list"><thead><tr><th>Result</th><th>Attempt</th><th>From</th><th>To</th><th>Expected</th><th>Observed</th><th>Layer</th><th>Rounds</th><th>First / last observed</th><th>Evidence</th></tr></thead><tbody>
${rows}
</tbody></table>`;
}

function lintSection(doc: ResultsDocument): string {
  if (!doc.lint) return '';
  if (doc.lint.length === 0) return '<h2>Policy lint findings</h2><p>No findings.</p>';
  const order = { error: 0, warning: 1, info: 2 } as const;
  const rows = [...doc.lint]
    .sort((a, b) => order[a.severity] - order[b.severity])
    .map(
      (f) =>
        `<tr><td>${h(f.severity)}</td><td>${h(f.rule)}</td><td>${h(f.object)}</td><td>${h(`${f.file}:${f.line}`)}</td><td>${h(f.message)}<br><small>Fix: ${h(f.hint)}</small></td></tr>`,
    )
    .join('\n');
  return `<h2>Policy lint findings (${doc.lint.length})</h2>
<table class="list"><thead><tr><th>Severity</th><th>Rule</th><th>Object</th><th>Where</th><th>Finding</th></tr></thead><tbody>
${rows}
</tbody></table>`;
}

function ablationSection(doc: ResultsDocument): string {
  if (!doc.ablation || doc.ablation.length === 0) return '';
  const layers = [...new Set(doc.ablation.flatMap((a) => Object.keys(a.without)))];
  const rows = [...doc.ablation]
    .sort((a, b) => b.failsWithout.length - a.failsWithout.length)
    .map(
      (a) =>
        `<tr><td>${h(a.attempt)}</td>${layers.map((l) => `<td>${h(a.without[l] ?? '')}</td>`).join('')}<td>${h(a.holdsAlone.join(', ') || 'none')}</td><td>${a.failsWithout.length > 0 ? `<b>${h(a.failsWithout.join(', '))}</b>` : 'none'}</td></tr>`,
    )
    .join('\n');
  return `<h2>Defence in depth: layer ablation (model)</h2>
<p class="muted">Each attempt expected to be denied, predicted again with one layer's policies removed. "Fails without" lists single points of failure.</p>
<table class="list"><thead><tr><th>Attempt</th>${layers.map((l) => `<th>without ${h(l)}</th>`).join('')}<th>Holds alone</th><th>Fails without</th></tr></thead><tbody>
${rows}
</tbody></table>`;
}

function integritySection(files: HtmlReportProps['files']): string {
  if (!files || files.length === 0) return '';
  return `<h2>Integrity</h2>
<table class="list"><thead><tr><th>File</th><th>SHA-256</th></tr></thead><tbody>
${files.map((f) => `<tr><td>${h(f.name)}</td><td><code>${h(f.sha256)}</code></td></tr>`).join('\n')}
</tbody></table>`;
}

export function renderHtmlReport(props: HtmlReportProps): string {
  const doc = props.document;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>bulkhead report: ${h(doc.method.scenario.name)} (${h(doc.run.id)})</title>
<style>${CSS}</style>
</head>
<body>
${headerSection(doc)}
${factsSection(doc)}
${matrixSection(doc)}
${failuresSection(doc)}
${resultsSection(doc)}
${lintSection(doc)}
${ablationSection(doc)}
${integritySection(props.files)}
<p class="muted">Written by bulkhead ${h(doc.versions.bulkhead)} from results.json v${doc.v}. The tool records what it observed; the independence and qualification of whoever ran it are for the process around it to record.</p>
</body>
</html>
`;
}
