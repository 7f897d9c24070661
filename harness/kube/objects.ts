import type { KubernetesObject } from '@kubernetes/client-node';

/** Names one object: enough to read, patch or delete it. */
export interface ObjectRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace?: string | undefined;
  readonly name: string;
}

/** What a list or watch selects. */
export interface Selection {
  readonly apiVersion: string;
  readonly kind: string;
  /** Omit for cluster-scoped kinds, or to select across all namespaces. */
  readonly namespace?: string | undefined;
  readonly labelSelector?: string | undefined;
  readonly fieldSelector?: string | undefined;
}

export function refOf(object: KubernetesObject): ObjectRef {
  return {
    apiVersion: object.apiVersion ?? '',
    kind: object.kind ?? '',
    namespace: object.metadata?.namespace,
    name: object.metadata?.name ?? '',
  };
}

/** `Deployment tenant-acme/api-gateway`, `Namespace tenant-acme`. */
export function describeRef(ref: Pick<ObjectRef, 'kind' | 'namespace' | 'name'>): string {
  return `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`;
}
