/**
 * What the upgrade does to the run's own objects, through the kube layer's client-node
 * connection (never kubectl): relabel injected namespaces for a revision, and restart the
 * workloads so the injector gives them the new sidecar. Patches, like kubectl's, under their own
 * field manager, so the run's server-side applies keep owning everything else.
 */
import type { KubernetesObject, V1Pod } from '@kubernetes/client-node';

import type { StepLog } from '../cluster/commands.js';
import type { KubeClient, PatchType } from '../kube/client.js';
import { isPodReady } from '../kube/pods.js';
import { RolloutWait } from '../kube/rollout.js';
import { waitFor } from '../kube/wait.js';
import { WORKLOAD_LABEL } from '../run/fixtures.js';
import { runSelector } from '../run/identity.js';
import type { Scenario } from '../scenario/types.js';

export const FIELD_MANAGER = 'bulkhead-upgrade';
/** The annotation `kubectl rollout restart` sets on the pod template. */
export const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';

async function patch(client: KubeClient, object: KubernetesObject, type: PatchType): Promise<void> {
  const { name = '', namespace } = object.metadata ?? {};
  await client.patch(
    { apiVersion: object.apiVersion ?? '', kind: object.kind ?? '', name, namespace },
    object,
    type,
    { fieldManager: FIELD_MANAGER },
  );
}

/**
 * Points every injected namespace of the scenario at a revision: `istio.io/rev=<rev>`, and no
 * `istio-injection` (which would take precedence and keep the old injector). The run applies
 * `istio-injection=enabled` again with its fixtures, so this is repeated before any pod is
 * created (the restart); pods that exist are not touched by a label on their namespace.
 */
export async function relabelForRevision(
  client: KubeClient,
  scenario: Scenario,
  revision: string,
  log: StepLog,
): Promise<string[]> {
  const names = scenario.namespaces.filter((ns) => ns.injection).map((ns) => ns.name);
  for (const name of names) {
    log(`$ kubectl label namespace ${name} istio-injection- istio.io/rev=${revision} --overwrite`);
    await patch(
      client,
      {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name, labels: { 'istio-injection': null, 'istio.io/rev': revision } as never },
      },
      'merge',
    );
  }
  return names;
}

/** The labels of the pods a fixture makes: a Deployment's template's, a bare pod's own. */
function podLabelsOf(o: KubernetesObject): Record<string, string> {
  if (o.kind === 'Pod') return o.metadata?.labels ?? {};
  return (
    (o as { spec?: { template?: { metadata?: { labels?: Record<string, string> } } } }).spec?.template
      ?.metadata?.labels ?? {}
  );
}

/**
 * The half of each tenant a canary upgrade moves before the mixed phase: in every injected
 * namespace, the scenario's workloads with a sidecar (Deployments and bare probe pods) by name,
 * every second one (the 2nd, 4th, …: ⌊n/2⌋ of n). A namespace with one such workload keeps it on
 * the old revision; attempts between a moved and a staying workload are the cross-revision ones.
 */
export function canaryHalf(scenario: Scenario, fixtures: readonly KubernetesObject[]): KubernetesObject[] {
  const injected = new Set(scenario.namespaces.filter((ns) => ns.injection).map((ns) => ns.name));
  const byNamespace = new Map<string, KubernetesObject[]>();
  const meshed = fixtures.filter(
    (o) =>
      (o.kind === 'Deployment' || o.kind === 'Pod') && podLabelsOf(o)['sidecar.istio.io/inject'] !== 'false',
  );
  for (const d of meshed) {
    const ns = d.metadata?.namespace ?? '';
    if (!injected.has(ns)) continue;
    byNamespace.set(ns, [...(byNamespace.get(ns) ?? []), d]);
  }
  return [...byNamespace.values()].flatMap((ds) =>
    ds
      .sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''))
      .filter((_, i) => i % 2 === 1),
  );
}

export interface RestartProps {
  readonly client: KubeClient;
  readonly runId: string;
  /** The run's fixtures as rendered (the bare probe pods are recreated from them). */
  readonly fixtures: readonly KubernetesObject[];
  readonly log: StepLog;
  /** @default 300000 */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** @default new Date() */
  readonly now?: Date;
}

export interface Restarted {
  readonly deployments: number;
  readonly pods: number;
}

