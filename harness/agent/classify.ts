/**
 * From what a client saw to an outcome (docs/behaviour.md "Outcomes"). Each rule encodes one
 * fact of docs/behaviour.md §0/§A (O1…O12; the bare §A1, §A3 below are its sections too);
 * anything that matches no rule is `error`, because a probe that cannot tell what happened must
 * never report a deny.
 *
 * Pure functions over plain data: the probes collect the evidence, this decides.
 */
import type { EchoView } from './echo.js';
import type { Phase, Verdict } from './result.js';

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** The body as far as it was read. */
  readonly body: string;
  readonly echo?: EchoView;
}

/** Envoy's local reply for an RBAC deny (docs/behaviour.md O1). */
export const RBAC_DENIED_BODY = 'RBAC: access denied';
/** The start of the router's local reply when the upstream failed before answering (docs/behaviour.md O6). */
export const UPSTREAM_FAILURE_BODY = 'upstream connect error or disconnect/reset before headers.';

/** Istio's inbound listeners say `istio-envoy`, outbound ones Envoy's default `envoy` (§A1). */
function isEnvoy(headers: HttpAnswer['headers']): boolean {
  const server = headerText(headers.server).trim().toLowerCase();
  return server === 'envoy' || server === 'istio-envoy';
}

function headerText(value: string | readonly string[] | undefined): string {
  return value === undefined ? '' : typeof value === 'string' ? value : value.join(', ');
}

export function classifyHttpAnswer(answer: HttpAnswer): Verdict {
  const { status, headers, body } = answer;
  if (answer.echo) {
    const who = [answer.echo.namespace, answer.echo.pod].filter(Boolean).join('/') || 'the echo server';
    return { outcome: 'allowed', reason: `${who} answered ${status}: the request reached the app` };
  }
  const envoy = isEnvoy(headers);
  if (body.startsWith(RBAC_DENIED_BODY)) {
    if (status === 403 && envoy)
      return {
        outcome: 'denied-l7',
        reason: `Envoy answered 403 "${RBAC_DENIED_BODY}": Istio authorization denied it`,
      };
    return {
      outcome: 'error',
      reason: `an "${RBAC_DENIED_BODY}" body with status ${status} and server "${headerText(headers.server)}" is not Envoy's RBAC reply (403, server envoy or istio-envoy)`,
    };
  }
  if (body.startsWith(UPSTREAM_FAILURE_BODY) && (status === 503 || status === 502))
    return classifyUpstreamFailure(status, body);
  // An Envoy reply with no upstream timing is Envoy's own (the router adds the header only to
  // what an upstream answered): a local reply this agent has no rule for.
  if (envoy && status >= 400 && headers['x-envoy-upstream-service-time'] === undefined)
    return {
      outcome: 'error',
      reason: `Envoy answered ${status} itself with a reply that is neither an RBAC deny nor an upstream connect failure`,
    };
  if (status === 403)
    return {
      outcome: 'allowed',
      reason:
        'the app itself answered 403 (not Envoy\'s "RBAC: access denied"): the request got through to it',
    };
  return { outcome: 'allowed', reason: `the server answered ${status}: the request got through to the app` };
}

/**
 * What a client sees from an Istio ingress gateway (harness/scenario/gateways.ts has the Istio and
 * Gateway API sources). Its listeners answer with `server: istio-envoy` (istio@1.30.3
 * `pilot/pkg/networking/util/proxy_headers.go:48-62`, every listener class but SidecarOutbound). Two
 * local replies of its own mean it forwarded nothing, and carry no upstream timing and an empty
 * body (Envoy's router sends both with body "": `source/common/router/router.cc`, decodeHeaders,
 * cluster not found and route not found):
 * - 500: the route's backendRef was dropped (no ReferenceGrant, RefNotPermitted, or no such
 *   Service) and the route's ClusterNotFoundResponseCode is 500 (`route/route.go:616-620`);
 * - 404: the Host header matches no route's hostname (`core/gateway.go:430-574`).
 * Both are `denied-l7`: the gateway, an L7 proxy, refused to take the request anywhere. Whatever
 * else it answers (a backend's own reply passed on, Envoy's 403 RBAC or 503 upstream failure) is
 * read as any answer through Envoy is.
 */
