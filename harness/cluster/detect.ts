/**
 * What a live cluster runs: the Kubernetes version (GET /version), the Calico version (the
 * operator's Installation status, else Calico's ClusterInformation), whether Calico's own API
 * (projectcalico.org/v3) is served, and the Istio version (the image tag of the istiod that
 * injects bulkhead's namespaces, the default revision's). Read through
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

export async function detectVersions(
  client: KubeClient,
): Promise<ClusterVersions & { readonly kubernetes: string }> {
  // A failed GET /version is the caller's to report like any other failure, not "no version".
  const [kubernetes, calico, istio] = await Promise.all([
    kubernetesVersion(client),
    calicoVersion(client),
    istioVersion(client),
  ]);
  return {
    kubernetes,
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

/** Where istiod runs: bulkhead reads istiod in this namespace only. */
export const ISTIO_NAMESPACE = 'istio-system';
/**
 * The webhook `istioctl tag set default --revision <rev>` writes; its `istio.io/rev` label is
 * the default revision (istio/istio@1.30.3 pkg/revisions/default_watcher.go:30,78).
 */
export const DEFAULT_TAG_WEBHOOK = 'istio-revision-tag-default';

export interface ControlPlane {
  /** The Deployment's name: `istiod`, or `istiod-<revision>`. */
  readonly name: string;
  /** `default` for an install without --revision. */
  readonly revision: string;
  /** The image tag (`1.30.4`); undefined when the image carries none. */
  readonly version?: string;
}

/**
 * Every istiod in istio-system, one Deployment per revision: the chart names it `istiod` or
 * `istiod-<revision>` and labels it `istio.io/rev: <revision or default>`
 * (istio/istio@1.30.3 manifests/charts/istio-control/istio-discovery/templates/deployment.yaml).
 */
export async function istioControlPlanes(client: KubeClient): Promise<ControlPlane[]> {
  let items: KubernetesObject[];
  try {
    items = (await client.list({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: ISTIO_NAMESPACE }))
      .items;
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
  return items
    .filter((d) => /^istiod(-|$)/.test(d.metadata?.name ?? ''))
    .map(controlPlaneOf)
    .sort((a, b) => a.name.localeCompare(b.name));
}

export function controlPlaneOf(d: KubernetesObject): ControlPlane {
  const name = d.metadata?.name ?? '';
  const containers =
    (d as { spec?: { template?: { spec?: { containers?: { name?: string; image?: string }[] } } } }).spec
      ?.template?.spec?.containers ?? [];
  const image = discoveryImage(containers);
  const version = image ? imageTag(image) : undefined;
  const revision = d.metadata?.labels?.['istio.io/rev'] ?? (name === 'istiod' ? 'default' : name.slice(7));
  return { name, revision, ...(version ? { version } : {}) };
}

/** istiod's image: its container is `discovery` (istio-discovery/templates/deployment.yaml @1.29.3). */
export function discoveryImage(
  containers: readonly { readonly name?: string; readonly image?: string }[],
): string | undefined {
  return (containers.find((c) => c.name === 'discovery') ?? containers[0])?.image;
}

/**
 * The control plane that injects bulkhead's namespaces. They are labelled
 * `istio-injection=enabled`, which only the default revision's webhooks select: an install
 * without a revision, or the revision the default tag points at; a revisioned injector selects
 * `istio.io/rev=<rev>` with `istio-injection` absent (istio/istio@1.30.3
 * manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml). Undefined when
 * no istiod is the default one.
 */
export async function defaultControlPlane(
  client: KubeClient,
  planes?: readonly ControlPlane[],
): Promise<ControlPlane | undefined> {
  const [all, tag] = await Promise.all([
    planes ?? istioControlPlanes(client),
    readOptional(client, {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      name: DEFAULT_TAG_WEBHOOK,
    }),
  ]);
  const tagged = tag?.metadata?.labels?.['istio.io/rev'];
  if (tagged) return all.find((p) => p.revision === tagged);
  return all.find((p) => p.name === 'istiod');
}

/** The default control plane's Istio version (see {@link defaultControlPlane}). */
export async function istioVersion(client: KubeClient): Promise<string | undefined> {
  return (await defaultControlPlane(client))?.version;
}

/**
 * Why no Istio version was found, in one sentence with its fix: no istiod at all, or istiods of
 * revisions none of which is the default, so the run's `istio-injection=enabled` namespaces
 * would get no sidecars.
 */
export function noDefaultIstiodProblem(planes: readonly ControlPlane[]): string {
  if (planes.length === 0)
    return `no istiod found in ${ISTIO_NAMESPACE}; install Istio, or run on a fresh cluster with --provider kind`;
  const listed = planes.map(
    (p) => `${p.name} (revision ${p.revision}${p.version ? `, Istio ${p.version}` : ''})`,
  );
  const first = planes[0]?.revision ?? '<revision>';
  return `${ISTIO_NAMESPACE} runs ${listed.join(', ')} but none is the default revision (no Deployment istiod, no MutatingWebhookConfiguration ${DEFAULT_TAG_WEBHOOK} naming one of them), and bulkhead labels its namespaces istio-injection=enabled, which only the default revision injects; make one the default with istioctl tag set default --revision ${first}`;
}

/** `docker.io/istio/pilot:1.29.3@sha256:…` → `1.29.3`; a distroless suffix is dropped. */
export function imageTag(image: string): string | undefined {
  const noDigest = image.split('@')[0] ?? image;
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  if (colon <= slash) return undefined;
  return noDigest.slice(colon + 1).replace(/-distroless$/, '');
}
