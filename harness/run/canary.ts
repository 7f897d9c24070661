/**
 * The network-policy barrier: rounds start counting only when Calico has programmed what the run
 * applied, proven by a canary instead of a fixed sleep. Calico has no per-policy "programmed"
 * status (docs/behaviour.md §F1; Felix's readiness is its overall sync), so:
 *
 * 1. Before any policy: a canary pod (no sidecar, a namespace of its own) serving one TCP port,
 *    and in a Calico tier of its own, ordered before every other, a policy that **allows** the
 *    run's pods to reach it on that port. Every run pod dials it until each one is `allowed`:
 *    the port answers and the probes work, whatever policies the cluster had already.
 * 2. The run's policies are applied.
 * 3. Last, in the same first tier and ordered before the allow, a policy that **denies** that
 *    egress. Every run pod dials again until each one sees it refused. The flip from allowed to
 *    denied can only come from that last policy: the canary tier comes first and nothing else
 *    names the canary port. The fixture pods exclude the canary port from their sidecar's
 *    redirection (`traffic.sidecar.istio.io/excludeOutboundPorts`), so Istio plays no part.
 *
 * What it proves, and its limits (docs/behaviour.md §F2):
 * - Felix on the node of every run pod has programmed an update written after all the run's
 *   policies (egress is enforced on the source's node, and every run pod is a source here).
 * - It rests on Felix programming the updates it receives in order; that holds for updates of one
 *   resource type (one watch, in the API server's write order). Kubernetes NetworkPolicies reach
 *   Felix through a watch of their own, so for them the canary shows Felix has caught up to a
 *   later write, not that their watch has: `--settle` remains as an extra minimum wait.
 * - Istio configuration is not covered: a sidecar's authorization comes from istiod's push,
 *   which this barrier does not read (`--settle` is its only wait, said so in the results).
 *
 * Ambient run pods (../shared/reference/ambient-cnp-facts.md): the canary pod is out of the mesh,
 * and there is no documented annotation that takes a port out of ztunnel's capture, so an ambient
 * pod's dial goes through its ztunnel. Its connect is always local and succeeds (AO2); ztunnel then
 * opens a plain TCP connection to the canary on the original port, from inside the pod's network
 * namespace (A1.14, A4.9: the pod's own egress, which the canary tier governs). So:
 * - `allowed` needs the canary's echo answer, as for every pod (a connect alone proves nothing);
 * - the deny is a drop of ztunnel's connect, which ztunnel gives up after its fixed 10 s connect
 *   timeout and then resets the pod's socket (AO7, ztunnel@1.30.3 src/proxy.rs:642): an ambient
 *   dial therefore gets {@link ZTUNNEL_CONNECT_TIMEOUT_MS} plus a margin, and only that signature,
 *   `denied-l4` from the ambient classification (harness/agent/classify-ambient.ts), counts as the
 *   deny seen. A quick reset or a reset between 1 and 10 s is no fact's signature for this path
 *   (a Calico REJECT seen through ztunnel is not in the facts): such a pod keeps waiting, and the
 *   barrier's timeout names what it saw.
 * - Connections to an out-of-mesh destination are plain TCP, one per dial, not HBONE streams on a
 *   pooled connection (AO10 is about HBONE), so each dial meets Calico afresh [derived from AO7,
 *   AO10].
 */
import type { KubeConfig, KubernetesObject, V1Pod } from '@kubernetes/client-node';

import { EnvironmentError } from '../errors.js';
import type { KubeClient } from '../kube/client.js';
import { execInPod } from '../kube/exec.js';
import { isPodReady } from '../kube/pods.js';
import { waitFor } from '../kube/wait.js';
import { ZTUNNEL_CONNECT_TIMEOUT_MS } from '../agent/classify-ambient.js';
import type { Outcome } from '../scenario/outcomes.js';
import type { RunClock } from './clock.js';
import { LineSplitter, parseResultLine } from './agent-output.js';
import type { OpeningLimit } from './execute.js';
import { AGENT_CONTAINER, agentCommand } from './fixtures.js';
import { RUN_LABEL } from './identity.js';
import {
  CANARY_LABEL,
  CANARY_PORT,
  CANARY_TIER_ORDER,
  canaryNamespace,
  canaryTierName,
} from './canary-names.js';
import type { Progress } from './progress.js';
import type { AgentSessions } from './sessions.js';

export {
  CANARY_LABEL,
  CANARY_PORT,
  CANARY_TIER_ORDER,
  canaryNamespace,
  canaryTierName,
} from './canary-names.js';

