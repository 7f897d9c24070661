/**
 * The DNS path the run's pods really use, read rather than assumed: the nameservers in a probe
 * pod's `/etc/resolv.conf`, the `kube-dns` Service in kube-system (ClusterIP, ports, selector) and
 * its EndpointSlices (the pods behind it and their own ports).
 *
 * What decides a policy is the packet after the Service's DNAT: Calico enforces workload policy
 * on the endpoint's address and port, not on the ClusterIP (docs/behaviour.md §A3, tigera/docs
 * `globalnetworkpolicy.mdx`). An EndpointSlice's ports are the endpoints' own ports (the Service's
 * target ports) and its endpoints are the pods the Service's selector chose (Kubernetes
 * EndpointSlice API, discovery.k8s.io/v1). So, case by case:
 *
 * - Every nameserver is the kube-dns ClusterIP, the endpoints are pods, the selector has
 *   `k8s-app: kube-dns` and the pods serve DNS on 53: kubeadm's CoreDNS, as on kind (docs/behaviour.md §A4;
 *   review item 18). The bundle's allow-dns stays as it is.
 * - The same, but other labels or other target ports (a DNS deployment that is not kubeadm's):
 *   allow-dns is rendered with the Service's selector and the endpoints' own UDP/TCP ports, which
 *   is exactly what the queries reach after DNAT; the policy model is told the same, so plan and
 *   run predict DNS attempts from the rule that is applied.
 * - A nameserver that is not the kube-dns ClusterIP (NodeLocal DNSCache puts a cache on each
 *   node's host network at a link-local address, 169.254.20.10 by default: kubernetes/kubernetes
 *   `cluster/addons/dns/nodelocaldns/README.md`), a Service without a selector, endpoints that
 *   are not pods, DNS pods on the host network: the queries then do not reach pods selected by
 *   labels, and how Calico treats a pod's traffic to its own node is not established in
 *   bulkhead's sources. Allowing an address there would be a guess, so with the built-in bundle
 *   this is a fault naming what was found; with the user's own policies the run goes on and the
 *   model predicts no DNS attempt (`unknown`).
 * - Nothing could be read (RBAC, no ready pod, exec failed): on the kind provider kubeadm's CoreDNS
 *   is what kind runs; elsewhere the same fault, or `unknown` without the built-in bundle.
 */
import type { KubeConfig } from '@kubernetes/client-node';

import type { ProviderName } from '../cluster/provider.js';
import { EnvironmentError } from '../errors.js';
import type { KubeClient } from '../kube/client.js';
import { execInPod } from '../kube/exec.js';
import type { ClusterFacts as ModelFacts } from '../model/types.js';
import type { DnsEndpoints } from '../policies/options.js';
import { SERVICE_NAME_LABEL } from './api-server-fact.js';
import { AGENT_CONTAINER } from './fixtures.js';
import { messageOf } from '../values.js';

type Protocol = 'UDP' | 'TCP';

/** What the kube-dns Service and its EndpointSlices say. */
export type DnsServiceReading =
  | {
      readonly ok: true;
      readonly clusterIPs: readonly string[];
      readonly selector: Readonly<Record<string, string>> | undefined;
      readonly servicePorts: readonly {
        readonly name?: string;
        readonly port: number;
        readonly protocol: Protocol;
      }[];
      readonly endpoints: readonly {
        readonly addresses: readonly string[];
        readonly pod?: string;
        readonly targetKind?: string;
      }[];
      readonly slicePorts: readonly {
        readonly name?: string;
        readonly port: number;
        readonly protocol: Protocol;
      }[];
      /** Labels all DNS pods share and whether any runs on the host network, when the pods could be read. */
      readonly pods?: {
        readonly labels: Readonly<Record<string, string>>;
        readonly hostNetwork: readonly string[];
      };
      readonly podsUnread?: string;
    }
  | { readonly ok: false; readonly reason: string };

