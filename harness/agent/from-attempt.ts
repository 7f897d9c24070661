/**
 * From a scenario attempt to the agent's batch item: what the runner sends to a source pod.
 * Targets are dialled by Service name (`<name>.<ns>.svc.<clusterDomain>`), never by pod IP, so
 * that mTLS applies as it does for real clients (docs/behaviour.md O5). Not part of the agent bundle.
 */
import type { Attempt, Scenario } from '../scenario/types.js';
import { serviceHost } from '../scenario/types.js';
import { dataPlaneOf } from '../scenario/dataplane.js';
import type { BatchItem } from './batch.js';

/**
 * @param timeoutMs the deadline the agent gets; default the attempt's own. A run lengthens it for
 *   attempts through a sidecar to outlast the mesh's connect timeout and retries
 *   (harness/run/mesh-deadlines.ts).
 */
export function toBatchItem(
  attempt: Attempt,
  scenario: Pick<Scenario, 'clusterDomain' | 'workloads'>,
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
        host: serviceHost(attempt.to, scenario.clusterDomain),
        port: attempt.port.port,
        sidecar: source?.sidecar ?? false,
        ...(source && dataPlaneOf(source) === 'ambient' ? { ambient: true as const } : {}),
      };
      if (attempt.kind === 'http') {
        const { method, path, headers, body } = attempt.http;
        return {
          ...target,
          kind: 'http',
          http: { method, path, headers, ...(body === undefined ? {} : { body }) },
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
