/**
 * The evaluator: walks the layers a real packet walks and predicts what the probe observes.
 *
 *   source egress policy → destination ingress policy      (network: Calico + Kubernetes)
 *   → the server sidecar's mTLS mode                        (PeerAuthentication)
 *   → the server sidecar's authorization                    (AuthorizationPolicy)
 *
 * DNS and API attempts walk the network to CoreDNS / the API server, then ask what those answer.
 * Observable outcomes follow the facts table: a network drop is `denied-l4` (a timeout without a
 * sidecar, Envoy's 503 with one), a plaintext client against STRICT is `reset`, an authorization
 * deny is `denied-l7` (403 on HTTP, a closed connection on TCP). Everything is compiled once;
 * per-attempt work is table lookups, and connection-level verdicts are cached.
 */
import type { Gateway } from '../scenario/gateways.js';
import type {
  AddressedAttempt,
  Attempt,
  Manifest,
  Namespace,
  Port,
  TargetedAttempt,
  Workload,
} from '../scenario/types.js';
import { serviceHost } from '../scenario/types.js';
import { AmbientAuthorization } from './ambient-authz.js';
import { AmbientPaths } from './ambient.js';
import { ApiLayer } from './api.js';
import {
  AuthorizationLayer,
  normalizePath,
  type AuthzDecision,
  type RequestContext,
} from './authorization.js';
import { compileCalico } from './calico.js';
import { compileClusterNetworkPolicy } from './clusternetworkpolicy.js';
import { buildCluster, type Cluster, type Endpoint } from './cluster.js';
import { DnsLayer } from './dns.js';
import { GatewayPaths } from './gateway.js';
import { outsideEndpoints, predictNodePort, predictOutside } from './external.js';
import { NetworkLayer, type Protocol } from './network.js';
import { compileNetworkPolicy } from './networkpolicy.js';
import { inventory, layerOf, type Unmodeled } from './objects.js';
import { PeerAuthenticationLayer } from './peerauthentication.js';
import { ReferenceGrants } from './reference-grant.js';
import {
  DEFAULT_CLUSTER_FACTS,
  MAYBE,
  NO,
  type AblatableLayer,
  type ClusterFacts,
  type Layer,
  type Prediction,
  type PolicyManifest,
  type PredictedOutcome,
} from './types.js';

const CONNECTION_CACHE_LIMIT = 16_384;

/** Fact O7: a TCP probe connects to its own sidecar, so every refusal looks like a late close. */
const TCP_BEHIND_SIDECAR =
  'note: a TCP probe behind its own sidecar only sees the connection closed, which the agent cannot attribute (fact O7); probe from a pod without a sidecar to observe this';

/** A Kubernetes object as plain data (`apiVersion`, `kind`, `metadata`, `spec`, …). */
export type PolicyObject = Readonly<Record<string, unknown>>;

/** A plain object becomes a manifest located by its position in the list. */
export function located(m: Manifest | PolicyObject, index: number): PolicyManifest {
  if (isManifest(m)) return m;
  return { object: m, file: 'policies', line: index + 1 };
}

function isManifest(m: Manifest | PolicyObject): m is Manifest {
  return 'object' in m && 'file' in m && typeof m.object === 'object' && m.object !== null;
}

export interface ModelInput {
  readonly namespaces: readonly Namespace[];
  readonly workloads: readonly Workload[];
  readonly meshRootNamespace: string;
  readonly trustDomain: string;
  /** Default: cluster.local. */
  readonly clusterDomain?: string;
  /**
   * Every policy object, in apply order: located manifests (reasons then cite file:line), or
   * plain Kubernetes objects.
   */
  readonly manifests: readonly (Manifest | PolicyObject)[];
  /** Defaults: {@link DEFAULT_CLUSTER_FACTS}. */
  readonly facts?: Partial<ClusterFacts>;
  /**
   * The attempts to be predicted, when some dial an address rather than a Service: each node,
   * metadata or outside address they name becomes an endpoint of the network layer. Default: none.
   */
  readonly attempts?: readonly Attempt[];
  /** Ingress gateways (`spec.gateways`), for `gateway` attempts (harness/model/gateway.ts). Default: none. */
  readonly gateways?: readonly Gateway[];
}

