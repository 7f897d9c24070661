/**
 * The upgrade check: the scenario on Istio `from` (before), the control plane upgraded to `to`
 * with the sidecars left at `from` (mixed: where upgrade regressions hide; for a revision
 * upgrade, half of each tenant moved to the new revision, claims.ts checks it was), the
 * workloads restarted onto `to` (after). The matrix: the scenario on a fresh cluster per Istio version.
 * Every phase's version pair is checked before the phase starts, and the whole plan before any
 * command runs. Each phase reports like a run; the cross-phase report compares them.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

import type { KubernetesObject } from '@kubernetes/client-node';

import type { CommandRunner } from '../cluster/commands.js';
import { ensureIstioctl } from '../cluster/istioctl.js';
import type { Cluster, ReleaseProps } from '../cluster/provider.js';
import { unsupportedPair } from '../cluster/versions.js';
import { UserError } from '../errors.js';
import { KubeClient } from '../kube/client.js';
import type { TransitionPart } from '../results/transition-schema.js';
import { systemClock } from '../run/clock.js';
import { renderFixtures } from '../run/fixtures.js';
import { RUN_DEFAULTS } from '../run/runner.js';
import type { Scenario } from '../scenario/types.js';
import { removeRunObjects } from './cleanup.js';
import { revisionName, upgradeControlPlane, type UpgradeMethod } from './control-plane.js';
import { runPhase, type PhaseRun, type PhaseSettings } from './phase.js';
import {
  crossPhaseJson,
  crossPhaseJUnit,
  crossPhaseReport,
  type CrossPhaseReport,
  type TransitionOutcome,
} from './report.js';
import { throughTransition, type TransitionProps } from './transition.js';
import { verifyMixed, type PhaseClaim } from './claims.js';
import { canaryHalf, relabelForRevision, restartWorkloads } from './workloads.js';

export const REPORT_FILES = { json: 'upgrade-check.json', junit: 'upgrade-check.xml' } as const;
export const MATRIX_FILES = { json: 'matrix.json', junit: 'matrix.xml' } as const;

/** What the caller decides about the cluster's life: how to get one and whether to keep it. */
export interface ClusterLifecycle {
  /**
   * The checks of this machine a cluster with Istio `istio` needs (Docker, kind, the version
   * pair), made before anything is downloaded.
   */
  readonly checkHost: (istio: string) => Promise<void>;
  /** A cluster with Istio `istio` installed (fresh, or reused when the user asked). */
  readonly acquire: (istio: string) => Promise<Cluster>;
  /** Given the run's final exit code: keep the fixtures, and the cluster. */
  readonly keep: (exitCode: number) => { readonly fixtures: boolean; readonly cluster: boolean };
  readonly logsDir: string;
}

export interface CheckProps {
  readonly scenario: Scenario;
  readonly runId: string;
  readonly runDir: string;
  readonly settings: PhaseSettings;
  readonly lifecycle: ClusterLifecycle;
  /** Runs istioctl (every command is logged as the shell line that reproduces it). */
  readonly runner: CommandRunner;
  /** The istioctl cache folder and mirror. */
  readonly cache: string;
  readonly istioBaseUrl?: string;
  /** For each install's wait. @default 600000 */
  readonly timeoutMs?: number;
}

export interface UpgradeCheckProps extends CheckProps {
  readonly from: string;
  readonly to: string;
  readonly method: UpgradeMethod;
}

export interface CheckOutcome {
  readonly report: CrossPhaseReport;
  readonly phases: readonly PhaseRun[];
  /** The cross-phase report files (absolute paths). */
  readonly files: readonly string[];
  readonly interrupted: boolean;
  /** Lines worth the reader's attention: a mixed phase that was not mixed, leftovers. */
  readonly notes: readonly string[];
}

/** A phase must not start on a cluster whose Kubernetes its Istio does not support. */
function checkPhase(istio: string, cluster: Cluster, phase: string): void {
  const kubernetes = cluster.environment.kubernetes;
  if (!kubernetes) return;
  const why = unsupportedPair('Istio', istio, kubernetes);
  if (why) throw new UserError(`the ${phase} phase cannot start: ${why}`);
}

