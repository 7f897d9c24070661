/**
 * istiod's view of its proxies: which istiod serves which proxy, and per xDS type what it sent,
 * what the proxy acknowledged, when, and whether the proxy rejected it. The one reader of
 * istiod's `/debug/syncz` (docs/behaviour.md §F3).
 *
 * How it is reached: an exec into an istiod pod, `pilot-discovery request GET /debug/syncz`,
 * which asks `127.0.0.1:15014` from inside the pod (istio@1.30.3
 * `pilot/cmd/pilot-discovery/app/request.go:27-32`). istiod's debug handlers let loopback callers
 * in without authentication and ask everyone else to authenticate like an xDS client
 * (`pilot/pkg/xds/debug.go:232-330`), so the API server's pods/proxy subresource, which arrives
 * from a non-loopback address, gets 401 and is not used.
 *
 * What the answer is (istio@1.29.6 and 1.30.3 `pilot/pkg/xds/debug.go:126-150,338-375`): a JSON
 * array, one entry per proxy connected to *this* istiod, with `proxy` (the proxy id,
 * `<pod>.<namespace>` for a sidecar), `proxy_type` (`sidecar|router|waypoint|ztunnel|…`,
 * `pkg/model/proxy.go:503-512`), `istio_version` (the proxy's), `cluster_id`, the legacy nonce
 * pairs `cluster_sent`/`cluster_acked`, `listener_*`, `route_*`, `endpoint_*`,
 * `extensionconfig_*`, and since 1.23 `resources: {<typeUrl>: {sent, acked, sentTime,
 * lastError}}` for every watched type. `sentTime` is a Go time.Time, which encoding/json writes
 * even when zero (`0001-01-01T00:00:00Z`: never sent). `lastError` is set by a NACK and cleared by
 * the next ACK (`pkg/xds/server.go:87-91,359-366,404-409`); a NACK leaves `acked` at the last
 * accepted nonce. A nonce is the push version plus a UUID (`pilot/pkg/xds/discovery.go:315-317`),
 * the push version `<RFC 3339 time>/<counter>` (:618-620).
 *
 * The states are istioctl proxy-status's (`pilot/pkg/xds/statusgen.go:194-205`): ERROR when
 * `lastError` is set, NOT SENT when nothing was sent, SYNCED when acked == sent, else STALE; a
 * type the proxy does not watch is IGNORED. Short names per `pkg/model/xds.go:53-75`.
 *
 * API (other commands build on it; keep it stable):
 * - {@link istiodPods}: the istiod pods of the cluster (label `app=istiod`, any namespace), each
 *   with its revision (`istio.io/rev`, `default` when absent) and version (its image tag).
 * - {@link readSyncz}: one istiod pod's answer, parsed ({@link parseSyncz}); a failed exec or an
 *   answer that is not sync status is an {@link IstiodReadError}.
 * - {@link ProxySync}: one proxy as one istiod sees it: id, pod and namespace, type, versions,
 *   per type {@link TypeSync} `{sent, acked, sentTime, lastError}`, and `istiod`, the pod that
 *   answered (so: which istiod and revision serves the proxy).
 * - {@link readPushedConfig}: what istiod generated for one proxy from its last push (the push
 *   version and the listeners), with {@link nonceOfVersion} and {@link rbacPolicyName} to tie it to
 *   an acknowledged nonce and to an AuthorizationPolicy.
 * - {@link typeState}, {@link isSyncedAfter} (a push of each type sent after T0, acknowledged,
 *   not rejected), {@link rejections} (NACKs: type and message), {@link proxyIdOf},
 *   {@link podRevision} (the revision that injected a pod's sidecar).
 */
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import { z } from 'zod';

import { EnvironmentError } from '../errors.js';
import type { KubeClient } from '../kube/client.js';
import { execInPod, ExecError, type ExecResult } from '../kube/exec.js';
import { isPodReady } from '../kube/pods.js';
import { imageTag } from './detect.js';

/** The label istiod's Deployment gives its pods (istio-discovery chart, templates/deployment.yaml:38-47). */
export const ISTIOD_SELECTOR = 'app=istiod';
/** istiod's container in that pod (the same template, :97). */
export const ISTIOD_CONTAINER = 'discovery';
export const SYNCZ_COMMAND = ['pilot-discovery', 'request', 'GET', '/debug/syncz'] as const;

