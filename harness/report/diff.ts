/**
 * What changed between two runs (before and after an upgrade, yesterday and today), per
 * attempt id: newly allowed, newly denied, denied at another layer, new errors. A must-deny
 * attempt that newly got through or newly failed is a regression: `bulkhead diff` exits 1.
 */
import { renderTable } from './table.js';
import { renderJUnit, type JUnitTestCase } from './junit.js';
import { LAYER_NAMES } from '../results/layers.js';
import type { AttemptEntry, ResultsDocument } from '../results/results-model.js';

export const CHANGE_KINDS = [
  'newly-allowed',
  'newly-denied',
  'layer-changed',
  'outcome-changed',
  'new-error',
  'error-cleared',
  'verdict-changed',
  'added',
  'removed',
] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

export interface AttemptChange {
  readonly id: string;
  readonly kind: ChangeKind;
  readonly category: string;
  readonly mustDeny: boolean;
  /** A must-deny boundary that held before and does not now. */
  readonly regression: boolean;
  readonly before?: Pick<AttemptEntry, 'outcome' | 'layer' | 'verdict' | 'expect'>;
  readonly after?: Pick<AttemptEntry, 'outcome' | 'layer' | 'verdict' | 'expect'>;
  /** One sentence. */
  readonly summary: string;
}

export interface ResultsDiff {
  readonly before: { readonly run: string; readonly scenarioSha256: string; readonly startedAt: string };
  readonly after: { readonly run: string; readonly scenarioSha256: string; readonly startedAt: string };
  readonly changes: readonly AttemptChange[];
  readonly unchanged: number;
  readonly regressions: number;
}

const GRANTING = new Set(['allowed', 'api-allowed', 'resolved']);
const pick = (a: AttemptEntry) => ({
  outcome: a.outcome,
  layer: a.layer,
  verdict: a.verdict,
  expect: a.expect,
});

function classify(before: AttemptEntry, after: AttemptEntry): ChangeKind | undefined {
  if (after.verdict === 'error' && before.verdict !== 'error') return 'new-error';
  if (before.verdict === 'error' && after.verdict !== 'error') return 'error-cleared';
  const wasGranted = GRANTING.has(before.outcome) || before.leak;
  const isGranted = GRANTING.has(after.outcome) || after.leak;
  if (!wasGranted && isGranted) return 'newly-allowed';
  if (wasGranted && !isGranted) return 'newly-denied';
  if (!isGranted && before.layer !== after.layer) return 'layer-changed';
  if (before.outcome !== after.outcome) return 'outcome-changed';
  if (before.verdict !== after.verdict) return 'verdict-changed';
  return undefined;
}

function sentence(kind: ChangeKind, b: AttemptEntry | undefined, a: AttemptEntry | undefined): string {
  const o = (e: AttemptEntry) => `${e.outcome}${e.leak ? ' (leak)' : ''} [${e.verdict}]`;
  switch (kind) {
    case 'added':
      return `new attempt: ${a ? o(a) : ''}`;
    case 'removed':
      return `no longer attempted (was ${b ? o(b) : ''})`;
    case 'layer-changed':
      return `denied at ${b ? LAYER_NAMES[b.layer] : ''}, now at ${a ? LAYER_NAMES[a.layer] : ''}`;
    case 'error-cleared':
    case 'new-error':
    case 'newly-allowed':
    case 'newly-denied':
    case 'outcome-changed':
    case 'verdict-changed':
    default:
      return `${b ? o(b) : ''} -> ${a ? o(a) : ''}`;
  }
}

