/**
 * Calico NetworkPolicy and GlobalNetworkPolicy (projectcalico.org/v3 and the
 * crd.projectcalico.org/v1 storage form, same spec), Tiers, NetworkSets and GlobalNetworkSets,
 * compiled into the network layer (network.ts walks tiers, order, Pass and end-of-tier drop).
 *
 * Semantics (tigera docs: networkpolicy, globalnetworkpolicy, tier, rule, entityrule, selectors):
 * - `selector` matches endpoint (pod) labels; `namespaceSelector` namespace labels (plus
 *   `projectcalico.org/name`); `serviceAccountSelector` service account labels (plus
 *   `projectcalico.org/name`). A namespaced policy selects pods of its own namespace only.
 * - `types` defaults to Ingress when there are no egress rules, Egress when there are only
 *   egress rules, both when there are both.
 * - Rules run in order; the first Allow, Deny or Pass decides; Log goes on.
 * - In an ingress rule `source` is the client and `destination` this endpoint; in an egress
 *   rule `source` is this endpoint and `destination` the server. `destination.ports` is the
 *   server port (names resolve on the server), `source.ports` the client's ephemeral port.
 * - A rule selector in a namespaced policy without a namespaceSelector matches endpoints of
 *   the policy's namespace; in a global policy, of any namespace. `notSelector` also matches
 *   traffic that is not from an endpoint at all.
 * - Selectors also match NetworkSets/GlobalNetworkSets by their labels, i.e. their `nets`.
 * - `order` absent = last; the default tier holds Kubernetes NetworkPolicies at order 1000.
 */
import type { PolicyManifest as Manifest } from './types.js';
import { inBlock, parseCidr, type AddressRange } from './cidr.js';
import { compileCalicoSelector, type CompiledSelector } from './calico-selector.js';
import type { Cluster, Endpoint } from './cluster.js';
import type { Labels } from './labels.js';
import type {
  CompiledPolicy,
  CompiledRule,
  CompiledTier,
  Direction,
  PortTest,
  Protocol,
  RuleAction,
} from './network.js';
import { maybeIn, where } from './networkpolicy.js';
import {
  directions,
  NotUnderstood,
  list,
  num,
  obj,
  objectName,
  onlyKeys,
  optObj,
  str,
  strings,
  type Obj,
} from './read.js';
import { MAYBE, NO, YES, triAnd, triNot, triOr, type Tri } from './types.js';

export const CALICO_GROUPS = ['projectcalico.org/v3', 'crd.projectcalico.org/v1'];

/** The default tier: always present, order 1,000,000 (Calico ≥ 3.29), ends with Deny. */
export const DEFAULT_TIER: CompiledTier = {
  name: 'default',
  order: 1_000_000,
  defaultAction: 'Deny',
  where: '',
};

/**
 * The static tiers of Calico ≥ 3.32, which always exist (a ValidatingAdmissionPolicy blocks their
 * deletion): `kube-admin` (order 1000) holds ClusterNetworkPolicies of tier Admin, `kube-baseline`
 * (order 10,000,000) those of tier Baseline; both end with Pass. Calico policies may be placed in
 * them too. Source: calico@v3.32.1 api/pkg/apis/projectcalico/v3/tier.go:37-50,
 * libcalico-go/lib/names/policy.go:31-40 (reference/ambient-cnp-facts.md B3.2).
 */
export const KUBE_ADMIN_TIER: CompiledTier = {
  name: 'kube-admin',
  order: 1000,
  defaultAction: 'Pass',
  where: '',
};
export const KUBE_BASELINE_TIER: CompiledTier = {
  name: 'kube-baseline',
  order: 10_000_000,
  defaultAction: 'Pass',
  where: '',
};
const STATIC_TIERS = [DEFAULT_TIER, KUBE_ADMIN_TIER, KUBE_BASELINE_TIER];

/** Linux's default ephemeral port range (net.ipv4.ip_local_port_range), for `source.ports`. */
const EPHEMERAL: readonly [number, number] = [32768, 60999];

