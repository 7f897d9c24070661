/**
 * `bulkhead down`: exports a kind cluster's logs (when asked) and deletes it, with bulkhead's
 * internet stand-in container of that cluster (harness/cluster/internet.ts), which a run that kept
 * its cluster leaves running. Deleting a cluster that is not there is not an error, so CI can call
 * it unconditionally at the end of a job; a stand-in left without its cluster is removed all the same.
 */
import path from 'node:path';

import type { Command } from 'commander';

import { UserError } from '../errors.js';
import type { CliIo } from './io.js';
import { DEFAULT_CLUSTER_NAME } from './up.js';

interface DownOptions {
  readonly name: string;
  readonly logs?: string;
}

export function downCommand(program: Command, io: CliIo): void {
  program
    .command('down')
    .description('delete a kind cluster made by `bulkhead up` (after exporting its logs, if asked)')
    .option('--name <name>', 'kind cluster name', DEFAULT_CLUSTER_NAME)
    .option('--logs <dir>', 'export the cluster logs into this folder first')
    .addHelpText(
      'after',
      `
Examples:
  $ bulkhead down
  $ bulkhead down --name nightly --logs reports/cluster-logs`,
    )
    .action(async (options: DownOptions) => {
      const [{ CommandRunner }, { cacheRoot }, { anyKind }, { deleteKindCluster }, { stopInternet }] =
        await Promise.all([
          import('../cluster/commands.js'),
          import('../cluster/download.js'),
          import('../cluster/kind-binary.js'),
          import('../cluster/kind.js'),
          import('../cluster/internet.js'),
        ]);
      const runner = new CommandRunner({
        log: (line) => {
          io.stderr(`${line}\n`);
        },
      });
      const kind = await anyKind(runner, cacheRoot());
      if (!kind) {
        throw new UserError(
          'kind is not installed (nor cached by bulkhead); install kind to delete kind clusters',
        );
      }
      const clusters = await runner.run(kind, ['get', 'clusters']);
      if (!clusters.stdout.split('\n').some((l) => l.trim() === options.name)) {
        await stopInternet(runner, options.name);
        io.stdout(`no kind cluster named '${options.name}'; nothing to delete\n`);
        return;
      }
      const logsDir = options.logs ? path.resolve(io.cwd, options.logs) : undefined;
      await deleteKindCluster(runner, options.name, logsDir, kind);
      await stopInternet(runner, options.name);
      io.stdout(
        `deleted kind cluster '${options.name}'${logsDir ? `; logs in ${path.relative(io.cwd, logsDir) || '.'}` : ''}\n`,
      );
    });
}
