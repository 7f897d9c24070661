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
 * - a push istiod sent *before* the apply returned (the API server stored the last policy, istiod
 *   pushed within its debounce, and the response reached this machine later: a loaded runner) is
 *   not after T1, and no other push may come. Such a sidecar is still in order when the last object
 *   that changes its configuration is one of the run's AuthorizationPolicies and istiod's config for
 *   it, built from the push it acknowledged, names that policy's rules ({@link heldByContent});
 *   otherwise it waits as before (a PeerAuthentication or EnvoyFilter last has no name to look for);
 * - a sidecar outside those namespaces that a change does reach (a 1.30 PeerAuthentication reaches
 *   clients of the namespace's services) is only seen not pending at the poll.
 *
 * Ambient pods have no proxy of their own in syncz; their policy is enforced by ztunnel (L4) and
 * by waypoints (L7), which are istiod's proxies (../shared/reference/ambient-cnp-facts.md C1.1:
 * `proxy_type` `ztunnel` / `waypoint`, ids `<pod>.<namespace>`). With ambient run pods the barrier
 * reads every Ready istiod (ambient pods are not injected, so no revision names them) and waits,
 * as C1.2 says, on:
 * - **every ztunnel** connected: when the run applies an AuthorizationPolicy without `targetRefs`
 *   (ztunnel enforces those, A4.1) or a PeerAuthentication (converted to ztunnel policy, A4.7) in
 *   a namespace of ambient run pods or the root namespace, an authorization (WADS,
 *   `istio.security.Authorization`) push sent after T1 and acknowledged; otherwise nothing pending.
 *   No ztunnel connected while run pods are captured is a wait, and at the deadline a fault;
 * - **each waypoint pod** of the scenario's waypoints (label `gateway.networking.k8s.io/gateway-name`):
 *   when the run applies an AuthorizationPolicy with `targetRefs` in its namespace or the root
 *   namespace (A4.4, A4.5), a listener (LDS) push sent after T1 and acknowledged; otherwise nothing
 *   pending.
 * Not read, and said so in the record: the content checks C1.5/C1.6 (ztunnel's and the waypoint's
 * `config_dump` on their loopback-only admin port, which needs a port-forward per pod), so, as for
 * sidecars, the barrier proves an acknowledged push after the policies, not that it held them;
 * whether istiod pushes authorizations to a ztunnel none of whose pods a policy selects is not in
 * the facts, and the barrier waits on every ztunnel (a ztunnel with no such push makes it time out,
 * never pass early).
 */
import type { KubeConfig, KubernetesObject, V1Pod } from '@kubernetes/client-node';

