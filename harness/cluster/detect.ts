/**
 * What a live cluster runs: the Kubernetes version (GET /version), the Calico version (the
 * operator's Installation status, else Calico's ClusterInformation) and the Istio version (the
 * istiod image tag). Read through the kube layer; anything absent is reported as absent.
 */
import { VersionApi, type KubernetesObject } from '@kubernetes/client-node';

import type { KubeClient } from '../kube/client.js';
import type { ObjectRef } from '../kube/objects.js';

export interface ClusterVersions {
  /** `v1.35.0` */
  readonly kubernetes?: string;
  /** `v3.31.2` */
  readonly calico?: string;
  /** `1.29.3` */
  readonly istio?: string;
}

export async function kubernetesVersion(client: KubeClient): Promise<string> {
  const info = await client.kubeConfig.makeApiClient(VersionApi).getCode();
  return info.gitVersion;
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

/** Reads an object whose kind may not even be served: undefined for "not there" of any sort. */
async function readOptional(client: KubeClient, ref: ObjectRef): Promise<KubernetesObject | undefined> {
  try {
    return await client.read(ref);
  } catch {
    return undefined;
  }
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
