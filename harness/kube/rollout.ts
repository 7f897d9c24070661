/**
 * When a Deployment's rollout is complete: the rule `kubectl rollout status` applies
 * (kubernetes/kubectl `pkg/polymorphichelpers/rollout_status.go:75-91` @v0.36.3: the controller
 * has observed the spec, `observedGeneration ≥ generation`; every replica is updated,
 * `updatedReplicas == spec.replicas`; no old replica is left, `status.replicas == updatedReplicas`;
 * every updated replica is available; a `Progressing` condition with reason
 * `ProgressDeadlineExceeded` is a failure), plus what an upgrade needs on top: no pod of the
 * version being replaced is still Ready. During a rolling update `Available` is already True
 * from the old ReplicaSet, so it proves nothing; and a terminating old pod can still serve.
 *
 * One strategy object, {@link RolloutWait}, waits for istiod's rollout and for the workloads'
 * restart alike.
 */
import type { KubernetesObject, V1Pod } from '@kubernetes/client-node';

import { EnvironmentError } from '../errors.js';
import type { KubeClient } from './client.js';
import { isPodReady } from './pods.js';
import { waitFor } from './wait.js';

/** kube-controller-manager's reason on `Progressing` once `progressDeadlineSeconds` passed. */
export const PROGRESS_DEADLINE_EXCEEDED = 'ProgressDeadlineExceeded';

interface DeploymentShape {
  metadata?: { generation?: number };
  spec?: { replicas?: number; selector?: { matchLabels?: Record<string, string> } };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
    conditions?: { type?: string; status?: string; reason?: string; message?: string }[];
  };
}

export interface RolloutState {
  readonly complete: boolean;
  /** What is still awaited, or `rolled out`. */
  readonly state: string;
  /** The controller gave up (progress deadline): waiting longer is pointless. */
  readonly failed?: string;
}

/** Both controllers' first condition: the spec the object holds has been observed. */
function specNotObserved(
  generation: number | undefined,
  observed: number | undefined,
): RolloutState | undefined {
  if ((observed ?? 0) >= (generation ?? 0)) return undefined;
  return {
    complete: false,
    state: `spec update not observed yet (generation ${String(generation ?? 0)}, observed ${String(observed ?? 0)})`,
  };
}

/** The Deployment's side of the rule (kubectl's). */
export function deploymentRolledOut(deployment: KubernetesObject | undefined): RolloutState {
  if (!deployment) return { complete: false, state: 'the Deployment does not exist' };
  const d = deployment as DeploymentShape;
  const status = d.status ?? {};
  const unobserved = specNotObserved(d.metadata?.generation, status.observedGeneration);
  if (unobserved) return unobserved;
  const deadline = (status.conditions ?? []).find(
    (c) => c.type === 'Progressing' && c.reason === PROGRESS_DEADLINE_EXCEEDED,
  );
  if (deadline)
    return {
      complete: false,
      state: 'progress deadline exceeded',
      failed: deadline.message ?? 'the Deployment exceeded its progress deadline',
    };
  const wanted = d.spec?.replicas ?? 1;
  const updated = status.updatedReplicas ?? 0;
  const replicas = status.replicas ?? 0;
  const available = status.availableReplicas ?? 0;
  if (updated < wanted)
    return { complete: false, state: `${String(updated)} of ${String(wanted)} replicas updated` };
  if (replicas > updated)
    return { complete: false, state: `${String(replicas - updated)} old replicas pending termination` };
  if (available < updated)
    return {
      complete: false,
      state: `${String(available)} of ${String(updated)} updated replicas available`,
    };
  return { complete: true, state: 'rolled out' };
}

/** The pods' side: none of the replaced version is Ready. */
export function oldPodsReady(pods: readonly V1Pod[], isOld: (pod: V1Pod) => boolean): V1Pod[] {
  return pods.filter((p) => isOld(p) && isPodReady(p));
}

export interface RolloutTarget {
  readonly namespace: string;
  readonly name: string;
  /** A pod of the version being replaced (an older image, or a pod from before the restart). */
  readonly isOld: (pod: V1Pod) => boolean;
  /** Says what the rollout is, for a timeout message: "istiod 1.30.4". */
  readonly description: string;
}

export interface RolloutWaitProps {
  readonly client: KubeClient;
  /** For each Deployment's whole wait. @default 300000 */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** The controller gave up on a rollout: an environment fault, exit 2. */
export class RolloutFailedError extends EnvironmentError {
  override readonly name = 'RolloutFailedError';
}

/**
 * Waits for rollouts to complete by the rule above. The Deployment is watched until its status
 * says so, then its pods (by the Deployment's `matchLabels`) until no old one is Ready, then the
 * Deployment is read once more: a rollout that moved again meanwhile is waited for again.
 */
export class RolloutWait {
  private readonly props: RolloutWaitProps;

  constructor(props: RolloutWaitProps) {
    this.props = props;
  }

