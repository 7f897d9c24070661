/**
 * Typed errors of the kube layer: what failed (verb), on what (object), and what the API server
 * said (HTTP code, Status reason and message), or, when no answer came, why not (the root cause
 * dug out of the error's cause chain). A harness or environment fault, never a verdict.
 * {@link environmentFault} turns one into the sentence a user reads: which server, what went
 * wrong, what to check.
 */
import { ApiException } from '@kubernetes/client-node';

import { EnvironmentError } from '../errors.js';
import { messageOf } from '../values.js';

/** Why a request got no answer from the API server. */
export type TransportFailure =
  /** Nothing listens on the port (ECONNREFUSED). */
  | 'refused'
  /** The host name does not resolve (ENOTFOUND, EAI_AGAIN). */
  | 'dns'
  /** No route to the host or network (EHOSTUNREACH, ENETUNREACH). */
  | 'unreachable'
  /** The peer closed or reset the connection before answering (ECONNRESET, UND_ERR_SOCKET). */
  | 'closed'
  /** The port does not speak TLS: plain HTTP or another protocol answered the ClientHello. */
  | 'not-tls'
  /** The server's certificate is not signed by a CA bulkhead trusts. */
  | 'untrusted'
  /** The server's certificate has expired or is not valid yet. */
  | 'expired'
  /** The server's certificate does not name the host in the server address. */
  | 'hostname'
  /** The server refused the client certificate during the handshake. */
  | 'client-certificate'
  /** Any other TLS failure. */
  | 'tls'
  /** No answer within the deadline. */
  | 'timeout'
  /** The credentials could not be prepared (exec plugin, certificate or CA files). */
  | 'credentials'
  /** The caller gave up (Ctrl-C, SIGTERM). */
  | 'aborted'
  | 'other';

export interface Transport {
  readonly failure: TransportFailure;
  /** The system or library code found in the cause chain: ECONNREFUSED, SELF_SIGNED_CERT_IN_CHAIN. */
  readonly code?: string;
  /** That cause's own message. */
  readonly detail: string;
  /** For a timeout: how long bulkhead waited. */
  readonly timeoutMs?: number;
  /** For a timeout: whether it ran out while preparing the credentials or waiting for the server. */
  readonly phase?: 'credentials' | 'request';
  /** For a timeout while waiting for the server: how far the connection got (TCP, then TLS). */
  readonly reached?: 'none' | 'tcp' | 'tls';
}

/** Where a request went: the kubeconfig's server address and context, for the messages. */
export interface RequestSite {
  readonly server?: string | undefined;
  readonly context?: string | undefined;
}

export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  /** HTTP status code; 0 when no response came (connection refused, TLS failure, ...). */
  readonly code: number;
  /** The Status reason (NotFound, Forbidden, AlreadyExists, Invalid, ...), when the server sent one. */
  readonly reason: string | undefined;
  readonly verb: string;
  readonly target: string;
  /** The server's Status message (or the start of its body), or why no answer came. */
  readonly detail: string;
  /** The API server's address as the kubeconfig gives it (`https://10.0.0.1:6443`). */
  readonly server: string | undefined;
  /** The kubeconfig context whose credentials were used. */
  readonly context: string | undefined;
  /** Why no answer came, when none did. */
  readonly transport: Transport | undefined;

  constructor(
    props: {
      verb: string;
      target: string;
      code: number;
      reason?: string | undefined;
      detail: string;
      transport?: Transport | undefined;
      cause?: unknown;
    } & RequestSite,
  ) {
    super(
      `${props.verb} ${props.target}: ${props.code ? `${props.code} ${props.reason ?? ''}`.trim() + ': ' : ''}${props.detail}`,
      props.cause === undefined ? undefined : { cause: props.cause },
    );
    this.verb = props.verb;
    this.target = props.target;
    this.code = props.code;
    this.reason = props.reason;
    this.detail = props.detail;
    this.server = props.server;
    this.context = props.context;
    this.transport = props.transport;
  }
}

