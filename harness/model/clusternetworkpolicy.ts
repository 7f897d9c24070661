/**
 * ClusterNetworkPolicy (`policy.networking.k8s.io/v1alpha2`, network-policy-api v0.2.0), compiled
 * into the network layer the way Calico v3.32.1 runs it: as a GlobalNetworkPolicy in the static
 * tier `kube-admin` (tier Admin) or `kube-baseline` (tier Baseline), both ending with Pass.
 *
 * Semantics, with sources (reference/ambient-cnp-facts.md part B):
 * - tier order Admin → NetworkPolicy (default tier) → Baseline → allow (B2.1; Calico's tiers
 *   1000 / 1,000,000 / 10,000,000, B3.2); user tiers sort among them by their order.
 * - `spec.priority` becomes the policy's order; lower wins, ties go by name (B3.1, B3.4:
 *   felix/calc/policy_sorter.go:388-400). Rules run in their order; Accept → Allow, Deny, Pass
 *   (skip the rest of the tier) (B2.2, B2.3).
 * - subject `namespaces` = every pod of the selected namespaces; `pods` = the pods of the
 *   selected namespaces the pod selector selects. Host-networked endpoints are not pods (B1.4).
 * - ingress peers `namespaces` / `pods`; egress peers also `networks` (CIDRs, which match
 *   pod-to-pod traffic too, B1.6). A rule with several peers or protocols matches any of them
 *   (Calico emits one rule per protocol and peer, same action).
 * - `protocols`: `tcp`/`udp`/`sctp` with `destinationPort` `number` or `range` (inclusive), or
 *   none = every port of that protocol; `destinationNamedPort` = the server's container port of
 *   that name, any protocol (calico@v3.32.1 clusternetworkpolicy.go:369,423-428). No
 *   `protocols` = every protocol and port.
 * - A peer Calico cannot convert (`nodes`, `domainNames`, or none set) fails the whole rule: a
 *   Deny or Pass rule becomes a deny-all rule, an Accept rule is dropped (B3.5:
 *   calico@v3.32.1 libcalico-go/lib/backend/k8s/conversion/clusternetworkpolicy.go:175-185,
 *   "none of supported fields in 'To' is set"). That is Calico's behaviour, not the API's
 *   (which would match the node or domain).
 * - The policy's types are the directions it has (converted) rules for (clusterNetPolicyTypes).
 *
 * Schema problems the API server rejects (a peer with two fields, `start >= end`, priority out of
 * range) make the policy not understood: predictions it may touch become `unknown`.
 */
import { parseCidr, inBlock, type AddressRange } from './cidr.js';
import type { Cluster, Endpoint } from './cluster.js';
import { compileLabelSelector, type LabelMatcher } from './labels.js';
import type { CompiledPolicy, CompiledRule, Direction, PortTest, Protocol } from './network.js';
import { maybeIn, where } from './networkpolicy.js';
import { NotUnderstood, list, num, obj, objectName, onlyKeys, str, strings, type Obj } from './read.js';
import type { PolicyManifest as Manifest } from './types.js';
import { NO, YES, triOr, type Tri } from './types.js';

export const CNP_API_VERSION = 'policy.networking.k8s.io/v1alpha2';

/** The Calico tier each CNP tier lands in (B3.1; names.KubeAdminTierName / KubeBaselineTierName). */
export const CNP_TIERS = { Admin: 'kube-admin', Baseline: 'kube-baseline' } as const;
export type CnpTier = keyof typeof CNP_TIERS;

/** `spec.priority`'s range (clusternetworkpolicy_types.go:105-108). */
export const CNP_PRIORITY_MAX = 1000;

/** Peers Calico v3.32.1 does not convert (experimental channel only, B1.6 and B3.5). */
export const CALICO_UNSUPPORTED_PEERS = ['nodes', 'domainNames'] as const;

export function isClusterNetworkPolicy(o: Obj): boolean {
  return o.apiVersion === CNP_API_VERSION && o.kind === 'ClusterNetworkPolicy';
}

/** `ClusterNetworkPolicy tenant-isolation (Admin, priority 10)` without the file. */
export function cnpTitle(o: Obj): string {
  const spec = obj(o.spec, 'spec');
  const tier = typeof spec.tier === 'string' ? spec.tier : '?';
  const priority = typeof spec.priority === 'number' ? String(spec.priority) : '?';
  return `${objectName(o).name} (${tier}, priority ${priority})`;
}

