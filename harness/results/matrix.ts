/**
 * A version matrix spread over CI jobs: the cells a spec names, and the merge of the cells' results
 * folders after each job ran one cell. The CI system schedules the jobs (GitHub Actions
 * `strategy.matrix`, GitLab `parallel:matrix`); bulkhead only names the cells and reads back what
 * each wrote.
 *
 * A cell's id is its results folder's name: the job runs with `--run-id <cell id>`, so its
 * folder is `<reports>/<cell id>/`, and uploads that folder as an artifact of the same name.
 *
 * - run cells (`run --istio-matrix 1.29.6,1.30.3`): `istio-<version>`, a results.json;
 * - upgrade cells (`upgrade-check --matrix 1.29.6:1.30.3`): `upgrade-<from>-to-<to>`, an
 *   upgrade-check.json.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';

import { z } from 'zod';

import { InputError, UserError, type Problem } from '../errors.js';
import { fileProblem, inputFileRefusal, readInputFile } from '../input-file.js';
import { parseYaml } from '../yaml-source.js';
import { readResultsFile } from './read-results.js';

export type MatrixCell =
  | { readonly id: string; readonly kind: 'run'; readonly istio: string }
  | { readonly id: string; readonly kind: 'upgrade'; readonly from: string; readonly to: string };

export const runCellId = (istio: string): string => `istio-${istio}`;
export const upgradeCellId = (from: string, to: string): string => `upgrade-${from}-to-${to}`;

/** A version as the spec may carry it: a cell id is a folder name and a CI variable. */
const VERSION_TEXT = /^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?$/;

function entriesOf(spec: string, flag: string): string[] {
  const entries = spec
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  if (entries.length === 0) throw new UserError(`${flag} names no cells (give versions separated by commas)`);
  return entries;
}

function versionText(text: string, flag: string): string {
  if (!VERSION_TEXT.test(text)) throw new UserError(`${flag}: '${text}' is not a version like 1.30.3`);
  return text;
}

/**
 * The cells of a spec: `1.29.6,1.30.3` (one run per Istio version) or `1.29.6:1.30.3,...` (one
 * upgrade-check per from:to pair); the two kinds are not mixed. Only the text is checked here;
 * the caller checks each version against the support tables (harness/cluster/versions.ts).
 */
export function parseMatrixSpec(spec: string, flag: string): MatrixCell[] {
  const entries = entriesOf(spec, flag);
  const pairs = entries.filter((e) => e.includes(':'));
  if (pairs.length > 0 && pairs.length < entries.length)
    throw new UserError(
      `${flag} mixes from:to pairs and single versions; give either upgrade pairs (1.29.6:1.30.3) or run versions (1.30.3)`,
    );
  const cells: MatrixCell[] = entries.map((entry) => {
    if (!entry.includes(':')) {
      const istio = versionText(entry, flag);
      return { id: runCellId(istio), kind: 'run', istio };
    }
    const [from = '', to = '', ...rest] = entry.split(':');
    if (rest.length > 0 || !from || !to)
      throw new UserError(`${flag}: '${entry}' is not a from:to pair like 1.29.6:1.30.3`);
    const a = versionText(from, flag);
    const b = versionText(to, flag);
    return { id: upgradeCellId(a, b), kind: 'upgrade', from: a, to: b };
  });
  const seen = new Set<string>();
  for (const cell of cells) {
    if (seen.has(cell.id)) throw new UserError(`${flag} names the cell ${cell.id} twice`);
    seen.add(cell.id);
  }
  return cells;
}

/** How a cell ended: its command's exit code (0 held, 1 failed, 2 fault), or no folder at all. */
export type CellState = 'held' | 'failed' | 'fault' | 'missing';

export interface CellResult {
  readonly id: string;
  readonly state: CellState;
  /** The folder read, as given; absent for a missing cell. */
  readonly dir?: string;
  /** `run` (results.json) or `upgrade` (upgrade-check.json). */
  readonly kind?: 'run' | 'upgrade';
  readonly attempts?: number;
  readonly failed?: number;
  readonly errors?: number;
  /** Every leak the cell saw: its phases' and, for an upgrade cell, its transitions'. */
  readonly leaks?: number;
  /** Of {@link leaks}, those seen while probing through an upgrade's transitions. */
  readonly transitionLeaks?: number;
  /** What a fault said, when the cell recorded it. */
  readonly fault?: string;
}

export interface MatrixMerge {
  readonly cells: readonly CellResult[];
  /** Cells of the expected matrix with no folder. */
  readonly missing: readonly string[];
  /**
   * Paths given that do not exist, skipped because the expected matrix was given: a CI job whose
   * artifacts never came leaves its glob unexpanded (`cells/*`) or its folder absent.
   */
  readonly absent: readonly string[];
  /** 1 when any cell failed; else 2 when any is missing or ended in a fault; else 0. */
  readonly exitCode: 0 | 1 | 2;
}

const STATE_OF = ['held', 'failed', 'fault'] as const;

/** The part of upgrade-check.json (harness/upgrade/report.ts crossPhaseJson) a merge reads. */
const UpgradeCheckJson = z.object({
  v: z.literal(1),
  kind: z.literal('bulkhead-upgrade-check'),
  exitCode: z.number().int().min(0).max(2),
  phases: z.array(
    z.object({
      summary: z.object({
        attempts: z.number().int(),
        failed: z.number().int(),
        errors: z.number().int(),
        leaks: z.number().int(),
      }),
    }),
  ),
  /** The probe streams through each transition (harness/upgrade/stream-analysis.ts); absent before they were recorded. */
  transitions: z.array(z.object({ leakCount: z.number().int().min(0) })).optional(),
  faults: z.array(z.object({ message: z.string() })),
});

