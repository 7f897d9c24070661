/**
 * Every policy kind bulkhead knows, one row per API group and kind: which layer of the model
 * evaluates it and how, which schema checks it, which lint rules are written for it, whether it
 * lives in a namespace, and which kinds cannot change what an attempt sees (inert). The model
 * (model/objects.ts), the schema checks (schema-validate.ts, known-fields.ts, calico-schema.ts)
 * and lint (lint/context.ts) read this table instead of keeping lists of their own.
 *
 * Only data: model/ and lint/ import policies/, so the table names what they do with a kind
 * (`model`, `lint`) in strings, and each of them maps those names to its code: the model in one
 * exhaustive switch over {@link ModelReading}, lint by rule id. test/policies/kinds.test.ts
 * checks the table against what the modules do.
 *
 * A new policy engine is one row here (plus an API group when its group is new), one compile file
 * in model/ with a case for its reading, and one rules file in lint/.
 */

/** Who defines the API group. */
export type Engine = 'kubernetes' | 'calico' | 'istio' | 'gateway-api';

/**
 * The layers `--ablate` removes one at a time: the model's ABLATABLE_LAYERS. `cluster-network` is
 * ClusterNetworkPolicy (Calico's kube-admin and kube-baseline tiers): network policy, but
 * written by the platform for the whole cluster, so ablation weighs it on its own.
 */
export type PolicyLayer = 'cluster-network' | 'network' | 'mtls' | 'authorization';

/**
 * What the model does with an object (model/objects.ts, `inventory`):
 * - compiled into a layer: `network-policy` (model/networkpolicy.ts); `calico-policy`,
 *   `calico-tier`, `calico-network-set` (model/calico.ts); `cluster-network-policy`
 *   (model/clusternetworkpolicy.ts); `peer-authentication`
 *   (model/peerauthentication.ts); `authorization-policy` (model/authorization.ts);
 *   `request-authentication` (only matters for requests that carry a token); `rbac`
 *   (model/api.ts, what a pod's token may do); `reference-grant` (model/reference-grant.ts, which
 *   cross-namespace backendRefs an ingress gateway may send to: routing, not a layer `--ablate` removes);
 * - read as a setting or a fact: `felix-configuration` (a Reject deny action turns drops into
 *   refusals), `cluster-labels` (namespace and service account labels, model/cluster.ts);
 * - not modelled, so the predictions it may touch become `unknown`: `host-endpoint`,
 *   `envoy-filter`, `wasm-plugin`, `sidecar`, `client-routing` (DestinationRule, VirtualService,
 *   ServiceEntry), `route` (Gateway API routes attached to a Service), `admin-network-policy` (unless the
 *   Calico release is known not to enforce the kind: model/admin-network-policy.ts),
 *   `unmodeled-calico`, `unmodeled-istio` and `unmodeled` (any other kind);
 * - `inert`: cannot change what an attempt of the scenario sees.
 */
export type ModelReading =
  | 'network-policy'
  | 'calico-policy'
  | 'calico-tier'
  | 'calico-network-set'
  | 'cluster-network-policy'
  | 'peer-authentication'
  | 'authorization-policy'
  | 'request-authentication'
  | 'rbac'
  | 'reference-grant'
  | 'felix-configuration'
  | 'cluster-labels'
  | 'host-endpoint'
  | 'envoy-filter'
  | 'wasm-plugin'
  | 'sidecar'
  | 'client-routing'
  | 'route'
  | 'admin-network-policy'
  | 'unmodeled-calico'
  | 'unmodeled-istio'
  | 'unmodeled'
  | 'inert';

/** What the model does with an object, and the layer `--ablate` removes it with (if any). */
export interface KindReading {
  readonly model: ModelReading;
  readonly layer?: PolicyLayer;
}

/** The schema an object is checked against before anything reasons about it. */
export type KindSchema =
  /**
   * The class named after the kind in kubernetes-models (`kubernetes`) or
   * @kubernetes-models/istio (`istio`), in these apiVersions (default: all of the group's).
   */
  | { readonly validator: 'kubernetes' | 'istio'; readonly apiVersions?: readonly string[] }
  /** Calico's CRD (harness/policies/schemas/calico/), for both Calico apiVersions. */
  | { readonly validator: 'calico'; readonly crd: string }
  /** Another CRD shipped under harness/policies/schemas/ (path relative to it), for the group's apiVersions. */
  | { readonly validator: 'crd'; readonly crd: string }
  /**
   * A Calico staged kind: the schema of the kind its row `stages`, with the differences
   * policies/staged-schema.ts derives, for both Calico apiVersions.
   */
  | { readonly validator: 'staged' };