export function compileClusterNetworkPolicy(m: Manifest, cluster: Cluster): CompiledPolicy {
  const { name } = objectName(m.object);
  const spec0 = obj(m.object.spec, 'spec');
  const tierName = typeof spec0.tier === 'string' ? spec0.tier : '';
  const base = {
    title: cnpTitle(m.object),
    kindPrefix: 'ClusterNetworkPolicy ',
    where: where(m),
    tier: tierName in CNP_TIERS ? CNP_TIERS[tierName as CnpTier] : CNP_TIERS.Admin,
    order: typeof spec0.priority === 'number' ? spec0.priority : Number.POSITIVE_INFINITY,
    sortName: name,
  };
  try {
    onlyKeys(m.object, ['apiVersion', 'kind', 'metadata', 'spec', 'status'], 'object');
    const spec = obj(m.object.spec, 'spec');
    onlyKeys(spec, ['tier', 'priority', 'subject', 'ingress', 'egress'], 'spec');
    if (!(tierName in CNP_TIERS))
      throw new NotUnderstood(`spec.tier '${tierName}' is not Admin or Baseline (rejected by the API)`);
    const priority = num(spec.priority, 'spec.priority');
    if (priority === undefined || !Number.isInteger(priority) || priority < 0 || priority > CNP_PRIORITY_MAX)
      throw new NotUnderstood(`spec.priority must be an integer 0-${CNP_PRIORITY_MAX} (rejected by the API)`);
    const selects = subjectTable(spec.subject, cluster);
    const rules = (direction: Direction): CompiledRule[] => {
      const field = direction === 'Ingress' ? 'ingress' : 'egress';
      const items = list(spec[field], `spec.${field}`);
      if (items.length > 25)
        throw new NotUnderstood(`spec.${field} has more than 25 rules (rejected by the API)`);
      return items.flatMap((raw, i) => compileRule(raw, i, direction, cluster));
    };
    const ingress = rules('Ingress');
    const egress = rules('Egress');
    return {
      ...base,
      selects,
      types: { Ingress: ingress.length > 0, Egress: egress.length > 0 },
      rules: { Ingress: ingress, Egress: egress },
    };
  } catch (error) {
    if (!(error instanceof NotUnderstood)) throw error;
    return {
      ...base,
      selects: maybeIn(cluster, undefined),
      types: { Ingress: true, Egress: true },
      rules: { Ingress: [], Egress: [] },
      problem: error.message,
    };
  }
}

/** Per endpoint: is it a pod the subject selects. */
function subjectTable(raw: unknown, cluster: Cluster): Uint8Array {
  const subject = obj(raw, 'spec.subject');
  onlyKeys(subject, ['namespaces', 'pods'], 'spec.subject');
  const test = podsTest(subject, 'spec.subject', cluster);
  const out = new Uint8Array(cluster.endpoints.length);
  for (const e of cluster.endpoints) out[e.index] = test(e) ? YES : NO;
  return out;
}

/** `namespaces` or `pods` (exactly one): which pods it names. */
function podsTest(o: Obj, at: string, cluster: Cluster): (e: Endpoint) => boolean {
  const fields = Object.keys(o).filter((k) => o[k] !== undefined && o[k] !== null);
  if (fields.length !== 1)
    throw new NotUnderstood(`${at} must set exactly one of namespaces or pods (rejected by the API)`);
  let namespaces: LabelMatcher;
  let pods: LabelMatcher | undefined;
  if (fields[0] === 'namespaces') {
    namespaces = compileLabelSelector(o.namespaces, `${at}.namespaces`);
  } else {
    const p = obj(o.pods, `${at}.pods`);
    onlyKeys(p, ['namespaceSelector', 'podSelector'], `${at}.pods`);
    if (p.namespaceSelector === undefined || p.podSelector === undefined)
      throw new NotUnderstood(`${at}.pods needs namespaceSelector and podSelector (rejected by the API)`);
    namespaces = compileLabelSelector(p.namespaceSelector, `${at}.pods.namespaceSelector`);
    pods = compileLabelSelector(p.podSelector, `${at}.pods.podSelector`);
  }
  return (e) => {
    // Host-networked endpoints (the API server) are not pods: no subject or peer selects them.
    if (e.namespace === undefined) return false;
    const ns = cluster.namespaces.get(e.namespace);
    return ns !== undefined && namespaces(ns.labels) && (pods === undefined || pods(e.labels));
  };
}

/** A rule's peer list, or the reason Calico cannot convert it. */
function peerTable(
  items: readonly unknown[],
  at: string,
  direction: Direction,
  cluster: Cluster,
): Uint8Array | { readonly unconverted: string } {
  const table = new Uint8Array(cluster.endpoints.length);
  for (const [j, raw] of items.entries()) {
    const here = `${at}[${j}]`;
    const p = obj(raw, here);
    const known = direction === 'Ingress' ? ['namespaces', 'pods'] : ['namespaces', 'pods', 'networks'];
    const set = Object.keys(p).filter((k) => p[k] !== undefined && p[k] !== null);
    if (set.length > 1)
      throw new NotUnderstood(`${here} sets ${set.join(' and ')}: one peer type each (rejected by the API)`);
    const field = set[0];
    if (field === undefined || !known.includes(field)) {
      // Calico: "none of supported fields in 'To' is set" (`nodes`, `domainNames`, or nothing).
      const what = field === undefined ? 'no peer type' : `'${field}'`;
      return { unconverted: `${here} has ${what}, which Calico v3.32 does not convert` };
    }
    if (field === 'networks') {
      const blocks: AddressRange[] = strings(p.networks, `${here}.networks`).map((x) => {
        const r = parseCidr(x);
        if (!r) throw new NotUnderstood(`${here}.networks: '${x}' is not a CIDR (rejected by the API)`);
        return r;
      });
      for (const e of cluster.endpoints) {
        let m: Tri = NO;
        for (const b of blocks) m = triOr(m, inBlock(e.addresses, b));
        table[e.index] = triOr(table[e.index] as Tri, m);
      }
      continue;
    }
    const test = podsTest({ [field]: p[field] }, here, cluster);
    for (const e of cluster.endpoints) if (test(e)) table[e.index] = YES;
  }
  return table;
}

