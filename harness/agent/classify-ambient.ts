/**
 * What an ambient client sees, as an outcome. The probing pod is captured by ztunnel, so its TCP
 * connect always succeeds at once: it is to its own ztunnel's listener (ambient-cnp-facts.md AO1,
 * AO2). Every refusal therefore arrives after the connect, and the time it took tells the cause
 * (the facts' "design consequences", derived from the sources they cite):
 *
 * - AO1/AO3: a ztunnel L4 deny, or STRICT mTLS against plaintext, is a reset within one HBONE round
 *   trip: under a second.
 * - AO5/AO7: a network policy that drops HBONE (15008) or ztunnel's plain-TCP connect makes the
 *   client's ztunnel give up after its hard-coded 10 s connect timeout (ztunnel@1.30.3
 *   src/proxy.rs:642) and drop the client's socket: a reset or EOF after 10 s, never a connect
 *   timeout. A reset between the two is no fact's signature: `error`.
 * - AO4: a waypoint's L7 deny is 403 `RBAC: access denied`; through a waypoint every response says
 *   `server: istio-envoy`, the app's own 403s too (proxy_headers.go:50-51), so it is told by body.
 * - AO6: a waypoint whose upstream connect fails answers Envoy's 503, read as a sidecar's is.
 *
 * An out-of-mesh client (no sidecar, not captured) sees plain TCP and is classified by
 * classify.ts unchanged: a drop is its own connect timeout (AO7), STRICT a reset (AO3).
 */
import {
  classifyFailure,
  classifyHttpAnswer,
  RBAC_DENIED_BODY,
  type Failure,
  type HttpAnswer,
} from './classify.js';
import type { Verdict } from './result.js';

/** ztunnel's outbound connect timeout (fact AO5: `CONNECTION_TIMEOUT = 10s`, no retry). */
export const ZTUNNEL_CONNECT_TIMEOUT_MS = 10_000;
/** A reset sooner than this is one HBONE round trip: Istio policy, not the network (facts' consequences). */
export const ZTUNNEL_POLICY_RESET_MS = 1_000;

const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/** An HTTP answer to an ambient client: a 403 is Istio's only when its body says so (AO4). */
export function classifyAmbientAnswer(answer: HttpAnswer): Verdict {
  if (!answer.echo && answer.status === 403 && answer.body.startsWith(RBAC_DENIED_BODY)) {
    return {
      outcome: 'denied-l7',
      reason: `403 "${RBAC_DENIED_BODY}": a waypoint's authorization denied it (fact AO4; told by the body, since a waypoint sets server: istio-envoy on every reply)`,
    };
  }
  return classifyHttpAnswer(answer);
}

/**
 * A connection-level failure of an ambient client, `elapsedMs` after the attempt started. Lookup
 * failures and the deadline read as for any client.
 */
export function classifyAmbientFailure(f: Failure, elapsedMs: number): Verdict {
  if (f.phase === 'lookup') return classifyFailure(f);
  if (f.phase === 'connect' && (f.deadline || f.code === 'ETIMEDOUT' || f.code === 'ECONNREFUSED')) {
    return {
      outcome: 'error',
      reason: `the connect to the pod's own ztunnel ${f.deadline || f.code === 'ETIMEDOUT' ? 'timed out' : 'was refused'}: an ambient client's connect is local and always succeeds (fact AO2), so the pod is not captured or its capture is pending`,
    };
  }
  if (f.code !== undefined && RESET_CODES.has(f.code)) return closedAfter(elapsedMs, `reset (${f.code})`);
  return classifyFailure(f);
}

/** A TCP connection of an ambient client closed before any byte came back (AO2: EOF or RST). */
export function classifyAmbientClosed(elapsedMs: number): Verdict {
  return closedAfter(elapsedMs, 'closed with no data');
}

function closedAfter(elapsedMs: number, what: string): Verdict {
  if (elapsedMs < ZTUNNEL_POLICY_RESET_MS) {
    return {
      outcome: 'reset',
      reason: `connected to the pod's own ztunnel, then ${what} after ${elapsedMs} ms: ztunnel refused it by policy or STRICT mTLS (facts AO1, AO3)`,
    };
  }
  if (elapsedMs >= ZTUNNEL_CONNECT_TIMEOUT_MS) {
    return {
      outcome: 'denied-l4',
      reason: `connected to the pod's own ztunnel, then ${what} after ${elapsedMs} ms: ztunnel gave up its 10 s connect to the destination, which the network dropped (facts AO5, AO7)`,
    };
  }
  return {
    outcome: 'error',
    reason: `connected to the pod's own ztunnel, then ${what} after ${elapsedMs} ms: neither an Istio refusal (under ${ZTUNNEL_POLICY_RESET_MS} ms) nor ztunnel's 10 s connect timeout`,
  };
}
