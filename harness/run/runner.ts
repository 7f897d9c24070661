/**
 * A run on a live cluster: preflight → apply fixtures → wait ready → apply policies → settle →
 * execute rounds until the outcomes converge → judge → collect evidence → clean up. Results go
 * to `reports/<run>/results.jsonl` as they arrive. Ctrl-C (an aborted signal) stops new work,
 * cleans up unless asked to keep, and still writes what was observed. The runner decides
 * nothing about policy semantics: it observes and compares with the expectations given.
 */
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import type { KubeConfig, KubernetesObject, V1Pod } from '@kubernetes/client-node';

import { KubeClient } from '../kube/client.js';
import { describeRef, refOf, type ObjectRef } from '../kube/objects.js';
import { isPodReady } from '../kube/pods.js';
import { waitFor } from '../kube/wait.js';
import type { ProviderName } from '../cluster/provider.js';
import type { ClusterFacts as ModelFacts } from '../model/types.js';
import type { ApiServerEndpoints } from '../policies/options.js';
import { PolicyModel } from '../model/evaluate.js';
import type { Prediction } from '../model/types.js';
import { renderPolicySources } from '../policies/render.js';
import { expectation, formatExpectation, satisfies, type Expectation } from '../scenario/outcomes.js';
import { refText, type Attempt, type Manifest, type Scenario } from '../scenario/types.js';
import { readClusterFacts, type FactsRecord, type PendingFacts } from './cluster-facts.js';
import { Convergence, type Judgement } from './convergence.js';
import { collectEvidence, type AttemptEvidence } from './evidence.js';
import { runRound, type SourceBatch, type Transport } from './execute.js';
import { renderFixtures, WORKLOAD_LABEL } from './fixtures.js';
import { newRunId, RUN_LABEL, runLabels, runSelector } from './identity.js';
import { checkSidecars, readBack } from './footing.js';
import { proxyContainerOf } from './sidecars.js';
import { checkNamespacesFree } from './preflight.js';
import type { Progress } from './progress.js';
import { ResultsLog } from '../results/records.js';
import { isRecord, messageOf } from '../values.js';

export interface RunnerProps {
  readonly scenario: Scenario;
  readonly kubeConfig: KubeConfig;
  /** The agent bundle's text, shipped to the pods in a ConfigMap. */
  readonly agentBundle: string;
  /** Reports go to `<reportsDir>/<runId>/`. */
  readonly reportsDir: string;
  readonly progress: Progress;
  /** @default a new id from the start time */
  readonly runId?: string;
  /** Keep what the run created: never, always, or only when an expectation failed. @default 'never' */
  readonly keep?: 'never' | 'always' | 'on-failure';
  /** @default 300000 */
  readonly readyTimeoutMs?: number;
  /** How long rounds may go on before the outcomes must have settled. @default 180000 */
  readonly convergeTimeoutMs?: number;
  /** Equal outcomes in a row that settle an attempt. @default 3 */
  readonly stableRounds?: number;
  /**
   * Time given to Calico and Istio to program the policies before the first round; every round
   * after it counts (a must-deny attempt seen allowed is a leak).
   * @default 5000
   */
  readonly settleMs?: number;
  /** Pause between rounds, so settled outcomes span real time. @default 1000 */
  readonly roundIntervalMs?: number;
  /** Attempts the agent runs at once in one pod. @default 64 */
  readonly concurrency?: number;
  readonly agentImage?: string;
  readonly imageRegistry?: string;
  /**
   * Predictions for the attempts. Default: the policy model over the manifests the run applies.
   * An attempt expecting `auto` takes its prediction; without one it is judged `error`.
   */
  readonly predict?: (attempt: Attempt) => Prediction | undefined;
  readonly signal?: AbortSignal;
  /**
   * What the cluster runs (provider, Kubernetes, Calico and Istio versions, pinned artifacts),
   * recorded in the `run` line of results.jsonl. @default not recorded
   */
  readonly environment?: Readonly<Record<string, unknown>>;
  /**
   * Where the cluster came from. Only on `kind` does a fact that cannot be read fall back to
   * kind's defaults (harness/run/cluster-facts.ts). @default `environment.provider`, else unknown
   */
  readonly provider?: ProviderName;
  /** The API server as policy sees it (`--api-server`); default: read from the cluster. */
  readonly apiServer?: ApiServerEndpoints;
}

