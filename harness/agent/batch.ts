/**
 * The probe's input: a JSON array of attempts, one object each. Read by hand (the agent has no
 * dependencies); an item that does not fit becomes an `error` result of its own, so one bad item
 * never hides the others and never reads as a deny.
 */
import { ATTEMPT_KINDS, type AttemptKind } from '../scenario/outcomes.js';
import { isRecord } from '../values.js';

export const DEFAULT_TIMEOUT_MS = 5000;
export const MAX_TIMEOUT_MS = 600_000;

export interface HttpSpec {
  /** Default `GET`. */
  readonly method: string;
  /** Default `/`. */
  readonly path: string;
  /** Sent as given, after `host`; `x-envoy-max-retries: 0` is added unless given here. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

export interface ApiSpec {
  readonly verb: 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';
  readonly resource: string;
  /** Default `""` (the core group). */
  readonly group: string;
  /** Default `v1`. */
  readonly version: string;
  readonly namespace?: string;
  readonly name?: string;
}

export const API_VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] as const;
export const DNS_TYPES = ['A', 'AAAA', 'SRV', 'PTR'] as const;
export type DnsType = (typeof DNS_TYPES)[number];

interface ItemBase {
  readonly id: string;
  /** Per-attempt deadline covering everything from name lookup to the last byte. Default 5000. */
  readonly timeoutMs: number;
}

interface TargetBase extends ItemBase {
  /** A Service name or an address. */
  readonly host: string;
  readonly port: number;
  /**
   * The probing pod has an Istio sidecar. Its own Envoy then accepts every connection, so a
   * connection closed with no data no longer tells which layer refused it (docs/behaviour.md O3, O7).
   * Default false.
   */
  readonly sidecar: boolean;
  /**
   * The probing pod is captured by ztunnel (ambient): its connect is always local, and refusals
   * are told by what follows it (harness/agent/classify-ambient.ts). Absent otherwise.
   */
  readonly ambient?: true;
}

export interface HttpItem extends TargetBase {
  readonly kind: 'http';
  readonly http: HttpSpec;
  /**
   * The request goes to an Istio ingress gateway, whose own local replies (500 for a route whose
   * backend it dropped, 404 for a Host no route names) say that it forwarded nothing
   * (harness/agent/classify.ts classifyGatewayAnswer). Absent otherwise.
   */
  readonly gateway?: true;
}

export interface StreamItem extends TargetBase {
  readonly kind: 'tcp' | 'udp';
  /** Bytes to send (UTF-8). Default for tcp: a one-line HTTP request; for udp: `bulkhead`. */
  readonly send?: string;
}

export interface DnsItem extends ItemBase {
  readonly kind: 'dns';
  readonly query: { readonly name: string; readonly type: DnsType };
  /** `host:port` or `host` (port 53); default the pod's resolvers from /etc/resolv.conf. */
  readonly dnsServer?: string;
}

export interface ApiItem extends ItemBase {
  readonly kind: 'api';
  readonly request: ApiSpec;
  /** Default `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`. */
  readonly apiServer?: string;
  /** Default /var/run/secrets/kubernetes.io/serviceaccount/token. */
  readonly tokenFile?: string;
  /** Default /var/run/secrets/kubernetes.io/serviceaccount/ca.crt. */
  readonly caFile?: string;
}

export type BatchItem = HttpItem | StreamItem | DnsItem | ApiItem;

/** An item that could not be read: it still gets a result line, under the best id we have. */
export interface InvalidItem {
  readonly id: string;
  readonly kind: AttemptKind | 'unknown';
  readonly problem: string;
}

export interface Batch {
  /** In input order; each entry is a runnable item or the reason it is not. */
  readonly entries: readonly (BatchItem | InvalidItem)[];
}

export function isInvalid(entry: BatchItem | InvalidItem): entry is InvalidItem {
  return 'problem' in entry;
}

/** Thrown when the input as a whole is not a batch: nothing can be run or reported per item. */
export class BatchError extends Error {
  override readonly name = 'BatchError';
}

