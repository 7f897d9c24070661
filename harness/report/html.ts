/**
 * The report for auditors: one self-contained HTML file (inline CSS, no scripts, nothing
 * fetched) that prints to PDF (A4 landscape). It states scope, times, trigger, versions and
 * method; shows the tenants × services reachability matrices (one per destination namespace,
 * each cell the count of every outcome seen, coloured by verdict) and a coverage table for the
 * attempts without a destination workload (DNS queries, API requests), so every attempt is in
 * a table; and lists every boundary with its evidence, failures first (anchors Part 2). Written
 * from results.json only.
 */
import {
  decidingObservation,
  evidencePairs,
  evidenceLines,
  layerText,
  podFields,
  runVerdict,
  shownVerdict,
  tally,
  tallyText,
  verdictMessage,
  verdictWord,
  type ShownVerdict,
} from '../results/describe.js';
import type { AttemptEntry, ResultsDocument } from '../results/results-model.js';
import { outOfScopeStatement, segmentationSection, segmentCss, testerSection } from './segments.js';
import { transitionCss, transitionSection } from './transition-html.js';
import type { Outcome } from '../scenario/outcomes.js';

/**
 * Matrix cell states, by verdict, and their colours (also used by the legend and the screenshot
 * test): any failure red, else anything not judged amber, else green when every expectation held.
 */
export const CELL_COLOURS = {
  fail: '#b91c1c',
  error: '#f59e0b',
  pass: '#15803d',
  none: '#e5e7eb',
} as const;
export type CellState = keyof typeof CELL_COLOURS;

const LEGEND: Readonly<Record<CellState, string>> = {
  fail: 'at least one expectation did not hold (a leak or a broken allowed path)',
  error:
    'nothing failed, but at least one attempt could not be judged, was not attempted, or never settled before the run stopped',
  pass: 'every expectation held, whatever the outcomes (allowed and denied alike)',
  none: 'no attempt between these two',
};
const LEGEND_LABEL: Readonly<Record<CellState, string>> = {
  fail: 'failed',
  error: 'not judged',
  pass: 'held',
  none: 'empty',
};

/** How a cell names each outcome it counts. */
const OUTCOME_LABEL: Readonly<Record<Outcome, string>> = {
  allowed: 'allowed',
  'denied-l7': 'denied L7',
  'denied-l4': 'denied L4',
  reset: 'reset mTLS',
  refused: 'refused L4',
  resolved: 'resolved',
  nxdomain: 'NXDOMAIN',
  'api-forbidden': 'forbidden',
  'api-allowed': 'API allowed',
  error: 'error',
};

/**
 * Fixed matrix geometry in CSS pixels, so a printed page and a screenshot lay out the same:
 * every matrix is at most `maxWidth` wide (an A4 landscape page with 12 mm margins is 1031 px;
 * a 1400 px window less the page margins, 1352), which gives each matrix at most
 * `matrixColumns` services and each coverage table `coverageColumns` source tenants; wider
 * groups are split. Cells grow downwards with what they count, never clipped.
 */
