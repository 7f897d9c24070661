/**
 * Whether the credentials of a cluster bulkhead does not own may do what a run does: create and
 * delete its namespaces and fixtures, apply the policies, exec into probes and read their logs.
 * Asked with SelfSubjectAccessReview (what `kubectl auth can-i` sends), one per permission.
 */
import { AuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';

export interface Permission {
  readonly verb: string;
  /** '' for the core group. */
  readonly group: string;
  readonly resource: string;
  readonly subresource?: string;
}

/** What a run needs, cluster-wide (its namespaces do not exist yet when it starts). */
export const RUN_PERMISSIONS: readonly Permission[] = [
  ...['create', 'delete', 'list'].map((verb) => ({ verb, group: '', resource: 'namespaces' })),
  ...['create', 'patch', 'list', 'watch'].map((verb) => ({ verb, group: '', resource: 'pods' })),
  { verb: 'create', group: '', resource: 'pods', subresource: 'exec' },
  { verb: 'get', group: '', resource: 'pods', subresource: 'log' },
  { verb: 'list', group: '', resource: 'events' },
  { verb: 'patch', group: '', resource: 'services' },
  { verb: 'patch', group: '', resource: 'serviceaccounts' },
  { verb: 'patch', group: '', resource: 'configmaps' },
  { verb: 'patch', group: 'apps', resource: 'deployments' },
  { verb: 'list', group: 'discovery.k8s.io', resource: 'endpointslices' },
  { verb: 'patch', group: 'networking.k8s.io', resource: 'networkpolicies' },
  { verb: 'patch', group: 'security.istio.io', resource: 'authorizationpolicies' },
  { verb: 'patch', group: 'security.istio.io', resource: 'peerauthentications' },
  { verb: 'patch', group: 'projectcalico.org', resource: 'globalnetworkpolicies' },
];

/** `create pods/exec`, `patch deployments.apps` (kubectl auth can-i's spelling). */
export function describePermission(p: Permission): string {
  const resource = `${p.resource}${p.group ? `.${p.group}` : ''}${p.subresource ? `/${p.subresource}` : ''}`;
  return `${p.verb} ${resource}`;
}

/** The permissions the current credentials lack. */
export async function missingPermissions(
  kubeConfig: KubeConfig,
  needs: readonly Permission[] = RUN_PERMISSIONS,
): Promise<Permission[]> {
  const api = kubeConfig.makeApiClient(AuthorizationV1Api);
  const answers = await Promise.all(
    needs.map(async (p) => {
      const review = await api.createSelfSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectAccessReview',
          spec: {
            resourceAttributes: {
              verb: p.verb,
              group: p.group,
              resource: p.resource,
              ...(p.subresource ? { subresource: p.subresource } : {}),
            },
          },
        },
      });
      return { p, allowed: review.status?.allowed === true };
    }),
  );
  return answers.filter((a) => !a.allowed).map((a) => a.p);
}