export interface ModelOptions {
  /** Layers whose policies are left out (ablation). Default: none. */
  readonly without?: readonly AblatableLayer[];
}

interface PathVerdict {
  readonly verdict: 0 | 1 | 2;
  readonly reasons: readonly string[];
}

/** How Istio treats a port: declared by its name (protocol selection), else sniffed. */
export function istioProtocol(port: Port): 'http' | 'tcp' | 'sniffed' {
  const prefix = (port.name ?? '').split('-')[0] ?? '';
  if (['http', 'http2', 'grpc', 'grpc-web', 'h2c'].includes(prefix)) return 'http';
  if (['tcp', 'tls', 'https', 'mongo', 'mysql', 'redis', 'mqtt'].includes(prefix)) return 'tcp';
  return 'sniffed';
}

export class PolicyModel {
  readonly cluster: Cluster;
  private readonly network: NetworkLayer;
  private readonly peerAuth: PeerAuthenticationLayer;
  private readonly authz: AuthorizationLayer;
  private readonly ambient: AmbientPaths;
  private readonly gateways: GatewayPaths;
  private readonly dns: DnsLayer;
  private readonly api: ApiLayer;
  private readonly unmodeled: readonly Unmodeled[];
  private readonly reject: boolean;
  /**
   * The objects the cluster's Calico does not act on (an AdminNetworkPolicy on v3.32), each with
   * why: they change no prediction, and every prediction says so.
   */
  readonly ignored: readonly string[];
  private readonly networkProblems: readonly string[];
  private readonly connectionCache = new Map<number, PathVerdict>();
  private readonly startupCache = new Map<number, PathVerdict>();

  constructor(input: ModelInput, options: ModelOptions = {}) {
    const without = new Set(options.without ?? []);
    const manifests = input.manifests.map(located).filter((m) => {
      const layer = layerOf(m);
      return layer === undefined || !without.has(layer);
    });
    const facts: ClusterFacts = { ...DEFAULT_CLUSTER_FACTS, ...input.facts };
    const clusterDomain = input.clusterDomain ?? 'cluster.local';
    this.cluster = buildCluster(
      { ...input, clusterDomain },
      manifests,
      facts,
      outsideEndpoints(input.attempts ?? [], facts),
    );
    const inv = inventory(manifests, input.meshRootNamespace, clusterDomain, facts.calico);
    const calico = compileCalico(
      { policies: inv.calicoPolicies, tiers: inv.calicoTiers, networkSets: inv.calicoNetworkSets },
      this.cluster,
    );
    const k8s = inv.networkPolicies.map((m) => compileNetworkPolicy(m, this.cluster));
    const cnp = inv.clusterNetworkPolicies.map((m) => compileClusterNetworkPolicy(m, this.cluster));
    this.network = new NetworkLayer(this.cluster, [...cnp, ...k8s, ...calico.policies], calico.tiers);
    this.networkProblems = calico.problems;
    this.peerAuth = new PeerAuthenticationLayer(inv.peerAuthentications, input.meshRootNamespace);
    this.authz = new AuthorizationLayer(
      inv.authorizationPolicies,
      input.meshRootNamespace,
      input.trustDomain,
    );
    this.ambient = new AmbientPaths({
      cluster: this.cluster,
      path: (a, b, port, protocol) => this.path(a, b, port, protocol),
      ingress: (dst, src, port) => {
        const problem = this.networkUnmodeled();
        if (problem) return { verdict: MAYBE, reasons: [problem] };
        return this.network.evaluate('Ingress', dst, src, dst, port, 'TCP');
      },
      peerAuth: this.peerAuth,
      authz: new AmbientAuthorization(this.authz),
      context: (attempt, src, dst, principal) => ({
        ...this.requestContext(src, dst, attempt, false, attemptIsHttp(attempt)),
        principal,
      }),
      reject: inv.rejectInsteadOfDrop,
      http: attemptIsHttp,
    });
    this.dns = new DnsLayer(this.cluster);
    this.api = new ApiLayer(inv.rbac);
    this.unmodeled = [
      ...inv.unmodeled,
      ...inv.requestAuthentications.map((m): Unmodeled => ({
        title: `RequestAuthentication ${String((m.object.metadata as { name?: string } | undefined)?.name)} (${m.file}:${m.line})`,
        why: 'it validates JWTs in the Authorization header, which the model does not evaluate',
        scope: 'server',
        // Requests without a token pass RequestAuthentication untouched; only a token matters.
        applies: () => false,
      })),
    ];
    this.reject = inv.rejectInsteadOfDrop;
    this.ignored = inv.ignored;
    this.gateways = new GatewayPaths({
      cluster: this.cluster,
      authz: this.authz,
      grants: new ReferenceGrants(inv.referenceGrants),
      unmodeled: this.unmodeled,
      path: (a, b, port) => this.path(a, b, port, 'TCP'),
      startup: (e) => this.startup(e),
      dropOutcome: (a, via) => this.dropOutcome(a, via),
      reach: (client, attempt) => this.reach(client, attempt, {}),
      protocol: istioProtocol,
    });
  }

