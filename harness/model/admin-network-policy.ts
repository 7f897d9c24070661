/**
 * AdminNetworkPolicy and BaselineAdminNetworkPolicy (`policy.networking.k8s.io/v1alpha1`) by the
 * Calico release that runs the cluster. Which releases enforce them, with sources:
 * - AdminNetworkPolicy: from v3.29.0 ("Add support for the core functionalities of the new k8s
 *   AdminNetworkPolicy API", calico@v3.29.0 release-notes/v3.29.0-release-notes.md:11, PR 9206), in
 *   the static tier `adminnetworkpolicy`, order 1000 (calico@v3.29.0
 *   api/pkg/apis/projectcalico/v3/tier.go:41). At v3.28.x neither libcalico-go nor felix mentions
 *   the kind: Calico does not act on it.
 * - BaselineAdminNetworkPolicy: from v3.30.0 ("Add support for Kubernetes
 *   BaselineAdminNetworkPolicy", calico@v3.30.0 release-notes/v3.30.0-release-notes.md:212, PR
 *   9464), in the static tier `baselineadminnetworkpolicy`, order 10,000,000 (calico@v3.30.0
 *   tier.go:42). v3.29.x has no such tier and no conversion for it.
 * - Both up to v3.31.x (calico@v3.31.7 libcalico-go/lib/names/policy.go:26-28); from v3.32.0 they
 *   are ignored: "Calico v3.32 and newer won't enforce them. Static tiers named adminnetworkpolicy
 *   and baselineadminnetworkpolicy are removed" (reference/ambient-cnp-facts.md B4.2; calico@v3.32.0
 *   release-notes/v3.32.0-release-notes.md:154, PR 11144). ClusterNetworkPolicy replaces them (B4.1).
 *
 * Where Calico enforces them the model does not evaluate them (their rules, ports and peers are
 * network-policy-api v0.1.x's, not v0.2.0's that model/clusternetworkpolicy.ts reads), so the
 * predictions they may touch stay `unknown`; where Calico does not act on them they change
 * nothing, and predictions say so; with no Calico release given, `unknown`.
 */
import { compareVersions } from '../cluster/versions.js';
import { objectName } from './read.js';
import type { PolicyManifest } from './types.js';

export const ANP_API_VERSION = 'policy.networking.k8s.io/v1alpha1';
export const ANP_KINDS = ['AdminNetworkPolicy', 'BaselineAdminNetworkPolicy'] as const;
export type AdminPolicyKind = (typeof ANP_KINDS)[number];

/** The releases a kind is enforced in (first, and the first that no longer does), and its tier. */
const ENFORCED: Readonly<
  Record<
    AdminPolicyKind,
    { readonly from: string; readonly until: string; readonly tier: string; readonly order: number }
  >
> = {
  AdminNetworkPolicy: { from: 'v3.29.0', until: 'v3.32.0', tier: 'adminnetworkpolicy', order: 1000 },
  BaselineAdminNetworkPolicy: {
    from: 'v3.30.0',
    until: 'v3.32.0',
    tier: 'baselineadminnetworkpolicy',
    order: 10_000_000,
  },
};

export type AdminPolicyEffect =
  /** Calico enforces the kind: in tier `tier`, which the model does not evaluate. */
  | { readonly effect: 'enforced'; readonly why: string }
  /** Calico does not act on the kind: the object changes nothing. */
  | { readonly effect: 'none'; readonly why: string }
  /** No Calico release is known: the object may or may not be enforced. */
  | { readonly effect: 'unknown'; readonly why: string };

export function isAdminPolicyKind(kind: string): kind is AdminPolicyKind {
  return (ANP_KINDS as readonly string[]).includes(kind);
}

/** A release like `v3.31.2` (or `3.31.2`, with a suffix); anything else is not a known release. */
function release(version: string | undefined): string | undefined {
  const v = version?.trim();
  return v && /^v?\d+\.\d+\.\d+/.test(v) ? v : undefined;
}

/** What Calico `calico` (undefined: not known) does with an object of this kind. */
export function adminPolicyEffect(kind: AdminPolicyKind, calico: string | undefined): AdminPolicyEffect {
  const e = ENFORCED[kind];
  const v = release(calico);
  if (v === undefined) {
    return {
      effect: 'unknown',
      why: `${kind} is enforced by Calico ${e.from} to v3.31 (tier ${e.tier}) and ignored from v3.32.0 on; the Calico release is not known${calico ? ` ('${calico}' is not a release)` : ''} (plan: --calico <version>)`,
    };
  }
  if (compareVersions(v, e.until) >= 0) {
    return {
      effect: 'none',
      why: `Calico ${v} does not enforce ${kind}: v3.32 removed it and its tier ${e.tier} in favour of ClusterNetworkPolicy, so it has no effect`,
    };
  }
  if (compareVersions(v, e.from) < 0) {
    return {
      effect: 'none',
      why: `Calico ${v} does not implement ${kind} (support arrived in ${e.from}), so it has no effect`,
    };
  }
  return {
    effect: 'enforced',
    why: `Calico ${v} enforces ${kind} in its static tier ${e.tier} (order ${e.order.toLocaleString('en-US')}), whose rules the model does not evaluate`,
  };
}

/**
 * The AdminNetworkPolicy kinds among the manifests that Calico `calico` does not act on, each as
 * `<Kind> <name> (<file>:<line>): <why>`: what `plan` and `run` warn about, and what the
 * predictions name (model/objects.ts).
 */
export function ignoredAdminPolicies(
  manifests: readonly PolicyManifest[],
  calico: string | undefined,
): string[] {
  return manifests.flatMap((m) => {
    const kind = String(m.object.kind);
    if (String(m.object.apiVersion) !== ANP_API_VERSION || !isAdminPolicyKind(kind)) return [];
    const effect = adminPolicyEffect(kind, calico);
    if (effect.effect !== 'none') return [];
    const { name } = objectName(m.object);
    return [`${kind} ${name} (${m.file}:${m.line}): ${effect.why}`];
  });
}

/** Where a kind's rules go as a ClusterNetworkPolicy, and the releases that enforce the kind: lint's words. */
export function adminPolicyMigration(kind: AdminPolicyKind): string {
  const e = ENFORCED[kind];
  const tier = kind === 'AdminNetworkPolicy' ? 'Admin' : 'Baseline';
  return `Calico enforces ${kind} from ${e.from} to v3.31 (tier ${e.tier}, order ${e.order.toLocaleString('en-US')}) and not from v3.32.0 on, which removed it and its tier in favour of ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2, tier: ${tier}, in kube-${tier.toLowerCase()}; from Calico v3.32.1 for bulkhead)`;
}
