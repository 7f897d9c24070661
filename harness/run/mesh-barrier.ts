/**
 * The mesh barrier: rounds start counting only when every run sidecar runs the Istio
 * configuration the run applied, as istiod's own bookkeeping shows it (harness/cluster/istiod-sync.ts,
 * docs/behaviour.md §F3), instead of a fixed sleep.
 *
 * 1. Before the policies ({@link prepareMeshBarrier}): the istiod pods of the revisions that
 *    injected the run's sidecars, and what each sidecar was last sent (the baseline).
 * 2. The policies are applied; T1 is the moment the last apply returned.
 * 3. {@link waitForMeshSync} polls `/debug/syncz` of those istiods until every run sidecar is in
 *    order. A sidecar in a namespace the run's Istio objects apply to (theirs, or the mesh root
 *    namespace: the only sidecars an AuthorizationPolicy, RequestAuthentication, EnvoyFilter or,
 *    before 1.30, a PeerAuthentication is pushed to, istio@1.30.3
 *    `pilot/pkg/model/sidecar.go:54-63,598-614`, `pilot/pkg/xds/proxy_dependencies.go`) must have
 *    acknowledged a listener (LDS) push newer than the baseline and sent after T1, with no
 *    rejection. LDS is the type every one of those kinds changes for a sidecar; CDS and RDS skip
 *    AuthorizationPolicy and RDS skips PeerAuthentication (`pilot/pkg/xds/cds.go:34-46`,
 *    `rds.go:32-44`, `lds.go:35-52`), so waiting on them could wait for a push that never comes.
 *    Every other run sidecar gets no push (C1.2), and must only have nothing pending: every type
 *    it watches SYNCED, none rejected.
 *
 * What it proves, and what it does not (docs/behaviour.md §F3):
 * - the proxies concerned acknowledged a listener push istiod sent after the last policy was
 *   stored; it does not prove that push already held the policies (istiod builds a push from its
 *   informers, which may lag the API server; debounced by 100 ms, `pilot/pkg/features/tuning.go:77-90`)
 *   nor read the proxy's config_dump (C1.5);
 * - `sentTime` is istiod's clock and T1 this machine's: a clock of istiod behind this one by more
 *   than the push's own delay makes the barrier time out (it then says so), never pass early; the
 *   baseline nonce guards the other direction;
 * - a sidecar outside those namespaces that a change does reach (a 1.30 PeerAuthentication reaches
 *   clients of the namespace's services) is only seen not pending at the poll.
 */
import type { KubeConfig, KubernetesObject, V1Pod } from '@kubernetes/client-node';

import {
  istiodPods,
  isSyncedAfter,
  podRevision,
  proxyIdOf,
  readSyncz,
  rejections,
  typeState,
  type IstiodPod,
  type ProxySync,
  type SyncState,
} from '../cluster/istiod-sync.js';
import { EnvironmentError } from '../errors.js';
import type { KubeClient } from '../kube/client.js';
import { apiGroupOf } from '../policies/kinds.js';
import type { BarrierRecord } from '../results/records.js';
import { messageOf } from '../values.js';
import type { RunClock } from './clock.js';
import type { Progress } from './progress.js';
import { proxyContainerOf } from './sidecars.js';

/** The type a sidecar must have acknowledged after the policies (see the header). */
export const PUSHED_TYPE = 'LDS';

type MeshPart = BarrierRecord['mesh'];

/** What the barrier waits on, read before the policies. */
export interface MeshBaseline {
  /** The run's sidecars: proxy id → pod, and whether the run's Istio objects concern it. */
  readonly sidecars: ReadonlyMap<string, { readonly pod: V1Pod; readonly pushed: boolean }>;
  readonly revisions: ReadonlySet<string>;
  /** Each sidecar's last LDS nonce before the policies. */
  readonly before: ReadonlyMap<string, string>;
}

export interface MeshBarrierProps {
  readonly kubeConfig: KubeConfig;
  readonly client: KubeClient;
  /** The run's Ready pods; those with an istio-proxy are the ones checked. */
  readonly pods: readonly V1Pod[];
  /** The manifests the run applies (only the Istio ones matter). */
  readonly objects: readonly KubernetesObject[];
  readonly rootNamespace: string;
  readonly clock: RunClock;
  readonly progress: Progress;
  readonly timeoutMs: number;
  /** Pause between polls. @default 500 */
  readonly intervalMs?: number;
  readonly signal?: AbortSignal;
}

/** One sidecar's state when the barrier gave up (C1.3's words, plus NOT CONNECTED). */
export interface ProxyWaiting {
  /** `namespace/pod` */
  readonly proxy: string;
  readonly state: SyncState | 'NOT CONNECTED';
  /** Why, in one phrase: `LDS STALE`, `LDS rejected: …`, `no LDS push since the policies`. */
  readonly detail: string;
  /** `namespace/name` of the istiod that answered for it. */
  readonly istiod?: string;
}

