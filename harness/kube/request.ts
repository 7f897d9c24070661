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
import type { RequestOptions as HttpsRequestOptions } from 'node:https';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { debuglog } from 'node:util';

import { RequestContext, type KubeConfig } from '@kubernetes/client-node';
import { Agent, fetch, type Dispatcher } from 'undici';

import { UserError } from '../errors.js';
import { kubeError, KubeApiError, statusOf, transportOf, type RequestSite } from './errors.js';
import { messageOf } from '../values.js';

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
  if (!cluster)
    throw new KubeApiError({
      verb: 'connect',
      target: 'the cluster',
      code: 0,
      detail: 'the kubeconfig names no current cluster',
    });
  const url = new URL(cluster.server.replace(/\/+$/, '') + path);
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined) url.searchParams.set(key, value);
  }
  return url;
}

/**
 * Sends one request and returns the response; a non-2xx answer or a transport failure is a
 * {@link KubeApiError} naming the verb, the object, the HTTP code and the server's Status, or,
 * when no answer came, the root cause (refused, not TLS, untrusted certificate, timeout, ...).
 */
export async function kubeRequest(kubeConfig: KubeConfig, request: KubeRequest): Promise<KubeResponse> {
  const timeoutMs = request.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const started = Date.now();
  const deadline = AbortSignal.timeout(timeoutMs);
  const signal = request.signal ? AbortSignal.any([deadline, request.signal]) : deadline;
  const url = requestUrl(kubeConfig, request.path, request.query);
  const site = siteOf(kubeConfig);
  const progress: Progress = { phase: 'credentials', tcp: false, tls: false };
  let prepared: Prepared | undefined;
  try {
    prepared = await prepare(kubeConfig, url, request.method, signal, progress, timeoutMs);
    const { dispatcher } = prepared;
    const headers: Record<string, string> = { ...prepared.headers, Accept: 'application/json' };
    let body: string | undefined;
    if (request.body !== undefined) {
      body = JSON.stringify(request.body);
      headers['Content-Type'] = request.contentType ?? 'application/json';
    }
    const response = await fetch(url, {
      method: request.method,
      headers,
      ...(body === undefined ? {} : { body }),
      dispatcher,
      signal,
    });
    const text = await response.text();
    trace(
      '%s %s%s -> %d in %d ms',
      request.method,
      url.pathname,
      url.search,
      response.status,
      Date.now() - started,
    );
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
    if (response.status < 200 || response.status > 299)
      throw answerError(request, site, response.status, response.statusText, parsed, text);
    return result;
  } catch (error) {
    if (error instanceof KubeApiError) throw error;
    trace(
      '%s %s%s -> failed in %d ms: %s',
      request.method,
      url.pathname,
      url.search,
      Date.now() - started,
      String(error),
    );
    throw failure(error, { request, url, site, deadline, timeoutMs, progress });
  } finally {
    // Each request has a connection of its own: closing it leaves no socket behind, not even
    // one still connecting to a server that never answers.
    prepared?.close();
  }
}

/**
 * Opens a watch (`?watch=true`) and calls `onEvent` for each event until the server ends the
 * stream (resolves) or `signal` fires (rejects, reason `Aborted`). The deadline covers the
 * credentials and the response headers only: a watch is open for as long as the caller wants.
 */
