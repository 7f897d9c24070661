/**
 * The Istio versions a phase really ran with, read from the cluster rather than assumed from
 * the flags: each istiod Deployment's image (one per revision), and each of the run's pods'
 * sidecar (the istio-proxy container's image, or the revision in the injector's status
 * annotation), and which istiod serves each sidecar with the pushes it rejected, as the istiods
 * list them (served.ts). The mixed phase is only the mixed phase if these say so (claims.ts).
 */
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';

import { imageTag, istioControlPlanes, type ControlPlane } from '../cluster/detect.js';
import type { KubeClient } from '../kube/client.js';
import { WORKLOAD_LABEL } from '../run/fixtures.js';
import { runSelector } from '../run/identity.js';
import { proxyContainerOf } from '../run/sidecars.js';
import { observeServing, type ConfigRejection, type ServedBy } from './served.js';

/** The injector's record of what it added to a pod (JSON with the revision). */
export const SIDECAR_STATUS_ANNOTATION = 'sidecar.istio.io/status';

export interface PodProxy {
  /** `namespace/name`. */
  readonly pod: string;
  readonly uid: string;
  /** The sidecar's image tag; `none` for a pod without a sidecar. */
  readonly proxy: string;
  /** The injector's revision, when it recorded one. */
  readonly revision?: string;
  /** The scenario's workload the pod runs (its `bulkhead.dev/workload` label). */
  readonly workload?: string;
  /** The istiod the sidecar is connected to, as that istiod lists it; absent when none lists it. */
  readonly servedBy?: ServedBy;
}

export interface ObservedVersions {
  readonly controlPlanes: readonly ControlPlane[];
  readonly pods: readonly PodProxy[];
  /** Pushes the run's sidecars rejected (NACKs), each a fault of the phase. */
  readonly rejections: readonly ConfigRejection[];
  /** Why the istiods could not be asked which proxies they serve. */
  readonly servingError?: string;
}

export interface ObserveProps {
  readonly client: KubeClient;
  readonly kubeConfig: KubeConfig;
  readonly runId: string;
  readonly signal?: AbortSignal;
}

export async function observeVersions(props: ObserveProps): Promise<ObservedVersions> {
  const { client } = props;
  const [controlPlanes, pods, serving] = await Promise.all([
    istioControlPlanes(client),
    client.list<V1Pod>({ apiVersion: 'v1', kind: 'Pod', labelSelector: runSelector(props.runId) }),
    observeServing(client, props.kubeConfig, props.signal ? { signal: props.signal } : {}),
  ]);
  const run = new Set(pods.items.map((p) => `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`));
  return {
    controlPlanes,
    pods: pods.items
      .map((p) => {
        const proxy = podProxyOf(p);
        const by = serving.servedBy.get(proxy.pod);
        return by ? { ...proxy, servedBy: by } : proxy;
      })
      .sort((a, b) => a.pod.localeCompare(b.pod)),
    rejections: serving.rejections.filter((r) => run.has(r.pod)),
    ...(serving.error ? { servingError: serving.error } : {}),
  };
}

export function podProxyOf(pod: V1Pod): PodProxy {
  const image = proxyContainerOf(pod)?.image;
  const revision = sidecarRevision(pod.metadata?.annotations?.[SIDECAR_STATUS_ANNOTATION]);
  const workload = pod.metadata?.labels?.[WORKLOAD_LABEL];
  return {
    pod: `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`,
    uid: pod.metadata?.uid ?? '',
    proxy: image ? (imageTag(image) ?? 'unknown') : 'none',
    ...(revision ? { revision } : {}),
    ...(workload ? { workload } : {}),
  };
}

function sidecarRevision(status: string | undefined): string | undefined {
  if (!status) return undefined;
  try {
    const parsed = JSON.parse(status) as { revision?: unknown };
    return typeof parsed.revision === 'string' ? parsed.revision : undefined;
  } catch {
    return undefined;
  }
}

/** `istiod 1.30.4 (default)`, `1.29.3 ×4, none ×2`: one line for a table cell. */
export function controlPlaneText(v: ObservedVersions): string {
  if (v.controlPlanes.length === 0) return 'none';
  return v.controlPlanes
    .map((c) => `${c.version ?? 'unknown'}${c.revision === 'default' ? '' : ` (rev ${c.revision})`}`)
    .join(', ');
}

export function proxiesText(v: ObservedVersions): string {
  const counts = new Map<string, number>();
  for (const p of v.pods) counts.set(p.proxy, (counts.get(p.proxy) ?? 0) + 1);
  if (counts.size === 0) return 'no pods';
  return [...counts]
    .sort(([a], [b]) => (a === 'none' ? 1 : b === 'none' ? -1 : a.localeCompare(b)))
    .map(([version, n]) => `${version} ×${String(n)}`)
    .join(', ');
}