/** The sidecars did not acknowledge the policies in time (exit 2): nothing was attempted. */
export class MeshSyncTimeout extends EnvironmentError {
  override readonly name = 'MeshSyncTimeout';
  readonly waiting: readonly ProxyWaiting[];
  readonly part: MeshPart;
  constructor(message: string, waiting: readonly ProxyWaiting[], part: MeshPart, hint: string) {
    super(message, { hint });
    this.waiting = waiting;
    this.part = part;
  }
}

/**
 * Before the policies: whether the barrier applies, and if so the sidecars, their istiods and
 * their baseline; otherwise the barrier record's mesh part saying why not.
 */
export async function prepareMeshBarrier(
  props: MeshBarrierProps,
): Promise<{ readonly baseline: MeshBaseline } | { readonly skip: MeshPart }> {
  if (props.timeoutMs <= 0)
    return {
      skip: { status: 'skipped', reasoning: 'turned off (--barrier-timeout 0): --settle is the only wait' },
    };
  const istio = props.objects.filter((o) => apiGroupOf(o.apiVersion ?? '')?.engine === 'istio');
  if (istio.length === 0)
    return { skip: { status: 'skipped', reasoning: 'the run applies no Istio configuration' } };
  const withProxy = props.pods.filter((p) => proxyContainerOf(p));
  if (withProxy.length === 0)
    return { skip: { status: 'skipped', reasoning: 'no run pod has an Istio sidecar' } };
  const namespaces = new Set(istio.map((o) => o.metadata?.namespace ?? ''));
  const everywhere = namespaces.has(props.rootNamespace);
  const sidecars = new Map(
    withProxy.map((pod) => {
      const namespace = pod.metadata?.namespace ?? '';
      return [
        proxyIdOf({ namespace, name: pod.metadata?.name ?? '' }),
        { pod, pushed: everywhere || namespaces.has(namespace) },
      ] as const;
    }),
  );
  const revisions = new Set(withProxy.map(podRevision));
  let read: Awaited<ReturnType<typeof readAll>>;
  try {
    read = await readAll(props, revisions);
  } catch (error) {
    return {
      skip: {
        status: 'unavailable',
        reasoning: `istiod's sync status could not be read (${messageOf(error)}): --settle is the only wait for Istio configuration`,
      },
    };
  }
  const before = new Map<string, string>();
  for (const id of sidecars.keys()) {
    const sent = read.proxies.get(id)?.types.get(PUSHED_TYPE)?.sent;
    if (sent) before.set(id, sent);
  }
  return { baseline: { sidecars, revisions, before } };
}

/** The syncz of every Ready istiod of these revisions, merged by proxy (the newest LDS send wins). */
async function readAll(
  props: Pick<MeshBarrierProps, 'kubeConfig' | 'client' | 'signal'>,
  revisions: ReadonlySet<string>,
): Promise<{ istiods: IstiodPod[]; proxies: Map<string, ProxySync> }> {
  const all = await istiodPods(props.client);
  const istiods = all.filter((p) => p.ready && revisions.has(p.revision));
  if (istiods.length === 0) {
    const seen = all.map((p) => `${p.namespace}/${p.name} (${p.revision}${p.ready ? '' : ', not Ready'})`);
    throw new EnvironmentError(
      `no Ready istiod pod of revision ${[...revisions].join(', ')} (label app=istiod)${seen.length > 0 ? `; found ${seen.join(', ')}` : ''}`,
    );
  }
  const proxies = new Map<string, ProxySync>();
  for (const answer of await Promise.all(
    istiods.map((i) => readSyncz(props.kubeConfig, i, props.signal ? { signal: props.signal } : {})),
  )) {
    for (const p of answer) {
      const held = proxies.get(p.proxyId);
      const sentAt = (s: ProxySync | undefined) => s?.types.get(PUSHED_TYPE)?.sentTime ?? 0;
      if (!held || sentAt(p) > sentAt(held)) proxies.set(p.proxyId, p);
    }
  }
  return { istiods, proxies };
}

export interface MeshWait {
  readonly ms: number;
  readonly polls: number;
  readonly part: MeshPart;
}

/**
 * Polls istiod until every run sidecar is in order (see the header), or the deadline passes:
 * then a {@link MeshSyncTimeout} naming each sidecar not in order and its state.
 * `t1`: when the last policy apply returned, ms since the epoch (compared with istiod's clock).
 */
