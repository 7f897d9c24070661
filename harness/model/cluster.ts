/**
 * The cluster as the policies see it: the scenario's namespaces and workloads, plus the parts
 * of a kind + Calico + Istio cluster every attempt depends on (CoreDNS in kube-system, istiod,
 * the API server behind the `kubernetes` Service). Endpoints are numbered so the layers can
 * keep per-endpoint match tables instead of evaluating selectors per attempt.
 */
import {
  dataPlaneOf,
  KUBELET_PROBE_ADDRESS,
  HBONE_PORT,
  type DataPlane,
  type Waypoint,
} from '../scenario/dataplane.js';
import {
  gatewayDeploymentName,
  gatewayPodLabels,
  gatewayPodPort,
  type Gateway,
} from '../scenario/gateways.js';
import type { Port, Scenario, Workload } from '../scenario/types.js';
import { parseCidr, type AddressRange } from './cidr.js';
import type { Labels } from './labels.js';
import { isObj } from './read.js';
import type { ClusterFacts, PolicyManifest } from './types.js';

/** `outside`: a node, the metadata service or an address outside the cluster (harness/model/external.ts). */
export type EndpointRole =
  'workload' | 'dns' | 'istiod' | 'apiserver' | 'waypoint' | 'gateway' | 'kubelet' | 'outside';

export interface Endpoint {
  readonly index: number;
  /** `namespace/name`, or `the API server` for the host-network endpoint. */
  readonly key: string;
  readonly name: string;
  /** Undefined for the API server: it runs on the node's network, so no pod selector matches it. */
  readonly namespace: string | undefined;
  readonly labels: Labels;
  /** Labels as Calico selectors see the workload endpoint (pod labels + projectcalico.org/*, pcns.*). */
  readonly calicoLabels: Labels;
  readonly serviceAccount: string | undefined;
  readonly sidecar: boolean;
  /** How it joins the mesh (harness/scenario/dataplane.ts); `none` for the cluster's own parts. */
  readonly dataplane: DataPlane;
  readonly ports: readonly Port[];
  /** One exact address when known, otherwise the ranges it may come from. */
  readonly addresses: readonly AddressRange[];
  readonly addressText: string;
  readonly role: EndpointRole;
  /** The Service in front of it (every scenario workload has one of its own name). */
  readonly service: { readonly namespace: string; readonly name: string };
  readonly workload?: Workload;
}

export interface NamespaceInfo {
  readonly name: string;
  /** As Kubernetes sets them: the declared labels plus `kubernetes.io/metadata.name`. */
  readonly labels: Labels;
  /** As Calico namespace selectors see them: plus `projectcalico.org/name`. */
  readonly calicoLabels: Labels;
}

export interface Cluster {
  readonly endpoints: readonly Endpoint[];
  readonly namespaces: ReadonlyMap<string, NamespaceInfo>;
  readonly byKey: ReadonlyMap<string, Endpoint>;
  readonly dns: Endpoint;
  readonly istiod: Endpoint;
  readonly apiServer: Endpoint;
  /**
   * Where kubelet probes come from as an ambient pod's policy sees them: 169.254.7.127, SNATed in
   * the pod (ambient-cnp-facts.md A4.9). No pod selector matches it.
   */
  readonly kubelet: Endpoint;
  /** The ingress gateways of `spec.gateways` by `namespace/name` (the Gateway's), each with its pod. */
  readonly gateways: ReadonlyMap<string, { readonly gateway: Gateway; readonly endpoint: Endpoint }>;
  /** The waypoints of ambient namespaces by `namespace/name`, each with its pod. */
  readonly waypoints: ReadonlyMap<string, { readonly waypoint: Waypoint; readonly endpoint: Endpoint }>;
  /** Service account labels by `namespace/name` (from ServiceAccount manifests), for Calico. */
  readonly serviceAccountLabels: ReadonlyMap<string, Labels>;
  readonly meshRootNamespace: string;
  readonly trustDomain: string;
  readonly clusterDomain: string;
  readonly facts: ClusterFacts;
}

