/**
 * A run on a live cluster: preflight → apply fixtures → wait ready → apply policies → settle →
 * execute rounds until the outcomes converge → judge → collect evidence → clean up. Each step is
 * a phase: a small function over one run context (as kind's create actions are over theirs),
 * listed in PHASES in the order they run. Records go to `<directory>/results.jsonl` as they
 * arrive (harness/results/records.ts). Ctrl-C (an aborted signal) stops new work, cleans up
 * unless asked to keep, and still writes what was observed. The runner decides nothing about
 * policy semantics: it observes and compares with the expectations given.
 */
import type { KubeConfig, KubernetesObject, V1Pod } from '@kubernetes/client-node';

import type { RunAddresses } from '../agent/from-attempt.js';
import { KubeClient } from '../kube/client.js';
import { describeRef, refOf, type ObjectRef } from '../kube/objects.js';
import { isPodReady } from '../kube/pods.js';
import { waitFor } from '../kube/wait.js';
import type { ProviderName } from '../cluster/provider.js';
import type { ClusterFacts as ModelFacts } from '../model/types.js';
import type { ApiServerEndpoints, ClusterPolicyForm } from '../policies/options.js';
import { PolicyModel } from '../model/evaluate.js';
import type { PolicyManifest, Prediction } from '../model/types.js';
import { clusterFlips, flipText } from '../model/cluster-flips.js';
import { enforceStaged, hasStaged } from '../model/staged.js';
import { ignoredAdminPolicies } from '../model/admin-network-policy.js';
import { foreignObjects } from '../policies/cluster-location.js';
import { readClusterPolicies } from '../policies/cluster-policies.js';
import { renderPolicySources } from '../policies/render.js';
import { scenarioScope } from '../results/build-results.js';
import {
  ResultsLog,
  type BarrierRecord,
  type FootingRecord,
  type NewRecord,
  type RunEnvironment,
} from '../results/records.js';
import {
  expectation,
  formatExpectation,
  isMustDeny,
  satisfies,
  type Expectation,
} from '../scenario/outcomes.js';
import { dataPlaneOf } from '../scenario/dataplane.js';
import { refText, type Attempt, type Manifest, type Scenario } from '../scenario/types.js';
import { layerOf } from '../model/objects.js';
import { apiGroupOf } from '../policies/kinds.js';
import {
  canaryAddress,
  canaryPolicies,
  CanaryTimeout,
  waitForCanary,
  type CanaryProbeProps,
  type CanaryWait,
} from './canary.js';
import {
  MeshSyncTimeout,
  prepareMeshBarrier,
  waitForMeshSync,
  type MeshAmbient,
  type MeshBarrierProps,
  type MeshBaseline,
} from './mesh-barrier.js';
import { systemClock, type RunClock } from './clock.js';
import { readClusterFacts, type ClusterFacts, type PendingFacts } from './cluster-facts.js';
import { Convergence, type Judgement } from './convergence.js';
import { addressFacts, checkAddresses, readNodePorts, readRunAddresses } from './addresses.js';
import { collectEvidence, type AttemptEvidence } from './evidence.js';
import { DEFAULT_AGENT_CONCURRENCY, OpeningLimit, type SourceBatch, type Transport } from './execute.js';
import { AgentSessions } from './sessions.js';
import { renderCanaryFixtures, renderFixtures, WORKLOAD_LABEL } from './fixtures.js';
import { MANAGED_BY, MANAGED_BY_LABEL, RUN_LABEL, runLabels, runSelector } from './identity.js';
import { checkSidecars, readBack } from './footing.js';
import { hasAmbientFooting, waitCaptured, waitWaypoints, type AmbientFooting } from './ambient-footing.js';
import { proxyContainerOf } from './sidecars.js';
import { checkNamespacesFree } from './preflight.js';
import type { Progress } from './progress.js';
import { isRecord, messageOf } from '../values.js';

/**
 * How a run runs: the settings `run` and every `upgrade-check` phase share. Flags parse into
 * it (harness/cli/shared.ts `runSettings`); the method section of the reports records it.
 */
export interface RunSettings {
  /** The agent bundle's text, shipped to the pods in a ConfigMap. */
  readonly agentBundle: string;
  readonly agentImage?: string;
  readonly imageRegistry?: string;
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
  /**
   * How long the network canary may take to flip, before round 1 and before the policies
   * (harness/run/canary.ts); 0 turns the barrier off (`--settle` is then the only wait).
   * @default 120000
   */
  readonly barrierTimeoutMs?: number;
  /**
   * Exec sessions that may be opening at once (`--exec-concurrency`), so that many source pods
   * do not open their WebSockets in the same second.
   * @default 32
   */
  readonly execConcurrency?: number;
  /** The API server as policy sees it (`--api-server`); default: read from the cluster. */
  readonly apiServer?: ApiServerEndpoints;
  /**
   * Where `builtin: hard-isolation` puts its cross-tenant deny (`--cluster-policy`), over the
   * scenario's `clusterPolicy`. @default the scenario's, else `calico`
   */
  readonly clusterPolicy?: ClusterPolicyForm;
}

/** What a run dials for `internet` attempts: the provider's stand-in (harness/cluster/internet.ts). */
export interface InternetProps {
  /** @default PUBLIC_ADDRESS (harness/scenario/address-target.ts) */
  readonly internet?: string;
}

