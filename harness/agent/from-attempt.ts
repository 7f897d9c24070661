/**
 * From a scenario attempt to the agent's batch item: what the runner sends to a source pod.
 * Workload targets are dialled by Service name (`<name>.<ns>.svc.<clusterDomain>`), so that mTLS
 * applies as it does for real clients (docs/behaviour.md O5); only an attempt that names a pod IP,
 * the node or an address dials an address, read at run time into {@link RunAddresses}. Not part
 * of the agent bundle.
 */
import { PUBLIC_ADDRESS } from '../scenario/address-target.js';
import { gatewayDeploymentName } from '../scenario/gateways.js';
import type { AddressedAttempt, Attempt, Scenario, WorkloadRef } from '../scenario/types.js';
import { refText, serviceHost } from '../scenario/types.js';
import { dataPlaneOf } from '../scenario/dataplane.js';
import type { BatchItem } from './batch.js';

/** Addresses a run reads from the cluster for attempts that do not dial a Service name. */
export interface RunAddresses {
  /** `namespace/workload` → the IP of the pod that stands for it and its node's address (hostIP). */
  readonly pods: ReadonlyMap<string, { readonly podIP: string; readonly hostIP: string }>;
  /** What an `internet` attempt dials. @default PUBLIC_ADDRESS */
  readonly internet?: string;
  /**
   * `namespace/workload:port` (the Service port) → the node port the API server allocated to the
   * workload's NodePort Service for it. @default none
   */
  readonly nodePorts?: ReadonlyMap<string, number>;
}

/** The key of {@link RunAddresses.nodePorts}. */
export function nodePortKey(workload: WorkloadRef, port: number): string {
  return `${refText(workload)}:${port}`;
}

/** What {@link toBatchItem} reads of the scenario, with the run's addresses once it has read them. */
export type AttemptScenario = Pick<Scenario, 'clusterDomain' | 'workloads'> & {
  readonly addresses?: RunAddresses;
};

/**
 * The address an attempt dials, or undefined when the run has not read it (no addresses, or a
 * workload without a pod). An ingress gateway is dialled by its Service name, which needs no
 * reading: Istio names it after the Gateway (harness/scenario/gateways.ts).
 */
export function addressOf(
  attempt: AddressedAttempt,
  addresses: RunAddresses | undefined,
  clusterDomain = 'cluster.local',
): string | undefined {
  const t = attempt.target;
  switch (t.kind) {
    case 'gateway':
      return serviceHost(
        { namespace: t.gateway.namespace, name: gatewayDeploymentName(t.gateway.name) },
        clusterDomain,
      );
    case 'address':
      return t.address;
    case 'internet':
      return addresses?.internet ?? PUBLIC_ADDRESS;
    case 'node':
    case 'node-port':
      return addresses?.pods.get(refText(attempt.from))?.hostIP;
    case 'pod-ip':
      return addresses?.pods.get(refText(t.workload))?.podIP;
  }
}

/**
 * The port an attempt dials: its own, or for a node-port target the node port the run read, or
 * undefined when the run has not read it.
 */
export function dialPortOf(
  attempt: AddressedAttempt,
  addresses: RunAddresses | undefined,
): number | undefined {
  if (attempt.target.kind !== 'node-port') return attempt.port.port;
  return addresses?.nodePorts?.get(nodePortKey(attempt.target.workload, attempt.port.port));
}

/**
 * @param timeoutMs the deadline the agent gets; default the attempt's own. A run lengthens it for
 *   attempts through a sidecar to outlast the mesh's connect timeout and retries
 *   (harness/run/mesh-deadlines.ts).
 */
export function toBatchItem(
  attempt: Attempt,
  scenario: AttemptScenario,
  timeoutMs: number = attempt.timeoutMs,
): BatchItem {
  const base = { id: attempt.id, timeoutMs };
  switch (attempt.kind) {
    case 'http':
    case 'tcp':
    case 'udp': {
      const source = scenario.workloads.find(
        (w) => w.namespace === attempt.from.namespace && w.name === attempt.from.name,
      );
      const target = {
        ...base,
        // An address the run did not read leaves the host empty: the agent answers `error`
        // ("host: required"), never a deny.
        host:
          'target' in attempt
            ? (addressOf(attempt, scenario.addresses, scenario.clusterDomain) ?? '')
            : serviceHost(attempt.to, scenario.clusterDomain),
        // A node port the run did not read leaves 0, which the agent refuses as `error`.
        port: 'target' in attempt ? (dialPortOf(attempt, scenario.addresses) ?? 0) : attempt.port.port,
        sidecar: source?.sidecar ?? false,
        ...(source && dataPlaneOf(source) === 'ambient' ? { ambient: true as const } : {}),
      };
      if (attempt.kind === 'http') {
        const { method, path, headers, body } = attempt.http;
        return {
          ...target,
          kind: 'http',
          http: { method, path, headers, ...(body === undefined ? {} : { body }) },
          ...('target' in attempt && attempt.target.kind === 'gateway' ? { gateway: true as const } : {}),
        };
      }
      return { ...target, kind: attempt.kind, ...(attempt.send === undefined ? {} : { send: attempt.send }) };
    }
    case 'dns':
      return {
        ...base,
        kind: 'dns',
        query: { name: attempt.query.name, type: attempt.query.type },
        ...(attempt.dnsServer === undefined ? {} : { dnsServer: attempt.dnsServer }),
      };
    case 'api': {
      const { verb, resource, group, version, namespace, name } = attempt.request;
      return {
        ...base,
        kind: 'api',
        request: {
          verb,
          resource,
          group,
          version,
          ...(namespace === undefined ? {} : { namespace }),
          ...(name === undefined ? {} : { name }),
        },
      };
    }
  }
}