  /** Predicts one attempt; the objects Calico ignores are named after the reasons. */
  predict(attempt: Attempt): Prediction {
    const p = this.predictAttempt(attempt);
    return this.ignored.length === 0 ? p : { ...p, reasons: [...p.reasons, ...this.ignored] };
  }

  private predictAttempt(attempt: Attempt): Prediction {
    const src = this.cluster.byKey.get(`${attempt.from.namespace}/${attempt.from.name}`);
    if (!src)
      return unknown('none', [
        `${attempt.from.namespace}/${attempt.from.name} is not a workload of the scenario`,
      ]);
    const everywhere = this.unmodeled.find((u) => u.scope === 'all');
    if (everywhere) return unknown('none', [`${everywhere.title}: ${everywhere.why}`]);
    const startup = this.startup(src);
    if (startup.verdict !== 1) return unknown('network', startup.reasons);
    switch (attempt.kind) {
      case 'dns':
        return this.predictDns(src, attempt);
      case 'api':
        return this.predictApi(src, attempt);
      case 'http':
      case 'tcp':
      case 'udp':
      default:
        return 'target' in attempt
          ? this.predictAddressed(src, attempt)
          : this.predictConnection(src, attempt);
    }
  }

  private predictAddressed(src: Endpoint, attempt: AddressedAttempt): Prediction {
    const t = attempt.target;
    if (t.kind === 'gateway') {
      if (attempt.kind !== 'http')
        return unknown('none', ['an ingress gateway attempt is an HTTP request; no other kind is modeled']);
      return this.gateways.predict(src, attempt, t);
    }
    if (t.kind === 'node-port') {
      const network = this.networkUnmodeled();
      if (network) return unknown('network', [network]);
      return predictNodePort(
        {
          byKey: this.cluster.byKey,
          egress: (a, b, port, protocol) => this.network.evaluate('Egress', a, b, b, port, protocol),
          dropOutcome: (a, via) => this.dropOutcome(a, via),
        },
        src,
        { ...attempt, target: t },
      );
    }
    if (t.kind !== 'pod-ip') {
      const network = this.networkUnmodeled();
      if (network) return unknown('network', [network]);
      return predictOutside(
        {
          byKey: this.cluster.byKey,
          path: (a, b, port, protocol) => this.path(a, b, port, protocol),
          dropOutcome: (a, via) => this.dropOutcome(a, via),
        },
        src,
        attempt,
      );
    }
    // By pod IP: the same packets as through the Service (Calico enforces after DNAT, fact A3),
    // but no Service for the client sidecar to route by, so it passes the traffic through as
    // plaintext (fact O5) and the destination sees a client without a certificate.
    const p = this.predictConnection(src, viaService(attempt, t.workload), {
      plaintext: true,
      podIp: true,
    });
    const note = src.sidecar
      ? `by pod IP: no Service and no DNS; the sidecar of ${src.key} passes it through as plaintext (fact O5)`
      : 'by pod IP: no Service and no DNS';
    return { ...p, reasons: [note, ...p.reasons] };
  }

