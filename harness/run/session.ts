/**
 * A run session: the cluster acquired, the scenario run on it, the suites and reports written
 * from the run's records, and the cluster let go, once, at scope exit:
 *
 *   await using session = await RunSession.open(props);
 *   const outcome = await session.run();
 *
 * as testcontainers-node scopes a container. `bulkhead run` is one session; each phase of
 * `bulkhead upgrade-check` is `runAndReport` on a cluster the check holds. Neither the runner nor
 * the report writers know about clusters' lifetimes; this module is where they meet.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

import type { AcquireProps } from '../cluster/acquire.js';
import { internetStandIn } from '../cluster/internet.js';
import type { Cluster, Environment } from '../cluster/provider.js';
import { RESULTS_LOG, type RunEnvironment } from '../results/records.js';
import type { Scenario } from '../scenario/types.js';
import { checkSuiteFiles } from '../../suites/run-suites.js';
import { bulkheadCommit, VERSION } from '../version.js';
import type { RunClock } from './clock.js';
import { agentImage } from './fixtures.js';
import type { Progress } from './progress.js';
import { reportRun, type ReportedRun } from './report-run.js';
import { runScenario, type RunnerProps, type RunResult, type RunSettings } from './runner.js';

/** Keep what a run created: never, always, or only when it did not pass. */
export type KeepChoice = 'never' | 'always' | 'on-failure';

export interface RunAndReportProps {
  readonly cluster: Cluster;
  readonly scenario: Scenario;
  readonly settings: RunSettings;
  readonly runId: string;
  /** The run folder: results.jsonl and the reports go here. */
  readonly directory: string;
  readonly progress: Progress;
  /** The run's objects (namespaces, fixtures, policies). @default 'never' */
  readonly keepObjects?: KeepChoice;
  /**
   * What the caller knows of where and why the run runs (trigger, environment kind, images);
   * the cluster's own facts and bulkhead's version are added, and the whole is recorded in the
   * `run` record.
   */
  readonly environment?: RunEnvironment;
  /** Said over the recorded environment in the reports (an upgrade phase's observed Istio). */
  readonly reportEnvironment?: (result: RunResult) => Promise<RunEnvironment | undefined>;
  /** The user's spec files (`--suite`), relative to `cwd`. @default [] */
  readonly suites?: readonly string[];
  /** @default process.cwd() */
  readonly cwd?: string;
  /** Write the evidence bundle too. @default false */
  readonly bundle?: boolean;
  readonly signal?: AbortSignal;
  readonly clock?: RunClock;
  /** Records the run writes right after its `run` record (an upgrade phase's transition). */
  readonly prelude?: RunnerProps['prelude'];
}

export interface RunOutcome {
  readonly result: RunResult;
  readonly reports: ReportedRun;
  /** 0 every expectation held and every suite passed; 1 one failed; 2 a fault left something unjudged. */
  readonly exitCode: number;
  /** The run's results.jsonl. */
  readonly log: string;
}

/** The scenario run on a cluster that is there already, then its reports written from its records. */
export async function runAndReport(props: RunAndReportProps): Promise<RunOutcome> {
  const result = await runScenario({
    ...props.settings,
    scenario: props.scenario,
    kubeConfig: props.cluster.kubeConfig,
    directory: props.directory,
    runId: props.runId,
    progress: props.progress,
    keep: props.keepObjects ?? 'never',
    environment: recordedEnvironment(props.cluster.environment, props.environment ?? {}),
    provider: props.cluster.environment.provider,
    ...(props.cluster.internet ? { internet: props.cluster.internet } : {}),
    ...(props.signal ? { signal: props.signal } : {}),
    ...(props.clock ? { clock: props.clock } : {}),
    ...(props.prelude ? { prelude: props.prelude } : {}),
  });
  const override = await props.reportEnvironment?.(result);
  const reports = await reportRun({
    directory: props.directory,
    scenario: props.scenario,
    ...(override ? { environment: override } : {}),
    ...(props.suites ? { suites: props.suites } : {}),
    ...(props.cwd ? { cwd: props.cwd } : {}),
    ...(props.bundle ? { bundle: true } : {}),
  });
  return {
    result,
    reports,
    exitCode: result.exitCode !== 0 ? result.exitCode : reports.suitesPassed ? 0 : 1,
    log: path.join(props.directory, RESULTS_LOG),
  };
}

/**
 * The environment the `run` record holds: what the caller said, over what the cluster's
 * provider found or installed, with the bulkhead and Node.js that ran it.
 */
