/**
 * The ambient side of a run's footing (../shared/reference/ambient-cnp-facts.md A2.2, A2.5, D.2):
 * before the policies, every run pod is captured by ztunnel exactly where the scenario says, and
 * every waypoint is usable. Both are polled with a deadline, never slept on, and what is still
 * missing when it runs out is an {@link EnvironmentError} (exit 2) naming the pod or waypoint:
 * a "deny" seen from a pod that is not captured, or through a waypoint that is not there, would be
 * about another data plane than the one described.
 *
 * A waypoint is usable when (A2.5):
 * 1. its Gateway has `Programmed=True` (what `istioctl waypoint apply --wait` waits for,
 *    istio@1.30.3 istioctl/pkg/waypoint/waypoint.go:280-291), **and** its pods (label
 *    `gateway.networking.k8s.io/gateway-name=<name>`, waypoint.yaml:62-71) are Ready, since istiod
 *    sets Programmed from the Service address alone (pilot/pkg/config/kube/gateway/conversion.go:1900-1928);
 * 2. each Service that uses it for Service-addressed traffic carries `istio.io/WaypointBound=True`
 *    (pilot/pkg/model/service.go:1261,1287-1322). A `workload`-only waypoint binds no Service.
 * The third barrier the facts list, the waypoint in ztunnel's own service view
 * (`istioctl ztunnel-config service`), is not read: ztunnel's admin API is on its loopback only and
 * needs a port-forward per node (C1.6).
 */
import type { KubernetesObject, V1Pod } from '@kubernetes/client-node';

import { EnvironmentError } from '../errors.js';
import type { KubeClient } from '../kube/client.js';
import { isPodReady } from '../kube/pods.js';
import { waitFor, WaitTimeoutError } from '../kube/wait.js';
import { dataPlaneOf, firstAmbient, takesServiceTraffic, type Waypoint } from '../scenario/dataplane.js';
import type { Scenario } from '../scenario/types.js';
import { WORKLOAD_LABEL } from './fixtures.js';
import { runSelector } from './identity.js';
import { captureMismatches, describeCaptureMismatches } from './sidecars.js';

/** The label istiod gives a waypoint's pods (waypoint.yaml:62-71 @1.30.3). */
export const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';
/** The Service condition istiod writes per bound Service (pilot/pkg/model/service.go:1261 @1.30.3). */
export const WAYPOINT_BOUND = 'istio.io/WaypointBound';

export interface AmbientFootingProps {
  readonly client: KubeClient;
  readonly scenario: Scenario;
  readonly runId: string;
  /** The Ready pod standing for each workload (harness/run/runner.ts). */
  readonly pods: readonly V1Pod[];
  readonly timeoutMs: number;
  readonly progress?: (line: string) => void;
  readonly signal?: AbortSignal;
}

/** What the checks found, for the footing record. */
export interface AmbientFooting {
  readonly captured: number;
  readonly waypoints: number;
}

/** Whether the scenario has anything ambient for these checks to look at. */
export function hasAmbientFooting(scenario: Scenario): boolean {
  return firstAmbient(scenario) !== undefined;
}

/** Polls the run pods until their capture matches the scenario; a fault naming each pod otherwise. */
export async function waitCaptured(props: AmbientFootingProps): Promise<number> {
  const names = new Set(props.pods.map((p) => `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`));
  const ours = (pods: readonly V1Pod[]) =>
    pods.filter((p) => names.has(`${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`));
  let last = captureMismatches(props.scenario, props.pods);
  if (last.length > 0) {
    try {
      await waitFor<V1Pod>(props.client, {
        selection: { apiVersion: 'v1', kind: 'Pod', labelSelector: runSelector(props.runId) },
        until: (pods) => {
          last = captureMismatches(props.scenario, ours(pods));
          props.progress?.(`ztunnel capture: ${String(last.length)} pod(s) not as the scenario says`);
          return last.length === 0;
        },
        timeoutMs: props.timeoutMs,
        description: 'every ambient pod captured by ztunnel',
        ...(props.signal ? { signal: props.signal } : {}),
      });
    } catch (error) {
      if (!(error instanceof WaitTimeoutError) || props.signal?.aborted) throw error;
      throw new EnvironmentError(
        `the pods do not have the data plane the scenario says: ${describeCaptureMismatches(last).join('; ')}`,
        {
          hint: 'a pod ztunnel does not capture would be judged as out of the mesh; check istio-cni and ztunnel on its node (kubectl get pods -n istio-system -o wide)',
        },
      );
    }
  }
  // The run pods now captured: every ambient one (no mismatch is left), counted by its workload.
  const ambient = new Set(
    props.scenario.workloads
      .filter((w) => dataPlaneOf(w) === 'ambient')
      .map((w) => `${w.namespace}/${w.name}`),
  );
  return props.pods.filter((p) =>
    ambient.has(`${p.metadata?.namespace ?? ''}/${p.metadata?.labels?.[WORKLOAD_LABEL] ?? ''}`),
  ).length;
}

export interface Condition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
  observedGeneration?: number;
}

interface Conditioned {
  status?: { conditions?: Condition[] };
}