export const RUN_DEFAULTS = {
  readyTimeoutMs: 300_000,
  convergeTimeoutMs: 180_000,
  stableRounds: 3,
  settleMs: 5000,
  roundIntervalMs: 1000,
  barrierTimeoutMs: 120_000,
} as const;

export interface RunnerProps extends RunSettings, InternetProps {
  readonly scenario: Scenario;
  readonly kubeConfig: KubeConfig;
  /** The run folder: results.jsonl is written here (and the reports, by whoever writes them). */
  readonly directory: string;
  readonly runId: string;
  readonly progress: Progress;
  /** Keep what the run created: never, always, or only when an expectation failed. @default 'never' */
  readonly keep?: 'never' | 'always' | 'on-failure';
  /**
   * Predictions for the attempts. Default: the policy model over the manifests the run applies.
   * An attempt expecting `auto` takes its prediction; without one it is judged `error`.
   */
  readonly predict?: (attempt: Attempt) => Prediction | undefined;
  readonly signal?: AbortSignal;
  /**
   * Where and why the run runs (provider, versions, trigger), recorded in the `run` record, the
   * base of the reports' scope and versions. @default not recorded
   */
  readonly environment?: RunEnvironment;
  /**
   * Where the cluster came from. Only on `kind` does a fact that cannot be read fall back to
   * kind's defaults (harness/run/cluster-facts.ts). @default `environment.provider`, else unknown
   */
  readonly provider?: ProviderName;
  /** @default the system clock */
  readonly clock?: RunClock;
  /** Records written right after the `run` record (an upgrade-check phase: the transition into it). @default none */
  readonly prelude?: readonly NewRecord[];
}

export interface AttemptResult {
  readonly attempt: Attempt;
  readonly expect: Expectation;
  /** What the policy model predicted from the applied manifests, when it could. */
  readonly prediction?: Prediction;
  /** The prediction with Calico's staged policies enforced, where it differs: a note, never a verdict. */
  readonly wouldChange?: Prediction;
  readonly judgement: Judgement;
  readonly evidence?: AttemptEvidence;
}

export interface RunResult {
  readonly runId: string;
  /** The run folder holding results.jsonl. */
  readonly directory: string;
  readonly results: readonly AttemptResult[];
  readonly interrupted: boolean;
  /** 0 every expectation held; 1 an expectation failed; 2 a fault left something unjudged. */
  readonly exitCode: number;
  readonly kept: boolean;
  /** The policy objects as the cluster stored them after the run applied them (read back, run labels included), in apply order. */
  readonly appliedPolicies: readonly KubernetesObject[];
}

/** The footing a run checked before judging (harness/run/footing.ts). */
export type Footing = Omit<FootingRecord, 'type'>;

/** What every phase reads and adds to: the run's context, as kind's actions share theirs. */
interface RunContext {
  readonly props: RunnerProps;
  readonly scenario: Scenario;
  readonly runId: string;
  readonly log: ResultsLog;
  /** Aborted by Ctrl-C: every call in flight stops. */
  readonly client: KubeClient;
  readonly progress: Progress;
  readonly clock: RunClock;
  readonly labels: Record<string, string>;
  readonly convergence: Convergence;
  /** Everything the run created, in order: what cleanup deletes. */
  readonly created: ObjectRef[];
  readonly pending: PendingFacts;
  fixtures: readonly KubernetesObject[];
  /** `namespace/workload` → the Ready pod that stands for it. */
  pods: Map<string, string>;
  ready: V1Pod[];
  /** Pod IPs and node addresses, for attempts that dial no Service name (harness/run/addresses.ts). */
  addresses?: RunAddresses;
  /** The node ports of the fixtures' NodePort Services, as the server stored them. */
  nodePorts?: ReadonlyMap<string, number>;
  facts?: ClusterFacts;
  appliedPolicies: KubernetesObject[];
  /** The network canary, once it answers every run pod (harness/run/canary.ts). */
  canary?: { readonly address: string; readonly deny: KubernetesObject; readonly opened: CanaryWait };
  /** Why the network barrier does not run, when it does not. */
  noCanary?: { readonly status: 'skipped' | 'unavailable'; readonly reasoning: string };
  /** What the ambient footing found (harness/run/ambient-footing.ts), for the footing record. */
  ambient?: AmbientFooting;
  /** The mesh barrier: what istiod had sent the sidecars before the policies, and when the last apply returned. */
  mesh?: {
    readonly baseline: MeshBaseline;
    readonly t1: number;
    /** Per namespace, when the apply of its last Istio object returned (harness/run/mesh-barrier.ts). */
    readonly appliedAt: ReadonlyMap<string, number>;
  };
  /** Why the mesh barrier does not run, when it does not. */
  noMesh?: BarrierRecord['mesh'];
  predict: ((attempt: Attempt) => Prediction | undefined) | undefined;
  /** Attempt id → the prediction with Calico's staged policies enforced, where it differs. */
  wouldChange?: ReadonlyMap<string, Prediction>;
  transport?: Transport;
  /** One agent session per source pod, opened in round 1, closed after the last round. */
  sessions?: AgentSessions;
  results: AttemptResult[];
}

type Phase = (ctx: RunContext) => Promise<void>;

/** The phases after preflight, in the order they run. */
const PHASES: readonly Phase[] = [
  applyFixtures,
  waitReady,
  applyPolicies,
  barrier,
  rounds,
  judge,
  collectFailureEvidence,
];

