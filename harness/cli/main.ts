/**
 * The bulkhead command line. Each command lives in its own file and registers itself here.
 * Exit codes follow the README ("Exit codes"): 0 all held, 1 an isolation expectation failed, 2 bad input or a
 * fault. A user's mistake is printed as located messages, never as a stack trace.
 *
 * Defining the commands loads only commander and light modules: `--version`, `--help` and the
 * offline commands must not wait for the Kubernetes client, testcontainers, esbuild, undici or
 * execa. A command loads what its action needs when it runs (a dynamic import in the action);
 * test/cli/lazy-load.test.ts holds every command file to that.
 */
import { Command, CommanderError } from 'commander';

import { EnvironmentError, formatProblem, InputError, UserError } from '../errors.js';
import { CommandExit, EXIT, processIo, type CliIo } from './io.js';
import { schemaCommand } from './schema.js';
import { validateCommand } from './validate.js';
import { agentCommand } from './agent.js';
import { lintCommand } from './lint.js';
import { planCommand } from './plan.js';
import { runCommand } from './run.js';
import { diffCommand } from './diff.js';
import { reportCommand } from './report.js';
import { verifyBundleCommand } from './verify-bundle.js';
import { upCommand } from './up.js';
import { downCommand } from './down.js';
import { upgradeCheckCommand } from './upgrade-check.js';
import { matrixReportCommand } from './matrix.js';
import { VERSION } from '../version.js';

export function buildProgram(io: CliIo): Command {
  const program = new Command('bulkhead')
    .description(
      'Isolation conformance harness for multi-tenant Kubernetes clusters running Calico and Istio',
    )
    .version(VERSION, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .addHelpText(
      'after',
      `
Exit codes: 0 every expectation held; 1 an isolation expectation failed; 2 bad input or a fault.

Example:
  $ bulkhead validate -f scenarios/hard-isolation.yaml --list`,
    );
  schemaCommand(program, io);
  validateCommand(program, io);
  agentCommand(program, io);
  lintCommand(program, io);
  planCommand(program, io);
  runCommand(program, io);
  diffCommand(program, io);
  reportCommand(program, io);
  verifyBundleCommand(program, io);
  upCommand(program, io);
  downCommand(program, io);
  upgradeCheckCommand(program, io);
  matrixReportCommand(program, io);
  for (const command of program.commands)
    command.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  return program;
}

/** Runs the command line and returns the exit code (never calls process.exit). */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv]);
    return EXIT.ok;
  } catch (error) {
    return report(error, io);
  }
}

/**
 * A failed API request (KubeApiError) as the sentence the command's own boundary gives. Only a
 * command that used the kube layer can throw one, and it has loaded that layer already; this
 * file does not load it for the commands that never do.
 */
async function asEnvironmentFault(error: unknown): Promise<unknown> {
  if (!(error instanceof Error) || error instanceof EnvironmentError || error instanceof UserError)
    return error;
  const { environmentFault, KubeApiError } = await import('../kube/errors.js');
  return error instanceof KubeApiError ? environmentFault(error) : error;
}

async function report(error: unknown, io: CliIo): Promise<number> {
  if (error instanceof CommandExit) return error.code;
  if (error instanceof CommanderError) {
    // Help and version end "with an error" in commander's terms; they are successes here.
    if (
      error.code === 'commander.helpDisplayed' ||
      error.code === 'commander.version' ||
      error.exitCode === 0
    ) {
      return EXIT.ok;
    }
    return EXIT.fault;
  }
  if (error instanceof InputError) {
    for (const problem of error.problems) io.stderr(`error: ${formatProblem(problem)}\n`);
    if (error.problems.length > 1) io.stderr(`${error.problems.length} problems; nothing was done\n`);
    return error.exitCode;
  }
  if (error instanceof UserError) {
    io.stderr(`error: ${error.message}\n`);
    return error.exitCode;
  }
  // A failed API request that reached the top: the same sentence the command's own boundary gives.
  const fault = await asEnvironmentFault(error);
  if (fault instanceof EnvironmentError) {
    // One `error:` line per problem (a cluster check may find several), then what to check.
    for (const line of fault.message.split('\n')) io.stderr(`error: ${line}\n`);
    if (fault.hint) io.stderr(`  ${fault.hint}\n`);
    return fault.exitCode;
  }
  // Not the user's mistake: a fault in bulkhead or its environment. Keep the stack for the bug report.
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  io.stderr(`bulkhead: internal error (please report it): ${detail}\n`);
  return EXIT.fault;
}
