/**
 * The objects a run deploys for a scenario, before any policy: namespaces, service accounts, the
 * agent bundle as a ConfigMap, a Deployment and Service per serving workload, a bare Pod per
 * probe, a Gateway per waypoint, and each ingress gateway with its routes (harness/run/gateway-fixtures.ts). Every object carries the run's labels, so cleanup can find
 * exactly what this run made. Pure: scenario in, manifests out (the runner applies them in this order).
 *
 * Data planes (harness/scenario/dataplane.ts; ../shared/reference/ambient-cnp-facts.md A2.1, A2.4):
 * a sidecar namespace is labelled `istio-injection=enabled`; an ambient one
 * `istio.io/dataplane-mode=ambient` and never for injection. A pod whose data plane differs from its
 * namespace's says so itself: `istio.io/dataplane-mode=ambient` in a namespace that is not ambient,
 * `none` to opt out of an ambient one; a sidecar pod in an ambient namespace is injected by its
 * `sidecar.istio.io/inject=true` label, and ztunnel never captures a pod with a sidecar. A waypoint is
 * a Gateway of class `istio-waypoint` with one HBONE listener on 15008 and the
 * `istio.io/waypoint-for` label, as `istioctl waypoint generate` prints it; `services: all` labels
 * the namespace `istio.io/use-waypoint=<name>`, named services have their Service and pod labelled.
 */
import type { KubernetesObject } from '@kubernetes/client-node';

import { nodePortServiceName } from '../scenario/address-target.js';
import {
  DATAPLANE_MODE_LABEL,
  dataPlaneOf,
  HBONE_PORT,
  namespacePlane,
  USE_WAYPOINT_LABEL,
  WAYPOINT_CLASS,
  WAYPOINT_FOR_LABEL,
  type Waypoint,
} from '../scenario/dataplane.js';
import type { Namespace, Port, Scenario, Workload } from '../scenario/types.js';
import { SHORT_WORK_NODE_FLAGS } from '../agent/v8-tiers.js';
import { CANARY_LABEL, CANARY_PORT, canaryNamespace } from './canary-names.js';
import { renderGatewayFixtures } from './gateway-fixtures.js';
import { runLabels } from './identity.js';

/**
 * The public Node image every fixture pod runs, pinned by digest (the tag is informative only).
 * Override with `agentImage`, or move it to a mirror with `imageRegistry`.
 */
export const DEFAULT_AGENT_IMAGE =
  'docker.io/library/node:24-alpine@sha256:a0b9bf06e4e6193cf7a0f58816cc935ff8c2a908f81e6f1a95432d679c54fbfd';

/** Where the agent bundle is mounted in every pod, and its file name. */
export const AGENT_DIR = '/agent';
export const AGENT_FILE = 'bulkhead-agent.mjs';
export const AGENT_PATH = `${AGENT_DIR}/${AGENT_FILE}`;
export const AGENT_CONFIGMAP = 'bulkhead-agent';
export const AGENT_CONTAINER = 'agent';
export const READY_PATH = '/readyz';

/**
 * The command that runs the agent's `probe` or `session` in a fixture pod: `node`, the flags the
 * short commands run with (harness/agent/v8-tiers.ts), the bundle, the arguments.
 */
export function agentCommand(subcommand: 'probe' | 'session', args: readonly string[]): string[] {
  return ['node', ...SHORT_WORK_NODE_FLAGS, AGENT_PATH, subcommand, ...args];
}

/** The label that ties a pod to its workload (Services select on it). */
export const WORKLOAD_LABEL = 'bulkhead.dev/workload';

export interface FixtureProps {
  readonly scenario: Scenario;
  readonly runId: string;
  /** The agent bundle's text (dist/agent/bulkhead-agent.mjs). */
  readonly agentBundle: string;
  /** @default DEFAULT_AGENT_IMAGE */
  readonly agentImage?: string;
  /**
   * A registry that mirrors the images (air-gapped clusters): replaces the image's registry
   * host, keeping its path and digest. `mirror.example.com` turns
   * `docker.io/library/node@sha256:…` into `mirror.example.com/library/node@sha256:…`.
   */
  readonly imageRegistry?: string;
}