export async function runScenario(props: RunnerProps): Promise<RunResult> {
  const { scenario, progress, runId } = props;
  const clock = props.clock ?? systemClock;
  const log = new ResultsLog(props.directory);
  const client = new KubeClient({
    kubeConfig: props.kubeConfig,
    ...(props.signal ? { signal: props.signal } : {}),
  });
  const aborted = () => props.signal?.aborted ?? false;
  const stableRounds = props.stableRounds ?? RUN_DEFAULTS.stableRounds;

  log.append({
    type: 'run',
    runId,
    scenario: scenario.name,
    scenarioFile: scenario.file,
    scenarioSha256: scenario.sha256,
    startedAt: new Date(clock.now()).toISOString(),
    cluster: props.kubeConfig.getCurrentCluster()?.server ?? '',
    context: props.kubeConfig.getCurrentContext(),
    attempts: scenario.attempts.length,
    ...(props.environment ? { environment: props.environment } : {}),
    method: {
      stableRounds,
      convergeTimeoutMs: props.convergeTimeoutMs ?? RUN_DEFAULTS.convergeTimeoutMs,
      settleMs: props.settleMs ?? RUN_DEFAULTS.settleMs,
      roundIntervalMs: props.roundIntervalMs ?? RUN_DEFAULTS.roundIntervalMs,
      readyTimeoutMs: props.readyTimeoutMs ?? RUN_DEFAULTS.readyTimeoutMs,
    },
    ...(scenario.segments.length + scenario.isolate.length + scenario.outOfScope.length > 0
      ? { scope: scenarioScope(scenario) }
      : {}),
  });

  for (const record of props.prelude ?? []) log.append(record);
  const pending = await preflight(props, client, log, clock);
  const ctx: RunContext = {
    props,
    scenario,
    runId,
    log,
    client,
    progress,
    clock,
    labels: runLabels(runId, scenario.name),
    convergence: new Convergence({ stableRounds }),
    created: [],
    pending,
    fixtures: [],
    pods: new Map(),
    ready: [],
    appliedPolicies: [],
    predict: props.predict,
    results: [],
  };
  let interrupted = false;
  let fault: Error | undefined;
  try {
    for (const phase of PHASES) {
      if (aborted()) throw new Interrupted();
      await phase(ctx);
    }
  } catch (error) {
    if (error instanceof Interrupted || aborted()) {
      interrupted = true;
      progress.fail('interrupted');
    } else {
      progress.fail(messageOf(error));
      fault = error instanceof Error ? error : new Error(String(error));
    }
    ctx.results = judgeAll(ctx);
  }
  const result = await finish(ctx, interrupted, fault === undefined ? undefined : messageOf(fault));
  if (fault) throw fault;
  return result;
}

/**
 * Nothing is created before the scenario's namespaces are known free and the cluster's facts
 * read; when that fails, the log says so and the run stops with nothing to clean up.
 */
async function preflight(
  props: RunnerProps,
  client: KubeClient,
  log: ResultsLog,
  clock: RunClock,
): Promise<PendingFacts> {
  const { scenario, progress } = props;
  progress.phase('preflight');
  try {
    await checkNamespacesFree(client, scenario, props.runId);
    const pending = await readClusterFacts({
      client,
      scenario,
      provider: props.provider ?? providerOf(props.environment),
      ...(props.apiServer ? { apiServer: props.apiServer } : {}),
    });
    progress.done(`${scenario.namespaces.length} namespaces free`);
    return pending;
  } catch (error) {
    progress.fail(error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error));
    log.append({
      type: 'end',
      exitCode: 2,
      endedAt: new Date(clock.now()).toISOString(),
      fault: String(error),
      created: 0,
    });
    throw error;
  }
}

async function applyFixtures(ctx: RunContext): Promise<void> {
  const { props, progress } = ctx;
  progress.phase('apply fixtures');
  const fixtures = renderFixtures({
    scenario: ctx.scenario,
    runId: ctx.runId,
    agentBundle: props.agentBundle,
    ...(props.agentImage ? { agentImage: props.agentImage } : {}),
    ...(props.imageRegistry ? { imageRegistry: props.imageRegistry } : {}),
  });
  await applyAll(ctx, fixtures);
  progress.update(`reading back ${fixtures.length} objects`);
  const stored = await readBack(ctx.client, fixtures, 'fixtures');
  ctx.fixtures = fixtures;
  ctx.nodePorts = readNodePorts(ctx.scenario.workloads, stored);
  progress.done(`${fixtures.length} objects, read back as applied`);
}

/** Applies objects in order, each recorded as created before the next; stops at Ctrl-C. */
async function applyAll(
  ctx: RunContext,
  objects: readonly KubernetesObject[],
  applied?: (object: KubernetesObject) => void,
): Promise<void> {
  for (const [i, object] of objects.entries()) {
    if (ctx.props.signal?.aborted) throw new Interrupted();
    await ctx.client.apply(object);
    applied?.(object);
    ctx.created.push(refOf(object));
    ctx.progress.update(`${i + 1}/${objects.length} objects`);
  }
}

