/**
 * `bulkhead verify-bundle run.tar.gz`: checks an evidence bundle against its SHA256SUMS
 * manifest (every listed file present and unaltered, nothing unlisted added) and prints the
 * archive's own SHA-256 to compare with the one recorded when it was written.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

import type { Command } from 'commander';

import { UserError } from '../errors.js';
import { inputFileRefusal } from '../input-file.js';
import { MANIFEST_NAME, verifyBundle } from './lazy.js';
import { CommandExit, EXIT, type CliIo } from './io.js';

export function verifyBundleCommand(program: Command, io: CliIo): void {
  program
    .command('verify-bundle')
    .description(`check an evidence bundle (.tar.gz) against its ${MANIFEST_NAME} manifest`)
    .argument('<bundle>', 'the bundle written by bulkhead run --bundle')
    .option('--sha256 <hex>', 'also require the archive itself to have this SHA-256')
    .addHelpText(
      'after',
      `
Exit codes: 0 the bundle is intact; 1 a file is missing, altered or unlisted (or --sha256 differs);
2 the file cannot be read.

Example:
  $ bulkhead verify-bundle reports/run-1/bulkhead-run-1.tar.gz --sha256 "$(cut -d' ' -f1 reports/run-1/bulkhead-run-1.tar.gz.sha256)"`,
    )
    .action(async (bundle: string, options: { sha256?: string }) => {
      const file = path.resolve(io.cwd, bundle);
      if (!existsSync(file)) throw new UserError(`${bundle}: no such file`);
      // A folder, a FIFO or a device is refused before it is opened (a FIFO would block the read).
      const refusal = await inputFileRefusal(file, Number.MAX_SAFE_INTEGER);
      if (refusal !== undefined) throw new UserError(`${bundle}: cannot read: ${refusal}`);
      const result = await verifyBundle(file);
      const problems = [...result.problems];
      if (options.sha256 !== undefined && options.sha256.toLowerCase() !== result.sha256) {
        problems.push(`the archive's SHA-256 is ${result.sha256}, not ${options.sha256}`);
      }
      io.stdout(
        `${bundle}\n  sha256 ${result.sha256}\n  ${result.checked} files checked against ${MANIFEST_NAME}\n`,
      );
      if (problems.length > 0) {
        for (const p of problems) io.stdout(`  FAIL ${p}\n`);
        throw new CommandExit(EXIT.failed);
      }
      io.stdout('  OK: every file matches the manifest\n');
    });
}