export async function runUpgradeCheck(props: UpgradeCheckProps): Promise<CheckOutcome> {
  const { settings, scenario, runId, lifecycle } = props;
  const log = props.runner.log;
  const timeoutMs = props.timeoutMs ?? 600_000;
  const signal = settings.signal ? { signal: settings.signal } : {};
  const phases: PhaseRun[] = [];
  const notes: string[] = [];
  // This machine's checks first (no Docker engine must not cost a download), then the new
  // istioctl is fetched (and verified): a wrong version or mirror must not cost a cluster and a
  // whole phase before it shows.
  await lifecycle.checkHost(props.from);
  const istioctl = await ensureIstioctl({
    version: props.to,
    cache: props.cache,
    log,
    ...(props.istioBaseUrl ? { baseUrl: props.istioBaseUrl } : {}),
    ...signal,
  });
  const cluster = await lifecycle.acquire(props.from);
  const client = new KubeClient({ kubeConfig: cluster.kubeConfig });
  const transitions: TransitionOutcome[] = [];
  const phase = async (
    name: string,
    title: string,
    claim?: (run: PhaseRun) => PhaseClaim,
    transition?: TransitionPart,
  ) => {
    const measured = await runPhase({
      cluster,
      scenario,
      runId,
      runDir: props.runDir,
      name,
      title,
      settings,
      ...(transition ? { transition } : {}),
    });
    const run = claim ? { ...measured, claim: claim(measured) } : measured;
    phases.push(run);
    return run;
  };
  const fixtures = () =>
    renderFixtures({
      scenario,
      runId,
      agentBundle: settings.run.agentBundle,
      ...(settings.run.agentImage ? { agentImage: settings.run.agentImage } : {}),
      ...(settings.run.imageRegistry ? { imageRegistry: settings.run.imageRegistry } : {}),
    });
  const restart = (objects: readonly KubernetesObject[]) =>
    restartWorkloads({
      client,
      runId,
      fixtures: objects,
      log,
      timeoutMs: settings.run.readyTimeoutMs ?? RUN_DEFAULTS.readyTimeoutMs,
      ...signal,
    });
  /** The probe stream through a transition out of `previous` into `into`; kept even when the transition fails. */
  const through = <T>(
    name: string,
    title: string,
    previous: PhaseRun,
    into: string,
    transition: () => Promise<T>,
  ): Promise<{ readonly value: T; readonly part?: TransitionPart }> => {
    const tprops: TransitionProps = {
      name,
      title,
      previous: previous.document,
      scenario,
      runId,
      client,
      kubeConfig: cluster.kubeConfig,
      ...(cluster.internet ? { internet: cluster.internet } : {}),
      stream: settings.stream ?? {},
      barrierTimeoutMs: settings.run.barrierTimeoutMs ?? RUN_DEFAULTS.barrierTimeoutMs,
      clock: settings.clock ?? systemClock,
      progress: settings.progress,
      ...(settings.run.concurrency ? { concurrency: settings.run.concurrency } : {}),
      ...(settings.run.execConcurrency ? { execConcurrency: settings.run.execConcurrency } : {}),
      ...signal,
    };
    return throughTransition(tprops, transition, (part) => transitions.push({ into, part })).then((r) => {
      if (r.part) transitions.push({ into, part: r.part });
      return r;
    });
  };
  let interrupted = false;
  const state = { released: false };
  const done = async (): Promise<CheckOutcome> => {
    const report = crossPhaseReport('upgrade-check', phases, transitions);
    state.released = true;
    notes.push(...(await finish(cluster, client, props, interrupted ? 2 : report.exitCode)));
    const files = await writeCrossPhase(props.runDir, report, REPORT_FILES);
    return { report, phases, files, interrupted, notes };
  };
  try {
    checkPhase(props.from, cluster, 'before');
    const before = await phase('before', `Istio ${props.from}`);
    interrupted = before.result.interrupted;
    if (!interrupted) {
      checkPhase(props.to, cluster, 'mixed');
      if (!cluster.kubeconfigPath)
        throw new UserError('the cluster has no kubeconfig file for istioctl; use --provider kind or k3s');
      const kubeconfigPath = cluster.kubeconfigPath;
      const revision = revisionName(props.to);
      settings.progress.phase(`upgrade the control plane to ${props.to} (${props.method})`);
      const upgraded = await step(`upgrading the control plane to Istio ${props.to}`, props, () =>
        through(
          'control-plane',
          `istiod ${props.from} → ${props.to} (${props.method})`,
          before,
          'mixed',
          async () => {
            await upgradeControlPlane({
              client,
              runner: props.runner,
              istioctl,
              method: props.method,
              kubeconfigPath,
              context: cluster.kubeConfig.getCurrentContext(),
              timeoutMs,
              ...signal,
            });
            if (props.method === 'revision') {
              await relabelForRevision(client, scenario, revision, log);
              // The mixed state of a canary: half of each tenant moved to the new revision.
              await restart(canaryHalf(scenario, fixtures()));
            }
          },
        ),
      );
      if (upgraded === INTERRUPTED) {
        settings.progress.fail('interrupted');
        interrupted = true;
        return await done();
      }
      settings.progress.done(streamText(upgraded.part));
      const mixed = await phase(
        'mixed',
        props.method === 'revision'
          ? `every second workload of each tenant on revision ${revision} (${props.to}), the rest on ${props.from}`
          : `control plane ${props.to}, sidecars ${props.from}`,
        (run) =>
          verifyMixed({
            method: props.method,
            from: props.from,
            to: props.to,
            observed: run.versions,
            document: run.document,
          }),
        upgraded.part,
      );
      if (mixed.claim && !mixed.claim.verified)
        notes.push(
          `the mixed phase is not mixed: ${mixed.claim.detail}; its results do not describe the mixed state`,
        );
      interrupted = mixed.result.interrupted;
      if (!interrupted) {
        checkPhase(props.to, cluster, 'after');
        settings.progress.phase('restart the workloads');
        const restarted = await step('restarting the workloads', props, () =>
          through(
            'restart',
            `the workloads restarted onto the ${props.to} sidecar`,
            mixed,
            'after',
            async () => {
              // The mixed phase applied its fixtures again (istio-injection=enabled): point the
              // namespaces at the revision once more before any pod is created.
              if (props.method === 'revision') await relabelForRevision(client, scenario, revision, log);
              return restart(fixtures());
            },
          ),
        );
        if (restarted === INTERRUPTED) {
          settings.progress.fail('interrupted');
          interrupted = true;
          return await done();
        }
        settings.progress.done(
          [
            `${String(restarted.value.deployments)} deployments, ${String(restarted.value.pods)} pods`,
            streamText(restarted.part),
          ]
            .filter(Boolean)
            .join('; '),
        );
        const after = await phase(
          'after',
          `Istio ${props.to}, workloads restarted`,
          undefined,
          restarted.part,
        );
        if (after.versions.pods.some((p) => p.proxy !== 'none' && p.proxy !== props.to)) {
          notes.push(
            `the after phase still saw sidecars other than ${props.to}; see the phase's proxy versions`,
          );
        }
        interrupted = after.result.interrupted;
      }
    }
    return await done();
  } finally {
    // A fault (or a refusal) ends the check here: what was kept is removed, the cluster let go.
    if (!state.released) await finish(cluster, client, props, 2);
  }
}

