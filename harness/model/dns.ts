/**
 * What cluster DNS answers, once the query reaches CoreDNS. Stock CoreDNS has no per-client
 * view, so names of every namespace resolve (docs/behaviour.md O11, A5); whether the query gets there is
 * the network layer's business (UDP 53 to the kube-dns pods).
 *
 * Names are asked exactly as written (the agent uses no search list). Under the cluster domain
 * CoreDNS answers with authority: `<svc>.<ns>.svc.<domain>` A for each Service (a ClusterIP,
 * IPv4 on kind), SRV for it with one record per port, `_<port>._<proto>.<svc>.<ns>.svc.<domain>`
 * SRV per named port, NXDOMAIN for a Service that does not exist (kubernetes/dns specification
 * §2.4, coredns plugin/kubernetes README). Names outside the cluster domain go upstream and
 * AAAA for an IPv4-only Service is NOERROR without records, which the agent reports as nxdomain.
 */
import type { DnsQuery } from '../scenario/schema.js';
import type { Cluster } from './cluster.js';

export interface DnsAnswer {
  readonly outcome: 'resolved' | 'nxdomain' | 'unknown';
  readonly reasons: readonly string[];
}

interface ServiceRecord {
  readonly ports: readonly { readonly port: number; readonly protocol: string; readonly name?: string }[];
}

export class DnsLayer {
  private readonly services = new Map<string, ServiceRecord>();
  private readonly namespaces: ReadonlySet<string>;
  private readonly domain: string;

  constructor(cluster: Cluster) {
    this.domain = cluster.clusterDomain.toLowerCase();
    this.namespaces = new Set(cluster.namespaces.keys());
    for (const e of cluster.endpoints) {
      // Client-only workloads (probes) serve no port, and a Service needs one.
      if (e.ports.length === 0) continue;
      const key = `${e.service.name}.${e.service.namespace}`;
      if (e.role === 'apiserver')
        this.services.set(key, { ports: [{ port: 443, protocol: 'TCP', name: 'https' }] });
      else this.services.set(key, { ports: e.ports });
    }
  }

  /** The answer for a query that reached the resolver. */
  answer(query: DnsQuery): DnsAnswer {
    const name = query.name.toLowerCase().replace(/\.$/, '');
    const suffix = `.svc.${this.domain}`;
    if (!name.endsWith(`.${this.domain}`)) {
      return {
        outcome: 'unknown',
        reasons: [
          `${name} is outside ${this.domain}: CoreDNS forwards it upstream, which the model does not know`,
        ],
      };
    }
    if (query.type === 'PTR') {
      return { outcome: 'unknown', reasons: ['reverse lookups depend on addresses the cluster assigns'] };
    }
    if (!name.endsWith(suffix)) {
      if (
        name.endsWith(`.pod.${this.domain}`) &&
        query.type === 'A' &&
        /^\d+-\d+-\d+-\d+\.[a-z0-9-]+\.pod\./.test(name)
      ) {
        return {
          outcome: 'resolved',
          reasons: ['`pods insecure` (kubeadm/kind Corefile) answers any <a-b-c-d>.<ns>.pod name'],
        };
      }
      return {
        outcome: 'unknown',
        reasons: [
          `${name} is not a Service name (<svc>.<ns>.svc.${this.domain}); the model does not predict it`,
        ],
      };
    }
    const labels = name.slice(0, -suffix.length).split('.');
    let portLabel: string | undefined;
    let protoLabel: string | undefined;
    if (labels.length === 4 && labels[0]?.startsWith('_') && labels[1]?.startsWith('_')) {
      portLabel = labels[0].slice(1);
      protoLabel = labels[1].slice(1);
      labels.splice(0, 2);
    }
    if (labels.length === 1) {
      const ns = labels[0] ?? '';
      return this.namespaces.has(ns)
        ? { outcome: 'unknown', reasons: [`${name} names a namespace, not a Service`] }
        : { outcome: 'nxdomain', reasons: [`no namespace ${ns}: CoreDNS answers NXDOMAIN for ${name}`] };
    }
    if (labels.length !== 2) {
      return { outcome: 'unknown', reasons: [`${name} is not a Service name the model knows how to answer`] };
    }
    const [svc, ns] = labels as [string, string];
    const record = this.services.get(`${svc}.${ns}`);
    if (!record) {
      return {
        outcome: 'nxdomain',
        reasons: [`no Service ${ns}/${svc}: CoreDNS answers NXDOMAIN for ${name}`],
      };
    }
    if (portLabel !== undefined) {
      if (query.type !== 'SRV') return { outcome: 'unknown', reasons: [`${query.type} of an SRV name`] };
      const found = record.ports.some((p) => p.name === portLabel && p.protocol.toLowerCase() === protoLabel);
      return found
        ? {
            outcome: 'resolved',
            reasons: [
              `Service ${ns}/${svc} has a port named ${portLabel}/${protoLabel ?? ''}: CoreDNS serves its SRV record to any namespace`,
            ],
          }
        : {
            outcome: 'nxdomain',
            reasons: [
              `Service ${ns}/${svc} has no port named ${portLabel} over ${protoLabel ?? ''}: NXDOMAIN`,
            ],
          };
    }
    switch (query.type) {
      case 'A':
        return {
          outcome: 'resolved',
          reasons: [
            `Service ${ns}/${svc} exists: CoreDNS answers its ClusterIP to any namespace (no per-tenant view)`,
          ],
        };
      case 'SRV':
        return {
          outcome: 'resolved',
          reasons: [`Service ${ns}/${svc} exists: CoreDNS answers an SRV record per port`],
        };
      case 'AAAA':
        return {
          outcome: 'nxdomain',
          reasons: [
            `Service ${ns}/${svc} has an IPv4 ClusterIP only: NOERROR without records, which the agent reports as nxdomain (ENODATA)`,
          ],
        };
    }
  }
}
