/**
 * `bulkhead run`: deploy a scenario on a cluster and make every attempt for real. The cluster
 * comes from a provider: a fresh kind cluster with Calico and Istio (the default), a k3s
 * container, or `--provider existing`, the cluster of a kubeconfig context. The command parses
 * flags and hands them to a run session (harness/run/session.ts), loaded only when it runs.
 */
import path from 'node:path';

import { Option, type Command } from 'commander';

import { PROVIDERS, type ProviderName } from '../cluster/provider.js';
import { InputError, UserError } from '../errors.js';
import { firstAmbient } from '../scenario/dataplane.js';
import type { Scenario } from '../scenario/types.js';
import type { ApiServerEndpoints } from '../policies/options.js';
import { resultTable, runSummary } from '../report/run-table.js';
import { agentImage as resolveAgentImage } from '../run/fixtures.js';
import { newRunId } from '../run/identity.js';
import { InterruptScope } from '../run/interrupts.js';
import { createProgress } from '../run/progress.js';
import { loadScenarioFile } from './lazy.js';
import { CommandExit, type CliIo } from './io.js';
import { matrixFormatOption, parseSpec, printMatrix, type MatrixFormatChoice } from './matrix.js';
import {
  addApiServerOption,
  addRunnerOptions,
  checkClusterPolicyOption,
  checkPolicySchemas,
  ciTrigger,
  clusterPolicyOption,
  loadAgentBundle,
  runSettings,
  type RunnerOptions,
} from './shared.js';
import { addProvisionOptions, provisionProps, type ProvisionOptions } from './up.js';
import {
  addEvidenceOptions,
  addTesterOptions,
  anchorBundle,
  environmentOption,
  environmentWarning,
  evidenceSettings,
  testerOf,
  type EvidenceOptions,
  type TesterOptions,
} from './evidence.js';

interface RunOptions extends ProvisionOptions, RunnerOptions, EvidenceOptions, TesterOptions {
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
  readonly environment?: 'production' | 'staging' | 'replica';
  readonly apiServer?: ApiServerEndpoints;
  readonly istioMatrix?: string;
  readonly matrixFormat?: MatrixFormatChoice;
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
    .addOption(environmentOption())
    .addOption(clusterPolicyOption())
    .option(
      '--istio-matrix <versions>',
      'print a CI job matrix of one run per Istio version (1.29.6,1.30.3) instead of running',
    )
    .addOption(matrixFormatOption('the CI system the --istio-matrix is for').default('github'))
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

With --bundle the bundle's SHA-256 is printed and written outside the run folder (--anchor, default
<reports>/bulkhead-<run>.tar.gz.sha256) and to $GITHUB_STEP_SUMMARY when set; --sign-key also writes a
detached signature that openssl dgst -sha256 -verify checks. --tester, --organisation and
--independence are recorded in the report as given; bulkhead does not verify them.

With --istio-matrix nothing runs: every version is checked against --kubernetes and --calico and
the job matrix is printed (GitHub: strategy.matrix JSON; GitLab: parallel:matrix YAML), one cell
per version with its id istio-<version>. Each job then runs with --istio <version> --run-id <cell>
and uploads <reports>/<cell>/; bulkhead matrix-report merges the folders.

Exit codes: 0 every expectation held; 1 an isolation expectation failed; 2 bad input or a fault.