/** Policies the canary tier holds: the allow first (step 1), the deny last (step 3). */
export function canaryPolicies(
  runId: string,
  labels: Record<string, string>,
): {
  readonly tier: KubernetesObject;
  readonly allow: KubernetesObject;
  readonly deny: KubernetesObject;
} {
  const tier = canaryTierName(runId);
  const runPods = `${RUN_LABEL} == '${runId}' && !has(${CANARY_LABEL})`;
  const canaryPod = `${RUN_LABEL} == '${runId}' && has(${CANARY_LABEL})`;
  const toCanary = { selector: canaryPod, ports: [CANARY_PORT] };
  return {
    tier: {
      apiVersion: 'projectcalico.org/v3',
      kind: 'Tier',
      metadata: { name: tier, labels },
      // Pass is the end-of-tier action for what these policies select and do not match: the
      // canary tier must never decide anything but the canary's own traffic.
      spec: { order: CANARY_TIER_ORDER, defaultAction: 'Pass' },
    } as KubernetesObject,
    allow: {
      apiVersion: 'projectcalico.org/v3',
      kind: 'GlobalNetworkPolicy',
      // <tier>.<name>: Calico 3.29–3.31 reject other names outside the default tier.
      metadata: { name: `${tier}.allow`, labels },
      spec: {
        tier,
        order: 200,
        selector: `${RUN_LABEL} == '${runId}'`,
        types: ['Ingress', 'Egress'],
        egress: [{ action: 'Allow', protocol: 'TCP', destination: toCanary }, { action: 'Pass' }],
        ingress: [
          {
            action: 'Allow',
            protocol: 'TCP',
            source: { selector: runPods },
            destination: { ports: [CANARY_PORT] },
          },
          { action: 'Pass' },
        ],
      },
    } as KubernetesObject,
    deny: {
      apiVersion: 'projectcalico.org/v3',
      kind: 'GlobalNetworkPolicy',
      metadata: { name: `${tier}.deny`, labels },
      spec: {
        tier,
        order: 100,
        selector: runPods,
        types: ['Egress'],
        egress: [{ action: 'Deny', protocol: 'TCP', destination: toCanary }, { action: 'Pass' }],
      },
    } as KubernetesObject,
  };
}

/** The outcomes that show the canary's egress refused (a drop, or a REJECT). */
const REFUSED: readonly Outcome[] = ['denied-l4', 'refused', 'reset'];
/** From an ambient pod: only ztunnel's give-up on the dropped connect (AO7; see the header). */
const REFUSED_AMBIENT: readonly Outcome[] = ['denied-l4'];
/** What an ambient pod's dial waits beyond ztunnel's 10 s connect timeout before it gives up. */
export const AMBIENT_DIAL_MARGIN_MS = 5_000;

export interface CanaryProbeProps {
  readonly kubeConfig: KubeConfig;
  readonly client: KubeClient;
  /** The run's pods that dial (every fixture pod runs the agent). */
  readonly pods: readonly V1Pod[];
  readonly runId: string;
  readonly clock: RunClock;
  readonly progress: Progress;
  /** How long a flip may take. */
  readonly timeoutMs: number;
  /** Pause between canary rounds. @default 1000 */
  readonly intervalMs?: number;
  /** Each dial's own deadline. @default 2000 */
  readonly dialTimeoutMs?: number;
  /**
   * Whether a pod is captured by ztunnel (the run's footing checked it is exactly where the
   * scenario says): its dial is classified as an ambient client's and waits out ztunnel's connect
   * timeout (see the header). @default none is
   */
  readonly ambient?: (pod: V1Pod) => boolean;
  /**
   * The run's agent sessions: each dial goes on the pod's session, opened by the first dial and
   * kept for the rounds, instead of an exec and a Node start per pod per canary round. Without
   * them, or where the server speaks only v4 exec, a dial is an exec of its own.
   */
  readonly sessions?: Pick<AgentSessions, 'probe'>;
  /** The run's cap on execs at once (`--exec-concurrency`), for dials made as execs. */
  readonly openings?: OpeningLimit;
  readonly signal?: AbortSignal;
}

export interface CanaryWait {
  /** Milliseconds from the first dial to the last pod seeing what was waited for. */
  readonly ms: number;
  readonly rounds: number;
  readonly pods: number;
}

/** The canary did not flip in time: the barrier could not prove policy in force (exit 2). */
export class CanaryTimeout extends EnvironmentError {
  override readonly name = 'CanaryTimeout';
}