export function agentImage(props: Pick<FixtureProps, 'agentImage' | 'imageRegistry'>): string {
  const image = props.agentImage ?? DEFAULT_AGENT_IMAGE;
  if (!props.imageRegistry) return image;
  const registry = props.imageRegistry.replace(/\/+$/, '');
  const [first, ...rest] = image.split('/');
  // A first segment with a dot or colon (or "localhost") is a registry host; otherwise Docker Hub.
  const hasRegistry = rest.length > 0 && first !== undefined && (/[.:]/.test(first) || first === 'localhost');
  const path = hasRegistry ? rest.join('/') : rest.length > 0 ? image : `library/${image}`;
  return `${registry}/${path}`;
}

/** Everything the run deploys before policies, in apply order. */
export function renderFixtures(props: FixtureProps): KubernetesObject[] {
  const { scenario, runId } = props;
  const labels = runLabels(runId, scenario.name);
  const image = agentImage(props);
  const objects: KubernetesObject[] = [];
  for (const ns of scenario.namespaces) objects.push(namespaceObject(ns, labels));
  for (const ns of scenario.namespaces)
    for (const w of ns.waypoints ?? []) objects.push(waypointGateway(w, labels));
  const planes = new Map(scenario.namespaces.map((n) => [n.name, n]));
  for (const ns of scenario.namespaces) {
    const accounts = new Set(
      scenario.workloads
        .filter((w) => w.namespace === ns.name && w.serviceAccount !== 'default')
        .map((w) => w.serviceAccount),
    );
    for (const name of accounts) {
      objects.push({
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name, namespace: ns.name, labels },
      });
    }
    if (scenario.workloads.some((w) => w.namespace === ns.name)) {
      objects.push({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: AGENT_CONFIGMAP, namespace: ns.name, labels },
        data: { [AGENT_FILE]: props.agentBundle },
      } as KubernetesObject);
    }
  }
  for (const w of scenario.workloads) {
    const mesh = meshLabels(w, planes.get(w.namespace));
    if (w.probe) {
      objects.push(probePod(w, labels, image, mesh));
    } else {
      objects.push(
        deployment(w, labels, image, mesh),
        service(w, { ...labels, ...waypointLabel(w, planes.get(w.namespace)) }, closedPorts(scenario, w)),
      );
      if (w.nodePort) objects.push(nodePortService(w, labels));
    }
  }
  // After the workloads, so every route's backend Service exists when the route is applied.
  objects.push(...renderGatewayFixtures(scenario, labels));
  return objects;
}

function namespaceObject(ns: Namespace, labels: Record<string, string>): KubernetesObject {
  const plane = namespacePlane(ns);
  const all = (ns.waypoints ?? []).find((w) => w.services === 'all');
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: ns.name,
      labels: {
        ...ns.labels,
        ...(plane === 'sidecar' ? { 'istio-injection': 'enabled' } : {}),
        ...(plane === 'ambient' ? { [DATAPLANE_MODE_LABEL]: 'ambient' } : {}),
        ...(all ? { [USE_WAYPOINT_LABEL]: all.name } : {}),
        ...labels,
      },
    },
  };
}

/** A waypoint as `istioctl waypoint generate --for <for>` prints it (fact A2.4), with the run's labels. */
function waypointGateway(w: Waypoint, labels: Record<string, string>): KubernetesObject {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name: w.name, namespace: w.namespace, labels: { [WAYPOINT_FOR_LABEL]: w.for, ...labels } },
    spec: {
      gatewayClassName: WAYPOINT_CLASS,
      listeners: [{ name: 'mesh', port: HBONE_PORT, protocol: 'HBONE' }],
    },
  } as KubernetesObject;
}