/** The xDS type URLs and the short names istioctl shows (istio@1.30.3 `pkg/model/xds.go:25-75`). */
export const XDS_TYPES = {
  CDS: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  LDS: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  RDS: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  EDS: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  SDS: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
  ECDS: 'type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig',
  NDS: 'type.googleapis.com/istio.networking.nds.v1.NameTable',
  PCDS: 'type.googleapis.com/istio.mesh.v1alpha1.ProxyConfig',
  WDS: 'type.googleapis.com/istio.workload.Address',
  WADS: 'type.googleapis.com/istio.security.Authorization',
} as const;

/** `LDS`, `WADS`, …, or the type URL itself for a type without a short name. */
export type XdsType = keyof typeof XDS_TYPES | (string & {});

const SHORT_NAMES = new Map<string, string>([
  ...Object.entries(XDS_TYPES).map(([short, url]) => [url, short] as [string, string]),
  // WDS stands for both workload types.
  ['type.googleapis.com/istio.workload.Workload', 'WDS'],
]);

/** The short name of a type URL (the URL itself when it has none). */
export function shortType(typeUrl: string): string {
  return SHORT_NAMES.get(typeUrl) ?? typeUrl;
}

/** The legacy nonce fields and the type each one stands for. */
const LEGACY_FIELDS = [
  ['cluster', 'CDS'],
  ['listener', 'LDS'],
  ['route', 'RDS'],
  ['endpoint', 'EDS'],
  ['extensionconfig', 'ECDS'],
] as const;

export interface IstiodPod {
  readonly name: string;
  readonly namespace: string;
  /** `istio.io/rev`; `default` when the label is absent (a default-revision install). */
  readonly revision: string;
  /** The image tag of its `discovery` container (`1.30.3`), when it has one. */
  readonly version?: string;
  readonly ready: boolean;
}

/** One xDS type of one proxy, as istiod records it. */
export interface TypeSync {
  readonly typeUrl: string;
  /** `LDS`, `CDS`, `WADS`, … */
  readonly type: string;
  /** The last nonce sent; empty when nothing was. */
  readonly sent: string;
  /** The last nonce acknowledged; empty when none was. */
  readonly acked: string;
  /** When istiod last sent this type (ms since the epoch, istiod's clock); absent when never, or not reported (istiod < 1.23). */
  readonly sentTime?: number;
  /** When the push the sent nonce belongs to was built (the nonce's push version, whole seconds). */
  readonly pushedAt?: number;
  /** The proxy's rejection of the last push (a NACK), if it rejected it. */
  readonly lastError?: string;
}

/** One proxy as the istiod that answered sees it. */
export interface ProxySync {
  /** `<pod>.<namespace>` for sidecars and gateways (the proxy's node id). */
  readonly proxyId: string;
  readonly pod: string;
  readonly namespace: string;
  /** `sidecar`, `router`, `waypoint`, `ztunnel`, … (empty when istiod did not say). */
  readonly proxyType: string;
  readonly proxyVersion?: string;
  /** The proxy's Istio version. */
  readonly istioVersion?: string;
  readonly clusterId?: string;
  /** By short type name. */
  readonly types: ReadonlyMap<string, TypeSync>;
  /** The istiod pod that answered: the one this proxy is connected to. */
  readonly istiod: IstiodPod;
}

export type SyncState = 'SYNCED' | 'STALE' | 'NOT SENT' | 'ERROR' | 'IGNORED';

/** Reading an istiod failed (the exec, or its answer). */
export class IstiodReadError extends EnvironmentError {
  override readonly name = 'IstiodReadError';
  readonly istiod: IstiodPod;
  constructor(istiod: IstiodPod, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options);
    this.istiod = istiod;
  }
}

// Tolerant of fields it does not read (istiod adds some now and then), strict on those it does.
const NONCE = z.string().optional();
const TIME = z
  .string()
  .refine((s) => !Number.isNaN(Date.parse(s)), { message: 'not an RFC 3339 time' })
  .optional();
