/**
 * A live run checks its own footing before it judges: the cluster must hold what bulkhead
 * applied, and every pod must have the data plane the scenario says. A verdict on a cluster that
 * differs from the one described is worse than none, so each difference is an
 * {@link EnvironmentError} (exit 2) naming the object and the field, or the pod and the cause.
 *
 * Why read back at all when apply answers with the stored object: a field can be lost after the
 * answer was built (a CRD older than the fields bulkhead sets prunes them; a policy engine's
 * mutating webhook rewrites a policy; a controller reconciles it), and the evidence bundle must
 * hold the objects as the cluster keeps them, not as bulkhead rendered them.
 */
import type { KubernetesObject, V1Pod } from '@kubernetes/client-node';

import { EnvironmentError } from '../errors.js';
import type { KubeClient } from '../kube/client.js';
import { describeDrift, driftOf, type Drift, type DriftOptions } from '../kube/drift.js';
import { isNotFound } from '../kube/errors.js';
import { describeRef, refOf } from '../kube/objects.js';
import type { Scenario } from '../scenario/types.js';
import { describeMismatches, isSidecarInjectorWebhook, sidecarMismatches } from './sidecars.js';

/**
 * Lists a pod's server and injector may extend, and how their elements are matched: the
 * sidecar injector adds the proxy (a container, or a native-sidecar init container),
 * `istio-init` and its volumes; the service-account admission adds the token volume and its
 * mounts (kubernetes.io docs, "Service account admission controller").
 */
const POD_GROWTH: DriftOptions['growingLists'] = {
  'spec.containers': 'name',
  'spec.initContainers': 'name',
  'spec.volumes': 'name',
  'spec.containers[].volumeMounts': 'mountPath',
};

/** Read-backs at once: enough to be quick, few enough not to crowd a shared API server. */
const READ_CONCURRENCY = 8;

export interface ObjectDrift {
  /** `NetworkPolicy tenant-acme/allow-same-namespace` */
  readonly object: string;
  readonly drifts: readonly Drift[];
  /** The object is not there at all. */
  readonly missing: boolean;
}

/** A copy of a stored object without the server's bookkeeping that says nothing of its meaning. */
export function asStored(object: KubernetesObject): KubernetesObject {
  const { managedFields: _managed, ...metadata } = object.metadata ?? {};
  return { ...object, metadata };
}

/**
 * Reads every object back and compares it with what was rendered. Returns the stored objects
 * (in the order given) when all agree; throws an {@link EnvironmentError} naming each object
 * and field otherwise. `what` names the set for the message ("policies", "fixtures").
 */
export async function readBack(
  client: KubeClient,
  rendered: readonly KubernetesObject[],
  what: string,
): Promise<KubernetesObject[]> {
  const stored: (KubernetesObject | undefined)[] = new Array<KubernetesObject | undefined>(rendered.length);
  let next = 0;
  const worker = async () => {
    while (next < rendered.length) {
      const i = next++;
      const object = rendered[i];
      if (!object) continue;
      try {
        stored[i] = await client.read(refOf(object));
      } catch (error) {
        if (!isNotFound(error)) throw error;
        stored[i] = undefined;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, rendered.length) }, worker));
  const drifted = compareStored(rendered, stored);
  if (drifted.length > 0) throw driftFault(drifted, what);
  return stored.map((s) => asStored(s as KubernetesObject));
}

/** The objects whose stored form differs from the rendered one. Pure. */
export function compareStored(
  rendered: readonly KubernetesObject[],
  stored: readonly (KubernetesObject | undefined)[],
): ObjectDrift[] {
  const drifted: ObjectDrift[] = [];
  rendered.forEach((object, i) => {
    const name = describeRef(refOf(object));
    const have = stored[i];
    if (!have) {
      drifted.push({ object: name, drifts: [], missing: true });
      return;
    }
    const drifts = driftOf(object, have, object.kind === 'Pod' ? { growingLists: POD_GROWTH } : {});
    if (drifts.length > 0) drifted.push({ object: name, drifts, missing: false });
  });
  return drifted;
}

function driftFault(drifted: readonly ObjectDrift[], what: string): EnvironmentError {
  const lines = drifted
    .slice(0, 10)
    .map((d) =>
      d.missing
        ? `${d.object}: not found after it was applied`
        : `${d.object}: ${d.drifts.slice(0, 3).map(describeDrift).join('; ')}${d.drifts.length > 3 ? `; and ${d.drifts.length - 3} more fields` : ''}`,
    );
  if (drifted.length > 10) lines.push(`and ${drifted.length - 10} more objects`);
  return new EnvironmentError(
    `the cluster does not hold the ${what} bulkhead applied (${drifted.length} object${drifted.length === 1 ? '' : 's'} differ), so no verdict would be about the policies described:\n  ${lines.join('\n  ')}`,
    {
      hint: "a mutating admission webhook (a policy engine, a mesh injector) or an older CRD changed them; list the cluster's MutatingWebhookConfigurations and compare the CRD versions with the ones the policies need",
    },
  );
}

/**
 * Every run pod has `istio-proxy` exactly where the scenario says; otherwise an
 * {@link EnvironmentError} naming each pod and the likely cause.
 */
export async function checkSidecars(
  client: KubeClient,
  scenario: Scenario,
  pods: readonly V1Pod[],
): Promise<void> {
  const mismatches = sidecarMismatches(scenario, pods);
  if (mismatches.length === 0) return;
  const injectors = await client
    .list({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration' })
    .then(({ items }) =>
      items.flatMap((c) =>
        ((c as { webhooks?: { name?: string }[] }).webhooks ?? [])
          .map((w) => w.name ?? '')
          .filter(isSidecarInjectorWebhook)
          .map((w) => `${c.metadata?.name ?? ''}/${w}`),
      ),
    )
    .catch(() => undefined);
  throw new EnvironmentError(
    `the pods do not have the data plane the scenario says: ${describeMismatches(mismatches, injectors).join('; ')}`,
    {
      hint: 'without the sidecar, L7 attempts would be judged on a mesh that is not there; fix the injection, or set sidecar: false on those workloads',
    },
  );
}
