/**
 * A transition of an upgrade check (the control plane's rollout, the workloads' restart) with
 * the probe stream running through it (stream.ts): the stream starts before the transition's
 * first command and stops once the transition completed and istiod shows every run sidecar in
 * sync (the propagation barrier, below), so the window in which a proxy runs half-updated
 * configuration is inside the stream.
 *
 * The attempts streamed are those the phase before judged `pass` whose expectation is must-deny
 * or must-allow (harness/scenario/outcomes.ts): a boundary that already failed is that phase's
 * finding, and a path that never worked has nothing to lose.
 *
 * The barrier: every Ready run pod with a sidecar is connected to a Ready istiod of the revision
 * that injected it, with every push it was sent answered (no type STALE), as the istiods'
 * `/debug/syncz` say (harness/cluster/istiod-sync.ts). Unlike the run's mesh barrier
 * (harness/run/mesh-barrier.ts) no push after a given moment is required: a transition applies
 * no policy, the new istiod's full push on connect is what must be answered.
 */
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';

import type { RunAddresses } from '../agent/from-attempt.js';
import {
  istiodPods,
  podRevision,
  proxyIdOf,
  readSyncz,
  rejections,
  typeState,
  type ProxySync,
} from '../cluster/istiod-sync.js';
import type { KubeClient } from '../kube/client.js';
import { isPodReady } from '../kube/pods.js';
import type { ResultsDocument } from '../results/results-model.js';
import type { TransitionPart } from '../results/transition-schema.js';
import { readRunAddresses } from '../run/addresses.js';
import type { RunClock } from '../run/clock.js';
import { WORKLOAD_LABEL } from '../run/fixtures.js';
import { runSelector } from '../run/identity.js';
import type { Progress } from '../run/progress.js';
import { AgentSessions } from '../run/sessions.js';
import { proxyContainerOf } from '../run/sidecars.js';
import { attemptTarget } from '../scenario/attempt-target.js';
import { isMustAllow } from '../scenario/outcomes.js';
import type { Attempt, Scenario } from '../scenario/types.js';
import { messageOf } from '../values.js';
import { ProbeStream, STREAM_DEFAULTS, type ProbeStreamProps, type StreamProber } from './stream.js';
import type { StreamAttempt } from './stream-analysis.js';

/** The stream's settings, from the flags. */
export interface StreamSettings {
  /** Batches per second per source; 0 turns the stream off. @default 2 */
  readonly ratePerSecond?: number;
  /** @default 1000 */
  readonly disruptionThresholdMs?: number;
}

export interface TransitionProps {
  /** `control-plane` or `restart`. */
  readonly name: string;
  readonly title: string;
  /** What the phase before judged: it chooses the attempts. */
  readonly previous: ResultsDocument;
  readonly scenario: Scenario;
  readonly runId: string;
  readonly client: KubeClient;
  readonly kubeConfig: KubeConfig;
  /** What `internet` attempts dial (the cluster's stand-in). */
  readonly internet?: string;
  readonly stream: StreamSettings;
  /** The barrier's deadline; 0 skips it. */
  readonly barrierTimeoutMs: number;
  readonly clock: RunClock;
  readonly progress: Progress;
  /** Attempts the agent runs at once in a pod. */
  readonly concurrency?: number;
  readonly execConcurrency?: number;
  readonly signal?: AbortSignal;
  /** @default the pods' agent sessions */
  readonly prober?: (scenario: ProberScenario) => StreamProber;
}

/** What the sessions read of the scenario; its addresses follow the pods the stream uses. */
export type ProberScenario = Pick<Scenario, 'clusterDomain' | 'workloads'> & { addresses?: RunAddresses };