const ResourceStatusSchema = z.looseObject({
  sent: NONCE,
  acked: NONCE,
  sentTime: TIME,
  lastError: z.string().optional(),
});
const EntrySchema = z.looseObject({
  proxy: z.string().min(1),
  proxy_type: z.string().optional(),
  proxy_version: z.string().optional(),
  istio_version: z.string().optional(),
  cluster_id: z.string().optional(),
  cluster_sent: NONCE,
  cluster_acked: NONCE,
  listener_sent: NONCE,
  listener_acked: NONCE,
  route_sent: NONCE,
  route_acked: NONCE,
  endpoint_sent: NONCE,
  endpoint_acked: NONCE,
  extensionconfig_sent: NONCE,
  extensionconfig_acked: NONCE,
  resources: z.record(z.string(), ResourceStatusSchema).optional(),
});
const SynczSchema = z.array(EntrySchema);
type Entry = z.infer<typeof EntrySchema>;

/** The proxy id istiod gives a pod's sidecar: `<pod>.<namespace>`. */
export function proxyIdOf(pod: { readonly namespace: string; readonly name: string }): string {
  return `${pod.name}.${pod.namespace}`;
}

/**
 * The revision whose injector gave a pod its sidecar: the `istio.io/rev` annotation the injection
 * template writes (istio@1.30.3 `manifests/charts/istio-control/istio-discovery/files/injection-template.yaml:41`),
 * else the `revision` of `sidecar.istio.io/status`, else `default`.
 */
export function podRevision(pod: V1Pod): string {
  const annotations = pod.metadata?.annotations ?? {};
  const annotated = annotations['istio.io/rev'];
  if (annotated) return annotated;
  try {
    const status = JSON.parse(annotations['sidecar.istio.io/status'] ?? '{}') as { revision?: unknown };
    if (typeof status.revision === 'string' && status.revision) return status.revision;
  } catch {
    // An unreadable status annotation says nothing about the revision.
  }
  return 'default';
}

/** The istiod pods of the cluster, in any namespace (the Calico bundle runs it in calico-system). */
export async function istiodPods(client: KubeClient): Promise<IstiodPod[]> {
  const { items } = await client.list<V1Pod>({
    apiVersion: 'v1',
    kind: 'Pod',
    labelSelector: ISTIOD_SELECTOR,
  });
  return items
    .filter((p) => !p.metadata?.deletionTimestamp)
    .map((p) => {
      const containers = p.spec?.containers ?? [];
      const image = (containers.find((c) => c.name === ISTIOD_CONTAINER) ?? containers[0])?.image;
      const version = image ? imageTag(image) : undefined;
      return {
        name: p.metadata?.name ?? '',
        namespace: p.metadata?.namespace ?? '',
        revision: p.metadata?.labels?.['istio.io/rev'] || 'default',
        ...(version ? { version } : {}),
        ready: isPodReady(p),
      };
    })
    .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
}

