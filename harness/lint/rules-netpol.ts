/**
 * Network policy coverage per namespace (Kubernetes NetworkPolicy, and Calico policy where it
 * allows): default deny in every tenant namespace, and what a default-deny egress must still let
 * out for DNS and the Istio sidecar; rules aimed at Service ClusterIPs, which policy never sees
 * (docs/behaviour.md §A3, §A4).
 */
import { parseCidr, within } from '../model/cidr.js';
import { YES } from '../model/types.js';
import type { Manifest } from '../scenario/types.js';
import { arr, obj, str, strings, type Json } from '../policies/objects.js';
import { isCalico, namespaceOf, type LintContext } from './context.js';
import { inNamespace, memo, ofKind, ofKindIn } from './indexes.js';
import { calicoTypes } from './rules-calico.js';
import { at, type Finding, type Rule, type Severity } from './types.js';

function k8sPolicies(ctx: LintContext, ns?: string): readonly Manifest[] {
  return ns === undefined
    ? ofKind(ctx, 'NetworkPolicy', 'networking.k8s.io')
    : ofKindIn(ctx, ns, 'NetworkPolicy', 'networking.k8s.io');
}

function selectsAll(selector: unknown): boolean {
  const s = obj(selector);
  return Object.keys(obj(s.matchLabels)).length === 0 && arr(s.matchExpressions).length === 0;
}

function k8sTypes(m: Manifest): string[] {
  const spec = obj(m.object.spec);
  const types = strings(spec.policyTypes);
  if (types.length > 0) return types;
  return spec.egress !== undefined ? ['Ingress', 'Egress'] : ['Ingress'];
}

/** The first policy that isolates every pod of `ns` for `type`, if any. */
function isolatingPolicy(ctx: LintContext, ns: string, type: 'Ingress' | 'Egress'): Manifest | undefined {
  return (
    k8sPolicies(ctx, ns).find(
      (m) => selectsAll(obj(m.object.spec).podSelector) && k8sTypes(m).includes(type),
    ) ??
    inNamespace(ctx, ns).find((m) => {
      if (!isCalico(m) || m.object.kind !== 'NetworkPolicy') return false;
      const sel = str(obj(m.object.spec).selector);
      return (
        (sel === undefined || sel.trim() === 'all()' || sel.trim() === '') && calicoTypes(m).includes(type)
      );
    })
  );
}

function isolated(ctx: LintContext, ns: string, type: 'Ingress' | 'Egress'): boolean {
  return isolatingPolicy(ctx, ns, type) !== undefined;
}

/** Whether a NetworkPolicy peer can be a pod in namespace `target` (lenient when labels are unknown). */
function peerReaches(peer: Json, policyNs: string, target: string): boolean {
  if (peer.ipBlock !== undefined) {
    const cidr = str(obj(peer.ipBlock).cidr) ?? '';
    return cidr === '0.0.0.0/0' || cidr === '::/0';
  }
  if (peer.namespaceSelector === undefined) return policyNs === target;
  const sel = obj(peer.namespaceSelector);
  const name = str(obj(sel.matchLabels)['kubernetes.io/metadata.name']);
  if (name !== undefined) return name === target;
  const expr = arr(sel.matchExpressions)
    .map(obj)
    .find((e) => e.key === 'kubernetes.io/metadata.name');
  if (expr && str(expr.operator) === 'In') return strings(expr.values).includes(target);
  return true;
}

function portAllows(ports: readonly unknown[], port: number, protocol: string): boolean {
  if (ports.length === 0) return true;
  return ports.map(obj).some((p) => {
    const proto = str(p.protocol) ?? 'TCP';
    if (proto !== protocol) return false;
    if (p.port === undefined) return true;
    if (typeof p.port === 'string') return !/^\d+$/.test(p.port) || Number(p.port) === port;
    const first = Number(p.port);
    const last = typeof p.endPort === 'number' ? p.endPort : first;
    return port >= first && port <= last;
  });
}