import {
  istiodPods,
  isSyncedAfter,
  nonceOfVersion,
  podRevision,
  proxyIdOf,
  rbacPolicyName,
  readPushedConfig,
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
import { GATEWAY_NAME_LABEL } from './ambient-footing.js';
import { proxyContainerOf } from './sidecars.js';

/** The type a sidecar (and a waypoint) must have acknowledged after the policies (see the header). */
export const PUSHED_TYPE = 'LDS';
/** The type a ztunnel must have acknowledged after policies it enforces (C1.2). */
export const ZTUNNEL_PUSHED_TYPE = 'WADS';

type MeshPart = BarrierRecord['mesh'];

/** A proxy the barrier waits on: its kind, `namespace/pod`, and the push it needs, if any. */
export interface MeshSubject {
  readonly kind: 'sidecar' | 'waypoint' | 'ztunnel';
  readonly label: string;
  /** Whether the run's Istio objects concern it: it must acknowledge a push of `type` after T1. */
  readonly pushed: boolean;
  readonly type: string;
  /** The namespaces whose Istio objects concern it (its push must follow their last apply). */
  readonly scope: readonly string[];
  /**
   * The last of the run's objects that changes this sidecar's configuration, when that is an
   * AuthorizationPolicy in a scenario namespace: the policy whose name in istiod's config for it
   * proves a push that came before the apply returned (see {@link waitForMeshSync}).
   */
  readonly last?: { readonly namespace: string; readonly name: string };
}

/** What the barrier waits on, read before the policies. */
export interface MeshBaseline {
  /** The run's sidecars and the scenario's waypoint pods, by proxy id. */
  readonly proxies: ReadonlyMap<string, MeshSubject>;
  /** The revisions whose istiods are read; undefined: every Ready istiod (ambient). */
  readonly revisions: ReadonlySet<string> | undefined;
  /** Each proxy's last nonce of its type before the policies (ztunnels' too). */
  readonly before: ReadonlyMap<string, string>;
  /**
   * With ambient run pods: whether every ztunnel connected must acknowledge an authorization push
   * after T1 (the run applies policy ztunnel enforces); undefined without ambient run pods.
   */
  readonly ztunnel?: {
    readonly pushed: boolean;
    readonly captured: number;
    readonly scope: readonly string[];
  };
}

/** The ambient side of a run, for the barrier: its captured pods and its waypoints. */
export interface MeshAmbient {
  /** How many run pods ztunnel captures, and their namespaces. */
  readonly captured: number;
  readonly namespaces: readonly string[];
  readonly waypoints: readonly { readonly namespace: string; readonly name: string }[];
}

export interface MeshBarrierProps {
  readonly kubeConfig: KubeConfig;
  readonly client: KubeClient;
  /** The run's Ready pods; those with an istio-proxy are the ones checked. */
  readonly pods: readonly V1Pod[];
  /** The manifests the run applies (only the Istio ones matter). */
  readonly objects: readonly KubernetesObject[];
  readonly rootNamespace: string;
  /** The run's ambient pods and waypoints; absent or none captured: sidecars alone. */
  readonly ambient?: MeshAmbient;
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
  const ambient = props.ambient && props.ambient.captured > 0 ? props.ambient : undefined;
  if (withProxy.length === 0 && !ambient)
    return {
      skip: { status: 'skipped', reasoning: 'no run pod has an Istio sidecar or is captured by ztunnel' },
    };
  const namespaces = new Set(istio.map((o) => o.metadata?.namespace ?? ''));
  const everywhere = namespaces.has(props.rootNamespace);
  const proxies = new Map<string, MeshSubject>();
  for (const pod of withProxy) {
    const namespace = pod.metadata?.namespace ?? '';
    const last = lastChange(pod, istio, props.rootNamespace);
    proxies.set(proxyIdOf({ namespace, name: pod.metadata?.name ?? '' }), {
      kind: 'sidecar',
      label: `${namespace}/${pod.metadata?.name ?? ''}`,
      pushed: everywhere || namespaces.has(namespace),
      type: PUSHED_TYPE,
      scope: [namespace, props.rootNamespace],
      ...(last ? { last } : {}),
    });
  }
  let ztunnel: MeshBaseline['ztunnel'];
  if (ambient) {
    const inScope = (o: KubernetesObject, scope: ReadonlySet<string>) => {
      const ns = o.metadata?.namespace ?? '';
      return ns === props.rootNamespace || scope.has(ns);
    };
    const ambientNamespaces = new Set(ambient.namespaces);
    const forZtunnel = istio.some(
      (o) =>
        inScope(o, ambientNamespaces) &&
        ((o.kind === 'AuthorizationPolicy' && !targeted(o)) || o.kind === 'PeerAuthentication'),
    );
    ztunnel = {
      pushed: forZtunnel,
      captured: ambient.captured,
      scope: [...ambientNamespaces, props.rootNamespace],
    };
    for (const namespace of [...new Set(ambient.waypoints.map((w) => w.namespace))]) {
      const names = new Set(ambient.waypoints.filter((w) => w.namespace === namespace).map((w) => w.name));
      const forWaypoint = istio.some(
        (o) => o.kind === 'AuthorizationPolicy' && targeted(o) && inScope(o, new Set([namespace])),
      );
      const { items } = await props.client.list<V1Pod>({ apiVersion: 'v1', kind: 'Pod', namespace });
      for (const pod of items) {
        const gateway = pod.metadata?.labels?.[GATEWAY_NAME_LABEL];
        if (!gateway || !names.has(gateway) || pod.metadata?.deletionTimestamp) continue;
        proxies.set(proxyIdOf({ namespace, name: pod.metadata?.name ?? '' }), {
          kind: 'waypoint',
          label: `${namespace}/${pod.metadata?.name ?? ''}`,
          pushed: forWaypoint,
          type: PUSHED_TYPE,
          scope: [namespace, props.rootNamespace],
        });
      }
    }
  }
  const revisions = ambient ? undefined : new Set(withProxy.map(podRevision));
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
  for (const [id, subject] of proxies) {
    const sent = read.proxies.get(id)?.types.get(subject.type)?.sent;
    if (sent) before.set(id, sent);
  }
  for (const z of ztunnelsOf(read.proxies)) {
    const sent = z.types.get(ZTUNNEL_PUSHED_TYPE)?.sent;
    if (sent) before.set(z.proxyId, sent);
  }
  return { baseline: { proxies, revisions, before, ...(ztunnel ? { ztunnel } : {}) } };
}

/** Whether an Istio policy attaches by `targetRefs` (waypoints and gateways, never a sidecar). */
function targeted(o: KubernetesObject): boolean {
  const spec = (o as { spec?: { targetRefs?: unknown; targetRef?: unknown } }).spec;
  return spec?.targetRefs !== undefined || spec?.targetRef !== undefined;
}

/**
 * The last of the run's Istio objects (`objects` is in apply order: the run applies one after the
 * other) that can change this sidecar's configuration, when that is an AuthorizationPolicy in the
 * pod's own namespace; undefined otherwise. An AuthorizationPolicy whose `selector.matchLabels`
 * the pod's labels do not match, or that attaches by `targetRefs`, leaves the sidecar's RBAC
 * filters as they are (istio@1.30.3 `pilot/pkg/model/authorization.go` ListAuthorizationPolicies
 * selects by workload labels), so it is passed over; every other kind counts as a change. The
 * mesh root namespace's objects do not qualify, since one of the same name may be there from
 * before the run; the scenario's namespaces are new (preflight), so the policy is too.
 */
function lastChange(
  pod: V1Pod,
  istio: readonly KubernetesObject[],
  rootNamespace: string,
): MeshSubject['last'] {
  const namespace = pod.metadata?.namespace ?? '';
  const labels = pod.metadata?.labels ?? {};
  const changes = istio.filter((o) => {
    const ns = o.metadata?.namespace ?? '';
    if (ns !== namespace && ns !== rootNamespace) return false;
    if (o.kind !== 'AuthorizationPolicy') return true;
    if (targeted(o)) return false;
    const match = (o as { spec?: { selector?: { matchLabels?: Record<string, string> } } }).spec?.selector
      ?.matchLabels;
    return Object.entries(match ?? {}).every(([k, v]) => labels[k] === v);
  });
  const last = changes.at(-1);
  if (last?.kind !== 'AuthorizationPolicy' || last.metadata?.namespace !== namespace) return undefined;
  return { namespace, name: last.metadata.name ?? '' };
}

/** The ztunnels among the proxies istiod listed (C1.1: `proxy_type` ztunnel). */
function ztunnelsOf(proxies: ReadonlyMap<string, ProxySync>): ProxySync[] {
  return [...proxies.values()].filter((p) => p.proxyType === 'ztunnel');
}

/** The syncz of every Ready istiod of these revisions (all: every one), merged by proxy (the newest send wins). */
async function readAll(
  props: Pick<MeshBarrierProps, 'kubeConfig' | 'client' | 'signal'>,
  revisions: ReadonlySet<string> | undefined,
): Promise<{ istiods: IstiodPod[]; proxies: Map<string, ProxySync> }> {
  const all = await istiodPods(props.client);
  const istiods = all.filter((p) => p.ready && (!revisions || revisions.has(p.revision)));
  if (istiods.length === 0) {
    const seen = all.map((p) => `${p.namespace}/${p.name} (${p.revision}${p.ready ? '' : ', not Ready'})`);
    throw new EnvironmentError(
      `no Ready istiod pod${revisions ? ` of revision ${[...revisions].join(', ')}` : ''} (label app=istiod)${seen.length > 0 ? `; found ${seen.join(', ')}` : ''}`,
    );
  }
  const proxies = new Map<string, ProxySync>();
  for (const answer of await Promise.all(
    istiods.map((i) => readSyncz(props.kubeConfig, i, props.signal ? { signal: props.signal } : {})),
  )) {
    for (const p of answer) {
      const held = proxies.get(p.proxyId);
      const sentAt = (s: ProxySync | undefined) =>
        s?.types.get(s.proxyType === 'ztunnel' ? ZTUNNEL_PUSHED_TYPE : PUSHED_TYPE)?.sentTime ?? 0;
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
 * `t1`: when the last policy apply returned, ms since the epoch (compared with istiod's clock);
 * `appliedAt`: per namespace, when the apply of its last Istio object returned. A proxy's push must
 * follow the last apply among the namespaces that concern it ({@link MeshSubject.scope}): istiod
 * pushes a change only to the proxies it concerns, so a proxy whose namespace's objects were
 * applied early gets no push after T1 (istiod's debounce, 100 ms, `pilot/pkg/features/tuning.go:77-90`,
 * merges only changes that come closer together than that); without `appliedAt`, T1 for all.
 */
export async function waitForMeshSync(
  props: MeshBarrierProps,
  baseline: MeshBaseline,
  t1: number,
  appliedAt?: ReadonlyMap<string, number>,
): Promise<MeshWait> {
  const after = (s: MeshSubject) => {
    if (!appliedAt) return t1;
    const times = s.scope.flatMap((n) => {
      const t = appliedAt.get(n);
      return t === undefined ? [] : [t];
    });
    return times.length > 0 ? Math.max(...times) : t1;
  };
  const started = props.clock.now();
  const deadline = started + props.timeoutMs;
  let waiting: ProxyWaiting[] = [];
  let istiods: IstiodPod[] = [];
  let failure: string | undefined;
  let subjects: [string, MeshSubject][] = [...baseline.proxies];
  // Proxies in order by the content of their last push, and the nonce each was checked at.
  const byContent = new Set<string>();
  const checked = new Map<string, string>();
  for (let poll = 1; ; poll++) {
    if (props.signal?.aborted) throw new Error('interrupted');
    try {
      const read = await readAll(props, baseline.revisions);
      istiods = read.istiods;
      failure = undefined;
      // Every ztunnel connected now: one that (re)connected since the baseline has no nonce before.
      const ztunnels: [string, MeshSubject][] = baseline.ztunnel
        ? ztunnelsOf(read.proxies).map((z) => [
            z.proxyId,
            {
              kind: 'ztunnel',
              label: `${z.namespace}/${z.pod}`,
              pushed: baseline.ztunnel?.pushed ?? false,
              type: ZTUNNEL_PUSHED_TYPE,
              scope: baseline.ztunnel?.scope ?? [],
            },
          ])
        : [];
      subjects = [...baseline.proxies, ...ztunnels];
      const early: [string, MeshSubject, ProxySync][] = [];
      waiting = subjects.flatMap(([id, s]) => {
        const entry = read.proxies.get(id);
        const w = notInOrder(entry, s, baseline.before.get(id), after(s));
        if (w?.state === 'NOT SENT' && entry && s.last && pushedSince(entry, s, baseline.before.get(id))) {
          if (byContent.has(id)) return [];
          early.push([id, s, entry]);
        }
        return w ? [{ proxy: s.label, ...w }] : [];
      });
      for (const id of await heldByContent(props, early, checked)) {
        byContent.add(id);
        const label = baseline.proxies.get(id)?.label;
        waiting = waiting.filter((w) => w.proxy !== label);
      }
      if (baseline.ztunnel && ztunnels.length === 0)
        waiting.push({
          proxy: 'ztunnel',
          state: 'NOT CONNECTED',
          detail: `no ztunnel is connected to the istiods read, yet ${baseline.ztunnel.captured} run pod(s) are captured`,
        });
    } catch (error) {
      if (props.signal?.aborted) throw new Error('interrupted', { cause: error });
      failure = messageOf(error);
    }
    const servers = istiods.map((i) => `${i.namespace}/${i.name}`).join(', ');
    const count = (kind: MeshSubject['kind']) => subjects.filter(([, s]) => s.kind === kind);
    const sidecars = count('sidecar');
    const waypoints = count('waypoint');
    const ztunnels = count('ztunnel');
    const total = subjects.length;
    const pushed = subjects.filter(([, s]) => s.pushed).length;
    const kinds = [
      sidecars.length > 0 || !baseline.ztunnel ? `${sidecars.length} sidecar(s)` : '',
      baseline.ztunnel ? `${ztunnels.length} ztunnel(s)` : '',
      waypoints.length > 0 ? `${waypoints.length} waypoint pod(s)` : '',
    ]
      .filter(Boolean)
      .join(', ');
    props.progress.update(
      failure
        ? `mesh: reading istiod failed (${failure}); trying again`
        : baseline.ztunnel || waypoints.length > 0
          ? `mesh: ${total - waiting.filter((w) => w.proxy !== 'ztunnel').length}/${total} proxies in order (${kinds}; ${pushed} acknowledged the policies' push) per istiod ${servers}`
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
      const said = (list: [string, MeshSubject][], what: string, type: string) => {
        const concerned = list.filter(([, s]) => s.pushed).length;
        if (list.length === 0) return '';
        return concerned === list.length
          ? `each of ${list.length} ${what} acknowledge a ${type} push sent after the last policy concerning it was applied, with no rejection`
          : concerned === 0
            ? `${list.length} ${what} with nothing pending`
            : `each of ${concerned} ${what} the run's configuration concerns acknowledge a ${type} push sent after the last policy concerning it was applied, with no rejection, and the other ${list.length - concerned} with nothing pending`;
      };
      const parts = [
        said(sidecars, 'sidecar(s)', 'listener (LDS)'),
        said(ztunnels, 'ztunnel(s)', 'authorization (WADS)'),
        said(waypoints, 'waypoint pod(s)', 'listener (LDS)'),
      ].filter(Boolean);
      const contentNote =
        byContent.size > 0
          ? `; ${byContent.size} of those sidecar(s) by the content of that push: it was sent before the apply returned, and istiod's configuration for the sidecar built from it (/debug/config_dump) holds the AuthorizationPolicy last applied for it`
          : '';
      const ambientNote = baseline.ztunnel
        ? "; ztunnel's and the waypoints' own config_dump (facts C1.5, C1.6) were not read, so this shows the push was taken, not that it held the policies"
        : '';
      return {
        ms: summary.ms,
        polls: poll,
        part: {
          status: 'passed',
          reasoning:
            `istiod ${servers} saw ${parts.join('; ')}` +
            `${contentNote}, ${summary.ms} ms after the policies (${poll} poll(s))${ambientNote}`,
          ...summary,
        },
      };
    }
    if (props.clock.now() >= deadline) {
      const seconds = Math.round(props.timeoutMs / 1000);
      const message = failure
        ? `istiod's sync status could not be read within ${seconds} s after the policies: ${failure}`
        : `istiod did not see ${waiting.length} of ${total + (baseline.ztunnel && ztunnels.length === 0 ? 1 : 0)} run ${baseline.ztunnel || waypoints.length > 0 ? 'proxies' : 'sidecars'} take the policies within ${seconds} s: ${waiting
            .slice(0, 5)
            .map((w) => `${w.proxy} (${w.state}: ${w.detail})`)
            .join(', ')}${waiting.length > 5 ? ', …' : ''}`;
      const rejected = waiting.some((w) => w.state === 'ERROR');
      const late = waiting.some((w) => w.detail.startsWith('no '));
      throw new MeshSyncTimeout(
        message,
        waiting,
        { status: 'timed-out', reasoning: message, ...summary, waiting: waiting.map((w) => ({ ...w })) },
        rejected
          ? 'a proxy rejected (NACKed) the push, so it runs older configuration: istioctl proxy-status and the logs of those pods say why; the policies may need fixing'
          : late
            ? "istiod has not pushed to those proxies since the policies: check istiod's logs and load, whether its clock is behind this machine's, or give --barrier-timeout more time"
            : 'check istiod and those proxies (istioctl proxy-status), or give --barrier-timeout more time',
      );
    }
    await props.clock.sleep(props.intervalMs ?? 500, props.signal);
  }
}

/** Whether the proxy acknowledged a push of its type since the baseline, with nothing pending. */
function pushedSince(entry: ProxySync, subject: MeshSubject, before: string | undefined): boolean {
  const t = entry.types.get(subject.type);
  return typeState(t) === 'SYNCED' && t !== undefined && t.sent !== before;
}

/** At most this many config dumps are read per poll (each is an exec into istiod). */
const CONTENT_READS_PER_POLL = 8;

/**
 * The proxies among `early` whose last push, acknowledged, held their last AuthorizationPolicy:
 * istiod's config dump for the proxy is built from the push context of its last push, its
 * version is the acknowledged nonce's (so the push is that one), and its listeners name the
 * policy's rules (harness/cluster/istiod-sync.ts). That push context was built after the policy
 * was stored, and so after every object applied before it was stored too: what a push sent after
 * the apply returned shows, for a push that came sooner (a slow API response, a loaded machine),
 * with the same caveat that istiod builds from its informers. A proxy is read once per
 * acknowledged nonce (after a failed read, again at the next poll); a failed read never passes it.
 */
async function heldByContent(
  props: Pick<MeshBarrierProps, 'kubeConfig' | 'signal'>,
  early: readonly [string, MeshSubject, ProxySync][],
  checked: Map<string, string>,
): Promise<string[]> {
  const due = early
    .filter(([id, s, entry]) => checked.get(id) !== entry.types.get(s.type)?.acked)
    .slice(0, CONTENT_READS_PER_POLL);
  const held = await Promise.all(
    due.map(async ([id, s, entry]) => {
      const acked = entry.types.get(s.type)?.acked ?? '';
      if (!s.last) return undefined;
      try {
        const config = await readPushedConfig(props.kubeConfig, entry.istiod, id, {
          ...(props.signal ? { signal: props.signal } : {}),
        });
        checked.set(id, acked);
        const named = config.listeners.includes(rbacPolicyName(s.last.namespace, s.last.name));
        return nonceOfVersion(acked, config.version) && named ? id : undefined;
      } catch {
        return undefined;
      }
    }),
  );
  return held.filter((id): id is string => id !== undefined);
}

/** Why one proxy is not in order yet, or undefined when it is. */
function notInOrder(
  entry: ProxySync | undefined,
  subject: MeshSubject,
  before: string | undefined,
  t1: number,
): Omit<ProxyWaiting, 'proxy'> | undefined {
  if (!entry) return { state: 'NOT CONNECTED', detail: 'not connected to any istiod read' };
  const istiod = `${entry.istiod.namespace}/${entry.istiod.name}`;
  const nack = rejections(entry)[0];
  if (nack) return { state: 'ERROR', detail: `${nack.type} rejected: ${nack.message}`, istiod };
  const pending = [...entry.types.values()].find((t) => typeState(t) === 'STALE');
  if (pending) return { state: 'STALE', detail: `${pending.type} sent, not acknowledged yet`, istiod };
  if (!subject.pushed) return undefined;
  const sent = entry.types.get(subject.type);
  if (sent?.sent && sent.sent !== before && isSyncedAfter(entry, [subject.type], t1)) return undefined;
  return { state: 'NOT SENT', detail: `no ${subject.type} push since the policies`, istiod };
}
