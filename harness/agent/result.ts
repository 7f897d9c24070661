/**
 * The probe's output: one JSON object per attempt, written as a line the moment the attempt
 * ends. The outcome is the classification; the evidence is what it was decided from, so a
 * reader can check the decision without rerunning anything.
 */
import type { AttemptKind, Outcome } from '../scenario/outcomes.js';
import type { EchoView } from './echo.js';

/** How far an attempt got before it ended. */
export type Phase = 'lookup' | 'connect' | 'connected' | 'sent' | 'response' | 'done';

export interface Evidence {
  /** What was dialled or asked: `host:port`, a URL, or `TYPE name @server`. */
  readonly target?: string;
  /** The address the name resolved to. */
  readonly address?: string;
  readonly phase?: Phase;
  readonly elapsedMs: number;
  /** Time until the TCP connection was established, when it was. */
  readonly connectMs?: number;
  readonly status?: number;
  /** The `server` header and every `x-envoy-*` header: what tells an Envoy reply from the app's. */
  readonly headers?: Readonly<Record<string, string>>;
  /** The first bytes of the body (or of the bytes received, for tcp and udp). */
  readonly body?: string;
  readonly bodyBytes?: number;
  readonly bytesSent?: number;
  readonly errorCode?: string;
  readonly errorMessage?: string;
  /** The echo server's view of the request, when the app answered. */
  readonly echo?: EchoView;
  readonly dns?: {
    readonly server: string;
    readonly records?: readonly unknown[];
  };
  readonly api?: {
    readonly method: string;
    /** `mounted` or `no-token`; the token itself never appears anywhere in a result. */
    readonly token: 'mounted' | 'no-token';
    readonly tokenFile: string;
    /** How the API server's certificate was checked. */
    readonly tls: string;
    readonly statusReason?: string;
  };
  /** Why an attempt could not even be run (a malformed batch item). */
  readonly problem?: string;
}

export interface Verdict {
  readonly outcome: Outcome;
  /** One sentence: what was seen and why it means this outcome. */
  readonly reason: string;
}

export interface ProbeResult extends Verdict {
  readonly id: string;
  readonly kind: AttemptKind | 'unknown';
  readonly evidence: Evidence;
}

/** How many bytes of a body the evidence keeps. */
export const EVIDENCE_BODY_BYTES = 512;

/** The first bytes of a body as text, for evidence. */
export function bodyPrefix(body: Buffer): string {
  return body.subarray(0, EVIDENCE_BODY_BYTES).toString('utf8');
}

/** The headers that tell who answered: `server` and `x-envoy-*`. */
export function tellingHeaders(
  headers: Readonly<Record<string, string | readonly string[] | undefined>>,
): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (value === undefined || (lower !== 'server' && !lower.startsWith('x-envoy-'))) continue;
    picked[lower] = typeof value === 'string' ? value : value.join(', ');
  }
  return picked;
}

/** Replaces every occurrence of a secret in a result line; secrets never leave the pod. */
export function redact(line: string, secrets: Iterable<string>): string {
  let out = line;
  for (const secret of secrets) if (secret.length >= 8) out = out.split(secret).join('[redacted]');
  return out;
}

/** An error's code and message as evidence fields. */
export function errorEvidence(facts: {
  readonly code?: string;
  readonly message: string;
}): Pick<Evidence, 'errorCode' | 'errorMessage'> {
  return facts.code === undefined
    ? { errorMessage: facts.message }
    : { errorCode: facts.code, errorMessage: facts.message };
}