export function parseBatch(text: string): Batch {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new BatchError(`the batch on stdin is not JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw new BatchError('the batch on stdin must be a JSON array of attempts');
  return batchOf(parsed);
}

/** The batch an already parsed array of attempts makes (a session's `attempts`). */
export function batchOf(parsed: readonly unknown[]): Batch {
  const seen = new Set<string>();
  const entries = parsed.map((raw: unknown, index) => {
    const entry = readItem(raw, index);
    if (seen.has(entry.id) && !isInvalid(entry))
      return { id: entry.id, kind: entry.kind, problem: `id "${entry.id}" is used twice in the batch` };
    seen.add(entry.id);
    return entry;
  });
  return { entries };
}

class ItemProblem extends Error {}

function readItem(raw: unknown, index: number): BatchItem | InvalidItem {
  const fallbackId = `#${index}`;
  if (!isRecord(raw)) return { id: fallbackId, kind: 'unknown', problem: 'an attempt must be a JSON object' };
  const id = typeof raw.id === 'string' && raw.id !== '' ? raw.id : fallbackId;
  const kind = (ATTEMPT_KINDS as readonly unknown[]).includes(raw.kind)
    ? (raw.kind as AttemptKind)
    : 'unknown';
  try {
    if (id === fallbackId) throw new ItemProblem('id: must be a non-empty string');
    if (kind === 'unknown') throw new ItemProblem(`kind: must be one of ${ATTEMPT_KINDS.join(', ')}`);
    const timeoutMs = optionalInt(raw, 'timeoutMs', 1, MAX_TIMEOUT_MS) ?? DEFAULT_TIMEOUT_MS;
    switch (kind) {
      case 'http':
        if (raw.gateway !== undefined && raw.gateway !== true)
          throw new ItemProblem('gateway: must be true when given');
        return {
          ...target(raw),
          id,
          kind,
          timeoutMs,
          http: httpSpec(raw.http),
          ...(raw.gateway === true ? { gateway: true as const } : {}),
        };
      case 'tcp':
      case 'udp':
        return { ...target(raw), id, kind, timeoutMs, ...optional('send', optionalString(raw, 'send')) };
      case 'dns':
        return {
          id,
          kind,
          timeoutMs,
          query: dnsQuery(raw.query),
          ...optional('dnsServer', optionalString(raw, 'dnsServer')),
        };
      case 'api':
        return {
          id,
          kind,
          timeoutMs,
          request: apiSpec(raw.request),
          ...optional('apiServer', optionalString(raw, 'apiServer')),
          ...optional('tokenFile', optionalString(raw, 'tokenFile')),
          ...optional('caFile', optionalString(raw, 'caFile')),
        };
    }
  } catch (error) {
    if (error instanceof ItemProblem) return { id, kind, problem: error.message };
    throw error;
  }
}

function target(raw: Record<string, unknown>): {
  host: string;
  port: number;
  sidecar: boolean;
  ambient?: true;
} {
  const host = optionalString(raw, 'host');
  if (!host) throw new ItemProblem('host: required (a Service name or an address)');
  const port = optionalInt(raw, 'port', 1, 65535);
  if (port === undefined) throw new ItemProblem('port: required (1-65535)');
  if (raw.sidecar !== undefined && typeof raw.sidecar !== 'boolean')
    throw new ItemProblem('sidecar: must be true or false');
  if (raw.ambient !== undefined && typeof raw.ambient !== 'boolean')
    throw new ItemProblem('ambient: must be true or false');
  if (raw.ambient === true && raw.sidecar === true)
    throw new ItemProblem('ambient and sidecar: a pod with a sidecar is never captured by ztunnel');
  return { host, port, sidecar: raw.sidecar === true, ...(raw.ambient === true ? { ambient: true } : {}) };
}

function httpSpec(raw: unknown): HttpSpec {
  if (raw === undefined) return { method: 'GET', path: '/', headers: {} };
  if (!isRecord(raw)) throw new ItemProblem('http: must be an object');
  const method = optionalString(raw, 'method', 'http.') ?? 'GET';
  if (!/^[A-Z]+$/.test(method)) throw new ItemProblem('http.method: must be an upper-case HTTP method');
  const path = optionalString(raw, 'path', 'http.') ?? '/';
  if (!path.startsWith('/')) throw new ItemProblem('http.path: must start with /');
  const headers: Record<string, string> = {};
  if (raw.headers !== undefined) {
    if (!isRecord(raw.headers)) throw new ItemProblem('http.headers: must be an object of strings');
    for (const [name, value] of Object.entries(raw.headers)) {
      if (typeof value !== 'string') throw new ItemProblem(`http.headers.${name}: must be a string`);
      headers[name.toLowerCase()] = value;
    }
  }
  return { method, path, headers, ...optional('body', optionalString(raw, 'body', 'http.')) };
}

function dnsQuery(raw: unknown): DnsItem['query'] {
  if (!isRecord(raw)) throw new ItemProblem('query: required, an object {name, type}');
  const name = optionalString(raw, 'name', 'query.');
  if (!name) throw new ItemProblem('query.name: required');
  const type = raw.type ?? 'A';
  if (!(DNS_TYPES as readonly unknown[]).includes(type))
    throw new ItemProblem(`query.type: must be one of ${DNS_TYPES.join(', ')}`);
  return { name, type: type as DnsType };
}

function apiSpec(raw: unknown): ApiSpec {
  if (!isRecord(raw)) throw new ItemProblem('request: required, an object {verb, resource, ...}');
  const verb = raw.verb;
  if (!(API_VERBS as readonly unknown[]).includes(verb))
    throw new ItemProblem(`request.verb: must be one of ${API_VERBS.join(', ')}`);
  const resource = optionalString(raw, 'resource', 'request.');
  if (!resource || !/^[a-z0-9.-]+(\/[a-z]+)?$/.test(resource))
    throw new ItemProblem('request.resource: required, a resource name like secrets or pods/exec');
  return {
    verb: verb as ApiSpec['verb'],
    resource,
    group: optionalString(raw, 'group', 'request.') ?? '',
    version: optionalString(raw, 'version', 'request.') ?? 'v1',
    ...optional('namespace', optionalString(raw, 'namespace', 'request.')),
    ...optional('name', optionalString(raw, 'name', 'request.')),
  };
}

function optionalString(raw: Record<string, unknown>, key: string, prefix = ''): string | undefined {
  const value = raw[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new ItemProblem(`${prefix}${key}: must be a string`);
  return value;
}

function optionalInt(
  raw: Record<string, unknown>,
  key: string,
  min: number,
  max: number,
): number | undefined {
  const value = raw[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    throw new ItemProblem(`${key}: must be an integer from ${min} to ${max}`);
  return value;
}

/** `{ key: value }` when the value is set, `{}` otherwise: keeps absent fields absent. */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return value === undefined ? {} : ({ [key]: value } as { [P in K]?: V });
}