  async until(target: RolloutTarget): Promise<void> {
    const { client } = this.props;
    const deadline = Date.now() + (this.props.timeoutMs ?? 300_000);
    const signal = this.props.signal ? { signal: this.props.signal } : {};
    const remaining = () => Math.max(1, deadline - Date.now());
    const ref = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: target.namespace };
    for (;;) {
      let last: RolloutState = { complete: false, state: 'not read yet' };
      const listed = await waitFor<KubernetesObject & DeploymentShape>(client, {
        selection: { ...ref, fieldSelector: `metadata.name=${target.name}` },
        until: (ds) => {
          last = deploymentRolledOut(ds[0]);
          return last.complete || last.failed !== undefined;
        },
        timeoutMs: remaining(),
        description: `the rollout of deployment ${target.namespace}/${target.name} (${target.description})`,
        describeState: () => last.state,
        ...signal,
      });
      if (last.failed)
        throw new RolloutFailedError(
          `the rollout of deployment ${target.namespace}/${target.name} (${target.description}) failed: ${last.failed}`,
          { hint: `kubectl describe deployment ${target.name} -n ${target.namespace}` },
        );
      // The Deployment's own selector, as kubectl reads it: istiod's names its revision
      // (istio-discovery/templates/deployment.yaml:35-42 @1.30.3), so a canary's wait never
      // counts the old control plane's pods.
      const labels = listed[0]?.spec?.selector?.matchLabels ?? {};
      const labelSelector = Object.entries(labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
      await waitFor<V1Pod>(client, {
        selection: { apiVersion: 'v1', kind: 'Pod', namespace: target.namespace, labelSelector },
        until: (pods) => oldPodsReady(pods, target.isOld).length === 0,
        timeoutMs: remaining(),
        description: `the old pods of deployment ${target.namespace}/${target.name} to stop being Ready (${target.description})`,
        describeState: (pods) =>
          `still Ready: ${oldPodsReady(pods, target.isOld)
            .map((p) => p.metadata?.name ?? '')
            .join(', ')}`,
        ...signal,
      });
      const again = await client.read({ ...ref, name: target.name });
      if (deploymentRolledOut(again).complete) return;
    }
  }
}

interface DaemonSetShape {
  metadata?: { name?: string; generation?: number };
  status?: {
    observedGeneration?: number;
    desiredNumberScheduled?: number;
    updatedNumberScheduled?: number;
    numberAvailable?: number;
  };
}

/**
 * A DaemonSet's rollout by `kubectl rollout status`'s rule for daemon sets (same file,
 * `DaemonSetStatusViewer`): the controller has observed the spec (`observedGeneration ≥
 * generation`), every scheduled pod is updated (`updatedNumberScheduled ≥ desiredNumberScheduled`)
 * and available (`numberAvailable ≥ desiredNumberScheduled`). One difference: a DaemonSet that
 * schedules no pod at all is not complete here, since a node agent on no node serves nobody.
 */
export function daemonSetRolledOut(daemonSet: KubernetesObject | undefined): RolloutState {
  if (!daemonSet) return { complete: false, state: 'the DaemonSet does not exist' };
  const d = daemonSet as DaemonSetShape;
  const status = d.status ?? {};
  const unobserved = specNotObserved(d.metadata?.generation, status.observedGeneration);
  if (unobserved) return unobserved;
  const desired = status.desiredNumberScheduled ?? 0;
  const updated = status.updatedNumberScheduled ?? 0;
  const available = status.numberAvailable ?? 0;
  if (desired === 0) return { complete: false, state: 'no node scheduled yet' };
  if (updated < desired)
    return { complete: false, state: `${String(updated)} of ${String(desired)} pods updated` };
  if (available < desired)
    return { complete: false, state: `${String(available)} of ${String(desired)} updated pods available` };
  return { complete: true, state: 'rolled out' };
}

export interface DaemonSetsWaitProps {
  readonly client: KubeClient;
  readonly namespace: string;
  readonly names: readonly string[];
  readonly timeoutMs: number;
  /** Gets a line each time what is awaited changes (`ztunnel: 1 of 3 pods updated`). */
  readonly progress?: (line: string) => void;
  readonly signal?: AbortSignal;
}

/** Waits until every named DaemonSet of the namespace has rolled out ({@link daemonSetRolledOut}). */
export async function waitDaemonSetsRolledOut(props: DaemonSetsWaitProps): Promise<void> {
  const states = new Map<string, string>();
  const describe = (ds: readonly KubernetesObject[]) =>
    props.names
      .map((n) => `${n}: ${daemonSetRolledOut(ds.find((d) => d.metadata?.name === n)).state}`)
      .join(', ');
  await waitFor(props.client, {
    selection: { apiVersion: 'apps/v1', kind: 'DaemonSet', namespace: props.namespace },
    until: (ds) => {
      let complete = true;
      for (const name of props.names) {
        const state = daemonSetRolledOut(ds.find((d) => d.metadata?.name === name));
        complete &&= state.complete;
        if (states.get(name) !== state.state) {
          states.set(name, state.state);
          props.progress?.(`# daemonset ${props.namespace}/${name}: ${state.state}`);
        }
      }
      return complete;
    },
    timeoutMs: props.timeoutMs,
    description: `daemonsets ${props.names.map((n) => `${props.namespace}/${n}`).join(', ')} rolled out`,
    describeState: describe,
    ...(props.signal ? { signal: props.signal } : {}),
  });
}