async function waitReady(ctx: RunContext): Promise<void> {
  const { progress } = ctx;
  progress.phase('wait ready');
  const { pods, ready } = await waitForPods(ctx);
  await checkSidecars(ctx.client, ctx.scenario, ready);
  const ambient = hasAmbientFooting(ctx.scenario) ? await checkAmbient(ctx, ready) : '';
  ctx.pods = pods;
  ctx.ready = ready;
  ctx.addresses = readRunAddresses(pods, ready, ctx.props.internet, ctx.nodePorts);
  checkAddresses(ctx.scenario.attempts, ctx.addresses);
  progress.done(`${pods.size} pods, sidecars where the scenario says${ambient}`);
}

/** ztunnel capture and waypoints as the scenario says (harness/run/ambient-footing.ts). */
async function checkAmbient(ctx: RunContext, ready: readonly V1Pod[]): Promise<string> {
  const props = {
    client: ctx.client,
    scenario: ctx.scenario,
    runId: ctx.runId,
    pods: ready,
    timeoutMs: ctx.props.readyTimeoutMs ?? RUN_DEFAULTS.readyTimeoutMs,
    progress: (line: string) => {
      ctx.progress.update(line);
    },
    ...(ctx.props.signal ? { signal: ctx.props.signal } : {}),
  };
  const captured = await waitCaptured(props);
  const waypoints = await waitWaypoints(props);
  ctx.ambient = { captured, waypoints };
  return `, ${captured} ambient pods captured by ztunnel${waypoints > 0 ? `, ${waypoints} waypoints usable` : ''}`;
}

async function applyPolicies(ctx: RunContext): Promise<void> {
  const { props, progress, scenario } = ctx;
  progress.phase('apply policies');
  progress.update('reading the DNS path of the pods');
  const facts = await ctx.pending.settle({
    kubeConfig: props.kubeConfig,
    pods: ctx.pods,
    ...(props.signal ? { signal: props.signal } : {}),
  });
  ctx.log.append({ type: 'facts', ...facts.record });
  ctx.facts = facts;
  const manifests = renderPolicySources(scenario, {
    ...facts.renderOptions,
    ...(props.clusterPolicy ? { clusterPolicy: props.clusterPolicy } : {}),
  });
  const labelled = manifests.map((m) => withLabels(m.object, ctx.labels));
  await openCanary(ctx, manifests);
  const mesh = await prepareMeshBarrier(meshProps(ctx, labelled));
  ctx.appliedPolicies = labelled;
  const appliedAt = new Map<string, number>();
  await applyAll(ctx, labelled, (object) => {
    // istiod's sentTime is wall-clock time, whatever clock the run is given.
    if (apiGroupOf(object.apiVersion ?? '')?.engine === 'istio')
      appliedAt.set(object.metadata?.namespace ?? '', Date.now());
  });
  if ('baseline' in mesh) ctx.mesh = { baseline: mesh.baseline, t1: Date.now(), appliedAt };
  else ctx.noMesh = mesh.skip;
  // From here on, the policies are the cluster's: results and the bundle hold them as stored.
  ctx.appliedPolicies = await readBack(ctx.client, labelled, 'policies');
  ctx.log.append({ type: 'policies', applied: ctx.appliedPolicies.map((o) => ({ ...o })) });
  // The Calico the run installed or found decides what AdminNetworkPolicy kinds do.
  const calico = props.environment?.versions?.calico;
  await predictWithCluster(
    ctx,
    manifests,
    {
      ...facts.modelFacts,
      ...(ctx.addresses ? addressFacts(ctx.addresses) : {}),
      ...(calico ? { calico } : {}),
    },
    facts,
  );
  const footing: Footing = {
    readBack: { fixtures: ctx.fixtures.length, policies: ctx.appliedPolicies.length },
    sidecars: { pods: ctx.ready.length, withProxy: ctx.ready.filter((p) => proxyContainerOf(p)).length },
    ...(ctx.ambient ? { ambient: { ...ctx.ambient } } : {}),
  };
  ctx.log.append({ type: 'footing', ...footing });
}

/**
 * The predictions the run judges `auto` by and records, made once the run's own policies are
 * applied and before any attempt: over those policies and every policy object the cluster
 * already held that can touch the scenario's namespaces (harness/policies/cluster-policies.ts;
 * the run's own objects, canary included, carry its run label and are left out). Each attempt
 * whose prediction the cluster's objects flip is said now, as a warning, and recorded with the
 * objects, tiers and rules that decided. A flip does not stop the run and does not change how
 * a declared expectation is judged: the expectation is the requirement, and the observation
 * shows whether the cluster meets it; an `auto` expectation takes the prediction with the
 * cluster's objects, which is what the cluster will do.
 */