  /**
   * A closed port (one the target does not serve): whatever reaches the pod is refused by its
   * kernel. Without sidecars the client sees ECONNREFUSED (an ICMP port unreachable for UDP on a
   * connected socket). Through a sidecar, an HTTP client gets Envoy's 503 whose reset reason says
   * `delayed connect error: 111`, which the agent reads as refused; a raw TCP client only sees the
   * connection closed, which it cannot attribute. Source: reference/istio-calico-facts.md A1
   * ("A refused connection (RST: the pod exists but the port is closed …) gives … 111", istio/istio#51267)
   * and O7.
   */
  private predictConnection(src: Endpoint, attempt: TargetedAttempt, via: Via = {}): Prediction {
    const reached = this.reach(src, attempt, via);
    if (!attempt.port.closed || reached.outcome !== 'allowed') return reached;
    const reasons = [...reached.reasons, `nothing listens on ${attempt.port.port}/${attempt.port.protocol}`];
    const dst = this.cluster.byKey.get(`${attempt.to.namespace}/${attempt.to.name}`);
    const proxied = attempt.kind !== 'udp' && (src.sidecar || dst?.sidecar === true);
    if (proxied && attempt.kind === 'tcp') {
      return unknown('none', [
        ...reasons,
        'a sidecar proxies the connection, so a raw TCP client only sees it closed, which the agent cannot attribute (fact O7)',
      ]);
    }
    return {
      outcome: 'refused',
      layer: 'none',
      reasons: [
        ...reasons,
        proxied
          ? "the sidecar's upstream connect is refused (503, delayed connect error: 111)"
          : `the pod's kernel refuses it (${attempt.kind === 'udp' ? 'ICMP port unreachable' : 'RST'})`,
      ],
    };
  }

