/**
 * How long an attempt from a pod with a sidecar must be given before the probe gives up, read from
 * the mesh the cluster runs. A dropped connection behind a sidecar is not a timeout the client sees:
 * its own connect goes to the local Envoy at once, Envoy dials the upstream for `connectTimeout`,
 * retries, and only then answers 503 "upstream connect error … reset reason: connection timeout"
 * (docs/behaviour.md O6, §A3). A probe deadline shorter than that ends the attempt as `error` (connected, no
 * answer) where the truth is `denied-l4`.
 *
 * What Istio does, at istio/istio 1.29.3:
 * - `connectTimeout` defaults to 10 s (`pkg/config/mesh/mesh.go:94`) and is every outbound
 *   cluster's connect timeout (`pilot/pkg/networking/core/cluster_builder.go:713`); a
 *   DestinationRule's `connectionPool.tcp.connectTimeout` replaces it per destination
 *   (`pilot/pkg/networking/core/cluster_traffic_policy.go:130-131`).
 * - The mesh config is YAML under key `mesh` of ConfigMap `istio` (`istio-<rev>` for a revision) in
 *   istiod's namespace (`manifests/charts/istio-control/istio-discovery/templates/configmap.yaml:84-110`),
 *   laid over the defaults field by field (`pkg/config/mesh/mesh.go:191-203`); no ConfigMap, no
 *   change to the defaults. Durations are protobuf JSON durations: `10s`, `2.5s`.
 * - A route without a VirtualService retry policy takes `meshConfig.defaultHttpRetryPolicy`
 *   (`pilot/pkg/networking/core/route/route.go:680-684`, and `:1364` for the default outbound
 *   route); without one, Istio's default: 2 retries on
 *   `connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes`
 *   (`pilot/pkg/networking/core/route/retry/retry.go:36-37,96-103`). A policy with `attempts` 0 or
 *   less has no retries; otherwise `attempts` is the number of retries (`retry.go:105-114`).
 *
 * The deadline is an upper bound, never an estimate: (1 + retries) × connectTimeout + a margin,
 * taking the largest connect timeout and retry count found (mesh config and the scenario's own
 * DestinationRules and VirtualServices), whatever `retryOn` says. The agent asks Envoy not to retry
 * (`x-envoy-max-retries: 0`), but whether a sidecar honours that header from its app is not
 * established in bulkhead's sources, so the bound does not rely on it; a longer deadline only costs
 * time when Envoy answers earlier. Objects already on the cluster outside the scenario
 * (DestinationRules, VirtualServices of other namespaces) are not read.
 */
import { parse as parseYaml } from 'yaml';

import { EnvironmentError } from '../errors.js';
import type { KubeClient } from '../kube/client.js';
import { KubeApiError } from '../kube/errors.js';
import { dataPlaneOf, takesServiceTraffic } from '../scenario/dataplane.js';
import { isAddressed, isTargeted, type Attempt, type Manifest, type Scenario } from '../scenario/types.js';
import { messageOf } from '../values.js';

/** Istio's default connect timeout (`pkg/config/mesh/mesh.go:94` @1.29.3). */
export const ISTIO_CONNECT_TIMEOUT_MS = 10_000;
/**
 * ztunnel's connect timeout for the HBONE (or plain) connection to the destination, hard-coded,
 * no retry (ztunnel@1.30.3 `src/proxy.rs:642` `CONNECTION_TIMEOUT`; facts AO5).
 */
export const ZTUNNEL_CONNECT_TIMEOUT_MS = 10_000;
/** Istio's default retries (`pilot/pkg/networking/core/route/retry/retry.go:36` @1.29.3). */
export const ISTIO_RETRIES = 2;
/** Istio's default `retryOn` (`retry.go:37` @1.29.3). */
export const ISTIO_RETRY_ON = 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes';
/**
 * Time over Envoy's own attempts for the name lookup, Envoy's back-off between retries and
 * scheduling delays in a busy pod: bulkhead's choice, not Istio's.
 */
export const DEADLINE_MARGIN_MS = 10_000;
/** The agent's largest accepted per-attempt deadline (harness/agent/batch.ts MAX_TIMEOUT_MS). */
const MAX_DEADLINE_MS = 600_000;

/** The attempt kinds that go through the sidecar's outbound HTTP route (and its retry policy). */
const THROUGH_SIDECAR = new Set<Attempt['kind']>(['http', 'tcp']);