export interface ReadSynczOptions {
  /** Deadline of the exec. @default 15000 */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** One istiod pod's `/debug/syncz`, parsed. */
export async function readSyncz(
  kubeConfig: KubeConfig,
  istiod: IstiodPod,
  options: ReadSynczOptions = {},
): Promise<ProxySync[]> {
  return parseSyncz(await requestIstiod(kubeConfig, istiod, SYNCZ_COMMAND, options), istiod);
}

/** What `pilot-discovery request GET <path>` in an istiod pod printed; a failure is an {@link IstiodReadError}. */
async function requestIstiod(
  kubeConfig: KubeConfig,
  istiod: IstiodPod,
  command: readonly string[],
  options: ReadSynczOptions,
): Promise<string> {
  const where = `istiod ${istiod.namespace}/${istiod.name}`;
  const path = command.at(-1) ?? '';
  const hint = `bulkhead execs into istiod (pilot-discovery request GET ${path}): check that your credentials may create pods/exec in ${istiod.namespace}`;
  let result: ExecResult;
  try {
    result = await execInPod(kubeConfig, {
      namespace: istiod.namespace,
      pod: istiod.name,
      container: ISTIOD_CONTAINER,
      command,
      timeoutMs: options.timeoutMs ?? 15_000,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    const detail =
      error instanceof ExecError
        ? `${error.message}${error.stderr ? `: ${error.stderr.trim()}` : ''}`
        : String(error);
    throw new IstiodReadError(istiod, `${where} could not be asked for ${path}: ${detail}`, {
      hint,
      cause: error,
    });
  }
  // pilot-discovery exits 1 when the debug port answers an error status (pilot/pkg/request/command.go:50-52).
  if (result.exitCode !== 0)
    throw new IstiodReadError(
      istiod,
      `${where} could not be asked for ${path}: pilot-discovery request exited with exit code ${result.exitCode}: ${result.stderr.trim().slice(0, 300) || 'no message'}`,
      { hint },
    );
  return result.stdout;
}

/**
 * What istiod generated for one proxy from the push context of its last push: `GET
 * /debug/config_dump?proxyID=<id>` answers an Envoy admin ConfigDump built from the proxy's
 * `LastPushContext` (istio@1.30.3 `pilot/pkg/xds/debug.go:740-860` connectionConfigDump), which
 * istiod sets as it pushes (`pilot/pkg/xds/ads.go:442`), and every section's `versionInfo` is that
 * push context's version, the prefix of the push's nonces (see {@link nonceOfVersion}). Written by
 * jsonpb without original names (`pkg/util/protomarshal/protomarshal.go:124-131`): `versionInfo`,
 * `dynamicListeners`; the snake-case forms are read too.
 */
export interface PushedConfig {
  /** The push version of the proxy's last push. */
  readonly version: string;
  /** The listeners section, as JSON text, to look generated names up in. */
  readonly listeners: string;
}

const LISTENERS_DUMP = 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump';

/** `/debug/config_dump` of one proxy, from the istiod that serves it (see {@link PushedConfig}). */
export async function readPushedConfig(
  kubeConfig: KubeConfig,
  istiod: IstiodPod,
  proxyId: string,
  options: ReadSynczOptions = {},
): Promise<PushedConfig> {
  const command = ['pilot-discovery', 'request', 'GET', `/debug/config_dump?proxyID=${proxyId}`];
  return parsePushedConfig(await requestIstiod(kubeConfig, istiod, command, options), istiod, proxyId);
}

/** Parses a proxy's config dump; one without a listeners section and its version is an {@link IstiodReadError}. */
export function parsePushedConfig(text: string, istiod: IstiodPod, proxyId: string): PushedConfig {
  const where = `istiod ${istiod.namespace}/${istiod.name}`;
  const json = jsonOf(text, istiod, `the config dump of ${proxyId}`);
  const configs = (json as { configs?: unknown }).configs;
  const listeners = Array.isArray(configs)
    ? (configs as unknown[]).find(
        (c): c is Record<string, unknown> =>
          typeof c === 'object' && c !== null && (c as Record<string, unknown>)['@type'] === LISTENERS_DUMP,
      )
    : undefined;
  const version = listeners?.versionInfo ?? listeners?.version_info;
  if (!listeners || typeof version !== 'string' || version === '')
    throw new IstiodReadError(
      istiod,
      `${where} answered the config dump of ${proxyId} without a listeners section and its version`,
    );
  return {
    version,
    listeners: JSON.stringify(listeners.dynamicListeners ?? listeners.dynamic_listeners ?? []),
  };
}

/** The length of the UUID istiod appends to a push version to make a nonce (`uuid.New().String()`). */
const UUID_LENGTH = 36;

/** Whether a nonce belongs to a push of this version: nonce = push version + UUID (discovery.go:315-317). */
export function nonceOfVersion(nonce: string, version: string): boolean {
  return version !== '' && nonce.length === version.length + UUID_LENGTH && nonce.startsWith(version);
}

/**
 * What every name istiod gives an AuthorizationPolicy's rules in a sidecar's RBAC filters starts
 * with, `ns[<ns>]-policy[<name>]-rule[<n>]` (a policy without rules gets rule 0, a CUSTOM one a
 * provider prefix before it: istio@1.30.3 `pilot/pkg/security/authz/builder/builder.go:294-299,541-552`).
 */
export function rbacPolicyName(namespace: string, name: string): string {
  return `ns[${namespace}]-policy[${name}]-rule[`;
}

/** An istiod answer as JSON; one that is not is an {@link IstiodReadError} quoting its start. */
function jsonOf(text: string, istiod: IstiodPod, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new IstiodReadError(
      istiod,
      `istiod ${istiod.namespace}/${istiod.name} answered ${what} with something that is not JSON: ${JSON.stringify(text.slice(0, 120))}`,
    );
  }
}

/** Parses a `/debug/syncz` answer; anything that is not sync status is an {@link IstiodReadError} naming the field. */
export function parseSyncz(text: string, istiod: IstiodPod): ProxySync[] {
  const where = `istiod ${istiod.namespace}/${istiod.name}`;
  const json = jsonOf(text, istiod, '/debug/syncz');
  const parsed = SynczSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = (issue?.path ?? [])
      .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
      .join('');
    throw new IstiodReadError(
      istiod,
      `${where} answered /debug/syncz with something that is not its sync status: ${path || 'the answer'}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return parsed.data.map((entry) => proxyOf(entry, istiod));
}

function proxyOf(entry: Entry, istiod: IstiodPod): ProxySync {
  const types = new Map<string, TypeSync>();
  for (const [typeUrl, r] of Object.entries(entry.resources ?? {})) {
    const type = shortType(typeUrl);
    const sentTime = timeOf(r.sentTime);
    const pushedAt = pushTimeOf(r.sent ?? '');
    types.set(type, {
      typeUrl,
      type,
      sent: r.sent ?? '',
      acked: r.acked ?? '',
      ...(sentTime === undefined ? {} : { sentTime }),
      ...(pushedAt === undefined ? {} : { pushedAt }),
      ...(r.lastError ? { lastError: r.lastError } : {}),
    });
  }
  // istiod < 1.23 has only the nonce pairs; newer ones have both, and `resources` says more.
  for (const [field, type] of LEGACY_FIELDS) {
    if (types.has(type)) continue;
    const sent = entry[`${field}_sent`] ?? '';
    const acked = entry[`${field}_acked`] ?? '';
    if (!sent && !acked) continue;
    const pushedAt = pushTimeOf(sent);
    types.set(type, {
      typeUrl: XDS_TYPES[type],
      type,
      sent,
      acked,
      ...(pushedAt === undefined ? {} : { pushedAt }),
    });
  }
  const dot = entry.proxy.lastIndexOf('.');
  return {
    proxyId: entry.proxy,
    pod: dot > 0 ? entry.proxy.slice(0, dot) : entry.proxy,
    namespace: dot > 0 ? entry.proxy.slice(dot + 1) : '',
    proxyType: entry.proxy_type ?? '',
    ...(entry.proxy_version ? { proxyVersion: entry.proxy_version } : {}),
    ...(entry.istio_version ? { istioVersion: entry.istio_version } : {}),
    ...(entry.cluster_id ? { clusterId: entry.cluster_id } : {}),
    types,
    istiod,
  };
}

/** A Go time: undefined for absent and for the zero time (year 1: never). */
function timeOf(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const t = Date.parse(text);
  return Number.isNaN(t) || t <= 0 ? undefined : t;
}

/** The time of a nonce's push version (`2026-12-02T04:01:02Z/17<uuid>`), whole seconds. */
function pushTimeOf(nonce: string): number | undefined {
  const slash = nonce.indexOf('/');
  return slash > 0 ? timeOf(nonce.slice(0, slash)) : undefined;
}

/** istioctl proxy-status's state of one type (IGNORED: the proxy does not watch it). */
export function typeState(t: TypeSync | undefined): SyncState {
  if (!t) return 'IGNORED';
  if (t.lastError) return 'ERROR';
  if (!t.sent) return 'NOT SENT';
  return t.acked === t.sent ? 'SYNCED' : 'STALE';
}

/**
 * Whether, for every type given, istiod sent a push after `t0` (ms since the epoch, on istiod's
 * clock) that the proxy acknowledged without error: `sentTime > t0`, `acked == sent`, no
 * `lastError` (docs/behaviour.md §F3). Where istiod reports no `sentTime` (< 1.23), the push
 * version's time stands in, which only says "after" once it is in a later second than t0.
 */
export function isSyncedAfter(entry: ProxySync, types: readonly string[], t0: number): boolean {
  return types.every((type) => {
    const t = entry.types.get(type);
    if (typeState(t) !== 'SYNCED' || !t) return false;
    // A push version in a later second than t0 was built after it, whatever its fraction.
    const sentAt = t.sentTime ?? t.pushedAt;
    return sentAt !== undefined && sentAt > t0;
  });
}

/** The types whose last push the proxy rejected (NACK), with the proxy's message. */
export function rejections(entry: ProxySync): { readonly type: string; readonly message: string }[] {
  return [...entry.types.values()].flatMap((t) =>
    t.lastError ? [{ type: t.type, message: t.lastError }] : [],
  );
}