  /**
   * @param via.plaintext the client's sidecar, if any, does not originate mTLS (a pod-IP target);
   *   the client is then a plaintext peer to the destination.
   */
  private reach(src: Endpoint, attempt: TargetedAttempt, via: Via): Prediction {
    const dst = this.cluster.byKey.get(`${attempt.to.namespace}/${attempt.to.name}`);
    if (!dst)
      return unknown('none', [
        `${attempt.to.namespace}/${attempt.to.name} is not a workload of the scenario`,
      ]);
    const startup = this.startup(dst);
    if (startup.verdict !== 1) return unknown('network', startup.reasons);
    const protocol: Protocol = attempt.kind === 'udp' ? 'UDP' : 'TCP';
    // ztunnel captures TCP only (fact AO12): UDP takes the plain path below whatever the data plane.
    if (protocol === 'TCP' && AmbientPaths.applies(src, dst))
      return this.ambient.predict(src, dst, attempt, via.podIp ? 'pod' : 'service');
    const port = attempt.port.port;
    const path = this.path(src, dst, port, protocol);
    if (path.verdict === MAYBE) return unknown('network', path.reasons);
    // Sidecars intercept TCP only: UDP never meets mTLS or authorization.
    const meshed = protocol === 'TCP';
    if (path.verdict === NO) {
      const reasons =
        attempt.kind === 'tcp' && src.sidecar ? [...path.reasons, TCP_BEHIND_SIDECAR] : path.reasons;
      return { outcome: this.dropOutcome(src, meshed), layer: 'network', reasons };
    }
    const reasons = [...path.reasons];
    if (!meshed)
      return {
        outcome: 'allowed',
        layer: 'none',
        reasons: [...reasons, 'UDP is not intercepted by sidecars or ztunnel (fact AO12)'],
      };

    const host = serviceHost(attempt.to, this.cluster.clusterDomain);
    const client = src.sidecar
      ? this.unmodeled.find((u) => u.scope === 'client' && u.applies(src, host))
      : undefined;
    if (client)
      return unknown('mtls', [...reasons, `${client.title} applies to the client ${src.key}: ${client.why}`]);
    if (!dst.sidecar) {
      return {
        outcome: 'allowed',
        layer: 'none',
        reasons: [...reasons, `${dst.key} has no sidecar: no mTLS or authorization`],
      };
    }
    const mtls = this.peerAuth.modeFor(dst, port);
    if (mtls.mode === undefined) return unknown('mtls', [...reasons, ...mtls.reasons]);
    reasons.push(...mtls.reasons);
    const originatesMtls = src.sidecar && !via.plaintext;
    if (!originatesMtls && mtls.mode === 'STRICT') {
      return {
        outcome: 'reset',
        layer: 'mtls',
        reasons: [
          ...reasons,
          `${src.key} ${src.sidecar ? 'sends plaintext' : 'has no sidecar'}: its plaintext is refused by STRICT mTLS (connection reset)`,
        ],
      };
    }
    const mutual = originatesMtls && mtls.mode !== 'DISABLE';
    reasons.push(
      mutual
        ? `mTLS: the peer principal is ${principalOf(src, this.cluster.trustDomain)}`
        : `plaintext (${originatesMtls ? 'DISABLE' : src.sidecar ? 'passed through by the client sidecar' : 'no client sidecar'}): the peer has no principal`,
    );
    const serverSide = this.unmodeled.filter((u) => u.scope === 'server' && u.applies(dst, host));
    const opaque = serverSide.find((u) => u.rewritesHeaders === undefined);
    if (opaque) {
      return unknown('authorization', [...reasons, `${opaque.title} applies to ${dst.key}: ${opaque.why}`]);
    }

    const declared = istioProtocol(attempt.port);
    if (attempt.kind === 'tcp' && declared === 'http') {
      return unknown('authorization', [
        ...reasons,
        `port ${port} is named '${attempt.port.name ?? ''}', so Istio parses it as HTTP; raw TCP bytes there are not modeled`,
      ]);
    }
    const http = attempt.kind === 'http' && declared !== 'tcp';
    const ctx = this.requestContext(src, dst, attempt, mutual, http);
    const rewrites = http ? serverSide.flatMap((u) => u.rewritesHeaders ?? []) : [];
    const decision =
      rewrites.length > 0
        ? (this.authorizeAfterLua(dst, ctx, serverSide) ??
          this.authorizeRewritten(dst, ctx, rewrites, serverSide))
        : this.authz.evaluate(dst, ctx);
    reasons.push(...decision.reasons);
    if (decision.verdict === MAYBE) return unknown('authorization', reasons);
    if (decision.verdict === NO) {
      if (!http) reasons.push('on a TCP port the denied connection is closed without data');
      if (attempt.kind === 'tcp' && src.sidecar) reasons.push(TCP_BEHIND_SIDECAR);
      return { outcome: 'denied-l7', layer: 'authorization', reasons };
    }
    return { outcome: 'allowed', layer: 'none', reasons };
  }

