/**
 * One phase of an upgrade check (or one version of a matrix): the scenario run like `bulkhead
 * run` does, on a cluster that already holds the run's fixtures from the phase before (the same
 * run id, so nothing is recreated), its reports written into `<run folder>/<phase>/`, and the
 * Istio versions the phase really ran with read from the cluster, with the istiod serving each
 * sidecar and the pushes the sidecars rejected, as the istiods list them. The fixtures are kept: the next
 * phase measures the very same pods.
 */
import path from 'node:path';

import type { Cluster } from '../cluster/provider.js';
import { KubeClient } from '../kube/client.js';
import type { RunEnvironment } from '../results/records.js';
import type { TransitionPart } from '../results/transition-schema.js';
import type { RunClock } from '../run/clock.js';
import type { Progress } from '../run/progress.js';
import type { RunResult, RunSettings } from '../run/runner.js';
import { runAndReport } from '../run/session.js';
import type { Scenario } from '../scenario/types.js';
import { controlPlaneText, observeVersions, proxiesText, type ObservedVersions } from './observed.js';
import type { PhaseOutcome } from './report.js';
import type { StreamSettings } from './transition.js';

/** What every phase of a check shares: the run settings, and where and how it reports. */
export interface PhaseSettings {
  readonly run: RunSettings;
  /** Write each phase's evidence bundle too. */
  readonly bundle: boolean;
  readonly cwd: string;
  readonly progress: Progress;
  /** Where and why the check runs; each phase records it, with the Istio versions it observed. */
  readonly environment: RunEnvironment;
  /** The probe stream through each transition (`--probe-rate`, `--disruption-threshold`). @default 2/s, 1 s */
  readonly stream?: StreamSettings;
  /** @default the system clock */
  readonly clock?: RunClock;
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
  /** The probe stream through the transition into this phase, recorded in its results. */
  readonly transition?: TransitionPart;
}

export interface PhaseRun extends PhaseOutcome {
  readonly result: RunResult;
  /** Absolute paths of the report files written. */
  readonly files: readonly string[];
}

export async function runPhase(props: PhaseProps): Promise<PhaseRun> {
  const { settings, runId } = props;
  const directory = path.join(props.runDir, props.name);
  let versions: ObservedVersions | undefined;
  const { result, reports, exitCode } = await runAndReport({
    cluster: props.cluster,
    scenario: props.scenario,
    settings: settings.run,
    runId,
    directory,
    progress: settings.progress,
    keepObjects: 'always',
    environment: { ...settings.environment, phase: props.name },
    // The Istio each phase really ran with, read from the cluster once the phase is over.
    reportEnvironment: async () => {
      versions = await observeVersions({
        client: new KubeClient({ kubeConfig: props.cluster.kubeConfig }),
        kubeConfig: props.cluster.kubeConfig,
        runId,
        ...(settings.signal ? { signal: settings.signal } : {}),
      });
      const env = settings.environment;
      return {
        versions: {
          ...env.versions,
          istio: controlPlaneText(versions),
          images: { ...env.versions?.images, 'istio-proxy': proxiesText(versions) },
        },
      };
    },
    ...(props.transition ? { prelude: [{ type: 'transition' as const, ...props.transition }] } : {}),
    bundle: settings.bundle,
    cwd: settings.cwd,
    ...(settings.signal ? { signal: settings.signal } : {}),
  });
  if (!versions) throw new Error('the phase reported without reading its versions');
  return {
    name: props.name,
    title: props.title,
    folder: path.relative(props.runDir, directory),
    document: reports.document,
    versions,
    exitCode,
    result,
    files: reports.files,
  };
}
