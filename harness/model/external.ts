/**
 * Attempts that leave the Service abstraction: to the node a pod runs on, to the cloud's metadata
 * service, to addresses outside the cluster, and to another pod by its IP. The network layer sees
 * each destination as an endpoint with no namespace (as it sees the API server): pod selectors never
 * match it, ipBlock and nets rules do by address, and a pod's egress policy applies to it. Calico
 * applies a workload's egress policy to traffic to its own host before `DefaultEndpointToHostAction`
 * (projectcalico/calico `api/pkg/apis/projectcalico/v3/felixconfig.go` @v3.31.2,
 * DefaultEndpointToHostAction: "This action is applied after workload endpoint egress policy").
 *
 * What a probe then observes:
 * - From a pod without a sidecar, a drop is a connect timeout (fact O8), a REJECT a refusal (O9).
 * - From a pod with a sidecar, Envoy takes the connection. With Istio's default
 *   `outboundTrafficPolicy: ALLOW_ANY` it passes traffic to unknown destinations through
 *   (istio/api `mesh/v1alpha1/config.proto`, OutboundTrafficPolicy: "Default mode is ALLOW_ANY
 *   which means outbound traffic to unknown destinations will be allowed"). A TCP probe then only
 *   sees a closed connection (fact O7), and whether an HTTP probe meets an HTTP listener for that
 *   port depends on the Services of the whole mesh: the outcome is `unknown`.
 * - To a pod IP, the client sidecar passes the traffic through as plaintext (fact O5), so the
 *   destination treats it as a client without a sidecar: STRICT resets it, and authorization sees
 *   no principal. On a port some Service of the mesh declares as HTTP the client sidecar has an
 *   HTTP listener, whose passthrough route answers a dropped connect with Envoy's 503 (fact O6)
 *   [DERIVED].
 * - What answers when the network lets the packet through depends on the destination: the kubelet
 *   listens on 10250 on every node; SSH, the metadata service and outside addresses depend on the
 *   node image and the cloud, so those outcomes are `unknown` with the reason.
 * - To a node port of a Service: the node forwards it to a backend pod of the Service (Kubernetes
 *   documentation, Service type NodePort: "Each node proxies that port … into your Service"), and
 *   Calico enforces workload policy after conntrack and DNAT (reference/istio-calico-facts.md A3),
 *   so the source's egress policy sees the backend pod and its target port, as it would through
 *   the ClusterIP. What the backend's ingress policy sees is not in the facts: node port traffic
 *   may reach it from a node address once the node has rewritten the source, so when the source's
 *   egress lets it through the outcome is `unknown` with that reason.
 */
import { parseCidr, type AddressRange } from './cidr.js';
import type { Endpoint } from './cluster.js';
import type { ClusterFacts, Prediction, PredictedOutcome } from './types.js';
import { KUBELET_PORT, addressTargetText, isMetadataAddress } from '../scenario/address-target.js';
import type { AddressedAttempt, AddressTarget, Attempt } from '../scenario/types.js';
import { refText } from '../scenario/types.js';

/** An endpoint as buildCluster takes it (it numbers them and computes Calico's labels). */
export type EndpointSpec = Omit<Endpoint, 'index' | 'calicoLabels'>;

/** The key of the endpoint an address target stands for. */
export function outsideKey(t: AddressTarget): string | undefined {
  switch (t.kind) {
    case 'node':
      return 'the node';
    case 'internet':
      return 'the internet';
    case 'address':
      return `address ${t.address}`;
    case 'pod-ip':
    case 'node-port':
    case 'gateway':
      return undefined;
  }
}

function endpoint(key: string, name: string, addresses: readonly AddressRange[], text: string): EndpointSpec {
  return {
    key,
    name,
    namespace: undefined,
    labels: {},
    serviceAccount: undefined,
    sidecar: false,
    dataplane: 'none',
    ports: [],
    addresses,
    addressText: text,
    role: 'outside',
    service: { namespace: '', name: '' },
  };
}

/**
 * The endpoints outside the pod network that the attempts dial: the node (its address within
 * `facts.nodes`), the internet stand-in, and each literal address once.
 */
export function outsideEndpoints(attempts: readonly Attempt[], facts: ClusterFacts): EndpointSpec[] {
  const specs = new Map<string, EndpointSpec>();
  for (const a of attempts) {
    if (!('target' in a)) continue;
    const t = a.target;
    const key = outsideKey(t);
    if (key === undefined || specs.has(key)) continue;
    if (t.kind === 'node') {
      const cidrs = facts.nodes.cidrs;
      specs.set(
        key,
        endpoint(
          key,
          'node',
          cidrs.flatMap((c) => parseCidr(c) ?? []),
          `a node address in ${cidrs.join(', ')}`,
        ),
      );
    } else if (t.kind === 'internet') {
      const cidrs = facts.internet.cidrs;
      specs.set(
        key,
        endpoint(
          key,
          'internet',
          cidrs.flatMap((c) => parseCidr(c) ?? []),
          `the internet stand-in, ${cidrs.join(', ')}`,
        ),
      );
    } else if (t.kind === 'address') {
      const range = parseCidr(t.address);
      specs.set(key, endpoint(key, t.address, range ? [range] : [], t.address));
    }
  }
  return [...specs.values()];
}

/** What the evaluator lends this module: the network path and its view of drops. */
export interface OutsideContext {
  readonly byKey: ReadonlyMap<string, Endpoint>;
  path(
    src: Endpoint,
    dst: Endpoint,
    port: number,
    protocol: 'TCP' | 'UDP',
  ): { verdict: 0 | 1 | 2; reasons: readonly string[] };
  dropOutcome(src: Endpoint, viaSidecar: boolean): PredictedOutcome;
}