/** What the cluster's mesh says about upstream connects and retries. */
export type MeshTimeouts =
  | {
      readonly known: true;
      readonly connectTimeoutMs: number;
      readonly retries: number;
      readonly retryOn: string;
      /** Where each value came from, in words. */
      readonly source: string;
    }
  | { readonly known: false; readonly reason: string };

/** Milliseconds of a protobuf JSON duration (`10s`, `2.5s`); undefined for anything else. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^(\d+)(?:\.(\d{1,9}))?s$/.exec(value.trim());
  if (!match) return undefined;
  const fraction = (match[2] ?? '').padEnd(9, '0');
  return Number(match[1]) * 1000 + Math.round(Number(fraction) / 1_000_000);
}

/** The mesh config text (the ConfigMap's `mesh` key) over Istio's defaults. */
export function meshTimeoutsFromText(text: string, where: string): MeshTimeouts {
  let mesh: unknown;
  try {
    mesh = parseYaml(text) ?? {};
  } catch (error) {
    return {
      known: false,
      reason: `${where} key mesh is not YAML (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`,
    };
  }
  if (!isObj(mesh)) return { known: false, reason: `${where} key mesh is not a YAML mapping` };
  const parts: string[] = [];
  let connectTimeoutMs = ISTIO_CONNECT_TIMEOUT_MS;
  if (mesh.connectTimeout === undefined) {
    parts.push(`connectTimeout not set in ${where}: Istio's default 10s`);
  } else {
    const ms = parseDuration(mesh.connectTimeout);
    if (ms === undefined)
      return {
        known: false,
        reason: `${where} has connectTimeout ${JSON.stringify(mesh.connectTimeout)}, which is not a duration bulkhead reads (like 10s or 2.5s)`,
      };
    connectTimeoutMs = ms;
    parts.push(`connectTimeout ${JSON.stringify(mesh.connectTimeout)} from ${where}`);
  }
  let retries = ISTIO_RETRIES;
  let retryOn = ISTIO_RETRY_ON;
  const policy = mesh.defaultHttpRetryPolicy;
  if (policy === undefined || policy === null) {
    parts.push("no defaultHttpRetryPolicy: Istio's default 2 retries including connect-failure");
  } else if (!isObj(policy)) {
    return { known: false, reason: `${where} has a defaultHttpRetryPolicy that is not a mapping` };
  } else {
    const attempts = policy.attempts ?? 0;
    if (typeof attempts !== 'number' || !Number.isInteger(attempts))
      return {
        known: false,
        reason: `${where} has defaultHttpRetryPolicy.attempts ${JSON.stringify(attempts)}, not a whole number`,
      };
    retries = Math.max(0, attempts);
    if (typeof policy.retryOn === 'string' && policy.retryOn !== '') retryOn = policy.retryOn;
    parts.push(
      `defaultHttpRetryPolicy from ${where}: ${retries} retries${retries === 0 ? ' (attempts 0 or unset disables retries)' : ''}, retryOn ${retryOn}`,
    );
  }
  return { known: true, connectTimeoutMs, retries, retryOn, source: parts.join('; ') };
}

/**
 * Reads the mesh config from istiod's namespace: ConfigMap `istio`, else the revisions' `istio-<rev>`
 * ConfigMaps (label `istio.io/rev`, a `mesh` key), taking the largest values if there are several.
 */
