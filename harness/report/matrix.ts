/**
 * A version matrix as CI reads it, and the merged cells as people read them.
 *
 * - GitHub Actions: the value of `jobs.<id>.strategy.matrix`, one line of JSON for
 *   `fromJSON(needs.<job>.outputs.matrix)`; `include` lists one combination per cell, each key a
 *   `matrix.<key>` of the job (docs.github.com, "Running variations of jobs in a workflow": a
 *   matrix holds at most 256 jobs per workflow run).
 * - GitLab CI: a `parallel:` key whose `matrix:` lists one set of variables per cell, for a job of a
 *   generated child pipeline (docs.gitlab.com, CI/CD YAML syntax reference, `parallel:matrix`: at
 *   most 200 jobs).
 *
 * The merge (harness/results/matrix.ts) renders as a table, JSON, JUnit (one test case per cell)
 * and a self-contained HTML page.
 */
import { stringify } from 'yaml';

import type { CellResult, MatrixCell, MatrixMerge } from '../results/matrix.js';
import { CELL_COLOURS, escapeHtml } from './html.js';
import { renderJUnit, type JUnitTestCase } from './junit.js';
import { renderTable } from './table.js';

export const MATRIX_FORMATS = ['github', 'gitlab'] as const;
export type MatrixFormat = (typeof MATRIX_FORMATS)[number];

/** The most jobs each CI system's matrix expands to (see the module header). */
export const MATRIX_LIMITS: Readonly<Record<MatrixFormat, number>> = { github: 256, gitlab: 200 };

export interface PinnedVersions {
  readonly kubernetes: string;
  readonly calico: string;
}

/** The spec that names exactly these cells, for `matrix-report --expect`. */
export function matrixSpec(cells: readonly MatrixCell[]): string {
  return cells.map((c) => (c.kind === 'run' ? c.istio : `${c.from}:${c.to}`)).join(',');
}

function variables(cell: MatrixCell, pinned: PinnedVersions): Record<string, string> {
  return {
    cell: cell.id,
    ...(cell.kind === 'run' ? { istio: cell.istio } : { from: cell.from, to: cell.to }),
    kubernetes: pinned.kubernetes,
    calico: pinned.calico,
  };
}

/**
 * The job matrix, each cell with its id (its results folder), its versions and the whole spec
 * (`expect`, for the merge job). GitLab's variables are upper case with a BULKHEAD_ prefix, so
 * they cannot collide with the job's own.
 */
export function renderCiMatrix(
  cells: readonly MatrixCell[],
  pinned: PinnedVersions,
  format: MatrixFormat,
): string {
  const all = matrixSpec(cells);
  const rows = cells.map((c) => ({ ...variables(c, pinned), expect: all }));
  if (format === 'github') return `${JSON.stringify({ include: rows })}\n`;
  const upper = rows.map((r) =>
    Object.fromEntries(Object.entries(r).map(([k, v]) => [`BULKHEAD_${k.toUpperCase()}`, v])),
  );
  return stringify({ parallel: { matrix: upper } });
}

const STATE_TEXT: Readonly<Record<CellResult['state'], string>> = {
  held: 'held',
  failed: 'FAILED',
  fault: 'FAULT',
  missing: 'MISSING',
};

const n = (value: number | undefined) => (value === undefined ? '-' : String(value));

export function matrixTable(merge: MatrixMerge): string {
  const rows = merge.cells.map((c) => [
    c.id,
    STATE_TEXT[c.state],
    n(c.attempts),
    n(c.failed),
    n(c.errors),
    n(c.leaks),
    c.state === 'missing' ? 'no results folder' : (c.fault ?? c.dir ?? ''),
  ]);
  const table = renderTable(['cell', 'state', 'attempts', 'failed', 'errors', 'leaks', 'detail'], rows);
  const count = (s: CellResult['state']) => merge.cells.filter((c) => c.state === s).length;
  return `${table}\n${String(merge.cells.length)} cells: ${String(count('held'))} held, ${String(count('failed'))} failed, ${String(count('fault'))} fault, ${String(count('missing'))} missing\n`;
}

export function matrixJson(merge: MatrixMerge): string {
  return `${JSON.stringify({ v: 1, kind: 'bulkhead-matrix-report', exitCode: merge.exitCode, missing: merge.missing, cells: merge.cells }, null, 2)}\n`;
}

export function matrixJUnit(merge: MatrixMerge): string {
  const testcases: JUnitTestCase[] = merge.cells.map((c) => {
    const during = c.transitionLeaks ? ` (${String(c.transitionLeaks)} during upgrade transitions)` : '';
    const detail = `${n(c.attempts)} attempts, ${n(c.failed)} failed, ${n(c.errors)} errors, ${n(c.leaks)} leaks${during}`;
    const base = { name: c.id, classname: 'bulkhead.matrix' };
    if (c.state === 'failed')
      return { ...base, failure: { message: `cell ${c.id} failed: ${detail}`, type: 'failed' } };
    if (c.state === 'fault')
      return {
        ...base,
        error: { message: `cell ${c.id} ended in a fault${c.fault ? `: ${c.fault}` : ''}`, type: 'fault' },
      };
    if (c.state === 'missing')
      return {
        ...base,
        error: {
          message: `cell ${c.id} has no results folder (its job did not run or upload)`,
          type: 'missing',
        },
      };
    return { ...base, systemOut: detail };
  });
  return renderJUnit({ name: 'bulkhead matrix', suites: [{ name: 'bulkhead.matrix', testcases }] });
}

const COLOUR: Readonly<Record<CellResult['state'], string>> = {
  held: CELL_COLOURS.pass,
  failed: CELL_COLOURS.fail,
  fault: CELL_COLOURS.error,
  missing: CELL_COLOURS.none,
};

export function matrixHtml(merge: MatrixMerge): string {
  const h = escapeHtml;
  const rows = merge.cells
    .map(
      (c) =>
        `<tr><td>${h(c.id)}</td><td style="background:${COLOUR[c.state]};color:${c.state === 'missing' ? '#111' : '#fff'}">${h(STATE_TEXT[c.state])}</td>` +
        `<td>${n(c.attempts)}</td><td>${n(c.failed)}</td><td>${n(c.errors)}</td><td>${n(c.leaks)}</td>` +
        `<td>${h(c.state === 'missing' ? 'no results folder' : (c.fault ?? c.dir ?? ''))}</td></tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>bulkhead matrix</title>
<style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #d1d5db;padding:.3em .6em;text-align:left}</style>
</head><body>
<h1>bulkhead matrix: exit ${String(merge.exitCode)}</h1>
<table><thead><tr><th>cell</th><th>state</th><th>attempts</th><th>failed</th><th>errors</th><th>leaks</th><th>detail</th></tr></thead>
<tbody>
${rows}
</tbody></table>
</body></html>
`;
}
