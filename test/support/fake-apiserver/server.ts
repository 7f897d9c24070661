/**
 * A fake Kubernetes API server for tests: real HTTPS, real JSON, the REST paths of the
 * documented API (discovery, CRUD, server-side apply, watch, logs, events) and the exec
 * subprotocol over WebSocket. @kubernetes/client-node talks to it over the wire exactly as to a
 * cluster. It is a test double of the protocol: behaviour follows the API documentation, with
 * the simplifications listed where they are made.
 *
 * Simplifications, on purpose:
 * - server-side apply merges maps recursively and replaces lists whole; fields a manager applied
 *   before and no longer applies are removed; conflicts between managers are not detected;
 * - strategic-merge patches are treated as JSON merge patches;
 * - deletion is immediate (no finalizers, no Terminating phase); deleting a namespace deletes
 *   what it contains;
 * - a Deployment's `metadata.generation` starts at 1 and grows with each change of its spec, as
 *   the API server's strategy does; the controller's status then reports it as observed;
 * - a tiny deployment controller creates each Deployment's pods directly (no ReplicaSets), and
 *   pods become Ready on a schedule the test controls. A changed pod template (a rollout
 *   restart's `kubectl.kubernetes.io/restartedAt` annotation, a new image) replaces the pods
 *   at once, as the Recreate strategy would: their `pod-template-hash` is the template's hash;
 * - an optional `admit` hook mutates objects on create, as a mutating admission webhook would;
 *   it is not called on updates. Pods then meet Istio's sidecar injector (on by default) and
 *   the ServiceAccount admission plugin, as on a cluster with Istio (admission.ts);
 * - custom resources are decoded by their CRD's schema and CRDs must be structural
 *   (schemas.ts); built-in kinds are stored as sent (their unknown fields are not pruned);
 * - Services of type NodePort get their node ports allocated and checked as the registry does
 *   (node-ports.ts);
 * - GET /version reports a configurable gitVersion (the cluster installers read it);
 * - SelfSubjectAccessReviews are answered by a test-supplied rule (allow all by default), not stored.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { KubeConfig } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';

import { admitPod, sidecarInjectorWebhooks } from './admission.js';
import { ExecEndpoint, type ExecHandler, type ExecLimits } from './exec.js';
import {
  BUILTIN_TYPES,
  groupList,
  groupVersion,
  resourceList,
  typesOfCrd,
  type ResourceType,
} from './resources.js';
import {
  crdSchemas,
  missingRequired,
  pruneUnknown,
  structuralViolations,
  type JsonSchema,
} from './schemas.js';
import { clusterServices } from './cluster-services.js';
import { allocateNodePorts, nodePortsOf } from './node-ports.js';
import { parseFieldSelector, parseLabelSelector } from './selectors.js';

type Obj = Record<string, unknown> & { metadata: Metadata };
interface Metadata {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  resourceVersion?: string;
  uid?: string;
  creationTimestamp?: string;
  generateName?: string;
  managedFields?: unknown[];
  generation?: number;
  ownerReferences?: { kind: string; name: string; uid: string }[];
  [key: string]: unknown;
}

interface WatchEvent {
  readonly rv: number;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly typeKey: string;
  readonly object: Obj;
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly contentType?: string;
  /** The request body exactly as it arrived (what the client really sent). */
  readonly body?: string;
}

export interface FakeApiServerOptions {
  /** Bearer token clients must present. Default: a random one, in `kubeConfig()`. */
  readonly token?: string;
  /** Exec subprotocols served, in preference order. Default: v5 then v4. */
  readonly execProtocols?: readonly string[];
  /** Runs an exec'd command. Default: refuses every exec (tests say what runs). */
  readonly exec?: ExecHandler;
  /** Limits on execs opening and open at once (refused beyond), counted in `execCounts`. Default: none. */
  readonly execLimits?: ExecLimits;
  /**
   * When a new pod becomes Ready, in ms after creation; `null` keeps it unready.
   * Default: at once.
   */
  readonly readyAfterMs?: (pod: Readonly<Obj>) => number | null;
  /** Closes every watch after this long, as real servers do routinely. Default: never. */
  readonly watchLifetimeMs?: number;
  /** What GET /version reports as gitVersion (how clients learn the Kubernetes version). Default: v1.35.0. */
  readonly kubernetesVersion?: string;
  /**
   * Answers a SelfSubjectAccessReview (`kubectl auth can-i`): its spec.resourceAttributes in,
   * allowed out. Default: everything allowed.
   */
  readonly accessReview?: (attributes: Readonly<Record<string, string>>) => boolean;
  /**
   * Mutating admission on create (not on update): gets the object about to be stored and
   * returns it changed, as Istio's sidecar injector does to new pods. Default: none.
   */
  readonly admit?: (object: Record<string, unknown>) => Record<string, unknown>;
  /**
   * Seed the Services and EndpointSlices every cluster has (`kubernetes`, `kube-dns`, see
   * cluster-services.ts). Default: true.
   */
  readonly clusterServices?: boolean;
  /** Requests answered 403 Forbidden, as RBAC would (after authentication). Default: none. */
  readonly forbid?: (request: RecordedRequest) => boolean;
  /**
   * How long the answer to a request is held after the request was carried out (the object is
   * stored, watchers told), as a loaded server or client network delays it. Default: none.
   */
  readonly answerLateMs?: (request: RecordedRequest) => number;
  /**
   * Istio's sidecar injector for the default revision (see admission.ts): new pods in injected
   * namespaces get an istio-proxy native sidecar, and the injector's
   * MutatingWebhookConfiguration exists. Runs after `admit`. Default: true, a cluster with Istio.
   */
  readonly sidecarInjector?: boolean;
}

const TLS_DIR = new URL('./tls/', import.meta.url);