export async function readMeshTimeouts(client: KubeClient, namespace: string): Promise<MeshTimeouts> {
  const because = (error: unknown) => (error instanceof KubeApiError ? error.message : messageOf(error));
  let configMaps: { name: string; mesh: string }[];
  try {
    const main = await client.read({ apiVersion: 'v1', kind: 'ConfigMap', namespace, name: 'istio' });
    const mesh = (main as { data?: Record<string, string> } | undefined)?.data?.mesh;
    if (main && typeof mesh === 'string') configMaps = [{ name: 'istio', mesh }];
    else {
      const { items } = await client.list({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        namespace,
        labelSelector: 'istio.io/rev',
      });
      configMaps = items.flatMap((c) => {
        const data = (c as { data?: Record<string, string> }).data;
        const name = c.metadata?.name ?? '';
        return /^istio(-.+)?$/.test(name) && typeof data?.mesh === 'string'
          ? [{ name, mesh: data.mesh }]
          : [];
      });
    }
  } catch (error) {
    return {
      known: false,
      reason: `the mesh config (ConfigMap ${namespace}/istio) could not be read: ${because(error)}`,
    };
  }
  if (configMaps.length === 0) {
    return {
      known: true,
      connectTimeoutMs: ISTIO_CONNECT_TIMEOUT_MS,
      retries: ISTIO_RETRIES,
      retryOn: ISTIO_RETRY_ON,
      source: `no mesh config in ${namespace} (ConfigMap istio or istio-<rev>): Istio's defaults, connectTimeout 10s and 2 retries including connect-failure`,
    };
  }
  const readings = configMaps.map((c) => meshTimeoutsFromText(c.mesh, `ConfigMap ${namespace}/${c.name}`));
  const unknown = readings.find((r) => !r.known);
  if (unknown) return unknown;
  const known = readings.filter((r): r is Extract<MeshTimeouts, { known: true }> => r.known);
  return {
    known: true,
    connectTimeoutMs: Math.max(...known.map((r) => r.connectTimeoutMs)),
    retries: Math.max(...known.map((r) => r.retries)),
    retryOn: [...new Set(known.map((r) => r.retryOn))].join(' | '),
    source: known.map((r) => r.source).join('; '),
  };
}

/**
 * The scenario's own DestinationRules (`connectionPool.tcp.connectTimeout` anywhere in the spec)
 * and VirtualServices (`http[].retries.attempts`): the largest values, which raise the bound.
 */
export function scenarioOverrides(manifests: readonly Pick<Manifest, 'object' | 'file' | 'line'>[]): {
  connectTimeoutMs?: number;
  retries?: number;
  source: string[];
  problems: string[];
} {
  let connectTimeoutMs: number | undefined;
  let retries: number | undefined;
  const source: string[] = [];
  const problems: string[] = [];
  for (const m of manifests) {
    const o = m.object;
    const where = `${String(o.kind)} ${m.file}:${m.line}`;
    if (typeof o.apiVersion !== 'string' || !o.apiVersion.startsWith('networking.istio.io/')) continue;
    if (o.kind === 'DestinationRule') {
      for (const value of connectTimeouts(o.spec)) {
        const ms = parseDuration(value);
        if (ms === undefined)
          problems.push(`${where}: connectTimeout ${JSON.stringify(value)} is not a duration`);
        else if (ms > (connectTimeoutMs ?? 0)) {
          connectTimeoutMs = ms;
          source.push(`connectTimeout ${String(value)} from ${where}`);
        }
      }
    }
    if (o.kind === 'VirtualService' && isObj(o.spec) && Array.isArray(o.spec.http)) {
      for (const route of o.spec.http) {
        const attempts = isObj(route) && isObj(route.retries) ? route.retries.attempts : undefined;
        if (typeof attempts === 'number' && attempts > (retries ?? 0)) {
          retries = attempts;
          source.push(`${attempts} retries from ${where}`);
        }
      }
    }
  }
  return {
    ...(connectTimeoutMs === undefined ? {} : { connectTimeoutMs }),
    ...(retries === undefined ? {} : { retries }),
    source,
    problems,
  };
}

function connectTimeouts(value: unknown): unknown[] {
  if (Array.isArray(value)) return value.flatMap(connectTimeouts);
  if (!isObj(value)) return [];
  const own =
    isObj(value.connectionPool) &&
    isObj(value.connectionPool.tcp) &&
    value.connectionPool.tcp.connectTimeout !== undefined
      ? [value.connectionPool.tcp.connectTimeout]
      : [];
  return [
    ...own,
    ...Object.entries(value)
      .filter(([k]) => k !== 'connectionPool')
      .flatMap(([, v]) => connectTimeouts(v)),
  ];
}

/** The deadlines a run sends, and how they were found (the results' method shows it). */
export interface MeshDeadlines {
  /** Attempt id → the deadline to send, for the attempts it differs from their own `timeoutMs`. */
  readonly deadlines: ReadonlyMap<string, number>;
  readonly record: {
    readonly connectTimeoutMs?: number;
    readonly retries?: number;
    readonly retryOn?: string;
    readonly marginMs: number;
    readonly formula: string;
    /** (1 + retries) × connectTimeout + margin. */
    readonly derivedMs?: number;
    readonly scenarioDefaultMs: number;
    /** Attempts whose deadline was lengthened to the derived one. */
    readonly lengthened: number;
    /** Attempts from a sidecar that kept their own explicit timeoutMs. */
    readonly keptExplicit: number;
    readonly source: string;
    readonly reasoning: string;
  };
}

