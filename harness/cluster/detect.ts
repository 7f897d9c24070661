/**
 * What a live cluster runs: the Kubernetes version (GET /version), the Calico version (the
 * operator's Installation status, else Calico's ClusterInformation), whether Calico's own API
 * (projectcalico.org/v3) is served, and the Istio version (the istiod image tag). Read through
 * the kube layer, with its deadlines; anything absent is reported as absent, and any other
 * failure (no answer, 401, 403) is the caller's to report, never taken for "absent".
 */
import type { KubernetesObject } from '@kubernetes/client-node';

import { EnvironmentError } from '../errors.js';
import type { KubeClient } from '../kube/client.js';
import { isNotFound } from '../kube/errors.js';
import type { ObjectRef } from '../kube/objects.js';

export interface ClusterVersions {
  /** `v1.35.0` */
  readonly kubernetes?: string;
  /** `v3.31.2` */
  readonly calico?: string;
  /** `1.29.3` */
  readonly istio?: string;
}

/** GET /version's gitVersion (`v1.35.0`); `timeoutMs` overrides the client's deadline. */
export async function kubernetesVersion(
  client: KubeClient,
  options: { readonly timeoutMs?: number } = {},
): Promise<string> {
  const response = await client.send({
    method: 'GET',
    path: '/version',
    verb: 'get',
    target: 'the server version (/version)',
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  });
  const gitVersion = (response.body as { gitVersion?: unknown } | undefined)?.gitVersion;
  if (typeof gitVersion !== 'string' || !gitVersion) {
    const server = client.kubeConfig.getCurrentCluster()?.server ?? 'the server';
    throw new EnvironmentError(
      `${server} answered GET /version without a Kubernetes version: it does not look like an API server`,
      {
        hint: "check the server address and port in the kubeconfig (kubectl cluster-info shows the cluster's)",
      },
    );
  }
  return gitVersion;
}

export async function detectVersions(client: KubeClient): Promise<ClusterVersions> {
  const [kubernetes, calico, istio] = await Promise.all([
    kubernetesVersion(client).catch(() => undefined),
    calicoVersion(client),
    istioVersion(client),
  ]);
  return {
    ...(kubernetes ? { kubernetes } : {}),
    ...(calico ? { calico } : {}),
    ...(istio ? { istio } : {}),
  };
}

/**
 * Reads an object whose kind may not even be served: undefined when the object or its kind is
 * not there (404). A refusal or no answer is not "not there" and is thrown.
 */
export async function readOptional(
  client: KubeClient,
  ref: ObjectRef,
): Promise<KubernetesObject | undefined> {
  try {
    return await client.read(ref);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** The projectcalico.org/v3 kinds bulkhead's policy bundles create (Calico's API server serves them). */
export const CALICO_API_KINDS = ['Tier', 'GlobalNetworkPolicy'] as const;

/**
 * Why the policies could not be applied through Calico's API server, or undefined when it serves
 * every kind they need. The CRDs of crd.projectcalico.org are Calico's internal storage and are
 * not written to (projectcalico/calico#5599); policies go through projectcalico.org/v3.
 */
export async function calicoApiProblem(client: KubeClient): Promise<string | undefined> {
  let resources: { kind?: string; name?: string }[];
  try {
    const response = await client.send({
      method: 'GET',
      path: '/apis/projectcalico.org/v3',
      verb: 'discover',
      target: 'projectcalico.org/v3',
    });
    resources = (response.body as { resources?: { kind?: string; name?: string }[] }).resources ?? [];
  } catch (error) {
    if (!isNotFound(error)) throw error;
    resources = [];
  }
  const served = new Set(resources.filter((r) => !r.name?.includes('/')).map((r) => r.kind));
  const missing = CALICO_API_KINDS.filter((k) => !served.has(k));
  if (missing.length === 0) return undefined;
  const what =
    served.size === 0
      ? 'the cluster does not serve projectcalico.org/v3 at all'
      : `projectcalico.org/v3 does not serve ${missing.join(', ')}`;
  return `Calico's API server is missing: ${what}, and bulkhead's policies (${CALICO_API_KINDS.join(', ')}) are applied through it; install it (with the Tigera operator, an APIServer resource named default) and wait for kubectl get tigerastatus apiserver to be Available`;
}

export async function calicoVersion(client: KubeClient): Promise<string | undefined> {
  const installation = (await readOptional(client, {
    apiVersion: 'operator.tigera.io/v1',
    kind: 'Installation',
    name: 'default',
  })) as { status?: { calicoVersion?: string } } | undefined;
  if (installation?.status?.calicoVersion) return installation.status.calicoVersion;
  const info = (await readOptional(client, {
    apiVersion: 'crd.projectcalico.org/v1',
    kind: 'ClusterInformation',
    name: 'default',
  })) as { spec?: { calicoVersion?: string } } | undefined;
  return info?.spec?.calicoVersion || undefined;
}

export async function istioVersion(client: KubeClient): Promise<string | undefined> {
  const istiod = (await readOptional(client, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    namespace: 'istio-system',
    name: 'istiod',
  })) as
    { spec?: { template?: { spec?: { containers?: { name?: string; image?: string }[] } } } } | undefined;
  const containers = istiod?.spec?.template?.spec?.containers ?? [];
  const image = (containers.find((c) => c.name === 'discovery') ?? containers[0])?.image;
  return image ? imageTag(image) : undefined;
}

/** `docker.io/istio/pilot:1.29.3@sha256:…` → `1.29.3`; a distroless suffix is dropped. */
export function imageTag(image: string): string | undefined {
  const noDigest = image.split('@')[0] ?? image;
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  if (colon <= slash) return undefined;
  return noDigest.slice(colon + 1).replace(/-distroless$/, '');
}