/**
 * `istio.io/use-waypoint` for a workload the scenario names in a waypoint's `services` (its Service
 * and pod); none when the namespace label already enrols it, or when it uses no waypoint.
 */
function waypointLabel(w: Workload, ns: Namespace | undefined): Record<string, string> {
  if (w.waypoint === undefined) return {};
  const all = (ns?.waypoints ?? []).find((x) => x.services === 'all');
  return all?.name === w.waypoint ? {} : { [USE_WAYPOINT_LABEL]: w.waypoint };
}

/** The pod's own data-plane labels: where they differ from the namespace's, and its waypoint. */
function meshLabels(w: Workload, ns: Namespace | undefined): Record<string, string> {
  const plane = dataPlaneOf(w);
  const nsPlane = ns ? namespacePlane(ns) : 'none';
  return {
    ...(plane === 'ambient' && nsPlane !== 'ambient' ? { [DATAPLANE_MODE_LABEL]: 'ambient' } : {}),
    ...(plane !== 'ambient' && nsPlane === 'ambient' ? { [DATAPLANE_MODE_LABEL]: 'none' } : {}),
    ...waypointLabel(w, ns),
  };
}

/**
 * The network canary's port bypasses the sidecar (Istio's documented pod annotation), so a dial of
 * it meets Calico alone (harness/run/canary.ts).
 */
const POD_ANNOTATIONS = { 'traffic.sidecar.istio.io/excludeOutboundPorts': String(CANARY_PORT) };

/**
 * The network canary (harness/run/canary.ts): a namespace of its own without injection, the
 * agent bundle, and one pod without a sidecar serving the canary port.
 */
export function renderCanaryFixtures(props: FixtureProps): KubernetesObject[] {
  const labels = runLabels(props.runId, props.scenario.name);
  const namespace = canaryNamespace(props.runId);
  const workload: Workload = {
    name: 'canary',
    namespace,
    labels: { [CANARY_LABEL]: 'true' },
    ports: [{ port: CANARY_PORT, protocol: 'TCP' }],
    serviceAccount: 'default',
    automountToken: false,
    sidecar: false,
    probe: false,
    origin: { file: 'bulkhead', line: 0, column: 0, path: '' },
  };
  const command = ['node', AGENT_PATH, 'serve', '--port', String(CANARY_PORT)];
  return [
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: namespace, labels: { 'istio-injection': 'disabled', ...labels } },
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: AGENT_CONFIGMAP, namespace, labels },
      data: { [AGENT_FILE]: props.agentBundle },
    } as KubernetesObject,
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'canary', namespace, labels: podLabels(workload, labels) },
      spec: podSpec(workload, agentImage(props), command),
    } as KubernetesObject,
  ];
}

function podLabels(
  w: Workload,
  labels: Record<string, string>,
  mesh: Record<string, string> = {},
): Record<string, string> {
  return {
    ...w.labels,
    [WORKLOAD_LABEL]: w.name,
    // The label form is the one Istio's injector reads first; explicit either way, so a
    // sidecar-free workload stays sidecar-free in an injected namespace.
    'sidecar.istio.io/inject': w.sidecar ? 'true' : 'false',
    ...mesh,
    ...labels,
  };
}

/** The pod spec every fixture runs: the agent on a pinned Node image, least privilege. */
function podSpec(w: Workload, image: string, command: readonly string[]): Record<string, unknown> {
  const tcp = w.ports.filter((p) => p.protocol === 'TCP');
  return {
    serviceAccountName: w.serviceAccount,
    automountServiceAccountToken: w.automountToken,
    enableServiceLinks: false,
    terminationGracePeriodSeconds: 2,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    containers: [
      {
        name: AGENT_CONTAINER,
        image,
        command: [...command],
        env: [
          { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
          { name: 'POD_SERVICE_ACCOUNT', valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } },
        ],
        ports: w.ports.map((p) => ({
          containerPort: p.port,
          protocol: p.protocol,
          ...(p.name ? { name: p.name } : {}),
        })),
        ...(tcp[0]
          ? {
              readinessProbe: {
                httpGet: { path: READY_PATH, port: tcp[0].port },
                periodSeconds: 2,
                failureThreshold: 2,
              },
            }
          : {}),
        resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '192Mi' } },
        securityContext: {
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        },
        volumeMounts: [{ name: 'agent', mountPath: AGENT_DIR, readOnly: true }],
      },
    ],
    volumes: [{ name: 'agent', configMap: { name: AGENT_CONFIGMAP } }],
  };
}

