/**
 * Proof that an allowed attempt crossed the mesh encrypted: the echo server answers with the
 * headers its app received, and an Istio sidecar's inbound listener sets `x-forwarded-client-cert`
 * with the caller's certificate URI (`SetCurrentClientCertDetails` URI=true, forward mode
 * APPEND_FORWARD: istio/istio `pilot/pkg/networking/core/listener_inbound.go`, `proxy_headers.go`;
 * docs/behaviour.md via reference istio-calico-facts.md). With APPEND_FORWARD a client's own XFCC
 * is kept and the sidecar's element appended after it, so only the last element is the mesh's
 * word: it must name the caller's SPIFFE identity, `spiffe://<trust domain>/ns/<ns>/sa/<sa>`.
 *
 * Where both ends have a sidecar and the attempt went by Service name, an allowed attempt is
 * expected to carry that proof; one without it is flagged (`no-proof`). Attempts by pod IP pass
 * through the client sidecar as plaintext (fact O5); sidecar-free ends are not meshed.
 *
 * Through an ingress gateway the probe's own hop is plaintext by design (an out-of-mesh client, as
 * the `gateway` generator picks), and the meshed hop is the gateway's to the backend: the caller
 * the backend's sidecar vouches for is then the gateway's service account, `<name>-istio` in the
 * gateway's namespace (harness/scenario/gateways.ts), so that is the identity the proof must name.
 * The gateway itself sanitizes a client's XFCC by default (SANITIZE_SET, istio@1.30.3
 * `pilot/pkg/networking/core/gateway.go:723-734`), so the backend sidecar's element is the only one.
 */
import type { Outcome } from '../scenario/outcomes.js';
import { gatewayDeploymentName } from '../scenario/gateways.js';
import type { Attempt, Scenario, WorkloadRef } from '../scenario/types.js';

export type TransitStatus = 'mtls' | 'no-proof' | 'not-meshed';

export interface Transit {
  readonly status: TransitStatus;
  /** The caller's identity the destination's sidecar vouched for (status `mtls`). */
  readonly identity?: string;
  readonly reason: string;
}

/** The elements of an XFCC value, split on the commas that are not inside quotes. */
export function xfccElements(value: string): string[] {
  const out: string[] = [];
  let current = '';
  let quoted = false;
  for (const ch of value) {
    if (ch === '"') quoted = !quoted;
    if (ch === ',' && !quoted) {
      out.push(current.trim());
      current = '';
    } else current += ch;
  }
  if (current.trim()) out.push(current.trim());
  return out;
}

/** The `URI=` of one XFCC element, unquoted. */
function uriOf(element: string): string | undefined {
  for (const pair of element.split(';')) {
    const [key, ...rest] = pair.split('=');
    if (key?.trim().toLowerCase() === 'uri') return rest.join('=').trim().replace(/^"|"$/g, '');
  }
  return undefined;
}

function headerValue(evidence: Readonly<Record<string, unknown>> | undefined): string | undefined {
  const echo = evidence?.echo;
  if (typeof echo !== 'object' || echo === null) return undefined;
  const headers = (echo as { headers?: unknown }).headers;
  if (typeof headers !== 'object' || headers === null) return undefined;
  const v = (headers as Record<string, unknown>)['x-forwarded-client-cert'];
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string').join(',');
  return undefined;
}

/**
 * What the evidence of an allowed attempt shows about encryption in transit; undefined for an
 * attempt that was not allowed or dials no workload (DNS, the API, the node, outside addresses).
 */
export function inTransit(
  attempt: Attempt,
  scenario: Pick<Scenario, 'workloads' | 'trustDomain'>,
  outcome: Outcome,
  evidence: Readonly<Record<string, unknown>> | undefined,
): Transit | undefined {
  if (outcome !== 'allowed' || attempt.kind === 'dns' || attempt.kind === 'api') return undefined;
  const find = (ns: string, name: string) =>
    scenario.workloads.find((w) => w.namespace === ns && w.name === name);
  const source = find(attempt.from.namespace, attempt.from.name);
  if (!('to' in attempt) && attempt.target.kind === 'gateway')
    return throughGateway(
      attempt.target,
      find(attempt.target.backend.namespace, attempt.target.backend.name),
      {
        trustDomain: scenario.trustDomain,
        kind: attempt.kind,
        evidence,
      },
    );
  const dst =
    'to' in attempt ? attempt.to : attempt.target.kind === 'pod-ip' ? attempt.target.workload : undefined;
  if (!dst) return undefined;
  const destination = find(dst.namespace, dst.name);
  if (source?.dataplane === 'ambient' || destination?.dataplane === 'ambient') return AMBIENT;
  if (!source?.sidecar || !destination?.sidecar)
    return {
      status: 'not-meshed',
      reason: `${source?.sidecar ? 'the destination' : 'the source'} has no sidecar`,
    };
  if (!('to' in attempt))
    return { status: 'not-meshed', reason: 'by pod IP the client sidecar sends plaintext (fact O5)' };
  if (attempt.kind === 'udp') return { status: 'not-meshed', reason: 'sidecars do not intercept UDP' };
  const expected = `spiffe://${scenario.trustDomain}/ns/${source.namespace}/sa/${source.serviceAccount}`;
  return xfccProof(expected, attempt.kind, evidence, "the destination's sidecar", "the caller's");
}

const AMBIENT: Transit = {
  status: 'no-proof',
  reason:
    'ambient: the app gets no trustworthy x-forwarded-client-cert (a waypoint sanitizes it; ambient-cnp-facts A3.3), so the evidence cannot show the hop was mutual TLS',
};

/** The gateway's hop to the backend (see the header); the probe's hop to the gateway is outside the mesh. */
function throughGateway(
  target: { readonly gateway: WorkloadRef; readonly backend: WorkloadRef },
  backend: Scenario['workloads'][number] | undefined,
  props: {
    readonly trustDomain: string;
    readonly kind: Attempt['kind'];
    readonly evidence: Readonly<Record<string, unknown>> | undefined;
  },
): Transit {
  if (backend?.dataplane === 'ambient') return AMBIENT;
  if (!backend?.sidecar) return { status: 'not-meshed', reason: 'the backend has no sidecar' };
  const { namespace, name } = target.gateway;
  const expected = `spiffe://${props.trustDomain}/ns/${namespace}/sa/${gatewayDeploymentName(name)}`;
  return xfccProof(expected, props.kind, props.evidence, "the backend's sidecar", "the gateway's");
}

/** Whether the last XFCC element, the destination sidecar's, names `expected` (see the header). */
function xfccProof(
  expected: string,
  kind: Attempt['kind'],
  evidence: Readonly<Record<string, unknown>> | undefined,
  vouching: string,
  whose: string,
): Transit {
  const xfcc = headerValue(evidence);
  if (xfcc === undefined)
    return {
      status: 'no-proof',
      reason:
        kind === 'tcp'
          ? 'a TCP attempt gets no echo of the headers, so no x-forwarded-client-cert'
          : 'the app received no x-forwarded-client-cert: nothing shows the hop was mutual TLS',
    };
  const last = uriOf(xfccElements(xfcc).at(-1) ?? '');
  if (last === expected)
    return {
      status: 'mtls',
      identity: expected,
      reason: `${vouching} saw the client certificate ${expected}`,
    };
  return {
    status: 'no-proof',
    reason: `x-forwarded-client-cert ends with URI ${last ?? '(none)'}, not ${whose} ${expected}`,
  };
}