export function recordedEnvironment(cluster: Environment, given: RunEnvironment): RunEnvironment {
  const provider = given.provider ?? cluster.provider;
  const commit = given.versions?.gitCommit ?? bulkheadCommit();
  const images = {
    ...(cluster.nodeImage ? { node: cluster.nodeImage } : {}),
    ...given.versions?.images,
  };
  return {
    ...given,
    provider,
    environment: given.environment ?? (provider === 'existing' ? 'unknown' : 'replica'),
    clusterName: given.clusterName ?? cluster.cluster,
    versions: {
      bulkhead: VERSION,
      ...(commit ? { gitCommit: commit } : {}),
      node: process.version,
      ...(cluster.kubernetes ? { kubernetes: cluster.kubernetes } : {}),
      ...(cluster.calico ? { calico: cluster.calico } : {}),
      ...(cluster.istio ? { istio: cluster.istio } : {}),
      ...(cluster.kind ? { kind: cluster.kind } : {}),
      ...given.versions,
      images,
    },
    ...(cluster.artifacts ? { artifacts: { ...cluster.artifacts } } : {}),
    reused: cluster.reused,
  };
}

export interface SessionProps extends Omit<RunAndReportProps, 'cluster' | 'reportEnvironment'> {
  /** How to get the cluster (provider and its settings); the session adds its log, logs folder and signal. */
  readonly provision: Omit<AcquireProps, 'log' | 'logsDir' | 'signal' | 'cwd'>;
  /** The cluster itself (kind, k3s) when the user asked to keep it. @default 'never' */
  readonly keepCluster?: KeepChoice;
  /** Told each provisioning step as the shell command that reproduces it (kind, k3s). */
  readonly echo?: (line: string) => void;
  /** How acquiring is done. @default acquireCluster (harness/cluster/acquire.ts) */
  readonly acquire?: (props: AcquireProps) => Promise<Cluster>;
}

export class RunSession implements AsyncDisposable {
  readonly cluster: Cluster;
  readonly #props: SessionProps;
  readonly #provisionLog: string[];
  /** The exit code of the run, once it ran to the end; undefined while it has not (a fault). */
  #exitCode: number | undefined;
  #released = false;

  private constructor(props: SessionProps, cluster: Cluster, provisionLog: string[]) {
    this.#props = props;
    this.cluster = cluster;
    this.#provisionLog = provisionLog;
  }

  /**
   * Checks what can be checked without a cluster (the `--suite` files), then acquires the
   * cluster. When acquiring fails, the provisioning log is still saved: it is what says why.
   */
  static async open(props: SessionProps): Promise<RunSession> {
    checkSuiteFiles(props.suites ?? [], props.cwd);
    const lines: string[] = [];
    const provisioned = props.provision.provider !== 'existing';
    const acquire = props.acquire ?? (await import('../cluster/acquire.js')).acquireCluster;
    try {
      const cluster = await acquire({
        ...props.provision,
        cwd: props.cwd ?? process.cwd(),
        log: (line: string) => {
          lines.push(line);
          if (provisioned) props.echo?.(line);
        },
        logsDir: path.join(props.directory, 'cluster-logs'),
        // On kind, a stand-in for the internet runs the agent's image (harness/cluster/internet.ts).
        ...internetStandIn(props.provision.provider, agentImage(props.settings)),
        ...(props.signal ? { signal: props.signal } : {}),
      });
      return new RunSession(props, cluster, lines);
    } catch (error) {
      await saveProvisionLog(props, lines);
      throw error;
    }
  }

  async run(): Promise<RunOutcome> {
    const outcome = await runAndReport({ ...this.#props, cluster: this.cluster });
    // The cluster's keep rule follows the run's own verdict, not the suites'.
    this.#exitCode = outcome.result.exitCode;
    return outcome;
  }

  /** Releases the cluster (kept as the user asked; a run that faulted counts as failed), then saves the provisioning log. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    const choice = this.#props.keepCluster ?? 'never';
    const keep =
      choice === 'always' ||
      (choice === 'on-failure' && (this.#exitCode === undefined || this.#exitCode !== 0));
    try {
      await this.cluster.release({ keep, logsDir: path.join(this.#props.directory, 'cluster-logs') });
    } finally {
      await saveProvisionLog(this.#props, this.#provisionLog);
    }
  }
}

/** The shell commands that reproduce the environment (kind, k3s), for the auditor. */
async function saveProvisionLog(props: SessionProps, lines: readonly string[]): Promise<void> {
  if (lines.length === 0 || props.provision.provider === 'existing') return;
  await mkdir(props.directory, { recursive: true });
  await writeFile(path.join(props.directory, 'provision.log'), lines.map((l) => `${l}\n`).join(''));
}