export async function kubeWatch(
  kubeConfig: KubeConfig,
  request: Omit<KubeRequest, 'method' | 'body' | 'contentType'> & {
    readonly onEvent: (type: string, object: unknown) => void;
  },
): Promise<void> {
  const timeoutMs = request.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const deadline = AbortSignal.timeout(timeoutMs);
  const headersArrived = new AbortController();
  // Until the headers arrive, the deadline counts; after that only the caller's signal does.
  const connectDeadline = AbortSignal.any([deadline, headersArrived.signal]);
  const connecting = new AbortController();
  const onDeadline = () => {
    if (!headersArrived.signal.aborted) connecting.abort(deadline.reason);
  };
  connectDeadline.addEventListener('abort', onDeadline, { once: true });
  const signal = request.signal ? AbortSignal.any([connecting.signal, request.signal]) : connecting.signal;
  const url = requestUrl(kubeConfig, request.path, { ...request.query, watch: 'true' });
  const site = siteOf(kubeConfig);
  const progress: Progress = { phase: 'credentials', tcp: false, tls: false };
  let prepared: Prepared | undefined;
  try {
    prepared = await prepare(kubeConfig, url, 'GET', signal, progress, timeoutMs);
    const { dispatcher } = prepared;
    const response = await fetch(url, {
      method: 'GET',
      headers: { ...prepared.headers, Accept: 'application/json' },
      dispatcher,
      signal,
    });
    headersArrived.abort();
    if (response.status !== 200) {
      const text = await response.text();
      throw answerError(request, site, response.status, response.statusText, text, text);
    }
    let buffered = '';
    const decoder = new TextDecoder();
    const take = (line: string) => {
      if (!line.trim()) return;
      let event: { type?: unknown; object?: unknown };
      try {
        event = JSON.parse(line) as { type?: unknown; object?: unknown };
      } catch {
        return;
      }
      if (typeof event.type === 'string') request.onEvent(event.type, event.object);
    };
    try {
      for await (const chunk of response.body ?? []) {
        buffered += decoder.decode(chunk as Uint8Array, { stream: true });
        let newline = buffered.indexOf('\n');
        while (newline >= 0) {
          take(buffered.slice(0, newline));
          buffered = buffered.slice(newline + 1);
          newline = buffered.indexOf('\n');
        }
      }
      take(buffered);
    } catch (error) {
      // A watch cut off midway has ended, as servers end watches routinely; only Ctrl-C is a failure.
      if (request.signal?.aborted) throw error;
      trace('watch %s%s -> cut off: %s', url.pathname, url.search, String(error));
    }
  } catch (error) {
    if (error instanceof KubeApiError) throw error;
    trace('watch %s%s -> failed: %s', url.pathname, url.search, String(error));
    throw failure(error, { request, url, site, deadline: connecting.signal, timeoutMs, progress });
  } finally {
    connectDeadline.removeEventListener('abort', onDeadline);
    prepared?.close();
  }
}

/** The kubeconfig's server address and context, for error messages. */
/** A non-2xx answer: the server's Status reason and message when it sent one, else the body's start. */
function answerError(
  request: Pick<KubeRequest, 'verb' | 'target'>,
  site: RequestSite,
  code: number,
  statusText: string,
  body: unknown,
  text: string,
): KubeApiError {
  const status = statusOf(body);
  return new KubeApiError({
    verb: request.verb,
    target: request.target,
    code,
    reason: status?.reason,
    detail: status?.message ?? (text.slice(0, 300) || statusText),
    ...site,
  });
}

function siteOf(kubeConfig: KubeConfig): RequestSite {
  return { server: kubeConfig.getCurrentCluster()?.server, context: kubeConfig.getCurrentContext() };
}

/** How far a request's connection got: what a timeout message says. */
interface Progress {
  phase: 'credentials' | 'request';
  tcp: boolean;
  tls: boolean;
}

interface Prepared {
  readonly headers: Record<string, string>;
  readonly dispatcher: Dispatcher;
  /** Ends the request's connection, whatever state it is in (even still connecting). */
  readonly close: () => void;
}

/**
 * The credentials (headers, TLS material) and a dispatcher of this request's own. Its connector
 * opens the socket itself: so that a timeout or Ctrl-C can destroy a connection that is still
 * being set up (undici cannot reach a socket before it is connected, and its own 10 s connect
 * timer would keep the process alive), and so that a timeout can say how far it got.
 */
async function prepare(
  kubeConfig: KubeConfig,
  url: URL,
  method: Verb,
  signal: AbortSignal,
  progress: Progress,
  timeoutMs: number,
): Promise<Prepared> {
  const cluster = kubeConfig.getCurrentCluster();
  if (cluster?.proxyUrl) {
    // Through a proxy: client-node's own dispatcher knows how to tunnel.
    const ctx = new RequestContext(url.toString(), method);
    // Credentials may come from an exec plugin, which can hang: it shares the deadline.
    await untilAborted(kubeConfig.applySecurityAuthentication(ctx), signal);
    progress.phase = 'request';
    const dispatcher = ctx.getDispatcher() ?? new Agent();
    return {
      headers: ctx.getHeaders(),
      dispatcher,
      close: () => void dispatcher.destroy().catch(() => undefined),
    };
  }
  const options: HttpsRequestOptions = {};
  await untilAborted(kubeConfig.applyToHTTPSOptions(options), signal);
  progress.phase = 'request';
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  if (options.auth) headers.Authorization = `Basic ${Buffer.from(options.auth).toString('base64')}`;
  const secure: ConnectionOptions = {
    ...(options.ca ? { ca: options.ca } : {}),
    ...(options.cert ? { cert: options.cert } : {}),
    ...(options.key ? { key: options.key } : {}),
    ...(options.pfx ? { pfx: options.pfx } : {}),
    ...(options.passphrase ? { passphrase: options.passphrase } : {}),
    ...(options.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: options.rejectUnauthorized }),
    ...(options.servername ? { servername: options.servername } : {}),
  };
  const sockets = new Set<Socket>();
  const connector = (
    target: { hostname: string; port: string; protocol: string; servername?: string },
    callback: (...args: [null, Socket] | [Error, null]) => void,
  ): void => {
    const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
    const https = target.protocol === 'https:';
    const port = Number(target.port) || (https ? 443 : 80);
    const servername = secure.servername ?? (isIP(host) ? undefined : host);
    const socket: Socket = https
      ? tlsConnect({
          ...secure,
          host,
          port,
          ...(servername ? { servername } : {}),
          ALPNProtocols: ['http/1.1'],
        })
      : netConnect({ host, port });
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.setNoDelay(true);
    // As client-node does: below cloud load balancers' 60 s idle timeouts.
    socket.setKeepAlive(true, 30_000);
    let answered = false;
    const answer = (...args: [null, Socket] | [Error, null]) => {
      if (answered) return;
      answered = true;
      callback(...args);
    };
    socket.once('connect', () => {
      progress.tcp = true;
      if (!https) answer(null, socket);
    });
    socket.once('secureConnect', () => {
      progress.tls = true;
      answer(null, socket);
    });
    socket.once('error', (error) => {
      answer(error, null);
    });
  };
  // Our own deadline comes first; this only stops the connector if nobody else does.
  const dispatcher = new Agent({ connect: connector as never, connectTimeout: timeoutMs + 1000 });
  return {
    headers,
    dispatcher,
    close: () => {
      for (const socket of sockets) socket.destroy();
      void dispatcher.destroy().catch(() => undefined);
    },
  };
}