export async function readDnsService(client: KubeClient): Promise<DnsServiceReading> {
  const because = (error: unknown) => messageOf(error);
  let service: Record<string, unknown> | undefined;
  try {
    service = (await client.read({
      apiVersion: 'v1',
      kind: 'Service',
      namespace: 'kube-system',
      name: 'kube-dns',
    })) as Record<string, unknown> | undefined;
  } catch (error) {
    return { ok: false, reason: `the Service kube-system/kube-dns could not be read (${because(error)})` };
  }
  if (!service) return { ok: false, reason: 'there is no Service kube-system/kube-dns' };
  const spec = (service.spec ?? {}) as {
    clusterIP?: string;
    clusterIPs?: string[];
    selector?: Record<string, string>;
    ports?: { name?: string; port?: number; protocol?: string }[];
  };
  let slices: {
    endpoints?: { addresses?: string[]; targetRef?: { kind?: string; name?: string } }[];
    ports?: { name?: string; port?: number; protocol?: string }[];
  }[];
  try {
    const { items } = await client.list({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      namespace: 'kube-system',
      labelSelector: `${SERVICE_NAME_LABEL}=kube-dns`,
    });
    slices = items as unknown as typeof slices;
  } catch (error) {
    return {
      ok: false,
      reason: `the EndpointSlices of kube-system/kube-dns could not be read (${because(error)})`,
    };
  }
  const protocolOf = (p: string | undefined): Protocol => (p === 'UDP' ? 'UDP' : 'TCP');
  const endpoints = slices.flatMap((s) =>
    (s.endpoints ?? []).map((e) => ({
      addresses: e.addresses ?? [],
      ...(e.targetRef?.kind ? { targetKind: e.targetRef.kind } : {}),
      ...(e.targetRef?.kind === 'Pod' && e.targetRef.name ? { pod: e.targetRef.name } : {}),
    })),
  );
  const pods = await readPods(
    client,
    endpoints.flatMap((e) => (e.pod ? [e.pod] : [])),
  );
  const seen = new Set<string>();
  const slicePorts = slices
    .flatMap((s) => s.ports ?? [])
    .flatMap((p) => {
      if (typeof p.port !== 'number') return [];
      const port = { ...(p.name ? { name: p.name } : {}), port: p.port, protocol: protocolOf(p.protocol) };
      const key = `${port.name ?? ''}/${port.port}/${port.protocol}`;
      if (seen.has(key)) return [];
      seen.add(key);
      return [port];
    });
  return {
    ok: true,
    clusterIPs: spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [],
    selector: spec.selector && Object.keys(spec.selector).length > 0 ? spec.selector : undefined,
    servicePorts: (spec.ports ?? []).flatMap((p) =>
      typeof p.port === 'number'
        ? [{ ...(p.name ? { name: p.name } : {}), port: p.port, protocol: protocolOf(p.protocol) }]
        : [],
    ),
    endpoints,
    slicePorts,
    ...('labels' in pods ? { pods } : { podsUnread: pods.unread }),
  };
}

/** The labels every DNS pod carries, and the ones on the host network. */
async function readPods(
  client: KubeClient,
  names: readonly string[],
): Promise<{ labels: Record<string, string>; hostNetwork: string[] } | { unread: string }> {
  if (names.length === 0) return { unread: 'no endpoint names a pod' };
  try {
    const pods = await Promise.all(
      names.map((name) => client.read({ apiVersion: 'v1', kind: 'Pod', namespace: 'kube-system', name })),
    );
    const found = pods.filter((p) => p !== undefined) as {
      metadata?: { name?: string; labels?: Record<string, string> };
      spec?: { hostNetwork?: boolean };
    }[];
    if (found.length === 0) return { unread: 'the DNS pods the endpoints name do not exist' };
    const [first, ...rest] = found.map((p) => p.metadata?.labels ?? {});
    const labels = Object.fromEntries(
      Object.entries(first ?? {}).filter(([k, v]) => rest.every((l) => l[k] === v)),
    );
    return {
      labels,
      hostNetwork: found.filter((p) => p.spec?.hostNetwork === true).map((p) => p.metadata?.name ?? ''),
    };
  } catch (error) {
    return {
      unread: `the DNS pods could not be read (${messageOf(error)})`,
    };
  }
}