function deployment(
  w: Workload,
  labels: Record<string, string>,
  image: string,
  mesh: Record<string, string>,
): KubernetesObject {
  const command = [
    'node',
    AGENT_PATH,
    'serve',
    ...w.ports.flatMap((p) =>
      p.protocol === 'TCP' ? ['--port', String(p.port)] : ['--udp-port', String(p.port)],
    ),
  ];
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: w.name, namespace: w.namespace, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: { [WORKLOAD_LABEL]: w.name } },
      template: {
        metadata: { labels: podLabels(w, labels, mesh), annotations: POD_ANNOTATIONS },
        spec: podSpec(w, image, command),
      },
    },
  } as KubernetesObject;
}

/** The ports attempts aim at that the workload does not serve, once each. */
function closedPorts(scenario: Scenario, w: Workload): Port[] {
  const out = new Map<string, Port>();
  for (const a of scenario.attempts) {
    if ('to' in a && a.port.closed && a.to.namespace === w.namespace && a.to.name === w.name)
      out.set(`${a.port.port}/${a.port.protocol}`, a.port);
  }
  return [...out.values()].sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol));
}

/** Istio picks the protocol from the port name: the agent speaks HTTP on every TCP port. */
function servicePortName(p: Port): string {
  return p.name ?? `${p.protocol === 'TCP' ? 'http' : 'udp'}-${p.port}`;
}

function service(w: Workload, labels: Record<string, string>, closed: readonly Port[]): KubernetesObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: w.name, namespace: w.namespace, labels },
    spec: {
      selector: { [WORKLOAD_LABEL]: w.name },
      ports: [
        ...w.ports.map((p) => ({
          name: servicePortName(p),
          port: p.port,
          targetPort: p.port,
          protocol: p.protocol,
        })),
        // A closed port is on the Service too, so the ClusterIP forwards it to the pod, where
        // nothing listens and the kernel refuses it. Its name has no protocol prefix Istio reads
        // (`x-`), so Istio sniffs it like any undeclared port.
        ...closed.map((p) => ({
          name: `x-${p.protocol.toLowerCase()}-${p.port}`,
          port: p.port,
          targetPort: p.port,
          protocol: p.protocol,
        })),
      ],
    },
  } as KubernetesObject;
}

/**
 * The workload's ports again on a Service of type NodePort (`nodePort: true`), so that they are
 * reachable on every node's address. It names no node ports: the API server allocates them at
 * creation and the run reads them back (harness/run/addresses.ts), so two scenarios on one
 * cluster never ask for the same one.
 */
function nodePortService(w: Workload, labels: Record<string, string>): KubernetesObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: nodePortServiceName(w.name), namespace: w.namespace, labels },
    spec: {
      type: 'NodePort',
      selector: { [WORKLOAD_LABEL]: w.name },
      ports: w.ports.map((p) => ({
        name: servicePortName(p),
        port: p.port,
        targetPort: p.port,
        protocol: p.protocol,
      })),
    },
  } as KubernetesObject;
}

/** A probe is a bare pod that idles until the runner execs the agent's `probe` in it. */
function probePod(
  w: Workload,
  labels: Record<string, string>,
  image: string,
  mesh: Record<string, string>,
): KubernetesObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: w.name,
      namespace: w.namespace,
      labels: podLabels(w, labels, mesh),
      annotations: POD_ANNOTATIONS,
    },
    spec: podSpec(w, image, ['node', '-e', 'setInterval(() => {}, 1 << 30)']),
  } as KubernetesObject;
}