export interface AttemptResult {
  readonly attempt: Attempt;
  readonly expect: Expectation;
  /** What the policy model predicted from the applied manifests, when it could. */
  readonly prediction?: Prediction;
  readonly judgement: Judgement;
  readonly evidence?: AttemptEvidence;
}

export interface RunResult {
  readonly runId: string;
  readonly directory: string;
  readonly results: readonly AttemptResult[];
  readonly interrupted: boolean;
  /** 0 every expectation held; 1 an expectation failed; 2 a fault left something unjudged. */
  readonly exitCode: number;
  readonly kept: boolean;
  /** The policy objects as the cluster stored them after the run applied them (read back, run labels included), in apply order. */
  readonly appliedPolicies: readonly KubernetesObject[];
  /** What the run read about the cluster (the `facts` line), once it got that far. */
  readonly facts?: FactsRecord;
  /** What was read back and checked before any attempt (the `footing` line), once it got that far. */
  readonly footing?: Footing;
}

/** The footing a run checked before judging (harness/run/footing.ts). */
export interface Footing {
  readonly readBack: { readonly fixtures: number; readonly policies: number };
  readonly sidecars: { readonly pods: number; readonly withProxy: number };
}

export async function runScenario(props: RunnerProps): Promise<RunResult> {
  const { scenario, progress } = props;
  const runId = props.runId ?? newRunId();
  const directory = path.join(props.reportsDir, runId);
  const log = new ResultsLog(directory);
  // Ctrl-C aborts every call in flight; cleanup gets a client of its own, which it does not stop.
  const client = new KubeClient({
    kubeConfig: props.kubeConfig,
    ...(props.signal ? { signal: props.signal } : {}),
  });
  const cleanupClient = new KubeClient({ kubeConfig: props.kubeConfig });
  const labels = runLabels(runId, scenario.name);
  const convergence = new Convergence({ stableRounds: props.stableRounds ?? 3 });
  const aborted = () => props.signal?.aborted ?? false;
  const created: ObjectRef[] = [];
  let appliedPolicies: KubernetesObject[] = [];
  let factsRecord: FactsRecord | undefined;
  let footing: Footing | undefined;
  let results: AttemptResult[] = [];
  let interrupted = false;
  let faultMessage: string | undefined;
  let transport: Transport | undefined;
  let predict: ((attempt: Attempt) => Prediction | undefined) | undefined = props.predict;
  let pending: PendingFacts | undefined;

  log.append({
    type: 'run',
    runId,
    scenario: scenario.name,
    scenarioFile: scenario.file,
    scenarioSha256: scenario.sha256,
    startedAt: new Date().toISOString(),
    cluster: props.kubeConfig.getCurrentCluster()?.server ?? '',
    context: props.kubeConfig.getCurrentContext(),
    attempts: scenario.attempts.length,
    ...(props.environment ? { environment: props.environment } : {}),
  });

  progress.phase('preflight');
  try {
    await checkNamespacesFree(client, scenario, runId);
    pending = await readClusterFacts({
      client,
      scenario,
      provider: props.provider ?? providerOf(props.environment),
      ...(props.apiServer ? { apiServer: props.apiServer } : {}),
    });
  } catch (error) {
    // Nothing was created: say so in the log and stop.
    progress.fail(error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error));
    log.append({
      type: 'end',
      exitCode: 2,
      endedAt: new Date().toISOString(),
      fault: String(error),
      created: 0,
    });
    throw error;
  }
  progress.done(`${scenario.namespaces.length} namespaces free`);

  try {
    // Fixtures.
    progress.phase('apply fixtures');
    const fixtures = renderFixtures({
      scenario,
      runId,
      agentBundle: props.agentBundle,
      ...(props.agentImage ? { agentImage: props.agentImage } : {}),
      ...(props.imageRegistry ? { imageRegistry: props.imageRegistry } : {}),
    });
    for (const [i, object] of fixtures.entries()) {
      if (aborted()) throw new Interrupted();
      await client.apply(object);
      created.push(refOf(object));
      progress.update(`${i + 1}/${fixtures.length} objects`);
    }
    progress.update(`reading back ${fixtures.length} objects`);
    await readBack(client, fixtures, 'fixtures');
    progress.done(`${fixtures.length} objects, read back as applied`);

    // Ready.
    progress.phase('wait ready');
    const { pods, ready } = await waitReady(
      client,
      scenario,
      runId,
      props.readyTimeoutMs ?? 300_000,
      progress,
      props.signal,
    );
    await checkSidecars(client, scenario, ready);
    progress.done(`${pods.size} pods, sidecars where the scenario says`);

    // Policies.
    progress.phase('apply policies');
    progress.update('reading the DNS path of the pods');
    const facts = await pending.settle({
      kubeConfig: props.kubeConfig,
      pods,
      ...(props.signal ? { signal: props.signal } : {}),
    });
    log.append({ type: 'facts', ...facts.record });
    factsRecord = facts.record;
    const manifests = renderPolicySources(scenario, facts.renderOptions);
    appliedPolicies = manifests.map((m) => withLabels(m.object, labels));
    predict = props.predict ?? facts.predictions(modelPredictions(scenario, manifests, facts.modelFacts));
    const contradicted = scenario.attempts.filter((a) => {
      const p = predict?.(a)?.outcome;
      return !a.expect.auto && p !== undefined && p !== 'unknown' && !satisfies(a.expect, p);
    }).length;
    if (contradicted > 0) {
      progress.update(
        `the policy model predicts otherwise for ${contradicted} expectation(s); bulkhead plan shows why`,
      );
    }
    for (const [i, object] of appliedPolicies.entries()) {
      if (aborted()) throw new Interrupted();
      await client.apply(object);
      created.push(refOf(object));
      progress.update(`${i + 1}/${appliedPolicies.length} objects`);
    }
    // From here on, the policies are the cluster's: results and the bundle hold them as stored.
    appliedPolicies = await readBack(client, appliedPolicies, 'policies');
    footing = {
      readBack: { fixtures: fixtures.length, policies: appliedPolicies.length },
      sidecars: { pods: ready.length, withProxy: ready.filter((p) => proxyContainerOf(p)).length },
    };
    log.append({ type: 'footing', ...footing });
    const settle = props.settleMs ?? 5000;
    if (settle > 0) {
      progress.update(`letting ${appliedPolicies.length} policies take effect (${settle} ms)`);
      await sleep(settle, undefined, props.signal ? { signal: props.signal } : {}).catch(() => undefined);
    }
    progress.done(`${appliedPolicies.length} objects`);

    // Rounds.
    progress.phase('execute');
    const tracked = scenario.attempts.map((a) => ({ id: a.id, expect: resolveExpectation(a, predict) }));
    const deadline = Date.now() + (props.convergeTimeoutMs ?? 180_000);
    transport = { mode: 'stdin' };
    for (let round = 1; ; round++) {
      if (aborted()) throw new Interrupted();
      const todo = new Set(convergence.unsettled(tracked));
      if (todo.size === 0) break;
      if (round > 1 && Date.now() >= deadline) break;
      const batches = batchesFor(
        scenario.attempts.filter((a) => todo.has(a.id)),
        pods,
      );
      await runRound({
        kubeConfig: props.kubeConfig,
        scenario,
        batches,
        transport,
        deadlines: facts.deadlines,
        ...(props.concurrency ? { concurrency: props.concurrency } : {}),
        ...(props.signal ? { signal: props.signal } : {}),
        observe: (o) => {
          const at = Date.now();
          convergence.record({ attempt: o.attempt, round, outcome: o.outcome, at, evidence: o.evidence });
          log.append({
            type: 'observation',
            attempt: o.attempt,
            round,
            outcome: o.outcome,
            at: new Date(at).toISOString(),
            reason: o.reason,
            evidence: o.evidence,
          });
        },
      });
      const left = convergence.unsettled(tracked).length;
      progress.update(`round ${round}: ${tracked.length - left}/${tracked.length} settled`);
      if (left > 0 && (props.roundIntervalMs ?? 1000) > 0) {
        await sleep(
          props.roundIntervalMs ?? 1000,
          undefined,
          props.signal ? { signal: props.signal } : {},
        ).catch(() => undefined);
      }
    }
    if (aborted()) throw new Interrupted();
    progress.done();

    results = judgeAll(scenario, convergence, predict);
    if (results.some((r) => r.judgement.verdict !== 'pass')) {
      progress.phase('collect evidence');
      results = await Promise.all(
        results.map(async (r) =>
          r.judgement.verdict === 'pass'
            ? r
            : {
                ...r,
                evidence: await collectEvidence({
                  client,
                  scenario,
                  attempt: r.attempt,
                  observations: convergence.observations(r.attempt.id),
                  pods,
                  policies: appliedPolicies,
                }),
              },
        ),
      );
      progress.done(`${results.filter((r) => r.evidence).length} attempts`);
    }
  } catch (error) {
    if (error instanceof Interrupted || aborted()) {
      interrupted = true;
      progress.fail('interrupted');
      results = judgeAll(scenario, convergence, predict);
    } else {
      progress.fail(messageOf(error));
      faultMessage = messageOf(error);
      results = judgeAll(scenario, convergence, predict);
      await finish();
      throw error;
    }
  }
  return finish();

  async function finish(): Promise<RunResult> {
    for (const r of results) {
      log.append({
        type: 'result',
        attempt: r.attempt.id,
        verdict: r.judgement.verdict,
        outcome: r.judgement.outcome,
        expect: formatExpectation(r.expect),
        category: r.attempt.category,
        kind: r.attempt.kind,
        from: refText(r.attempt.from),
        ...('to' in r.attempt ? { to: refText(r.attempt.to), port: r.attempt.port.port } : {}),
        rounds: r.judgement.rounds,
        stable: r.judgement.stable,
        leak: r.judgement.leak,
        reason: r.judgement.reason,
        ...(r.prediction
          ? {
              prediction: {
                outcome: r.prediction.outcome,
                layer: r.prediction.layer,
                reasons: r.prediction.reasons,
              },
              predictionAgrees:
                r.prediction.outcome === 'unknown' ? null : satisfies(r.expect, r.prediction.outcome),
            }
          : {}),
        ...(r.evidence ? { evidence: r.evidence } : {}),
      });
    }
    const failed = results.some((r) => r.judgement.verdict === 'fail');
    const errored = results.some((r) => r.judgement.verdict === 'error');
    const exitCode = failed ? 1 : errored || interrupted || faultMessage ? 2 : 0;
    const keep = props.keep === 'always' || (props.keep === 'on-failure' && exitCode !== 0);
    if (!keep) await cleanUp(cleanupClient, runId, created, progress);
    log.append({
      type: 'end',
      exitCode,
      endedAt: new Date().toISOString(),
      interrupted,
      kept: keep,
      ...(transport ? { execInput: transport.mode } : {}),
      ...(faultMessage ? { fault: faultMessage } : {}),
      passed: results.filter((r) => r.judgement.verdict === 'pass').length,
      failed: results.filter((r) => r.judgement.verdict === 'fail').length,
      errors: results.filter((r) => r.judgement.verdict === 'error').length,
    });
    return {
      runId,
      directory,
      results,
      interrupted,
      exitCode,
      kept: keep,
      appliedPolicies,
      ...(factsRecord ? { facts: factsRecord } : {}),
      ...(footing ? { footing } : {}),
    };
  }
}