interface NetworkSet {
  readonly namespace: string | undefined;
  readonly labels: Labels;
  readonly nets: readonly AddressRange[];
}

export interface CalicoInput {
  readonly policies: readonly Manifest[];
  readonly tiers: readonly Manifest[];
  readonly networkSets: readonly Manifest[];
}

export interface CalicoCompiled {
  readonly policies: CompiledPolicy[];
  readonly tiers: Map<string, CompiledTier>;
  /** Tier objects that are not understood; policies in them are unknown. */
  readonly problems: readonly string[];
}

export function compileCalico(input: CalicoInput, cluster: Cluster): CalicoCompiled {
  const tiers = new Map<string, CompiledTier>(STATIC_TIERS.map((t) => [t.name, t]));
  const tierProblems = new Map<string, string>();
  for (const m of input.tiers) {
    const { name } = objectName(m.object);
    try {
      const spec = obj(m.object.spec, 'spec');
      onlyKeys(spec, ['order', 'defaultAction'], 'spec');
      const fixed = STATIC_TIERS.find((t) => t.name === name);
      const action = str(spec.defaultAction, 'spec.defaultAction') ?? fixed?.defaultAction ?? 'Deny';
      if (action !== 'Deny' && action !== 'Pass')
        throw new NotUnderstood(`spec.defaultAction '${action}' is not Deny or Pass`);
      const order = num(spec.order, 'spec.order') ?? fixed?.order ?? Number.POSITIVE_INFINITY;
      // Calico's validator pins the CNP tiers' order and default action (validator.go:1766-1798).
      if (fixed && fixed !== DEFAULT_TIER && (order !== fixed.order || action !== fixed.defaultAction))
        throw new NotUnderstood(
          `the static tier ${name} must keep order ${fixed.order} and defaultAction ${fixed.defaultAction} (Calico rejects it)`,
        );
      tiers.set(name, { name, order, defaultAction: action, where: where(m) });
    } catch (error) {
      if (!(error instanceof NotUnderstood)) throw error;
      tierProblems.set(name, `Tier ${name} (${where(m)}) is not understood: ${error.message}`);
      tiers.set(name, { name, order: Number.POSITIVE_INFINITY, defaultAction: 'Deny', where: where(m) });
    }
  }
  const sets: NetworkSet[] = [];
  for (const m of input.networkSets) {
    const { namespace } = objectName(m.object);
    const global = m.object.kind === 'GlobalNetworkSet';
    const metadata = obj(m.object.metadata, 'metadata');
    const labels = obj(metadata.labels, 'metadata.labels') as Labels;
    const spec = obj(m.object.spec, 'spec');
    const nets = strings(spec.nets, 'spec.nets').flatMap((n) => parseCidr(n) ?? []);
    sets.push({
      namespace: global ? undefined : (namespace ?? 'default'),
      labels: global ? labels : { ...labels, 'projectcalico.org/namespace': namespace ?? 'default' },
      nets,
    });
  }
  const policies = input.policies.map((m) => compilePolicy(m, cluster, sets, tiers, tierProblems));
  for (const p of policies) {
    // A policy in a tier that does not exist is rejected; place it first so its uncertainty shows.
    if (!tiers.has(p.tier)) {
      tiers.set(p.tier, { name: p.tier, order: Number.NEGATIVE_INFINITY, defaultAction: 'Deny', where: '' });
    }
  }
  return { policies, tiers, problems: [...tierProblems.values()] };
}

