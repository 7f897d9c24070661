/**
 * Loads a scenario file: YAML with positions → zod validation → defaults and tenant shorthand
 * → references checked → generators expanded → policy sources read. Every problem found is
 * reported at once, each with file:line:column and the field path; nothing is returned from a
 * scenario with problems.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';

import { InputError, suggest, type Problem } from '../errors.js';
import { readInputFile, reason } from '../input-file.js';
import { kubernetesObjects, ManifestBudget, readManifestFile } from '../policies/read-manifests.js';
import { formatPath, parseYaml, type DocPath, type YamlDocument } from '../yaml-source.js';
import {
  dataPlaneOf,
  meshed,
  namespacePlane,
  resolveDataPlane,
  type DataPlane,
  type Waypoint,
} from './dataplane.js';
import { expandGenerators } from './generators.js';
import { resolveGateways } from './gateways.js';
import { issuesToProblems } from './issues.js';
import { problemAt } from './origin.js';
import { expectation, OUTCOMES_BY_KIND, type AttemptKind, type Category } from './outcomes.js';
import { addressCategory, addressTargetText, nodePortServiceName } from './address-target.js';
import {
  ScenarioSchema,
  type AddressTo,
  type RawAttempt,
  type RawWaypoint,
  type ScenarioDocument,
} from './schema.js';
import { resolveSegments } from './segments.js';
import type {
  AddressTarget,
  Attempt,
  Manifest,
  Namespace,
  Origin,
  PolicySource,
  Port,
  Scenario,
  Workload,
  WorkloadRef,
} from './types.js';
import { refText } from './types.js';
import { sha256 } from '../values.js';

/** At most this many problems are reported (and located) for one scenario; the rest are counted. */
const MAX_PROBLEMS = 200;

/**
 * Reads and loads a scenario file, as every command does (validate, plan, lint, run,
 * upgrade-check). Throws {@link InputError} listing every problem. The file goes through the
 * shared input reader (harness/input-file.ts); a scenario that expands to no attempts is refused,
 * since it would pass while testing nothing.
 */
export async function loadScenarioFile(file: string): Promise<Scenario> {
  const text = await readInputFile(file, { describe: (why) => `cannot read scenario: ${why}` });
  return loadScenario(text, file, { requireAttempts: true });
}

export interface LoadOptions {
  /** Refuse a scenario that expands to no attempts. @default false (the text API, for tests and tools) */
  readonly requireAttempts?: boolean;
}

/** Loads a scenario from its text; `file` names it in messages and anchors relative policy paths. */
export async function loadScenario(text: string, file: string, options: LoadOptions = {}): Promise<Scenario> {
  const parsed = parseYaml(text, file);
  if (!parsed.ok) throw inputError(parsed.problems);
  const docs = parsed.documents.filter((d) => d.value() !== null && d.value() !== undefined);
  const [doc, extra] = docs;
  if (!doc)
    throw new InputError([{ file, line: 0, column: 0, path: '', message: 'the scenario file is empty' }]);
  if (extra) {
    const at = extra.start();
    throw new InputError([
      {
        file,
        line: at.line,
        column: at.column,
        path: '',
        message: 'a scenario file holds one YAML document',
      },
    ]);
  }
  const data = doc.value();
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new InputError([
      doc.problem([], 'a scenario is a mapping with apiVersion, kind, metadata and spec'),
    ]);
  }
  const result = ScenarioSchema.safeParse(data);
  if (!result.success) {
    const { issues } = result.error;
    const problems = issuesToProblems(issues.slice(0, MAX_PROBLEMS), doc, ScenarioSchema, data);
    throw inputError(problems, issues.length - Math.min(issues.length, MAX_PROBLEMS));
  }

  const builder = new ScenarioBuilder(doc, result.data);
  const scenario = await builder.build(sha256(text));
  if (builder.problems.length === 0 && options.requireAttempts && scenario.attempts.length === 0) {
    builder.problems.push(doc.problem(['spec'], noAttempts(result.data)));
  }
  if (builder.problems.length > 0) throw inputError(builder.problems);
  return scenario;
}

