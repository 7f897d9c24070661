/**
 * Evidence for an attempt that failed or errored: what a person needs to see why without
 * re-running anything. Pod status and events of both ends, the tail of their istio-proxy logs,
 * the policies that can select either side, and a command to reproduce the attempt by hand.
 * Collecting evidence never fails a run: what cannot be read is said so in the evidence.
 */
import type { KubernetesObject } from '@kubernetes/client-node';

import { toBatchItem, type RunAddresses } from '../agent/from-attempt.js';
import type { KubeClient } from '../kube/client.js';
import { eventsFor, podLogs, readPod } from '../kube/pods.js';
import type { Attempt, Scenario } from '../scenario/types.js';
import type { Observation } from './convergence.js';
import { AGENT_CONTAINER } from './fixtures.js';
import { probeCommand } from './execute.js';
import { sessionCommand } from './sessions.js';
import { messageOf } from '../values.js';

export interface PodEvidence {
  readonly pod: string;
  readonly phase?: string;
  readonly conditions?: readonly string[];
  readonly containers?: readonly string[];
  readonly events?: readonly string[];
  readonly proxyLog?: string;
  readonly unavailable?: string;
}

export interface AttemptEvidence {
  readonly observations: readonly Observation[];
  readonly source?: PodEvidence;
  readonly destination?: PodEvidence;
  /** `Kind namespace/name` of each applied policy in either side's namespace, the mesh root, or cluster-wide. */
  readonly policies: readonly string[];
  readonly reproduce: string;
}

const PROXY = 'istio-proxy';
const LOG_LINES = 40;

/**
 * How the run's agent got its batches, so that the reproduction runs the same command: a session
 * fed one batch line (`persistent`), or a probe with the batch as an argument (`per-round`, API
 * servers without v5 exec), with the run's concurrency and the deadline the agent was given.
 */
export interface AgentRun {
  readonly mode: 'persistent' | 'per-round';
  readonly concurrency: number;
  /** Attempt id → the deadline the agent got, where the run lengthened it. */
  readonly deadlines?: ReadonlyMap<string, number>;
}

export async function collectEvidence(props: {
  client: KubeClient;
  scenario: Scenario;
  /** The run's pod and node addresses, so the reproduce command dials what the run dialled. */
  addresses?: RunAddresses;
  attempt: Attempt;
  observations: readonly Observation[];
  pods: ReadonlyMap<string, string>;
  policies: readonly KubernetesObject[];
  /** @default a session, at concurrency 1, with the attempt's own deadline */
  agent?: AgentRun;
}): Promise<AttemptEvidence> {
  const { attempt, pods, client } = props;
  const sourceKey = `${attempt.from.namespace}/${attempt.from.name}`;
  const sourcePod = pods.get(sourceKey);
  const to = 'to' in attempt ? attempt.to : undefined;
  const destPod = to ? pods.get(`${to.namespace}/${to.name}`) : undefined;
  const namespaces = new Set([
    attempt.from.namespace,
    ...(to ? [to.namespace] : []),
    props.scenario.meshRootNamespace,
  ]);
  const policies = props.policies
    .filter((p) => !p.metadata?.namespace || namespaces.has(p.metadata.namespace))
    .map(
      (p) =>
        `${p.kind ?? ''} ${p.metadata?.namespace ? `${p.metadata.namespace}/` : ''}${p.metadata?.name ?? ''}`,
    );
  const agent = props.agent ?? { mode: 'persistent', concurrency: 1 };
  const item = toBatchItem(
    attempt,
    props.addresses ? { ...props.scenario, addresses: props.addresses } : props.scenario,
    agent.deadlines?.get(attempt.id) ?? attempt.timeoutMs,
  );
  const exec = `kubectl exec -n ${attempt.from.namespace} ${sourcePod ?? `<pod of ${attempt.from.name}>`} -c ${AGENT_CONTAINER}`;
  const quoted = (text: string) => `'${text.replaceAll("'", "'\\''")}'`;
  const reproduce =
    agent.mode === 'persistent'
      ? `${exec} -i -- ${sessionCommand(agent.concurrency).join(' ')} <<<${quoted(JSON.stringify({ batch: 'reproduce', attempts: [item] }))}`
      : `${exec} -- ${probeCommand(agent.concurrency).join(' ')} --batch ${Buffer.from(JSON.stringify([item])).toString('base64')}`;
  return {
    observations: props.observations,
    ...(sourcePod ? { source: await podEvidence(client, attempt.from.namespace, sourcePod) } : {}),
    ...(to && destPod ? { destination: await podEvidence(client, to.namespace, destPod) } : {}),
    policies,
    reproduce,
  };
}

async function podEvidence(client: KubeClient, namespace: string, name: string): Promise<PodEvidence> {
  const id = `${namespace}/${name}`;
  try {
    const pod = await readPod(client, namespace, name);
    if (!pod) return { pod: id, unavailable: 'the pod no longer exists' };
    const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
    const events = await eventsFor(client, { namespace, kind: 'Pod', name }).catch(() => []);
    const hasProxy = statuses.some((s) => s.name === PROXY);
    const proxyLog = hasProxy
      ? await podLogs(client, {
          namespace,
          pod: name,
          container: PROXY,
          tailLines: LOG_LINES,
        }).catch((e: unknown) => `(could not read: ${messageOf(e)})`)
      : undefined;
    return {
      pod: id,
      ...(pod.status?.phase ? { phase: pod.status.phase } : {}),
      conditions: (pod.status?.conditions ?? []).map(
        (c) => `${c.type}=${c.status}${c.reason ? ` (${c.reason})` : ''}`,
      ),
      containers: statuses.map((s) => {
        const state = s.state?.running
          ? 'running'
          : s.state?.waiting
            ? `waiting: ${s.state.waiting.reason ?? ''}`
            : s.state?.terminated
              ? `terminated: ${s.state.terminated.reason ?? ''}`
              : 'unknown';
        return `${s.name}: ${s.ready ? 'ready' : 'not ready'}, ${state}, restarts ${s.restartCount}`;
      }),
      events: events.map((e) => `${e.type ?? ''} ${e.reason ?? ''}: ${e.message ?? ''}`.trim()),
      ...(proxyLog === undefined ? {} : { proxyLog }),
    };
  } catch (error) {
    return { pod: id, unavailable: messageOf(error) };
  }
}
