/**
 * istiod on the fake cluster, as far as the mesh barrier reads it (harness/cluster/istiod-sync.ts):
 * an exec of `pilot-discovery request GET /debug/syncz` in an istiod pod answers a JSON array
 * shaped as istiod's (istio@1.30.3 `pilot/pkg/xds/debug.go:126-150,338-375`), one entry per
 * sidecar pod in the fake's store, with `resources` per type and the legacy nonce pairs.
 *
 * The push model, simplified from istiod's: every Istio object the fake stores (or changes)
 * triggers, `pushLagMs` after it is first seen (debounced: a later change within that time
 * postpones every push not yet made, as PILOT_DEBOUNCE_AFTER does), an LDS push to the sidecars of its namespace (all
 * of them for the root namespace), as `pilot/pkg/xds/proxy_dependencies.go` and `lds.go` do for
 * AuthorizationPolicy; the proxy acknowledges it `ackLagMs` later, or rejects it (a NACK:
 * `lastError` set, `acked` left at the old nonce) when `nack` says so. {@link FakeIstiod.enforces}
 * tells a test's stand-in dataplane whether a sidecar runs the configuration that was pushed.
 *
 * Each push has one push version (`<RFC 3339 time>/<counter>`, the prefix of every nonce it sends),
 * and each sidecar keeps the AuthorizationPolicies that push saw for it (its namespace's and the
 * root namespace's, by `selector.matchLabels`, without `targetRefs`): `pilot-discovery request GET
 * /debug/config_dump?proxyID=<id>` answers them as istiod does, a ConfigDump whose listeners
 * section carries that version and RBAC policies named `ns[<ns>]-policy[<name>]-rule[<n>]`
 * (`pilot/pkg/xds/debug.go:740-860`, `pilot/pkg/security/authz/builder/builder.go:541-552`).
 *
 * Ambient (ambient-cnp-facts.md C1.1, C1.2): the `ztunnels` given are listed as proxies of type
 * `ztunnel` (ids `<pod>.istio-system`) watching WDS and WADS, and every pod labelled
 * `gateway.networking.k8s.io/gateway-name` as a `waypoint` (CDS, LDS, RDS, EDS). An
 * AuthorizationPolicy without `targetRefs` or a PeerAuthentication, in any namespace, triggers a
 * WADS push to every ztunnel; the LDS push to a namespace's proxies reaches its waypoints too.
 */
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';

import { XDS_TYPES } from '../../harness/cluster/istiod-sync.js';
import type { ExecHandler, ExecRequest } from './fake-apiserver/exec.js';
import type { FakeApiServer } from './fake-apiserver/server.js';

/** The Istio kinds the fake istiod watches. */
const WATCHED = [
  ['security.istio.io/v1', 'AuthorizationPolicy'],
  ['security.istio.io/v1', 'PeerAuthentication'],
  ['networking.istio.io/v1alpha3', 'EnvoyFilter'],
] as const;

/** Namespaced CRDs for the watched kinds, keeping whatever they are given. */
export function putIstioCrds(server: FakeApiServer): void {
  for (const [apiVersion, kind] of WATCHED) {
    const [group = '', version = ''] = apiVersion.split('/');
    const plural = `${kind.toLowerCase()}s`.replace(/ys$/, 'ies');
    server.put({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `${plural}.${group}` },
      spec: {
        group,
        names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
        scope: 'Namespaced',
        versions: [
          {
            name: version,
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
          },
        ],
      },
    });
  }
}

interface TypeState {
  sent: string;
  acked: string;
  sentTime: number;
  lastError?: string;
  /** When the proxy answers the last push (ack or NACK). */
  answerAt: number;
  nack?: string;
}

export interface FakeIstiodOptions {
  /**
   * From an object first seen to the push it triggers: istiod debounces changes for
   * PILOT_DEBOUNCE_AFTER, 100 ms by default (`pilot/pkg/features/tuning.go:77-90`). @default 100
   */
  readonly pushLagMs?: number;
  /** From a push to the proxy's answer. @default 0 */
  readonly ackLagMs?: number;
  /** A proxy's rejection of an LDS push (the NACK message), if it rejects it. */
  readonly nack?: (proxyId: string) => string | undefined;
  /** Never push at all (istiod stuck). */
  readonly never?: boolean;
  /** @default istio-system */
  readonly rootNamespace?: string;
  /** Write only the legacy nonce fields, as istiod < 1.23 does. */
  readonly legacy?: boolean;
  /**
   * Whether the istiod pod asked (the exec's namespace and pod) serves a proxy; each istiod lists
   * only its own proxies. @default every istiod serves every proxy (one control plane)
   */
  readonly serves?: (istiod: { namespace: string; pod: string }, proxyId: string) => boolean;
  /** The proxy's `istio_version`. @default 1.29.3 */
  readonly istioVersion?: (proxyId: string) => string;
  /** ztunnel pods in istio-system (by name) connected to istiod. @default none */
  readonly ztunnels?: readonly string[];
  /** Objects istiod never sees (an informer that lags for good), by `<kind>/<namespace>/<name>`. */
  readonly unseen?: (key: string) => boolean;
}