export async function waitForMeshSync(
  props: MeshBarrierProps,
  baseline: MeshBaseline,
  t1: number,
): Promise<MeshWait> {
  const started = props.clock.now();
  const deadline = started + props.timeoutMs;
  const total = baseline.sidecars.size;
  const pushed = [...baseline.sidecars.values()].filter((s) => s.pushed).length;
  let waiting: ProxyWaiting[] = [];
  let istiods: IstiodPod[] = [];
  let failure: string | undefined;
  for (let poll = 1; ; poll++) {
    if (props.signal?.aborted) throw new Error('interrupted');
    try {
      const read = await readAll(props, baseline.revisions);
      istiods = read.istiods;
      failure = undefined;
      waiting = [...baseline.sidecars].flatMap(([id, s]) => {
        const w = notInOrder(read.proxies.get(id), s.pushed, baseline.before.get(id), t1);
        return w ? [{ proxy: `${s.pod.metadata?.namespace ?? ''}/${s.pod.metadata?.name ?? ''}`, ...w }] : [];
      });
    } catch (error) {
      if (props.signal?.aborted) throw new Error('interrupted', { cause: error });
      failure = messageOf(error);
    }
    const servers = istiods.map((i) => `${i.namespace}/${i.name}`).join(', ');
    props.progress.update(
      failure
        ? `mesh: reading istiod failed (${failure}); trying again`
        : `mesh: ${total - waiting.length}/${total} sidecars in order (${pushed} acknowledged the policies' push) per istiod ${servers}`,
    );
    const summary = {
      ms: props.clock.now() - started,
      polls: poll,
      proxies: total,
      pushed,
      istiods: istiods.map((i) => ({
        pod: `${i.namespace}/${i.name}`,
        revision: i.revision,
        ...(i.version ? { version: i.version } : {}),
      })),
    };
    if (!failure && waiting.length === 0) {
      return {
        ms: summary.ms,
        polls: poll,
        part: {
          status: 'passed',
          reasoning:
            `istiod ${servers} saw each of ${pushed} sidecar(s) in the namespaces the run's Istio configuration applies to acknowledge a listener (LDS) push sent after the last policy was applied, with no rejection` +
            (total > pushed ? `, and the other ${total - pushed} with nothing pending` : '') +
            `, ${summary.ms} ms after the policies (${poll} poll(s))`,
          ...summary,
        },
      };
    }
    if (props.clock.now() >= deadline) {
      const seconds = Math.round(props.timeoutMs / 1000);
      const message = failure
        ? `istiod's sync status could not be read within ${seconds} s after the policies: ${failure}`
        : `istiod did not see ${waiting.length} of ${total} run sidecars take the policies within ${seconds} s: ${waiting
            .slice(0, 5)
            .map((w) => `${w.proxy} (${w.state}: ${w.detail})`)
            .join(', ')}${waiting.length > 5 ? ', …' : ''}`;
      const rejected = waiting.some((w) => w.state === 'ERROR');
      const late = waiting.some((w) => w.detail.startsWith('no LDS push'));
      throw new MeshSyncTimeout(
        message,
        waiting,
        { status: 'timed-out', reasoning: message, ...summary, waiting: waiting.map((w) => ({ ...w })) },
        rejected
          ? 'a sidecar rejected (NACKed) the push, so it runs older configuration: istioctl proxy-status and the istio-proxy logs of those pods say why; the policies may need fixing'
          : late
            ? "istiod has not pushed to those sidecars since the policies: check istiod's logs and load, whether its clock is behind this machine's, or give --barrier-timeout more time"
            : 'check istiod and the istio-proxy of those pods (istioctl proxy-status), or give --barrier-timeout more time',
      );
    }
    await props.clock.sleep(props.intervalMs ?? 500, props.signal);
  }
}

/** Why one sidecar is not in order yet, or undefined when it is. */
function notInOrder(
  entry: ProxySync | undefined,
  pushed: boolean,
  before: string | undefined,
  t1: number,
): Omit<ProxyWaiting, 'proxy'> | undefined {
  if (!entry) return { state: 'NOT CONNECTED', detail: 'not connected to any istiod read' };
  const istiod = `${entry.istiod.namespace}/${entry.istiod.name}`;
  const nack = rejections(entry)[0];
  if (nack) return { state: 'ERROR', detail: `${nack.type} rejected: ${nack.message}`, istiod };
  const pending = [...entry.types.values()].find((t) => typeState(t) === 'STALE');
  if (pending) return { state: 'STALE', detail: `${pending.type} sent, not acknowledged yet`, istiod };
  if (!pushed) return undefined;
  const lds = entry.types.get(PUSHED_TYPE);
  if (lds?.sent && lds.sent !== before && isSyncedAfter(entry, [PUSHED_TYPE], t1)) return undefined;
  return { state: 'NOT SENT', detail: `no ${PUSHED_TYPE} push since the policies`, istiod };
}