/** Whether egress from `ns` to namespace `target` on port/protocol is allowed by some policy. */
function egressAllowed(
  ctx: LintContext,
  ns: string,
  target: string,
  port: number,
  protocol: string,
): boolean {
  const k8s = k8sPolicies(ctx, ns).some((m) =>
    arr(obj(m.object.spec).egress)
      .map(obj)
      .some((r) => {
        const to = arr(r.to).map(obj);
        return (
          portAllows(arr(r.ports), port, protocol) &&
          (to.length === 0 || to.some((p) => peerReaches(p, ns, target)))
        );
      }),
  );
  if (k8s) return true;
  // Calico: any Allow egress rule for the port in a policy of the namespace or a global one.
  const allows = (m: Manifest) =>
    arr(obj(m.object.spec).egress)
      .map(obj)
      .some((r) => {
        if (str(r.action) !== 'Allow') return false;
        const proto = str(r.protocol);
        if (proto !== undefined && proto !== protocol) return false;
        const ports = arr(obj(r.destination).ports);
        return ports.length === 0 || ports.some((p) => Number(p) === port);
      });
  if (inNamespace(ctx, ns).some((m) => isCalico(m) && m.object.kind === 'NetworkPolicy' && allows(m)))
    return true;
  // The global policies answer the same for every namespace: asked once per port and protocol.
  return memo(ctx, `netpol/global-egress ${protocol} ${port}`, () =>
    ctx.manifests.some((m) => isCalico(m) && m.object.kind === 'GlobalNetworkPolicy' && allows(m)),
  );
}

/** The manifest that best represents a namespace in a finding: its first policy, or one naming it. */
function anchorFor(ctx: LintContext, ns: string): Manifest | undefined {
  const texts = memo(ctx, 'netpol/object-texts', () => new Map<Manifest, string>());
  const text = (m: Manifest) => {
    let t = texts.get(m);
    if (t === undefined) texts.set(m, (t = JSON.stringify(m.object)));
    return t;
  };
  return inNamespace(ctx, ns)[0] ?? ctx.manifests.find((m) => text(m).includes(`"${ns}"`));
}

function namespaceFinding(
  ctx: LintContext,
  rule: Pick<Rule, 'id' | 'severity'>,
  ns: string,
  message: string,
  hint: string,
  severity: Severity = rule.severity,
): Finding | undefined {
  const declared = ctx.scenario?.namespaces.find((n) => n.name === ns);
  if (declared) {
    const { file, line, column } = declared.origin;
    return {
      rule: rule.id,
      severity,
      message,
      hint,
      object: { kind: 'Namespace', name: ns },
      file,
      line,
      column,
    };
  }
  const m = anchorFor(ctx, ns);
  if (!m) return undefined;
  const { line, column } = m.source.locate(namespaceOf(m) === ns ? ['metadata', 'namespace'] : []);
  return {
    rule: rule.id,
    severity,
    message,
    hint,
    object: { kind: 'Namespace', name: ns },
    file: m.file,
    line,
    column,
  };
}

const tenantWithoutDefaultDeny: Rule = {
  id: 'netpol/tenant-without-default-deny',
  severity: 'error',
  summary: 'A tenant namespace without default deny',
  help:
    'Pods are open in a direction until a policy selecting them names that direction. Without a ' +
    'podSelector: {} policy for Ingress and Egress, anything a narrower policy forgets stays reachable.',
  check(ctx) {
    const out: Finding[] = [];
    for (const ns of [...ctx.tenantNamespaces].sort()) {
      const missing = (['Ingress', 'Egress'] as const).filter((t) => !isolated(ctx, ns, t));
      if (missing.length === 0) continue;
      const f = namespaceFinding(
        ctx,
        this,
        ns,
        `tenant namespace ${ns} has no default deny for ${missing.join(' and ')}: no policy selecting all its pods names ${missing.length === 2 ? 'these directions' : 'this direction'}`,
        `Add a NetworkPolicy with podSelector: {} and policyTypes: [${missing.join(', ')}] in ${ns}.`,
      );
      if (f) out.push(f);
    }
    return out;
  },
};

/** Namespaces with egress default deny, each with the policy that makes it so. */
function egressDenyNamespaces(ctx: LintContext): [string, Manifest][] {
  return memo(ctx, 'netpol/egress-deny-namespaces', () => {
    const out = new Map<string, Manifest>();
    const seen = new Set<string>();
    for (const m of ctx.manifests) {
      const ns = namespaceOf(m);
      if (ns === undefined || seen.has(ns)) continue;
      seen.add(ns);
      const policy = isolatingPolicy(ctx, ns, 'Egress');
      if (policy) out.set(ns, policy);
    }
    return [...out].sort(([a], [b]) => a.localeCompare(b));
  });
}