const INTERRUPTED = Symbol('interrupted');

/** One line for the progress: what the stream through a transition saw. */
function streamText(part: TransitionPart | undefined): string {
  if (!part) return '';
  const n = part.attempts.reduce((sum, a) => sum + a.observed, 0);
  const gap = Math.max(0, ...part.attempts.map((a) => a.maxGapMs ?? 0));
  return `stream: ${String(n)} attempts in ${(part.durationMs / 1000).toFixed(1)} s, ${String(part.leakCount)} leaks, ${String(part.disruptions.length)} disruptions (max gap ${String(gap)} ms), ${String(part.errors)} errors`;
}

/**
 * A step between phases. Ctrl-C ends the check as interrupted (the phases that ran are still
 * reported); any other failure is one sentence saying which step failed and where the reports are.
 */
async function step<T>(
  what: string,
  props: CheckProps,
  run: () => Promise<T>,
): Promise<T | typeof INTERRUPTED> {
  try {
    return await run();
  } catch (error) {
    if (props.settings.signal?.aborted) return INTERRUPTED;
    const message = error instanceof Error ? error.message.trim() : String(error);
    throw new UserError(
      `${what} failed: ${message}\nthe reports of the phases that ran are in ${props.runDir}`,
    );
  }
}

export async function runMatrix(
  props: CheckProps & { readonly versions: readonly string[] },
): Promise<CheckOutcome> {
  const phases: PhaseRun[] = [];
  const notes: string[] = [];
  let interrupted = false;
  for (const version of props.versions) {
    if (interrupted) break;
    const cluster = await props.lifecycle.acquire(version);
    const client = new KubeClient({ kubeConfig: cluster.kubeConfig });
    let exitCode = 2;
    try {
      checkPhase(version, cluster, `istio-${version}`);
      const run = await runPhase({
        cluster,
        scenario: props.scenario,
        runId: props.runId,
        runDir: props.runDir,
        name: `istio-${version}`,
        title: `Istio ${version}`,
        settings: props.settings,
      });
      phases.push(run);
      exitCode = run.exitCode;
      interrupted = run.result.interrupted;
    } finally {
      notes.push(...(await finish(cluster, client, props, exitCode)));
    }
  }
  const report = crossPhaseReport('matrix', phases);
  const files = await writeCrossPhase(props.runDir, report, MATRIX_FILES);
  return { report, phases, files, interrupted, notes };
}

/** Removes the kept fixtures (unless kept) and lets the cluster go. */
async function finish(
  cluster: Cluster,
  client: KubeClient,
  props: CheckProps,
  exitCode: number,
): Promise<string[]> {
  const keep = props.lifecycle.keep(exitCode);
  const notes: string[] = [];
  if (!keep.fixtures) {
    props.settings.progress.phase('clean up');
    const left = await removeRunObjects(client, props.scenario, props.runId);
    if (left.length > 0) {
      props.settings.progress.fail(`left behind: ${left.join('; ')}`);
      notes.push(`clean up left objects behind: ${left.join('; ')}`);
    } else props.settings.progress.done();
  }
  const release: ReleaseProps = { keep: keep.cluster, logsDir: props.lifecycle.logsDir };
  await cluster.release(release);
  return notes;
}

async function writeCrossPhase(
  runDir: string,
  report: CrossPhaseReport,
  names: { readonly json: string; readonly junit: string },
): Promise<string[]> {
  await mkdir(runDir, { recursive: true });
  const json = path.join(runDir, names.json);
  const junit = path.join(runDir, names.junit);
  await writeFile(json, crossPhaseJson(report));
  await writeFile(junit, crossPhaseJUnit(report));
  return [json, junit];
}
