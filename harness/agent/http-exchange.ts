/**
 * One plain-HTTP request over a fresh TCP connection, reported as what happened rather than
 * thrown, as {@link exchange} does for TLS: the request's bytes written on connect, the response
 * read by harness/agent/http-wire.ts. The endings read as Node's client reported them, so the
 * classification is unchanged (nodejs/node v24 lib/_http_client.js socketOnEnd,
 * socketErrorListener, socketCloseListener):
 *
 * - the server closes before sending a byte: ECONNRESET "socket hang up" (the empty reply, O5);
 * - a socket error at any point, before or after the head: that error, as a failure;
 * - the connection closes mid-body: the answer, noted "body cut short".
 *
 * Unlike Node's client, a connection that closes mid-head is a malformed response
 * (`HPE_INVALID_EOF_STATE`, read as `error`), not an empty reply: bytes came back, so something
 * answered, and an unreadable answer must never read as a reset.
 */
import { net } from './builtins.js';
import { type Clock, errorFacts } from './clock.js';
import type { Answer, Failure } from './exchange.js';
import { requestBytes, ResponseReader, WireError } from './http-wire.js';
import type { Phase } from './result.js';

/** Enough of a body to hold an echo of a request with many headers. */
export const BODY_LIMIT = 64 * 1024;

export interface PlainRequest {
  readonly address: string;
  readonly family: 4 | 6;
  readonly port: number;
  readonly method: string;
  readonly path: string;
  /** Sent in this order, exactly as given. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Buffer;
  readonly timeoutMs: number;
  readonly clock: Clock;
}

export function plainExchange(req: PlainRequest): Promise<Answer | Failure> {
  // Thrown here, before any connection, as Node's client throws from http.request.
  const bytes = requestBytes(req.method, req.path, req.headers, req.body);
  return new Promise((resolve) => {
    let phase: Phase = 'connect';
    let connectMs: number | undefined;
    let settled = false;
    let received = 0;
    const reader = new ResponseReader(req.method === 'HEAD');
    const timing = (): { phase: Phase; connectMs?: number } =>
      connectMs === undefined ? { phase } : { phase, connectMs };
    const settle = (outcome: Answer | Failure): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const fail = (facts: { code?: string; message: string }, deadline: boolean): void => {
      settle({ type: 'failure', ...timing(), deadline, ...facts });
    };
    const answer = (note?: string): void => {
      settle({
        type: 'answer',
        ...timing(),
        status: reader.status ?? 0,
        headers: reader.headers,
        body: reader.body.length === 1 ? (reader.body[0] as Buffer) : Buffer.concat(reader.body),
        ...(note ? { note } : {}),
      });
    };
    const malformed = (error: unknown): void => {
      if (!(error instanceof WireError)) throw error;
      fail({ code: error.code, message: `malformed response: ${error.message}` }, false);
    };

    // A fresh connection per attempt, closed after it; nothing is pooled or reused here.
    // An ambient pod's ztunnel still carries it on a pooled HBONE connection (ambient-cnp-facts AO10);
    // why that cannot flatter a run's verdict: harness/report/html.ts hbonePoolingText.
    const socket = net().connect({ host: req.address, port: req.port, family: req.family });
    // Past the head, the same deadline ends the body instead: the status and headers are in hand.
    const timer = setTimeout(() => {
      if (reader.status === undefined) fail({ message: `deadline of ${req.timeoutMs} ms reached` }, true);
      else answer(`body still arriving at the ${req.timeoutMs} ms deadline`);
    }, req.clock.remaining(req.timeoutMs));
    socket.once('connect', () => {
      phase = 'connected';
      connectMs = req.clock.elapsed();
      socket.write(bytes, () => {
        if (phase === 'connected') phase = 'sent';
      });
    });
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      try {
        reader.push(chunk);
      } catch (error) {
        malformed(error);
        return;
      }
      if (reader.status === undefined) return;
      phase = reader.complete || reader.bodyBytes >= BODY_LIMIT ? 'done' : 'response';
      if (reader.complete) answer();
      else if (reader.bodyBytes >= BODY_LIMIT) answer(`body cut at ${BODY_LIMIT} bytes`);
    });
    socket.once('end', () => {
      if (received === 0) {
        fail({ code: 'ECONNRESET', message: 'socket hang up' }, false);
        return;
      }
      let whole: boolean;
      try {
        whole = reader.end();
      } catch (error) {
        malformed(error);
        return;
      }
      phase = 'done';
      answer(whole ? undefined : 'body cut short: the connection closed');
    });
    socket.on('error', (error) => {
      fail(errorFacts(error), false);
    });
  });
}