/** Why a scenario expands to no attempts, and what to add. */
function noAttempts(data: ScenarioDocument): string {
  const { attempts, generators } = data.spec;
  const why =
    attempts.length === 0 && generators.length === 0
      ? 'it has no attempts and no generators'
      : generators.length > 0
        ? `its ${generators.length === 1 ? 'generator produces' : `${generators.length} generators produce`} none for this topology${attempts.length > 0 ? ' and its attempts are all left out' : ''}`
        : 'it has no attempts';
  return `the scenario expands to no attempts (${why}), so a run would test nothing; add attempts, or a generator such as { kind: cross-tenant } with tenants that have workloads with ports`;
}

/** The first {@link MAX_PROBLEMS} problems, and a line counting the rest. */
function inputError(problems: readonly Problem[], more = 0): InputError {
  const rest = more + Math.max(0, problems.length - MAX_PROBLEMS);
  if (rest === 0) return new InputError(problems);
  const shown = problems.slice(0, MAX_PROBLEMS);
  const file = shown[0]?.file ?? '';
  return new InputError([
    ...shown,
    { file, line: 0, column: 0, path: '', message: `${rest} more problems not shown; fix these first` },
  ]);
}

class ScenarioBuilder {
  readonly problems: Problem[] = [];
  readonly warnings: Problem[] = [];
  private readonly namespaces = new Map<string, Namespace>();
  private readonly workloads = new Map<string, Workload>();
  /** "Did you mean" costs a comparison with every name: offered for the first few mistakes only. */
  private suggestions = 20;
  /** Where each waypoint was declared, `namespace/name` → path, for problems found later. */
  private readonly waypointOrigins = new Map<string, DocPath>();
  private readonly budget = new ManifestBudget();

  private readonly doc: YamlDocument;
  private readonly spec: ScenarioDocument;

  constructor(doc: YamlDocument, spec: ScenarioDocument) {
    this.doc = doc;
    this.spec = spec;
  }

  async build(hash: string): Promise<Scenario> {
    const { spec, metadata } = this.spec;
    this.addTenants();
    this.addNamespaces();
    this.addWorkloads();
    this.bindWaypoints();
    const gateways = resolveGateways(spec.gateways, {
      namespaces: this.namespaces,
      workloads: this.workloads,
      origin: (p) => this.origin(p),
      problem: (p, message) => this.problems.push(this.doc.problem(p, message)),
    });

    const explicit = spec.attempts.flatMap(
      (raw, i) => this.resolveAttempt(raw, ['spec', 'attempts', i]) ?? [],
    );
    const generated = expandGenerators(spec.generators, explicit.length, {
      namespaces: [...this.namespaces.values()],
      workloads: [...this.workloads.values()],
      meshRootNamespace: spec.meshRootNamespace,
      trustDomain: spec.trustDomain,
      clusterDomain: spec.clusterDomain,
      defaultTimeoutMs: spec.defaults.timeoutMs,
      allowEgress: spec.policies.flatMap((p) => p.allowEgress ?? []),
      gateways,
      origin: (p, generator) => this.origin(p, generator),
      problem: (p, message) => this.problems.push(this.doc.problem(p, message)),
      warn: (p, message) => this.warnings.push(this.doc.problem(p, message)),
    });
    const attempts = this.checkIds([...explicit, ...generated.attempts]);
    const policies = await this.loadPolicies();
    const segments = resolveSegments({
      doc: this.doc,
      segments: spec.segments,
      isolate: spec.isolate,
      outOfScope: spec.outOfScope,
      namespaces: this.namespaces,
      attempts,
      suggest: (word, candidates) => this.suggest(word, candidates),
    });
    this.problems.push(...segments.problems);
    this.warnings.push(...segments.warnings);

    return {
      name: metadata.name,
      ...(metadata.description === undefined ? {} : { description: metadata.description }),
      file: this.doc.file,
      sha256: hash,
      meshRootNamespace: spec.meshRootNamespace,
      trustDomain: spec.trustDomain,
      clusterDomain: spec.clusterDomain,
      defaults: { timeoutMs: spec.defaults.timeoutMs },
      namespaces: [...this.namespaces.values()],
      workloads: [...this.workloads.values()],
      policies,
      attempts,
      generators: generated.summaries,
      gateways,
      segments: segments.segments,
      isolate: segments.isolate,
      outOfScope: segments.outOfScope,
      warnings: this.warnings,
    };
  }

  private get spec_() {
    return this.spec.spec;
  }

  private origin(p: DocPath, generator?: string): Origin {
    const { line, column } = this.doc.locate(p);
    return { file: this.doc.file, line, column, path: formatPath(p), ...(generator ? { generator } : {}) };
  }