/** What a proxy's last push held: its push version and the RBAC policy names built for it. */
interface LastPush {
  readonly version: string;
  readonly policies: readonly string[];
}

export class FakeIstiod {
  /** Exec requests for syncz seen, with the istiod pod they went to. */
  readonly reads: ExecRequest[] = [];
  private readonly server: FakeApiServer;
  private readonly options: FakeIstiodOptions;
  private readonly proxies = new Map<string, Map<string, TypeState>>();
  /** The pod uid each proxy id last connected from. */
  private readonly uids = new Map<string, string>();
  /** Object key → resourceVersion last seen. */
  private readonly seen = new Map<string, string>();
  private readonly pending: { at: number; namespace: string; ztunnel?: boolean }[] = [];
  /** Proxy id → `proxy_type`. */
  private readonly kinds = new Map<string, 'sidecar' | 'waypoint' | 'ztunnel'>();
  /** Per proxy: when it first ran (acked) a push made after an Istio object change. */
  private readonly enforcedAt = new Map<string, number>();
  /** Per sidecar: what its last push held (the `LastPushContext` istiod dumps). */
  private readonly lastPush = new Map<string, LastPush>();
  private readonly timer: NodeJS.Timeout;
  private counter = 0;

  constructor(server: FakeApiServer, options: FakeIstiodOptions = {}) {
    this.server = server;
    this.options = options;
    this.timer = setInterval(() => {
      this.tick();
    }, 20);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The exec override: answers syncz in istiod pods, leaves every other exec alone. */
  readonly exec = (request: ExecRequest): ReturnType<ExecHandler> | undefined => {
    const command = request.command.join(' ');
    const dump = /^pilot-discovery request GET \/debug\/config_dump\?proxyID=(\S+)$/.exec(command);
    if (dump?.[1]) {
      this.dumps.push(dump[1]);
      this.tick();
      const last = this.lastPush.get(dump[1]);
      // debug.go getDebugConnection: 404 "Proxy not connected to this Pilot instance", and
      // pilot-discovery request exits 1 on an error status.
      if (!last)
        return answer(
          '',
          'Proxy not connected to this Pilot instance. It may be connected to another instance.',
          1,
        );
      return answer(JSON.stringify(configDump(last)));
    }
    if (command !== 'pilot-discovery request GET /debug/syncz') return undefined;
    this.reads.push(request);
    this.tick();
    const serves = this.options.serves;
    return answer(JSON.stringify(this.syncz().filter((e) => !serves || serves(request, String(e.proxy)))));
  };

  /** The proxy ids whose config dump was asked for, in order. */
  readonly dumps: string[] = [];

  /**
   * An LDS push to every sidecar now (or to one namespace's), as istiod makes to proxies that
   * (re)connect to it, answered like any other (acked, or NACKed when `nack` says so).
   */
  push(namespace?: string): void {
    this.tick();
    this.pending.push({
      at: Date.now(),
      namespace: namespace ?? this.options.rootNamespace ?? 'istio-system',
    });
    this.tick();
  }

  /**
   * Whether every sidecar in `namespace` acknowledged a push made after an Istio object change
   * (a stand-in dataplane then enforces it), and since when (ms since the epoch).
   */
  enforcedIn(namespace: string): number | undefined {
    this.tick();
    const ids = [...this.proxies.keys()].filter((id) => id.slice(id.lastIndexOf('.') + 1) === namespace);
    const times = ids.map((id) => this.enforcedAt.get(id));
    if (ids.length === 0 || times.some((t) => t === undefined)) return undefined;
    return Math.max(...(times as number[]));
  }

  /** The syncz entries istiod answers with: every sidecar (the fake has one istiod). */
  syncz(): Record<string, unknown>[] {
    return [...this.proxies].map(([proxy, types]) => {
      const field = (type: string) => types.get(type);
      const legacy = {
        cluster_sent: field('CDS')?.sent ?? '',
        cluster_acked: field('CDS')?.acked ?? '',
        listener_sent: field('LDS')?.sent ?? '',
        listener_acked: field('LDS')?.acked ?? '',
        route_sent: field('RDS')?.sent ?? '',
        route_acked: field('RDS')?.acked ?? '',
        endpoint_sent: field('EDS')?.sent ?? '',
        endpoint_acked: field('EDS')?.acked ?? '',
      };
      const resources = Object.fromEntries(
        [...types].map(([type, s]) => [
          XDS_TYPES[type as keyof typeof XDS_TYPES],
          {
            sent: s.sent,
            acked: s.acked,
            sentTime: new Date(s.sentTime).toISOString(),
            ...(s.lastError ? { lastError: s.lastError } : {}),
          },
        ]),
      );
      return {
        cluster_id: 'Kubernetes',
        proxy,
        proxy_type: this.kinds.get(proxy) ?? 'sidecar',
        istio_version: this.options.istioVersion?.(proxy) ?? '1.29.3',
        ...legacy,
        ...(this.options.legacy ? {} : { resources }),
        // A field bulkhead does not read, as newer istiods add them.
        unread_field: { any: true },
      };
    });
  }

  /** A new push version, `<RFC 3339 time>/<counter>` (discovery.go NextVersion). */
  private version(at: number): string {
    this.counter += 1;
    return `${new Date(at).toISOString().replace(/\.\d+Z$/, 'Z')}/${this.counter}`;
  }

  private nonce(at: number): string {
    return `${this.version(at)}${randomUUID()}`;
  }

  /** The RBAC policy names a push now builds for a sidecar (see the header). */
  private policiesFor(id: string): string[] {
    const root = this.options.rootNamespace ?? 'istio-system';
    const dot = id.lastIndexOf('.');
    const [name, namespace] = [id.slice(0, dot), id.slice(dot + 1)];
    const pod = this.server
      .list('v1', 'Pod')
      .find((p) => p.metadata.name === name && p.metadata.namespace === namespace);
    const labels = pod?.metadata.labels ?? {};
    return this.server.list('security.istio.io/v1', 'AuthorizationPolicy').flatMap((o) => {
      const ns = o.metadata.namespace ?? '';
      if (
        (ns !== namespace && ns !== root) ||
        this.options.unseen?.(`AuthorizationPolicy/${ns}/${o.metadata.name}`)
      )
        return [];
      const spec = (
        o as {
          spec?: {
            targetRefs?: unknown;
            selector?: { matchLabels?: Record<string, string> };
            rules?: unknown[];
          };
        }
      ).spec;
      if (spec?.targetRefs !== undefined) return [];
      if (!Object.entries(spec?.selector?.matchLabels ?? {}).every(([k, v]) => labels[k] === v)) return [];
      const rules = Math.max(1, spec?.rules?.length ?? 0);
      return Array.from({ length: rules }, (_, i) => `ns[${ns}]-policy[${o.metadata.name}]-rule[${i}]`);
    });
  }

  private tick(): void {
    const now = Date.now();
    const root = this.options.rootNamespace ?? 'istio-system';
    // Sidecars connect when their pod exists: every type sent and acked once.
    for (const pod of this.server.list('v1', 'Pod')) {
      const containers = [
        ...((pod.spec as { initContainers?: { name?: string }[] } | undefined)?.initContainers ?? []),
        ...((pod.spec as { containers?: { name?: string }[] } | undefined)?.containers ?? []),
      ];
      const waypoint = pod.metadata.labels?.['gateway.networking.k8s.io/gateway-name'] !== undefined;
      if (!waypoint && !containers.some((c) => c.name === 'istio-proxy')) continue;
      const id = `${pod.metadata.name}.${pod.metadata.namespace ?? ''}`;
      this.kinds.set(id, waypoint ? 'waypoint' : 'sidecar');
      // A pod recreated under the same name is a new connection, with a fresh state.
      if (this.proxies.has(id) && this.uids.get(id) === pod.metadata.uid) continue;
      this.uids.set(id, pod.metadata.uid ?? '');
      const types = new Map<string, TypeState>();
      const version = this.version(now);
      for (const type of ['CDS', 'LDS', 'RDS', 'EDS']) {
        const n = `${version}${randomUUID()}`;
        types.set(type, { sent: n, acked: n, sentTime: now, answerAt: now });
      }
      this.proxies.set(id, types);
      this.lastPush.set(id, { version, policies: this.policiesFor(id) });
    }
    for (const name of this.options.ztunnels ?? []) {
      const id = `${name}.istio-system`;
      if (this.proxies.has(id)) continue;
      this.kinds.set(id, 'ztunnel');
      const types = new Map<string, TypeState>();
      for (const type of ['WDS', 'WADS']) {
        const n = this.nonce(now);
        types.set(type, { sent: n, acked: n, sentTime: now, answerAt: now });
      }
      this.proxies.set(id, types);
    }
    // Istio objects stored or changed: a push for their namespace, pushLagMs later.
    for (const [apiVersion, kind] of WATCHED) {
      for (const o of this.server.list(apiVersion, kind)) {
        const key = `${kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
        const rv = o.metadata.resourceVersion ?? '';
        if (this.seen.get(key) === rv || this.options.unseen?.(key)) continue;
        this.seen.set(key, rv);
        const spec = (o as { spec?: { targetRefs?: unknown } }).spec;
        // Debounced: a change within the quiet period postpones the pushes not yet made.
        for (const p of this.pending) p.at = Math.max(p.at, now + (this.options.pushLagMs ?? 100));
        if (!this.options.never)
          this.pending.push({
            at: now + (this.options.pushLagMs ?? 100),
            namespace: o.metadata.namespace ?? '',
            ...((kind === 'AuthorizationPolicy' && spec?.targetRefs === undefined) ||
            kind === 'PeerAuthentication'
              ? { ztunnel: true }
              : {}),
          });
      }
    }
    for (const push of this.pending.filter((p) => p.at <= now)) {
      this.pending.splice(this.pending.indexOf(push), 1);
      const version = this.version(now);
      for (const [id, types] of this.proxies) {
        const namespace = id.slice(id.lastIndexOf('.') + 1);
        const wads = types.get('WADS');
        if (this.kinds.get(id) === 'ztunnel' && wads) {
          if (!push.ztunnel) continue;
          wads.sent = `${version}${randomUUID()}`;
          wads.sentTime = now;
          wads.answerAt = now + (this.options.ackLagMs ?? 0);
          continue;
        }
        if (push.namespace !== root && push.namespace !== namespace) continue;
        const lds = types.get('LDS');
        if (!lds) continue;
        lds.sent = `${version}${randomUUID()}`;
        this.lastPush.set(id, { version, policies: this.policiesFor(id) });
        lds.sentTime = now;
        lds.answerAt = now + (this.options.ackLagMs ?? 0);
        const nack = this.options.nack?.(id);
        if (nack) lds.nack = nack;
        else delete lds.nack;
      }
    }
    // Proxies answer their pushes.
    for (const [id, types] of this.proxies) {
      for (const s of types.values()) {
        if (s.acked === s.sent || s.answerAt > now) continue;
        if (s.nack) {
          s.lastError = s.nack;
          continue;
        }
        s.acked = s.sent;
        delete s.lastError;
        this.enforcedAt.set(id, now);
      }
    }
  }
}

/** An exec that prints `stdout` (and `stderr`) and exits with `code`. */
function answer(stdout: string, stderr = '', code = 0): ReturnType<ExecHandler> {
  return spawn(
    process.execPath,
    [
      '-e',
      'process.stdout.write(process.argv[1] ? process.argv[1] + "\\n" : ""); process.stderr.write(process.argv[2]); process.exitCode = Number(process.argv[3])',
      stdout,
      stderr,
      String(code),
    ],
    { stdio: 'pipe' },
  );
}

/** A ConfigDump as istiod's `/debug/config_dump` writes it (jsonpb names), cut to the RBAC filter. */
function configDump(last: LastPush): Record<string, unknown> {
  const rbac = {
    name: 'envoy.filters.http.rbac',
    typedConfig: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC',
      rules: {
        policies: Object.fromEntries(last.policies.map((n) => [n, { permissions: [{ any: true }] }])),
      },
    },
  };
  const listener = {
    name: 'virtualInbound',
    filterChains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typedConfig: {
              '@type':
                'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              httpFilters: [rbac],
            },
          },
        ],
      },
    ],
  };
  return {
    configs: [
      { '@type': 'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump' },
      { '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump', versionInfo: last.version },
      {
        '@type': 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump',
        versionInfo: last.version,
        dynamicListeners: [{ name: 'virtualInbound', activeState: { versionInfo: last.version, listener } }],
      },
    ],
  };
}
