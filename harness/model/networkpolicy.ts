/**
 * Kubernetes NetworkPolicy (networking.k8s.io/v1), compiled into the network layer the way
 * Calico runs it: an allow-only policy in the default tier at order 1000.
 *
 * Semantics (kubernetes.io "Network Policies" and the API reference):
 * - `podSelector` selects pods in the policy's namespace; `{}` selects all of them.
 * - `policyTypes` defaults to Ingress, plus Egress when the policy has egress rules.
 * - A pod selected for a direction is isolated in that direction; traffic is allowed when any
 *   rule of any policy selecting it allows it (the union).
 * - A rule with no `from`/`to` admits every peer; with no `ports`, every port.
 * - Peer: `podSelector` alone = pods of the policy's namespace; `namespaceSelector` alone = all
 *   pods of the selected namespaces; both in ONE peer = those pods in those namespaces (AND);
 *   as two list items they are two peers (OR). `ipBlock` matches addresses (with `except`).
 * - Port: protocol defaults to TCP; a name matches the server pod's port of that name;
 *   `endPort` makes a range.
 */
import type { PolicyManifest as Manifest } from './types.js';
import { parseCidr } from './cidr.js';
import type { Cluster, Endpoint } from './cluster.js';
import { compileLabelSelector, type LabelMatcher } from './labels.js';
import type { CompiledPolicy, CompiledRule, Direction, PortTest, Protocol } from './network.js';
import { directions, NotUnderstood, list, num, obj, objectName, onlyKeys, str, strings } from './read.js';
import { inBlock } from './cidr.js';
import { MAYBE, NO, YES, type Tri } from './types.js';

/** Order Calico gives Kubernetes NetworkPolicies inside the default tier. */
export const K8S_POLICY_ORDER = 1000;

export function where(m: Manifest): string {
  return `${m.file}:${m.line}`;
}

export function compileNetworkPolicy(m: Manifest, cluster: Cluster): CompiledPolicy {
  const { name, namespace } = objectName(m.object);
  const n = cluster.endpoints.length;
  const base = {
    title: `${namespace ?? '?'}/${name}`,
    kindPrefix: '',
    where: where(m),
    tier: 'default',
    order: K8S_POLICY_ORDER,
    sortName: `knp.default.${name}`,
  };
  let spec;
  try {
    if (namespace === undefined) {
      throw new NotUnderstood(
        'metadata.namespace is missing: which namespace it lands in depends on the kubectl context',
      );
    }
    onlyKeys(m.object, ['apiVersion', 'kind', 'metadata', 'spec', 'status'], 'object');
    spec = obj(m.object.spec, 'spec');
    onlyKeys(spec, ['podSelector', 'policyTypes', 'ingress', 'egress'], 'spec');
    if (spec.podSelector === undefined) throw new NotUnderstood('spec.podSelector is required');
    const podSelector = compileLabelSelector(spec.podSelector, 'spec.podSelector');
    const selects = new Uint8Array(n);
    for (const e of cluster.endpoints) {
      if (e.namespace === namespace && podSelector(e.labels)) selects[e.index] = YES;
    }
    const ingress = list(spec.ingress, 'spec.ingress');
    const egress = list(spec.egress, 'spec.egress');
    // The API server's defaulting: Ingress always, Egress when egress rules exist.
    const types = directions(spec.policyTypes, 'spec.policyTypes') ?? {
      Ingress: true,
      Egress: egress.length > 0,
    };
    const rules = (items: readonly unknown[], direction: Direction): CompiledRule[] =>
      items.map((raw, i) => compileRule(raw, i, direction, namespace, cluster));
    return {
      ...base,
      selects,
      types,
      rules: { Ingress: rules(ingress, 'Ingress'), Egress: rules(egress, 'Egress') },
    };
  } catch (error) {
    if (!(error instanceof NotUnderstood)) throw error;
    return {
      ...base,
      selects: maybeIn(cluster, namespace),
      types: { Ingress: true, Egress: true },
      rules: { Ingress: [], Egress: [] },
      problem: error.message,
    };
  }
}

/** A policy whose selection is unknown may select any pod of its namespace (or any, if none). */
export function maybeIn(cluster: Cluster, namespace: string | undefined): Uint8Array {
  const out = new Uint8Array(cluster.endpoints.length);
  for (const e of cluster.endpoints) {
    if (e.namespace !== undefined && (namespace === undefined || e.namespace === namespace))
      out[e.index] = MAYBE;
  }
  return out;
}