type PortSpec =
  | { readonly protocol: Protocol | 'SCTP'; readonly first: number; readonly last: number }
  | { readonly name: string };

/** The `protocols` list as a port test; undefined = every protocol and port. */
function portTest(items: readonly unknown[], at: string): PortTest | undefined {
  if (items.length === 0) return undefined;
  const specs: PortSpec[] = items.map((raw, i) => {
    const here = `${at}[${i}]`;
    const p = obj(raw, here);
    onlyKeys(p, ['tcp', 'udp', 'sctp', 'destinationNamedPort'], here);
    const set = Object.keys(p).filter((k) => p[k] !== undefined && p[k] !== null);
    if (set.length !== 1)
      throw new NotUnderstood(`${here} must set exactly one protocol (rejected by the API)`);
    if (set[0] === 'destinationNamedPort') {
      const name = str(p.destinationNamedPort, `${here}.destinationNamedPort`) ?? '';
      return { name };
    }
    const key = set[0] as 'tcp' | 'udp' | 'sctp';
    const protocol = key.toUpperCase() as Protocol | 'SCTP';
    const body = obj(p[key], `${here}.${key}`);
    onlyKeys(body, ['destinationPort'], `${here}.${key}`);
    if (body.destinationPort === undefined || body.destinationPort === null)
      return { protocol, first: 1, last: 65535 };
    const port = obj(body.destinationPort, `${here}.${key}.destinationPort`);
    onlyKeys(port, ['number', 'range'], `${here}.${key}.destinationPort`);
    const n = num(port.number, `${here}.${key}.destinationPort.number`);
    if (n !== undefined) return { protocol, first: n, last: n };
    const range = obj(port.range, `${here}.${key}.destinationPort.range`);
    const start = num(range.start, `${here}.${key}.destinationPort.range.start`);
    const end = num(range.end, `${here}.${key}.destinationPort.range.end`);
    if (start === undefined || end === undefined || !(start < end))
      throw new NotUnderstood(
        `${here}.${key}.destinationPort.range needs start < end (rejected by the API: "Start port must be less than End port")`,
      );
    return { protocol, first: start, last: end };
  });
  return (server, n, proto) =>
    specs.some((s) =>
      'name' in s
        ? server.ports.some((sp) => sp.name === s.name && sp.port === n && sp.protocol === proto)
        : s.protocol === proto && n >= s.first && n <= s.last,
    )
      ? YES
      : NO;
}

const ACTIONS = { Accept: 'Allow', Deny: 'Deny', Pass: 'Pass' } as const;

/** One CNP rule: one compiled rule, a deny-all in its place, or none (a dropped Accept). */
function compileRule(raw: unknown, index: number, direction: Direction, cluster: Cluster): CompiledRule[] {
  const field = direction === 'Ingress' ? 'from' : 'to';
  const at = `spec.${direction.toLowerCase()}[${index}]`;
  const r = obj(raw, at);
  onlyKeys(r, ['name', 'action', field, 'protocols'], at);
  const action = str(r.action, `${at}.action`) ?? '';
  if (!(action in ACTIONS))
    throw new NotUnderstood(`${at}.action '${action}' is not Accept, Deny or Pass (rejected by the API)`);
  const ruleName = str(r.name, `${at}.name`);
  const label = `${direction.toLowerCase()} rule ${index + 1}${ruleName ? ` '${ruleName}'` : ''} (${action})`;
  const peers = list(r[field], `${at}.${field}`);
  if (peers.length === 0)
    throw new NotUnderstood(`${at}.${field} needs at least one peer (rejected by the API)`);
  const serverPort = portTest(list(r.protocols, `${at}.protocols`), `${at}.protocols`);
  const peer = peerTable(peers, `${at}.${field}`, direction, cluster);
  const base = { local: undefined, protocol: undefined, clientPort: YES } as const;
  if (!(peer instanceof Uint8Array)) {
    // Calico's fail-closed replacement (clusternetworkpolicy.go:175-185).
    if (action === 'Accept') return [];
    return [
      {
        ...base,
        action: 'Deny',
        label: `${label}, replaced by Calico with a deny-all rule because ${peer.unconverted}`,
        peer: undefined,
        serverPort: undefined,
      },
    ];
  }
  return [{ ...base, action: ACTIONS[action as keyof typeof ACTIONS], label, peer, serverPort }];
}