  /**
   * Authorization behind Lua filters the interpreter can run: RBAC sees the headers the script
   * leaves when it runs before RBAC, the client's otherwise. Undefined when a filter cannot be run.
   */
  private authorizeAfterLua(
    dst: Endpoint,
    ctx: RequestContext,
    filters: readonly Unmodeled[],
  ): AuthzDecision | undefined {
    const active = filters.filter((f) => f.lua?.port === undefined || f.lua.port === ctx.port);
    if (active.some((f) => f.lua === undefined)) return undefined;
    const before = active.filter((f) => f.lua?.beforeRbac === true);
    if (before.length > 1) return undefined;
    const notes = active
      .filter((f) => f.lua?.beforeRbac === false)
      .map((f) => `${f.title} runs after RBAC: authorization sees the client's headers`);
    const [filter] = before;
    if (!filter?.lua) {
      const d = this.authz.evaluate(dst, ctx);
      return { verdict: d.verdict, reasons: [...notes, ...d.reasons] };
    }
    const headers = new Map(ctx.headers);
    const ran = filter.lua.program.run({
      peerUri: ctx.principal === undefined ? undefined : `spiffe://${ctx.principal}`,
      headers,
    });
    if (!ran) return undefined;
    const changed = (filter.rewritesHeaders ?? []).map((h) => {
      const v = headers.get(h);
      return v === undefined ? `${h} absent` : `${h}: ${v}`;
    });
    const d = this.authz.evaluate(dst, { ...ctx, headers });
    return {
      verdict: d.verdict,
      reasons: [
        ...notes,
        `${filter.title} runs before RBAC and leaves ${changed.join(', ')}${ctx.principal === undefined ? ' (plaintext: no peer certificate)' : ''}`,
        ...d.reasons,
      ],
    };
  }

  /**
   * Authorization behind Lua filters that may rewrite some headers: tried with every value they
   * could leave (unchanged, removed, the verified principal with or without `spiffe://`, or it
   * appended to the client's value); definite only when all of them give the same verdict.
   */
  private authorizeRewritten(
    dst: Endpoint,
    ctx: RequestContext,
    names: readonly string[],
    filters: readonly Unmodeled[],
  ): AuthzDecision {
    const unique = [...new Set(names)];
    let contexts: RequestContext[] = [ctx];
    for (const name of unique) {
      const client = ctx.headers.get(name);
      const identities = ctx.principal === undefined ? [] : [ctx.principal, `spiffe://${ctx.principal}`];
      const values = [
        client,
        undefined,
        ...identities,
        ...(client === undefined ? [] : identities.map((i) => `${client},${i}`)),
      ];
      contexts = contexts.flatMap((c) =>
        values.map((v) => {
          const headers = new Map(c.headers);
          if (v === undefined) headers.delete(name);
          else headers.set(name, v);
          return { ...c, headers };
        }),
      );
    }
    const decisions = contexts.map((c) => this.authz.evaluate(dst, c));
    const first = decisions[0] as AuthzDecision;
    const titles = filters.map((f) => f.title).join(', ');
    if (first.verdict !== MAYBE && decisions.every((d) => d.verdict === first.verdict)) {
      return {
        verdict: first.verdict,
        reasons: [
          ...first.reasons,
          `${titles} may rewrite ${unique.join(', ')}; authorization gives the same answer for every value it could leave`,
        ],
      };
    }
    const differ = decisions.find((d) => d.verdict !== first.verdict) ?? first;
    return {
      verdict: MAYBE,
      reasons: [
        `${titles} rewrites ${unique.join(', ')}, and authorization depends on the value it leaves (the model does not run Lua): ` +
          `${first.reasons.at(-1) ?? ''} / ${differ.reasons.at(-1) ?? ''}`,
      ],
    };
  }

  private requestContext(
    src: Endpoint,
    dst: Endpoint,
    attempt: Extract<Attempt, { to: unknown }>,
    mutual: boolean,
    http: boolean,
  ): RequestContext {
    const host = `${serviceHost(attempt.to, this.cluster.clusterDomain)}:${attempt.port.port}`;
    const headers = new Map<string, string>();
    let method = 'GET';
    let path = '/';
    if (attempt.kind === 'http') {
      method = attempt.http.method;
      path = normalizePath(attempt.http.path);
      for (const [k, v] of Object.entries(attempt.http.headers)) {
        const key = k.toLowerCase();
        const prior = headers.get(key);
        headers.set(key, prior === undefined ? v : `${prior},${v}`);
      }
    }
    const hostHeader = headers.get('host') ?? host;
    headers.set('host', hostHeader);
    headers.set(':authority', hostHeader);
    return {
      http,
      principal: mutual ? principalOf(src, this.cluster.trustDomain) : undefined,
      sourceAddresses: src.addresses,
      destinationAddresses: dst.addresses,
      port: attempt.port.port,
      method,
      path,
      hosts: [hostHeader],
      headers,
    };
  }