class Interrupted extends Error {}

function resolveExpectation(attempt: Attempt, predict: RunnerProps['predict']): Expectation {
  if (!attempt.expect.auto) return attempt.expect;
  const predicted = predict?.(attempt)?.outcome;
  return predicted && predicted !== 'error' && predicted !== 'unknown'
    ? expectation([predicted])
    : attempt.expect;
}

/**
 * Predictions from the policy model over exactly the manifests the run applies. A model that
 * cannot read them predicts nothing: the run goes on and reports observations as they are.
 */
function modelPredictions(
  scenario: Scenario,
  manifests: readonly Manifest[],
  facts: Partial<ModelFacts>,
): ((attempt: Attempt) => Prediction | undefined) | undefined {
  try {
    const model = new PolicyModel({
      namespaces: scenario.namespaces,
      workloads: scenario.workloads,
      meshRootNamespace: scenario.meshRootNamespace,
      trustDomain: scenario.trustDomain,
      clusterDomain: scenario.clusterDomain,
      manifests,
      facts,
    });
    const cache = new Map<string, Prediction | undefined>();
    return (attempt) => {
      if (!cache.has(attempt.id)) {
        let prediction: Prediction | undefined;
        try {
          prediction = model.predict(attempt);
        } catch {
          prediction = undefined;
        }
        cache.set(attempt.id, prediction);
      }
      return cache.get(attempt.id);
    };
  } catch {
    return undefined;
  }
}