function compilePolicy(
  m: Manifest,
  cluster: Cluster,
  sets: readonly NetworkSet[],
  tiers: ReadonlyMap<string, CompiledTier>,
  tierProblems: ReadonlyMap<string, string>,
): CompiledPolicy {
  const global = m.object.kind === 'GlobalNetworkPolicy';
  const { name, namespace } = objectName(m.object);
  const spec0 = isRecord(m.object.spec) ? m.object.spec : {};
  const tier = typeof spec0.tier === 'string' && spec0.tier !== '' ? spec0.tier : 'default';
  const order = typeof spec0.order === 'number' ? spec0.order : Number.POSITIVE_INFINITY;
  const base = {
    title: global ? name : `${namespace ?? '?'}/${name}`,
    kindPrefix: global ? 'GlobalNetworkPolicy ' : 'Calico NetworkPolicy ',
    where: where(m),
    tier,
    order,
    sortName: global ? name : `${namespace ?? ''}/${name}`,
  };
  try {
    if (!global && namespace === undefined) {
      throw new NotUnderstood(
        'metadata.namespace is missing: which namespace it lands in depends on the client context',
      );
    }
    if (!tiers.has(tier))
      throw new NotUnderstood(`spec.tier '${tier}' names no Tier among the manifests (Calico rejects it)`);
    const tierProblem = tierProblems.get(tier);
    if (tierProblem) throw new NotUnderstood(tierProblem);
    const spec = obj(m.object.spec, 'spec');
    const known = [
      'order',
      'tier',
      'selector',
      'types',
      'ingress',
      'egress',
      'serviceAccountSelector',
      'performanceHints',
      ...(global ? ['namespaceSelector', 'doNotTrack', 'preDNAT', 'applyOnForward'] : []),
    ];
    onlyKeys(spec, known, 'spec');
    num(spec.order, 'spec.order');
    const selector = calicoSelector(spec.selector, 'spec.selector');
    const nsSelector = global ? calicoSelector(spec.namespaceSelector, 'spec.namespaceSelector') : undefined;
    const saSelector = calicoSelector(spec.serviceAccountSelector, 'spec.serviceAccountSelector');
    // doNotTrack and preDNAT policies apply to host endpoints only; the model has no host endpoints.
    const hostOnly = spec.doNotTrack === true || spec.preDNAT === true;
    const selects = new Uint8Array(cluster.endpoints.length);
    if (!hostOnly) {
      for (const e of cluster.endpoints) {
        if (e.namespace === undefined) continue;
        if (!global && e.namespace !== namespace) continue;
        const ns = cluster.namespaces.get(e.namespace);
        if (nsSelector && !(ns && nsSelector.match(ns.calicoLabels))) continue;
        if (!selector.match(e.calicoLabels)) continue;
        if (!saSelector.all && !saSelector.match(serviceAccountLabels(cluster, e))) continue;
        selects[e.index] = YES;
      }
    }
    const ingress = list(spec.ingress, 'spec.ingress');
    const egress = list(spec.egress, 'spec.egress');
    // Calico's default: Ingress unless only egress rules are given; Egress when egress rules exist.
    const types = directions(spec.types, 'spec.types') ?? {
      Ingress: egress.length === 0 || ingress.length > 0,
      Egress: egress.length > 0,
    };
    const scope: Scope = { global, namespace: namespace ?? '', cluster, sets };
    const rules = (items: readonly unknown[], direction: Direction) =>
      items.map((raw, i) => compileRule(raw, i, direction, scope));
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
      selects: maybeIn(cluster, global ? undefined : namespace),
      types: { Ingress: true, Egress: true },
      rules: { Ingress: [], Egress: [] },
      problem: error.message,
    };
  }
}

