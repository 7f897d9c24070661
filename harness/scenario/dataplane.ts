/**
 * Data planes: how a workload joins the mesh. `sidecar` (an injected Envoy), `ambient` (captured by
 * the node's ztunnel, optionally behind a waypoint for L7) and `none` (out of the mesh). One
 * scenario may mix them, as a cluster migrating from sidecars to ambient does.
 *
 * The older fields keep their meaning and map onto this: a namespace's `injection: true` is
 * `dataplane: sidecar`, `false` is `none`; a workload's `sidecar: true` is `sidecar`, `false` is
 * `none` (also in an ambient namespace, where the pod is labelled out of capture).
 *
 * Enrolment facts (../shared/reference/ambient-cnp-facts.md):
 * - A2.1: `istio.io/dataplane-mode=ambient` on a namespace or pod enrols it; a pod label
 *   `istio.io/dataplane-mode=none` opts a pod out of an ambient namespace; pods with a sidecar are
 *   never captured by ztunnel.
 * - A2.4: a waypoint is a Gateway of class `istio-waypoint` with label `istio.io/waypoint-for`
 *   (`service`, `workload`, `all`); resources use it by the label `istio.io/use-waypoint=<name>` on
 *   the namespace, Service or pod (Service and pod labels win over the namespace's). Traffic is
 *   classified by its original addressing: a call to a Service uses a `service`/`all` waypoint, a
 *   call to a pod IP a `workload`/`all` one. The waypoint runs as service account = its name.
 */

import type { Problem } from '../errors.js';
import { problemAt } from './origin.js';
import type { Attempt, Origin } from './types.js';

export const DATA_PLANES = ['sidecar', 'ambient', 'none'] as const;
export type DataPlane = (typeof DATA_PLANES)[number];

/** What traffic a waypoint takes (`istio.io/waypoint-for`; `none` is for testing only and not offered). */
export const WAYPOINT_FOR = ['service', 'workload', 'all'] as const;
export type WaypointFor = (typeof WAYPOINT_FOR)[number];

/** The label that enrols a namespace or pod in ambient (fact A2.1). */
export const DATAPLANE_MODE_LABEL = 'istio.io/dataplane-mode';
/** The label that makes a namespace, Service or pod use a waypoint (fact A2.4). */
export const USE_WAYPOINT_LABEL = 'istio.io/use-waypoint';
/** The Gateway label naming the traffic a waypoint takes (fact A2.4). */
export const WAYPOINT_FOR_LABEL = 'istio.io/waypoint-for';
/** The waypoint's GatewayClass (fact A2.4). */
export const WAYPOINT_CLASS = 'istio-waypoint';
/** The HBONE port: waypoint listener and ambient pod inbound (facts A2.4, A1.14). */
export const HBONE_PORT = 15008;
/** The address kubelet probes come from inside ambient pods (fact A4.9). */
export const KUBELET_PROBE_ADDRESS = '169.254.7.127';

export interface Waypoint {
  readonly name: string;
  readonly namespace: string;
  readonly for: WaypointFor;
  /**
   * Which workloads of the namespace use it: `all` (the namespace is labelled
   * `istio.io/use-waypoint`), or the named ones (their Service and pod are labelled).
   */
  readonly services: 'all' | readonly string[];
}

/** True when the waypoint takes traffic addressed to a Service (fact A2.4: original addressing). */
export function takesServiceTraffic(w: Pick<Waypoint, 'for'>): boolean {
  return w.for === 'service' || w.for === 'all';
}

/** True when the waypoint takes traffic addressed to a pod IP (fact A2.4: original addressing). */
export function takesWorkloadTraffic(w: Pick<Waypoint, 'for'>): boolean {
  return w.for === 'workload' || w.for === 'all';
}

/** A workload's data plane; objects built without one have `sidecar` alone to say. */
export function dataPlaneOf(w: { readonly dataplane?: DataPlane; readonly sidecar: boolean }): DataPlane {
  return w.dataplane ?? (w.sidecar ? 'sidecar' : 'none');
}

/** A namespace's data plane; objects built without one have `injection` alone to say. */
export function namespacePlane(n: {
  readonly dataplane?: DataPlane;
  readonly injection: boolean;
}): DataPlane {
  return n.dataplane ?? (n.injection ? 'sidecar' : 'none');
}