/** The `nameserver` lines of a resolv.conf, in order. */
export function nameserversOf(text: string): string[] {
  return text.split('\n').flatMap((line) => {
    const m = /^\s*nameserver\s+([^\s#;]+)/.exec(line);
    return m?.[1] ? [m[1]] : [];
  });
}

/** `/etc/resolv.conf` of a run pod's agent container: the resolvers its probes use. */
export async function readNameservers(
  kubeConfig: KubeConfig,
  props: { readonly namespace: string; readonly pod: string; readonly signal?: AbortSignal },
): Promise<{ nameservers: string[] } | { reason: string }> {
  const where = `${props.namespace}/${props.pod}`;
  try {
    const result = await execInPod(kubeConfig, {
      namespace: props.namespace,
      pod: props.pod,
      container: AGENT_CONTAINER,
      command: ['cat', '/etc/resolv.conf'],
      timeoutMs: 15_000,
      ...(props.signal ? { signal: props.signal } : {}),
    });
    if (result.exitCode !== 0)
      return {
        reason: `cat /etc/resolv.conf in ${where} exited with ${result.exitCode}: ${result.stderr.trim().slice(0, 200)}`,
      };
    const nameservers = nameserversOf(result.stdout);
    if (nameservers.length === 0) return { reason: `/etc/resolv.conf in ${where} names no nameserver` };
    return { nameservers };
  } catch (error) {
    return {
      reason: `/etc/resolv.conf in ${where} could not be read (${messageOf(error)})`,
    };
  }
}

export interface DnsFact {
  /**
   * `kubeadm`: the bundle's rule fits as it is; `adjusted`: rendered from the cluster's Service;
   * `kind-default`: not read, kind's CoreDNS assumed; `unknown`: no rule bulkhead could write.
   */
  readonly status: 'kubeadm' | 'adjusted' | 'kind-default' | 'unknown';
  /** What allow-dns renders, when it differs from kubeadm's CoreDNS. */
  readonly render?: DnsEndpoints;
  /** What the policy model takes as the DNS pods, when it differs from its default. */
  readonly model?: ModelFacts['dns'];
  readonly reasoning: string;
  /** What was read, for the record. */
  readonly observed: Readonly<Record<string, unknown>>;
}

function isLinkLocal(address: string): boolean {
  return address.startsWith('169.254.') || /^fe[89ab][0-9a-f]:/i.test(address);
}

/** Decides what allow-dns and the model take as the DNS path, from what was read (see the header). */
export function decideDns(props: {
  readonly service: DnsServiceReading;
  readonly resolver:
    { readonly nameservers: readonly string[]; readonly pod: string } | { readonly reason: string };
  readonly provider: ProviderName | undefined;
  /** The built-in bundle renders allow-dns: an unknown path is then a fault. */
  readonly needed: boolean;
}): DnsFact {
  const { service, resolver } = props;
  const observed: Record<string, unknown> = {
    ...(service.ok
      ? {
          service: {
            clusterIPs: service.clusterIPs,
            selector: service.selector ?? null,
            ports: service.servicePorts,
          },
          endpoints: service.endpoints,
          endpointPorts: service.slicePorts,
          ...(service.pods ? { podLabels: service.pods.labels } : {}),
        }
      : { serviceUnread: service.reason }),
    ...('nameservers' in resolver
      ? { nameservers: resolver.nameservers, resolvConfOf: resolver.pod }
      : { resolvConfUnread: resolver.reason }),
  };
  const unknown = (why: string, hint: string): DnsFact => {
    if (props.needed)
      throw new EnvironmentError(
        `the built-in allow-dns policy cannot name this cluster's DNS servers: ${why}`,
        {
          hint,
        },
      );
    return {
      status: 'unknown',
      reasoning: `${why}; the run's own policies are applied as written and the model predicts no DNS attempt`,
      observed,
    };
  };
  const ownPolicies =
    'allow DNS in your own policy files (spec.policies: - file: …) instead of builtin:hard-isolation';
  const unread = !service.ok ? service.reason : 'reason' in resolver ? resolver.reason : undefined;
  if (unread !== undefined) {
    if (props.provider === 'kind')
      return {
        status: 'kind-default',
        reasoning: `${unread}; kind runs kubeadm's CoreDNS (k8s-app: kube-dns, 53/UDP and 53/TCP), which allow-dns allows`,
        observed,
      };
    return unknown(
      unread,
      `let bulkhead read Service and EndpointSlices in kube-system and exec into its pods, or ${ownPolicies}`,
    );
  }
  if (!service.ok || !('nameservers' in resolver)) throw new Error('unreachable');
  const elsewhere = resolver.nameservers.filter((n) => !service.clusterIPs.includes(n));
  if (elsewhere.length > 0) {
    const linkLocal = elsewhere.filter(isLinkLocal);
    return unknown(
      `pods resolve through ${elsewhere.join(', ')} (/etc/resolv.conf of ${resolver.pod}), not the kube-dns ClusterIP ` +
        (service.clusterIPs.join(', ') || '(none)') +
        (linkLocal.length > 0
          ? `; ${linkLocal.join(', ')} is link-local, as a node-local DNS cache on the host network (NodeLocal DNSCache) uses`
          : ''),
      `${ownPolicies}, with a rule you have checked for that resolver`,
    );
  }
  if (!service.selector)
    return unknown(
      'the kube-dns Service has no selector, so its endpoints are not pods a policy can select by label',
      ownPolicies,
    );
  if (service.endpoints.length === 0)
    return unknown(
      'the kube-dns Service has no endpoints (is a DNS pod ready?)',
      'check kubectl -n kube-system get endpointslices -l kubernetes.io/service-name=kube-dns',
    );
  const notPods = service.endpoints.filter((e) => e.targetKind !== 'Pod');
  if (notPods.length > 0)
    return unknown(
      `kube-dns endpoints ${notPods.flatMap((e) => e.addresses).join(', ')} are not pods`,
      ownPolicies,
    );
  if (service.pods && service.pods.hostNetwork.length > 0)
    return unknown(
      `the DNS pods ${service.pods.hostNetwork.join(', ')} run on the host network, where pod selectors do not reach them`,
      ownPolicies,
    );
  // The Service's 53/UDP (and 53/TCP) ports, each to the endpoints' port of the same name.
  const targets: { protocol: Protocol; port: number; name?: string }[] = [];
  for (const protocol of ['UDP', 'TCP'] as const) {
    const servicePort = service.servicePorts.find((p) => p.port === 53 && p.protocol === protocol);
    if (!servicePort) continue;
    const slicePort = service.slicePorts.find(
      (p) => p.protocol === protocol && (p.name ?? '') === (servicePort.name ?? ''),
    );
    if (!slicePort)
      return unknown(
        `the kube-dns EndpointSlices have no ${protocol} port for Service port ${servicePort.name ?? ''} 53/${protocol}`,
        'check kubectl -n kube-system get endpointslices -l kubernetes.io/service-name=kube-dns -o yaml',
      );
    targets.push({ protocol, port: slicePort.port, ...(slicePort.name ? { name: slicePort.name } : {}) });
  }
  if (!targets.some((t) => t.protocol === 'UDP'))
    return unknown('the kube-dns Service has no port 53/UDP, where pods send their queries', ownPolicies);
  const selectorText = Object.entries(service.selector)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const portsText = targets.map((t) => `${t.port}/${t.protocol}`).join(', ');
  const kubeadm = service.selector['k8s-app'] === 'kube-dns' && targets.every((t) => t.port === 53);
  const base =
    `every nameserver of ${resolver.pod} is the kube-dns ClusterIP; after its DNAT queries reach the pods ` +
    `it selects (${selectorText}) on ${portsText}`;
  if (kubeadm)
    return {
      status: 'kubeadm',
      reasoning: `${base}: the pods allow-dns selects (k8s-app=kube-dns) on 53, as on kubeadm's CoreDNS`,
      observed,
    };
  const podLabels = service.pods?.labels ?? service.selector;
  return {
    status: 'adjusted',
    render: {
      podLabels: { ...service.selector },
      ports: targets.map((t) => ({ protocol: t.protocol, port: t.port })),
    },
    model: { labels: { ...podLabels }, ports: targets },
    reasoning:
      `${base}, not kubeadm's k8s-app=kube-dns on 53: allow-dns allows exactly those pods and ports` +
      (service.pods
        ? ''
        : ` (${service.podsUnread ?? 'the pods were not read'}: the model takes the selector as their labels)`),
    observed,
  };
}