/** Judges every attempt from its observations, against its expectation (`auto` resolved by the prediction). */
function judgeAll(
  scenario: Scenario,
  convergence: Convergence,
  predict: RunnerProps['predict'],
): AttemptResult[] {
  return scenario.attempts.map((attempt) => {
    const expect = resolveExpectation(attempt, predict);
    const prediction = predict?.(attempt);
    const judgement: Judgement = expect.auto
      ? {
          ...convergence.judge(attempt.id, expect),
          verdict: 'error',
          reason: 'the expectation is auto and no prediction was available',
        }
      : convergence.judge(attempt.id, expect);
    return { attempt, expect, judgement, ...(prediction ? { prediction } : {}) };
  });
}

/**
 * Waits until every workload of the scenario has a Ready pod; returns `namespace/workload` →
 * pod name, and those pods as the server holds them.
 */
async function waitReady(
  client: KubeClient,
  scenario: Scenario,
  runId: string,
  timeoutMs: number,
  progress: Progress,
  signal: AbortSignal | undefined,
): Promise<{ pods: Map<string, string>; ready: V1Pod[] }> {
  const wanted = new Set(scenario.workloads.map((w) => `${w.namespace}/${w.name}`));
  const readyOnes = (pods: readonly V1Pod[]) =>
    new Map<string, string>(
      pods
        .filter(isPodReady)
        .map(
          (p) =>
            [
              `${p.metadata?.namespace ?? ''}/${p.metadata?.labels?.[WORKLOAD_LABEL] ?? ''}`,
              p.metadata?.name ?? '',
            ] as const,
        )
        .filter(([key]) => wanted.has(key)),
    );
  const pods = await waitFor<V1Pod>(client, {
    selection: { apiVersion: 'v1', kind: 'Pod', labelSelector: runSelector(runId) },
    until: (ps) => {
      const ready = readyOnes(ps).size;
      progress.update(`${ready}/${wanted.size} pods ready`);
      return ready === wanted.size;
    },
    timeoutMs,
    description: `the pods of ${wanted.size} workloads to be Ready`,
    describeState: (ps) => {
      const ready = readyOnes(ps);
      const missing = [...wanted].filter((w) => !ready.has(w));
      return `not ready: ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ` and ${missing.length - 8} more` : ''}`;
    },
    ...(signal ? { signal } : {}),
  });
  const chosen = readyOnes(pods);
  const names = new Set([...chosen].map(([key, name]) => `${key.split('/')[0] ?? ''}/${name}`));
  return {
    pods: chosen,
    ready: pods.filter((p) => names.has(`${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`)),
  };
}