export function classifyGatewayAnswer(answer: HttpAnswer): Verdict {
  const { status, headers, body } = answer;
  const own =
    !answer.echo &&
    body === '' &&
    headers['x-envoy-upstream-service-time'] === undefined &&
    headerText(headers.server).trim().toLowerCase() === 'istio-envoy';
  if (own && status === 500)
    return {
      outcome: 'denied-l7',
      reason:
        "the gateway answered 500 itself (empty body, no upstream): the route's backend is not one it may send to (a cross-namespace backendRef without a ReferenceGrant, or no such Service)",
    };
  if (own && status === 404)
    return {
      outcome: 'denied-l7',
      reason: 'the gateway answered 404 itself (empty body, no upstream): no route on it names this Host',
    };
  return classifyHttpAnswer(answer);
}

/**
 * Envoy's router body is `upstream connect error or disconnect/reset before headers. [retried
 * and the latest ]reset reason: <reason>[, transport failure reason: <detail>]` (§A3).
 */
function classifyUpstreamFailure(status: number, body: string): Verdict {
  const match = /reset reason: ([^,\n]+)(?:, transport failure reason: ([^\n]*))?/.exec(body);
  const reason = (match?.[1] ?? '').trim();
  const transport = (match?.[2] ?? '').trim();
  const said = `Envoy answered ${status} "reset reason: ${reason}${transport ? `, ${transport}` : ''}"`;
  if (/connection timeout/.test(reason))
    return {
      outcome: 'denied-l4',
      reason: `${said}: the sidecar's upstream connect timed out, the network dropped it`,
    };
  if (/connection failure/.test(reason)) {
    // A handshake the upstream refused is mTLS saying no, not the network (e.g. TLS_error:…).
    if (/tls|ssl|certificate|handshake/i.test(transport))
      return { outcome: 'reset', reason: `${said}: the upstream refused the TLS handshake` };
    if (/\b111\b|connection refused/i.test(transport))
      return {
        outcome: 'refused',
        reason: `${said}: the upstream refused the connection (nothing listens, or REJECT)`,
      };
    return {
      outcome: 'denied-l4',
      reason: `${said}: the sidecar's upstream connect failed, the network dropped it`,
    };
  }
  if (/connection termination|remote reset/.test(reason))
    return {
      outcome: 'reset',
      reason: `${said}: the upstream closed or reset the connection before answering`,
    };
  return { outcome: 'error', reason: `${said}: an upstream failure this agent has no rule for` };
}

export interface Failure {
  readonly phase: Phase;
  /** Node's error code (`ECONNREFUSED`, `ECONNRESET`, `ERR_TLS_…`), if an error ended it. */
  readonly code?: string;
  readonly message?: string;
  /** The per-attempt deadline ended it. */
  readonly deadline: boolean;
  readonly timeoutMs: number;
}