/** The canary pod, Ready, with its address. */
export async function canaryAddress(
  client: KubeClient,
  runId: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<string> {
  const pods = await waitFor<V1Pod>(client, {
    selection: {
      apiVersion: 'v1',
      kind: 'Pod',
      namespace: canaryNamespace(runId),
      labelSelector: `${RUN_LABEL}=${runId},${CANARY_LABEL}`,
    },
    until: (ps) => ps.some((p) => isPodReady(p) && p.status?.podIP),
    timeoutMs,
    description: 'the network canary pod to be Ready',
    ...(signal ? { signal } : {}),
  });
  const ready = pods.find((p) => isPodReady(p) && p.status?.podIP);
  return ready?.status?.podIP ?? '';
}

/**
 * Dials the canary from every pod, round after round, until each one sees `want` (allowed, or
 * refused); a pod whose probe fails keeps trying, and counts for neither.
 */
export async function waitForCanary(
  props: CanaryProbeProps,
  address: string,
  want: 'allowed' | 'refused',
): Promise<CanaryWait> {
  const started = props.clock.now();
  const deadline = started + props.timeoutMs;
  const last = new Map<string, { outcome: Outcome | 'no answer'; reason: string }>();
  const done = new Set<string>();
  const name = (p: V1Pod) => `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`;
  for (let round = 1; ; round++) {
    if (props.signal?.aborted) throw new Error('interrupted');
    const todo = props.pods.filter((p) => !done.has(name(p)));
    await Promise.all(
      todo.map(async (pod) => {
        const ambient = props.ambient?.(pod) === true;
        const seen = await dialOnce(props, pod, address, ambient);
        last.set(name(pod), seen);
        const ok =
          want === 'allowed'
            ? seen.outcome === 'allowed'
            : (ambient ? REFUSED_AMBIENT : REFUSED).includes(seen.outcome as Outcome);
        if (ok) done.add(name(pod));
      }),
    );
    props.progress.update(
      `canary: ${done.size}/${props.pods.length} pods ${want === 'allowed' ? 'reach it' : 'see it denied'}`,
    );
    if (done.size === props.pods.length)
      return { ms: props.clock.now() - started, rounds: round, pods: props.pods.length };
    if (props.clock.now() >= deadline) {
      const waiting = props.pods.filter((p) => !done.has(name(p)));
      const shown = waiting
        .slice(0, 5)
        .map((p) => {
          const l = last.get(name(p));
          return `${name(p)} (${l?.outcome ?? 'no answer'}${l?.reason ? `: ${l.reason}` : ''})`;
        })
        .join(', ');
      throw new CanaryTimeout(
        want === 'allowed'
          ? `the network canary did not answer ${waiting.length} of ${props.pods.length} run pods within ${Math.round(props.timeoutMs / 1000)} s, before any policy was applied: ${shown}${waiting.length > 5 ? ', …' : ''}`
          : `Calico did not program the network canary's deny for ${waiting.length} of ${props.pods.length} run pods within ${Math.round(props.timeoutMs / 1000)} s after the policies: ${shown}${waiting.length > 5 ? ', …' : ''}`,
        {
          hint:
            want === 'allowed'
              ? 'check that the pods can reach each other on TCP port 18099 and that the canary pod in its bulkhead-canary-* namespace is Ready'
              : "the policies may not be in force either: check calico-node on those pods' nodes (kubectl get tigerastatus; calico-node logs), or give --barrier-timeout more time",
        },
      );
    }
    await props.clock.sleep(props.intervalMs ?? 1000, props.signal);
  }
}

/**
 * One dial of the canary from one pod: the agent's tcp probe, on the pod's session where there is
 * one, else as an exec with the batch as an argument (v4 and v5 alike).
 */
async function dialOnce(
  props: CanaryProbeProps,
  pod: V1Pod,
  address: string,
  ambient: boolean,
): Promise<{ outcome: Outcome | 'no answer'; reason: string }> {
  const timeoutMs = ambientDialTimeout(props.dialTimeoutMs ?? 2000, ambient);
  const item = {
    id: 'canary',
    kind: 'tcp' as const,
    host: address,
    port: CANARY_PORT,
    timeoutMs,
    sidecar: false,
    ...(ambient ? { ambient: true as const } : {}),
  };
  if (props.sessions) {
    let seen: { outcome: Outcome | 'no answer'; reason: string } = { outcome: 'no answer', reason: '' };
    const sent = await props.sessions.probe(
      { namespace: pod.metadata?.namespace ?? '', pod: pod.metadata?.name ?? '', items: [item] },
      (o) => {
        if (o.attempt === 'canary') seen = { outcome: o.outcome, reason: o.reason };
      },
    );
    if (sent === 'sent') return seen;
  }
  const splitter = new LineSplitter();
  let seen: { outcome: Outcome | 'no answer'; reason: string } = { outcome: 'no answer', reason: '' };
  const take = (line: string) => {
    const r = parseResultLine(line);
    if (!('malformed' in r) && r.id === 'canary') seen = { outcome: r.outcome, reason: r.reason ?? '' };
  };
  let release: (() => void) | undefined;
  try {
    release = await props.openings?.acquire(props.signal);
    await execInPod(props.kubeConfig, {
      namespace: pod.metadata?.namespace ?? '',
      pod: pod.metadata?.name ?? '',
      container: AGENT_CONTAINER,
      command: agentCommand('probe', ['--batch', Buffer.from(JSON.stringify([item])).toString('base64')]),
      timeoutMs: timeoutMs + 20_000,
      onStdout: (chunk) => {
        for (const line of splitter.push(chunk.toString('utf8'))) take(line);
      },
      ...(props.signal ? { signal: props.signal } : {}),
    });
  } catch (error) {
    for (const line of splitter.flush()) take(line);
    if (seen.outcome === 'no answer') seen = { outcome: 'no answer', reason: (error as Error).message };
  } finally {
    release?.();
  }
  for (const line of splitter.flush()) take(line);
  return seen;
}

/** A dial's deadline: from an ambient pod, at least ztunnel's connect timeout and a margin (AO7). */
export function ambientDialTimeout(dialTimeoutMs: number, ambient: boolean): number {
  return ambient
    ? Math.max(dialTimeoutMs, ZTUNNEL_CONNECT_TIMEOUT_MS + AMBIENT_DIAL_MARGIN_MS)
    : dialTimeoutMs;
}
