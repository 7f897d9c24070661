/**
 * Typed errors of the kube layer: what failed (verb), on what (object), and what the API server
 * said (HTTP code, Status reason and message). A harness or environment fault, never a verdict.
 */
import { ApiException } from '@kubernetes/client-node';

export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  /** HTTP status code; 0 when no response came (connection refused, TLS failure, ...). */
  readonly code: number;
  /** The Status reason (NotFound, Forbidden, AlreadyExists, Invalid, ...), when the server sent one. */
  readonly reason: string | undefined;
  readonly verb: string;
  readonly target: string;

  constructor(props: {
    verb: string;
    target: string;
    code: number;
    reason?: string | undefined;
    detail: string;
  }) {
    super(
      `${props.verb} ${props.target}: ${props.code ? `${props.code} ${props.reason ?? ''}`.trim() + ': ' : ''}${props.detail}`,
    );
    this.verb = props.verb;
    this.target = props.target;
    this.code = props.code;
    this.reason = props.reason;
  }
}

/** Wraps whatever client-node threw into a {@link KubeApiError} naming the verb and the object. */
export function kubeError(error: unknown, verb: string, target: string): KubeApiError {
  if (error instanceof KubeApiError) return error;
  if (error instanceof ApiException) {
    const status = statusOf(error.body);
    return new KubeApiError({
      verb,
      target,
      code: error.code,
      reason: status?.reason,
      detail: status?.message ?? (typeof error.body === 'string' ? error.body.slice(0, 500) : error.message),
    });
  }
  const detail = error instanceof Error ? error.message : String(error);
  return new KubeApiError({ verb, target, code: 0, detail });
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
