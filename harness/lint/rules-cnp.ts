/**
 * ClusterNetworkPolicy pitfalls on Calico v3.32 (reference/ambient-cnp-facts.md part B): a user
 * tier ordered before `kube-admin` overrides the Admin tier (B3.3), Pass with nothing after it to
 * decide (B2.2, B2.1 "all pods can communicate"), Baseline rules a namespace's NetworkPolicy
 * shadows (B2.1), peers Calico does not convert (B3.5), and equal priorities in a tier (B2.4,
 * B3.4). And the kinds ClusterNetworkPolicy replaced: an AdminNetworkPolicy or
 * BaselineAdminNetworkPolicy, which Calico v3.32 no longer enforces (B4.2; the releases that do
 * are model/admin-network-policy.ts's).
 */
import { ANP_API_VERSION, adminPolicyMigration, isAdminPolicyKind } from '../model/admin-network-policy.js';
import {
  CALICO_UNSUPPORTED_PEERS,
  CNP_TIERS,
  isClusterNetworkPolicy,
} from '../model/clusternetworkpolicy.js';
import { compileLabelSelector } from '../model/labels.js';
import { NotUnderstood } from '../model/read.js';
import { KUBE_ADMIN_TIER } from '../model/calico.js';
import { arr, obj, str } from '../policies/objects.js';
import type { Manifest } from '../scenario/types.js';
import { isCalico, type LintContext } from './context.js';
import { at, type Finding, type Rule } from './types.js';

const DIRECTIONS = [
  { field: 'ingress', peers: 'from', type: 'Ingress' },
  { field: 'egress', peers: 'to', type: 'Egress' },
] as const;

function cnps(ctx: LintContext): Manifest[] {
  return ctx.manifests.filter((m) => isClusterNetworkPolicy(m.object));
}

function tierOf(m: Manifest): string | undefined {
  return str(obj(m.object.spec).tier);
}

function nameOf(m: Manifest): string {
  return str(obj(m.object.metadata).name) ?? '(unnamed)';
}

/** Calico policies (any tier) and Kubernetes NetworkPolicies: what decides after the Admin tier. */
function namespacePolicies(ctx: LintContext): Manifest[] {
  return ctx.manifests.filter(
    (m) =>
      (m.object.apiVersion === 'networking.k8s.io/v1' && m.object.kind === 'NetworkPolicy') ||
      (isCalico(m) && (m.object.kind === 'NetworkPolicy' || m.object.kind === 'GlobalNetworkPolicy')),
  );
}

const tierBeforeAdmin: Rule = {
  id: 'cnp/tier-before-admin',
  severity: 'warning',
  summary: 'A Calico tier ordered before kube-admin overrides ClusterNetworkPolicy Admin rules',
  help:
    'Calico runs tiers in ascending order; kube-admin, which holds the Admin ClusterNetworkPolicies, has order ' +
    '1000. An Allow or Deny in a user tier with a lower order is final, so the Admin rules never see that ' +
    'traffic (calico v3.32.1 api/pkg/apis/projectcalico/v3/tier.go; facts B3.2, B3.3).',
  check(ctx) {
    // Only where Admin rules are linted too: without them the early tier overrides nothing.
    if (!cnps(ctx).some((m) => tierOf(m) === 'Admin')) return [];
    const deciding = new Set(
      ctx.manifests
        .filter(
          (m) =>
            isCalico(m) && (m.object.kind === 'GlobalNetworkPolicy' || m.object.kind === 'NetworkPolicy'),
        )
        .filter((m) =>
          DIRECTIONS.some((d) =>
            arr(obj(m.object.spec)[d.field]).some((r) =>
              ['Allow', 'Deny'].includes(str(obj(r).action) ?? ''),
            ),
          ),
        )
        .map((m) => str(obj(m.object.spec).tier) ?? 'default'),
    );
    const out: Finding[] = [];
    for (const m of ctx.manifests) {
      if (!isCalico(m) || m.object.kind !== 'Tier') continue;
      const name = nameOf(m);
      const order = obj(m.object.spec).order;
      if (typeof order !== 'number' || order >= KUBE_ADMIN_TIER.order || name === KUBE_ADMIN_TIER.name)
        continue;
      if (!deciding.has(name)) continue;
      out.push(
        at(
          this,
          m,
          ['spec', 'order'],
          `tier '${name}' (order ${order}) runs before kube-admin (order ${KUBE_ADMIN_TIER.order}): its Allow and Deny rules are final, so ClusterNetworkPolicy Admin rules never decide that traffic`,
          `Give tier '${name}' an order above ${KUBE_ADMIN_TIER.order} (it then runs between the Admin tier and the NetworkPolicies), or end its rules with Pass.`,
        ),
      );
    }
    return out;
  },
};