/** upgrade-check.json holds every phase's attempts in summary form only: a few MiB at most. */
const MAX_UPGRADE_JSON_BYTES = 64 * 2 ** 20;

async function readUpgradeCheck(file: string, shownAs: string): Promise<Omit<CellResult, 'id' | 'dir'>> {
  const text = await readInputFile(file, { shownAs, maxBytes: MAX_UPGRADE_JSON_BYTES });
  const parsed = parseYaml(text, shownAs, 0, { maxNodes: 4_000_000 });
  if (!parsed.ok) throw new InputError(parsed.problems);
  const doc = parsed.documents[0];
  if (!doc || parsed.documents.length !== 1)
    throw new InputError([fileProblem(shownAs, 'expected one JSON document')]);
  const checked = UpgradeCheckJson.safeParse(doc.value());
  if (!checked.success)
    throw new InputError(
      checked.error.issues.slice(0, 20).map((i) =>
        doc.problem(
          i.path.filter((p) => typeof p !== 'symbol'),
          i.message,
        ),
      ),
    );
  const sum = (key: 'attempts' | 'failed' | 'errors' | 'leaks') =>
    checked.data.phases.reduce((n, p) => n + p.summary[key], 0);
  // A leak while the control plane or the workloads were changing is a leak of the cell too.
  const transitionLeaks = (checked.data.transitions ?? []).reduce((n, t) => n + t.leakCount, 0);
  return {
    kind: 'upgrade',
    state: STATE_OF[checked.data.exitCode as 0 | 1 | 2],
    attempts: sum('attempts'),
    failed: sum('failed'),
    errors: sum('errors'),
    leaks: sum('leaks') + transitionLeaks,
    ...(checked.data.transitions ? { transitionLeaks } : {}),
    ...(checked.data.faults[0] ? { fault: checked.data.faults[0].message } : {}),
  };
}

/** Reads one cell folder: its upgrade-check.json when it has one, else its results.json. */
async function readCell(dir: string, shownAs: string): Promise<CellResult> {
  const id = path.basename(path.resolve(dir));
  const upgrade = path.join(dir, 'upgrade-check.json');
  // Any upgrade-check.json there is the cell's (and refused as it is when it cannot be read).
  if ((await inputFileRefusal(upgrade, MAX_UPGRADE_JSON_BYTES)) !== 'no such file or directory')
    return {
      id,
      dir: shownAs,
      ...(await readUpgradeCheck(upgrade, path.join(shownAs, 'upgrade-check.json'))),
    };
  const results = path.join(dir, 'results.json');
  const doc = await readResultsFile(results, path.join(shownAs, 'results.json'));
  const s = doc.summary;
  return {
    id,
    dir: shownAs,
    kind: 'run',
    state: STATE_OF[doc.run.exitCode as 0 | 1 | 2],
    attempts: s.attempts,
    failed: s.failed,
    errors: s.errors,
    leaks: s.leaks,
    ...(doc.run.fault ? { fault: doc.run.fault } : {}),
  };
}

export interface MergeProps {
  /** Cell folders, absolute, each with the text it was given as. */
  readonly dirs: readonly { readonly path: string; readonly shownAs: string }[];
  /** The matrix the cells came from; a cell of it with no folder is missing. */
  readonly expected?: readonly MatrixCell[];
}

/**
 * Merges cell folders into one matrix. A folder that cannot be read is a located error (nothing
 * is merged); two folders of one cell id, or a folder outside the expected matrix, are refused.
 * With the expected matrix, a path that does not exist at all is skipped (listed in `absent`):
 * its cells are then MISSING, which is what happened to them.
 */
export async function mergeMatrix(props: MergeProps): Promise<MatrixMerge> {
  const problems: Problem[] = [];
  const read: CellResult[] = [];
  const absent: string[] = [];
  for (const dir of props.dirs) {
    if (props.expected && !(await exists(dir.path))) {
      absent.push(dir.shownAs);
      continue;
    }
    try {
      read.push(await readCell(dir.path, dir.shownAs));
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      problems.push(...error.problems);
    }
  }
  if (problems.length > 0) throw new InputError(problems);
  const byId = new Map<string, CellResult>();
  for (const cell of read) {
    const twin = byId.get(cell.id);
    if (twin)
      problems.push(fileProblem(cell.dir ?? cell.id, `is cell ${cell.id} again (also ${twin.dir ?? ''})`));
    byId.set(cell.id, cell);
  }
  const expected = props.expected;
  if (expected) {
    const ids = new Set(expected.map((c) => c.id));
    for (const cell of read)
      if (!ids.has(cell.id))
        problems.push(
          fileProblem(
            cell.dir ?? cell.id,
            `cell ${cell.id} is not in the expected matrix (${[...ids].join(', ')})`,
          ),
        );
  }
  if (problems.length > 0) throw new InputError(problems);
  const missing = (expected ?? []).filter((c) => !byId.has(c.id)).map((c) => c.id);
  const order = expected ? expected.map((c) => c.id) : [...byId.keys()].sort();
  const cells = order.map((id) => byId.get(id) ?? { id, state: 'missing' as const });
  const exitCode = cells.some((c) => c.state === 'failed')
    ? 1
    : cells.some((c) => c.state === 'fault' || c.state === 'missing')
      ? 2
      : 0;
  return { cells, missing, absent, exitCode };
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