/** The {@link KubeApiError} for a request that got no answer. */
function failure(
  error: unknown,
  props: {
    request: Pick<KubeRequest, 'verb' | 'target' | 'signal'>;
    url: URL;
    site: RequestSite;
    deadline: AbortSignal;
    timeoutMs: number;
    progress: Progress;
  },
): KubeApiError {
  const { request, url, site, progress } = props;
  const { phase } = progress;
  const common = { verb: request.verb, target: request.target, code: 0, cause: error, ...site };
  if (request.signal?.aborted) {
    return new KubeApiError({
      ...common,
      reason: 'Aborted',
      detail: 'interrupted',
      transport: { failure: 'aborted', detail: 'interrupted' },
    });
  }
  const transport = transportOf(error);
  if (props.deadline.aborted || (transport.failure === 'timeout' && phase === 'request')) {
    const timeoutMs = props.deadline.aborted ? props.timeoutMs : (connectTimeoutOf(error) ?? props.timeoutMs);
    return new KubeApiError({
      ...common,
      reason: 'Timeout',
      detail:
        phase === 'credentials'
          ? `the credentials were not ready within ${timeoutMs} ms`
          : `no answer from ${url.host} within ${timeoutMs} ms`,
      transport: {
        failure: 'timeout',
        ...(transport.code ? { code: transport.code } : {}),
        detail: transport.detail,
        timeoutMs,
        phase,
        ...(phase === 'request' ? { reached: progress.tls ? 'tls' : progress.tcp ? 'tcp' : 'none' } : {}),
      },
    });
  }
  if (phase === 'credentials') {
    const detail = messageOf(error);
    return new KubeApiError({ ...common, detail, transport: { failure: 'credentials', detail } });
  }
  return kubeError(error, request.verb, request.target, site);
}

/** undici's connect timeout names its own time: "Connect Timeout Error (..., timeout: 10000ms)". */
function connectTimeoutOf(error: unknown): number | undefined {
  for (let e: unknown = error, i = 0; e && i < 5; e = (e as { cause?: unknown }).cause, i++) {
    const match = /timeout: (\d+)ms/.exec(e instanceof Error ? e.message : '');
    if (match) return Number(match[1]);
  }
  return undefined;
}

/** The environment variable that sets the deadline of the first call to a cluster, in seconds. */
export const CONNECT_TIMEOUT_ENV = 'BULKHEAD_CONNECT_TIMEOUT';

/** How long bulkhead's first "is the cluster there" call may take, unless the environment says otherwise. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** The first call's deadline: `BULKHEAD_CONNECT_TIMEOUT` seconds (fractions allowed), else 10 s. */
export function connectTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const text = env[CONNECT_TIMEOUT_ENV]?.trim();
  if (!text) return DEFAULT_CONNECT_TIMEOUT_MS;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || value > 3600) {
    throw new UserError(
      `${CONNECT_TIMEOUT_ENV}=${text} is not a number of seconds from 0 to 3600 (the default is ${DEFAULT_CONNECT_TIMEOUT_MS / 1000})`,
    );
  }
  return Math.round(value * 1000);
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
        reject(error instanceof Error ? error : new Error(String(error)));
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