export class FakeApiServer {
  readonly token: string;
  readonly requests: RecordedRequest[] = [];
  /** Answers held back by `answerLateMs`, by response. */
  private readonly late = new WeakMap<ServerResponse, number>();
  private readonly types: ResourceType[] = [...BUILTIN_TYPES];
  private readonly objects = new Map<string, Obj>();
  /** Custom resources' schemas, by `group/version/plural`, from their CRDs. */
  private readonly schemas = new Map<string, JsonSchema>();
  private readonly events: WatchEvent[] = [];
  private readonly watchers = new Set<(e: WatchEvent) => void>();
  private readonly logs = new Map<string, string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Deployments the controller leaves alone (`namespace/name`): the test writes their status. */
  private readonly paused = new Set<string>();
  private readonly options: FakeApiServerOptions;
  private readonly execEndpoint: ExecEndpoint;
  private readonly server: Server;
  private rv = 100;

  constructor(options: FakeApiServerOptions = {}) {
    this.options = options;
    this.token = options.token ?? randomBytes(16).toString('hex');
    this.server = createServer({
      key: readFileSync(new URL('server.key', TLS_DIR)),
      cert: readFileSync(new URL('server.crt', TLS_DIR)),
    });
    this.execEndpoint = new ExecEndpoint({
      protocols: options.execProtocols ?? ['v5.channel.k8s.io', 'v4.channel.k8s.io'],
      handler: options.exec,
      ...(options.execLimits ? { limits: options.execLimits } : {}),
    });
    this.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      this.handle(req, res).catch((error: unknown) => {
        this.send(res, 500, status(500, 'InternalError', String(error)));
      });
    });
    this.server.on('upgrade', (req: IncomingMessage, socket, head) => {
      this.upgrade(req, socket as import('node:net').Socket, head);
    });
    this.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
    this.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kube-system' } });
    if (options.clusterServices !== false) for (const object of clusterServices()) this.put(object);
    if (options.sidecarInjector ?? true) this.put(sidecarInjectorWebhooks());
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.execEndpoint.closeAll();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) =>
      this.server.close(() => {
        resolve();
      }),
    );
  }

  get url(): string {
    const { port } = this.server.address() as AddressInfo;
    return `https://127.0.0.1:${port}`;
  }

  /** A KubeConfig for this server: its CA, a bearer token, context `fake`. */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [
        {
          name: 'fake',
          server: this.url,
          caData: readFileSync(new URL('ca.crt', TLS_DIR)).toString('base64'),
        },
      ],
      users: [{ name: 'tester', token: this.token }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'tester', namespace: 'default' }],
      currentContext: 'fake',
    });
    return kc;
  }

  // --- test controls -----------------------------------------------------------------------

  /** Stores an object as if a controller or an admin had created it (no request recorded). */
  put(object: Record<string, unknown>): Obj {
    const type = this.typeOf(String(object.apiVersion), String(object.kind));
    if (!type)
      throw new Error(`fake API server: unknown type ${String(object.apiVersion)} ${String(object.kind)}`);
    const obj = structuredClone(object) as Obj;
    const existing = this.objects.get(keyOf(type, obj.metadata.namespace, obj.metadata.name));
    return existing ? this.update(type, obj) : this.create(type, obj);
  }

  /**
   * Stops the deployment controller for one Deployment: its pods and status stay as the test
   * puts them (a rollout caught half way). `resume` hands it back to the controller.
   */
  pauseDeployment(namespace: string, name: string): void {
    this.paused.add(`${namespace}/${name}`);
  }

  resumeDeployment(namespace: string, name: string): void {
    this.paused.delete(`${namespace}/${name}`);
    this.reconcileDeployment(namespace, name);
  }

  get(apiVersion: string, kind: string, namespace: string | undefined, name: string): Obj | undefined {
    const type = this.typeOf(apiVersion, kind);
    return type ? this.objects.get(keyOf(type, type.namespaced ? namespace : undefined, name)) : undefined;
  }

  list(apiVersion: string, kind: string, namespace?: string): Obj[] {
    const type = this.typeOf(apiVersion, kind);
    if (!type) return [];
    return [...this.objects.values()].filter(
      (o) => matchesType(o, type) && (namespace === undefined || o.metadata.namespace === namespace),
    );
  }

  /** Sets what GET .../pods/{name}/log returns for a container. */
  setLogs(namespace: string, pod: string, container: string, text: string): void {
    this.logs.set(`${namespace}/${pod}/${container}`, text);
  }

  /** Marks a pod Ready (or not) now. */
  setPodReady(namespace: string, name: string, ready: boolean): void {
    const pod = this.get('v1', 'Pod', namespace, name);
    if (!pod) throw new Error(`fake API server: no pod ${namespace}/${name}`);
    this.update(typeFor(this.types, '', 'v1', 'pods'), withPodReadiness(pod, ready));
    this.reconcileOwners(pod);
  }

  /** The exec sessions started so far, to inspect or kill them. */
  get execs() {
    return this.execEndpoint.sessions;
  }

  /** Execs opening and open now, their peaks, and how many a limit refused. */
  get execCounts() {
    return this.execEndpoint.counts;
  }

  // --- HTTP --------------------------------------------------------------------------------

  private authorized(req: IncomingMessage): boolean {
    return req.headers.authorization === `Bearer ${this.token}`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://fake');
    const query = Object.fromEntries(url.searchParams);
    const contentType = req.headers['content-type'];
    const body = await readBody(req);
    this.requests.push({
      method: req.method ?? 'GET',
      path: url.pathname,
      query,
      ...(contentType ? { contentType } : {}),
      ...(body ? { body } : {}),
    });
    if (!this.authorized(req)) {
      this.send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
      return;
    }
    const recorded = this.requests.at(-1);
    const late = recorded ? (this.options.answerLateMs?.(recorded) ?? 0) : 0;
    if (late > 0) this.late.set(res, late);
    if (recorded && this.options.forbid?.(recorded)) {
      const message = `${recorded.method} ${recorded.path} is forbidden by the test`;
      this.send(res, 403, status(403, 'Forbidden', message));
      return;
    }
    const route = this.route(url.pathname);
    if (route.kind === 'discovery') {
      this.send(res, 200, route.document);
      return;
    }
    if (route.kind === 'none') {
      this.send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
      return;
    }
    const { type, namespace, name, subresource } = route;
    const method = req.method ?? 'GET';
    if (type.kind === 'SelfSubjectAccessReview' && method === 'POST') {
      const review = parseBody(body, contentType) as {
        spec?: { resourceAttributes?: Record<string, string> };
      };
      const attributes = review.spec?.resourceAttributes ?? {};
      const allowed = (this.options.accessReview ?? (() => true))(attributes);
      this.send(res, 201, {
        ...review,
        status: { allowed, ...(allowed ? {} : { reason: 'denied by the test' }) },
      });
      return;
    }
    try {
      if (subresource === 'log' && method === 'GET') {
        this.podLogs(res, namespace ?? '', name ?? '', url.searchParams);
        return;
      }
      if (subresource === 'exec') {
        this.send(res, 400, status(400, 'BadRequest', 'Upgrade request required'));
        return;
      }
      if (!name) {
        if (method === 'GET' && url.searchParams.get('watch') === 'true') {
          this.watch(req, res, type, namespace, url.searchParams);
          return;
        }
        if (method === 'GET') {
          this.send(res, 200, this.listResponse(type, namespace, url.searchParams));
          return;
        }
        if (method === 'POST') {
          const obj = this.decode(type, parseBody(body, contentType) as Obj, 'write');
          this.requireNamespace(type, namespace);
          const created = this.create(type, {
            ...obj,
            metadata: { ...obj.metadata, ...(namespace ? { namespace } : {}) },
          });
          this.send(res, 201, created);
          return;
        }
        if (method === 'DELETE') {
          const selected = this.select(type, namespace, url.searchParams);
          for (const o of selected) this.remove(type, o);
          this.send(res, 200, {
            kind: listKind(type),
            apiVersion: groupVersion(type),
            metadata: {},
            items: selected,
          });
          return;
        }
      } else {
        const key = keyOf(type, namespace, name);
        const existing = this.objects.get(key);
        if (method === 'GET') {
          if (!existing) throw notFound(type, name);
          this.send(res, 200, existing);
          return;
        }
        if (method === 'DELETE') {
          if (!existing) throw notFound(type, name);
          this.remove(type, existing);
          this.send(res, 200, {
            ...status(200, '', ''),
            status: 'Success',
            details: { name, kind: type.plural, uid: existing.metadata.uid },
          });
          return;
        }
        if (method === 'PUT') {
          if (!existing) throw notFound(type, name);
          const obj = this.decode(type, parseBody(body, contentType) as Obj, 'write');
          this.send(
            res,
            200,
            this.update(type, {
              ...obj,
              metadata: { ...obj.metadata, name, ...(namespace ? { namespace } : {}) },
            }),
          );
          return;
        }
        if (method === 'PATCH') {
          this.send(
            res,
            existing ? 200 : 201,
            this.patch(type, namespace, name, existing, body, contentType, url.searchParams),
          );
          return;
        }
      }
      this.send(
        res,
        405,
        status(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`),
      );
    } catch (error) {
      if (error instanceof ApiStatus) {
        this.send(res, error.code, error.body);
        return;
      }
      throw error;
    }
  }

  private route(
    pathname: string,
  ):
    | { kind: 'discovery'; document: Record<string, unknown> }
    | { kind: 'none' }
    | { kind: 'resource'; type: ResourceType; namespace?: string; name?: string; subresource?: string } {
    const parts = pathname.split('/').filter(Boolean);
    if (parts.length === 1 && parts[0] === 'version') {
      return { kind: 'discovery', document: versionInfo(this.options.kubernetesVersion ?? 'v1.35.0') };
    }
    let group: string;
    let version: string;
    let rest: string[];
    if (parts[0] === 'api') {
      if (parts.length === 1)
        return { kind: 'discovery', document: { kind: 'APIVersions', versions: ['v1'] } };
      group = '';
      version = parts[1] ?? '';
      rest = parts.slice(2);
    } else if (parts[0] === 'apis') {
      if (parts.length === 1) return { kind: 'discovery', document: groupList(this.types) };
      group = parts[1] ?? '';
      version = parts[2] ?? '';
      if (!version) return { kind: 'none' };
      rest = parts.slice(3);
    } else {
      return { kind: 'none' };
    }
    if (rest.length === 0) {
      if (!this.types.some((t) => t.group === group && t.version === version)) return { kind: 'none' };
      return { kind: 'discovery', document: resourceList(this.types, group, version) };
    }
    // namespaces/{ns}/{plural}[/{name}[/{sub}]] for namespaced types; otherwise {plural}[/{name}[/{sub}]].
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      const type = this.types.find(
        (t) => t.group === group && t.version === version && t.plural === rest[2] && t.namespaced,
      );
      if (type) return { kind: 'resource', type, namespace: rest[1] ?? '', ...named(rest.slice(3)) };
    }
    const type = this.types.find((t) => t.group === group && t.version === version && t.plural === rest[0]);
    if (!type) return { kind: 'none' };
    return { kind: 'resource', type, ...named(rest.slice(1)) };
  }

  private requireNamespace(type: ResourceType, namespace: string | undefined): void {
    if (!type.namespaced) return;
    if (
      !namespace ||
      !this.objects.has(keyOf(typeFor(this.types, '', 'v1', 'namespaces'), undefined, namespace))
    ) {
      throw new ApiStatus(
        404,
        status(404, 'NotFound', `namespaces "${namespace ?? ''}" not found`, {
          name: namespace,
          kind: 'namespaces',
        }),
      );
    }
  }

  private select(type: ResourceType, namespace: string | undefined, params: URLSearchParams): Obj[] {
    let labels: ReturnType<typeof parseLabelSelector>;
    let fields: ReturnType<typeof parseFieldSelector>;
    try {
      labels = parseLabelSelector(params.get('labelSelector'));
      fields = parseFieldSelector(params.get('fieldSelector'));
    } catch (error) {
      throw new ApiStatus(400, status(400, 'BadRequest', String(error)));
    }
    return [...this.objects.values()].filter(
      (o) =>
        matchesType(o, type) &&
        (namespace === undefined || o.metadata.namespace === namespace) &&
        labels(o.metadata.labels ?? {}) &&
        fields(o),
    );
  }

  private listResponse(
    type: ResourceType,
    namespace: string | undefined,
    params: URLSearchParams,
  ): Record<string, unknown> {
    return {
      kind: listKind(type),
      apiVersion: groupVersion(type),
      metadata: { resourceVersion: String(this.rv) },
      items: this.select(type, namespace, params),
    };
  }

  /** Watch: chunked JSON lines. Without a resourceVersion, current objects come first as ADDED. */
  private watch(
    req: IncomingMessage,
    res: ServerResponse,
    type: ResourceType,
    namespace: string | undefined,
    params: URLSearchParams,
  ): void {
    const labels = parseLabelSelector(params.get('labelSelector'));
    const fields = parseFieldSelector(params.get('fieldSelector'));
    const typeKey = typeKeyOf(type);
    const wanted = (e: WatchEvent) =>
      e.typeKey === typeKey &&
      (namespace === undefined || e.object.metadata.namespace === namespace) &&
      labels(e.object.metadata.labels ?? {}) &&
      fields(e.object);
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    const write = (e: WatchEvent) => res.write(JSON.stringify({ type: e.type, object: e.object }) + '\n');
    const since = params.get('resourceVersion');
    if (since && since !== '0') {
      const from = Number(since);
      const oldest = this.events[0]?.rv ?? this.rv;
      if (from < oldest - 1) {
        res.end(
          JSON.stringify({
            type: 'ERROR',
            object: status(410, 'Expired', `too old resource version: ${from} (${oldest})`),
          }) + '\n',
        );
        return;
      }
      for (const e of this.events) if (e.rv > from && wanted(e)) write(e);
    } else {
      for (const o of this.select(type, namespace, params)) {
        write({ rv: Number(o.metadata.resourceVersion), type: 'ADDED', typeKey, object: o });
      }
    }
    const listener = (e: WatchEvent) => {
      if (wanted(e)) write(e);
    };
    this.watchers.add(listener);
    const timeout = Number(params.get('timeoutSeconds') ?? '0') * 1000 || this.options.watchLifetimeMs || 0;
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout) : undefined;
    if (timer) this.timers.add(timer);
    const done = () => {
      this.watchers.delete(listener);
      if (timer) clearTimeout(timer);
    };
    req.on('close', done);
    res.on('close', done);
  }

  private podLogs(res: ServerResponse, namespace: string, name: string, params: URLSearchParams): void {
    const pod = this.get('v1', 'Pod', namespace, name);
    if (!pod) throw notFound(typeFor(this.types, '', 'v1', 'pods'), name);
    const containers = podContainers(pod);
    const container = params.get('container') ?? (containers.length === 1 ? containers[0] : undefined);
    if (!container) {
      throw new ApiStatus(
        400,
        status(
          400,
          'BadRequest',
          `a container name must be specified for pod ${name}, choose one of: [${containers.join(' ')}]`,
        ),
      );
    }
    if (!containers.includes(container)) {
      throw new ApiStatus(
        400,
        status(400, 'BadRequest', `container ${container} is not valid for pod ${name}`),
      );
    }
    let text = this.logs.get(`${namespace}/${name}/${container}`) ?? '';
    const tail = params.get('tailLines');
    if (tail) {
      const lines = text.split('\n');
      if (lines.at(-1) === '') lines.pop();
      text = lines
        .slice(-Number(tail))
        .map((l) => `${l}\n`)
        .join('');
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(text);
  }

  private upgrade(req: IncomingMessage, socket: import('node:net').Socket, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'https://fake');
    const route = this.route(url.pathname);
    const reject = (code: number, body: Record<string, unknown>) => {
      const text = JSON.stringify(body);
      socket.end(
        `HTTP/1.1 ${code} ${code === 401 ? 'Unauthorized' : code === 404 ? 'Not Found' : 'Bad Request'}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
      );
    };
    this.requests.push({ method: 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams) });
    if (!this.authorized(req)) {
      reject(401, status(401, 'Unauthorized', 'Unauthorized'));
      return;
    }
    if (route.kind !== 'resource' || route.subresource !== 'exec' || route.type.plural !== 'pods') {
      reject(404, status(404, 'NotFound', 'the server could not find the requested resource'));
      return;
    }
    const pod = this.get('v1', 'Pod', route.namespace, route.name ?? '');
    if (!pod) {
      reject(
        404,
        status(404, 'NotFound', `pods "${route.name ?? ''}" not found`, { name: route.name, kind: 'pods' }),
      );
      return;
    }
    const containers = podContainers(pod);
    const container = url.searchParams.get('container') ?? containers[0] ?? '';
    if (!containers.includes(container)) {
      reject(
        400,
        status(400, 'BadRequest', `container ${container} is not valid for pod ${route.name ?? ''}`),
      );
      return;
    }
    if (!isReady(pod) && (pod.status as { phase?: string } | undefined)?.phase !== 'Running') {
      reject(
        400,
        status(400, 'BadRequest', `unable to upgrade connection: container not found ("${container}")`),
      );
      return;
    }
    this.execEndpoint.upgrade(
      req,
      socket,
      head,
      {
        namespace: route.namespace ?? '',
        pod: route.name ?? '',
        container,
        command: url.searchParams.getAll('command'),
        stdin: url.searchParams.get('stdin') === 'true',
        stdout: url.searchParams.get('stdout') === 'true',
        stderr: url.searchParams.get('stderr') === 'true',
      },
      (code, body) => {
        reject(code, body);
      },
    );
  }

  // --- store ---------------------------------------------------------------------------------

  private typeOf(apiVersion: string, kind: string): ResourceType | undefined {
    const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
    return this.types.find((t) => t.group === group && t.version === version && t.kind === kind);
  }

  private record(type: ResourceType, eventType: WatchEvent['type'], object: Obj): void {
    const event: WatchEvent = { rv: this.rv, type: eventType, typeKey: typeKeyOf(type), object };
    this.events.push(event);
    if (this.events.length > 5000) this.events.shift();
    for (const w of this.watchers) w(event);
  }

  private create(type: ResourceType, given: Obj): Obj {
    const admitted = this.options.admit ? (this.options.admit(structuredClone(given)) as Obj) : given;
    const input =
      type.kind === 'Pod'
        ? (admitPod(
            admitted,
            this.get('v1', 'Namespace', undefined, admitted.metadata.namespace ?? '')?.metadata.labels ?? {},
            this.options.sidecarInjector ?? true,
          ) as Obj)
        : admitted;
    const metadata = { ...(input.metadata as Partial<Metadata>) };
    if (!metadata.name && metadata.generateName)
      metadata.name = `${metadata.generateName}${randomBytes(3).toString('hex').slice(0, 5)}`;
    if (!metadata.name)
      throw new ApiStatus(
        422,
        status(
          422,
          'Invalid',
          `${type.kind} "" is invalid: metadata.name: Required value: name or generateName is required`,
        ),
      );
    if (!type.namespaced) delete metadata.namespace;
    const key = keyOf(type, metadata.namespace, metadata.name);
    const service = type.kind === 'Service' ? this.serviceSpec(metadata.name, input, undefined) : undefined;
    if (this.objects.has(key)) {
      throw new ApiStatus(
        409,
        status(
          409,
          'AlreadyExists',
          `${type.plural}${type.group ? `.${type.group}` : ''} "${metadata.name}" already exists`,
          { name: metadata.name, kind: type.plural },
        ),
      );
    }
    this.rv += 1;
    const obj = {
      ...input,
      ...(service ? { spec: service } : {}),
      apiVersion: groupVersion(type),
      kind: type.kind,
      metadata: {
        ...metadata,
        name: metadata.name,
        uid: randomUuid(),
        resourceVersion: String(this.rv),
        creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        ...(type.kind === 'Deployment' || type.kind === 'DaemonSet' ? { generation: 1 } : {}),
      },
    } as Obj;
    if (type.kind === 'Namespace') {
      obj.metadata.labels = { ...obj.metadata.labels, 'kubernetes.io/metadata.name': metadata.name };
      obj.status = { phase: 'Active' };
    }
    this.objects.set(key, obj);
    this.record(type, 'ADDED', obj);
    this.afterWrite(type, obj);
    return obj;
  }

  private update(type: ResourceType, input: Obj): Obj {
    const key = keyOf(type, type.namespaced ? input.metadata.namespace : undefined, input.metadata.name);
    const existing = this.objects.get(key);
    if (!existing) throw notFound(type, input.metadata.name);
    const service =
      type.kind === 'Service' ? this.serviceSpec(input.metadata.name, input, existing) : undefined;
    this.rv += 1;
    const obj = {
      ...input,
      ...(service ? { spec: service } : {}),
      apiVersion: groupVersion(type),
      kind: type.kind,
      metadata: {
        ...input.metadata,
        uid: existing.metadata.uid,
        creationTimestamp: existing.metadata.creationTimestamp,
        resourceVersion: String(this.rv),
        ...(type.kind === 'Deployment' || type.kind === 'DaemonSet'
          ? {
              generation:
                (existing.metadata.generation ?? 1) +
                (JSON.stringify(input.spec) === JSON.stringify(existing.spec) ? 0 : 1),
            }
          : {}),
      },
    } as Obj;
    if (type.kind === 'Namespace')
      obj.metadata.labels = { ...obj.metadata.labels, 'kubernetes.io/metadata.name': obj.metadata.name };
    this.objects.set(key, obj);
    this.record(type, 'MODIFIED', obj);
    this.afterWrite(type, obj);
    return obj;
  }

  /** A Service's spec with its node ports allocated (node-ports.ts), or the API server's refusal. */
  private serviceSpec(
    name: string,
    input: Obj,
    existing: Obj | undefined,
  ): Record<string, unknown> | undefined {
    type Spec = Parameters<typeof allocateNodePorts>[0];
    const inUse = new Set(
      this.list('v1', 'Service')
        .filter((o) => o !== existing)
        .flatMap((o) => nodePortsOf(o.spec as Spec)),
    );
    const result = allocateNodePorts(input.spec as Spec, existing?.spec as Spec, inUse);
    if ('errors' in result) {
      const [first] = result.errors;
      throw new ApiStatus(
        422,
        status(
          422,
          'Invalid',
          `Service "${name}" is invalid: ${result.errors.length > 1 ? `[${result.errors.join(', ')}]` : (first ?? '')}`,
          { name, kind: 'Service' },
        ),
      );
    }
    return result.spec;
  }

  private remove(type: ResourceType, obj: Obj): void {
    this.objects.delete(keyOf(type, obj.metadata.namespace, obj.metadata.name));
    this.rv += 1;
    this.record(type, 'DELETED', { ...obj, metadata: { ...obj.metadata, resourceVersion: String(this.rv) } });
    if (type.kind === 'Namespace') {
      for (const o of [...this.objects.values()]) {
        if (o.metadata.namespace === obj.metadata.name) {
          const t = this.typeOf(String(o.apiVersion), String(o.kind));
          if (t) this.remove(t, o);
        }
      }
    }
    if (type.kind === 'Deployment') {
      for (const pod of this.ownedPods(obj)) this.remove(typeFor(this.types, '', 'v1', 'pods'), pod);
    }
    if (type.kind === 'CustomResourceDefinition') {
      for (const t of typesOfCrd(obj)) {
        const i = this.types.findIndex((x) => typeKeyOf(x) === typeKeyOf(t));
        if (i >= 0) this.types.splice(i, 1);
      }
    }
  }

  private patch(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    existing: Obj | undefined,
    body: string,
    contentType: string | undefined,
    params: URLSearchParams,
  ): Obj {
    const kind = (contentType ?? '').split(';')[0]?.trim();
    if (kind === 'application/apply-patch+yaml') {
      const manager = params.get('fieldManager');
      if (!manager) {
        throw new ApiStatus(
          422,
          status(
            422,
            'Invalid',
            'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
          ),
        );
      }
      const applied = this.decode(type, parseYaml(body) as Obj, 'apply');
      if (applied.metadata.name !== name) {
        throw new ApiStatus(
          400,
          status(
            400,
            'BadRequest',
            `the name of the object (${applied.metadata.name}) does not match the name on the URL (${name})`,
          ),
        );
      }
      const managed = (m: Obj | undefined) =>
        (
          (m?.metadata.managedFields ?? []) as { manager: string; operation: string; fieldsV1?: unknown }[]
        ).filter((f) => f.manager !== manager);
      const entry = {
        manager,
        operation: 'Apply',
        apiVersion: groupVersion(type),
        fieldsType: 'FieldsV1',
        fieldsV1: fieldSet(applied),
      };
      if (!existing) {
        this.requireNamespace(type, namespace);
        return this.create(type, {
          ...applied,
          metadata: { ...applied.metadata, ...(namespace ? { namespace } : {}), managedFields: [entry] },
        });
      }
      const previous = (existing.metadata.managedFields ?? []) as { manager: string; fieldsV1?: unknown }[];
      const before = previous.find((f) => f.manager === manager)?.fieldsV1;
      const pruned = before ? prune(existing, before, fieldSet(applied)) : existing;
      const merged = mergeDeep(pruned, applied) as Obj;
      merged.metadata.managedFields = [...managed(existing), entry];
      return this.update(type, merged);
    }
    if (!existing) throw notFound(type, name);
    if (kind === 'application/merge-patch+json' || kind === 'application/strategic-merge-patch+json') {
      return this.update(type, this.decode(type, mergePatch(existing, JSON.parse(body)) as Obj, 'write'));
    }
    if (kind === 'application/json-patch+json') {
      return this.update(
        type,
        this.decode(type, jsonPatch(existing, JSON.parse(body) as JsonPatchOp[]), 'write'),
      );
    }
    throw new ApiStatus(
      415,
      status(
        415,
        'UnsupportedMediaType',
        `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`,
      ),
    );
  }

  // --- controllers --------------------------------------------------------------------------

  /**
   * A client's body as a real server decodes it before storing (see schemas.ts): a CRD must be
   * structural; a custom resource loses the fields its schema does not declare, and an apply
   * that carries one fails.
   */
  private decode(type: ResourceType, obj: Obj, how: 'apply' | 'write'): Obj {
    if (type.kind === 'CustomResourceDefinition') {
      const problems = structuralViolations(obj);
      if (problems.length > 0) {
        throw new ApiStatus(
          422,
          status(
            422,
            'Invalid',
            `CustomResourceDefinition.apiextensions.k8s.io "${obj.metadata.name}" is invalid: ${problems.length > 1 ? `[${problems.join(', ')}]` : (problems[0] ?? '')}`,
            { name: obj.metadata.name, kind: 'CustomResourceDefinition' },
          ),
        );
      }
      return obj;
    }
    const schema = this.schemas.get(schemaKey(type));
    if (!schema) return obj;
    const missing = missingRequired(obj, schema);
    if (missing.length > 0) {
      throw new ApiStatus(
        422,
        status(
          422,
          'Invalid',
          `${type.kind}.${type.group} "${obj.metadata.name}" is invalid: ${missing.length > 1 ? `[${missing.join(', ')}]` : (missing[0] ?? '')}`,
          { name: obj.metadata.name, group: type.group, kind: type.kind },
        ),
      );
    }
    const { pruned, unknown } = pruneUnknown(obj, schema);
    if (how === 'apply' && unknown.length > 0) {
      const where = `${obj.metadata.namespace ? `${obj.metadata.namespace}/` : ''}${obj.metadata.name}; ${groupVersion(type)}, Kind=${type.kind}`;
      throw new ApiStatus(
        500,
        status(
          500,
          'InternalError',
          `failed to create typed patch object (${where}): ${unknown.map((u) => `${u}: field not declared in schema`).join(', ')}`,
        ),
      );
    }
    return pruned as Obj;
  }

  private afterWrite(type: ResourceType, obj: Obj): void {
    if (type.kind === 'CustomResourceDefinition') {
      const group = (obj.spec as { group?: string } | undefined)?.group ?? '';
      const plural = (obj.spec as { names?: { plural?: string } } | undefined)?.names?.plural ?? '';
      for (const [version, schema] of crdSchemas(obj))
        this.schemas.set(`${group}/${version}/${plural}`, schema);
      for (const t of typesOfCrd(obj))
        if (!this.types.some((x) => typeKeyOf(x) === typeKeyOf(t))) this.types.push(t);
      const conditions = [
        { type: 'NamesAccepted', status: 'True', reason: 'NoConflicts' },
        { type: 'Established', status: 'True', reason: 'InitialNamesAccepted' },
      ];
      if (
        JSON.stringify((obj.status as { conditions?: unknown } | undefined)?.conditions) !==
        JSON.stringify(conditions)
      ) {
        queueMicrotask(() => {
          const current = this.objects.get(keyOf(type, undefined, obj.metadata.name));
          if (current) this.update(type, { ...current, status: { conditions } });
        });
      }
    }
    if (type.kind === 'Deployment')
      queueMicrotask(() => {
        this.reconcileDeployment(obj.metadata.namespace ?? '', obj.metadata.name);
      });
    if (type.kind === 'Pod' && !(obj.status as { phase?: string } | undefined)?.phase) this.schedulePod(obj);
  }

  private schedulePod(pod: Obj): void {
    const podType = typeFor(this.types, '', 'v1', 'pods');
    const pending = {
      ...pod,
      status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True' }] },
    };
    queueMicrotask(() => {
      if (this.objects.has(keyOf(podType, pod.metadata.namespace, pod.metadata.name)))
        this.update(podType, pending);
    });
    const delay = (this.options.readyAfterMs ?? (() => 0))(pod);
    if (delay === null) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      const current = this.objects.get(keyOf(podType, pod.metadata.namespace, pod.metadata.name));
      if (!current) return;
      this.update(podType, withPodReadiness(current, true));
      this.reconcileOwners(current);
    }, delay);
    this.timers.add(timer);
  }

  private ownedPods(deployment: Obj): Obj[] {
    return this.list('v1', 'Pod', deployment.metadata.namespace).filter((p) =>
      (p.metadata.ownerReferences ?? []).some(
        (r) => r.kind === 'Deployment' && r.uid === deployment.metadata.uid,
      ),
    );
  }

  private reconcileOwners(pod: Obj): void {
    for (const ref of pod.metadata.ownerReferences ?? []) {
      if (ref.kind === 'Deployment') this.reconcileDeployment(pod.metadata.namespace ?? '', ref.name);
    }
  }

  private reconcileDeployment(namespace: string, name: string): void {
    const deployment = this.get('apps/v1', 'Deployment', namespace, name);
    if (!deployment || this.paused.has(`${namespace}/${name}`)) return;
    const spec = (deployment.spec ?? {}) as {
      replicas?: number;
      template?: {
        metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
        spec?: unknown;
      };
    };
    const replicas = spec.replicas ?? 1;
    const hash = createHash('sha256')
      .update(`${deployment.metadata.uid ?? ''}${JSON.stringify(spec.template ?? {})}`)
      .digest('hex')
      .slice(0, 10);
    const podType = typeFor(this.types, '', 'v1', 'pods');
    // Pods of an older template are replaced (Recreate): a rollout restart gives new pods.
    for (const stale of this.ownedPods(deployment).filter(
      (p) => p.metadata.labels?.['pod-template-hash'] !== hash,
    ))
      this.remove(podType, stale);
    let pods = this.ownedPods(deployment);
    for (let i = pods.length; i < replicas; i++) {
      this.create(podType, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: `${name}-${hash}-${randomBytes(3).toString('hex').slice(0, 5)}`,
          namespace,
          labels: { ...spec.template?.metadata?.labels, 'pod-template-hash': hash },
          ...(spec.template?.metadata?.annotations
            ? { annotations: spec.template.metadata.annotations }
            : {}),
          ownerReferences: [
            {
              apiVersion: 'apps/v1',
              kind: 'Deployment',
              name,
              uid: deployment.metadata.uid ?? '',
              controller: true,
            } as never,
          ],
        },
        spec: structuredClone(spec.template?.spec ?? {}),
      });
    }
    pods = this.ownedPods(deployment);
    const ready = pods.filter(isReady).length;
    const statusNow = {
      observedGeneration: deployment.metadata.generation ?? 1,
      replicas: pods.length,
      readyReplicas: ready,
      availableReplicas: ready,
      updatedReplicas: pods.length,
      conditions: [
        {
          type: 'Available',
          status: ready >= replicas ? 'True' : 'False',
          reason: ready >= replicas ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable',
        },
      ],
    };
    if (JSON.stringify(deployment.status) !== JSON.stringify(statusNow)) {
      this.update(typeFor(this.types, 'apps', 'v1', 'deployments'), { ...deployment, status: statusNow });
    }
  }

  private send(res: ServerResponse, code: number, body: unknown): void {
    const text = JSON.stringify(body);
    const write = () => {
      res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    const late = this.late.get(res);
    if (late) setTimeout(write, late);
    else write();
  }
}