/** In the mesh at all: a sidecar or ztunnel capture. */
export function meshed(w: { readonly dataplane?: DataPlane; readonly sidecar: boolean }): boolean {
  return dataPlaneOf(w) !== 'none';
}

/**
 * A data plane from `dataplane` and the older boolean (`injection` on a namespace, `sidecar` on a
 * workload: true is sidecar, false is none), else the fallback; a message when they contradict.
 */
export function resolveDataPlane(
  dataplane: DataPlane | undefined,
  older: { readonly field: 'injection' | 'sidecar'; readonly value: boolean | undefined },
  fallback: DataPlane,
): { dataplane: DataPlane } | { problem: string } {
  const { field, value } = older;
  if (dataplane !== undefined && value !== undefined && value !== (dataplane === 'sidecar')) {
    return {
      problem: `${field}: ${String(value)} contradicts dataplane: ${dataplane} (${field}: true is dataplane: sidecar, false is none); keep one`,
    };
  }
  if (dataplane !== undefined) return { dataplane };
  if (value !== undefined) return { dataplane: value ? 'sidecar' : 'none' };
  return { dataplane: fallback };
}

/** Where an ambient data plane is first declared in a scenario, or undefined when none is. */
export function firstAmbient(scenario: {
  readonly namespaces: readonly {
    readonly name: string;
    readonly dataplane?: DataPlane;
    readonly injection: boolean;
    readonly origin: Origin;
  }[];
  readonly workloads: readonly {
    readonly namespace: string;
    readonly name: string;
    readonly dataplane?: DataPlane;
    readonly sidecar: boolean;
    readonly origin: Origin;
  }[];
}): { readonly what: string; readonly origin: Origin } | undefined {
  const ns = scenario.namespaces.find((n) => namespacePlane(n) === 'ambient');
  if (ns) return { what: `namespace ${ns.name}`, origin: ns.origin };
  const w = scenario.workloads.find((x) => dataPlaneOf(x) === 'ambient');
  return w ? { what: `workload ${w.namespace}/${w.name}`, origin: w.origin } : undefined;
}

/**
 * The problem a command that cannot handle ambient reports for a scenario that has it; undefined
 * when the scenario has none. `why` completes "…, because <why>".
 */
export function ambientRefusal(
  scenario: Parameters<typeof firstAmbient>[0],
  command: string,
  why: string,
): Problem | undefined {
  const found = firstAmbient(scenario);
  if (!found) return undefined;
  return problemAt(
    found.origin,
    `${command} refuses this scenario: ${found.what} is on the ambient data plane, and ${why}`,
  );
}

/** The data planes of an attempt's source and, when it has one, its destination workload. */
export interface AttemptPlanes {
  readonly from: DataPlane;
  readonly to?: DataPlane;
}

type PlaneWorkload = {
  readonly namespace: string;
  readonly name: string;
  readonly dataplane?: DataPlane;
  readonly sidecar: boolean;
};

/**
 * The data planes an attempt runs between: its source's, and its destination workload's (by
 * Service or by pod IP); undefined when the source is not a workload of the scenario.
 */
export function attemptPlanes(
  workloads: readonly PlaneWorkload[],
  attempt: Attempt,
): AttemptPlanes | undefined {
  const planeOf = (r: { readonly namespace: string; readonly name: string }) => {
    const w = workloads.find((x) => x.namespace === r.namespace && x.name === r.name);
    return w ? dataPlaneOf(w) : undefined;
  };
  const from = planeOf(attempt.from);
  if (from === undefined) return undefined;
  const dst =
    'to' in attempt
      ? attempt.to
      : 'target' in attempt && attempt.target.kind === 'pod-ip'
        ? attempt.target.workload
        : undefined;
  const to = dst ? planeOf(dst) : undefined;
  return to === undefined ? { from } : { from, to };
}

/** How reports print the planes, compactly: `ambient→sidecar`, or `ambient` with no destination workload. */
export function planesText(p: AttemptPlanes | undefined): string {
  if (!p) return '';
  return p.to === undefined ? p.from : `${p.from}→${p.to}`;
}
