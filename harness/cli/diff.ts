/**
 * `bulkhead diff old.json new.json`: what changed between two runs, per attempt. Exit 1 when
 * a must-deny boundary regressed (newly allowed, or newly failing), 2 for unreadable input.
 */
import path from 'node:path';

import { Option, type Command } from 'commander';

import { diffJson, diffJUnit, diffResults, diffTable } from '../report/diff.js';
import { readResultsFile } from './lazy.js';
import { InputError } from '../errors.js';
import { fileProblem, inputFileRefusal, MAX_INPUT_BYTES } from '../input-file.js';
import { CommandExit, EXIT, type CliIo } from './io.js';

const FORMATS = ['table', 'json', 'junit'] as const;

export function diffCommand(program: Command, io: CliIo): void {
  program
    .command('diff')
    .description('compare two runs (results.json) attempt by attempt (no cluster needed)')
    .argument('<old>', 'results.json of the earlier run')
    .argument('<new>', 'results.json of the later run')
    .addOption(new Option('-o, --output <format>', 'output format').choices(FORMATS).default('table'))
    .addHelpText(
      'after',
      `
Changes: newly-allowed, newly-denied, layer-changed, outcome-changed, new-error, error-cleared,
verdict-changed, added, removed. A must-deny attempt that is newly allowed or newly failing is a
regression.

Exit codes: 0 no must-deny regression; 1 at least one; 2 a file is missing or not a results.json.

Examples:
  $ bulkhead diff reports/before/results.json reports/after/results.json
  $ bulkhead diff old.json new.json -o junit > diff.xml`,
    )
    .action(async (oldFile: string, newFile: string, options: { output: (typeof FORMATS)[number] }) => {
      // Read as every input file is (harness/input-file.ts): a missing file, a folder, a FIFO
      // (which would block the read) or a file over the size limit is refused before it is opened.
      for (const f of [oldFile, newFile]) {
        const why = await inputFileRefusal(path.resolve(io.cwd, f), MAX_INPUT_BYTES);
        if (why !== undefined) throw new InputError([fileProblem(f, why)]);
      }
      const [before, after] = await Promise.all(
        [oldFile, newFile].map((f) => readResultsFile(path.resolve(io.cwd, f), f)),
      );
      if (!before || !after) throw new Error('two results files were read');
      const diff = diffResults(before, after);
      io.stdout(
        options.output === 'json'
          ? diffJson(diff)
          : options.output === 'junit'
            ? diffJUnit(diff)
            : diffTable(diff),
      );
      if (diff.regressions > 0) throw new CommandExit(EXIT.failed);
    });
}