export const MATRIX_LAYOUT = {
  frame: 3,
  frameColour: '#0f2b46',
  rowHeaderWidth: 150,
  coverageRowHeaderWidth: 260,
  cellWidth: 112,
  cellMinHeight: 36,
  cellInset: 2,
  maxWidth: 960,
  get matrixColumns(): number {
    return Math.floor((this.maxWidth - 2 * this.frame - this.rowHeaderWidth) / this.cellWidth);
  },
  get coverageColumns(): number {
    return Math.floor((this.maxWidth - 2 * this.frame - this.coverageRowHeaderWidth) / this.cellWidth);
  },
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

type Run = Pick<ResultsDocument['run'], 'interrupted'>;
const VERDICT_ORDER: Readonly<Record<ShownVerdict, number>> = {
  fail: 0,
  error: 1,
  skipped: 2,
  'not-judged': 3,
  pass: 4,
};

/** Failures first, then errors, not attempted, not settled and passes; stable within each. */
export function failuresFirst(
  attempts: readonly AttemptEntry[],
  run: Run = { interrupted: false },
): AttemptEntry[] {
  return [...attempts].sort(
    (a, b) => VERDICT_ORDER[shownVerdict(a, run)] - VERDICT_ORDER[shownVerdict(b, run)],
  );
}

/** Any failure red, else anything not judged amber, else green; grey when empty. */
export function cellState(attempts: readonly AttemptEntry[], run: Run = { interrupted: false }): CellState {
  if (attempts.length === 0) return 'none';
  const verdicts = attempts.map((a) => shownVerdict(a, run));
  if (verdicts.includes('fail')) return 'fail';
  if (verdicts.some((v) => v !== 'pass')) return 'error';
  return 'pass';
}

/** One count of a cell: `4 denied L7`, `1 allowed (leak)`, `2 not attempted`. */
export interface CellItem {
  readonly count: number;
  readonly text: string;
  readonly verdict: ShownVerdict;
}

const OUTCOME_ORDER = Object.keys(OUTCOME_LABEL) as Outcome[];

/** What a cell counts: the attempts grouped by outcome and verdict, failures first. */
export function cellItems(attempts: readonly AttemptEntry[], run: Run = { interrupted: false }): CellItem[] {
  const groups = new Map<string, { verdict: ShownVerdict; label: string; order: number; count: number }>();
  for (const a of attempts) {
    const verdict = shownVerdict(a, run);
    const label =
      verdict === 'skipped'
        ? 'not attempted'
        : verdict === 'error'
          ? 'error'
          : `${OUTCOME_LABEL[a.outcome]}${verdict === 'fail' ? (a.leak ? ' (leak)' : ' (failed)') : verdict === 'not-judged' ? ' (not settled)' : ''}`;
    const key = `${verdict} ${label}`;
    const group = groups.get(key) ?? {
      verdict,
      label,
      order: VERDICT_ORDER[verdict] * 100 + OUTCOME_ORDER.indexOf(a.outcome),
      count: 0,
    };
    group.count++;
    groups.set(key, group);
  }
  return [...groups.values()]
    .sort((a, b) => a.order - b.order)
    .map((g) => ({ count: g.count, text: `${g.count} ${g.label}`, verdict: g.verdict }));
}

export interface MatrixCell {
  readonly state: CellState;
  readonly attempts: readonly AttemptEntry[];
  readonly items: readonly CellItem[];
}

export interface Matrix {
  /** Source rows: a tenant, or a shared namespace. */
  readonly rows: readonly { readonly key: string; readonly namespaces: readonly string[] }[];
  /** Destination services, `namespace/name`. */
  readonly columns: readonly string[];
  readonly cells: readonly (readonly MatrixCell[])[];
}

function cellOf(attempts: readonly AttemptEntry[], run: Run): MatrixCell {
  return { state: cellState(attempts, run), attempts, items: cellItems(attempts, run) };
}

/** The source row of a namespace: its tenant, or the namespace itself when it is shared. */
function sourceRows(doc: ResultsDocument, attempts: readonly AttemptEntry[]) {
  const rowOf = new Map(doc.scope.namespaces.map((n) => [n.name, n.tenant ?? n.name]));
  const rowKey = (ns: string) => rowOf.get(ns) ?? ns;
  const keys = [
    ...new Set([
      ...doc.scope.namespaces.map((n) => n.tenant ?? n.name),
      ...attempts.map((a) => rowKey(a.from.namespace)),
    ]),
  ].filter((k) => attempts.some((a) => rowKey(a.from.namespace) === k));
  return {
    rowKey,
    rows: keys.map((key) => ({
      key,
      namespaces: doc.scope.namespaces.filter((n) => (n.tenant ?? n.name) === key).map((n) => n.name),
    })),
  };
}

const serviceOf = (a: AttemptEntry) => `${a.to?.namespace ?? ''}/${a.to?.name ?? ''}`;

/** Tenants (or shared namespaces) × services, from the attempts that target a workload. */
export function reachabilityMatrix(doc: ResultsDocument): Matrix {
  const targeted = doc.attempts.filter((a) => a.to);
  const { rows, rowKey } = sourceRows(doc, targeted);
  const columns = [
    ...new Set([...doc.scope.services.map((s) => `${s.namespace}/${s.name}`), ...targeted.map(serviceOf)]),
  ].filter((c) => targeted.some((a) => serviceOf(a) === c));
  return {
    rows,
    columns,
    cells: rows.map((row) =>
      columns.map((column) =>
        cellOf(
          targeted.filter((a) => rowKey(a.from.namespace) === row.key && serviceOf(a) === column),
          doc.run,
        ),
      ),
    ),
  };
}

/** One table of the report's matrices: a caption, row and column headers, and its cells. */
export interface Grid {
  readonly kind: 'reachability' | 'dns' | 'api' | 'escape';
  readonly caption: string;
  readonly corner: string;
  readonly rowHeaderWidth: number;
  /** `plane`: the data plane(s) of the row's namespaces or the column's service, shown under the label. */
  readonly rows: readonly { readonly label: string; readonly title: string; readonly plane?: string }[];
  readonly columns: readonly { readonly label: string; readonly title: string; readonly plane?: string }[];
  readonly cells: readonly (readonly MatrixCell[])[];
}

function chunks<T>(list: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/**
 * The reachability matrix as the report draws it: one table per destination namespace (every
 * source row in each), split when a namespace has more services than a page's width holds.
 */
export function reachabilityMatrices(doc: ResultsDocument): Grid[] {
  const m = reachabilityMatrix(doc);
  const tenantOf = new Map(doc.scope.namespaces.map((n) => [n.name, n.tenant]));
  const byNamespace = new Map<string, number[]>();
  m.columns.forEach((c, i) => {
    const ns = c.slice(0, c.indexOf('/'));
    byNamespace.set(ns, [...(byNamespace.get(ns) ?? []), i]);
  });
  return [...byNamespace].flatMap(([ns, indexes]) => {
    const parts = chunks(indexes, MATRIX_LAYOUT.matrixColumns);
    const tenant = tenantOf.get(ns);
    return parts.map((part, p) => ({
      kind: 'reachability' as const,
      caption: `to ${ns}${tenant ? ` (tenant ${tenant})` : tenantOf.has(ns) ? ' (shared)' : ''}${parts.length > 1 ? `, services ${p * MATRIX_LAYOUT.matrixColumns + 1}–${p * MATRIX_LAYOUT.matrixColumns + part.length} of ${indexes.length}` : ''}`,
      corner: 'from \\ to',
      rowHeaderWidth: MATRIX_LAYOUT.rowHeaderWidth,
      rows: m.rows.map((r) => ({
        label: r.key,
        title: r.namespaces.join(', '),
        ...planeOfNamespaces(doc, r.namespaces),
      })),
      columns: part.map((i) => {
        const c = m.columns[i] ?? '';
        const plane = doc.scope.services.find((s) => `${s.namespace}/${s.name}` === c)?.dataplane;
        return { label: c.slice(c.indexOf('/') + 1), title: c, ...(plane ? { plane } : {}) };
      }),
      cells: m.cells.map((row) => part.map((i) => row[i] ?? cellOf([], doc.run))),
    }));
  });
}

/** The data planes of a row's namespaces, `ambient` or `ambient/sidecar`; none when unrecorded. */
function planeOfNamespaces(doc: ResultsDocument, namespaces: readonly string[]): { plane?: string } {
  const planes = [
    ...new Set(
      doc.scope.namespaces
        .filter((n) => namespaces.includes(n.name))
        .flatMap((n) => (n.dataplane ? [n.dataplane] : [])),
    ),
  ];
  return planes.length > 0 ? { plane: planes.join('/') } : {};
}

/** The categories of attempts beyond the Services, in the order the escape matrix shows them. */
const ESCAPE_COLUMNS = [
  ['node', 'the node (kubelet, SSH)'],
  ['metadata', 'cloud metadata service'],
  ['egress', 'outside the cluster'],
  ['pod-ip', 'other tenants by pod IP'],
  ['gateway', "other tenants' backends through an ingress gateway"],
] as const;

/**
 * Attempts beyond the Services: source tenant (rows) × target kind (columns: the node, the
 * metadata service, outside addresses, other tenants' pods by IP), by observed outcome.
 */
export function escapeMatrix(doc: ResultsDocument): Grid[] {
  const kinds = new Set<string>(ESCAPE_COLUMNS.map(([c]) => c));
  const attempts = doc.attempts.filter((a) => kinds.has(a.category));
  if (attempts.length === 0) return [];
  const { rows, rowKey } = sourceRows(doc, attempts);
  const columns = ESCAPE_COLUMNS.filter(([c]) => attempts.some((a) => a.category === c));
  return [
    {
      kind: 'escape',
      caption: 'beyond the Services, by source tenant',
      corner: 'from \\ to',
      rowHeaderWidth: MATRIX_LAYOUT.rowHeaderWidth,
      rows: rows.map((r) => ({ label: r.key, title: r.namespaces.join(', ') })),
      columns: columns.map(([c, title]) => ({ label: c, title })),
      cells: rows.map((r) =>
        columns.map(([c]) =>
          cellOf(
            attempts.filter((a) => a.category === c && rowKey(a.from.namespace) === r.key),
            doc.run,
          ),
        ),
      ),
    },
  ];
}

/**
 * The attempts without a destination workload, which no reachability matrix can hold: one table
 * for DNS queries and one for API requests, each query or request (rows) × source tenant.
 */
export function coverageTables(doc: ResultsDocument): Grid[] {
  return (['dns', 'api'] as const).flatMap((kind) => {
    const attempts = doc.attempts.filter((a) => !a.to && a.kind === kind);
    if (attempts.length === 0) return [];
    const { rows: sources, rowKey } = sourceRows(doc, attempts);
    const targets = [...new Set(attempts.map((a) => a.target))];
    const parts = chunks(sources, MATRIX_LAYOUT.coverageColumns);
    return parts.map((part, p) => ({
      kind,
      caption: `${kind === 'dns' ? 'DNS queries' : 'Kubernetes API requests'} by source tenant${parts.length > 1 ? `, tenants ${p * MATRIX_LAYOUT.coverageColumns + 1}–${p * MATRIX_LAYOUT.coverageColumns + part.length} of ${sources.length}` : ''}`,
      corner: kind === 'dns' ? 'query \\ from' : 'request \\ from',
      rowHeaderWidth: MATRIX_LAYOUT.coverageRowHeaderWidth,
      rows: targets.map((t) => ({ label: t, title: t })),
      columns: part.map((s) => ({ label: s.key, title: s.namespaces.join(', ') })),
      cells: targets.map((t) =>
        part.map((s) =>
          cellOf(
            attempts.filter((a) => a.target === t && rowKey(a.from.namespace) === s.key),
            doc.run,
          ),
        ),
      ),
    }));
  });
}

const CSS = `
@page { size: A4 landscape; margin: 12mm; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { font: 13px/1.45 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #111827; margin: 24px; }
@media print { body { margin: 0; } }
h1 { font-size: 22px; margin: 0 0 4px; }
.flag { color: #b91c1c; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 2px solid #d1d5db; padding-bottom: 3px; page-break-after: avoid; }
h3 { font-size: 14px; margin: 14px 0 4px; overflow-wrap: anywhere; }
.banner { padding: 10px 14px; font-weight: bold; font-size: 15px; margin: 10px 0; border-radius: 4px; color: #fff; }
.banner.pass { background: #166534; } .banner.fail { background: #991b1b; } .banner.incomplete, .banner.empty { background: #92400e; }
.facts { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 6px 24px; }
.facts dl { margin: 0; } .facts dt { font-weight: bold; margin-top: 6px; } .facts dd { margin: 0; overflow-wrap: anywhere; }
table.list { border-collapse: collapse; width: 100%; margin: 6px 0; }
table.list th, table.list td { border: 1px solid #d1d5db; padding: 3px 6px; text-align: left; vertical-align: top; overflow-wrap: break-word; }
table.list.fixed { table-layout: fixed; }
table.list code { overflow-wrap: anywhere; }
table.list th { background: #f3f4f6; }
table.list tr { page-break-inside: avoid; }
tr.v-fail td.verdict { background: ${CELL_COLOURS.fail}; color: #fff; font-weight: bold; }
tr.v-error td.verdict, tr.v-skipped td.verdict, tr.v-not-judged td.verdict { background: ${CELL_COLOURS.error}; font-weight: bold; }
tr.v-pass td.verdict { color: #166534; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; word-break: break-all; background: #f9fafb; border: 1px solid #e5e7eb; padding: 6px; font-size: 11px; margin: 4px 0; }
.failure { page-break-inside: avoid; border-left: 4px solid ${CELL_COLOURS.fail}; padding-left: 10px; margin-bottom: 12px; }
.failure.error { border-left-color: ${CELL_COLOURS.error}; }
.failure p { margin: 2px 0 6px; overflow-wrap: anywhere; }
dl.kv { display: grid; grid-template-columns: 11em minmax(0, 1fr); gap: 2px 12px; margin: 4px 0; font-size: 12px; }
dl.kv > dt { font-weight: bold; } dl.kv > dd { margin: 0; overflow-wrap: anywhere; min-width: 0; }
dl.kv dl.kv { grid-template-columns: 9em minmax(0, 1fr); margin: 0; font-size: 11.5px; }
dl.kv pre { margin: 0; }
small, .muted { color: #4b5563; }
.matrices { display: flex; flex-wrap: wrap; gap: 14px 20px; align-items: flex-start; margin: 8px 0; }
table.matrix { border-collapse: separate; border-spacing: 0; table-layout: fixed; border: ${MATRIX_LAYOUT.frame}px solid ${MATRIX_LAYOUT.frameColour}; page-break-inside: avoid; }
table.matrix caption { caption-side: top; text-align: left; font-weight: bold; font-size: 12px; padding: 0 0 3px; overflow-wrap: anywhere; }
table.matrix th, table.matrix td { padding: 0; border: 0; }
table.matrix th { font-size: 11px; overflow-wrap: anywhere; }
table.matrix th .plane { font-size: 9.5px; font-weight: normal; color: #4b5563; }
table.matrix .rowhead { padding: 2px 8px; text-align: left; vertical-align: middle; }
table.matrix .colhead { padding: 4px; vertical-align: bottom; text-align: center; font-size: 10.5px; line-height: 1.25; }
table.matrix .corner { padding: 4px 8px; vertical-align: bottom; text-align: left; font-size: 10px; font-weight: normal; }
table.matrix td { vertical-align: top; }
table.matrix td div.cell { min-height: ${MATRIX_LAYOUT.cellMinHeight - 2 * MATRIX_LAYOUT.cellInset}px; margin: ${MATRIX_LAYOUT.cellInset}px; padding: 3px 4px; display: flex; flex-direction: column; justify-content: center; font-size: 10.5px; line-height: 1.3; font-weight: bold; color: #fff; text-align: center; overflow-wrap: anywhere; }
table.matrix td div.cell .sep { font-size: 0; }
table.matrix td div.s-none, table.matrix td div.s-error { color: #111827; }
table.matrix td div.s-none { font-weight: normal; }
.legend span.sw { display: inline-block; width: 14px; height: 14px; vertical-align: middle; margin-right: 6px; border: 1px solid #9ca3af; }
.legend div { margin: 2px 0; }
${(Object.keys(CELL_COLOURS) as CellState[]).map((s) => `.s-${s} { background: ${CELL_COLOURS[s]}; }`).join('\n')}
${segmentCss(CELL_COLOURS)}
${transitionCss(CELL_COLOURS)}
`;

function fact(label: string, value: string | number | undefined): string {
  return value === undefined || value === '' ? '' : `<dt>${h(label)}</dt><dd>${h(String(value))}</dd>`;
}

function durationText(doc: ResultsDocument): string {
  const ms = Date.parse(doc.run.endedAt) - Date.parse(doc.run.startedAt);
  return Number.isFinite(ms) && ms >= 0 ? `${(ms / 1000).toFixed(1)} s` : '';
}

/**
 * The environment in words that cannot be misread: never a phrase like "cluster kind" (a
 * reader takes it for a kind cluster). `unknown` is what the operator did not declare.
 */
export function environmentText(environment: ResultsDocument['scope']['environment']): string {
  switch (environment) {
    case 'production':
      return 'production cluster';
    case 'staging':
      return 'staging cluster (not production)';
    case 'replica':
      return 'replica cluster (not production)';
    case 'unknown':
      return 'environment not declared (production, staging or replica: run with --environment)';
  }
}

function headerSection(doc: ResultsDocument): string {
  const verdict = runVerdict(doc);
  const t = tally(doc);
  return `<h1>Tenant isolation test report: ${h(doc.method.scenario.name)}</h1>
<div class="muted">run ${h(doc.run.id)} · ${h(doc.run.startedAt)} to ${h(doc.run.endedAt)} · ${h(environmentText(doc.scope.environment))}</div>
<div class="banner ${verdict.kind}" data-verdict="${verdict.kind}">${h(verdict.words)}</div>
<div>${h(tallyText(t))}${doc.run.fault ? ` · fault: ${h(doc.run.fault)}` : ''}</div>`;
}

function factsSection(doc: ResultsDocument): string {
  const v = doc.versions;
  const m = doc.method;
  const images = Object.entries(v.images)
    .map(([k, i]) => fact(`image ${k}`, i))
    .join('');
  return `<h2>Scope, time, versions and method</h2>
<div class="facts">
<dl>${fact('Provider', doc.scope.provider)}${fact('Environment', environmentText(doc.scope.environment))}${fact('Cluster (API server)', doc.scope.cluster)}${fact('Context', doc.scope.context)}${fact('Cluster name', doc.scope.clusterName)}${fact('Cluster UID (kube-system)', doc.scope.clusterUid)}${fact('Tenants', doc.scope.tenants.join(', '))}${fact('Namespaces in scope', doc.scope.namespaces.map((n) => n.name).join(', '))}${fact('Services in scope', doc.scope.services.length)}${fact('Out of scope', outOfScopeStatement(doc))}${doc.scope.policies ? fact(`Segmentation controls in scope (${doc.scope.policies.length})`, doc.scope.policies.join(', ') || 'none') : ''}</dl>
<dl>${fact('Run id', doc.run.id)}${fact('Started', doc.run.startedAt)}${fact('Ended', doc.run.endedAt)}${fact('Duration', durationText(doc))}${fact('Trigger', doc.run.trigger)}${fact('Change / ticket', doc.run.change)}${fact('Run by', doc.run.operator)}${fact('Exit code', doc.run.exitCode)}${fact('bulkhead', `${v.bulkhead}${v.gitCommit ? ` (commit ${v.gitCommit})` : ''}`)}${fact('Kubernetes', v.kubernetes ?? 'not recorded')}${fact('Calico', v.calico ?? 'not recorded')}${fact('Istio', v.istio ?? 'not recorded')}${fact('Node.js (harness)', v.node)}${images}</dl>
<dl>${fact('Scenario', `${m.scenario.name} (${m.scenario.file})`)}${fact('Scenario SHA-256', m.scenario.sha256)}${fact('Attempts', doc.summary.attempts)}${fact('Attempt deadline (default)', `${m.defaultAttemptTimeoutMs} ms`)}${fact('Stable rounds', m.stableRounds)}${m.convergeTimeoutMs === undefined ? '' : fact('Convergence deadline', `${m.convergeTimeoutMs} ms`)}${m.settleMs === undefined ? '' : fact('Settle time before round 1', `${m.settleMs} ms`)}${m.roundIntervalMs === undefined ? '' : fact('Pause between rounds', `${m.roundIntervalMs} ms`)}${fact('Convergence rule', m.convergenceRule)}${footingFacts(m)}</dl>
</div>`;
}

/** The ingress gateways as the footing read them: Programmed, their pod, each route's parent status. */
function gatewayFootingText(
  gateways: NonNullable<NonNullable<ResultsDocument['method']['footing']>['gateways']>,
): string {
  return gateways
    .map(
      (g) =>
        `ingress gateway ${g.gateway} Programmed ${g.programmed} at generation ${g.generation}, pod ${g.pod || 'none'} Ready; its routes (status read ${g.routesReadAfter === 'barrier' ? 'after the barrier' : 'once attached, before the policies'}): ${g.routes.map((r) => `${r.route} (${r.role === 'own' ? "tenant's own" : 'cross-tenant, under test'}: Accepted ${r.accepted}, ResolvedRefs ${r.resolvedRefs})`).join(', ')}`,
    )
    .join('; ');
}

/** How the run checked its footing and what it read about the cluster, for the method. */
function footingFacts(m: ResultsDocument['method']): string {
  const f = m.footing;
  const c = m.clusterFacts;
  const b = m.barrier;
  const cp = m.clusterPolicies;
  return [
    cp
      ? fact(
          "The cluster's own policies",
          `${cp.objects.length} policy object${cp.objects.length === 1 ? '' : 's'} the run did not apply, read before round 1 and predicted with${cp.objects.length > 0 ? ` (${cp.objects.join(', ')})` : ''}${cp.absent.length > 0 ? `; not served: ${cp.absent.join(', ')}` : ''}${cp.unreadable.length > 0 ? `; could not be listed, so not accounted for: ${cp.unreadable.join('; ')}` : ''}; ${cp.flips.length === 0 ? 'they flip no prediction' : `they flip ${cp.flips.length} prediction${cp.flips.length === 1 ? '' : 's'}: ${cp.flips.map((f) => `${f.attempt} (expected ${f.expect}: ${f.alone} with the run's policies alone, ${f.predicted} with ${f.decidedBy.join(', ') || "the cluster's"}${f.reasons.length > 0 ? `; ${f.reasons.join('; ')}` : ''})`).join('; ')}`}. ${cp.judging}`,
        )
      : '',
    b
      ? fact(
          'Policy in force before round 1',
          `network: ${b.network.status}${b.network.ms === undefined ? '' : ` in ${b.network.ms} ms`}: ${b.network.reasoning}; mesh: ${b.mesh.status}${b.mesh.ms === undefined ? '' : ` in ${b.mesh.ms} ms`}: ${b.mesh.reasoning}; then ${b.settleMs} ms of --settle`,
        )
      : '',
    f
      ? fact(
          'Footing checked before any attempt',
          `${f.readBack.fixtures} fixtures and ${f.readBack.policies} policies read back as applied; istio-proxy on ${f.sidecars.withProxy} of ${f.sidecars.pods} pods${f.ambient ? `, ${f.ambient.captured} captured by ztunnel, ${f.ambient.waypoints} waypoint(s) usable` : ''}, as the scenario says${f.gateways ? `; ${gatewayFootingText(f.gateways)}` : ''}`,
        )
      : fact('Footing checked before any attempt', 'not reached'),
    f?.ambient ? fact('Pooled HBONE connections (ambient)', hbonePoolingText(b)) : '',
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

/**
 * Why ztunnel's HBONE connection pool cannot make an ambient network-policy verdict look better
 * than it is (../shared/reference/ambient-cnp-facts.md AO10: new app connections ride a pooled
 * HBONE connection keyed by source and destination identity, destination address and source IP,
 * with no port, which Calico decided once when it was opened). The run's facts it rests on:
 * preflight refuses a scenario namespace that exists (harness/run/preflight.ts), so every source
 * pod and every destination pod is new to the run; before the policies the only pod-to-pod dials
 * are the canary's, to an out-of-mesh pod, plain TCP and no HBONE (harness/run/canary.ts); the
 * policies do not change during the rounds. Two attempts on one pool key share one HBONE flow on
 * 15008, which Calico decides alike and so does the model (harness/model/ambient.ts, A1.14).
 * A connection opened while Calico was still programming the policies stays pooled, but a
 * must-deny attempt granted in any round is a leak (harness/results/judge.ts): a fail, never a pass.
 */
function hbonePoolingText(b: ResultsDocument['method']['barrier']): string {
  const barrier =
    b?.network.status === 'passed'
      ? 'opened after the network barrier had passed'
      : `opened with no network barrier passed (${b?.network.status ?? 'not recorded'}), so possibly while Calico was still programming the policies`;
  return (
    'ztunnel multiplexes new connections between two pods onto a pooled HBONE connection that Calico decided when it was opened (ambient-cnp-facts AO10). ' +
    'Every scenario namespace and pod was created by this run, and before the policies its pods dialled only the out-of-mesh canary (plain TCP, no HBONE), ' +
    `so every pooled connection was ${barrier}. ` +
    'The pool key has no port: attempts between the same two pods share one HBONE flow on TCP 15008, which Calico and the prediction decide alike. ' +
    'A must-deny attempt granted in any round is a leak, so a connection pooled too early can fail an attempt, never pass it.'
  );
}

/** A header's data plane, on a line of its own under the label. */
function planeLine(plane: string | undefined): string {
  return plane ? `<br><span class="plane">${h(plane)}</span>` : '';
}

function gridTable(g: Grid, run: Run): string {
  const L = MATRIX_LAYOUT;
  const width = 2 * L.frame + g.rowHeaderWidth + g.columns.length * L.cellWidth;
  const cols = [g.rowHeaderWidth, ...g.columns.map(() => L.cellWidth)]
    .map((w) => `<col style="width:${w}px">`)
    .join('');
  const head = g.columns
    .map(
      (c) => `<th class="colhead" scope="col" title="${h(c.title)}">${h(c.label)}${planeLine(c.plane)}</th>`,
    )
    .join('');
  const rows = g.rows
    .map((row, r) => {
      const cells = (g.cells[r] ?? [])
        .map((cell) => {
          const title =
            cell.attempts
              .map((a) => `${a.id}: ${verdictWord(shownVerdict(a, run))}, ${a.outcome}`)
              .join('\n') || 'no attempt';
          // One line per outcome; the separator is for text readers (copy, search, screen readers).
          const items = cell.items.length === 0 ? ['—'] : cell.items.map((i) => i.text);
          const body = items
            .map((text) => `<span class="item">${h(text)}</span>`)
            .join('<span class="sep"> · </span>');
          return `<td><div class="cell s-${cell.state}" data-state="${cell.state}" data-count="${cell.attempts.length}" title="${h(title)}">${body}</div></td>`;
        })
        .join('');
      return `<tr><th class="rowhead" scope="row" title="${h(row.title)}">${h(row.label)}${planeLine(row.plane)}</th>${cells}</tr>`;
    })
    .join('\n');
  return `<table class="matrix" data-grid="${g.kind}" style="width:${width}px"><caption>${h(g.caption)}</caption><colgroup>${cols}</colgroup><thead><tr><th class="corner">${h(g.corner)}</th>${head}</tr></thead><tbody>
${rows}
</tbody></table>`;
}

function legend(): string {
  return `<div class="legend">${(Object.keys(CELL_COLOURS) as CellState[])
    .map((s) => `<div><span class="sw s-${s}"></span><b>${h(LEGEND_LABEL[s])}</b>: ${h(LEGEND[s])}</div>`)
    .join(
      '',
    )}<div>Each cell counts the attempts by what was observed: <b>2 allowed · 4 denied L7</b> is six attempts, two of which got through and four refused by Istio authorization. A count that did not hold says so: <b>(leak)</b>, <b>(failed)</b>; <b>(not settled)</b> is an attempt of an interrupted run that never settled.</div></div>`;
}

function matrixSection(doc: ResultsDocument): string {
  const matrices = reachabilityMatrices(doc);
  const coverage = coverageTables(doc);
  const escape = escapeMatrix(doc);
  if (matrices.length === 0 && coverage.length === 0 && escape.length === 0) return '';
  const reach =
    matrices.length === 0
      ? ''
      : `<h2>Reachability: tenants × services</h2>
<p class="muted">One matrix per destination namespace. Each cell counts every attempt from a tenant's workloads (rows) to a service (columns), by observed outcome, and is coloured by verdict. Hover a cell, or see the table below, for each attempt.</p>
<div class="matrices">
${matrices.map((g) => gridTable(g, doc.run)).join('\n')}
</div>`;
  const cover =
    coverage.length === 0
      ? ''
      : `<h2>Coverage: DNS queries and API requests</h2>
<p class="muted">Attempts with no destination workload: each query or request (rows) from each source tenant (columns), by observed outcome, coloured by verdict.</p>
<div class="matrices">
${coverage.map((g) => gridTable(g, doc.run)).join('\n')}
</div>`;
  const beyond =
    escape.length === 0
      ? ''
      : `<h2>Beyond the Services: nodes, metadata, egress, pod IPs</h2>
<p class="muted">Each source tenant's attempts (rows) to the node its pods run on, the cloud's metadata service, addresses outside the cluster and other tenants' pods by IP (columns), by observed outcome, coloured by verdict.</p>
<div class="matrices">
${escape.map((g) => gridTable(g, doc.run)).join('\n')}
</div>`;
  return `${reach}
${cover}
${beyond}
${legend()}`;
}

function kv(pairs: readonly (readonly [string, string])[], raw: ReadonlySet<string> = new Set()): string {
  return `<dl class="kv">${pairs.map(([k, v]) => `<dt>${h(k)}</dt><dd>${raw.has(k) ? v : h(v)}</dd>`).join('')}</dl>`;
}

/** The failure box's facts as a definition list (the message above says why): what was expected and seen, the evidence, the pods. */
function failureFacts(a: AttemptEntry, run: Run): string {
  const d = a.diagnostics;
  const raw = new Set<string>();
  const pairs: [string, string][] = [
    ['Expected', a.expect],
    ['Observed', `${a.outcome} (${layerText(a)}); verdict ${verdictWord(shownVerdict(a, run))}`],
    ['Rounds', a.observations.map((o) => `${o.round}=${o.outcome}`).join(' ') || 'none'],
    ...(a.firstObservedAt
      ? [['Observed at', `first ${a.firstObservedAt}, last ${a.lastObservedAt ?? ''}`] as [string, string]]
      : []),
    ...(a.prediction
      ? [['Model predicted', `${a.prediction.outcome} (layer ${a.prediction.layer})`] as [string, string]]
      : []),
    ...(a.prediction?.decidedBy
      ? [["Decided by the cluster's own policies", a.prediction.decidedBy.join(', ')] as [string, string]]
      : []),
  ];
  const evidence = evidencePairs(a.evidence);
  if (evidence.length > 0) {
    pairs.push(['Evidence', kv(evidence)]);
    raw.add('Evidence');
  }
  if (d) {
    pairs.push(['Policies', d.policies.join(', ') || 'none']);
    pairs.push(['Reproduce', `<pre>${h(d.reproduce)}</pre>`]);
    raw.add('Reproduce');
    for (const [label, pod] of [
      ['Source pod', d.source],
      ['Destination pod', d.destination],
    ] as const) {
      if (!pod) continue;
      const fields = podFields(pod).map(([k, v]): [string, string] => [
        k,
        k === 'istio-proxy log' && v.includes('\n') ? `<pre>${h(v)}</pre>` : h(v),
      ]);
      pairs.push([label, kv(fields, new Set(fields.map(([k]) => k)))]);
      raw.add(label);
    }
  }
  return kv(pairs, raw);
}

function failuresSection(doc: ResultsDocument): string {
  const bad = failuresFirst(doc.attempts, doc.run).filter(
    (a) => a.verdict === 'fail' || a.verdict === 'error',
  );
  if (bad.length === 0)
    return `<h2>Failures</h2><p>${doc.attempts.length === 0 ? 'None, because nothing was tested.' : 'None: every expectation judged held.'}</p>`;
  return `<h2>Failures (${bad.length})</h2>
${bad
  .map(
    (
      a,
    ) => `<div class="failure ${a.verdict}"><h3>${h(a.verdict.toUpperCase())} ${h(a.id)}: ${h(a.from.namespace)}/${h(a.from.name)} → ${h(a.target)}</h3>
<p>${h(verdictMessage(a, doc.run))}</p>
${failureFacts(a, doc.run)}</div>`,
  )
  .join('\n')}`;
}

/** The per-boundary table's column widths (percent): fixed, so a long token wraps in its own column. */
const RESULT_COLUMNS = [6, 13, 9, 11, 6, 10, 8, 6, 9, 8, 14] as const;

/** The "encrypted in transit" cell: mTLS proven (with the identity), no proof (flagged), or not meshed. */
function transitCell(a: AttemptEntry): string {
  const t = a.transit;
  if (!t) return '';
  if (t.status === 'mtls') return `mTLS<br><small>${h(t.identity ?? '')}</small>`;
  if (t.status === 'no-proof') return `<b class="flag">NO PROOF</b><br><small>${h(t.reason)}</small>`;
  return `not meshed<br><small>${h(t.reason)}</small>`;
}

/** One line on the allowed meshed attempts: how many the evidence proves mutual TLS for, and which not. */
function transitSummary(doc: ResultsDocument): string {
  const meshed = doc.attempts.filter((a) => a.transit && a.transit.status !== 'not-meshed');
  if (meshed.length === 0) return '';
  const flagged = meshed.filter((a) => a.transit?.status === 'no-proof');
  const proven = meshed.length - flagged.length;
  return `<p class="transit">Encrypted in transit: ${proven} of ${meshed.length} allowed attempts between meshed workloads show mutual TLS (the app received an x-forwarded-client-cert naming the caller's SPIFFE identity)${
    flagged.length === 0
      ? '.'
      : `; <b class="flag">${flagged.length} show no such proof</b>: ${flagged
          .slice(0, 10)
          .map((a) => h(a.id))
          .join(', ')}${flagged.length > 10 ? ` and ${flagged.length - 10} more` : ''}.`
  }</p>`;
}

/** An ISO time that may wrap after its date. */
const isoTime = (t: string | undefined) => h(t ?? '').replace('T', 'T<wbr>');

/** What the prediction says beyond the observation: the cluster's own objects it rests on, what staged policies would change. */
function attemptNotes(a: AttemptEntry): string[] {
  const p = a.prediction;
  return [
    ...(p?.decidedBy ? [`predicted by the cluster's ${p.decidedBy.join(', ')}`] : []),
    ...(p?.wouldChange
      ? [`would change: ${p.outcome} -> ${p.wouldChange.outcome} if Calico's staged policies were enforced`]
      : []),
  ];
}

function resultsSection(doc: ResultsDocument): string {
  const rows = failuresFirst(doc.attempts, doc.run)
    .map((a) => {
      const verdict = shownVerdict(a, doc.run);
      const why = decidingObservation(a)?.reason;
      return `<tr class="v-${verdict}"><td class="verdict">${h(verdictWord(verdict).toUpperCase())}</td><td>${h(a.id)}<br><small>${h(a.category)} · ${h(a.kind)}</small></td><td>${h(a.from.namespace)}/${h(a.from.name)}</td><td>${h(a.target)}</td><td>${h(a.expect)}</td><td>${h(a.outcome)}${a.leak ? ' <b>(leak)</b>' : ''}${why && verdict !== 'pass' ? `<br><small>${h(why)}</small>` : ''}</td><td>${h(layerText(a))}</td><td>${a.rounds}${a.stable ? '' : ' (unsettled)'}</td><td><small>${isoTime(a.firstObservedAt)}<br>${isoTime(a.lastObservedAt)}</small></td><td>${transitCell(a)}</td><td><small>${[...evidenceLines(a.evidence).slice(0, 4), ...attemptNotes(a)].map(h).join('<br>')}</small></td></tr>`;
    })
    .join('\n');
  return `<h2>Per-boundary results (${doc.attempts.length})</h2>
${transitSummary(doc)}
${doc.attempts.length === 0 ? '<p><b>No attempts: nothing was tested.</b> The scenario declares no attempt, so this run is no evidence of isolation.</p>' : ''}<table class="list fixed"><colgroup>${RESULT_COLUMNS.map((w) => `<col style="width:${w}%">`).join('')}</colgroup><thead><tr><th>Result</th><th>Attempt</th><th>From</th><th>To</th><th>Expected</th><th>Observed</th><th>Layer</th><th>Rounds</th><th>First / last observed</th><th>Encrypted in transit</th><th>Evidence</th></tr></thead><tbody>
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
<table class="list fixed"><colgroup><col style="width:8%"><col style="width:16%"><col style="width:20%"><col style="width:16%"><col style="width:40%"></colgroup><thead><tr><th>Severity</th><th>Rule</th><th>Object</th><th>Where</th><th>Finding</th></tr></thead><tbody>
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
${segmentationSection(doc, h)}
${factsSection(doc)}
${testerSection(doc, h)}
${transitionSection(doc, h)}
${matrixSection(doc)}
${failuresSection(doc)}
${resultsSection(doc)}
${lintSection(doc)}
${ablationSection(doc)}
${integritySection(props.files)}
<p class="muted">Written by bulkhead ${h(doc.versions.bulkhead)} from results.json v${doc.v}. The tool records what it observed; it does not vouch for who ran it.</p>
</body>
</html>
`;
}