const passWithoutLowerTier: Rule = {
  id: 'cnp/pass-without-lower-tier',
  severity: 'warning',
  summary: 'A Pass rule hands traffic to tiers where nothing decides it: it is allowed',
  help:
    'Pass skips the rest of the ClusterNetworkPolicy tier and hands the traffic to the next one; when no ' +
    'NetworkPolicy and no Baseline rule decides, "all pods can communicate". A Pass in the Baseline tier is ' +
    'always an allow (clusternetworkpolicy_types.go; facts B2.1, B2.2; kube-baseline ends with Pass, B3.2).',
  check(ctx) {
    const later = namespacePolicies(ctx).length > 0;
    const baseline = cnps(ctx).some((m) => tierOf(m) === 'Baseline');
    const out: Finding[] = [];
    for (const m of cnps(ctx)) {
      const tier = tierOf(m);
      if (tier !== 'Baseline' && (tier !== 'Admin' || later || baseline)) continue;
      for (const d of DIRECTIONS) {
        arr(obj(m.object.spec)[d.field]).forEach((r, i) => {
          if (str(obj(r).action) !== 'Pass') return;
          out.push(
            at(
              this,
              m,
              ['spec', d.field, i, 'action'],
              tier === 'Baseline'
                ? `Pass in the Baseline tier: nothing comes after it, so the ${d.type.toLowerCase()} traffic it passes is allowed`
                : `Pass in the Admin tier, but no NetworkPolicy or Baseline ClusterNetworkPolicy is linted with it: the ${d.type.toLowerCase()} traffic it passes is allowed`,
              tier === 'Baseline'
                ? 'Use Accept if allowing is meant, or Deny.'
                : 'Add the NetworkPolicies (or a Baseline default deny) that decide the passed traffic, or use Accept or Deny.',
            ),
          );
        });
      }
    }
    return out;
  },
};

/** Namespace labels as the API server sets them: declared ones plus kubernetes.io/metadata.name. */
function namespaceLabels(ctx: LintContext): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (const ns of ctx.scenario?.namespaces ?? []) out.set(ns.name, { ...ns.labels });
  for (const m of ctx.ofKind('Namespace')) {
    const md = obj(m.object.metadata);
    const name = str(md.name);
    if (name === undefined) continue;
    const labels = Object.fromEntries(
      Object.entries(obj(md.labels)).flatMap(([k, v]) => (typeof v === 'string' ? [[k, v]] : [])),
    );
    out.set(name, { ...(out.get(name) ?? {}), ...labels });
  }
  for (const [name, labels] of out) labels['kubernetes.io/metadata.name'] = name;
  return out;
}

/** The namespaces a CNP subject may cover, among those known: undefined when it cannot be read. */
function subjectNamespaces(
  m: Manifest,
  known: ReadonlyMap<string, Record<string, string>>,
): string[] | undefined {
  const subject = obj(obj(m.object.spec).subject);
  const selector = subject.namespaces ?? obj(subject.pods).namespaceSelector;
  if (selector === undefined) return undefined;
  try {
    const match = compileLabelSelector(selector, 'spec.subject');
    return [...known].filter(([, labels]) => match(labels)).map(([name]) => name);
  } catch (error) {
    if (error instanceof NotUnderstood) return undefined;
    throw error;
  }
}

const baselineShadowed: Rule = {
  id: 'cnp/baseline-shadowed',
  severity: 'warning',
  summary: "Baseline rules never decide for pods a namespace's NetworkPolicy selects",
  help:
    '"v1.NetworkPolicy always makes a final decision for selected pods": the Baseline tier is evaluated only ' +
    'for pods no NetworkPolicy selects in that direction (clusternetworkpolicy_types.go; facts B2.1). A ' +
    'Baseline deny is a default for namespaces without policies, not a floor under them.',
  check(ctx) {
    const known = namespaceLabels(ctx);
    const byNamespace = new Map<string, Set<string>>();
    for (const np of ctx.manifests) {
      if (np.object.apiVersion !== 'networking.k8s.io/v1' || np.object.kind !== 'NetworkPolicy') continue;
      const ns = str(obj(np.object.metadata).namespace);
      if (ns === undefined) continue;
      const spec = obj(np.object.spec);
      const declared = arr(spec.policyTypes).filter((t): t is string => typeof t === 'string');
      const types =
        declared.length > 0 ? declared : ['Ingress', ...(arr(spec.egress).length > 0 ? ['Egress'] : [])];
      for (const t of types) byNamespace.set(ns, new Set([...(byNamespace.get(ns) ?? []), t]));
      if (!known.has(ns)) known.set(ns, { 'kubernetes.io/metadata.name': ns });
    }
    const out: Finding[] = [];
    for (const m of cnps(ctx)) {
      if (tierOf(m) !== 'Baseline') continue;
      const namespaces = subjectNamespaces(m, known);
      if (!namespaces) continue;
      for (const d of DIRECTIONS) {
        if (arr(obj(m.object.spec)[d.field]).length === 0) continue;
        const shadowed = namespaces.filter((ns) => byNamespace.get(ns)?.has(d.type));
        if (shadowed.length === 0) continue;
        out.push(
          at(
            this,
            m,
            ['spec', d.field],
            `its ${d.field} rules never decide for the pods NetworkPolicies select in ${shadowed.join(', ')}: a NetworkPolicy makes the final ${d.type} decision for them`,
            'Put a rule that must hold for every pod in the Admin tier; keep Baseline for namespaces without NetworkPolicies.',
          ),
        );
      }
    }
    return out;
  },
};