Examples:
  $ bulkhead run -f scenarios/hard-isolation.yaml
  $ bulkhead run -f scenarios/hard-isolation.yaml --istio-matrix 1.29.6,1.30.3 --matrix-format gitlab
  $ bulkhead run -f scenarios/hard-isolation.yaml --istio 1.29.3 --kubernetes 1.35.0 --keep-on-failure
  $ bulkhead run -f scenarios/hard-isolation.yaml --reuse            # after \`bulkhead up\`
  $ bulkhead run -f scenarios/hard-isolation.yaml --provider existing --context kind-bulkhead
  $ bulkhead run -f scenarios/hard-isolation.yaml --provider existing --keep-on-failure --reports out/
  $ bulkhead run -f scenarios/hard-isolation.yaml --provider existing --api-server 10.0.0.5/32,10.0.0.6/32:6443`,
    );
  addTesterOptions(addEvidenceOptions(addProvisionOptions(addApiServerOption(command)))).action(
    async (options: RunOptions) => {
      if (options.istioMatrix !== undefined) {
        if (command.getOptionValueSource('istio') === 'cli')
          throw new UserError('--istio-matrix names the Istio version of each cell; drop --istio');
        const cells = await parseSpec(options.istioMatrix, '--istio-matrix');
        if (cells.some((c) => c.kind !== 'run'))
          throw new UserError(
            '--istio-matrix takes Istio versions (1.29.6,1.30.3); from:to pairs are upgrade cells of upgrade-check --matrix',
          );
        await printMatrix(
          {
            cells,
            format: options.matrixFormat ?? 'github',
            kubernetes: options.kubernetes,
            calico: options.calico,
          },
          io,
        );
        return;
      }
      if (command.getOptionValueSource('matrixFormat') === 'cli')
        throw new UserError('--matrix-format chooses how --istio-matrix is printed; give --istio-matrix too');
      const evidence = await evidenceSettings(options, io.cwd);
      const scenario = await loadScenarioFile(path.resolve(io.cwd, options.file));
      const dataplane = runDataplane(scenario, options.dataplane);
      checkClusterPolicyOption(scenario, options.clusterPolicy);
      await checkPolicySchemas(scenario);
      const { checkClusterNetworkPolicyCalico } = await import('../run/cnp-gate.js');
      const cnpGate = {
        scenario,
        ...(options.clusterPolicy ? { clusterPolicy: options.clusterPolicy } : {}),
      };
      // Before any download: the Calico this run would install.
      if (options.provider !== 'existing')
        checkClusterNetworkPolicyCalico({ ...cnpGate, calico: options.calico, where: 'install' });
      const tester = testerOf(options);
      const settings = runSettings(options, await loadAgentBundle());
      const runId = options.runId ?? newRunId();
      const directory = path.resolve(io.cwd, options.reports, runId);
      // Installed before the cluster is acquired, so Ctrl-C during `kind create` still deletes it.
      using interrupts = new InterruptScope({
        onInterrupt: (signal) => {
          io.stderr(
            `\n${signal}: stopping, cleaning up and writing the results so far (again to quit at once)\n`,
          );
        },
      });
      const { RunSession } = await import('../run/session.js');
      await using session = await RunSession.open({
        scenario,
        settings,
        runId,
        directory,
        progress: createProgress({ write: io.stderr, interactive: io.interactive ?? false }),
        provision: {
          ...(options.provider === 'existing' ? {} : provisionProps(options)),
          provider: options.provider,
          dataplane,
          ...((scenario.gateways ?? []).length > 0 ? { gateways: true } : {}),
          ...(options.kubeconfig ? { kubeconfig: options.kubeconfig } : {}),
          ...(options.context ? { context: options.context } : {}),
        },
        echo: (line) => {
          io.stderr(`${line}\n`);
        },
        keepObjects: options.keep ? 'always' : options.keepOnFailure ? 'on-failure' : 'never',
        keepCluster:
          options.keep || options.keepCluster ? 'always' : options.keepOnFailure ? 'on-failure' : 'never',
        environment: {
          provider: options.provider,
          ...(options.environment ? { environment: options.environment } : {}),
          ...(tester ? { tester } : {}),
          trigger: options.trigger ?? ciTrigger(),
          versions: { images: { agent: resolveAgentImage(settings) } },
        },
        suites: options.suite ?? [],
        cwd: io.cwd,
        bundle: options.bundle,
        signal: interrupts.signal,
      });
      // An existing cluster's Calico is known once it is found (read only, nothing created yet).
      const found = session.cluster.environment.calico;
      if (options.provider === 'existing' && found)
        checkClusterNetworkPolicyCalico({ ...cnpGate, calico: found, where: 'cluster' });
      // Said once the cluster is there: a run that cannot start has no report to warn about.
      const undeclared = environmentWarning(options.provider, options.environment);
      if (undeclared) io.stderr(undeclared);
      const { reports, exitCode, log } = await session.run();
      io.stdout(resultTable(reports.document.attempts));
      io.stdout(runSummary(reports.document, log, io.cwd));
      io.stdout(`reports: ${reports.files.map((f) => path.relative(io.cwd, f) || f).join(', ')}\n`);
      if (reports.bundle)
        await anchorBundle({
          bundle: reports.bundle,
          runId,
          runDirectory: directory,
          ...(options.anchor ? { anchor: options.anchor } : {}),
          ...evidence,
          io,
        });
      if (!reports.suitesPassed) io.stdout('the conformance suites had failures: see junit.xml\n');
      if (exitCode !== 0) throw new CommandExit(exitCode);
    },
  );
}

/**
 * The data plane a run provisions (kind) or requires (existing): `--dataplane` when given, else
 * ambient when the scenario has an ambient namespace or workload. `--dataplane sidecar` with such a
 * scenario is a contradiction, refused with where the scenario says ambient.
 */
export function runDataplane(
  scenario: Scenario,
  given: 'sidecar' | 'ambient' | undefined,
): 'sidecar' | 'ambient' {
  const ambient = firstAmbient(scenario);
  if (given === 'sidecar' && ambient) {
    const { file, line, column, path: at } = ambient.origin;
    throw new InputError([
      {
        file,
        line,
        column,
        path: at,
        message: `--dataplane sidecar contradicts ${ambient.what}, which is on the ambient data plane; drop --dataplane or pass --dataplane ambient`,
      },
    ]);
  }
  return given ?? (ambient ? 'ambient' : 'sidecar');
}
