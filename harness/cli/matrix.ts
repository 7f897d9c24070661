/**
 * Version matrices spread over CI jobs: `run --istio-matrix` and `upgrade-check --matrix
 * <from:to,...> --matrix-format` print the job matrix (harness/report/matrix.ts) after checking
 * every cell's versions against the support tables, touching no Docker engine, network or
 * cluster; `bulkhead matrix-report DIR...` merges the cells' results folders afterwards.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { Option, type Command } from 'commander';

import { checkVersionPlan } from '../cluster/versions.js';
import { UserError } from '../errors.js';
import type * as Render from '../report/matrix.js';
import type { MatrixCell } from '../results/matrix.js';
import { CommandExit, type CliIo } from './io.js';

/** The CI systems, as harness/report/matrix.ts renders them (checked by the type). */
export const MATRIX_FORMAT_CHOICES: typeof Render.MATRIX_FORMATS = ['github', 'gitlab'];
export type MatrixFormatChoice = Render.MatrixFormat;

export function matrixFormatOption(description: string): Option {
  return new Option('--matrix-format <ci>', description).choices(MATRIX_FORMAT_CHOICES);
}

export interface MatrixPrint {
  readonly cells: readonly MatrixCell[];
  readonly format: MatrixFormatChoice;
  readonly kubernetes: string;
  readonly calico: string;
}

/**
 * Checks every cell's versions as its job would before starting (one run per Istio version, or
 * an upgrade pair as upgrade-check checks it), then prints the matrix. Nothing else runs.
 */
export async function printMatrix(print: MatrixPrint, io: CliIo): Promise<void> {
  const { renderCiMatrix, MATRIX_LIMITS } = await import('../report/matrix.js');
  const plan = { kubernetes: print.kubernetes, calico: print.calico };
  const limit = MATRIX_LIMITS[print.format];
  if (print.cells.length > limit)
    throw new UserError(
      `the matrix has ${String(print.cells.length)} cells; ${print.format === 'github' ? 'GitHub Actions' : 'GitLab'} runs at most ${String(limit)} jobs of one matrix`,
    );
  for (const cell of print.cells) {
    if (cell.kind === 'run') checkVersionPlan({ ...plan, istio: cell.istio });
    else
      (await import('../upgrade/version-plan.js')).checkUpgradePlan({
        ...plan,
        from: cell.from,
        to: cell.to,
      });
  }
  io.stdout(renderCiMatrix(print.cells, plan, print.format));
}

export async function parseSpec(spec: string, flag: string): Promise<MatrixCell[]> {
  return (await import('../results/matrix.js')).parseMatrixSpec(spec, flag);
}

interface MatrixReportOptions {
  readonly expect?: string;
  readonly out?: string;
}

export function matrixReportCommand(program: Command, io: CliIo): void {
  program
    .command('matrix-report')
    .description(
      "merge a matrix's cells (one results folder per CI job) into one table, JSON, JUnit and HTML",
    )
    .argument(
      '[dir...]',
      "the cells' results folders, each named by its cell id (none, or paths that do not exist, with --expect: every cell of it is missing)",
    )
    .option(
      '--expect <spec>',
      'the matrix the cells came from (as given to --istio-matrix or --matrix): a cell of it without a folder is missing',
    )
    .option(
      '--out <dir>',
      'also write matrix-report.json, matrix-report.xml (JUnit) and matrix-report.html there',
    )
    .addHelpText(
      'after',
      `
Each folder is one cell's <reports>/<cell id>/: its upgrade-check.json when it has one, else its
results.json. Cell ids: istio-<version> (run --istio-matrix), upgrade-<from>-to-<to>
(upgrade-check --matrix with --matrix-format). Reads no cluster and no network.

Exit codes: 0 every cell held; 1 a cell failed (an isolation expectation did not hold); 2 a cell
of --expect has no folder (missing), a cell ended in a fault, or a folder cannot be read (located).

Examples:
  $ bulkhead matrix-report cells/* --expect 1.29.6,1.30.3 --out merged
  $ bulkhead matrix-report cells/* --expect 1.29.6:1.30.3,1.30.3:1.30.4`,
    )
    .action(async (dirs: string[], options: MatrixReportOptions) => {
      const [{ mergeMatrix }, render] = await Promise.all([
        import('../results/matrix.js'),
        import('../report/matrix.js'),
      ]);
      const expected = options.expect === undefined ? undefined : await parseSpec(options.expect, '--expect');
      if (dirs.length === 0 && !expected)
        throw new UserError("give the cells' results folders, or --expect with the matrix they came from");
      const merge = await mergeMatrix({
        dirs: dirs.map((d) => ({ path: path.resolve(io.cwd, d), shownAs: d })),
        ...(expected ? { expected } : {}),
      });
      for (const gone of merge.absent)
        io.stderr(`warning: ${gone}: no such file or folder; no cell read from it\n`);
      io.stdout(render.matrixTable(merge));
      if (options.out !== undefined) {
        const out = path.resolve(io.cwd, options.out);
        await mkdir(out, { recursive: true });
        const files: [string, string][] = [
          ['matrix-report.json', render.matrixJson(merge)],
          ['matrix-report.xml', render.matrixJUnit(merge)],
          ['matrix-report.html', render.matrixHtml(merge)],
        ];
        for (const [name, text] of files) await writeFile(path.join(out, name), text);
        io.stdout(`reports: ${files.map(([name]) => path.join(options.out ?? '', name)).join(', ')}\n`);
      }
      if (merge.exitCode !== 0) throw new CommandExit(merge.exitCode);
    });
}