function isRecord(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function serviceAccountLabels(cluster: Cluster, e: Endpoint): Labels {
  const sa = e.serviceAccount ?? 'default';
  return {
    ...(cluster.serviceAccountLabels.get(`${e.namespace ?? ''}/${sa}`) ?? {}),
    'projectcalico.org/name': sa,
  };
}

function calicoSelector(v: unknown, at: string): CompiledSelector {
  const text = str(v, at) ?? '';
  try {
    return compileCalicoSelector(text);
  } catch (error) {
    if (error instanceof NotUnderstood) throw new NotUnderstood(`${at} '${text}': ${error.message}`);
    throw error;
  }
}

interface Scope {
  readonly global: boolean;
  readonly namespace: string;
  readonly cluster: Cluster;
  readonly sets: readonly NetworkSet[];
}

const ACTIONS: readonly RuleAction[] = ['Allow', 'Deny', 'Pass', 'Log'];

function compileRule(raw: unknown, index: number, direction: Direction, scope: Scope): CompiledRule {
  const at = `spec.${direction.toLowerCase()}[${index}]`;
  const r = obj(raw, at);
  onlyKeys(
    r,
    [
      'action',
      'protocol',
      'notProtocol',
      'icmp',
      'notICMP',
      'ipVersion',
      'source',
      'destination',
      'http',
      'metadata',
    ],
    at,
  );
  const action = str(r.action, `${at}.action`);
  if (!ACTIONS.includes(action as RuleAction))
    throw new NotUnderstood(`${at}.action '${String(action)}' is not Allow, Deny, Pass or Log`);
  const protocol = protocolTest(r.protocol, r.notProtocol, r.icmp, at);
  const source = obj(r.source, `${at}.source`);
  const destination = obj(r.destination, `${at}.destination`);
  const hasPorts = (e: Obj) => list(e.ports, 'ports').length > 0 || list(e.notPorts, 'notPorts').length > 0;
  if (
    (hasPorts(source) || hasPorts(destination)) &&
    !['TCP', 'UDP', 'SCTP', 6, 17, 132].includes(r.protocol as string)
  ) {
    throw new NotUnderstood(`${at}: ports need protocol TCP, UDP or SCTP (Calico rejects the rule)`);
  }
  const ipVersion = num(r.ipVersion, `${at}.ipVersion`);
  const src = entityMatch(source, `${at}.source`, scope);
  const dst = entityMatch(destination, `${at}.destination`, scope);
  if (ipVersion !== undefined) {
    const family = (e: Endpoint): Tri =>
      e.addresses.every((a) => a.v6 === (ipVersion === 6))
        ? YES
        : e.addresses.some((a) => a.v6 === (ipVersion === 6))
          ? MAYBE
          : NO;
    for (const table of [src, dst])
      for (const e of scope.cluster.endpoints) table[e.index] = triAnd(table[e.index] as Tri, family(e));
  }
  const serverPort = portTest(destination, `${at}.destination`);
  const clientPort = clientPortTest(source, `${at}.source`);
  const problem =
    r.http !== undefined && r.http !== null
      ? 'it matches HTTP fields (application layer policy), which the model does not evaluate'
      : undefined;
  return {
    action: action as RuleAction,
    label: `${direction.toLowerCase()} rule ${index + 1} (${action})`,
    local: direction === 'Ingress' ? dst : src,
    peer: direction === 'Ingress' ? src : dst,
    protocol,
    serverPort,
    clientPort,
    ...(problem ? { problem } : {}),
  };
}

const PROTOCOL_NUMBERS: Readonly<Record<string, number>> = {
  TCP: 6,
  UDP: 17,
  ICMP: 1,
  ICMPv6: 58,
  SCTP: 132,
  UDPLite: 136,
};

function protocolNumber(v: unknown, at: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 255) return v;
  if (typeof v === 'string' && v in PROTOCOL_NUMBERS) return PROTOCOL_NUMBERS[v];
  throw new NotUnderstood(`${at} '${JSON.stringify(v)}' is not a protocol Calico knows`);
}

function protocolTest(
  p: unknown,
  notP: unknown,
  icmp: unknown,
  at: string,
): ((x: Protocol) => Tri) | undefined {
  const want = protocolNumber(p, `${at}.protocol`);
  const not = protocolNumber(notP, `${at}.notProtocol`);
  if (icmp !== undefined && icmp !== null && want !== 1 && want !== 58) {
    throw new NotUnderstood(`${at}.icmp needs protocol ICMP or ICMPv6 (Calico rejects the rule)`);
  }
  if (want === undefined && not === undefined) return undefined;
  return (x) => {
    const n = x === 'TCP' ? 6 : 17;
    if (want !== undefined && want !== n) return NO;
    if (not !== undefined && not === n) return NO;
    return YES;
  };
}

