/**
 * One TCP attempt: connect, send, and read what comes back. A connect alone proves nothing
 * behind a sidecar (docs/behaviour.md O7), so the attempt always exchanges bytes; by default it sends a
 * one-line HTTP request, because every fixture port runs the HTTP echo.
 */
import type { StreamItem } from './batch.js';
import { net } from './builtins.js';
import { classifyClosedWithoutData, classifyFailure, classifyHttpAnswer } from './classify.js';
import { classifyAmbientAnswer, classifyAmbientClosed, classifyAmbientFailure } from './classify-ambient.js';
import { Clock, errorFacts } from './clock.js';
import { readEcho } from './echo.js';
import { parseHttpResponse } from './http-text.js';
import { hostPort, type HostLookup, type Resolved } from './lookup.js';
import { isResult, resolveTarget } from './resolve-target.js';
import {
  bodyPrefix,
  errorEvidence,
  tellingHeaders,
  type Evidence,
  type Phase,
  type ProbeResult,
  type Verdict,
} from './result.js';

const RECEIVE_LIMIT = 64 * 1024;
/** After the first bytes, how long a quiet stream is given before the answer counts as complete. */
const SETTLE_MS = 150;

export async function probeTcp(item: StreamItem, lookupHost: HostLookup): Promise<ProbeResult> {
  const clock = new Clock();
  const target = hostPort(item.host, item.port);
  const resolved = await resolveTarget(item, target, lookupHost, clock);
  if (isResult(resolved)) return resolved;
  return exchange(item, resolved, clock, target);
}

/** What a tcp attempt sends when the batch gives nothing. */
export function defaultTcpPayload(target: string): string {
  return `GET / HTTP/1.1\r\nhost: ${target}\r\nx-envoy-max-retries: 0\r\nconnection: close\r\n\r\n`;
}

function exchange(item: StreamItem, resolved: Resolved, clock: Clock, target: string): Promise<ProbeResult> {
  const payload = Buffer.from(item.send ?? defaultTcpPayload(target), 'utf8');
  return new Promise((resolve) => {
    let phase: Phase = 'connect';
    let connectMs: number | undefined;
    let settled = false;
    let settleTimer: NodeJS.Timeout | undefined;
    const received: Buffer[] = [];
    let size = 0;
    const base = (): Evidence => ({
      target,
      address: resolved.address,
      phase,
      elapsedMs: clock.elapsed(),
      ...(connectMs === undefined ? {} : { connectMs }),
      bytesSent: phase === 'connect' ? 0 : payload.length,
    });
    const settle = (verdict: Verdict, evidence: Evidence): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(settleTimer);
      socket.destroy();
      resolve({ id: item.id, kind: item.kind, ...verdict, evidence });
    };
    const answered = (note?: string): void => {
      const bytes = Buffer.concat(received);
      const http = parseHttpResponse(bytes);
      const echo = http ? readEcho(http.body) : undefined;
      const verdict: Verdict = http
        ? (item.ambient ? classifyAmbientAnswer : classifyHttpAnswer)({ ...http, ...(echo ? { echo } : {}) })
        : {
            outcome: 'allowed',
            reason: `the server answered with ${bytes.length} bytes: the connection got through`,
          };
      settle(verdict, {
        ...base(),
        ...(http ? { status: http.status, headers: tellingHeaders(http.headers) } : {}),
        body: bodyPrefix(bytes),
        bodyBytes: bytes.length,
        ...(note ? { errorMessage: note } : {}),
        ...(echo ? { echo } : {}),
      });
    };

    const socket = net().connect({ host: resolved.address, port: item.port, family: resolved.family });
    const timer = setTimeout(() => {
      if (size > 0) {
        answered(`still open at the ${item.timeoutMs} ms deadline`);
        return;
      }
      const facts = { message: `deadline of ${item.timeoutMs} ms reached` };
      settle(classifyFailure({ phase, deadline: true, timeoutMs: item.timeoutMs, ...facts }), {
        ...base(),
        ...errorEvidence(facts),
      });
    }, clock.remaining(item.timeoutMs));
    socket.once('connect', () => {
      phase = 'connected';
      connectMs = clock.elapsed();
      socket.write(payload, () => {
        if (phase === 'connected') phase = 'sent';
      });
    });
    socket.on('data', (chunk: Buffer) => {
      phase = 'response';
      if (size < RECEIVE_LIMIT) {
        received.push(chunk);
        size += chunk.length;
      }
      clearTimeout(settleTimer);
      settleTimer = setTimeout(answered, size >= RECEIVE_LIMIT ? 0 : SETTLE_MS);
    });
    socket.once('end', () => {
      if (size > 0) {
        phase = 'done';
        answered();
        return;
      }
      settle(
        item.ambient ? classifyAmbientClosed(clock.elapsed()) : classifyClosedWithoutData(item.sidecar),
        {
          ...base(),
          bodyBytes: 0,
          errorMessage: 'closed (FIN) with no data',
        },
      );
    });
    socket.on('error', (error) => {
      const facts = errorFacts(error);
      if (size > 0) {
        answered(`then ${facts.code ?? facts.message}`);
        return;
      }
      const failure = { phase, deadline: false, timeoutMs: item.timeoutMs, ...facts };
      settle(item.ambient ? classifyAmbientFailure(failure, clock.elapsed()) : classifyFailure(failure), {
        ...base(),
        ...errorEvidence(facts),
      });
    });
  });
}
