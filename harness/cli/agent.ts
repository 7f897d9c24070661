/**
 * `bulkhead agent serve|probe|session`: the in-pod agent run from a checkout, for debugging from a
 * laptop and for tests. It runs the same code as the bundle the pods run.
 */
import type { Command } from 'commander';

import type { DEFAULT_CONCURRENCY as PROBE_CONCURRENCY } from '../agent/probe.js';
import { UserError } from '../errors.js';
import { EXIT, type CliIo } from './io.js';

/**
 * The probe's default concurrency, for the help text, so that defining the command loads none of
 * the agent (its servers and probes load node:http, node:dns and the rest when it runs). Its
 * type is agent/probe.ts's literal: a different value there fails the typecheck.
 */
const DEFAULT_CONCURRENCY: typeof PROBE_CONCURRENCY = 256;

interface ServeOptions {
  readonly port: string[];
  readonly udpPort: string[];
  readonly host?: string;
}

interface ProbeOptions {
  readonly concurrency?: string;
  readonly stats: boolean;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function agentCommand(program: Command, io: CliIo): void {
  const agent = program
    .command('agent')
    .description('the in-pod agent: an echo server, and a probe that makes attempts and classifies them')
    .addHelpText(
      'after',
      `
The same program every fixture pod runs, for debugging from a laptop.

Examples:
  $ bulkhead agent serve --port 8080
  $ bulkhead agent probe < batch.json
  $ bulkhead agent session < batches.jsonl`,
    );
  agent
    .command('serve')
    .description('serve the HTTP echo on TCP ports and a UDP echo on UDP ports until SIGTERM or SIGINT')
    .option('-p, --port <port>', 'HTTP echo port, repeatable or comma-separated (default 8080)', collect, [])
    .option('-u, --udp-port <port>', 'UDP echo port, repeatable or comma-separated', collect, [])
    .option('--host <address>', 'address to listen on (default: all)')
    .addHelpText(
      'after',
      `
Pod identity comes from POD_NAME, POD_NAMESPACE and POD_SERVICE_ACCOUNT. GET /readyz is the
readiness path; /status/<code> makes the app answer with that status.

Example:
  $ bulkhead agent serve --port 8080 --port 9090 --udp-port 5353`,
    )
    .action(async (options: ServeOptions) => {
      const { parsePorts, serveUntilSignal } = await import('../agent/commands.js');
      const flagPorts = (values: readonly string[], flag: string): number[] => {
        try {
          return parsePorts(values, flag);
        } catch (error) {
          throw new UserError((error as Error).message);
        }
      };
      await serveUntilSignal(
        {
          ports: flagPorts(options.port.length ? options.port : ['8080'], '--port'),
          udpPorts: flagPorts(options.udpPort, '--udp-port'),
          ...(options.host ? { host: options.host } : {}),
        },
        io.stderr,
      );
    });
  agent
    .command('probe')
    .description('read a JSON array of attempts on stdin, write one JSON result per line as each finishes')
    .option('-c, --concurrency <n>', `attempts in flight at once (default ${DEFAULT_CONCURRENCY})`)
    .option('--stats', 'print a summary (counts, wall time, peak RSS) to stderr at the end', false)
    .addHelpText(
      'after',
      `
Exit codes: 0 the batch ran (whatever the outcomes); 2 stdin is not a JSON array of attempts.

Example:
  $ echo '[{"id":"a","kind":"http","host":"127.0.0.1","port":8080,"timeoutMs":2000}]' | bulkhead agent probe`,
    )
    .action(async (options: ProbeOptions) => {
      const { parseConcurrency, probeInput } = await import('../agent/commands.js');
      let concurrency: number | undefined;
      try {
        concurrency = parseConcurrency(options.concurrency);
      } catch (error) {
        throw new UserError((error as Error).message);
      }
      const code = await probeInput(
        process.stdin,
        { stats: options.stats, ...(concurrency === undefined ? {} : { concurrency }) },
        io.stdout,
        io.stderr,
      );
      if (code !== EXIT.ok) throw new UserError('no attempts were run');
    });
  agent
    .command('session')
    .description(
      'the probe kept running: read batch after batch on stdin, one JSON line each, until stdin ends (what a run keeps open in every source pod)',
    )
    .option(
      '-c, --concurrency <n>',
      `attempts in flight at once within a batch (default ${DEFAULT_CONCURRENCY})`,
    )
    .addHelpText(
      'after',
      `
Each input line is {"batch": ID, "attempts": [...]}; each result line carries its batch, and an
end line {"batch": ID, "end": true, ...} closes every batch, also one that could not be read.

Example:
  $ echo '{"batch":"1","attempts":[{"id":"a","kind":"http","host":"127.0.0.1","port":8080,"timeoutMs":2000}]}' | bulkhead agent session`,
    )
    .action(async (options: { readonly concurrency?: string }) => {
      const { parseConcurrency } = await import('../agent/commands.js');
      const { runSession } = await import('../agent/session.js');
      let concurrency: number | undefined;
      try {
        concurrency = parseConcurrency(options.concurrency);
      } catch (error) {
        throw new UserError((error as Error).message);
      }
      await runSession(process.stdin, {
        write: io.stdout,
        ...(concurrency === undefined ? {} : { concurrency }),
      });
    });
  for (const sub of agent.commands)
    sub.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
}
