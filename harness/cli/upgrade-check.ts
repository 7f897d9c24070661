/**
 * `bulkhead upgrade-check`: proof that every isolation boundary holds before, during and after an
 * Istio upgrade. The scenario runs on Istio --from; the control plane is upgraded to --to (in
 * place, or as a revision canary) with the sidecars left old and runs again; the workloads are
 * restarted onto the new sidecar and it runs a third time. `--matrix` runs the scenario on a
 * fresh cluster per Istio version instead. Each phase reports like `bulkhead run`; the phases
 * are compared attempt by attempt.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { InvalidArgumentError, Option, type Command } from 'commander';

import { InputError, UserError } from '../errors.js';
import { gatewayRefusal } from '../scenario/gateways.js';
import { ambientRefusal } from '../scenario/dataplane.js';
import { agentImage as resolveAgentImage } from '../run/fixtures.js';
import { newRunId } from '../run/identity.js';
import { InterruptScope } from '../run/interrupts.js';
import { createProgress } from '../run/progress.js';
import { loadScenarioFile } from './lazy.js';
import type { CheckOutcome, CheckProps } from '../upgrade/check.js';
import { UPGRADE_METHODS, type UpgradeMethod } from '../upgrade/methods.js';
import type { MAX_STREAM_RATE } from '../upgrade/stream.js';
import type { PhaseSettings } from '../upgrade/phase.js';
import { CommandExit, type CliIo } from './io.js';
import { matrixFormatOption, parseSpec, printMatrix, type MatrixFormatChoice } from './matrix.js';
import {
  addRunnerOptions,
  checkClusterPolicyOption,
  checkPolicySchemas,
  clusterPolicyOption,
  loadAgentBundle,
  runSettings,
  seconds,
  type RunnerOptions,
} from './shared.js';
import { addTesterOptions, testerOf, type TesterOptions } from './evidence.js';
import { addProvisionOptions, provisionProps, type ProvisionOptions } from './up.js';

interface UpgradeCheckOptions extends ProvisionOptions, RunnerOptions, TesterOptions {
  readonly file: string;
  readonly from?: string;
  readonly to?: string;
  readonly method: UpgradeMethod;
  readonly matrix?: string[];
  readonly matrixFormat?: MatrixFormatChoice;
  readonly provider: 'kind' | 'k3s';
  readonly reports: string;
  readonly keep: boolean;
  readonly keepOnFailure: boolean;
  readonly keepCluster: boolean;
  readonly bundle: boolean;
  readonly trigger?: string;
  readonly probeRate: number;
  readonly disruptionThreshold: number;
}

/**
 * The stream's fastest rate (harness/upgrade/stream.ts MAX_STREAM_RATE), without loading the
 * upgrade machinery to define the command; a different value there fails the typecheck.
 */
const MAX_PROBE_RATE: typeof MAX_STREAM_RATE = 10;

/** `--probe-rate 2`: batches per second per source, 0 (off) to {@link MAX_PROBE_RATE}. */
function probeRate(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > MAX_PROBE_RATE)
    throw new InvalidArgumentError(
      `expected a number of batches per second per source pod, from 0 (no stream) to ${String(MAX_PROBE_RATE)}`,
    );
  return n;
}

function versionList(value: string): string[] {
  const versions = value
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
  if (versions.length === 0) throw new InvalidArgumentError('expected Istio versions separated by commas');
  return versions;
}