/** Per endpoint: does the EntityRule (without its ports) match the endpoint. */
function entityMatch(e: Obj, at: string, scope: Scope): Uint8Array {
  onlyKeys(
    e,
    [
      'nets',
      'notNets',
      'selector',
      'notSelector',
      'namespaceSelector',
      'ports',
      'notPorts',
      'serviceAccounts',
      'services',
    ],
    at,
  );
  const { cluster } = scope;
  const table = new Uint8Array(cluster.endpoints.length).fill(YES);
  const nets = cidrs(e.nets, `${at}.nets`);
  const notNets = cidrs(e.notNets, `${at}.notNets`);
  const selectorText = str(e.selector, `${at}.selector`);
  const notSelectorText = str(e.notSelector, `${at}.notSelector`);
  const nsText = str(e.namespaceSelector, `${at}.namespaceSelector`);
  const selector = selectorText === undefined ? undefined : calicoSelector(selectorText, `${at}.selector`);
  const notSelector =
    notSelectorText === undefined ? undefined : calicoSelector(notSelectorText, `${at}.notSelector`);
  const nsSelector = nsText === undefined ? undefined : calicoSelector(nsText, `${at}.namespaceSelector`);
  const sa = optObj(e.serviceAccounts, `${at}.serviceAccounts`);
  const svc = optObj(e.services, `${at}.services`);
  let saNames: readonly string[] | undefined;
  let saSelector: CompiledSelector | undefined;
  if (sa) {
    onlyKeys(sa, ['names', 'selector'], `${at}.serviceAccounts`);
    const names = strings(sa.names, `${at}.serviceAccounts.names`);
    saNames = names.length > 0 ? names : undefined;
    const s = str(sa.selector, `${at}.serviceAccounts.selector`);
    saSelector = s === undefined ? undefined : calicoSelector(s, `${at}.serviceAccounts.selector`);
  }
  let service: { name: string; namespace: string } | undefined;
  if (svc) {
    onlyKeys(svc, ['name', 'namespace'], `${at}.services`);
    const name = str(svc.name, `${at}.services.name`);
    if (name === undefined) throw new NotUnderstood(`${at}.services.name is required`);
    const ns = str(svc.namespace, `${at}.services.namespace`) ?? (scope.global ? undefined : scope.namespace);
    if (ns === undefined) throw new NotUnderstood(`${at}.services.namespace is required in a global policy`);
    if (list(e.ports, 'ports').length > 0)
      throw new NotUnderstood(`${at}: services cannot be combined with ports`);
    service = { name, namespace: ns };
  }
  // Whether a selector-scoped match would consider endpoint e (namespace scoping of rule selectors).
  const inScope = (ep: Endpoint): boolean => {
    if (ep.namespace === undefined) return false;
    if (nsSelector) {
      const ns = cluster.namespaces.get(ep.namespace);
      return ns !== undefined && nsSelector.match(ns.calicoLabels);
    }
    return scope.global || ep.namespace === scope.namespace;
  };
  const setInScope = (s: NetworkSet): boolean => {
    if (nsSelector) {
      if (s.namespace === undefined) return nsSelector.global;
      const ns = cluster.namespaces.get(s.namespace);
      return ns !== undefined && nsSelector.match(ns.calicoLabels);
    }
    return scope.global || s.namespace === scope.namespace;
  };
  // Matching by labels: the endpoint itself, or a network set holding its address.
  const byLabels = (sel: CompiledSelector, ep: Endpoint): Tri => {
    let m: Tri = inScope(ep) && sel.match(ep.calicoLabels) ? YES : NO;
    if (m === YES) return YES;
    for (const s of scope.sets) {
      if (setInScope(s) && sel.match(s.labels)) {
        for (const n of s.nets) m = triOr(m, inBlock(ep.addresses, n));
      }
    }
    return m;
  };
  for (const ep of cluster.endpoints) {
    let m: Tri = YES;
    if (nets) m = triAnd(m, anyBlock(ep, nets));
    if (notNets) m = triAnd(m, triNot(anyBlock(ep, notNets)));
    if (selector) m = triAnd(m, byLabels(selector, ep));
    else if (nsSelector) m = triAnd(m, inScope(ep) ? YES : NO);
    if (notSelector) m = triAnd(m, triNot(byLabels(notSelector, ep)));
    if (saNames || saSelector) {
      const scoped =
        ep.namespace !== undefined &&
        (scope.global || nsSelector ? inScope(ep) : ep.namespace === scope.namespace);
      const ok =
        scoped &&
        (saNames === undefined || saNames.includes(ep.serviceAccount ?? 'default')) &&
        (saSelector === undefined || saSelector.match(serviceAccountLabels(cluster, ep)));
      m = triAnd(m, ok ? YES : NO);
    }
    if (service)
      m = triAnd(
        m,
        ep.service.name === service.name && ep.service.namespace === service.namespace ? YES : NO,
      );
    table[ep.index] = m;
  }
  return table;
}