/**
 * How an http/tcp attempt leaves an ambient source (harness/scenario/dataplane.ts; facts A2.4:
 * classified by its original addressing): `waypoint` when its destination is enrolled with a
 * waypoint that takes that addressing (a Service name: `service`/`all`; a pod IP: `workload`/`all`),
 * else `ztunnel`; undefined when the source is not ambient or the attempt is not http/tcp.
 */
export function ambientPath(
  attempt: Attempt,
  scenario: Pick<Scenario, 'workloads'> & { readonly namespaces?: Scenario['namespaces'] },
): 'waypoint' | 'ztunnel' | undefined {
  if (!THROUGH_SIDECAR.has(attempt.kind)) return undefined;
  const find = (ref: { namespace: string; name: string }) =>
    scenario.workloads.find((w) => w.namespace === ref.namespace && w.name === ref.name);
  const source = find(attempt.from);
  if (!source || dataPlaneOf(source) !== 'ambient') return undefined;
  const to = isTargeted(attempt)
    ? { ref: attempt.to, service: true }
    : isAddressed(attempt) && attempt.target.kind === 'pod-ip'
      ? { ref: attempt.target.workload, service: false }
      : undefined;
  const destination = to ? find(to.ref) : undefined;
  if (!to || !destination?.waypoint || dataPlaneOf(destination) !== 'ambient') return 'ztunnel';
  const waypoint = (scenario.namespaces ?? [])
    .find((n) => n.name === destination.namespace)
    ?.waypoints?.find((w) => w.name === destination.waypoint);
  if (!waypoint) return 'ztunnel';
  const takes = to.service ? takesServiceTraffic(waypoint) : waypoint.for !== 'service';
  return takes ? 'waypoint' : 'ztunnel';
}

/**
 * Whether the attempt's deadline follows Envoy's connect timeouts and retries: http/tcp from a
 * sidecar, or from an ambient pod through a waypoint (an Envoy too: a drop behind it answers 503
 * after the same connect timeout and retries, facts AO6).
 */
export function followsMesh(
  attempt: Attempt,
  scenario: Pick<Scenario, 'workloads'> & { readonly namespaces?: Scenario['namespaces'] },
): boolean {
  if (!THROUGH_SIDECAR.has(attempt.kind)) return false;
  const source = scenario.workloads.find(
    (w) => w.namespace === attempt.from.namespace && w.name === attempt.from.name,
  );
  return source?.sidecar === true || ambientPath(attempt, scenario) === 'waypoint';
}

/**
 * The deadline for each attempt from a sidecar that did not set its own: the larger of the scenario
 * default and (1 + retries) × connectTimeout + margin. Mesh settings that could not be read are a
 * fault only when some attempt depends on them.
 */
export function meshDeadlines(
  scenario: Pick<Scenario, 'workloads' | 'attempts' | 'defaults'> & {
    readonly namespaces?: Scenario['namespaces'];
  },
  mesh: MeshTimeouts,
  manifests: readonly Pick<Manifest, 'object' | 'file' | 'line'>[],
): MeshDeadlines {
  const envoy = envoyDeadlines(scenario, mesh, manifests);
  // An ambient client's own ztunnel dials the peer (or the waypoint) itself and gives up after its
  // hard-coded 10 s connect timeout, with no retry, before it resets the app's socket (facts AO5,
  // ztunnel@1.30.3 src/proxy.rs:642): every ambient http/tcp attempt needs more than that, a
  // waypoint path too (its first hop is that dial).
  const ambient = scenario.attempts.filter(
    (a) => ambientPath(a, scenario) !== undefined && a.explicitTimeout !== true,
  );
  if (ambient.length === 0) return envoy;
  const floor = ZTUNNEL_CONNECT_TIMEOUT_MS + DEADLINE_MARGIN_MS;
  const deadlines = new Map(envoy.deadlines);
  let lengthened = 0;
  for (const a of ambient) {
    const have = deadlines.get(a.id) ?? a.timeoutMs;
    if (floor > have) {
      if (!deadlines.has(a.id)) lengthened += 1;
      deadlines.set(a.id, floor);
    }
  }
  return {
    deadlines,
    record: {
      ...envoy.record,
      lengthened: envoy.record.lengthened + lengthened,
      reasoning:
        `${envoy.record.reasoning} ` +
        `An ambient client's ztunnel gives up a dropped connection after its fixed ${ZTUNNEL_CONNECT_TIMEOUT_MS} ms connect timeout and then resets it (facts AO5): ` +
        `${ambient.length} http/tcp attempt(s) from ambient pods without their own timeoutMs get at least ${ZTUNNEL_CONNECT_TIMEOUT_MS} ms + ${DEADLINE_MARGIN_MS} ms = ${floor} ms` +
        (lengthened > 0 ? ` (${lengthened} lengthened to it).` : ', which they already had.'),
    },
  };
}