/** Wraps whatever client-node or the HTTP client threw into a {@link KubeApiError} naming the verb and the object. */
export function kubeError(
  error: unknown,
  verb: string,
  target: string,
  site: RequestSite = {},
): KubeApiError {
  if (error instanceof KubeApiError) return error;
  if (error instanceof ApiException) {
    const status = statusOf(error.body);
    return new KubeApiError({
      verb,
      target,
      code: error.code,
      reason: status?.reason,
      detail: status?.message ?? (typeof error.body === 'string' ? error.body.slice(0, 500) : error.message),
      ...site,
    });
  }
  // A Watch answered with a non-2xx status: client-node puts the code on the error.
  const statusCode = (error as { statusCode?: unknown } | undefined)?.statusCode;
  if (typeof statusCode === 'number') {
    return new KubeApiError({ verb, target, code: statusCode, detail: messageOf(error), ...site });
  }
  const transport = transportOf(error);
  return new KubeApiError({
    verb,
    target,
    code: 0,
    detail: transport.code ? `${transport.code}: ${transport.detail}` : transport.detail,
    transport,
    cause: error,
    ...site,
  });
}

export function isNotFound(error: unknown): boolean {
  return (
    (error instanceof ApiException && error.code === 404) ||
    (error instanceof KubeApiError && error.code === 404)
  );
}

export function statusOf(body: unknown): { reason?: string; message?: string } | undefined {
  let value = body;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  if (value && typeof value === 'object' && (value as { kind?: unknown }).kind === 'Status') {
    const s = value as { reason?: unknown; message?: unknown };
    return {
      ...(typeof s.reason === 'string' ? { reason: s.reason } : {}),
      ...(typeof s.message === 'string' ? { message: s.message } : {}),
    };
  }
  return undefined;
}

// ------------------------------------------------------------------ root causes

const BY_CODE: Readonly<Record<string, TransportFailure>> = {
  ECONNREFUSED: 'refused',
  ENOTFOUND: 'dns',
  EAI_AGAIN: 'dns',
  EAI_FAIL: 'dns',
  EAI_NONAME: 'dns',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
  EHOSTDOWN: 'unreachable',
  EADDRNOTAVAIL: 'unreachable',
  ECONNRESET: 'closed',
  EPIPE: 'closed',
  UND_ERR_SOCKET: 'closed',
  UND_ERR_CLOSED: 'closed',
  ERR_SOCKET_CLOSED: 'closed',
  ETIMEDOUT: 'timeout',
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  UND_ERR_BODY_TIMEOUT: 'timeout',
  ERR_SSL_WRONG_VERSION_NUMBER: 'not-tls',
  ERR_SSL_PACKET_LENGTH_TOO_LONG: 'not-tls',
  ERR_SSL_HTTP_REQUEST: 'not-tls',
  ERR_SSL_RECORD_LAYER_FAILURE: 'not-tls',
  SELF_SIGNED_CERT_IN_CHAIN: 'untrusted',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'untrusted',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'untrusted',
  UNABLE_TO_GET_ISSUER_CERT: 'untrusted',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'untrusted',
  CERT_UNTRUSTED: 'untrusted',
  CERT_SIGNATURE_FAILURE: 'untrusted',
  CERT_REJECTED: 'untrusted',
  CERT_HAS_EXPIRED: 'expired',
  CERT_NOT_YET_VALID: 'expired',
  ERR_TLS_CERT_ALTNAME_INVALID: 'hostname',
  HOSTNAME_MISMATCH: 'hostname',
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: 'client-certificate',
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: 'client-certificate',
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: 'client-certificate',
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN: 'client-certificate',
  ERR_SSL_TLSV1_ALERT_ACCESS_DENIED: 'client-certificate',
};

