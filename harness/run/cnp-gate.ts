/**
 * A scenario whose policies include a ClusterNetworkPolicy (its own manifests, or
 * `builtin: hard-isolation` in its `cnp` form) cannot be run on a Calico older than v3.32.1:
 * before v3.32.0 Calico does not enforce the kind at all, and v3.32.0 is refused for another bug
 * (harness/cluster/versions.ts, reference/ambient-cnp-facts.md B4.1, B4.3). The check is cheap and runs before
 * any download or cluster object: on kind and k3s against the Calico the run would install
 * (`--calico`), on an existing cluster against the Calico it reports.
 */
import { UserError } from '../errors.js';
import type { ClusterPolicyForm } from '../policies/options.js';
import { renderPolicySources } from '../policies/render.js';
import type { Scenario } from '../scenario/types.js';
import { calicoBeforeClusterNetworkPolicy, CNP_MIN_CALICO } from '../cluster/versions.js';

const CNP_API_GROUP = 'policy.networking.k8s.io/';

/** `ClusterNetworkPolicy <name>` of each ClusterNetworkPolicy the scenario's policies render. */
export function scenarioClusterNetworkPolicies(
  scenario: Scenario,
  clusterPolicy: ClusterPolicyForm | undefined,
): string[] {
  return renderPolicySources(scenario, clusterPolicy ? { clusterPolicy } : {}).flatMap((m) => {
    const o = m.object;
    if (o.kind !== 'ClusterNetworkPolicy' || !String(o.apiVersion).startsWith(CNP_API_GROUP)) return [];
    const name = (o.metadata as { name?: unknown } | undefined)?.name;
    return [`ClusterNetworkPolicy ${typeof name === 'string' ? name : '?'}`];
  });
}

export interface ClusterNetworkPolicyGateProps {
  readonly scenario: Scenario;
  readonly clusterPolicy?: ClusterPolicyForm;
  /** The Calico release in use. */
  readonly calico: string;
  /** How the version is known: `this run would install` or `the cluster runs`. */
  readonly where: 'install' | 'cluster';
}

/** Refuses (exit 2, one sentence) a scenario with ClusterNetworkPolicies on a Calico before v3.32.1. */
export function checkClusterNetworkPolicyCalico(props: ClusterNetworkPolicyGateProps): void {
  if (!calicoBeforeClusterNetworkPolicy(props.calico)) return;
  const cnps = scenarioClusterNetworkPolicies(props.scenario, props.clusterPolicy);
  if (cnps.length === 0) return;
  const shown =
    cnps.length > 2 ? `${cnps.slice(0, 2).join(', ')} and ${cnps.length - 2} more` : cnps.join(', ');
  // The bundle's Calico form needs no ClusterNetworkPolicy; the user's own manifests still might.
  const calicoForm =
    props.scenario.policies.some((p) => p.kind === 'builtin' && p.name === 'hard-isolation') &&
    scenarioClusterNetworkPolicies(props.scenario, 'calico').length === 0
      ? ' (or --cluster-policy calico)'
      : '';
  const fix =
    props.where === 'install'
      ? `this run would install Calico ${props.calico}: add --calico ${CNP_MIN_CALICO}${calicoForm}`
      : `the cluster runs Calico ${props.calico}: upgrade it${calicoForm}`;
  throw new UserError(
    `${props.scenario.file} uses ClusterNetworkPolicy (${shown}), which Calico enforces from ${CNP_MIN_CALICO} on (v3.32.0 added it and is refused for its server-side-apply bug); ${fix}`,
  );
}