async function predictWithCluster(
  ctx: RunContext,
  manifests: readonly Manifest[],
  modelFacts: Partial<ModelFacts>,
  facts: ClusterFacts,
): Promise<void> {
  const { scenario, progress, props } = ctx;
  progress.update("reading the cluster's own policies");
  const foreign = await readClusterPolicies({
    client: ctx.client,
    namespaces: scenario.namespaces.map((n) => n.name),
    meshRootNamespace: scenario.meshRootNamespace,
    skipLabels: { [MANAGED_BY_LABEL]: MANAGED_BY, [RUN_LABEL]: ctx.runId },
  });
  const alone = facts.predictions(modelPredictions(scenario, manifests, modelFacts));
  const withCluster =
    foreign.manifests.length > 0
      ? facts.predictions(modelPredictions(scenario, [...foreign.manifests, ...manifests], modelFacts))
      : alone;
  ctx.predict = props.predict ?? withCluster;
  const flips = alone && withCluster ? clusterFlips(scenario.attempts, alone, withCluster) : [];
  // Calico's staged policies (the cluster's or the run's own) enforce nothing: predicted as if
  // they were, each attempt whose outcome that changes gets a note, never a verdict.
  const all = [...foreign.manifests, ...manifests];
  const staged = hasStaged(all)
    ? facts.predictions(modelPredictions(scenario, enforceStaged(all), modelFacts))
    : undefined;
  ctx.wouldChange = new Map(
    scenario.attempts.flatMap((a) => {
      const now = withCluster?.(a);
      const then = staged?.(a);
      return now && then && then.outcome !== now.outcome ? [[a.id, then] as const] : [];
    }),
  );
  if (ctx.wouldChange.size > 0)
    progress.update(
      `staged policies, as if enforced, would change ${ctx.wouldChange.size} attempt(s); a note, not a verdict`,
    );
  ctx.log.append({
    type: 'cluster-policies',
    objects: foreign.manifests.map((m) => m.file),
    read: foreign.manifests.map((m) => ({ ...m.object })),
    absent: [...foreign.absent],
    unreadable: [...foreign.unreadable],
    flips: flips.map((f) => ({ ...f, decidedBy: [...f.decidedBy], reasons: [...f.reasons] })),
  });
  for (const kind of foreign.unreadable)
    progress.warn(`cannot list ${kind}: the predictions do not account for such objects`);
  for (const text of ignoredAdminPolicies(all, modelFacts.calico)) progress.warn(text);
  for (const flip of flips) progress.warn(flipText(flip));
  const contradicted = scenario.attempts.filter((a) => {
    const p = ctx.predict?.(a)?.outcome;
    return !a.expect.auto && p !== undefined && p !== 'unknown' && !satisfies(a.expect, p);
  }).length;
  if (contradicted > 0) {
    progress.update(
      `the policy model predicts otherwise for ${contradicted} expectation(s); bulkhead plan shows why`,
    );
  }
}

/**
 * Before the policies: the network canary, when the run applies network policy and the cluster
 * serves Calico's API (harness/run/canary.ts). Every run pod must reach it first.
 */
async function openCanary(ctx: RunContext, manifests: readonly Manifest[]): Promise<void> {
  const { props, progress } = ctx;
  const timeoutMs = props.barrierTimeoutMs ?? RUN_DEFAULTS.barrierTimeoutMs;
  if (timeoutMs <= 0) {
    ctx.noCanary = {
      status: 'skipped',
      reasoning: 'turned off (--barrier-timeout 0): --settle is the only wait',
    };
    return;
  }
  const network = manifests.filter((m) => layerOf(m) === 'network').length;
  if (network === 0) {
    ctx.noCanary = { status: 'skipped', reasoning: 'the run applies no network policy' };
    return;
  }
  if (!(await servesCalicoPolicy(ctx.client))) {
    ctx.noCanary = {
      status: 'unavailable',
      reasoning:
        'the cluster does not serve projectcalico.org/v3 Tier and GlobalNetworkPolicy (the Calico API server), which the canary needs: --settle is the only wait',
    };
    return;
  }
  progress.update('canary: deploying');
  await applyAll(
    ctx,
    renderCanaryFixtures({
      scenario: ctx.scenario,
      runId: ctx.runId,
      agentBundle: props.agentBundle,
      ...(props.agentImage ? { agentImage: props.agentImage } : {}),
      ...(props.imageRegistry ? { imageRegistry: props.imageRegistry } : {}),
    }),
  );
  const address = await canaryAddress(
    ctx.client,
    ctx.runId,
    props.readyTimeoutMs ?? RUN_DEFAULTS.readyTimeoutMs,
    props.signal,
  );
  const policies = canaryPolicies(ctx.runId, ctx.labels);
  // An earlier run with this id on the cluster (an upgrade check's phase before) kept its deny:
  // the canary must answer again before this run's policies.
  await ctx.client.delete(refOf(policies.deny));
  await applyAll(ctx, [policies.tier, policies.allow]);
  const opened = await waitForCanary(canaryProbe(ctx, timeoutMs), address, 'allowed');
  ctx.canary = { address, deny: policies.deny, opened };
}

function canaryProbe(ctx: RunContext, timeoutMs: number): CanaryProbeProps {
  return {
    kubeConfig: ctx.props.kubeConfig,
    client: ctx.client,
    pods: ctx.ready,
    runId: ctx.runId,
    clock: ctx.clock,
    progress: ctx.progress,
    timeoutMs,
    ambient: ambientPodOf(ctx.scenario),
    sessions: sessionsOf(ctx),
    openings: new OpeningLimit(ctx.props.execConcurrency),
    ...(ctx.props.signal ? { signal: ctx.props.signal } : {}),
  };
}

/** The run's ztunnel-captured pods and the scenario's waypoints, for the mesh barrier. */
function meshAmbient(ctx: RunContext): MeshAmbient {
  const isAmbient = ambientPodOf(ctx.scenario);
  const captured = ctx.ready.filter(isAmbient);
  return {
    captured: captured.length,
    namespaces: [...new Set(captured.map((p) => p.metadata?.namespace ?? ''))],
    waypoints: ctx.scenario.namespaces.flatMap((n) =>
      (n.waypoints ?? []).map((w) => ({ namespace: w.namespace, name: w.name })),
    ),
  };
}