export interface ClusterInput {
  readonly namespaces: readonly Pick<
    Scenario['namespaces'][number],
    'name' | 'labels' | 'injection' | 'dataplane' | 'waypoints'
  >[];
  readonly workloads: readonly Workload[];
  readonly meshRootNamespace: string;
  readonly trustDomain: string;
  readonly clusterDomain?: string;
  /** Ingress gateways (`spec.gateways`): each gets its pod as an endpoint. Default: none. */
  readonly gateways?: readonly Gateway[];
}

function ranges(cidrs: readonly string[]): AddressRange[] {
  return cidrs.flatMap((c) => parseCidr(c) ?? []);
}

/** Builds the endpoint table. Namespace and ServiceAccount manifests contribute their labels. */
export function buildCluster(
  input: ClusterInput,
  manifests: readonly PolicyManifest[],
  facts: ClusterFacts,
  outside: readonly Omit<Endpoint, 'index' | 'calicoLabels'>[] = [],
): Cluster {
  const nsLabels = new Map<string, Record<string, string>>();
  // As the fixtures create them (harness/run/fixtures.ts): injection is a namespace label.
  for (const n of input.namespaces) {
    // As the fixtures create them (harness/run/fixtures.ts): the data plane is a namespace label
    // (istio-injection, or istio.io/dataplane-mode and istio.io/use-waypoint: facts A2.1, A2.4).
    const wide = n.waypoints?.find((w) => w.services === 'all');
    nsLabels.set(n.name, {
      ...n.labels,
      ...(n.injection ? { 'istio-injection': 'enabled' } : {}),
      ...(n.dataplane === 'ambient' ? { 'istio.io/dataplane-mode': 'ambient' } : {}),
      ...(wide ? { 'istio.io/use-waypoint': wide.name } : {}),
    });
  }
  for (const name of ['kube-system', 'default', facts.istiodNamespace, input.meshRootNamespace]) {
    if (!nsLabels.has(name)) nsLabels.set(name, {});
  }
  const saLabels = new Map<string, Labels>();
  for (const m of manifests) {
    const o = m.object;
    const metadata = isObj(o.metadata) ? o.metadata : {};
    const labels = isObj(metadata.labels) ? (metadata.labels as Record<string, string>) : {};
    if (o.apiVersion === 'v1' && o.kind === 'Namespace' && typeof metadata.name === 'string') {
      // What kubectl apply would leave: the manifest's labels over the scenario's.
      nsLabels.set(metadata.name, { ...(nsLabels.get(metadata.name) ?? {}), ...labels });
    }
    if (o.apiVersion === 'v1' && o.kind === 'ServiceAccount' && typeof metadata.name === 'string') {
      const ns = typeof metadata.namespace === 'string' ? metadata.namespace : 'default';
      saLabels.set(`${ns}/${metadata.name}`, labels);
    }
  }
  const namespaces = new Map<string, NamespaceInfo>();
  for (const [name, labels] of nsLabels) {
    const k8s = { ...labels, 'kubernetes.io/metadata.name': name };
    namespaces.set(name, { name, labels: k8s, calicoLabels: { ...k8s, 'projectcalico.org/name': name } });
  }

  const podRanges = ranges(facts.podCidrs);
  const planes = new Map<string, NamespacePlane>(
    input.namespaces.map((n) => [
      n.name,
      { dataplane: n.dataplane, wide: n.waypoints?.find((w) => w.services === 'all')?.name },
    ]),
  );
  const endpoints: Endpoint[] = [];
  const add = (e: Omit<Endpoint, 'index' | 'calicoLabels'>): Endpoint => {
    const ns = e.namespace === undefined ? undefined : namespaces.get(e.namespace);
    const calicoLabels: Record<string, string> = {};
    if (ns) {
      for (const [k, v] of Object.entries(ns.labels)) calicoLabels[`pcns.${k}`] = v;
      const sa = saLabels.get(`${ns.name}/${e.serviceAccount ?? 'default'}`) ?? {};
      for (const [k, v] of Object.entries(sa)) calicoLabels[`pcsa.${k}`] = v;
      Object.assign(calicoLabels, e.labels, {
        'projectcalico.org/namespace': ns.name,
        'projectcalico.org/orchestrator': 'k8s',
        'projectcalico.org/serviceaccount': e.serviceAccount ?? 'default',
      });
    }
    const endpoint: Endpoint = { ...e, index: endpoints.length, calicoLabels };
    endpoints.push(endpoint);
    return endpoint;
  };
  for (const w of input.workloads) {
    const exact = w.ip === undefined ? undefined : parseCidr(w.ip);
    add({
      key: `${w.namespace}/${w.name}`,
      name: w.name,
      namespace: w.namespace,
      labels: podLabels(w, planes.get(w.namespace)),
      serviceAccount: w.serviceAccount,
      sidecar: w.sidecar,
      dataplane: dataPlaneOf(w),
      ports: w.ports,
      addresses: exact ? [exact] : podRanges,
      addressText: w.ip ?? `an address in ${facts.podCidrs.join(', ')} (no ip declared)`,
      role: 'workload',
      service: { namespace: w.namespace, name: w.name },
      workload: w,
    });
  }
  const dns = add({
    key: 'kube-system/coredns',
    name: 'coredns',
    namespace: 'kube-system',
    labels: facts.dns.labels,
    serviceAccount: 'coredns',
    sidecar: false,
    dataplane: 'none',
    ports: facts.dns.ports,
    addresses: podRanges,
    addressText: `an address in ${facts.podCidrs.join(', ')}`,
    role: 'dns',
    service: { namespace: 'kube-system', name: 'kube-dns' },
  });
  const istiod = add({
    key: `${facts.istiodNamespace}/istiod`,
    name: 'istiod',
    namespace: facts.istiodNamespace,
    labels: { app: 'istiod', istio: 'pilot' },
    serviceAccount: 'istiod',
    sidecar: false,
    dataplane: 'none',
    ports: [
      { port: 15010, protocol: 'TCP', name: 'grpc-xds' },
      { port: 15012, protocol: 'TCP', name: 'tls-xds' },
      { port: 15014, protocol: 'TCP', name: 'http-monitoring' },
      { port: 15017, protocol: 'TCP', name: 'https-webhooks' },
    ],
    addresses: podRanges,
    addressText: `an address in ${facts.podCidrs.join(', ')}`,
    role: 'istiod',
    service: { namespace: facts.istiodNamespace, name: 'istiod' },
  });
  const apiServer = add({
    key: 'the API server',
    name: 'kube-apiserver',
    namespace: undefined,
    labels: {},
    serviceAccount: undefined,
    sidecar: false,
    dataplane: 'none',
    ports: [{ port: facts.apiServer.port, protocol: 'TCP' }],
    addresses: ranges(facts.apiServer.cidrs),
    addressText: `${facts.apiServer.cidrs.join(', ')} port ${facts.apiServer.port} (after the kubernetes Service's DNAT)`,
    role: 'apiserver',
    service: { namespace: 'default', name: 'kubernetes' },
  });
  const kubelet = add({
    key: `kubelet probes (${KUBELET_PROBE_ADDRESS})`,
    name: 'kubelet',
    namespace: undefined,
    labels: {},
    serviceAccount: undefined,
    sidecar: false,
    dataplane: 'none',
    ports: [],
    addresses: ranges([`${KUBELET_PROBE_ADDRESS}/32`]),
    addressText: KUBELET_PROBE_ADDRESS,
    role: 'kubelet',
    service: { namespace: 'default', name: 'kubelet' },
  });
  const waypoints = new Map<string, { waypoint: Waypoint; endpoint: Endpoint }>();
  for (const n of input.namespaces) {
    for (const waypoint of n.waypoints ?? []) {
      // The waypoint's pod, as istiod deploys it (waypoint.yaml:62-71,90; fact A2.4).
      const endpoint = add({
        key: `waypoint ${n.name}/${waypoint.name}`,
        name: waypoint.name,
        namespace: n.name,
        labels: {
          'gateway.networking.k8s.io/gateway-name': waypoint.name,
          'istio.io/dataplane-mode': 'none',
          'sidecar.istio.io/inject': 'false',
        },
        serviceAccount: waypoint.name,
        sidecar: false,
        dataplane: 'none',
        ports: [
          { port: HBONE_PORT, protocol: 'TCP', name: 'mesh' },
          { port: 15021, protocol: 'TCP', name: 'status-port' },
        ],
        addresses: podRanges,
        addressText: `an address in ${facts.podCidrs.join(', ')}`,
        role: 'waypoint',
        service: { namespace: n.name, name: waypoint.name },
      });
      waypoints.set(`${n.name}/${waypoint.name}`, { waypoint, endpoint });
    }
  }
  const gateways = new Map<string, { gateway: Gateway; endpoint: Endpoint }>();
  for (const gateway of input.gateways ?? []) {
    // The gateway's pod as Istio deploys it (harness/scenario/gateways.ts): its labels, its
    // service account, the listener port it binds itself, and the container ports of the
    // template (istio@1.30.3 kube-gateway.yaml:108-117). Its key is its Deployment's, which no
    // workload of the scenario may take (resolveGateways).
    const deployment = gatewayDeploymentName(gateway.name);
    const endpoint = add({
      key: `${gateway.namespace}/${deployment}`,
      name: deployment,
      namespace: gateway.namespace,
      labels: gatewayPodLabels(gateway.name),
      serviceAccount: deployment,
      sidecar: false,
      dataplane: 'none',
      ports: [
        { port: gatewayPodPort(gateway), protocol: 'TCP' },
        { port: 15020, protocol: 'TCP', name: 'metrics' },
        { port: 15021, protocol: 'TCP', name: 'status-port' },
        { port: 15090, protocol: 'TCP', name: 'http-envoy-prom' },
      ],
      addresses: podRanges,
      addressText: `an address in ${facts.podCidrs.join(', ')}`,
      role: 'gateway',
      service: { namespace: gateway.namespace, name: deployment },
    });
    gateways.set(`${gateway.namespace}/${gateway.name}`, { gateway, endpoint });
  }
  for (const e of outside) add(e);
  return {
    endpoints,
    namespaces,
    kubelet,
    waypoints,
    gateways,
    byKey: new Map(endpoints.map((e) => [e.key, e])),
    dns,
    istiod,
    apiServer,
    serviceAccountLabels: saLabels,
    meshRootNamespace: input.meshRootNamespace,
    trustDomain: input.trustDomain,
    clusterDomain: input.clusterDomain ?? 'cluster.local',
    facts,
  };
}

