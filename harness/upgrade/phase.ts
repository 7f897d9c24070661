/**
 * One phase of an upgrade check (or one version of a matrix): the scenario run like `bulkhead
 * run` does, on a cluster that already holds the run's fixtures from the phase before (the same
 * run id, so nothing is recreated), its reports written into `<run folder>/<phase>/`, and the
 * Istio versions the phase really ran with read from the cluster. The fixtures are kept: the next
 * phase measures the very same pods.
 */
import { existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';

import type { Cluster } from '../cluster/provider.js';
import { KubeClient } from '../kube/client.js';
import type { RunEnvironment } from '../results/build-results.js';
import { writeRunReports } from '../report/run-reports.js';
import type { Progress } from '../run/progress.js';
import { runScenario, type RunResult } from '../run/runner.js';
import type { Scenario } from '../scenario/types.js';
import { controlPlaneText, observeVersions, proxiesText } from './observed.js';
import type { PhaseOutcome } from './report.js';

/** What every phase's run shares (the `bulkhead run` settings). */
export interface PhaseSettings {
  readonly agentBundle: string;
  readonly agentImage?: string;
  readonly imageRegistry?: string;
  readonly readyTimeoutMs: number;
  readonly convergeTimeoutMs: number;
  readonly settleMs: number;
  readonly roundIntervalMs: number;
  readonly stableRounds: number;
  /** Write each phase's evidence bundle too. */
  readonly bundle: boolean;
  readonly cwd: string;
  readonly progress: Progress;
  /** The report's environment; the Istio versions are replaced by the ones observed. */
  readonly environment: RunEnvironment;
  readonly signal?: AbortSignal;
}

export interface PhaseProps {
  readonly cluster: Cluster;
  readonly scenario: Scenario;
  readonly runId: string;
  /** The run folder; the phase writes into its `name` sub-folder. */
  readonly runDir: string;
  readonly name: string;
  readonly title: string;
  readonly settings: PhaseSettings;
}

export interface PhaseRun extends PhaseOutcome {
  readonly result: RunResult;
  /** Absolute paths of the report files written. */
  readonly files: readonly string[];
}

export async function runPhase(props: PhaseProps): Promise<PhaseRun> {
  const { settings, runId } = props;
  const directory = path.join(props.runDir, props.name);
  let result: RunResult;
  try {
    result = await runScenario({
      scenario: props.scenario,
      kubeConfig: props.cluster.kubeConfig,
      agentBundle: settings.agentBundle,
      // The runner writes to <reportsDir>/<runId>/; the phase's results.jsonl is moved up below.
      reportsDir: directory,
      runId,
      progress: settings.progress,
      keep: 'always',
      readyTimeoutMs: settings.readyTimeoutMs,
      convergeTimeoutMs: settings.convergeTimeoutMs,
      settleMs: settings.settleMs,
      roundIntervalMs: settings.roundIntervalMs,
      stableRounds: settings.stableRounds,
      ...(settings.signal ? { signal: settings.signal } : {}),
      ...(settings.agentImage ? { agentImage: settings.agentImage } : {}),
      ...(settings.imageRegistry ? { imageRegistry: settings.imageRegistry } : {}),
      environment: { ...props.cluster.environment, phase: props.name },
    });
  } finally {
    await hoistResultsLog(directory, runId);
  }
  const versions = await observeVersions(new KubeClient({ kubeConfig: props.cluster.kubeConfig }), runId);
  const env = settings.environment;
  const reports = await writeRunReports({
    result: { ...result, directory },
    scenario: props.scenario,
    directory,
    bundle: settings.bundle,
    cwd: settings.cwd,
    environment: {
      ...env,
      versions: {
        ...env.versions,
        istio: controlPlaneText(versions),
        images: { ...env.versions?.images, 'istio-proxy': proxiesText(versions) },
      },
    },
  });
  return {
    name: props.name,
    title: props.title,
    folder: path.relative(props.runDir, directory),
    document: reports.document,
    versions,
    exitCode: result.exitCode !== 0 ? result.exitCode : reports.suitesPassed ? 0 : 1,
    result: { ...result, directory },
    files: reports.files,
  };
}

/** `<phase>/<runId>/results.jsonl` → `<phase>/results.jsonl`: one folder per phase, nothing nested. */
async function hoistResultsLog(directory: string, runId: string): Promise<void> {
  const inner = path.join(directory, runId);
  const log = path.join(inner, 'results.jsonl');
  if (existsSync(log)) await rename(log, path.join(directory, 'results.jsonl'));
  await rm(inner, { recursive: true, force: true });
}