/** The field lists of known-fields.ts: spec fields outside them are reported (kubectl rejects them). */
export type KnownFields =
  'NetworkPolicy' | 'StagedKubernetesNetworkPolicy' | 'AuthorizationPolicy' | 'PeerAuthentication';

export interface ApiGroup {
  readonly engine: Engine;
  /** The apiVersions bulkhead reads as this group; `group/*` stands for every version. */
  readonly apiVersions: readonly string[];
  /** What the model does with a kind of this group that has no row. */
  readonly otherKinds: KindReading;
}

export interface PolicyKind extends KindReading {
  readonly group: ApiGroup;
  readonly kind: string;
  /** Lives in a namespace (metadata.namespace), as opposed to cluster-scoped. */
  readonly namespaced: boolean;
  readonly schema?: KindSchema;
  /**
   * For a Calico staged kind: the enforced kind it previews (its apiVersion when not the staged
   * kind's), whose spec it carries plus `stagedAction` (model/staged.ts, policies/staged-schema.ts).
   */
  readonly stages?: { readonly apiVersion?: string; readonly kind: string };
  readonly knownFields?: KnownFields;
  /**
   * The lint rule families (rule id prefixes: `authz` for `authz/...`) written for this kind. Not
   * listed: the rules for every object (schema/, general/) or a whole API group
   * (calico/crd-api-group).
   */
  readonly lint?: readonly string[];
  /**
   * lint's general/missing-namespace warns about an object of this kind without
   * metadata.namespace. Lint matches the kind name in any apiVersion.
   */
  readonly warnWithoutNamespace?: boolean;
}

const unmodeled: KindReading = { model: 'unmodeled' };
const kubernetes = (apiVersion: string, otherKinds: KindReading = unmodeled): ApiGroup => ({
  engine: 'kubernetes',
  apiVersions: [apiVersion],
  otherKinds,
});

/** The API groups with rows; an apiVersion of none of them is `unmodeled` whatever its kind. */
export const API_GROUPS = {
  core: kubernetes('v1'),
  apps: kubernetes('apps/v1'),
  batch: kubernetes('batch/v1'),
  policy: kubernetes('policy/v1'),
  admission: kubernetes('admissionregistration.k8s.io/v1'),
  networking: kubernetes('networking.k8s.io/v1'),
  /** model/api.ts reads every kind of the group (and keeps roles and bindings). */
  rbac: kubernetes('rbac.authorization.k8s.io/v1', { model: 'rbac' }),
  /** ClusterNetworkPolicy (network-policy-api v0.2.0), which replaced the v1alpha1 kinds. */
  clusterNetworkPolicy: kubernetes('policy.networking.k8s.io/v1alpha2'),
  /** AdminNetworkPolicy and BaselineAdminNetworkPolicy. */
  adminNetworkPolicy: kubernetes('policy.networking.k8s.io/v1alpha1', { model: 'admin-network-policy' }),
  /** projectcalico.org/v3 (the API server) and crd.projectcalico.org/v1 (its storage), same kinds. */
  calico: {
    engine: 'calico',
    apiVersions: ['projectcalico.org/v3', 'crd.projectcalico.org/v1'],
    otherKinds: { model: 'unmodeled-calico', layer: 'network' },
  },
  istioSecurity: {
    engine: 'istio',
    apiVersions: ['security.istio.io/v1', 'security.istio.io/v1beta1'],
    otherKinds: { model: 'unmodeled-istio' },
  },
  /**
   * networking.istio.io, and extensions.istio.io (WasmPlugin) at any version: the model reads the
   * kinds of both by name, whichever of the two they are written in.
   */
  istioNetworking: {
    engine: 'istio',
    apiVersions: [
      'networking.istio.io/v1',
      'networking.istio.io/v1beta1',
      'networking.istio.io/v1alpha3',
      'extensions.istio.io/*',
    ],
    otherKinds: { model: 'unmodeled-istio' },
  },
  istioTelemetry: {
    engine: 'istio',
    apiVersions: ['telemetry.istio.io/v1', 'telemetry.istio.io/v1alpha1'],
    otherKinds: unmodeled,
  },
  /** Kinds other than the rows are read as routes (HTTPRoute and the like). */
  gatewayApi: {
    engine: 'gateway-api',
    apiVersions: ['gateway.networking.k8s.io/*'],
    otherKinds: { model: 'route' },
  },
} as const satisfies Record<string, ApiGroup>;

const {
  core,
  apps,
  batch,
  policy,
  admission,
  networking,
  rbac,
  clusterNetworkPolicy,
  adminNetworkPolicy,
  calico,
  istioSecurity,
  istioNetworking,
  istioTelemetry,
  gatewayApi,
} = API_GROUPS;