// --- helpers ---------------------------------------------------------------------------------

class ApiStatus extends Error {
  readonly code: number;
  readonly body: Record<string, unknown>;
  constructor(code: number, body: Record<string, unknown>) {
    super(String(body.message));
    this.code = code;
    this.body = body;
  }
}

function status(
  code: number,
  reason: string,
  message: string,
  details?: Record<string, unknown>,
): Record<string, unknown> {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  };
}

function notFound(type: ResourceType, name: string): ApiStatus {
  const resource = type.group ? `${type.plural}.${type.group}` : type.plural;
  return new ApiStatus(
    404,
    status(404, 'NotFound', `${resource} "${name}" not found`, {
      name,
      group: type.group || undefined,
      kind: type.plural,
    }),
  );
}

function named(rest: readonly string[]): { name?: string; subresource?: string } {
  const [name, subresource] = rest;
  return { ...(name ? { name } : {}), ...(subresource ? { subresource } : {}) };
}

function schemaKey(t: Pick<ResourceType, 'group' | 'version' | 'plural'>): string {
  return `${t.group}/${t.version}/${t.plural}`;
}

function typeKeyOf(t: Pick<ResourceType, 'group' | 'plural'>): string {
  return `${t.group}/${t.plural}`;
}

function keyOf(type: ResourceType, namespace: string | undefined, name: string): string {
  return `${typeKeyOf(type)}/${type.namespaced ? (namespace ?? '') : ''}/${name}`;
}