  private predictDns(src: Endpoint, attempt: Extract<Attempt, { kind: 'dns' }>): Prediction {
    const server = attempt.dnsServer;
    if (server !== undefined && !isClusterDns(server, this.cluster.clusterDomain)) {
      return unknown('dns', [
        `the query goes to ${server}, not to cluster DNS; the model does not know that server`,
      ]);
    }
    const network = this.networkUnmodeled();
    if (network) return unknown('network', [network]);
    const path = this.path(src, this.cluster.dns, dnsUdpPort(this.cluster.dns), 'UDP');
    if (path.verdict === MAYBE) return unknown('network', path.reasons);
    if (path.verdict === NO) {
      return {
        outcome: this.reject && !src.sidecar ? 'refused' : 'denied-l4',
        layer: 'network',
        reasons: path.reasons,
      };
    }
    const answer = this.dns.answer(attempt.query);
    const reasons = [...path.reasons, ...answer.reasons];
    return answer.outcome === 'unknown'
      ? unknown('dns', reasons)
      : { outcome: answer.outcome, layer: 'dns', reasons };
  }

  private predictApi(src: Endpoint, attempt: Extract<Attempt, { kind: 'api' }>): Prediction {
    const hostEndpoint = this.unmodeled.find((u) => u.scope === 'api');
    if (hostEndpoint) return unknown('network', [`${hostEndpoint.title}: ${hostEndpoint.why}`]);
    const api = this.cluster.apiServer;
    const path = this.path(src, api, api.ports[0]?.port ?? 6443, 'TCP');
    if (path.verdict === MAYBE) return unknown('network', path.reasons);
    if (path.verdict === NO)
      return { outcome: this.dropOutcome(src, true), layer: 'network', reasons: path.reasons };
    const answer = this.api.answer(src, attempt.request);
    const reasons = [...path.reasons, ...answer.reasons];
    return answer.outcome === 'unknown'
      ? unknown('api', reasons)
      : { outcome: answer.outcome, layer: 'api', reasons };
  }

  /** A drop is a timeout (or Envoy's 503 behind a sidecar); with Felix set to Reject, a refusal. */
  private dropOutcome(src: Endpoint, viaSidecar: boolean): PredictedOutcome {
    return this.reject && !(src.sidecar && viaSidecar) ? 'refused' : 'denied-l4';
  }

  private networkUnmodeled(): string | undefined {
    const problem = this.unmodeled.find((u) => u.scope === 'network');
    if (problem) return `${problem.title}: ${problem.why}`;
    return this.networkProblems[0];
  }

  /** Source egress, then destination ingress; cached per (source, destination, port, protocol). */
  private path(src: Endpoint, dst: Endpoint, port: number, protocol: Protocol): PathVerdict {
    const key =
      ((src.index * this.cluster.endpoints.length + dst.index) * 65536 + port) * 2 +
      (protocol === 'TCP' ? 0 : 1);
    const hit = this.connectionCache.get(key);
    if (hit) return hit;
    let result: PathVerdict;
    const problem = this.networkUnmodeled();
    if (problem) result = { verdict: MAYBE, reasons: [problem] };
    else {
      const egress = this.network.evaluate('Egress', src, dst, dst, port, protocol);
      if (egress.verdict !== 1) result = { verdict: egress.verdict, reasons: egress.reasons };
      else {
        const ingress = this.network.evaluate('Ingress', dst, src, dst, port, protocol);
        result = { verdict: ingress.verdict, reasons: [...egress.reasons, ...ingress.reasons] };
      }
    }
    // Bounded: a plan repeats few (source, destination, port) triples, and a million distinct
    // ones must not hold a million reason lists.
    if (this.connectionCache.size >= CONNECTION_CACHE_LIMIT) this.connectionCache.clear();
    this.connectionCache.set(key, result);
    return result;
  }

