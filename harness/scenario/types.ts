/**
 * The scenario after loading: defaults applied, tenants expanded into namespaces and
 * workloads, generators expanded into attempts, references resolved. Every later stage
 * (model, fixtures, runner, reports) takes this, never the raw YAML.
 */
import type { YamlDocument } from '../yaml-source.js';
import type { DataPlane, Waypoint } from './dataplane.js';
import type { AttemptKind, Category, Expectation } from './outcomes.js';
import type { ApiRequest, DnsQuery, HttpRequest } from './schema.js';
import type { Gateway } from './gateways.js';
import type { ScenarioSegments } from './segments.js';

/** Where something was declared, for messages that point back at the scenario. */
export interface Origin {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** Path in the scenario document: `spec.attempts[3]`. */
  readonly path: string;
  /** For generated attempts: the generator, e.g. `spec.generators[0] (cross-tenant)`. */
  readonly generator?: string;
}

export interface Namespace {
  readonly name: string;
  /** Labels as applied to the Namespace object (tenants get `tenant: <name>`). */
  readonly labels: Readonly<Record<string, string>>;
  /** Istio sidecar injection (`istio-injection=enabled`): `dataplane === 'sidecar'`. */
  readonly injection: boolean;
  /**
   * How its workloads join the mesh unless they say otherwise (harness/scenario/dataplane.ts).
   * The loader always sets it; read it with `namespacePlane()`, which derives it from
   * `injection` for objects built by hand.
   */
  readonly dataplane?: DataPlane;
  /** Waypoints of an ambient namespace (none elsewhere). */
  readonly waypoints?: readonly Waypoint[];
  /** The owning tenant; undefined for a shared namespace. */
  readonly tenant?: string;
  readonly origin: Origin;
}

export interface Port {
  readonly port: number;
  readonly protocol: 'TCP' | 'UDP';
  readonly name?: string;
  /**
   * An attempt's port the target does not serve: its Service carries the port (so the ClusterIP
   * forwards to the pod) but nothing listens there, so what gets through is refused.
   */
  readonly closed?: true;
}

export interface Workload {
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly serviceAccount: string;
  /** An injected sidecar: `dataplane === 'sidecar'`. */
  readonly sidecar: boolean;
  /** Set by the loader; read it with `dataPlaneOf()`, which derives it from `sidecar` when absent. */
  readonly dataplane?: DataPlane;
  /**
   * The waypoint (name, in the workload's namespace) its Service and pod are enrolled with, for an
   * ambient workload; undefined when it uses none.
   */
  readonly waypoint?: string;
  readonly ports: readonly Port[];
  readonly ip?: string;
  readonly automountToken: boolean;
  /**
   * Its pods are also behind a Service of type NodePort (harness/run/fixtures.ts
   * `nodePortServiceName`), whose node ports the API server allocates and a run reads back.
   */
  readonly nodePort?: true;
  /** A client-only workload (no ports): a probe. */
  readonly probe: boolean;
  readonly origin: Origin;
}

export interface WorkloadRef {
  readonly namespace: string;
  readonly name: string;
}

interface AttemptBase {
  readonly id: string;
  readonly kind: AttemptKind;
  readonly category: Category;
  readonly from: WorkloadRef;
  readonly expect: Expectation;
  readonly timeoutMs: number;
  /**
   * True when the attempt (or the generator that made it) set `timeoutMs` itself; absent when it
   * is `spec.defaults.timeoutMs`. A run may lengthen a defaulted deadline to fit the mesh's
   * connect timeouts and retries (harness/run/mesh-deadlines.ts), never an explicit one.
   */
  readonly explicitTimeout?: true;
  readonly description?: string;
  readonly origin: Origin;
}

export interface HttpAttempt extends AttemptBase {
  readonly kind: 'http';
  readonly to: WorkloadRef;
  readonly port: Port;
  readonly http: HttpRequest;
}

export interface TcpAttempt extends AttemptBase {
  readonly kind: 'tcp';
  readonly to: WorkloadRef;
  readonly port: Port;
  readonly send?: string;
}

export interface UdpAttempt extends AttemptBase {
  readonly kind: 'udp';
  readonly to: WorkloadRef;
  readonly port: Port;
  readonly send?: string;
}

export interface DnsAttempt extends AttemptBase {
  readonly kind: 'dns';
  readonly query: DnsQuery;
  /** "host:port"; undefined means the pod's resolver. */
  readonly dnsServer?: string;
}

export interface ApiAttempt extends AttemptBase {
  readonly kind: 'api';
  readonly request: ApiRequest;
}

/**
 * A destination that is not a Service name (harness/scenario/address-target.ts): a node, a pod's
 * own IP, a literal address outside the cluster, or bulkhead's stand-in for the internet. All but
 * `address` are read at run time.
 */