  private addNamespace(ns: Namespace, at: DocPath): void {
    const existing = this.namespaces.get(ns.name);
    if (existing) {
      this.problems.push(
        this.doc.problem(at, `namespace '${ns.name}' is already declared at line ${existing.origin.line}`),
      );
      return;
    }
    if (ns.name === this.spec_.meshRootNamespace) {
      this.problems.push(
        this.doc.problem(at, `'${ns.name}' is the mesh root namespace; scenario namespaces must be others`),
      );
      return;
    }
    this.namespaces.set(ns.name, ns);
  }

  private addTenants(): void {
    const { tenants, tenantNamespacePrefix } = this.spec_;
    tenants.forEach((t, i) => {
      const at: DocPath = ['spec', 'tenants', i];
      const name = t.namespace ?? `${tenantNamespacePrefix}${t.name}`;
      if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name) || name.length > 63) {
        this.problems.push(
          this.doc.problem([...at, 'name'], `namespace name '${name}' is not a DNS-1123 label`),
        );
        return;
      }
      const dataplane = this.namespaceDataPlane(t, 'sidecar', at);
      this.addNamespace(
        {
          name,
          labels: { ...t.labels, tenant: t.name },
          injection: dataplane === 'sidecar',
          dataplane,
          waypoints: this.waypoints(t.waypoints, name, dataplane, at),
          tenant: t.name,
          origin: this.origin(at),
        },
        at,
      );
      const probes = t.probes
        ? [
            { name: 'probe', sidecar: undefined },
            { name: 'probe-nosidecar', sidecar: false },
          ]
        : [];
      t.workloads.forEach((w, j) => {
        this.addWorkload({ ...w, namespace: name }, [...at, 'workloads', j]);
      });
      for (const p of probes) {
        this.addWorkload(
          {
            name: p.name,
            namespace: name,
            serviceAccount: 'default',
            ports: [],
            automountToken: true,
            sidecar: p.sidecar,
          },
          [...at, 'probes'],
        );
      }
    });
  }

  private addNamespaces(): void {
    this.spec_.namespaces.forEach((n, i) => {
      const at: DocPath = ['spec', 'namespaces', i];
      const dataplane = this.namespaceDataPlane(n, 'none', at);
      this.addNamespace(
        {
          name: n.name,
          labels: n.tenant && !('tenant' in n.labels) ? { ...n.labels, tenant: n.tenant } : n.labels,
          injection: dataplane === 'sidecar',
          dataplane,
          waypoints: this.waypoints(n.waypoints, n.name, dataplane, at),
          ...(n.tenant ? { tenant: n.tenant } : {}),
          origin: this.origin(at),
        },
        at,
      );
    });
  }

  private addWorkloads(): void {
    this.spec_.workloads.forEach((w, i) => {
      this.addWorkload(w, ['spec', 'workloads', i]);
    });
  }

  private addWorkload(
    w: {
      name: string;
      namespace: string;
      labels?: Record<string, string> | undefined;
      serviceAccount: string;
      sidecar?: boolean | undefined;
      dataplane?: DataPlane | undefined;
      ports: readonly (number | { port: number; protocol: 'TCP' | 'UDP'; name?: string | undefined })[];
      ip?: string | undefined;
      automountToken: boolean;
      nodePort?: boolean | undefined;
    },
    at: DocPath,
  ): void {
    const ns = this.namespaces.get(w.namespace);
    if (!ns) {
      const hint = this.suggest(w.namespace, this.namespaces.keys());
      this.problems.push(
        this.doc.problem(
          [...at, 'namespace'],
          `names no namespace of the scenario: '${w.namespace}'` + (hint ? ` (did you mean '${hint}'?)` : ''),
        ),
      );
      return;
    }
    const plane = resolveDataPlane(w.dataplane, { field: 'sidecar', value: w.sidecar }, namespacePlane(ns));
    if ('problem' in plane) {
      this.problems.push(
        this.doc.problem([...at, 'dataplane' in w && w.dataplane ? 'dataplane' : 'sidecar'], plane.problem),
      );
      return;
    }
    const key = `${w.namespace}/${w.name}`;
    const existing = this.workloads.get(key);
    if (existing) {
      this.problems.push(
        this.doc.problem(at, `workload '${key}' is already declared at line ${existing.origin.line}`),
      );
      return;
    }
    const ports: Port[] = [];
    const byNumber = new Map<string, Port>();
    const byName = new Map<string, Port>();
    w.ports.forEach((p, j) => {
      const port: Port =
        typeof p === 'number'
          ? { port: p, protocol: 'TCP' }
          : { port: p.port, protocol: p.protocol, ...(p.name ? { name: p.name } : {}) };
      const clash =
        byNumber.get(`${port.port}/${port.protocol}`) ?? (port.name ? byName.get(port.name) : undefined);
      if (clash) {
        this.problems.push(this.doc.problem([...at, 'ports', j], `duplicates port ${describePort(clash)}`));
        return;
      }
      ports.push(port);
      byNumber.set(`${port.port}/${port.protocol}`, port);
      if (port.name) byName.set(port.name, port);
    });
    if (w.nodePort && ports.length === 0) {
      this.problems.push(
        this.doc.problem(
          [...at, 'nodePort'],
          'a workload without ports has no Service to expose on node ports',
        ),
      );
    } else if (w.nodePort && nodePortServiceName(w.name).length > 63) {
      this.problems.push(
        this.doc.problem(
          [...at, 'nodePort'],
          `its NodePort Service '${nodePortServiceName(w.name)}' would be longer than 63 characters; shorten the workload name`,
        ),
      );
    }
    this.workloads.set(key, {
      name: w.name,
      namespace: w.namespace,
      labels: w.labels ?? { app: w.name },
      serviceAccount: w.serviceAccount,
      sidecar: plane.dataplane === 'sidecar',
      dataplane: plane.dataplane,
      ports,
      ...(w.ip ? { ip: w.ip } : {}),
      automountToken: w.automountToken,
      ...(w.nodePort && ports.length > 0 ? { nodePort: true as const } : {}),
      probe: ports.length === 0,
      origin: this.origin(at),
    });
  }

  /** A namespace's data plane from `dataplane` and `injection`; a contradiction is a problem. */
  private namespaceDataPlane(
    n: { dataplane?: DataPlane | undefined; injection?: boolean | undefined },
    fallback: DataPlane,
    at: DocPath,
  ): DataPlane {
    const plane = resolveDataPlane(n.dataplane, { field: 'injection', value: n.injection }, fallback);
    if ('dataplane' in plane) return plane.dataplane;
    this.problems.push(this.doc.problem([...at, 'injection'], plane.problem));
    return n.dataplane ?? fallback;
  }

  /** A namespace's waypoints: only in an ambient namespace, unique names, one taking all workloads. */
  private waypoints(
    raw: readonly RawWaypoint[],
    namespace: string,
    dataplane: DataPlane,
    at: DocPath,
  ): Waypoint[] {
    if (raw.length > 0 && dataplane !== 'ambient') {
      this.problems.push(
        this.doc.problem(
          [...at, 'waypoints'],
          `waypoints need an ambient namespace, and this one's data plane is ${dataplane}; set dataplane: ambient`,
        ),
      );
      return [];
    }
    const out: Waypoint[] = [];
    raw.forEach((w, i) => {
      const here: DocPath = [...at, 'waypoints', i];
      if (out.some((o) => o.name === w.name)) {
        this.problems.push(this.doc.problem([...here, 'name'], `waypoint '${w.name}' is declared twice`));
        return;
      }
      if (w.services === 'all' && out.some((o) => o.services === 'all')) {
        this.problems.push(
          this.doc.problem(
            [...here, 'services'],
            'a namespace is labelled istio.io/use-waypoint with one name only: a single waypoint may take services: all',
          ),
        );
        return;
      }
      out.push({ name: w.name, namespace, for: w.for, services: w.services });
      this.waypointOrigins.set(`${namespace}/${w.name}`, here);
    });
    return out;
  }

  /**
   * Gives each ambient workload the waypoint its namespace's `waypoints` assign it: one that names
   * it, else the namespace-wide one (fact A2.4: Service and pod labels win over the namespace's).
   */
  private bindWaypoints(): void {
    const named = new Map<string, string>();
    for (const ns of this.namespaces.values()) {
      for (const wp of ns.waypoints ?? []) {
        const at = this.waypointOrigins.get(`${ns.name}/${wp.name}`) ?? [];
        if (this.workloads.has(`${ns.name}/${wp.name}`)) {
          // istiod deploys the waypoint as a Deployment and Service of the Gateway's name (fact A2.4).
          this.problems.push(
            this.doc.problem(
              [...at, 'name'],
              `waypoint '${wp.name}' has the name of workload ${ns.name}/${wp.name}; its Deployment and Service would collide`,
            ),
          );
        }
        if (wp.services === 'all') continue;
        wp.services.forEach((name, j) => {
          const key = `${ns.name}/${name}`;
          const w = this.workloads.get(key);
          const where: DocPath = [...at, 'services', j];
          if (!w) {
            const hint = this.suggest(key, this.workloads.keys());
            this.problems.push(
              this.doc.problem(
                where,
                `names no workload of namespace ${ns.name}: '${name}'` +
                  (hint ? ` (did you mean '${hint}'?)` : ''),
              ),
            );
          } else if (w.dataplane !== 'ambient') {
            this.problems.push(
              this.doc.problem(
                where,
                `workload ${key} is on the ${w.dataplane} data plane; only ambient workloads use a waypoint`,
              ),
            );
          } else if (named.has(key)) {
            this.problems.push(
              this.doc.problem(where, `workload ${key} already uses waypoint '${named.get(key) ?? ''}'`),
            );
          } else named.set(key, wp.name);
        });
      }
    }
    for (const [key, w] of this.workloads) {
      if (dataPlaneOf(w) !== 'ambient') continue;
      const ns = this.namespaces.get(w.namespace);
      const waypoint = named.get(key) ?? ns?.waypoints?.find((wp) => wp.services === 'all')?.name;
      if (waypoint !== undefined) this.workloads.set(key, { ...w, waypoint });
    }
  }

  private suggest(word: string, candidates: Iterable<string>): string | undefined {
    if (this.suggestions <= 0) return undefined;
    this.suggestions--;
    return suggest(word, candidates);
  }

  private workload(ref: string, at: DocPath): Workload | undefined {
    const found = this.workloads.get(ref);
    if (!found) {
      const hint = this.suggest(ref, this.workloads.keys());
      this.problems.push(
        this.doc.problem(
          at,
          `names no workload of the scenario: '${ref}'` + (hint ? ` (did you mean '${hint}'?)` : ''),
        ),
      );
    }
    return found;
  }

  private resolveAttempt(raw: RawAttempt, at: DocPath): Attempt | undefined {
    const from = this.workload(raw.from, [...at, 'from']);
    const incompatible = raw.expect === 'auto' ? [] : [raw.expect].flat().filter((w) => !fits(raw.kind, w));
    if (incompatible.length > 0) {
      this.problems.push(
        this.doc.problem(
          [...at, 'expect'],
          `'${incompatible.join("', '")}' cannot be the outcome of a ${raw.kind} attempt ` +
            `(possible: ${OUTCOMES_BY_KIND[raw.kind].join(', ')}, denied, auto)`,
        ),
      );
    }
    const common = {
      id: raw.id,
      expect: expectation([raw.expect].flat()),
      timeoutMs: raw.timeoutMs ?? this.spec_.defaults.timeoutMs,
      ...(raw.timeoutMs === undefined ? {} : { explicitTimeout: true as const }),
      ...(raw.description === undefined ? {} : { description: raw.description }),
      origin: this.origin(at),
    };
    switch (raw.kind) {
      case 'dns':
      case 'api': {
        if (!from) return undefined;
        const fromRef = refOf(from);
        const category = raw.category ?? (raw.kind === 'dns' ? 'dns-recon' : 'api-token');
        return raw.kind === 'dns'
          ? {
              ...common,
              kind: 'dns',
              category,
              from: fromRef,
              query: raw.query,
              ...(raw.dnsServer ? { dnsServer: raw.dnsServer } : {}),
            }
          : { ...common, kind: 'api', category, from: fromRef, request: raw.request };
      }
      case 'http':
      case 'tcp':
      case 'udp': {
        if (typeof raw.to !== 'string') return this.resolveAddressed(raw, raw.to, from, common, at);
        const to = this.workload(raw.to, [...at, 'to']);
        if (!from || !to) return undefined;
        const port = this.resolvePort(raw.kind, to, raw.port, [
          ...at,
          raw.port === undefined ? 'to' : 'port',
        ]);
        if (!port) return undefined;
        const category = raw.category ?? this.inferCategory(from, to);
        const base = { ...common, category, from: refOf(from), to: refOf(to), port };
        if (raw.kind === 'http') return { ...base, kind: 'http', http: raw.http };
        const send = sendOf(raw);
        const payload = send === undefined ? {} : { send };
        return raw.kind === 'tcp'
          ? { ...base, kind: 'tcp', ...payload }
          : { ...base, kind: 'udp', ...payload };
      }
    }
  }

  /** An attempt to a destination that is not a Service name: an address, a pod IP, the node, the internet. */
  private resolveAddressed(
    raw: Extract<RawAttempt, { kind: 'http' | 'tcp' | 'udp' }>,
    to: AddressTo,
    from: Workload | undefined,
    common: Pick<Attempt, 'id' | 'expect' | 'timeoutMs' | 'explicitTimeout' | 'description' | 'origin'>,
    at: DocPath,
  ): Attempt | undefined {
    let target: AddressTarget;
    let port: Port | undefined;
    if ('podIp' in to) {
      const workload = this.workload(to.podIp, [...at, 'to', 'podIp']);
      if (!workload) return undefined;
      target = { kind: 'pod-ip', workload: refOf(workload) };
      port = this.resolvePort(raw.kind, workload, raw.port, [...at, raw.port === undefined ? 'to' : 'port']);
    } else if ('nodePort' in to) {
      const workload = this.workload(to.nodePort, [...at, 'to', 'nodePort']);
      if (!workload) return undefined;
      if (!workload.nodePort) {
        this.problems.push(
          this.doc.problem(
            [...at, 'to', 'nodePort'],
            `'${refText(workload)}' has no NodePort Service; set nodePort: true on the workload`,
          ),
        );
        return undefined;
      }
      target = { kind: 'node-port', workload: refOf(workload) };
      const portAt = [...at, raw.port === undefined ? 'to' : 'port'];
      port = this.resolvePort(raw.kind, workload, raw.port, portAt);
      if (port?.closed) {
        this.problems.push(
          this.doc.problem(
            portAt,
            `'${refText(workload)}' serves no port ${port.port}, so its NodePort Service has none`,
          ),
        );
        return undefined;
      }
    } else {
      target =
        'address' in to
          ? { kind: 'address', address: to.address }
          : 'node' in to
            ? { kind: 'node' }
            : { kind: 'internet' };
      if (typeof raw.port !== 'number') {
        this.problems.push(
          this.doc.problem(
            [...at, raw.port === undefined ? 'to' : 'port'],
            `an attempt to ${addressTargetText(target)} needs a port number${raw.port === undefined ? '' : ` (a port name such as '${raw.port}' names a workload's port)`}`,
          ),
        );
        return undefined;
      }
      port = { port: raw.port, protocol: raw.kind === 'udp' ? 'UDP' : 'TCP' };
    }
    if (!from || !port) return undefined;
    const base = {
      ...common,
      category: raw.category ?? addressCategory(target),
      from: refOf(from),
      target,
      port,
    };
    if (raw.kind === 'http') return { ...base, kind: 'http', http: raw.http };
    const send = sendOf(raw);
    const payload = send === undefined ? {} : { send };
    return raw.kind === 'tcp' ? { ...base, kind: 'tcp', ...payload } : { ...base, kind: 'udp', ...payload };
  }

  private resolvePort(kind: AttemptKind, to: Workload, want: number | string | undefined, at: DocPath) {
    const protocol = kind === 'udp' ? 'UDP' : 'TCP';
    const candidates = to.ports.filter((p) => p.protocol === protocol);
    const target = `${to.namespace}/${to.name}`;
    if (want === undefined) {
      const [only, second] = candidates;
      if (only && !second) return only;
      this.problems.push(
        this.doc.problem(
          at,
          candidates.length === 0
            ? `'${target}' serves no ${protocol} port for a ${kind} attempt`
            : `'${target}' serves several ${protocol} ports (${candidates.map(describePort).join(', ')}); say which with 'port'`,
        ),
      );
      return undefined;
    }
    // A number names a port of this protocol (a UDP attempt to 53 is not the TCP port 53); a name
    // is unique across protocols, so it names one port whose protocol must fit.
    const found = to.ports.find((p) =>
      typeof want === 'number' ? p.port === want && p.protocol === protocol : p.name === want,
    );
    if (!found && typeof want === 'number' && !to.probe) {
      // A port nothing serves: "does a policy open a closed port" is checked by being refused.
      return { port: want, protocol, closed: true } as const;
    }
    if (!found) {
      this.problems.push(
        this.doc.problem(
          at,
          `'${target}' serves no port ${String(want)}` +
            (to.ports.length
              ? ` (it serves ${to.ports.map(describePort).join(', ')})`
              : ' (it serves none)') +
            (to.probe ? '; a probe has no Service to reach' : '; give a port number to aim at a closed port'),
        ),
      );
      return undefined;
    }
    if (found.protocol !== protocol) {
      this.problems.push(
        this.doc.problem(
          at,
          `port ${describePort(found)} of '${target}' is ${found.protocol}; a ${kind} attempt needs ${protocol}`,
        ),
      );
      return undefined;
    }
    return found;
  }

  private inferCategory(from: Workload, to: Workload): Category {
    const a = this.namespaces.get(from.namespace);
    const b = this.namespaces.get(to.namespace);
    if (!b?.tenant) return 'shared-services';
    if (a?.tenant !== b.tenant) return 'cross-tenant';
    if (!meshed(from) && meshed(to)) return 'plaintext';
    return 'intra-tenant';
  }

  private checkIds(attempts: Attempt[]): Attempt[] {
    const seen = new Map<string, Attempt>();
    const out: Attempt[] = [];
    for (const attempt of attempts) {
      const first = seen.get(attempt.id);
      if (first) {
        const by = (a: Attempt) =>
          a.origin.generator ? `generated by ${a.origin.generator}` : `at line ${a.origin.line}`;
        this.problems.push(
          problemAt(
            attempt.origin,
            `duplicate attempt id '${attempt.id}' (${by(attempt)}; first ${by(first)})`,
            'id',
          ),
        );
        continue;
      }
      seen.set(attempt.id, attempt);
      out.push(attempt);
    }
    return out;
  }

  private async loadPolicies(): Promise<PolicySource[]> {
    const sources: PolicySource[] = [];
    const base = path.dirname(this.doc.file);
    for (const [i, ref] of this.spec_.policies.entries()) {
      const at: DocPath = ['spec', 'policies', i];
      const origin = this.origin(at);
      if (ref.builtin !== undefined) {
        sources.push({
          kind: 'builtin',
          name: ref.builtin,
          ...(ref.clusterPolicy === undefined ? {} : { clusterPolicy: ref.clusterPolicy }),
          ...(ref.allowEgress === undefined ? {} : { allowEgress: ref.allowEgress }),
          origin,
        });
      } else if (ref.file !== undefined) {
        const location = path.resolve(base, ref.file);
        const manifests = await this.readManifests(location, [...at, 'file']);
        if (manifests) sources.push({ kind: 'file', location, manifests, origin });
      } else if (ref.inline !== undefined) {
        const firstLine = this.doc.blockContentLine([...at, 'inline']);
        const parsed = parseYaml(ref.inline, this.doc.file, firstLine - 1);
        if (!parsed.ok) {
          this.problems.push(...parsed.problems);
          continue;
        }
        const manifests = kubernetesObjects(parsed.documents, this.doc.file, this.problems, 'policy');
        sources.push({ kind: 'inline', location: this.doc.file, manifests, origin });
      }
    }
    return sources;
  }

  private async readManifests(location: string, at: DocPath): Promise<Manifest[] | undefined> {
    let files: string[];
    try {
      const info = await stat(location);
      files = info.isDirectory()
        ? (await readdir(location))
            .filter((f) => /\.ya?ml$/.test(f))
            .sort()
            .map((f) => path.join(location, f))
        : [location];
    } catch (error) {
      this.problems.push(this.doc.problem(at, `cannot read policy file ${location}: ${reason(error)}`));
      return undefined;
    }
    const manifests: Manifest[] = [];
    for (const file of files) {
      const shown = path.relative(process.cwd(), file) || file;
      manifests.push(...(await readManifestFile(file, shown, this.problems, this.budget, 'policy')));
    }
    return manifests;
  }
}

function sendOf(raw: Extract<RawAttempt, { kind: 'tcp' | 'udp' }>): string | undefined {
  return raw.kind === 'tcp' ? raw.tcp.send : raw.udp.send;
}

function fits(kind: AttemptKind, word: string): boolean {
  return word === 'denied' || word === 'auto' || (OUTCOMES_BY_KIND[kind] as readonly string[]).includes(word);
}

function refOf(w: Workload): WorkloadRef {
  return { namespace: w.namespace, name: w.name };
}

export function describePort(p: Port): string {
  return `${p.port}/${p.protocol}${p.name ? ` (${p.name})` : ''}${p.closed ? ' (not served)' : ''}`;
}