/** The attempts a stream sends after a phase that judged `previous`. */
export function streamAttempts(
  scenario: Scenario,
  previous: ResultsDocument,
): { attempt: Attempt; stream: StreamAttempt }[] {
  const judged = new Map(previous.attempts.map((a) => [a.id, a]));
  return scenario.attempts.flatMap((attempt) => {
    const entry = judged.get(attempt.id);
    if (entry?.verdict !== 'pass') return [];
    const mustAllow = isMustAllow({ outcomes: entry.expectedOutcomes, auto: false });
    if (!entry.mustDeny && !mustAllow) return [];
    return [
      {
        attempt,
        stream: {
          id: attempt.id,
          from: `${attempt.from.namespace}/${attempt.from.name}`,
          to: attemptTarget(attempt),
          mustDeny: entry.mustDeny,
          expected: [...entry.expectedOutcomes],
        },
      },
    ];
  });
}

/** The run's Ready pods that are not being deleted, the newest of each workload. */
async function currentPods(client: KubeClient, runId: string): Promise<V1Pod[]> {
  const list = await client.list<V1Pod>({ apiVersion: 'v1', kind: 'Pod', labelSelector: runSelector(runId) });
  return list.items.filter((p) => isPodReady(p) && !p.metadata?.deletionTimestamp);
}

function byWorkload(pods: readonly V1Pod[]): Map<string, string> {
  const newest = new Map<string, V1Pod>();
  for (const p of pods) {
    const key = `${p.metadata?.namespace ?? ''}/${p.metadata?.labels?.[WORKLOAD_LABEL] ?? ''}`;
    const held = newest.get(key);
    const created = (x: V1Pod | undefined) => String(x?.metadata?.creationTimestamp ?? '');
    if (!held || created(p) > created(held)) newest.set(key, p);
  }
  return new Map([...newest].map(([k, p]) => [k, p.metadata?.name ?? '']));
}

function sessionProber(props: TransitionProps, scenario: ProberScenario): StreamProber {
  const sessions = new AgentSessions({
    kubeConfig: props.kubeConfig,
    scenario,
    ...(props.concurrency ? { concurrency: props.concurrency } : {}),
    ...(props.execConcurrency ? { execConcurrency: props.execConcurrency } : {}),
    ...(props.signal ? { signal: props.signal } : {}),
  });
  return {
    batch: (batch, observe) => sessions.round({ batches: [batch], observe }),
    close: () => sessions.close(),
  };
}

/**
 * Runs the transition with the stream through it. Without anything to stream (a rate of 0, no
 * attempt that passed as must-deny or must-allow) the transition runs alone and there is no part.
 * When the transition fails the stream is stopped (its part kept in `failed`) and the error goes on.
 */
export async function throughTransition<T>(
  props: TransitionProps,
  transition: () => Promise<T>,
  failed?: (part: TransitionPart) => void,
): Promise<{ readonly value: T; readonly part?: TransitionPart }> {
  const rate = props.stream.ratePerSecond ?? STREAM_DEFAULTS.ratePerSecond;
  const attempts = streamAttempts(props.scenario, props.previous);
  if (rate <= 0 || attempts.length === 0) return { value: await transition() };
  const scenario: ProberScenario = {
    clusterDomain: props.scenario.clusterDomain,
    workloads: props.scenario.workloads,
  };
  const pods: ProbeStreamProps['pods'] = async () => {
    const ready = await currentPods(props.client, props.runId);
    const chosen = byWorkload(ready);
    // Attempts that dial a pod IP or a node follow the pods the stream uses now.
    scenario.addresses = readRunAddresses(chosen, ready, props.internet);
    return chosen;
  };
  const stream = await ProbeStream.start({
    attempts,
    pods,
    prober: (props.prober ?? ((s) => sessionProber(props, s)))(scenario),
    clock: props.clock,
    ratePerSecond: rate,
    ...(props.stream.disruptionThresholdMs === undefined
      ? {}
      : { disruptionThresholdMs: props.stream.disruptionThresholdMs }),
    ...(props.signal ? { signal: props.signal } : {}),
  });
  let value: T;
  try {
    value = await transition();
  } catch (error) {
    const part = await stream.stop({
      name: props.name,
      title: props.title,
      completed: false,
      barrier: { status: 'skipped', reasoning: `the transition did not complete: ${messageOf(error)}` },
    });
    failed?.(part);
    throw error;
  }
  const barrier = await transitionBarrier(props);
  const part = await stream.stop({ name: props.name, title: props.title, completed: true, barrier });
  return { value, part };
}

