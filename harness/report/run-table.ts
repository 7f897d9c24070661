/**
 * What `bulkhead run` and `bulkhead report` print when they are done: every attempt, failures
 * first, and a two-line summary naming the run's log. Rendered from results.json, like every
 * other report, so the terminal and the files never disagree.
 */
import path from 'node:path';

import type { AttemptEntry, ReportVerdict, ResultsDocument } from '../results/results-model.js';
import { planesText } from '../scenario/dataplane.js';
import { renderTable } from './table.js';

const ORDER: Readonly<Record<ReportVerdict, number>> = {
  fail: 0,
  error: 1,
  skipped: 2,
  'not-judged': 3,
  pass: 4,
};

export function resultTable(attempts: readonly AttemptEntry[]): string {
  const sorted = [...attempts].sort((a, b) => ORDER[a.verdict] - ORDER[b.verdict]);
  return renderTable(
    ['RESULT', 'ATTEMPT', 'PLANES', 'EXPECT', 'OBSERVED', 'ROUNDS', 'WHY'],
    sorted.map((a) => [
      a.verdict === 'not-judged' ? 'NOT JUDGED' : a.verdict.toUpperCase(),
      a.id,
      planesText(a.dataplanes),
      a.expect,
      a.outcome,
      String(a.rounds),
      a.verdict === 'pass' ? '' : a.reason,
    ]),
  );
}

/**
 * `2 passed, 0 failed, 0 errors` (and what was skipped, when a run stopped early), then the
 * run id and its log, relative to `cwd`.
 */
export function runSummary(document: ResultsDocument, log: string, cwd: string): string {
  const s = document.summary;
  const where = path.relative(cwd, log) || log;
  return (
    `\n${s.passed} passed, ${s.failed} failed, ${s.errors} ${s.errors === 1 ? 'error' : 'errors'}` +
    (s.skipped > 0 ? `, ${s.skipped} skipped` : '') +
    ((s.notJudged ?? 0) > 0 ? `, ${s.notJudged ?? 0} not judged (never settled)` : '') +
    (document.run.interrupted ? ' (interrupted)' : '') +
    `\nrun ${document.run.id}: ${where}${document.run.kept ? ' (resources kept)' : ''}\n`
  );
}