/** Predicts an attempt to the node, the metadata service, an outside address or the internet. */
export function predictOutside(ctx: OutsideContext, src: Endpoint, attempt: AddressedAttempt): Prediction {
  const t = attempt.target;
  const key = outsideKey(t);
  const dst = key === undefined ? undefined : ctx.byKey.get(key);
  const port = attempt.port.port;
  const shown = `${addressTargetText(t)}:${port}`;
  if (!dst)
    return { outcome: 'unknown', layer: 'none', reasons: [`${shown} is not an endpoint the model knows`] };
  const protocol = attempt.kind === 'udp' ? 'UDP' : 'TCP';
  const path = ctx.path(src, dst, port, protocol);
  const reasons = [`${src.key} to ${shown} (${dst.addressText})`, ...path.reasons];
  if (path.verdict === 2) return { outcome: 'unknown', layer: 'network', reasons };
  if (src.dataplane === 'ambient' && protocol === 'TCP') {
    return {
      outcome: 'unknown',
      layer: path.verdict === 0 ? 'network' : 'none',
      reasons: [
        ...reasons,
        `${src.key} is in the ambient mesh: ztunnel takes its outbound connections, and what a probe sees of one to a destination outside the mesh is not in the reference facts`,
      ],
    };
  }
  const intercepted = src.sidecar && protocol === 'TCP';
  if (intercepted) {
    return {
      outcome: 'unknown',
      layer: path.verdict === 0 ? 'network' : 'none',
      reasons: [
        ...reasons,
        path.verdict === 0
          ? `the network drops it, but ${src.key} sends through its sidecar, which passes traffic to destinations outside the mesh through (outboundTrafficPolicy ALLOW_ANY, Istio's default): the probe sees a connection its own Envoy closes, which it cannot attribute (fact O7); probe from a pod without a sidecar`
          : `${src.key} sends through its sidecar (outboundTrafficPolicy ALLOW_ANY passes it through); what answers is not modeled`,
      ],
    };
  }
  if (path.verdict === 0) return { outcome: ctx.dropOutcome(src, false), layer: 'network', reasons };
  return answer(t, port, reasons);
}

/** What answers once the network lets the packet through. */
function answer(t: AddressTarget, port: number, reasons: readonly string[]): Prediction {
  if (t.kind === 'node' && port === KUBELET_PORT) {
    return {
      outcome: 'allowed',
      layer: 'none',
      reasons: [
        ...reasons,
        'the kubelet listens on 10250 on every node: the network lets the pod reach its API',
      ],
    };
  }
  const why =
    t.kind === 'address' && isMetadataAddress(t.address)
      ? 'whether a metadata service answers there depends on the cloud (none on kind)'
      : t.kind === 'node'
        ? `whether anything listens on port ${port} of the node depends on the node image`
        : 'whether that address answers depends on the world outside the cluster';
  return { outcome: 'unknown', layer: 'none', reasons: [...reasons, `the network allows it; ${why}`] };
}

/** What the evaluator lends {@link predictNodePort}: the source's egress policy alone. */
export interface NodePortContext {
  readonly byKey: ReadonlyMap<string, Endpoint>;
  egress(
    src: Endpoint,
    dst: Endpoint,
    port: number,
    protocol: 'TCP' | 'UDP',
  ): { verdict: 0 | 1 | 2; reasons: readonly string[] };
  dropOutcome(src: Endpoint, viaSidecar: boolean): PredictedOutcome;
}

/** Predicts an attempt to a node port of a workload's NodePort Service, on the source's node. */
export function predictNodePort(
  ctx: NodePortContext,
  src: Endpoint,
  attempt: AddressedAttempt & { readonly target: { readonly kind: 'node-port' } },
): Prediction {
  const workload = refText(attempt.target.workload);
  const dst = ctx.byKey.get(workload);
  const port = attempt.port.port;
  if (!dst)
    return { outcome: 'unknown', layer: 'none', reasons: [`${workload} is not a workload of the scenario`] };
  const protocol = attempt.kind === 'udp' ? 'UDP' : 'TCP';
  const egress = ctx.egress(src, dst, port, protocol);
  const reasons = [
    `${src.key} to its node on the node port of ${workload}:${port}: the node forwards it to ${dst.key}:${port}, and Calico applies ${src.key}'s egress policy after that DNAT (fact A3)`,
    ...egress.reasons,
  ];
  if (egress.verdict === 2) return { outcome: 'unknown', layer: 'network', reasons };
  if (src.dataplane === 'ambient' && protocol === 'TCP') {
    return {
      outcome: 'unknown',
      layer: egress.verdict === 0 ? 'network' : 'none',
      reasons: [
        ...reasons,
        `${src.key} is in the ambient mesh: what ztunnel does with a connection to a node address is not in the reference facts`,
      ],
    };
  }
  if (src.sidecar && protocol === 'TCP') {
    return {
      outcome: 'unknown',
      layer: egress.verdict === 0 ? 'network' : 'none',
      reasons: [
        ...reasons,
        `${src.key} sends through its sidecar, which passes a node address through (outboundTrafficPolicy ALLOW_ANY): a drop shows as a connection its own Envoy closes, which the probe cannot attribute (fact O7); probe from a pod without a sidecar`,
      ],
    };
  }
  if (egress.verdict === 0) return { outcome: ctx.dropOutcome(src, false), layer: 'network', reasons };
  return {
    outcome: 'unknown',
    layer: 'none',
    reasons: [
      ...reasons,
      `the egress policy lets it through; what ${dst.key}'s ingress policy, sidecar and authorization see of node port traffic (whose source the node may have rewritten to its own address) is not in the reference facts`,
    ],
  };
}