function compileRule(
  raw: unknown,
  index: number,
  direction: Direction,
  namespace: string,
  cluster: Cluster,
): CompiledRule {
  const field = direction === 'Ingress' ? 'from' : 'to';
  const at = `spec.${direction.toLowerCase()}[${index}]`;
  const rule = obj(raw, at);
  onlyKeys(rule, [field, 'ports'], at);
  const peers = list(rule[field], `${at}.${field}`);
  const ports = list(rule.ports, `${at}.ports`);
  let peer: Uint8Array | undefined;
  if (peers.length > 0) {
    peer = new Uint8Array(cluster.endpoints.length);
    peers.forEach((p, j) => {
      const test = compilePeer(p, `${at}.${field}[${j}]`, namespace, cluster);
      for (const e of cluster.endpoints) {
        const v = test(e);
        const current = peer?.[e.index] ?? NO;
        if (v === YES || (v === MAYBE && current === NO)) (peer as Uint8Array)[e.index] = v;
      }
    });
  }
  return {
    action: 'Allow',
    label: `${direction.toLowerCase()} rule ${index + 1}`,
    local: undefined,
    peer,
    protocol: undefined,
    serverPort: ports.length > 0 ? compilePorts(ports, `${at}.ports`) : undefined,
    clientPort: YES,
  };
}

function compilePeer(raw: unknown, at: string, namespace: string, cluster: Cluster): (e: Endpoint) => Tri {
  const p = obj(raw, at);
  onlyKeys(p, ['podSelector', 'namespaceSelector', 'ipBlock'], at);
  if (p.ipBlock !== undefined && p.ipBlock !== null) {
    if (p.podSelector !== undefined || p.namespaceSelector !== undefined) {
      throw new NotUnderstood(`${at}: ipBlock cannot be combined with selectors (rejected by the API)`);
    }
    const block = obj(p.ipBlock, `${at}.ipBlock`);
    onlyKeys(block, ['cidr', 'except'], `${at}.ipBlock`);
    const cidrText = str(block.cidr, `${at}.ipBlock.cidr`) ?? '';
    const cidr = parseCidr(cidrText);
    if (!cidr) throw new NotUnderstood(`${at}.ipBlock.cidr '${cidrText}' is not a CIDR`);
    const except = strings(block.except, `${at}.ipBlock.except`).map((x) => {
      const r = parseCidr(x);
      if (!r) throw new NotUnderstood(`${at}.ipBlock.except '${x}' is not a CIDR`);
      return r;
    });
    return (e) => inBlock(e.addresses, cidr, except);
  }
  const hasPods = p.podSelector !== undefined && p.podSelector !== null;
  const hasNamespaces = p.namespaceSelector !== undefined && p.namespaceSelector !== null;
  if (!hasPods && !hasNamespaces)
    throw new NotUnderstood(`${at}: a peer needs podSelector, namespaceSelector or ipBlock`);
  const pods: LabelMatcher | undefined = hasPods
    ? compileLabelSelector(p.podSelector, `${at}.podSelector`)
    : undefined;
  const namespaces: LabelMatcher | undefined = hasNamespaces
    ? compileLabelSelector(p.namespaceSelector, `${at}.namespaceSelector`)
    : undefined;
  return (e) => {
    // Host-network endpoints (the API server) are not pods: selectors never match them.
    if (e.namespace === undefined) return NO;
    if (namespaces) {
      const ns = cluster.namespaces.get(e.namespace);
      if (!ns || !namespaces(ns.labels)) return NO;
    } else if (e.namespace !== namespace) return NO;
    return pods === undefined || pods(e.labels) ? YES : NO;
  };
}

function compilePorts(items: readonly unknown[], at: string): PortTest {
  const tests = items.map((raw, i) => {
    const where = `${at}[${i}]`;
    const p = obj(raw, where);
    onlyKeys(p, ['protocol', 'port', 'endPort'], where);
    const protocol = str(p.protocol, `${where}.protocol`) ?? 'TCP';
    if (!['TCP', 'UDP', 'SCTP'].includes(protocol))
      throw new NotUnderstood(`${where}.protocol '${protocol}' is not TCP, UDP or SCTP`);
    const port = p.port;
    const endPort = num(p.endPort, `${where}.endPort`);
    if (endPort !== undefined && typeof port !== 'number') {
      throw new NotUnderstood(`${where}.endPort needs a numeric port (rejected by the API)`);
    }
    if (port === undefined || port === null)
      return (_s: Endpoint, _n: number, proto: Protocol) => (proto === protocol ? YES : NO);
    if (typeof port === 'number') {
      const last = endPort ?? port;
      return (_s: Endpoint, n: number, proto: Protocol) =>
        proto === protocol && n >= port && n <= last ? YES : NO;
    }
    if (typeof port === 'string') {
      if (!/[a-z]/.test(port)) {
        // A string port is a port name, and a name needs a letter (IANA_SVC_NAME): the API rejects "8080".
        throw new NotUnderstood(
          `${where}.port '${port}' is a string but not a port name (rejected by the API)`,
        );
      }
      // A named port is looked up on the server pod: the number it names there, for that protocol.
      return (server: Endpoint, n: number, proto: Protocol) =>
        proto === protocol &&
        server.ports.some((sp) => sp.name === port && sp.port === n && sp.protocol === proto)
          ? YES
          : NO;
    }
    throw new NotUnderstood(`${where}.port should be a number or a port name`);
  });
  // Ports are known exactly, so a port entry either matches or not.
  return (server, n, proto) => (tests.some((t) => t(server, n, proto) === YES) ? YES : NO);
}