export type AddressTarget =
  /** The node the source pod runs on, by its address (the pod's `status.hostIP`). */
  | { readonly kind: 'node' }
  /**
   * The same node, on the node port the API server allocated to the workload's NodePort Service
   * for the attempt's `port` (the Service port), read at run time.
   */
  | { readonly kind: 'node-port'; readonly workload: WorkloadRef }
  /** The IP of the workload's pod (`status.podIP`): no Service, no DNS, no Service-level mesh config. */
  | { readonly kind: 'pod-ip'; readonly workload: WorkloadRef }
  /** A literal address; `cidr` is the range the scenario named, when it named one. */
  | { readonly kind: 'address'; readonly address: string; readonly cidr?: string }
  /** The address that answers for "the internet": a target container on kind, else {@link PUBLIC_ADDRESS}. */
  | { readonly kind: 'internet' }
  /**
   * An ingress gateway of `spec.gateways` (harness/scenario/gateways.ts), dialled by its Service
   * name with `hostname` as the Host header; `route` is the HTTPRoute the request meets: in
   * `routeNamespace`, sending it to `backend`'s Service port `backendPort`.
   */
  | {
      readonly kind: 'gateway';
      readonly gateway: WorkloadRef;
      readonly hostname: string;
      readonly routeNamespace: string;
      readonly backend: WorkloadRef;
      readonly backendPort: number;
    };

interface AddressedBase extends AttemptBase {
  readonly target: AddressTarget;
  readonly port: Port;
}

/** An HTTP attempt to an {@link AddressTarget}; the Host header is the address and port. */
export interface AddressedHttpAttempt extends AddressedBase {
  readonly kind: 'http';
  readonly http: HttpRequest;
}

export interface AddressedTcpAttempt extends AddressedBase {
  readonly kind: 'tcp';
  readonly send?: string;
}

export interface AddressedUdpAttempt extends AddressedBase {
  readonly kind: 'udp';
  readonly send?: string;
}

export type AddressedAttempt = AddressedHttpAttempt | AddressedTcpAttempt | AddressedUdpAttempt;

export type Attempt =
  | HttpAttempt
  | TcpAttempt
  | UdpAttempt
  | DnsAttempt
  | ApiAttempt
  | AddressedHttpAttempt
  | AddressedTcpAttempt
  | AddressedUdpAttempt;
/** An attempt to a workload by its Service name. */
export type TargetedAttempt = HttpAttempt | TcpAttempt | UdpAttempt;

export function isAddressed(a: Attempt): a is AddressedAttempt {
  return 'target' in a;
}

export function isTargeted(a: Attempt): a is TargetedAttempt {
  return 'to' in a;
}

/** One Kubernetes object read from a policy source, with a way back to its text. */
export interface Manifest {
  readonly object: Readonly<Record<string, unknown>>;
  readonly file: string;
  readonly line: number;
  /** The parsed document, to locate fields inside the object. */
  readonly source: YamlDocument;
}

export type PolicySource =
  | {
      readonly kind: 'builtin';
      readonly name: 'hard-isolation' | 'article';
      /** Destinations outside the cluster the bundle lets tenants reach (hard-isolation only). */
      readonly allowEgress?: readonly { readonly cidr: string; readonly ports?: readonly number[] }[];
      /** hard-isolation's cross-tenant deny: in a Calico tier (default) or a ClusterNetworkPolicy. */
      readonly clusterPolicy?: 'calico' | 'cnp';
      readonly origin: Origin;
    }
  | {
      readonly kind: 'file' | 'inline';
      /** For files: the path as resolved; for inline: the scenario file. */
      readonly location: string;
      readonly manifests: readonly Manifest[];
      readonly origin: Origin;
    };

export interface GeneratorSummary {
  readonly kind: string;
  readonly origin: Origin;
  readonly count: number;
}

export interface Scenario extends ScenarioSegments {
  readonly name: string;
  readonly description?: string;
  /** The scenario file as given, and its SHA-256 (reports record what was run). */
  readonly file: string;
  readonly sha256: string;
  readonly meshRootNamespace: string;
  readonly trustDomain: string;
  readonly clusterDomain: string;
  readonly defaults: { readonly timeoutMs: number };
  readonly namespaces: readonly Namespace[];
  readonly workloads: readonly Workload[];
  readonly policies: readonly PolicySource[];
  readonly attempts: readonly Attempt[];
  readonly generators: readonly GeneratorSummary[];
  /** Ingress gateways (`spec.gateways`); the loader always sets it, objects built by hand may not. */
  readonly gateways?: readonly Gateway[];
  /** Things that are legal but probably not meant (a generator that produced nothing). */
  readonly warnings: readonly import('../errors.js').Problem[];
}

export function refText(ref: WorkloadRef): string {
  return `${ref.namespace}/${ref.name}`;
}

/** The Service name an attempt dials: `<name>.<namespace>.svc.<clusterDomain>`. */
export function serviceHost(ref: WorkloadRef, clusterDomain: string): string {
  return `${ref.name}.${ref.namespace}.svc.${clusterDomain}`;
}

/** The workload's Istio principal as AuthorizationPolicy writes it (no `spiffe://`). */
export function principal(w: Pick<Workload, 'namespace' | 'serviceAccount'>, trustDomain: string): string {
  return `${trustDomain}/ns/${w.namespace}/sa/${w.serviceAccount}`;
}