const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/** A connection-level failure: no HTTP answer, no data. */
export function classifyFailure(f: Failure): Verdict {
  if (f.phase === 'lookup')
    return {
      outcome: 'error',
      reason: f.deadline
        ? `the target name did not resolve within ${f.timeoutMs} ms`
        : `the target name did not resolve (${f.code ?? f.message ?? 'unknown error'})`,
    };
  if (f.phase === 'connect' && (f.deadline || f.code === 'ETIMEDOUT'))
    return {
      outcome: 'denied-l4',
      reason: f.deadline
        ? `no TCP connection within ${f.timeoutMs} ms: the SYN went unanswered, the network dropped it`
        : 'the TCP connect timed out: the SYN went unanswered, the network dropped it',
    };
  if (f.code === 'ECONNREFUSED')
    return {
      outcome: 'refused',
      reason: 'connection refused: nothing listens there, or the network rejects it',
    };
  if (f.code !== undefined && RESET_CODES.has(f.code))
    return {
      outcome: 'reset',
      reason:
        f.message === 'socket hang up'
          ? 'the server closed the connection without answering (empty reply), as strict mTLS does to a plaintext client'
          : `the connection was reset (${f.code}), as strict mTLS does to a plaintext client`,
    };
  if (f.deadline)
    return {
      outcome: 'error',
      reason: `connected but no answer within ${f.timeoutMs} ms; a slow app and a sidecar still waiting on its upstream (about 30 s, fact O6) look alike`,
    };
  return {
    outcome: 'error',
    reason: `the attempt failed in a way no rule covers (${f.code ?? 'no code'}: ${f.message ?? 'no message'})`,
  };
}

/** A TCP connection that the far side closed before sending a byte (docs/behaviour.md O3, O7). */
export function classifyClosedWithoutData(sidecar: boolean): Verdict {
  if (sidecar)
    return {
      outcome: 'error',
      reason:
        "closed with no data behind the probe's own sidecar: Istio TCP authorization, a network drop and a closed port all look like this (fact O7); probe from a pod without a sidecar",
    };
  return {
    outcome: 'denied-l7',
    reason:
      'connected, then closed with no data: Istio authorization on a TCP port closes denied connections (fact O3)',
  };
}

/** DNS errors as Node's resolver reports them (c-ares codes). */
export function classifyDnsFailure(code: string | undefined, deadline: boolean, timeoutMs: number): Verdict {
  if (deadline || code === 'ETIMEOUT' || code === 'ECANCELLED')
    return {
      outcome: 'denied-l4',
      reason: `no DNS answer within ${timeoutMs} ms: the path to the resolver is dropped`,
    };
  switch (code) {
    case 'ENOTFOUND':
      return { outcome: 'nxdomain', reason: 'NXDOMAIN: the name does not exist' };
    case 'ENODATA':
      return {
        outcome: 'nxdomain',
        reason: 'NOERROR with no records of that type (NODATA): the answer reveals no records',
      };
    case 'ECONNREFUSED':
      return { outcome: 'refused', reason: 'the resolver port refused the query (ICMP port unreachable)' };
    case 'EREFUSED':
      return { outcome: 'refused', reason: 'the resolver answered REFUSED' };
    case undefined:
    default:
      return { outcome: 'error', reason: `the DNS query failed (${code ?? 'unknown error'})` };
  }
}

/**
 * The API server's answer (docs/behaviour.md O12). It authorizes a request before it looks anything up or
 * validates a body, so a 400/404/405/409/422 Status means authorization let the request through.
 */
export function classifyApiAnswer(
  status: number,
  statusKind: string | undefined,
  tokenSent: boolean,
): Verdict {
  if (status >= 200 && status < 300)
    return { outcome: 'api-allowed', reason: `the API server answered ${status}: the request is authorized` };
  if (status === 403 && statusKind === 'Status')
    return {
      outcome: 'api-forbidden',
      reason: `the API server answered 403 Forbidden${tokenSent ? '' : ' to an anonymous request (no token mounted)'}`,
    };
  if (status === 401 && statusKind === 'Status')
    return {
      outcome: 'api-forbidden',
      reason: `the API server answered 401 Unauthorized: ${tokenSent ? 'the token was not accepted' : 'no token is mounted'}`,
    };
  if ([400, 404, 405, 409, 422].includes(status) && statusKind === 'Status')
    return {
      outcome: 'api-allowed',
      reason: `the API server answered ${status} after authorizing the request (it authorizes before it looks up or validates)`,
    };
  return {
    outcome: 'error',
    reason: `the API server answered ${status}${statusKind === 'Status' ? '' : ' without a Status object'}: no rule covers it`,
  };
}