function cidrs(v: unknown, at: string): AddressRange[] | undefined {
  const items = strings(v, at);
  if (items.length === 0) return undefined;
  return items.map((x) => {
    const r = parseCidr(x);
    if (!r) throw new NotUnderstood(`${at}: '${x}' is not a CIDR`);
    return r;
  });
}

function anyBlock(ep: Endpoint, blocks: readonly AddressRange[]): Tri {
  let m: Tri = NO;
  for (const b of blocks) m = triOr(m, inBlock(ep.addresses, b));
  return m;
}

type PortSpec = { readonly first: number; readonly last: number } | { readonly name: string };

function portSpecs(v: unknown, at: string): PortSpec[] | undefined {
  const items = list(v, at);
  if (items.length === 0) return undefined;
  return items.map((p) => {
    if (typeof p === 'number' && Number.isInteger(p)) return { first: p, last: p };
    if (typeof p === 'string') {
      const range = /^(\d+):(\d+)$/.exec(p);
      if (range) return { first: Number(range[1]), last: Number(range[2]) };
      if (/^\d+$/.test(p)) return { first: Number(p), last: Number(p) };
      return { name: p };
    }
    throw new NotUnderstood(`${at}: '${String(p)}' is not a port, range or port name`);
  });
}

function portTest(e: Obj, at: string): PortTest | undefined {
  const ports = portSpecs(e.ports, `${at}.ports`);
  const notPorts = portSpecs(e.notPorts, `${at}.notPorts`);
  if (!ports && !notPorts) return undefined;
  const hit = (specs: readonly PortSpec[], server: Endpoint, n: number, proto: Protocol) =>
    specs.some((s) =>
      'name' in s
        ? server.ports.some((sp) => sp.name === s.name && sp.port === n && sp.protocol === proto)
        : n >= s.first && n <= s.last,
    );
  return (server, n, proto) => {
    if (ports && !hit(ports, server, n, proto)) return NO;
    if (notPorts && hit(notPorts, server, n, proto)) return NO;
    return YES;
  };
}

/** The client's port is ephemeral: known to lie in the kernel's range, not which one. */
function clientPortTest(e: Obj, at: string): Tri {
  const ports = portSpecs(e.ports, `${at}.ports`);
  const notPorts = portSpecs(e.notPorts, `${at}.notPorts`);
  const cover = (specs: readonly PortSpec[]): Tri => {
    let m: Tri = NO;
    for (const s of specs) {
      if ('name' in s) m = triOr(m, MAYBE);
      else if (s.first <= EPHEMERAL[0] && s.last >= EPHEMERAL[1]) return YES;
      else if (s.last >= EPHEMERAL[0] && s.first <= EPHEMERAL[1]) m = triOr(m, MAYBE);
    }
    return m;
  };
  let m: Tri = YES;
  if (ports) m = triAnd(m, cover(ports));
  if (notPorts) m = triAnd(m, triNot(cover(notPorts)));
  return m;
}
