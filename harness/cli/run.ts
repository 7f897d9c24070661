/**
 * `bulkhead run`: deploy a scenario on a cluster and make every attempt for real. The cluster
 * comes from a provider: a fresh kind cluster with Calico and Istio (the default), a k3s
 * container, or `--provider existing`, the cluster of a kubeconfig context.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { Option, type Command } from 'commander';

import { acquireCluster } from '../cluster/acquire.js';
import { PROVIDERS, type Cluster, type ProviderName } from '../cluster/provider.js';
import { newRunId } from '../run/identity.js';
import { createProgress } from '../run/progress.js';
import { runScenario, type AttemptResult, type RunResult } from '../run/runner.js';
import { loadScenarioFile } from '../scenario/loader.js';
import { formatExpectation } from '../scenario/outcomes.js';
import { CommandExit, type CliIo } from './io.js';
import {
  addApiServerOption,
  addRunnerOptions,
  ciTrigger,
  imageChoice,
  reportMethod,
  loadAgentBundle,
  runnerTimings,
  type RunnerOptions,
} from './shared.js';
import { renderTable } from '../report/table.js';
import { agentImage as resolveAgentImage } from '../run/fixtures.js';
import { writeRunReports } from '../report/run-reports.js';
import { checkSuiteFiles } from '../../suites/run-suites.js';
import type { ApiServerEndpoints } from '../policies/options.js';
import { addProvisionOptions, provisionProps, type ProvisionOptions } from './up.js';

interface RunOptions extends ProvisionOptions, RunnerOptions {
  readonly file: string;
  readonly provider: ProviderName;
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly reports: string;
  readonly keep: boolean;
  readonly keepOnFailure: boolean;
  readonly keepCluster: boolean;
  readonly suite?: readonly string[];
  readonly bundle: boolean;
  readonly trigger?: string;
  readonly environment?: 'production' | 'replica';
  readonly apiServer?: ApiServerEndpoints;
}

export function runCommand(program: Command, io: CliIo): void {
  const command = addRunnerOptions(
    program
      .command('run')
      .description('deploy a scenario on a cluster, make every attempt for real, and judge the outcomes')
      .requiredOption('-f, --file <scenario.yaml>', 'the scenario file')
      .addOption(
        new Option(
          '--provider <name>',
          'where the cluster comes from (kind: a fresh cluster with Calico and Istio; existing: a kubeconfig context)',
        )
          .choices(PROVIDERS)
          .default('kind'),
      )
      .option('--kubeconfig <file>', 'existing: kubeconfig to use (default: $KUBECONFIG or ~/.kube/config)')
      .option('--context <name>', 'existing: kubeconfig context (default: the current one)')
      .option('--reports <dir>', 'where run folders go', 'reports')
      .option('--keep', 'keep everything the run created (the cluster too)', false)
      .option('--keep-on-failure', 'keep what the run created when an expectation failed', false)
      .option('--keep-cluster', 'keep the kind cluster after the run (reuse it with --reuse)', false)
      .option('--reuse', 'use a running kind cluster of the same name (never deleted afterwards)', false),
  )
    .option('--suite <spec...>', 'your own mocha spec files, run over the results after the built-in suites')
    .option('--bundle', 'also write the evidence bundle (.tar.gz with a SHA-256 manifest)', false)
    .option('--trigger <text>', 'why this run happened, for the report (default: manual, or the CI job)')
    .addOption(
      new Option(
        '--environment <kind>',
        'what the cluster is, for the auditor (default: replica for kind/k3s)',
      ).choices(['production', 'replica']),
    )
    .addHelpText(
      'after',
      `
Creates only objects labelled app.kubernetes.io/managed-by=bulkhead and bulkhead.dev/run=<id>,
deletes only those, and refuses a scenario namespace that exists without that label. Results
are appended to <reports>/<run>/results.jsonl as they arrive. Ctrl-C stops new work, cleans up
(unless kept) and still writes what was observed.

With kind (the default) the cluster is created from pinned, verified artifacts, every step is
printed as the shell command that reproduces it (and saved as provision.log in the run folder),
its logs are exported into the run folder, and it is deleted at the end unless kept or reused.

Exit codes: 0 every expectation held; 1 an isolation expectation failed; 2 bad input or a fault.

Examples:
  $ bulkhead run -f scenarios/hard-isolation.yaml
  $ bulkhead run -f scenarios/hard-isolation.yaml --istio 1.29.3 --kubernetes 1.35.0 --keep-on-failure
  $ bulkhead run -f scenarios/hard-isolation.yaml --reuse            # after \`bulkhead up\`
  $ bulkhead run -f scenarios/hard-isolation.yaml --provider existing --context kind-bulkhead
  $ bulkhead run -f scenarios/hard-isolation.yaml --provider existing --keep-on-failure --reports out/
  $ bulkhead run -f scenarios/hard-isolation.yaml --provider existing --api-server 10.0.0.5/32,10.0.0.6/32:6443`,
    );
  addProvisionOptions(addApiServerOption(command)).action(async (options: RunOptions) => {
    const scenario = await loadScenarioFile(path.resolve(io.cwd, options.file));
    checkSuiteFiles(options.suite ?? [], io.cwd);
    const agentBundle = await loadAgentBundle();
    const runId = options.runId ?? newRunId();
    const runDir = path.resolve(io.cwd, options.reports, runId);
    const logsDir = path.join(runDir, 'cluster-logs');
    const provisionLog: string[] = [];
    const controller = new AbortController();
    let interrupts = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      interrupts += 1;
      if (interrupts > 1) process.exit(130);
      io.stderr(
        `\n${signal}: stopping, cleaning up and writing the results so far (again to quit at once)\n`,
      );
      controller.abort();
    };
    // Installed before provisioning, so Ctrl-C during `kind create` still deletes the cluster.
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    let result: RunResult;
    let environment: Cluster['environment'];
    try {
      const cluster = await acquireRunCluster(options, io, runDir, provisionLog, controller.signal);
      environment = cluster.environment;
      try {
        result = await runScenario({
          scenario,
          kubeConfig: cluster.kubeConfig,
          agentBundle,
          reportsDir: path.resolve(io.cwd, options.reports),
          progress: createProgress({ write: io.stderr, interactive: io.interactive ?? false }),
          keep: options.keep ? 'always' : options.keepOnFailure ? 'on-failure' : 'never',
          ...runnerTimings(options),
          signal: controller.signal,
          ...imageChoice(options),
          runId,
          environment: { ...cluster.environment },
          provider: cluster.environment.provider,
          ...(options.apiServer ? { apiServer: options.apiServer } : {}),
        });
      } catch (error) {
        await cluster.release({
          keep: options.keep || options.keepCluster || options.keepOnFailure,
          logsDir,
        });
        throw error;
      }
      await cluster.release({
        keep: options.keep || options.keepCluster || (options.keepOnFailure && result.exitCode !== 0),
        logsDir,
      });
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      if (provisionLog.length > 0 && options.provider !== 'existing')
        await saveProvisionLog(runDir, provisionLog);
    }
    const reports = await writeRunReports({
      result,
      scenario,
      manifests: result.appliedPolicies as unknown as readonly Readonly<Record<string, unknown>>[],
      bundle: options.bundle,
      suites: options.suite ?? [],
      cwd: io.cwd,
      environment: {
        provider: options.provider,
        environment: options.environment ?? (options.provider === 'existing' ? 'unknown' : 'replica'),
        trigger: options.trigger ?? ciTrigger(),
        clusterName: environment.cluster,
        versions: {
          ...(environment.kubernetes ? { kubernetes: environment.kubernetes } : {}),
          ...(environment.calico ? { calico: environment.calico } : {}),
          ...(environment.istio ? { istio: environment.istio } : {}),
          images: {
            agent: resolveAgentImage(imageChoice(options)),
            ...(environment.nodeImage ? { node: environment.nodeImage } : {}),
          },
        },
        ...reportMethod(options),
      },
    });
    io.stdout(resultTable(result.results));
    io.stdout(summary(result, io.cwd));
    io.stdout(`reports: ${reports.files.map((f) => path.relative(io.cwd, f) || f).join(', ')}\n`);
    if (!reports.suitesPassed) io.stdout('the conformance suites had failures: see junit.xml\n');
    const code = result.exitCode !== 0 ? result.exitCode : reports.suitesPassed ? 0 : 1;
    if (code !== 0) throw new CommandExit(code);
  });
}

/**
 * The cluster of the run. A provisioned one (kind, k3s) logs every step as a shell command on
 * stderr and into provision.log; `existing` behaves as before (kubeconfig and context).
 */