const unsupportedPeer: Rule = {
  id: 'cnp/unsupported-peer',
  severity: 'error',
  summary: 'A peer Calico v3.32 does not convert (nodes, domainNames)',
  help: 'Calico converts namespaces, pods and networks peers only; a rule with any other peer fails conversion and is replaced by a deny-all rule (Deny, Pass) or dropped (Accept) (calico v3.32.1 libcalico-go/lib/backend/k8s/conversion/clusternetworkpolicy.go:175-185; facts B3.5). The standard CRD Calico installs lacks both fields (B1.9).',
  check(ctx) {
    const out: Finding[] = [];
    for (const m of cnps(ctx)) {
      for (const d of DIRECTIONS) {
        arr(obj(m.object.spec)[d.field]).forEach((r, i) => {
          const action = str(obj(r).action) ?? '';
          arr(obj(r)[d.peers]).forEach((p, j) => {
            for (const peer of CALICO_UNSUPPORTED_PEERS) {
              if (obj(p)[peer] === undefined) continue;
              out.push(
                at(
                  this,
                  m,
                  ['spec', d.field, i, d.peers, j, peer],
                  action === 'Accept'
                    ? `peer '${peer}' is not converted by Calico: this Accept rule is dropped and accepts nothing`
                    : `peer '${peer}' is not converted by Calico: this ${action || 'rule'} becomes a deny-all rule for every ${d.type.toLowerCase()} connection of the subject`,
                  peer === 'nodes'
                    ? 'Name the node addresses with a networks peer (CIDRs) instead.'
                    : 'Use a networks peer with the addresses, or a Calico GlobalNetworkPolicy with domains.',
                ),
              );
            }
          });
        });
      }
    }
    return out;
  },
};

const priorityTie: Rule = {
  id: 'cnp/priority-tie',
  severity: 'warning',
  summary: 'Two ClusterNetworkPolicies of a tier share a priority',
  help:
    '"If two (or more) policies in the same tier with the same priority could match a connection, then the ' +
    'implementation can apply any of the matching policies" (clusternetworkpolicy_types.go:98-104). Calico ' +
    'orders them by name (felix/calc/policy_sorter.go), another implementation may not (facts B2.4, B3.4).',
  check(ctx) {
    const seen = new Map<string, Manifest>();
    const out: Finding[] = [];
    for (const m of cnps(ctx)) {
      const tier = tierOf(m);
      const priority = obj(m.object.spec).priority;
      if (tier === undefined || !(tier in CNP_TIERS) || typeof priority !== 'number') continue;
      const key = `${tier}/${priority}`;
      const first = seen.get(key);
      if (!first) {
        seen.set(key, m);
        continue;
      }
      out.push(
        at(
          this,
          m,
          ['spec', 'priority'],
          `priority ${priority} in tier ${tier} is also ClusterNetworkPolicy ${nameOf(first)}'s: which applies first is up to the implementation (Calico goes by name)`,
          'Give every ClusterNetworkPolicy of a tier its own priority.',
        ),
      );
    }
    return out;
  },
};

const adminNetworkPolicy: Rule = {
  id: 'cnp/admin-network-policy',
  severity: 'warning',
  summary: 'An AdminNetworkPolicy or BaselineAdminNetworkPolicy, which Calico v3.32 no longer enforces',
  help:
    'Calico v3.32 removed AdminNetworkPolicy and BaselineAdminNetworkPolicy (policy.networking.k8s.io/v1alpha1): ' +
    '"These resources must be removed or replaced by ClusterNetworkPolicy before upgrade, since Calico v3.32 and ' +
    'newer won\'t enforce them" (calico v3.32.0 release notes, PR 11144; facts B4.2). Calico enforced ' +
    'AdminNetworkPolicy from v3.29.0 and BaselineAdminNetworkPolicy from v3.30.0 (their release notes).',
  check(ctx) {
    return ctx.manifests.flatMap((m) => {
      const kind = String(m.object.kind);
      if (m.object.apiVersion !== ANP_API_VERSION || !isAdminPolicyKind(kind)) return [];
      return [
        at(
          this,
          m,
          ['kind'],
          `${kind} ${nameOf(m)}: ${adminPolicyMigration(kind)}`,
          `Rewrite it as a ClusterNetworkPolicy with tier: ${kind === 'AdminNetworkPolicy' ? 'Admin' : 'Baseline'} (actions Accept, Deny${kind === 'AdminNetworkPolicy' ? ', Pass' : ''}) and remove it before upgrading Calico to v3.32.`,
        ),
      ];
    });
  },
};

export const CNP_RULES: readonly Rule[] = [
  adminNetworkPolicy,
  tierBeforeAdmin,
  passWithoutLowerTier,
  baselineShadowed,
  unsupportedPeer,
  priorityTie,
];
