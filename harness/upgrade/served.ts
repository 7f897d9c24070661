/**
 * Which istiod serves each of the run's sidecars, and which pushes they rejected, as istiod
 * itself says: every istiod pod's `/debug/syncz` lists the proxies connected to *it*
 * (harness/cluster/istiod-sync.ts, the one reader). A sidecar's image says what it runs, not
 * where it gets its configuration from: a pod injected by the default revision keeps
 * `discoveryAddress: istiod.istio-system.svc:15012`, whose Service still selects the old istiod
 * after a canary install, so only istiod's own list proves a "mixed" phase.
 *
 * A NACK (`lastError` on a type, istiod-sync's {@link rejections}) is a config rejection: the
 * proxy kept its previous configuration of that type, so what the phase measured is not what
 * istiod sent. Each one is recorded with the proxy, the istiod and the type.
 */
import type { KubeConfig } from '@kubernetes/client-node';

import { istiodPods, readSyncz, rejections, type IstiodPod } from '../cluster/istiod-sync.js';
import type { KubeClient } from '../kube/client.js';
import { messageOf } from '../values.js';

/** The istiod that serves a sidecar. */
export interface ServedBy {
  /** `namespace/name` of the istiod pod. */
  readonly istiod: string;
  readonly revision: string;
  /** istiod's version (its image tag). */
  readonly version?: string;
}

/** A push a proxy rejected. */
export interface ConfigRejection {
  /** `namespace/name` of the proxy's pod. */
  readonly pod: string;
  readonly istiod: string;
  readonly revision: string;
  /** `LDS`, `CDS`, … */
  readonly type: string;
  readonly message: string;
}

export interface Serving {
  /** By pod (`namespace/name`): the istiod it is connected to. */
  readonly servedBy: ReadonlyMap<string, ServedBy>;
  readonly rejections: readonly ConfigRejection[];
  /** Why istiod could not be read (then nothing above is known). */
  readonly error?: string;
}

function servedBy(istiod: IstiodPod): ServedBy {
  return {
    istiod: `${istiod.namespace}/${istiod.name}`,
    revision: istiod.revision,
    ...(istiod.version ? { version: istiod.version } : {}),
  };
}

/**
 * Asks every Ready istiod pod for its proxies. A proxy listed by two istiods (it reconnected
 * while both ran) is taken as served by the one that sent it something most recently.
 */
export async function observeServing(
  client: KubeClient,
  kubeConfig: KubeConfig,
  options: { readonly timeoutMs?: number; readonly signal?: AbortSignal } = {},
): Promise<Serving> {
  const served = new Map<string, { by: ServedBy; lastSent: number }>();
  const rejected: ConfigRejection[] = [];
  try {
    const pods = (await istiodPods(client)).filter((p) => p.ready);
    if (pods.length === 0) return { servedBy: new Map(), rejections: [], error: 'no istiod pod is Ready' };
    for (const istiod of pods) {
      for (const proxy of await readSyncz(kubeConfig, istiod, options)) {
        const pod = `${proxy.namespace}/${proxy.pod}`;
        const lastSent = Math.max(0, ...[...proxy.types.values()].map((t) => t.sentTime ?? t.pushedAt ?? 0));
        const known = served.get(pod);
        if (!known || lastSent > known.lastSent) served.set(pod, { by: servedBy(istiod), lastSent });
        for (const r of rejections(proxy))
          rejected.push({
            pod,
            istiod: `${istiod.namespace}/${istiod.name}`,
            revision: istiod.revision,
            ...r,
          });
      }
    }
  } catch (error) {
    return { servedBy: new Map(), rejections: [], error: messageOf(error) };
  }
  return {
    servedBy: new Map([...served].map(([pod, s]) => [pod, s.by])),
    rejections: rejected.sort((a, b) => a.pod.localeCompare(b.pod) || a.type.localeCompare(b.type)),
  };
}