async function acquireRunCluster(
  options: RunOptions,
  io: CliIo,
  runDir: string,
  provisionLog: string[],
  signal: AbortSignal,
): Promise<Cluster> {
  const provisioned = options.provider !== 'existing';
  const log = (line: string) => {
    provisionLog.push(line);
    if (provisioned) io.stderr(`${line}\n`);
  };
  return acquireCluster({
    ...(provisioned ? provisionProps(options) : {}),
    provider: options.provider,
    log,
    cwd: io.cwd,
    logsDir: path.join(runDir, 'cluster-logs'),
    signal,
    ...(options.kubeconfig ? { kubeconfig: options.kubeconfig } : {}),
    ...(options.context ? { context: options.context } : {}),
  });
}

/** The shell commands that reproduce the environment, for the auditor. */
async function saveProvisionLog(runDir: string, lines: readonly string[]): Promise<void> {
  await mkdir(runDir, { recursive: true });
  await writeFile(path.join(runDir, 'provision.log'), lines.map((l) => `${l}\n`).join(''));
}

const ORDER = { fail: 0, error: 1, pass: 2 } as const;

function resultTable(results: readonly AttemptResult[]): string {
  const sorted = [...results].sort((a, b) => ORDER[a.judgement.verdict] - ORDER[b.judgement.verdict]);
  return renderTable(
    ['RESULT', 'ATTEMPT', 'EXPECT', 'OBSERVED', 'ROUNDS', 'WHY'],
    sorted.map((r) => [
      r.judgement.verdict.toUpperCase(),
      r.attempt.id,
      formatExpectation(r.expect),
      r.judgement.outcome,
      String(r.judgement.rounds),
      r.judgement.verdict === 'pass' ? '' : r.judgement.reason,
    ]),
  );
}

function summary(result: RunResult, cwd: string): string {
  const n = (v: string) => result.results.filter((r) => r.judgement.verdict === v).length;
  const where = path.relative(cwd, path.join(result.directory, 'results.jsonl')) || result.directory;
  return (
    `\n${n('pass')} passed, ${n('fail')} failed, ${n('error')} errors` +
    (result.interrupted ? ' (interrupted)' : '') +
    `\nrun ${result.runId}: ${where}${result.kept ? ' (resources kept)' : ''}\n`
  );
}
