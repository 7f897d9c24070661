/**
 * Whether the credentials of a cluster bulkhead does not own may do what a run does: create and
 * delete its namespaces and fixtures, apply the policies, exec into probes and read their logs.
 * Asked with SelfSubjectAccessReview (what `kubectl auth can-i` sends), one per permission.
 */
import type { KubeClient } from '../kube/client.js';

export interface Permission {
  readonly verb: string;
  /** '' for the core group. */
  readonly group: string;
  readonly resource: string;
  readonly subresource?: string;
}

const each = (verbs: readonly string[], group: string, resource: string): Permission[] =>
  verbs.map((verb) => ({ verb, group, resource }));

/** What applying an object takes (server-side apply creates or patches it), and reading it back. */
const APPLY = ['create', 'patch', 'get'] as const;

/**
 * What a run needs, cluster-wide (its namespaces do not exist yet when it starts). Every object
 * is applied with server-side apply, which the API server authorizes as `patch`, and as `create`
 * too when the object does not exist yet, and read back to check what the cluster stores. Before
 * the run, it reads the API server's and kube-dns's EndpointSlices, the kube-dns Service and pods
 * and the mesh config. Cleanup reads and deletes the objects outside the run's namespaces (the
 * Calico tier and policies, the mesh-wide PeerAuthentication in the mesh root namespace), then
 * deletes the namespaces by label. Exec goes over WebSocket, a GET authorized as `get pods/exec`;
 * from Kubernetes 1.35 the API server also checks `create pods/exec` (feature gate
 * AuthorizePodWebsocketUpgradeCreatePermission, on by default).
 */
export const RUN_PERMISSIONS: readonly Permission[] = [
  ...each([...APPLY, 'list', 'delete'], '', 'namespaces'),
  ...each([...APPLY, 'list', 'watch'], '', 'pods'),
  { verb: 'create', group: '', resource: 'pods', subresource: 'exec' },
  { verb: 'get', group: '', resource: 'pods', subresource: 'exec' },
  { verb: 'get', group: '', resource: 'pods', subresource: 'log' },
  { verb: 'list', group: '', resource: 'events' },
  ...each(APPLY, '', 'services'),
  ...each(APPLY, '', 'serviceaccounts'),
  ...each([...APPLY, 'list'], '', 'configmaps'),
  ...each(APPLY, 'apps', 'deployments'),
  { verb: 'list', group: 'discovery.k8s.io', resource: 'endpointslices' },
  ...each(APPLY, 'networking.k8s.io', 'networkpolicies'),
  ...each(APPLY, 'security.istio.io', 'authorizationpolicies'),
  ...each([...APPLY, 'delete'], 'security.istio.io', 'peerauthentications'),
  ...each(APPLY, 'networking.istio.io', 'envoyfilters'),
  ...each([...APPLY, 'delete'], 'projectcalico.org', 'tiers'),
  ...each([...APPLY, 'delete'], 'projectcalico.org', 'globalnetworkpolicies'),
];

/** `create pods/exec`, `patch deployments.apps` (kubectl auth can-i's spelling). */
export function describePermission(p: Permission): string {
  const resource = `${p.resource}${p.group ? `.${p.group}` : ''}${p.subresource ? `/${p.subresource}` : ''}`;
  return `${p.verb} ${resource}`;
}

/**
 * The permissions the current credentials lack. A SelfSubjectAccessReview is a POST that
 * creates nothing: the server answers it and stores nothing.
 */
export async function missingPermissions(
  client: KubeClient,
  needs: readonly Permission[] = RUN_PERMISSIONS,
): Promise<Permission[]> {
  const answers = await Promise.all(
    needs.map(async (p) => {
      const response = await client.send({
        method: 'POST',
        path: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
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
        verb: 'review',
        target: `access (can-i ${describePermission(p)})`,
      });
      const status = (response.body as { status?: { allowed?: unknown } } | undefined)?.status;
      return { p, allowed: status?.allowed === true };
    }),
  );
  return answers.filter((a) => !a.allowed).map((a) => a.p);
}