const egressWithoutDns: Rule = {
  id: 'netpol/egress-deny-without-dns',
  severity: 'error',
  summary: 'Egress default deny without DNS',
  help: 'With egress denied, pods cannot resolve names unless UDP/TCP 53 to kube-system kube-dns is allowed (facts §A4).',
  check(ctx) {
    const out: Finding[] = [];
    for (const [ns, policy] of egressDenyNamespaces(ctx)) {
      if (egressAllowed(ctx, ns, 'kube-system', 53, 'UDP')) continue;
      out.push(
        at(
          this,
          policy,
          ['spec', 'policyTypes'],
          `egress is default-deny in ${ns} but nothing allows DNS (UDP 53 to kube-system): name resolution fails, the sidecar's included`,
          `Allow egress to namespace kube-system, pods k8s-app: kube-dns, on UDP and TCP 53 in ${ns}.`,
        ),
      );
    }
    return out;
  },
};

const egressWithoutIstiod: Rule = {
  id: 'netpol/egress-deny-without-istiod',
  severity: 'error',
  summary: 'Egress default deny in an injected namespace without istiod (15012)',
  help:
    'Sidecars get their configuration and certificate from istiod on TCP 15012; blocked, they never become ' +
    'ready, and with native sidecars the application container never starts (istio/istio#32945; facts §A4).',
  check(ctx) {
    const out: Finding[] = [];
    for (const [ns, policy] of egressDenyNamespaces(ctx)) {
      const injected = ctx.injection(ns);
      if (injected === false) continue;
      if (egressAllowed(ctx, ns, ctx.rootNamespace, 15012, 'TCP')) continue;
      out.push(
        at(
          this,
          policy,
          ['spec', 'policyTypes'],
          `egress is default-deny in ${ns}${injected ? ', an injected namespace,' : ''} but nothing allows istiod (TCP 15012 to ${ctx.rootNamespace}): sidecars never get config or certificates${injected ? '' : ' (if the namespace has sidecars)'}`,
          `Allow egress to namespace ${ctx.rootNamespace}, pods app: istiod, on TCP 15012 in ${ns}.`,
          injected ? 'error' : 'warning',
        ),
      );
    }
    return out;
  },
};

const egressToServiceIp: Rule = {
  id: 'netpol/egress-to-service-ip',
  severity: 'error',
  summary: 'An egress rule aimed at a Service ClusterIP never matches',
  help:
    'Calico enforces policy after DNAT: a packet to a ClusterIP is already addressed to a backend pod or, for ' +
    'the API server, to the node IP on 6443 (globalnetworkpolicy.mdx; facts §A3, §A4).',
  check(ctx) {
    const out: Finding[] = [];
    // Only ranges inside the Service range: a wider block (10.0.0.0/8) may also hold pod addresses.
    const service = ctx.serviceCidrs.flatMap((s) => parseCidr(s) ?? []);
    const inService = (cidr: string) => {
      const range = parseCidr(cidr);
      return range !== undefined && service.some((s) => within(range, s) === YES);
    };
    for (const m of k8sPolicies(ctx)) {
      arr(obj(m.object.spec).egress).forEach((r, i) => {
        arr(obj(r).to).forEach((p, j) => {
          const cidr = str(obj(obj(p).ipBlock).cidr);
          if (cidr === undefined || !inService(cidr)) return;
          out.push(
            at(
              this,
              m,
              ['spec', 'egress', i, 'to', j, 'ipBlock', 'cidr'],
              `${cidr} is in the Service range ${ctx.serviceCidrs.join(', ')}: policy sees the packet after DNAT, so this rule never matches${cidr.startsWith('10.96.0.1') ? ' (the API server is reached at the control-plane node IP on 6443)' : ''}`,
              'Allow the backends instead: pods by selector, or for the API server the node address(es) on port 6443 (kubectl get endpointslices -l kubernetes.io/service-name=kubernetes).',
            ),
          );
        });
      });
    }
    for (const m of ctx.manifests.filter(isCalico)) {
      arr(obj(m.object.spec).egress).forEach((r, i) => {
        strings(obj(obj(r).destination).nets).forEach((cidr, j) => {
          if (!inService(cidr)) return;
          out.push(
            at(
              this,
              m,
              ['spec', 'egress', i, 'destination', 'nets', j],
              `${cidr} is in the Service range ${ctx.serviceCidrs.join(', ')}: Calico sees the packet after DNAT, so this rule never matches`,
              'Match the backends (selector or node addresses and their real ports) instead of the ClusterIP.',
            ),
          );
        });
      });
    }
    return out;
  },
};

export const NETPOL_RULES: readonly Rule[] = [
  tenantWithoutDefaultDeny,
  egressWithoutDns,
  egressWithoutIstiod,
  egressToServiceIp,
];
