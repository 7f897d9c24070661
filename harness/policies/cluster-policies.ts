/**
 * The policy objects a cluster already holds that can change what a scenario's attempts see:
 * NetworkPolicies in the scenario's namespaces, Calico tiers, policies, network sets and staged
 * policies (projectcalico.org/v3), ClusterNetworkPolicies, and Istio's PeerAuthentication,
 * AuthorizationPolicy and RequestAuthentication in the mesh root and the scenario's namespaces.
 * Read-only (list calls through @kubernetes/client-node, raw JSON), each object located as
 * `cluster:<kind>/<namespace>/<name>` so predictions name it.
 *
 * An API group the cluster does not serve (no Calico, no CNP CRD, no Istio) is not an error: its
 * kinds are simply absent, and the answer says which groups were not there. A kind the
 * credentials may not list (403) is said as unreadable, not taken as empty.
 *
 * Calico's API server also lists the Kubernetes NetworkPolicies and the ClusterNetworkPolicies it
 * converted, as `knp.default.<name>` and `kcnp.<tier>.<name>` (calico@v3.32.1
 * libcalico-go/lib/backend/model/policy.go:145-154, libcalico-go/lib/backend/k8s/client_test.go:3548):
 * those are skipped, having been read in their own kinds.
 */
import { isNotFound, KubeApiError, type KubeClient } from '../kube/index.js';
import type { PolicyManifest } from '../model/types.js';
import { clusterLocation } from './cluster-location.js';

export { clusterLocation, foreignObjects } from './cluster-location.js';

interface Listed {
  readonly apiVersion: string;
  readonly kind: string;
  /** Listed in each of the scenario's namespaces (and for Istio, the root); else cluster-wide. */
  readonly scope: 'namespaces' | 'mesh' | 'cluster';
}

/** Every kind read, in the order the model is given them. */
export const CLUSTER_POLICY_KINDS: readonly Listed[] = [
  { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', scope: 'namespaces' },
  { apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', scope: 'cluster' },
  { apiVersion: 'projectcalico.org/v3', kind: 'Tier', scope: 'cluster' },
  { apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkPolicy', scope: 'cluster' },
  { apiVersion: 'projectcalico.org/v3', kind: 'NetworkPolicy', scope: 'namespaces' },
  { apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkSet', scope: 'cluster' },
  { apiVersion: 'projectcalico.org/v3', kind: 'NetworkSet', scope: 'namespaces' },
  { apiVersion: 'projectcalico.org/v3', kind: 'StagedGlobalNetworkPolicy', scope: 'cluster' },
  { apiVersion: 'projectcalico.org/v3', kind: 'StagedNetworkPolicy', scope: 'namespaces' },
  { apiVersion: 'projectcalico.org/v3', kind: 'StagedKubernetesNetworkPolicy', scope: 'namespaces' },
  { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', scope: 'mesh' },
  { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', scope: 'mesh' },
  { apiVersion: 'security.istio.io/v1', kind: 'RequestAuthentication', scope: 'mesh' },
];

/** Names Calico's API server gives the policies it converted from other kinds. */
const CONVERTED = /^(knp\.default\.|kcnp\.|staged:knp\.default\.)/;

export interface ClusterPolicies {
  readonly manifests: readonly PolicyManifest[];
  /** `apiVersion kind` of each kind the cluster does not serve. */
  readonly absent: readonly string[];
  /**
   * `apiVersion kind: why` of each kind the credentials may not list (403): the cluster may hold
   * such objects, and predictions cannot account for them.
   */
  readonly unreadable: readonly string[];
}

export interface ReadClusterPoliciesProps {
  readonly client: KubeClient;
  readonly namespaces: readonly string[];
  readonly meshRootNamespace: string;
  /** Objects carrying all these labels are skipped (what a run itself applied: run/identity.ts). */
  readonly skipLabels?: Readonly<Record<string, string>>;
}

export async function readClusterPolicies(props: ReadClusterPoliciesProps): Promise<ClusterPolicies> {
  const manifests: PolicyManifest[] = [];
  const absent: string[] = [];
  const unreadable: string[] = [];
  const scenarioNamespaces = [...new Set(props.namespaces)].sort();
  const meshNamespaces = [...new Set([props.meshRootNamespace, ...props.namespaces])].sort();
  for (const k of CLUSTER_POLICY_KINDS) {
    const where =
      k.scope === 'cluster' ? [undefined] : k.scope === 'mesh' ? meshNamespaces : scenarioNamespaces;
    try {
      for (const namespace of where) {
        const { items } = await props.client.list({
          apiVersion: k.apiVersion,
          kind: k.kind,
          ...(namespace === undefined ? {} : { namespace }),
        });
        for (const item of items) {
          const name = item.metadata?.name ?? '';
          if (CONVERTED.test(name)) continue;
          const labels = item.metadata?.labels ?? {};
          if (props.skipLabels && Object.entries(props.skipLabels).every(([key, v]) => labels[key] === v))
            continue;
          const { managedFields: _managed, ...metadata } = item.metadata ?? {};
          const object = { ...(item as unknown as Record<string, unknown>), metadata };
          manifests.push({ object, file: clusterLocation(item), line: 1 });
        }
      }
    } catch (error) {
      // The group (a CRD) is not installed: nothing of that kind can act.
      if (isNotFound(error)) absent.push(`${k.apiVersion} ${k.kind}`);
      else if (error instanceof KubeApiError && error.code === 403)
        unreadable.push(`${k.apiVersion} ${k.kind}: ${error.detail}`);
      else throw error;
    }
  }
  return { manifests, absent, unreadable };
}
