/**
 * The addresses a run reads for attempts that dial no Service name (harness/agent/from-attempt.ts
 * RunAddresses): each workload's pod IP and its node's address, from the Ready pods the run waited
 * for. `status.podIP` and `status.hostIP` are set once the pod is bound and running (Kubernetes API
 * reference, PodStatus: "hostIP is the IP address of the host to which the pod is assigned",
 * "podIP address allocated to the pod"), so a Ready pod without them is a fault, not a deny.
 * The node ports come from the NodePort Services as the API server stored them: it allocates a
 * node port to every port of a NodePort Service that names none, at creation
 * (harness/scenario/address-target.ts), so a stored one without is a fault too.
 */
import type { KubernetesObject, V1Pod, V1Service } from '@kubernetes/client-node';

import { addressOf, dialPortOf, nodePortKey, type RunAddresses } from '../agent/from-attempt.js';
import { EnvironmentError } from '../errors.js';
import type { ClusterFacts } from '../model/types.js';
import { PUBLIC_ADDRESS, nodePortServiceName } from '../scenario/address-target.js';
import { attemptTarget } from '../scenario/attempt-target.js';
import type { Attempt, Workload } from '../scenario/types.js';

/**
 * @param pods `namespace/workload` → the pod name that stands for it (the runner's choice).
 * @param ready the pods as the server holds them.
 * @param nodePorts the workloads' node ports, from {@link readNodePorts}.
 */
export function readRunAddresses(
  pods: ReadonlyMap<string, string>,
  ready: readonly V1Pod[],
  internet?: string,
  nodePorts?: ReadonlyMap<string, number>,
): RunAddresses {
  const byName = new Map(ready.map((p) => [`${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`, p]));
  const out = new Map<string, { podIP: string; hostIP: string }>();
  for (const [workload, name] of pods) {
    const pod = byName.get(`${workload.split('/')[0] ?? ''}/${name}`);
    const podIP = pod?.status?.podIP;
    const hostIP = pod?.status?.hostIP;
    if (podIP && hostIP) out.set(workload, { podIP, hostIP });
  }
  return {
    pods: out,
    ...(internet === undefined ? {} : { internet }),
    ...(nodePorts && nodePorts.size > 0 ? { nodePorts } : {}),
  };
}

/**
 * The node port of every TCP and UDP port of the workloads' NodePort Services, from the objects
 * as the server stored them (the fixtures' read-back): `namespace/workload:port` → node port.
 */
export function readNodePorts(
  workloads: readonly Workload[],
  stored: readonly KubernetesObject[],
): Map<string, number> {
  const byName = new Map(
    stored.filter((o) => o.kind === 'Service').map((o) => [refOfObject(o), o as V1Service]),
  );
  const out = new Map<string, number>();
  for (const w of workloads) {
    if (!w.nodePort) continue;
    const service = byName.get(`${w.namespace}/${nodePortServiceName(w.name)}`);
    for (const p of service?.spec?.ports ?? []) {
      const nodePort = p.nodePort;
      if (typeof nodePort === 'number' && Number.isInteger(nodePort) && nodePort > 0 && nodePort < 65536)
        out.set(nodePortKey(w, p.port), nodePort);
    }
  }
  return out;
}

function refOfObject(o: KubernetesObject): string {
  return `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}

/**
 * What the policy model should assume at run time: the nodes at the addresses the pods report,
 * and the internet at the address the run dials.
 */
export function addressFacts(addresses: RunAddresses): Partial<ClusterFacts> {
  const hosts = [...new Set([...addresses.pods.values()].map((p) => p.hostIP))];
  return {
    ...(hosts.length > 0 ? { nodes: { cidrs: hosts.map(hostCidr) } } : {}),
    internet: { cidrs: [hostCidr(addresses.internet ?? PUBLIC_ADDRESS)] },
  };
}

function hostCidr(address: string): string {
  return `${address}/${address.includes(':') ? 128 : 32}`;
}

/** Refuses to start rounds when an attempt's address was not read: it could only end as `error`. */
export function checkAddresses(attempts: readonly Attempt[], addresses: RunAddresses): void {
  const missing = attempts.filter(
    (a) => 'target' in a && (addressOf(a, addresses) === undefined || dialPortOf(a, addresses) === undefined),
  );
  if (missing.length === 0) return;
  const shown = missing
    .slice(0, 5)
    .map((a) => `${a.id} (${attemptTarget(a)})`)
    .join(', ');
  throw new EnvironmentError(
    `${missing.length} attempts dial an address or node port the run could not read from the cluster: ${shown}`,
    {
      hint: 'check that the pods are Running and have status.podIP and status.hostIP, and that the NodePort Services have a nodePort on every port',
    },
  );
}
