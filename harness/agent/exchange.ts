/**
 * One HTTPS request over a fresh connection (the API probe's), reported as what happened rather
 * than thrown: either an answer (status, headers, the first bytes of the body) or a failure with
 * the phase it stopped in. Deciding what it means is the caller's job. Plain HTTP attempts, the
 * many, go over a bare socket instead (harness/agent/http-exchange.ts), with the same two shapes.
 */
import type * as https from 'node:https';

import { https as httpsModule } from './builtins.js';

import { Clock, errorFacts } from './clock.js';
import { BODY_LIMIT } from './http-exchange.js';
import type { Phase } from './result.js';

export interface ExchangeRequest {
  readonly options: https.RequestOptions;
  readonly body?: Buffer;
  readonly timeoutMs: number;
  readonly clock: Clock;
  /** Stop at the headers of a 2xx answer (a watch never ends); other answers are read in full. */
  readonly headersOnly?: boolean;
}

interface Timing {
  readonly phase: Phase;
  readonly connectMs?: number;
}

export interface Answer extends Timing {
  readonly type: 'answer';
  readonly status: number;
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  readonly body: Buffer;
  /** Why the body may be incomplete. */
  readonly note?: string;
}

export interface Failure extends Timing {
  readonly type: 'failure';
  readonly deadline: boolean;
  readonly code?: string;
  readonly message: string;
}

export function exchange(req: ExchangeRequest): Promise<Answer | Failure> {
  return new Promise((resolve) => {
    let phase: Phase = 'connect';
    let connectMs: number | undefined;
    let settled = false;
    const timing = (): Timing => (connectMs === undefined ? { phase } : { phase, connectMs });
    const settle = (outcome: Answer | Failure): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.destroy();
      resolve(outcome);
    };
    const fail = (facts: { code?: string; message: string }, deadline: boolean): void => {
      settle({ type: 'failure', ...timing(), deadline, ...facts });
    };

    // agent: false: a fresh connection per attempt, closed after it; nothing is pooled or reused here.
    // An ambient pod's ztunnel still carries it on a pooled HBONE connection (ambient-cnp-facts AO10);
    // why that cannot flatter a run's verdict: harness/report/html.ts hbonePoolingText.
    const options = { ...req.options, agent: false as const };
    const request = httpsModule().request(options);
    const timer = setTimeout(() => {
      fail({ message: `deadline of ${req.timeoutMs} ms reached` }, true);
    }, req.clock.remaining(req.timeoutMs));
    request.on('socket', (socket) => {
      // With TLS, 'secureConnect' would come later; the TCP connect is what tells a drop.
      socket.once('connect', () => {
        phase = 'connected';
        connectMs = req.clock.elapsed();
      });
    });
    request.on('finish', () => {
      if (phase === 'connected') phase = 'sent';
    });
    request.on('error', (error) => {
      fail(errorFacts(error), false);
    });
    request.on('response', (response) => {
      phase = 'response';
      const chunks: Buffer[] = [];
      let size = 0;
      const answer = (note?: string): void => {
        settle({
          type: 'answer',
          ...timing(),
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks),
          ...(note ? { note } : {}),
        });
      };
      const status = response.statusCode ?? 0;
      if (req.headersOnly && status >= 200 && status < 300) {
        answer('stopped after the headers');
        return;
      }
      // Past this point every ending is an answer: the status and headers are in hand.
      clearTimeout(timer);
      const rest = setTimeout(() => {
        answer(`body still arriving at the ${req.timeoutMs} ms deadline`);
      }, req.clock.remaining(req.timeoutMs));
      const done = (note?: string): void => {
        clearTimeout(rest);
        phase = 'done';
        answer(note);
      };
      response.on('data', (chunk: Buffer) => {
        if (size >= BODY_LIMIT) return;
        chunks.push(chunk);
        size += chunk.length;
        if (size >= BODY_LIMIT) done(`body cut at ${BODY_LIMIT} bytes`);
      });
      response.on('end', () => {
        done();
      });
      response.on('error', (error) => {
        done(`body cut short: ${errorFacts(error).message}`);
      });
      response.on('aborted', () => {
        done('body cut short: the connection closed');
      });
    });
    request.end(req.body);
  });
}