/**
 * Whether a run pod is on the ambient data plane, by its workload's data plane: the footing has
 * checked by then that ztunnel captures exactly those pods (harness/run/ambient-footing.ts).
 */
function ambientPodOf(scenario: Scenario): (pod: V1Pod) => boolean {
  const ambient = new Set(
    scenario.workloads.filter((w) => dataPlaneOf(w) === 'ambient').map((w) => `${w.namespace}/${w.name}`),
  );
  return (pod) =>
    ambient.has(`${pod.metadata?.namespace ?? ''}/${pod.metadata?.labels?.[WORKLOAD_LABEL] ?? ''}`);
}

async function servesCalicoPolicy(client: KubeClient): Promise<boolean> {
  try {
    await client.collectionPath({ apiVersion: 'projectcalico.org/v3', kind: 'Tier' });
    await client.collectionPath({ apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkPolicy' });
    return true;
  } catch (error) {
    if (error instanceof Error && /does not serve/.test(error.message)) return false;
    throw error;
  }
}

function meshProps(ctx: RunContext, objects: readonly KubernetesObject[]): MeshBarrierProps {
  return {
    kubeConfig: ctx.props.kubeConfig,
    client: ctx.client,
    pods: ctx.ready,
    objects,
    rootNamespace: ctx.scenario.meshRootNamespace,
    ambient: meshAmbient(ctx),
    clock: ctx.clock,
    progress: ctx.progress,
    timeoutMs: ctx.props.barrierTimeoutMs ?? RUN_DEFAULTS.barrierTimeoutMs,
    ...(ctx.props.signal ? { signal: ctx.props.signal } : {}),
  };
}

/**
 * Round 1 starts when what the run applied is known to be in force, both barriers at once: the
 * canary's deny, applied last, seen by every run pod (harness/run/canary.ts), and every run
 * sidecar's acknowledgement of istiod's push (harness/run/mesh-barrier.ts); then `--settle` as
 * an extra minimum wait. A barrier that times out is recorded, and stops the run.
 */
async function barrier(ctx: RunContext): Promise<void> {
  const { props, progress } = ctx;
  const settleMs = props.settleMs ?? RUN_DEFAULTS.settleMs;
  const canary = ctx.canary;
  const mesh = ctx.mesh;
  // Without a canary, whose dials open the sessions, they open while the barriers and --settle wait.
  const opening = canary ? undefined : openSessions(ctx);
  const [networkPart, meshPart] = await Promise.allSettled([
    canary
      ? (async (): Promise<BarrierRecord['network']> => {
          await applyAll(ctx, [canary.deny]);
          const closed = await waitForCanary(
            canaryProbe(ctx, props.barrierTimeoutMs ?? RUN_DEFAULTS.barrierTimeoutMs),
            canary.address,
            'refused',
          );
          return {
            status: 'passed',
            reasoning:
              `every one of ${closed.pods} run pods reached the network canary before the policies and saw its deny, applied after them, ` +
              `${closed.ms} ms after it was applied (${closed.rounds} canary round(s))`,
            ms: closed.ms,
            rounds: closed.rounds,
            pods: closed.pods,
          };
        })()
      : Promise.resolve<BarrierRecord['network']>(
          ctx.noCanary ?? { status: 'skipped', reasoning: 'the run applies no network policy' },
        ),
    mesh
      ? waitForMeshSync(meshProps(ctx, ctx.appliedPolicies), mesh.baseline, mesh.t1, mesh.appliedAt).then(
          (w) => w.part,
        )
      : Promise.resolve<BarrierRecord['mesh']>(
          ctx.noMesh ?? { status: 'skipped', reasoning: 'the run applies no Istio configuration' },
        ),
  ]);
  if (props.signal?.aborted) throw new Interrupted();
  const network = settledPart<BarrierRecord['network']>(networkPart, (e) =>
    e instanceof CanaryTimeout ? { status: 'timed-out', reasoning: e.message } : undefined,
  );
  const meshRecord = settledPart(meshPart, (e) => (e instanceof MeshSyncTimeout ? e.part : undefined));
  if (network && meshRecord) ctx.log.append({ type: 'barrier', network, mesh: meshRecord, settleMs });
  for (const part of [networkPart, meshPart]) if (part.status === 'rejected') throw part.reason;
  if (!network || !meshRecord) throw new Error('a barrier ended without a result');
  if (settleMs > 0) {
    progress.update(`letting ${ctx.appliedPolicies.length} policies take effect (${settleMs} ms)`);
    await ctx.clock.sleep(settleMs, props.signal);
  }
  if (opening) {
    progress.update('opening the agent sessions');
    await opening;
  }
  const inForce = [
    network.status === 'passed' ? `network policy in force after ${network.ms ?? 0} ms` : '',
    meshRecord.status === 'passed'
      ? `${mesh?.baseline.ztunnel ? 'mesh proxies' : 'sidecars'} in sync after ${meshRecord.ms ?? 0} ms`
      : '',
  ].filter(Boolean);
  progress.done([`${ctx.appliedPolicies.length} objects`, ...inForce].join(', '));
}

/** A barrier's record part: its result, or what its timeout says (undefined for any other failure). */
function settledPart<T>(
  part: PromiseSettledResult<T>,
  timedOut: (error: unknown) => T | undefined,
): T | undefined {
  return part.status === 'fulfilled' ? part.value : timedOut(part.reason);
}

/**
 * The run's agent sessions, one per pod for the barrier and all the rounds (per round where the
 * server speaks only v4), opened by the first dial that needs one.
 */
function sessionsOf(ctx: RunContext): AgentSessions {
  if (ctx.sessions) return ctx.sessions;
  const { props, scenario } = ctx;
  const transport: Transport = { mode: 'stdin' };
  ctx.transport = transport;
  ctx.sessions = new AgentSessions({
    kubeConfig: props.kubeConfig,
    scenario: ctx.addresses ? { ...scenario, addresses: ctx.addresses } : scenario,
    transport,
    ...(props.concurrency ? { concurrency: props.concurrency } : {}),
    ...(props.execConcurrency ? { execConcurrency: props.execConcurrency } : {}),
    ...(props.signal ? { signal: props.signal } : {}),
  });
  return ctx.sessions;
}

/**
 * Opens every source pod's agent session with an empty batch, so that round 1 pays no exec and
 * no Node start (the network canary's dials do the same when the run has a canary). A session that
 * cannot open loses no attempt here: round 1 opens it again, and reports the failure if that one
 * fails too (harness/run/sessions.ts). Nothing here rejects.
 */
async function openSessions(ctx: RunContext): Promise<void> {
  const sessions = sessionsOf(ctx);
  await Promise.all(
    batchesFor(ctx.scenario.attempts, ctx.pods).map((b) =>
      sessions
        .probe({ namespace: b.namespace, pod: b.pod, items: [] }, () => undefined)
        .catch(() => undefined),
    ),
  );
}

/** Rounds until every attempt has settled (or leaked), or the convergence deadline passes. */
async function rounds(ctx: RunContext): Promise<void> {
  const { props, progress, convergence, clock, scenario } = ctx;
  progress.phase('execute');
  const tracked = scenario.attempts.map((a) => ({ id: a.id, expect: resolveExpectation(a, ctx.predict) }));
  const deadline = clock.now() + (props.convergeTimeoutMs ?? RUN_DEFAULTS.convergeTimeoutMs);
  const interval = props.roundIntervalMs ?? RUN_DEFAULTS.roundIntervalMs;
  const sessions = sessionsOf(ctx);
  try {
    // Pods that only dialled the canary (the echo pods of destinations) need their session no more.
    await sessions.retain(
      new Set(batchesFor(scenario.attempts, ctx.pods).map((b) => `${b.namespace}/${b.pod}`)),
    );
    for (let round = 1; ; round++) {
      if (props.signal?.aborted) throw new Interrupted();
      const todo = new Set(convergence.unsettled(tracked));
      if (todo.size === 0) break;
      if (round > 1 && clock.now() >= deadline) break;
      await sessions.round({
        batches: batchesFor(
          scenario.attempts.filter((a) => todo.has(a.id)),
          ctx.pods,
        ),
        deadlines: ctx.facts?.deadlines ?? new Map(),
        observe: (o) => {
          const at = clock.now();
          convergence.record({ attempt: o.attempt, round, outcome: o.outcome, at, evidence: o.evidence });
          ctx.log.append({
            type: 'observation',
            attempt: o.attempt,
            round,
            outcome: o.outcome,
            at: new Date(at).toISOString(),
            reason: o.reason,
            evidence: { ...o.evidence },
          });
        },
      });
      const left = convergence.unsettled(tracked).length;
      progress.update(`round ${round}: ${tracked.length - left}/${tracked.length} settled`);
      if (left > 0 && interval > 0) await clock.sleep(interval, props.signal);
    }
  } finally {
    // The agents exit once their input ends (at once on Ctrl-C).
    await sessions.close();
  }
  if (props.signal?.aborted) throw new Interrupted();
  progress.done();
}

function judge(ctx: RunContext): Promise<void> {
  ctx.results = judgeAll(ctx);
  return Promise.resolve();
}

/** Pods, events, proxy logs and the policies in play, for every attempt that did not pass. */
async function collectFailureEvidence(ctx: RunContext): Promise<void> {
  if (!ctx.results.some((r) => r.judgement.verdict !== 'pass')) return;
  ctx.progress.phase('collect evidence');
  ctx.results = await Promise.all(
    ctx.results.map(async (r) =>
      r.judgement.verdict === 'pass'
        ? r
        : {
            ...r,
            evidence: await collectEvidence({
              client: ctx.client,
              scenario: ctx.scenario,
              ...(ctx.addresses ? { addresses: ctx.addresses } : {}),
              attempt: r.attempt,
              observations: ctx.convergence.observations(r.attempt.id),
              pods: ctx.pods,
              policies: ctx.appliedPolicies,
              agent: {
                mode: ctx.sessions?.mode ?? 'persistent',
                concurrency: ctx.props.concurrency ?? DEFAULT_AGENT_CONCURRENCY,
                ...(ctx.facts ? { deadlines: ctx.facts.deadlines } : {}),
              },
            }),
          },
    ),
  );
  ctx.progress.done(`${ctx.results.filter((r) => r.evidence).length} attempts`);
}

/** The `result` record of one judged attempt. */
function resultRecord(r: AttemptResult): NewRecord {
  return {
    type: 'result',
    attempt: r.attempt.id,
    verdict: r.judgement.verdict,
    outcome: r.judgement.outcome,
    expect: formatExpectation(r.expect),
    expectedOutcomes: [...r.expect.outcomes],
    mustDeny: isMustDeny(r.expect),
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
            reasons: [...r.prediction.reasons],
            agrees: r.prediction.outcome === 'unknown' ? null : satisfies(r.expect, r.prediction.outcome),
            ...(foreignObjects(r.prediction.reasons).length > 0
              ? { decidedBy: foreignObjects(r.prediction.reasons) }
              : {}),
            ...(r.wouldChange
              ? { wouldChange: { outcome: r.wouldChange.outcome, reasons: [...r.wouldChange.reasons] } }
              : {}),
          },
        }
      : {}),
    ...(r.evidence
      ? {
          diagnostics: {
            ...(r.evidence.source ? { source: { ...r.evidence.source } } : {}),
            ...(r.evidence.destination ? { destination: { ...r.evidence.destination } } : {}),
            policies: [...r.evidence.policies],
            reproduce: r.evidence.reproduce,
          },
        }
      : {}),
  };
}