/**
 * A workload's pod labels on the cluster: the scenario's, the ones the fixtures add (workload
 * name, the explicit injection choice), and the ones Istio's injector adds to meshed pods.
 */
function podLabels(w: Workload, namespace: NamespacePlane | undefined): Labels {
  return {
    ...w.labels,
    'bulkhead.dev/workload': w.name,
    'sidecar.istio.io/inject': w.sidecar ? 'true' : 'false',
    ...ambientLabels(w, namespace),
    ...(w.sidecar
      ? {
          'security.istio.io/tlsMode': 'istio',
          'service.istio.io/canonical-name': w.labels['app'] ?? w.name,
          'service.istio.io/canonical-revision': w.labels['version'] ?? 'latest',
        }
      : {}),
  };
}

/**
 * The labels that put a pod on its data plane where its namespace's does not (fact A2.1): ambient
 * in another namespace, `none` out of an ambient one; and its own waypoint (fact A2.4).
 */
function ambientLabels(w: Workload, namespace: NamespacePlane | undefined): Labels {
  const plane = dataPlaneOf(w);
  const ambientNs = namespace?.dataplane === 'ambient';
  return {
    ...(plane === 'ambient' && !ambientNs ? { 'istio.io/dataplane-mode': 'ambient' } : {}),
    ...(plane !== 'ambient' && ambientNs ? { 'istio.io/dataplane-mode': 'none' } : {}),
    ...(w.waypoint !== undefined && w.waypoint !== namespace?.wide
      ? { 'istio.io/use-waypoint': w.waypoint }
      : {}),
  };
}

/** What a pod's labels depend on of its namespace: its data plane and namespace-wide waypoint. */
interface NamespacePlane {
  readonly dataplane: DataPlane | undefined;
  readonly wide: string | undefined;
}