function typeFor(
  types: readonly ResourceType[],
  group: string,
  version: string,
  plural: string,
): ResourceType {
  const t = types.find((x) => x.group === group && x.version === version && x.plural === plural);
  if (!t) throw new Error(`no type ${group}/${version}/${plural}`);
  return t;
}

function matchesType(o: Obj, type: ResourceType): boolean {
  const [group] = String(o.apiVersion).includes('/') ? String(o.apiVersion).split('/') : [''];
  return o.kind === type.kind && group === type.group;
}

function listKind(type: ResourceType): string {
  return `${type.kind}List`;
}

function podContainers(pod: Obj): string[] {
  const spec = (pod.spec ?? {}) as {
    containers?: { name: string }[];
    initContainers?: { name: string; restartPolicy?: string }[];
  };
  return [
    ...(spec.containers ?? []).map((c) => c.name),
    ...(spec.initContainers ?? []).filter((c) => c.restartPolicy === 'Always').map((c) => c.name),
  ];
}

function isReady(pod: Obj): boolean {
  const conditions =
    ((pod.status ?? {}) as { conditions?: { type: string; status: string }[] }).conditions ?? [];
  return conditions.some((c) => c.type === 'Ready' && c.status === 'True');
}

function withPodReadiness(pod: Obj, ready: boolean): Obj {
  const flag = ready ? 'True' : 'False';
  return {
    ...pod,
    status: {
      phase: 'Running',
      podIP: `10.244.0.${(Number(pod.metadata.resourceVersion) % 250) + 2}`,
      // The node's address as the kubelet reports it: loopback, so that a test's network can map
      // attempts to the node onto a local server (tests dial nothing else).
      hostIP: '127.0.0.2',
      conditions: [
        { type: 'PodScheduled', status: 'True' },
        { type: 'Initialized', status: 'True' },
        { type: 'ContainersReady', status: flag },
        { type: 'Ready', status: flag },
      ],
      containerStatuses: podContainers(pod).map((name) => ({
        name,
        ready,
        restartCount: 0,
        started: true,
        state: { running: {} },
      })),
    },
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseBody(body: string, contentType: string | undefined): unknown {
  if (contentType?.includes('yaml')) return parseYaml(body);
  return JSON.parse(body);
}

function randomUuid(): string {
  return globalThis.crypto.randomUUID();
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Maps merged recursively, everything else replaced (server-side apply, simplified). */
function mergeDeep(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return structuredClone(over);
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in base ? mergeDeep(base[k], v) : structuredClone(v);
  return out;
}

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) Reflect.deleteProperty(out, k);
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

interface JsonPatchOp {
  op: 'add' | 'replace' | 'remove' | 'test';
  path: string;
  value?: unknown;
}

/** RFC 6902 add / replace / remove / test on object paths. */
function jsonPatch(target: Obj, ops: readonly JsonPatchOp[]): Obj {
  const doc = structuredClone(target) as Record<string, unknown>;
  for (const op of ops) {
    const steps = op.path
      .split('/')
      .slice(1)
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = steps.pop() ?? '';
    let parent: unknown = doc;
    for (const s of steps) parent = (parent as Record<string, unknown>)[s];
    if (!parent || typeof parent !== 'object')
      throw new ApiStatus(422, status(422, 'Invalid', `invalid patch path ${op.path}`));
    const p = parent as Record<string, unknown>;
    if (op.op === 'remove') Reflect.deleteProperty(p, last);
    else if (op.op === 'test') {
      if (JSON.stringify(p[last]) !== JSON.stringify(op.value))
        throw new ApiStatus(422, status(422, 'Invalid', `test failed at ${op.path}`));
    } else if (Array.isArray(p) && last === '-') p.push(op.value);
    else p[last] = op.value;
  }
  return doc as Obj;
}

/** The set of map paths an applied configuration sets (fieldsV1, simplified to nested maps). */
function fieldSet(applied: unknown): unknown {
  if (!isPlainObject(applied)) return {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(applied)) {
    if (k === 'apiVersion' || k === 'kind') continue;
    out[`f:${k}`] = isPlainObject(v) ? fieldSet(v) : {};
  }
  return out;
}

/** Removes from `object` the fields a manager set before (`before`) and no longer sets (`now`). */
function prune(object: unknown, before: unknown, now: unknown): Obj {
  const walk = (o: unknown, b: unknown, n: unknown): unknown => {
    if (!isPlainObject(o) || !isPlainObject(b)) return o;
    const out: Record<string, unknown> = { ...o };
    for (const key of Object.keys(b)) {
      const field = key.slice(2);
      const nowHas = isPlainObject(n) && key in n;
      if (!nowHas) Reflect.deleteProperty(out, field);
      else out[field] = walk(out[field], b[key], n[key]);
    }
    return out;
  };
  return walk(object, before, now) as Obj;
}

/** The version.Info document of GET /version. */
function versionInfo(gitVersion: string): Record<string, unknown> {
  const [major = '', minor = ''] = gitVersion.replace(/^v/, '').split('.');
  return {
    major,
    minor,
    gitVersion,
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2026-01-01T00:00:00Z',
    goVersion: 'go1.25.0',
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}