/** An object's status condition of this type, if it has one. */
export function condition(object: unknown, type: string): Condition | undefined {
  return ((object as Conditioned | undefined)?.status?.conditions ?? []).find((c) => c.type === type);
}

/** What keeps a waypoint's Gateway from being Programmed, in words; empty when it is. */
export function gatewayGaps(waypoint: Waypoint, gateway: KubernetesObject | undefined): string[] {
  const name = `${waypoint.namespace}/${waypoint.name}`;
  if (!gateway) return [`Gateway ${name} is not there`];
  const programmed = condition(gateway, 'Programmed');
  if (programmed?.status === 'True') return [];
  const why = programmed
    ? `${programmed.reason ?? programmed.status ?? ''}${programmed.message ? `: ${programmed.message}` : ''}`
    : 'no Programmed condition yet';
  return [`Gateway ${name} is not Programmed (${why})`];
}

/**
 * Whether a waypoint (or another Gateway Istio deploys, `what`) has a Ready pod, in words; empty
 * when it has. Istio labels the pods of every Gateway it deploys with its name (waypoint.yaml:62-71,
 * kube-gateway.yaml:59-70 @1.30.3).
 */
export function podGaps(
  waypoint: Pick<Waypoint, 'namespace' | 'name'>,
  pods: readonly V1Pod[],
  what = 'waypoint',
): string[] {
  const name = `${waypoint.namespace}/${waypoint.name}`;
  const mine = pods.filter(
    (p) =>
      p.metadata?.namespace === waypoint.namespace &&
      p.metadata.labels?.[GATEWAY_NAME_LABEL] === waypoint.name &&
      !p.metadata.deletionTimestamp,
  );
  if (mine.length === 0) return [`${what} ${name} has no pods yet`];
  return mine.some(isPodReady) ? [] : [`no pod of ${what} ${name} is Ready`];
}

/** The Services that should be bound to a waypoint and are not, in words; empty when all are. */
export function bindingGaps(
  waypoint: Waypoint,
  scenario: Scenario,
  services: readonly KubernetesObject[],
): string[] {
  if (!takesServiceTraffic(waypoint)) return [];
  const gaps: string[] = [];
  for (const w of scenario.workloads) {
    if (w.namespace !== waypoint.namespace || w.waypoint !== waypoint.name || w.probe) continue;
    const service = services.find((s) => s.metadata?.namespace === w.namespace && s.metadata.name === w.name);
    const bound = condition(service, WAYPOINT_BOUND);
    if (bound?.status === 'True') continue;
    const why = bound
      ? `${WAYPOINT_BOUND}=${bound.status ?? ''} ${bound.reason ?? ''}${bound.message ? `: ${bound.message}` : ''}`.trim()
      : `no ${WAYPOINT_BOUND} condition yet`;
    gaps.push(`Service ${w.namespace}/${w.name} is not bound to waypoint ${waypoint.name} (${why})`);
  }
  return gaps;
}

/**
 * Waits until every waypoint of the scenario is usable (the two conditions above), within one
 * deadline: per namespace, its Gateways Programmed, then the waypoint pods Ready, then the bound
 * Services' condition, each watched (harness/kube/wait.ts); a timeout names what is still missing.
 */
export async function waitWaypoints(props: AmbientFootingProps): Promise<number> {
  const waypoints = props.scenario.namespaces.flatMap((n) => n.waypoints ?? []);
  if (waypoints.length === 0) return 0;
  const deadline = Date.now() + props.timeoutMs;
  const remaining = () => Math.max(1, deadline - Date.now());
  const signal = props.signal ? { signal: props.signal } : {};
  for (const namespace of [...new Set(waypoints.map((w) => w.namespace))]) {
    const here = waypoints.filter((w) => w.namespace === namespace);
    const gapsOf = (step: 'gateway' | 'pods' | 'services', objects: readonly KubernetesObject[]) =>
      here.flatMap((w) =>
        step === 'gateway'
          ? gatewayGaps(
              w,
              objects.find((g) => g.metadata?.name === w.name),
            )
          : step === 'pods'
            ? podGaps(w, objects as V1Pod[])
            : bindingGaps(w, props.scenario, objects),
      );
    const steps = [
      { step: 'gateway', apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', what: 'Programmed' },
      { step: 'pods', apiVersion: 'v1', kind: 'Pod', what: 'pods Ready' },
      { step: 'services', apiVersion: 'v1', kind: 'Service', what: `Services ${WAYPOINT_BOUND}` },
    ] as const;
    for (const s of steps) {
      let gaps: string[] = [];
      await waitFor(props.client, {
        selection: { apiVersion: s.apiVersion, kind: s.kind, namespace },
        until: (objects) => {
          gaps = gapsOf(s.step, objects);
          if (gaps.length > 0) props.progress?.(`waypoints of ${namespace}: ${gaps[0] ?? ''}`);
          return gaps.length === 0;
        },
        timeoutMs: remaining(),
        description: `the waypoints of ${namespace} (${here.map((w) => w.name).join(', ')}): ${s.what}`,
        describeState: () => gaps.join('; '),
        ...signal,
      });
    }
  }
  return waypoints.length;
}