/** The Envoy side of {@link meshDeadlines}: attempts that {@link followsMesh}. */
function envoyDeadlines(
  scenario: Pick<Scenario, 'workloads' | 'attempts' | 'defaults'> & {
    readonly namespaces?: Scenario['namespaces'];
  },
  mesh: MeshTimeouts,
  manifests: readonly Pick<Manifest, 'object' | 'file' | 'line'>[],
): MeshDeadlines {
  const formula = '(1 + retries) × connectTimeout + margin';
  const meshed = scenario.attempts.filter((a) => followsMesh(a, scenario));
  const defaulted = meshed.filter((a) => a.explicitTimeout !== true);
  const keptExplicit = meshed.length - defaulted.length;
  const base = {
    marginMs: DEADLINE_MARGIN_MS,
    formula,
    scenarioDefaultMs: scenario.defaults.timeoutMs,
    keptExplicit,
  };
  if (defaulted.length === 0) {
    return {
      deadlines: new Map(),
      record: {
        ...base,
        lengthened: 0,
        source: mesh.known ? mesh.source : mesh.reason,
        reasoning:
          meshed.length === 0
            ? 'no http or tcp attempt comes from a pod with a sidecar: every attempt keeps its timeoutMs'
            : 'every http or tcp attempt from a sidecar sets its own timeoutMs, which is kept',
      },
    };
  }
  const overrides = scenarioOverrides(manifests);
  if (!mesh.known || overrides.problems.length > 0) {
    const why = mesh.known ? overrides.problems.join('; ') : mesh.reason;
    throw new EnvironmentError(`cannot tell how long Envoy takes to answer a dropped connection: ${why}`, {
      hint: `${defaulted.length} http/tcp attempt(s) from pods with a sidecar depend on it; let bulkhead read the mesh config (get configmaps in istiod's namespace) or give those attempts their own timeoutMs`,
    });
  }
  const connectTimeoutMs = Math.max(mesh.connectTimeoutMs, overrides.connectTimeoutMs ?? 0);
  const retries = Math.max(mesh.retries, overrides.retries ?? 0);
  const derivedMs = Math.min(MAX_DEADLINE_MS, (1 + retries) * connectTimeoutMs + DEADLINE_MARGIN_MS);
  const deadlines = new Map<string, number>();
  for (const a of defaulted) if (derivedMs > a.timeoutMs) deadlines.set(a.id, derivedMs);
  const source = [mesh.source, ...overrides.source].join('; ');
  const capped = derivedMs === MAX_DEADLINE_MS ? ` (capped at the agent's ${MAX_DEADLINE_MS} ms)` : '';
  return {
    deadlines,
    record: {
      ...base,
      connectTimeoutMs,
      retries,
      retryOn: mesh.retryOn,
      derivedMs,
      lengthened: deadlines.size,
      source,
      reasoning:
        `A dropped connection behind a sidecar ends as Envoy's 503 after up to ${formula} = ` +
        `(1 + ${retries}) × ${connectTimeoutMs} ms + ${DEADLINE_MARGIN_MS} ms = ${derivedMs} ms${capped} ` +
        `(facts O6). ` +
        (deadlines.size > 0
          ? `${deadlines.size} http/tcp attempt(s) from sidecars without their own timeoutMs get ${derivedMs} ms instead of the scenario default ${scenario.defaults.timeoutMs} ms`
          : `The scenario default ${scenario.defaults.timeoutMs} ms is already longer, so every attempt keeps it`) +
        (keptExplicit > 0 ? `; ${keptExplicit} attempt(s) keep their explicit timeoutMs.` : '.'),
    },
  };
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