function batchesFor(attempts: readonly Attempt[], pods: ReadonlyMap<string, string>): SourceBatch[] {
  const bySource = new Map<string, Attempt[]>();
  for (const a of attempts) {
    const key = refText(a.from);
    bySource.set(key, [...(bySource.get(key) ?? []), a]);
  }
  return [...bySource].map(([source, list]) => ({
    source,
    namespace: list[0]?.from.namespace ?? '',
    pod: pods.get(source) ?? '',
    attempts: list,
  }));
}

/** The provider an `environment` record names (upgrade-check passes the cluster's environment). */
function providerOf(environment: RunnerProps['environment']): ProviderName | undefined {
  const p = environment?.provider;
  return p === 'kind' || p === 'k3s' || p === 'existing' ? p : undefined;
}

/** A copy of a plain manifest with the run's labels added. */
function withLabels(
  object: Readonly<Record<string, unknown>>,
  labels: Record<string, string>,
): KubernetesObject {
  const metadata = isRecord(object.metadata) ? object.metadata : {};
  const existing = isRecord(metadata.labels) ? (metadata.labels as Record<string, string>) : {};
  return { ...object, metadata: { ...metadata, labels: { ...existing, ...labels } } };
}

/**
 * Deletes what this run created: objects outside the run's namespaces one by one (each checked
 * to carry this run's label), then the namespaces, which takes everything inside with them.
 */
async function cleanUp(
  client: KubeClient,
  runId: string,
  created: readonly ObjectRef[],
  progress: Progress,
): Promise<void> {
  progress.phase('clean up');
  const namespaces = new Set(created.filter((r) => r.kind === 'Namespace').map((r) => r.name));
  const outside = created.filter(
    (r) => r.kind !== 'Namespace' && !(r.namespace && namespaces.has(r.namespace)),
  );
  const failures: string[] = [];
  for (const ref of [...outside].reverse()) {
    try {
      const current = await client.read(ref);
      if (current?.metadata?.labels?.[RUN_LABEL] === runId) await client.delete(ref);
    } catch (error) {
      failures.push(`${describeRef(ref)}: ${messageOf(error)}`);
    }
  }
  try {
    await client.deleteByLabel([{ apiVersion: 'v1', kind: 'Namespace' }], runSelector(runId));
  } catch (error) {
    failures.push(messageOf(error));
  }
  if (failures.length > 0) progress.fail(`left behind: ${failures.join('; ')}`);
  else progress.done(`${namespaces.size} namespaces, ${outside.length} other objects`);
}
