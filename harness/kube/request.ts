/**
 * One HTTP request to the API server, with the kubeconfig's credentials and TLS settings, a
 * deadline, and the body sent and received as plain JSON.
 *
 * Why not client-node's typed APIs for bodies: `KubernetesObjectApi.patch/create/replace` pass
 * every object of a built-in group through `ObjectSerializer.serialize(obj, <typed model>)`,
 * which reads attributes by their JavaScript names. A plain object parsed from YAML has wire
 * names, so every field whose two names differ is dropped on the way out: NetworkPolicy
 * `ingress[].from` (`_from`), CRD schema `x-kubernetes-int-or-string`, `enum`, `default`,
 * `x-kubernetes-list-type` (client-node 2.0.1 `dist/object.js` patch, `dist/util.js`
 * getSerializationType; kubernetes-client/javascript#2483, #2962). Responses are deserialized
 * into the same models, so a read-back would see `_from` too. Credentials stay client-node's:
 * `KubeConfig.applySecurityAuthentication` fills headers and the TLS dispatcher exactly as its
 * own Watch does, and undici (client-node's own HTTP client) sends the request.
 */
import { debuglog } from 'node:util';

import { HttpMethod, RequestContext, type KubeConfig } from '@kubernetes/client-node';
import { fetch } from 'undici';

import { kubeError, KubeApiError, statusOf } from './errors.js';

const trace = debuglog('bulkhead:kube');

/** Every API call ends within this unless the caller says otherwise. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export type Verb = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

export interface KubeRequest {
  readonly method: Verb;
  /** The REST path, `/apis/apps/v1/namespaces/x/deployments/y`. */
  readonly path: string;
  readonly query?: Readonly<Record<string, string | undefined>>;
  /** Sent as `JSON.stringify(body)`, byte for byte what the caller built. */
  readonly body?: unknown;
  /** @default 'application/json' when there is a body */
  readonly contentType?: string;
  /** @default DEFAULT_REQUEST_TIMEOUT_MS */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** For error messages: what was being done (`apply`, `get`, `list`). */
  readonly verb: string;
  /** For error messages: on what (`NetworkPolicy tenant-acme/default-deny`). */
  readonly target: string;
}

export interface KubeResponse {
  readonly status: number;
  /** The parsed JSON body (a string when the server did not send JSON). */
  readonly body: unknown;
  /** `Warning` headers (fields the server dropped, deprecated APIs). */
  readonly warnings: readonly string[];
}

/** The URL of a request on the kubeconfig's current cluster. */
export function requestUrl(kubeConfig: KubeConfig, path: string, query: KubeRequest['query']): URL {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new KubeApiError({ verb: 'connect', target: 'the cluster', code: 0, detail: 'the kubeconfig names no current cluster' });
  const url = new URL(cluster.server.replace(/\/+$/, '') + path);
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined) url.searchParams.set(key, value);
  }
  return url;
}

/**
 * Sends one request and returns the response; a non-2xx answer or a transport failure is a
 * {@link KubeApiError} naming the verb, the object, the HTTP code and the server's Status.
 */
export async function kubeRequest(kubeConfig: KubeConfig, request: KubeRequest): Promise<KubeResponse> {
  const timeoutMs = request.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const started = Date.now();
  const deadline = AbortSignal.timeout(timeoutMs);
  const signal = request.signal ? AbortSignal.any([deadline, request.signal]) : deadline;
  const url = requestUrl(kubeConfig, request.path, request.query);
  try {
    const ctx = new RequestContext(url.toString(), request.method as HttpMethod);
    // Credentials may come from an exec plugin, which can hang: it shares the deadline.
    await untilAborted(kubeConfig.applySecurityAuthentication(ctx), signal);
    const headers: Record<string, string> = { ...ctx.getHeaders(), Accept: 'application/json' };
    let body: string | undefined;
    if (request.body !== undefined) {
      body = JSON.stringify(request.body);
      headers['Content-Type'] = request.contentType ?? 'application/json';
    }
    const response = await fetch(url, {
      method: request.method,
      headers,
      ...(body === undefined ? {} : { body }),
      dispatcher: ctx.getDispatcher() as never,
      signal,
    });
    const text = await response.text();
    trace('%s %s%s -> %d in %d ms', request.method, url.pathname, url.search, response.status, Date.now() - started);
    let parsed: unknown = text;
    if ((response.headers.get('content-type') ?? '').includes('json')) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    const warnings = response.headers.get('warning');
    const result: KubeResponse = {
      status: response.status,
      body: parsed,
      warnings: warnings ? splitWarnings(warnings) : [],
    };
    if (response.status < 200 || response.status > 299) {
      const status = statusOf(parsed);
      throw new KubeApiError({
        verb: request.verb,
        target: request.target,
        code: response.status,
        reason: status?.reason,
        detail: status?.message ?? (text.slice(0, 300) || response.statusText),
      });
    }
    return result;
  } catch (error) {
    if (error instanceof KubeApiError) throw error;
    trace('%s %s%s -> failed in %d ms: %s', request.method, url.pathname, url.search, Date.now() - started, String(error));
    if (deadline.aborted && !(request.signal?.aborted ?? false)) {
      throw new KubeApiError({
        verb: request.verb,
        target: request.target,
        code: 0,
        reason: 'Timeout',
        detail: `no answer from ${url.host} within ${timeoutMs} ms`,
      });
    }
    throw kubeError(error, request.verb, request.target);
  }
}

/** Resolves with the promise, or rejects when the signal fires first. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}

/** `299 - "unknown field \"spec.foo\"", 299 - "…"` → the quoted texts. */
function splitWarnings(header: string): string[] {
  const texts = [...header.matchAll(/\d{3} \S+ "((?:[^"\\]|\\.)*)"/g)].map((m) =>
    (m[1] ?? '').replace(/\\(.)/g, '$1'),
  );
  return texts.length > 0 ? texts : [header];
}