/**
 * `kubectl rollout restart` for the run's Deployments (a new template annotation) and delete +
 * create for its bare probe pods, then waits until each Deployment's rollout is complete
 * ({@link RolloutWait}), no pod from before is left and every new one is Ready: the next phase
 * must not measure an old sidecar by accident.
 */
export async function restartWorkloads(props: RestartProps): Promise<Restarted> {
  const { client, log } = props;
  const selector = runSelector(props.runId);
  const deployments = props.fixtures.filter((o) => o.kind === 'Deployment');
  const bare = props.fixtures.filter((o) => o.kind === 'Pod');
  // The pods of the workloads restarted (all of them, or the half a canary moves): a Deployment's
  // and a bare pod's carry the workload's name, which is the object's.
  const restarted = new Set(
    [...deployments, ...bare].map((o) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`),
  );
  const ofRestarted = (p: V1Pod) =>
    restarted.has(`${p.metadata?.namespace ?? ''}/${p.metadata?.labels?.[WORKLOAD_LABEL] ?? ''}`);
  const before = await client.list<V1Pod>({ apiVersion: 'v1', kind: 'Pod', labelSelector: selector });
  const oldUids = new Set(before.items.filter(ofRestarted).map((p) => p.metadata?.uid ?? ''));
  const stamp = (props.now ?? new Date()).toISOString();
  for (const d of deployments) {
    const { name = '', namespace = '' } = d.metadata ?? {};
    log(`$ kubectl rollout restart deployment/${name} -n ${namespace}`);
    await patch(
      client,
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name, namespace },
        spec: { template: { metadata: { annotations: { [RESTARTED_AT]: stamp } } } },
      } as KubernetesObject,
      'strategic',
    );
  }
  for (const pod of bare) {
    const { name = '', namespace = '' } = pod.metadata ?? {};
    log(
      `$ kubectl delete pod ${name} -n ${namespace} --wait && kubectl apply --server-side -f <pod ${name}>`,
    );
    await client.delete({ apiVersion: 'v1', kind: 'Pod', name, namespace });
    await waitFor<V1Pod>(client, {
      selection: { apiVersion: 'v1', kind: 'Pod', namespace, fieldSelector: `metadata.name=${name}` },
      until: (ps) => ps.length === 0,
      timeoutMs: props.timeoutMs ?? 300_000,
      description: `pod ${namespace}/${name} to be gone`,
      ...(props.signal ? { signal: props.signal } : {}),
    });
    await client.apply(pod);
  }
  // Each Deployment's rollout by the one rule istiod's rollout uses too; a pod from before the
  // restart is old, whatever its template says.
  const rollouts = new RolloutWait({
    client,
    timeoutMs: props.timeoutMs ?? 300_000,
    ...(props.signal ? { signal: props.signal } : {}),
  });
  for (const d of deployments) {
    const { name = '', namespace = '' } = d.metadata ?? {};
    log(`$ kubectl rollout status deployment/${name} -n ${namespace}  # and no pod from before Ready`);
    await rollouts.until({
      namespace,
      name,
      description: 'restarted onto the new sidecar',
      isOld: (pod) => oldUids.has(pod.metadata?.uid ?? ''),
    });
  }
  const wanted = deployments.length + bare.length;
  log(
    `$ kubectl wait --for=condition=Ready pod -l ${selector} --all-namespaces  # ${String(wanted)} new pods`,
  );
  await waitFor<V1Pod>(client, {
    selection: { apiVersion: 'v1', kind: 'Pod', labelSelector: selector },
    until: (all) => {
      const ps = all.filter(ofRestarted);
      return ps.every((p) => !oldUids.has(p.metadata?.uid ?? '')) && ps.filter(isPodReady).length >= wanted;
    },
    timeoutMs: props.timeoutMs ?? 300_000,
    description: `the ${String(wanted)} restarted pods to replace the old ones and be Ready`,
    describeState: (all) => {
      const ps = all.filter(ofRestarted);
      const old = ps.filter((p) => oldUids.has(p.metadata?.uid ?? '')).length;
      return `${String(old)} old pods left, ${String(ps.filter(isPodReady).length)} Ready`;
    },
    ...(props.signal ? { signal: props.signal } : {}),
  });
  return { deployments: deployments.length, pods: bare.length };
}