/** The result records, the cleanup unless kept, and the end record. */
async function finish(
  ctx: RunContext,
  interrupted: boolean,
  faultMessage: string | undefined,
): Promise<RunResult> {
  const { results, props } = ctx;
  for (const r of results) ctx.log.append(resultRecord(r));
  const failed = results.some((r) => r.judgement.verdict === 'fail');
  const errored = results.some((r) => r.judgement.verdict === 'error');
  const exitCode = failed ? 1 : errored || interrupted || faultMessage ? 2 : 0;
  const keep = props.keep === 'always' || (props.keep === 'on-failure' && exitCode !== 0);
  // No agent session outlives the rounds, whatever ended them (closing twice is harmless).
  await ctx.sessions?.close();
  // Ctrl-C aborted the run's client; cleanup gets a client of its own, which it does not stop.
  if (!keep)
    await cleanUp(new KubeClient({ kubeConfig: props.kubeConfig }), ctx.runId, ctx.created, ctx.progress);
  ctx.log.append({
    type: 'end',
    exitCode,
    endedAt: new Date(ctx.clock.now()).toISOString(),
    interrupted,
    kept: keep,
    ...(ctx.transport ? { execInput: ctx.transport.mode } : {}),
    ...(ctx.sessions ? { agentSessions: ctx.sessions.mode } : {}),
    ...(faultMessage ? { fault: faultMessage } : {}),
    passed: results.filter((r) => r.judgement.verdict === 'pass').length,
    failed: results.filter((r) => r.judgement.verdict === 'fail').length,
    errors: results.filter((r) => r.judgement.verdict === 'error').length,
  });
  return {
    runId: ctx.runId,
    directory: props.directory,
    results,
    interrupted,
    exitCode,
    kept: keep,
    appliedPolicies: ctx.appliedPolicies,
  };
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
 * Predictions from the policy model over the given manifests: the run's own, with or without the
 * cluster's (predictWithCluster). A model that
 * cannot read them predicts nothing: the run goes on and reports observations as they are.
 */
function modelPredictions(
  scenario: Scenario,
  manifests: readonly (Manifest | PolicyManifest)[],
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
      attempts: scenario.attempts,
      gateways: scenario.gateways ?? [],
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
function judgeAll(ctx: RunContext): AttemptResult[] {
  return ctx.scenario.attempts.map((attempt) => {
    const expect = resolveExpectation(attempt, ctx.predict);
    const prediction = ctx.predict?.(attempt);
    const judgement: Judgement = expect.auto
      ? {
          ...ctx.convergence.judge(attempt.id, expect),
          verdict: 'error',
          reason: 'the expectation is auto and no prediction was available',
        }
      : ctx.convergence.judge(attempt.id, expect);
    const wouldChange = ctx.wouldChange?.get(attempt.id);
    return {
      attempt,
      expect,
      judgement,
      ...(prediction ? { prediction } : {}),
      ...(wouldChange ? { wouldChange } : {}),
    };
  });
}

/**
 * Waits until every workload of the scenario has a Ready pod; returns `namespace/workload` →
 * pod name, and those pods as the server holds them.
 */
async function waitForPods(ctx: RunContext): Promise<{ pods: Map<string, string>; ready: V1Pod[] }> {
  const { scenario, progress, props } = ctx;
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
  const pods = await waitFor<V1Pod>(ctx.client, {
    selection: { apiVersion: 'v1', kind: 'Pod', labelSelector: runSelector(ctx.runId) },
    until: (ps) => {
      const ready = readyOnes(ps).size;
      progress.update(`${ready}/${wanted.size} pods ready`);
      return ready === wanted.size;
    },
    timeoutMs: props.readyTimeoutMs ?? RUN_DEFAULTS.readyTimeoutMs,
    description: `the pods of ${wanted.size} workloads to be Ready`,
    describeState: (ps) => {
      const ready = readyOnes(ps);
      const missing = [...wanted].filter((w) => !ready.has(w));
      return `not ready: ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ` and ${missing.length - 8} more` : ''}`;
    },
    ...(props.signal ? { signal: props.signal } : {}),
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

/** The provider an `environment` record names. */
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