/** Every error in a cause chain, outermost first (AggregateError members included). */
function causes(error: unknown): unknown[] {
  const seen: unknown[] = [];
  const queue: unknown[] = [error];
  while (queue.length > 0 && seen.length < 20) {
    const e = queue.shift();
    if (e === undefined || e === null || seen.includes(e)) continue;
    seen.push(e);
    if (typeof e === 'object') {
      const { cause, errors } = e as { cause?: unknown; errors?: unknown };
      if (Array.isArray(errors)) queue.push(...(errors as unknown[]));
      if (cause !== undefined) queue.push(cause);
    }
  }
  return seen;
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * The root cause of a failed request, found in its cause chain: undici's "fetch failed" hides
 * ECONNREFUSED, a certificate error or a TLS protocol error one or two levels down.
 */
export function transportOf(error: unknown): Transport {
  const chain = causes(error);
  for (const e of chain) {
    const code = codeOf(e);
    const failure = code ? BY_CODE[code] : undefined;
    if (code && failure) return { failure, code, detail: firstLine(messageOf(e)) };
  }
  for (const e of chain) {
    const code = codeOf(e);
    const message = messageOf(e);
    // OpenSSL's words for "the other side does not speak TLS", whatever code wraps them.
    if (/wrong version number|packet length too long|http request|record layer failure/i.test(message))
      return { failure: 'not-tls', ...(code ? { code } : {}), detail: firstLine(message) };
    if (code?.startsWith('ERR_SSL_') || code?.startsWith('ERR_TLS_') || code === 'EPROTO')
      return { failure: 'tls', code, detail: firstLine(message) };
    if ((e as { name?: unknown }).name === 'TimeoutError')
      return { failure: 'timeout', detail: firstLine(message) };
    if ((e as { name?: unknown }).name === 'AbortError') return { failure: 'aborted', detail: 'interrupted' };
  }
  const deepest = chain.at(-1) ?? error;
  const code = codeOf(deepest);
  return { failure: 'other', ...(code ? { code } : {}), detail: firstLine(messageOf(deepest)) };
}

/** OpenSSL messages carry a file:line trailer after the reason; keep the reason. */
function firstLine(message: string): string {
  // Node's advice about its own --use-system-ca flag is not the user's fix here.
  const line = (message.split('\n')[0] ?? message).replace(/; if the root CA is installed locally.*$/, '');
  const ssl = /:(?:SSL routines|[A-Za-z ]+ routines):[^:]*:([^:]+):/.exec(line);
  return (ssl?.[1] ?? line).trim();
}

// ------------------------------------------------------------------ the user's sentence

export interface FaultOptions {
  /**
   * The request was bulkhead's first "is the cluster there" call, whose deadline
   * `BULKHEAD_CONNECT_TIMEOUT` sets: a timeout says so.
   */
  readonly connect?: boolean;
}

/** 10000 → "10 s", 1500 → "1.5 s". */
export function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

/**
 * The fault a failed API request stands for, as one sentence naming the server and the cause,
 * and a hint saying what to check. Never includes credentials: only the server address, the
 * context name, the request and what the server or the network said.
 */
export function environmentFault(error: KubeApiError, options: FaultOptions = {}): EnvironmentError {
  const server = error.server ? `the API server ${error.server}` : 'the API server';
  const context = error.context ? `context '${error.context}'` : 'the current context';
  const what = `${error.verb} ${error.target}`;
  const fault = (message: string, hint?: string) =>
    new EnvironmentError(message, { ...(hint ? { hint } : {}), cause: error });
  const t = error.transport;
  if (error.code === 0 && t) {
    const code = t.code ? ` (${t.code})` : '';
    switch (t.failure) {
      case 'refused':
        return fault(
          `cannot connect to ${server}: the connection was refused${code}, nothing listens on that port`,
          `check that the cluster is running and that the server address of ${context} is right (kubectl --context ${error.context ?? '<context>'} cluster-info)`,
        );
      case 'dns':
        return fault(
          `cannot connect to ${server}: its host name does not resolve${code}`,
          `check the server address of ${context}, and your DNS or VPN`,
        );
      case 'unreachable':
        return fault(
          `cannot connect to ${server}: there is no route to it${code}`,
          'check your network, VPN or proxy, and the server address of ' + context,
        );
      case 'closed':
        return fault(
          `${server} closed the connection before answering${code}`,
          'check that the address is the API server itself, not a proxy or load balancer that drops the connection',
        );
      case 'not-tls':
        return fault(
          `${server} does not speak TLS: something else answered on that port${code}`,
          `the kubeconfig says https; check the port in the server address of ${context} (the API server listens with TLS, usually on 6443 or 443)`,
        );
      case 'untrusted':
        return fault(
          `cannot verify the TLS certificate of ${server}: ${t.detail}${code}`,
          `set certificate-authority (or certificate-authority-data) of the cluster of ${context} in the kubeconfig to the CA that signed the API server's certificate`,
        );
      case 'expired':
        return fault(
          `the TLS certificate of ${server} is not valid now: ${t.detail}${code}`,
          "check the machine's clock, and renew the API server's certificate if it has expired",
        );
      case 'hostname':
        return fault(
          `the TLS certificate of ${server} does not name that host: ${t.detail}${code}`,
          `use a server address the certificate names, or set tls-server-name of the cluster of ${context} in the kubeconfig`,
        );
      case 'client-certificate':
        return fault(
          `${server} refused the client certificate of ${context} during the TLS handshake${code}`,
          `the client certificate of ${context} is not one this cluster trusts, or has expired; get a fresh kubeconfig for it`,
        );
      case 'tls':
        return fault(
          `the TLS handshake with ${server} failed: ${t.detail}${code}`,
          `check the server address and the certificate settings of ${context}`,
        );
      case 'timeout': {
        const within = t.timeoutMs ? ` within ${seconds(t.timeoutMs)}` : '';
        const longer = options.connect ? '; BULKHEAD_CONNECT_TIMEOUT=<seconds> waits longer' : '';
        if (t.phase === 'credentials') {
          return fault(
            `the credentials of ${context} were not ready${within}: its credential plugin did not return`,
            `run the plugin named in the kubeconfig's users[].exec yourself to see what it waits for (a login prompt, a browser, a network call)${longer}`,
          );
        }
        const how =
          t.reached === 'none'
            ? ': the TCP connection did not open'
            : t.reached === 'tcp'
              ? server.startsWith('the API server https')
                ? ': the TCP connection opened, but the TLS handshake did not finish'
                : ': the TCP connection opened, but no HTTP answer came'
              : t.reached === 'tls'
                ? ': connected, but no HTTP answer came'
                : '';
        const check =
          t.reached === 'none'
            ? 'check that the cluster is running and that no firewall, VPN or stopped machine swallows the connection'
            : t.reached === 'tcp'
              ? `check that the port in the server address of ${context} is the API server's, and that the API server is not stuck`
              : 'the API server is stuck or overloaded; check its health (kubectl get --raw /readyz)';
        return fault(`no answer from ${server}${within}${how}`, `${check}${longer}`);
      }
      case 'credentials':
        return fault(`cannot use the credentials of ${context}: ${t.detail}`, credentialsHint(error));
      case 'aborted':
        return fault(`interrupted while waiting for ${server} (${what})`);
      case 'other':
        return fault(
          `cannot talk to ${server}: ${t.code ? `${t.code}: ` : ''}${t.detail}`,
          `check the server address and credentials of ${context}`,
        );
    }
  }
  const said = `${error.code ? `${error.code} ${error.reason ?? ''}`.trim() : 'failed'}: ${error.detail}`;
  if (error.code === 401) {
    return fault(
      `${server} rejected the credentials of ${context} (401 Unauthorized)`,
      `the token or client certificate of ${context} is wrong or has expired; get fresh credentials (log in again) and check with kubectl --context ${error.context ?? '<context>'} auth whoami`,
    );
  }
  if (error.code === 403) {
    return fault(
      `${server} forbids ${what} to the credentials of ${context} (403 Forbidden: ${error.detail})`,
      'use a context whose role allows it; bulkhead up --provider existing lists every permission a run needs',
    );
  }
  if (error.code === 404) {
    return fault(
      `${server} has no ${error.target} (${said})`,
      `check that ${context} points at the cluster you mean, and that it serves the API named`,
    );
  }
  if (error.code === 429 || error.code >= 500) {
    return fault(
      `${server} could not serve ${what} (${said})`,
      'the API server is overloaded or unhealthy; check kubectl get --raw /readyz and try again',
    );
  }
  if (error.code === 0) return fault(`${what} failed: ${error.detail}`);
  return fault(`${server} refused ${what} (${said})`);
}

function credentialsHint(error: KubeApiError): string {
  const hint = (error.cause as { hint?: unknown } | undefined)?.hint;
  if (typeof hint === 'string') return hint;
  return 'check the user of that context in the kubeconfig: its exec plugin, token file, or certificate and key files';
}