  /**
   * A sidecar needs istiod (15012/TCP) and DNS to become ready; without them the pod never
   * starts its app (docs/behaviour.md O13), and nothing it would do or serve can be predicted.
   */
  private startup(e: Endpoint): PathVerdict {
    // An ingress gateway's pod runs the same istio-proxy (harness/model/gateway.ts).
    if (!e.sidecar && e.role !== 'gateway') return { verdict: 1, reasons: [] };
    const hit = this.startupCache.get(e.index);
    if (hit) return hit;
    let result: PathVerdict = { verdict: 1, reasons: [] };
    const proxy = e.sidecar ? 'sidecar' : 'proxy';
    for (const [target, port, protocol, what] of [
      [this.cluster.istiod, 15012, 'TCP', 'istiod on 15012/TCP'],
      [this.cluster.dns, dnsUdpPort(this.cluster.dns), 'UDP', `DNS on ${dnsUdpPort(this.cluster.dns)}/UDP`],
    ] as const) {
      const path = this.path(e, target, port, protocol);
      if (path.verdict !== 1) {
        result = {
          verdict: path.verdict,
          reasons: [
            path.verdict === NO
              ? `the ${proxy} of ${e.key} cannot reach ${what}, so the pod never becomes ready (fact O13): ${path.reasons.join('; ')}`
              : `whether the ${proxy} of ${e.key} can reach ${what} is unknown: ${path.reasons.join('; ')}`,
          ],
        };
        break;
      }
    }
    this.startupCache.set(e.index, result);
    return result;
  }
}

/** Whether Istio's RBAC sees the attempt as an HTTP request: an http attempt on a port not declared TCP. */
function attemptIsHttp(attempt: Extract<Attempt, { to: unknown }>): boolean {
  return attempt.kind === 'http' && istioProtocol(attempt.port) !== 'tcp';
}

/** How a connection leaves its client: by pod IP, a client sidecar passes it through as plaintext. */
interface Via {
  readonly plaintext?: boolean;
  /** Addressed to the pod IP, not the Service: a service waypoint is not on the path (fact AO8). */
  readonly podIp?: boolean;
}

/** The same attempt addressed to the workload's Service: what the network and the server see alike. */
function viaService(a: AddressedAttempt, to: TargetedAttempt['to']): TargetedAttempt {
  switch (a.kind) {
    case 'http': {
      const { target: _target, ...rest } = a;
      return { ...rest, to };
    }
    case 'tcp': {
      const { target: _target, ...rest } = a;
      return { ...rest, to };
    }
    case 'udp': {
      const { target: _target, ...rest } = a;
      return { ...rest, to };
    }
  }
}

function principalOf(e: Endpoint, trustDomain: string): string {
  return `${trustDomain}/ns/${e.namespace ?? ''}/sa/${e.serviceAccount ?? 'default'}`;
}

function unknown(layer: Layer, reasons: readonly string[]): Prediction {
  return { outcome: 'unknown', layer, reasons };
}

/** The DNS pods' own UDP port (53 on kubeadm's CoreDNS): what a query is addressed to after DNAT. */
function dnsUdpPort(dns: Endpoint): number {
  return dns.ports.find((p) => p.protocol === 'UDP')?.port ?? 53;
}

function isClusterDns(server: string, domain: string): boolean {
  const host = server.replace(/:53$/, '').replace(/^\[|\]$/g, '');
  return [
    'kube-dns.kube-system',
    `kube-dns.kube-system.svc`,
    `kube-dns.kube-system.svc.${domain}`,
    '10.96.0.10',
  ].includes(host);
}