export function upgradeCheckCommand(program: Command, io: CliIo): void {
  const command = addRunnerOptions(
    program
      .command('upgrade-check')
      .description(
        'run the scenario before, during (new control plane, old sidecars) and after an Istio upgrade, and diff the phases',
      )
      .requiredOption('-f, --file <scenario.yaml>', 'the scenario file')
      .option('--from <version>', 'the Istio release the cluster starts with')
      .option('--to <version>', 'the Istio release to upgrade to')
      .addOption(
        new Option('--method <method>', 'in-place: replace istiod; revision: install a canary beside it')
          .choices(UPGRADE_METHODS)
          .default('in-place'),
      )
      .option(
        '--matrix <versions>',
        'instead of an upgrade: run on a fresh cluster per Istio version (1.28.6,1.29.3,1.30.4)',
        versionList,
      )
      .addOption(
        matrixFormatOption(
          'print a CI job matrix of one upgrade-check per --matrix from:to pair (1.29.6:1.30.3,1.30.3:1.30.4) instead of running',
        ),
      )
      .addOption(
        new Option(
          '--provider <name>',
          'where the clusters come from (upgrades need a cluster bulkhead owns)',
        )
          .choices(['kind', 'k3s'])
          .default('kind'),
      )
      .option('--reports <dir>', 'where run folders go', 'reports')
      .option('--keep', 'keep everything the check created (the cluster too)', false)
      .option('--keep-on-failure', 'keep what the check created when an expectation failed', false)
      .option('--keep-cluster', 'keep the kind cluster afterwards', false)
      .option('--reuse', 'use a running kind cluster of the same name (never deleted afterwards)', false)
      .addOption(clusterPolicyOption()),
  )
    .option('--bundle', "also write each phase's evidence bundle", false)
    .option('--trigger <text>', 'why this check happened, for the report (default: pre-upgrade)')
    .option(
      '--probe-rate <per-second>',
      'batches of must-deny and must-allow attempts each source pod sends per second through each transition (0: no stream)',
      probeRate,
      2,
    )
    .option(
      '--disruption-threshold <seconds>',
      'a must-allow attempt without success for longer than this during a transition is a disruption (a warning)',
      seconds,
      1,
    )
    .addHelpText(
      'after',
      `
Phases, each in its own folder of <reports>/<run>/ with results.json, junit.xml, report.html:
  before  the scenario on Istio --from
  mixed   istiod upgraded to --to. In place: the pods are not restarted, so their sidecars are
          still --from, served by the new istiod. With --method revision (installed as revision
          <to with dashes>, the namespaces relabelled istio.io/rev=<rev>): every second workload
          with a sidecar of each tenant, by name, is restarted onto the new revision, the rest
          stay, and attempts cross the two control planes
  after   the workloads restarted (rollout restart; bare probe pods recreated), sidecars --to
Through each transition (the control-plane rollout, the workloads' restart) every source pod
sends its must-deny and must-allow attempts --probe-rate times a second (default 2) until the
transition is complete and istiod shows every sidecar in sync: a must-deny attempt seen granted
is a leak with its time (exit 1); a must-allow attempt without success for longer than
--disruption-threshold (default 1 s) is a disruption (a warning); a probe error is neither.
The istiod and sidecar versions of each phase are read from the cluster, not assumed, and which
istiod serves each sidecar from the istiods' /debug/syncz. A mixed phase that is not mixed, or a
sidecar that rejected a push (NACK), is a fault: exit 2. The
comparison is printed as a table and written as upgrade-check.json and upgrade-check.xml (JUnit).
With --matrix, each version gets a fresh cluster; the outcomes are tabulated side by side
(matrix.json, matrix.xml).

With --matrix-format github|gitlab, --matrix lists from:to pairs and nothing runs: every pair is
checked as --from/--to would be and the job matrix is printed (GitHub: strategy.matrix JSON;
GitLab: parallel:matrix YAML), one cell per pair with its id upgrade-<from>-to-<to>. Each job runs
--from <from> --to <to> --run-id <cell> and uploads <reports>/<cell>/; bulkhead matrix-report
merges the folders.

Every phase's Istio/Kubernetes pair is checked before anything runs.

Exit codes: 0 every expectation held in every phase; 1 a must-deny boundary failed or regressed in
any phase or leaked during a transition (or another expectation failed); 2 bad input or a fault.

Examples:
  $ bulkhead upgrade-check -f scenarios/hard-isolation.yaml --from 1.29.3 --to 1.30.4
  $ bulkhead upgrade-check -f scenarios/hard-isolation.yaml --from 1.29.3 --to 1.30.4 --method revision
  $ bulkhead upgrade-check -f scenarios/hard-isolation.yaml --kubernetes 1.34.0 --matrix 1.28.6,1.29.3,1.30.4
  $ bulkhead upgrade-check -f scenarios/hard-isolation.yaml --matrix 1.29.6:1.30.3,1.30.3:1.30.4 --matrix-format github`,
    );
  addTesterOptions(addProvisionOptions(command));
  // The Istio versions are --from/--to (or --matrix): the shared --istio is refused, and unlisted.
  command.options.find((o) => o.long === '--istio')?.hideHelp();
  command.action(async (options: UpgradeCheckOptions) => {
    const matrix = options.matrix;
    if (command.getOptionValueSource('istio') === 'cli')
      throw new UserError('upgrade-check takes --from and --to (or --matrix), not --istio');
    if (options.matrixFormat !== undefined) {
      if (!matrix)
        throw new UserError(
          '--matrix-format prints the cells of --matrix (from:to pairs); give --matrix too',
        );
      if (options.from || options.to)
        throw new UserError('--matrix-format prints one cell per --matrix from:to pair; drop --from/--to');
      const cells = await parseSpec(matrix.join(','), '--matrix');
      if (cells.some((c) => c.kind !== 'upgrade'))
        throw new UserError(
          '--matrix with --matrix-format takes from:to pairs (1.29.6:1.30.3); run --istio-matrix prints one run per version',
        );
      await printMatrix(
        { cells, format: options.matrixFormat, kubernetes: options.kubernetes, calico: options.calico },
        io,
      );
      return;
    }
    if (matrix?.some((v) => v.includes(':')))
      throw new UserError(
        '--matrix from:to pairs are cells of a CI job matrix: add --matrix-format github|gitlab to print it',
      );
    if (matrix && (options.from || options.to))
      throw new UserError(
        '--matrix runs each version on its own cluster; give either --matrix or --from/--to',
      );
    if (!matrix && (!options.from || !options.to))
      throw new UserError('give --from and --to (the Istio releases before and after), or --matrix');
    if (matrix && (options.reuse || options.keep || options.keepCluster || options.keepOnFailure))
      throw new UserError(
        '--matrix creates a fresh cluster per version and deletes it before the next; --reuse and --keep* do not apply',
      );
    const plan = { kubernetes: options.kubernetes, calico: options.calico };
    const plans = await import('../upgrade/version-plan.js');
    // Refusals first: nothing is downloaded or created for a plan a phase could not run.
    if (matrix) plans.checkMatrixPlan({ ...plan, versions: matrix });
    else plans.checkUpgradePlan({ ...plan, from: options.from ?? '', to: options.to ?? '' });
    const scenario = await loadScenarioFile(path.resolve(io.cwd, options.file));
    // Facts A5.1-A5.3 (ambient-cnp-facts.md): istio-cni and ztunnel upgrade after istiod, with no
    // canary, resetting every long-lived connection on the node; none of those phases exist here.
    const ambient = ambientRefusal(
      scenario,
      'upgrade-check',
      'its upgrade phases (istiod, then istio-cni, then ztunnel, which has no canary and resets connections) are not built',
    );
    if (ambient) throw new InputError([ambient]);
    // run deploys and waits on gateways through the runner every phase shares, but the gateway's
    // pods are istiod's own Deployment: which revision's controller redeploys them across the
    // upgrade, and what the in-transit stream would see of them, are not in bulkhead's facts.
    const gateway = gatewayRefusal(
      scenario,
      'upgrade-check',
      "its upgrade phases do not cover the gateway's Deployment, which istiod owns (which revision's controller redeploys it across the upgrade is not in bulkhead's facts); `run` deploys and tests it",
    );
    if (gateway) throw new InputError([gateway]);
    checkClusterPolicyOption(scenario, options.clusterPolicy);
    await checkPolicySchemas(scenario);
    // As run does, before any download: ClusterNetworkPolicy against the Calico every phase installs.
    const { checkClusterNetworkPolicyCalico } = await import('../run/cnp-gate.js');
    checkClusterNetworkPolicyCalico({
      scenario,
      ...(options.clusterPolicy ? { clusterPolicy: options.clusterPolicy } : {}),
      calico: options.calico,
      where: 'install',
    });
    const run = runSettings(options, await loadAgentBundle());
    const runId = options.runId ?? newRunId();
    const runDir = path.resolve(io.cwd, options.reports, runId);
    const logsDir = path.join(runDir, 'cluster-logs');
    const provisionLog: string[] = [];
    const log = (line: string) => {
      provisionLog.push(line);
      io.stderr(`${line}\n`);
    };
    using interrupts = new InterruptScope({
      onInterrupt: (signal) => {
        io.stderr(
          `\n${signal}: stopping, cleaning up and writing the results so far (again to quit at once)\n`,
        );
      },
    });
    const tester = testerOf(options);
    const settings: PhaseSettings = {
      run,
      bundle: options.bundle,
      cwd: io.cwd,
      progress: createProgress({ write: io.stderr, interactive: io.interactive ?? false }),
      signal: interrupts.signal,
      stream: {
        ratePerSecond: options.probeRate,
        disruptionThresholdMs: options.disruptionThreshold * 1000,
      },
      environment: {
        provider: options.provider,
        // Always a cluster bulkhead created (kind or k3s): a replica, never production.
        environment: 'replica',
        trigger: options.trigger ?? 'pre-upgrade',
        ...(tester ? { tester } : {}),
        clusterName: options.provider === 'kind' ? options.name : 'k3s',
        versions: {
          kubernetes: options.kubernetes,
          calico: options.calico,
          images: { agent: resolveAgentImage(run) },
        },
      },
    };
    const [
      { acquireCluster, checkHost },
      { CommandRunner },
      { cacheRoot },
      { crossPhaseTable },
      { internetStandIn },
    ] = await Promise.all([
      import('../cluster/acquire.js'),
      import('../cluster/commands.js'),
      import('../cluster/download.js'),
      import('../upgrade/report.js'),
      import('../cluster/internet.js'),
    ]);
    const acquireProps = (istio: string) => ({
      ...provisionProps(options),
      // As `run` does: on kind, the internet stand-in that egress attempts dial.
      ...internetStandIn(options.provider, resolveAgentImage(run)),
      istio,
      provider: options.provider,
      log,
      cwd: io.cwd,
      logsDir,
      signal: interrupts.signal,
    });
    const common: CheckProps = {
      scenario,
      runId,
      runDir,
      settings,
      runner: new CommandRunner({ log }),
      cache: cacheRoot(),
      ...(options.istioBaseUrl ? { istioBaseUrl: options.istioBaseUrl } : {}),
      timeoutMs: options.provisionTimeout * 1000,
      lifecycle: {
        checkHost: (istio) => checkHost(acquireProps(istio)),
        acquire: (istio) => acquireCluster(acquireProps(istio)),
        keep: (exitCode) => {
          const fixtures = options.keep || (options.keepOnFailure && exitCode !== 0);
          return { fixtures, cluster: fixtures || options.keepCluster };
        },
        logsDir,
      },
    };
    const check = await import('../upgrade/check.js');
    let outcome: CheckOutcome;
    try {
      outcome = matrix
        ? await check.runMatrix({ ...common, versions: matrix })
        : await check.runUpgradeCheck({
            ...common,
            from: options.from ?? '',
            to: options.to ?? '',
            method: options.method,
          });
    } finally {
      if (provisionLog.length > 0) {
        await mkdir(runDir, { recursive: true });
        await writeFile(path.join(runDir, 'provision.log'), provisionLog.map((l) => `${l}\n`).join(''));
      }
    }
    io.stdout(crossPhaseTable(outcome.report, matrix !== undefined));
    for (const note of outcome.notes) io.stdout(`note: ${note}\n`);
    if (outcome.interrupted) io.stdout('interrupted: the phases after the interruption did not run\n');
    io.stdout(
      `reports: ${[path.relative(io.cwd, runDir) || runDir, ...outcome.files.map((f) => path.relative(io.cwd, f) || f)].join(', ')}\n`,
    );
    const code = outcome.interrupted && outcome.report.exitCode === 0 ? 2 : outcome.report.exitCode;
    if (code !== 0) throw new CommandExit(code);
  });
}