export function diffResults(before: ResultsDocument, after: ResultsDocument): ResultsDiff {
  const old = new Map(before.attempts.map((a) => [a.id, a]));
  const now = new Map(after.attempts.map((a) => [a.id, a]));
  const changes: AttemptChange[] = [];
  let unchanged = 0;
  for (const a of after.attempts) {
    const b = old.get(a.id);
    const kind = b ? classify(b, a) : 'added';
    if (!kind) {
      unchanged++;
      continue;
    }
    const regression =
      a.mustDeny &&
      (kind === 'newly-allowed' || (a.verdict === 'fail' && b !== undefined && b.verdict !== 'fail'));
    changes.push({
      id: a.id,
      kind,
      category: a.category,
      mustDeny: a.mustDeny,
      regression,
      ...(b ? { before: pick(b) } : {}),
      after: pick(a),
      summary: sentence(kind, b, a),
    });
  }
  for (const b of before.attempts) {
    if (now.has(b.id)) continue;
    changes.push({
      id: b.id,
      kind: 'removed',
      category: b.category,
      mustDeny: b.mustDeny,
      regression: false,
      before: pick(b),
      summary: sentence('removed', b, undefined),
    });
  }
  // Regressions first, then by kind, then by id: the reader starts with what must be fixed.
  changes.sort(
    (x, y) =>
      Number(y.regression) - Number(x.regression) ||
      CHANGE_KINDS.indexOf(x.kind) - CHANGE_KINDS.indexOf(y.kind) ||
      x.id.localeCompare(y.id),
  );
  const runOf = (d: ResultsDocument) => ({
    run: d.run.id,
    scenarioSha256: d.method.scenario.sha256,
    startedAt: d.run.startedAt,
  });
  return {
    before: runOf(before),
    after: runOf(after),
    changes,
    unchanged,
    regressions: changes.filter((c) => c.regression).length,
  };
}

export function diffTable(diff: ResultsDiff): string {
  const head =
    `${diff.before.run} (${diff.before.startedAt}) -> ${diff.after.run} (${diff.after.startedAt})\n` +
    (diff.before.scenarioSha256 === diff.after.scenarioSha256
      ? ''
      : 'note: the two runs used different scenario files (SHA-256 differs)\n');
  const table =
    diff.changes.length === 0
      ? ''
      : renderTable(
          ['', 'ATTEMPT', 'CHANGE', 'BEFORE', 'AFTER', 'EXPECT'],
          diff.changes.map((c) => [
            c.regression ? 'REGRESSION' : '',
            c.id,
            c.kind,
            c.before ? `${c.before.outcome} [${c.before.verdict}]` : '-',
            c.after ? `${c.after.outcome} [${c.after.verdict}]` : '-',
            c.after?.expect ?? c.before?.expect ?? '',
          ]),
        );
  return (
    head +
    table +
    `\n${diff.changes.length} changed, ${diff.unchanged} unchanged, ${diff.regressions} must-deny regression${diff.regressions === 1 ? '' : 's'}\n`
  );
}

export function diffJson(diff: ResultsDiff): string {
  return JSON.stringify({ v: 1, kind: 'bulkhead-diff', ...diff }, null, 2) + '\n';
}

export function diffJUnit(diff: ResultsDiff): string {
  const categories = [...new Set(diff.changes.map((c) => c.category))].sort();
  return renderJUnit({
    name: `bulkhead diff ${diff.before.run} ${diff.after.run}`,
    suites: categories.map((category) => ({
      name: `diff.${category}`,
      properties: [
        ['before.run', diff.before.run],
        ['after.run', diff.after.run],
        ['unchanged', String(diff.unchanged)],
      ],
      testcases: diff.changes
        .filter((c) => c.category === category)
        .map((c): JUnitTestCase => {
          const base: JUnitTestCase = {
            name: `${c.id}: ${c.kind}`,
            classname: `diff.${category}`,
            properties: [
              ['change', c.kind],
              ['before', c.before ? `${c.before.outcome} ${c.before.verdict}` : 'absent'],
              ['after', c.after ? `${c.after.outcome} ${c.after.verdict}` : 'absent'],
              ['must-deny', String(c.mustDeny)],
            ],
            systemOut: c.summary,
          };
          return c.regression
            ? { ...base, failure: { message: `must-deny regression: ${c.summary}`, type: c.kind } }
            : base;
        }),
    })),
  });
}