/** One sidecar not in order yet: why, in a phrase. */
function waitingFor(entry: ProxySync | undefined): string | undefined {
  if (!entry) return 'not connected to a Ready istiod of its revision';
  const stale = [...entry.types.values()].find((t) => typeState(t) === 'STALE');
  return stale ? `${stale.type} sent, not acknowledged yet` : undefined;
}

/**
 * The propagation barrier after a transition (see the header). A sidecar that rejected a push
 * counts as settled: it keeps its older configuration until istiod pushes again, so waiting
 * longer would show nothing new; the rejection is the phase's fault (served.ts).
 */
export async function transitionBarrier(props: TransitionProps): Promise<TransitionPart['barrier']> {
  if (props.barrierTimeoutMs <= 0)
    return {
      status: 'skipped',
      reasoning: 'turned off (--barrier-timeout 0): the stream stopped with the transition',
    };
  const { clock } = props;
  const started = clock.now();
  const deadline = started + props.barrierTimeoutMs;
  const options = props.signal ? { signal: props.signal } : {};
  let why: string;
  for (let poll = 1; ; poll++) {
    if (props.signal?.aborted) return { status: 'skipped', reasoning: 'interrupted' };
    try {
      const pods = (await currentPods(props.client, props.runId)).filter((p) => proxyContainerOf(p));
      if (pods.length === 0) return { status: 'skipped', reasoning: 'no run pod has an Istio sidecar' };
      const revisions = new Set(pods.map(podRevision));
      const istiods = (await istiodPods(props.client)).filter((i) => i.ready && revisions.has(i.revision));
      const seen = new Map<string, ProxySync>();
      for (const answer of await Promise.all(istiods.map((i) => readSyncz(props.kubeConfig, i, options))))
        for (const proxy of answer) seen.set(proxy.proxyId, proxy);
      const waiting = pods.flatMap((pod) => {
        const name = `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
        const w = waitingFor(
          seen.get(proxyIdOf({ namespace: pod.metadata?.namespace ?? '', name: pod.metadata?.name ?? '' })),
        );
        return w ? [`${name} (${w})`] : [];
      });
      const rejected = pods.filter((pod) => {
        const entry = seen.get(
          proxyIdOf({ namespace: pod.metadata?.namespace ?? '', name: pod.metadata?.name ?? '' }),
        );
        return entry !== undefined && rejections(entry).length > 0;
      }).length;
      if (waiting.length === 0)
        return {
          status: 'passed',
          reasoning:
            `every one of ${String(pods.length)} run sidecars connected to a Ready istiod of its revision (${istiods.map((i) => `${i.namespace}/${i.name}`).join(', ')}) with every push it was sent answered` +
            (rejected > 0 ? `, ${String(rejected)} of them by a rejection` : '') +
            `, ${String(clock.now() - started)} ms after the transition (${String(poll)} poll(s))`,
          ms: clock.now() - started,
        };
      why = `${String(waiting.length)} of ${String(pods.length)} sidecars not in sync: ${waiting.slice(0, 5).join(', ')}${waiting.length > 5 ? ', …' : ''}`;
    } catch (error) {
      if (props.signal?.aborted) return { status: 'skipped', reasoning: 'interrupted' };
      why = `istiod's sync status could not be read: ${messageOf(error)}`;
    }
    if (clock.now() >= deadline)
      return {
        status: 'timed-out',
        reasoning: `not in sync within ${String(Math.round(props.barrierTimeoutMs / 1000))} s after the transition: ${why}`,
        ms: clock.now() - started,
      };
    props.progress.update(`transition: waiting for the sidecars to be in sync (${why})`);
    await clock.sleep(BARRIER_POLL_MS, props.signal);
  }
}

/** Pause between the barrier's polls. */
const BARRIER_POLL_MS = 500;