const K8S: KindSchema = { validator: 'kubernetes' };
const ISTIO: KindSchema = { validator: 'istio' };
/** The Istio traffic kinds' schemas: networking.istio.io (not extensions.istio.io). */
const ISTIO_NETWORKING: KindSchema = {
  validator: 'istio',
  apiVersions: ['networking.istio.io/v1', 'networking.istio.io/v1beta1', 'networking.istio.io/v1alpha3'],
};
const crd = (file: string): KindSchema => ({ validator: 'calico', crd: file });
const STAGED: KindSchema = { validator: 'staged' };
const NETWORK = { layer: 'network' } as const;
const WORKLOAD = { lint: ['workload'], warnWithoutNamespace: true } as const;

export const POLICY_KINDS: readonly PolicyKind[] = [
  // Kubernetes: namespaces and service accounts give labels; workloads come from the scenario.
  { group: core, kind: 'Namespace', namespaced: false, model: 'cluster-labels', schema: K8S },
  {
    group: core,
    kind: 'ServiceAccount',
    namespaced: true,
    model: 'cluster-labels',
    schema: K8S,
    ...WORKLOAD,
  },
  { group: core, kind: 'Pod', namespaced: true, model: 'inert', schema: K8S, ...WORKLOAD },
  { group: core, kind: 'Service', namespaced: true, model: 'inert', schema: K8S, warnWithoutNamespace: true },
  { group: core, kind: 'ConfigMap', namespaced: true, model: 'inert', schema: K8S },
  { group: core, kind: 'Secret', namespaced: true, model: 'inert', schema: K8S },
  { group: core, kind: 'LimitRange', namespaced: true, model: 'inert' },
  { group: core, kind: 'ResourceQuota', namespaced: true, model: 'inert' },
  { group: core, kind: 'Endpoints', namespaced: true, model: 'inert' },
  { group: apps, kind: 'Deployment', namespaced: true, model: 'inert', schema: K8S, ...WORKLOAD },
  { group: apps, kind: 'StatefulSet', namespaced: true, model: 'inert', schema: K8S, ...WORKLOAD },
  { group: apps, kind: 'DaemonSet', namespaced: true, model: 'inert', schema: K8S, ...WORKLOAD },
  { group: apps, kind: 'ReplicaSet', namespaced: true, model: 'inert', schema: K8S, ...WORKLOAD },
  { group: batch, kind: 'Job', namespaced: true, model: 'inert' },
  { group: batch, kind: 'CronJob', namespaced: true, model: 'inert' },
  { group: policy, kind: 'PodDisruptionBudget', namespaced: true, model: 'inert' },
  { group: admission, kind: 'ValidatingAdmissionPolicy', namespaced: false, model: 'inert' },
  { group: admission, kind: 'ValidatingAdmissionPolicyBinding', namespaced: false, model: 'inert' },
  {
    group: networking,
    kind: 'NetworkPolicy',
    namespaced: true,
    model: 'network-policy',
    ...NETWORK,
    schema: K8S,
    knownFields: 'NetworkPolicy',
    lint: ['netpol', 'scenario', 'ambient'],
    warnWithoutNamespace: true,
  },
  { group: rbac, kind: 'Role', namespaced: true, model: 'rbac', schema: K8S, warnWithoutNamespace: true },
  {
    group: rbac,
    kind: 'RoleBinding',
    namespaced: true,
    model: 'rbac',
    schema: K8S,
    warnWithoutNamespace: true,
  },
  { group: rbac, kind: 'ClusterRole', namespaced: false, model: 'rbac', schema: K8S },
  { group: rbac, kind: 'ClusterRoleBinding', namespaced: false, model: 'rbac', schema: K8S },
  {
    group: clusterNetworkPolicy,
    kind: 'ClusterNetworkPolicy',
    namespaced: false,
    model: 'cluster-network-policy',
    layer: 'cluster-network',
    schema: {
      validator: 'crd',
      crd: 'network-policy-api/policy.networking.k8s.io_clusternetworkpolicies.yaml',
    },
    lint: ['cnp'],
  },
  {
    group: adminNetworkPolicy,
    kind: 'AdminNetworkPolicy',
    namespaced: false,
    model: 'admin-network-policy',
    lint: ['cnp'],
  },
  {
    group: adminNetworkPolicy,
    kind: 'BaselineAdminNetworkPolicy',
    namespaced: false,
    model: 'admin-network-policy',
    lint: ['cnp'],
  },

  // Calico: policies, tiers and network sets make the network layer.
  {
    group: calico,
    kind: 'NetworkPolicy',
    namespaced: true,
    model: 'calico-policy',
    ...NETWORK,
    schema: crd('projectcalico.org_networkpolicies.yaml'),
    lint: ['calico', 'netpol', 'scenario'],
    warnWithoutNamespace: true,
  },
  {
    group: calico,
    kind: 'GlobalNetworkPolicy',
    namespaced: false,
    model: 'calico-policy',
    ...NETWORK,
    schema: crd('projectcalico.org_globalnetworkpolicies.yaml'),
    lint: ['calico', 'netpol'],
  },
  {
    group: calico,
    kind: 'Tier',
    namespaced: false,
    model: 'calico-tier',
    ...NETWORK,
    schema: crd('projectcalico.org_tiers.yaml'),
    lint: ['calico'],
  },
  { group: calico, kind: 'NetworkSet', namespaced: true, model: 'calico-network-set', ...NETWORK },
  {
    group: calico,
    kind: 'GlobalNetworkSet',
    namespaced: false,
    model: 'calico-network-set',
    ...NETWORK,
    schema: crd('projectcalico.org_globalnetworksets.yaml'),
  },
  { group: calico, kind: 'FelixConfiguration', namespaced: false, model: 'felix-configuration', ...NETWORK },
  { group: calico, kind: 'HostEndpoint', namespaced: false, model: 'host-endpoint', ...NETWORK },
  // Addressing, routing and the nodes' own configuration: no pod policy.
  { group: calico, kind: 'IPPool', namespaced: false, model: 'inert' },
  { group: calico, kind: 'IPReservation', namespaced: false, model: 'inert' },
  { group: calico, kind: 'BGPConfiguration', namespaced: false, model: 'inert' },
  { group: calico, kind: 'BGPPeer', namespaced: false, model: 'inert' },
  { group: calico, kind: 'BGPFilter', namespaced: false, model: 'inert' },
  { group: calico, kind: 'ClusterInformation', namespaced: false, model: 'inert' },
  { group: calico, kind: 'KubeControllersConfiguration', namespaced: false, model: 'inert' },
  { group: calico, kind: 'Profile', namespaced: false, model: 'inert' },
  { group: calico, kind: 'IPAMConfiguration', namespaced: false, model: 'inert' },
  { group: calico, kind: 'CalicoNodeStatus', namespaced: false, model: 'inert' },
  // Staged policies record what they would do; they never enforce.
  {
    group: calico,
    kind: 'StagedNetworkPolicy',
    namespaced: true,
    model: 'inert',
    stages: { kind: 'NetworkPolicy' },
    schema: STAGED,
  },
  {
    group: calico,
    kind: 'StagedGlobalNetworkPolicy',
    namespaced: false,
    model: 'inert',
    stages: { kind: 'GlobalNetworkPolicy' },
    schema: STAGED,
  },
  {
    group: calico,
    kind: 'StagedKubernetesNetworkPolicy',
    namespaced: true,
    model: 'inert',
    stages: { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy' },
    schema: STAGED,
    knownFields: 'StagedKubernetesNetworkPolicy',
  },

  // Istio security: mTLS and authorization.
  {
    group: istioSecurity,
    kind: 'PeerAuthentication',
    namespaced: true,
    model: 'peer-authentication',
    layer: 'mtls',
    schema: ISTIO,
    knownFields: 'PeerAuthentication',
    lint: ['peerauth', 'istio', 'scenario'],
    warnWithoutNamespace: true,
  },
  {
    group: istioSecurity,
    kind: 'AuthorizationPolicy',
    namespaced: true,
    model: 'authorization-policy',
    layer: 'authorization',
    schema: ISTIO,
    knownFields: 'AuthorizationPolicy',
    lint: ['authz', 'istio', 'scenario', 'ambient'],
    warnWithoutNamespace: true,
  },
  {
    group: istioSecurity,
    kind: 'RequestAuthentication',
    namespaced: true,
    model: 'request-authentication',
    schema: ISTIO,
    warnWithoutNamespace: true,
  },

  // Istio traffic: patches and routing the model does not run.
  {
    group: istioNetworking,
    kind: 'EnvoyFilter',
    namespaced: true,
    model: 'envoy-filter',
    schema: { validator: 'istio', apiVersions: ['networking.istio.io/v1alpha3'] },
    lint: ['envoyfilter', 'istio', 'scenario', 'ambient'],
    warnWithoutNamespace: true,
  },
  { group: istioNetworking, kind: 'WasmPlugin', namespaced: true, model: 'wasm-plugin' },
  {
    group: istioNetworking,
    kind: 'Sidecar',
    namespaced: true,
    model: 'sidecar',
    schema: ISTIO_NETWORKING,
    warnWithoutNamespace: true,
  },
  {
    group: istioNetworking,
    kind: 'DestinationRule',
    namespaced: true,
    model: 'client-routing',
    schema: ISTIO_NETWORKING,
  },
  {
    group: istioNetworking,
    kind: 'VirtualService',
    namespaced: true,
    model: 'client-routing',
    schema: ISTIO_NETWORKING,
  },
  {
    group: istioNetworking,
    kind: 'ServiceEntry',
    namespaced: true,
    model: 'client-routing',
    schema: ISTIO_NETWORKING,
  },
  { group: istioNetworking, kind: 'Gateway', namespaced: true, model: 'inert', schema: ISTIO_NETWORKING },
  { group: istioNetworking, kind: 'WorkloadEntry', namespaced: true, model: 'inert' },
  { group: istioNetworking, kind: 'WorkloadGroup', namespaced: true, model: 'inert' },
  { group: istioNetworking, kind: 'ProxyConfig', namespaced: true, model: 'inert' },
  { group: istioTelemetry, kind: 'Telemetry', namespaced: true, model: 'inert' },

  // Gateway API: gateways are inert for mesh traffic; a route attached to a Service is not; a
  // ReferenceGrant decides what an ingress gateway's routes may send to (model/reference-grant.ts).
  { group: gatewayApi, kind: 'Gateway', namespaced: true, model: 'inert' },
  { group: gatewayApi, kind: 'GatewayClass', namespaced: false, model: 'inert' },
  {
    group: gatewayApi,
    kind: 'ReferenceGrant',
    namespaced: true,
    model: 'reference-grant',
    schema: { validator: 'crd', crd: 'gateway-api/gateway.networking.k8s.io_referencegrants.yaml' },
    lint: ['gateway'],
    warnWithoutNamespace: true,
  },
  { group: gatewayApi, kind: 'HTTPRoute', namespaced: true, model: 'route' },
  { group: gatewayApi, kind: 'GRPCRoute', namespaced: true, model: 'route' },
  { group: gatewayApi, kind: 'TCPRoute', namespaced: true, model: 'route' },
  { group: gatewayApi, kind: 'TLSRoute', namespaced: true, model: 'route' },
  { group: gatewayApi, kind: 'UDPRoute', namespaced: true, model: 'route' },
];

function inGroup(group: ApiGroup, apiVersion: string): boolean {
  return group.apiVersions.some((v) =>
    v.endsWith('/*') ? apiVersion.startsWith(v.slice(0, -1)) : v === apiVersion,
  );
}

const GROUPS: readonly ApiGroup[] = Object.values(API_GROUPS);
const BY_KIND = new Map<string, PolicyKind[]>();
for (const row of POLICY_KINDS) BY_KIND.set(row.kind, [...(BY_KIND.get(row.kind) ?? []), row]);

/** The API group an apiVersion belongs to, if bulkhead knows it. */
export function apiGroupOf(apiVersion: string): ApiGroup | undefined {
  return GROUPS.find((g) => inGroup(g, apiVersion));
}

/** The row of an apiVersion and kind, if bulkhead knows the kind. */
export function policyKind(apiVersion: string, kind: string): PolicyKind | undefined {
  const group = apiGroupOf(apiVersion);
  return group && BY_KIND.get(kind)?.find((row) => row.group === group);
}

/** What the model does with an object: its row's reading, else its group's, else `unmodeled`. */
export function readingOf(apiVersion: string, kind: string): KindReading {
  return policyKind(apiVersion, kind) ?? apiGroupOf(apiVersion)?.otherKinds ?? unmodeled;
}

/** The schema of an apiVersion and kind, with the apiVersions it covers; undefined when none. */
export function schemaOf(apiVersion: string, kind: string): KindSchema | undefined {
  const row = policyKind(apiVersion, kind);
  const schema = row?.schema;
  if (
    !row ||
    !schema ||
    schema.validator === 'calico' ||
    schema.validator === 'crd' ||
    schema.validator === 'staged'
  )
    return schema;
  return (schema.apiVersions ?? row.group.apiVersions).includes(apiVersion) ? schema : undefined;
}

const WARN_WITHOUT_NAMESPACE: ReadonlySet<string> = new Set(
  POLICY_KINDS.filter((r) => r.warnWithoutNamespace === true).map((r) => r.kind),
);

/** Whether lint warns about an object of this kind (in any apiVersion) without a namespace. */
export function warnsWithoutNamespace(kind: string): boolean {
  return WARN_WITHOUT_NAMESPACE.has(kind);
}
