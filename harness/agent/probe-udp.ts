/**
 * One UDP attempt: a datagram out, and a reply expected back (the fixture's UDP echo always
 * answers). The socket is connected, so an ICMP port-unreachable surfaces as ECONNREFUSED.
 */
import type { StreamItem } from './batch.js';
import { dgram } from './builtins.js';
import { classifyFailure } from './classify.js';
import { Clock, errorFacts } from './clock.js';
import { hostPort, type HostLookup } from './lookup.js';
import { isResult, resolveTarget } from './resolve-target.js';
import {
  bodyPrefix,
  errorEvidence,
  type Evidence,
  type Phase,
  type ProbeResult,
  type Verdict,
} from './result.js';

export const DEFAULT_UDP_PAYLOAD = 'bulkhead';

export async function probeUdp(item: StreamItem, lookupHost: HostLookup): Promise<ProbeResult> {
  const clock = new Clock();
  const target = hostPort(item.host, item.port);
  const resolved = await resolveTarget(item, target, lookupHost, clock);
  if (isResult(resolved)) return resolved;
  const payload = Buffer.from(item.send ?? DEFAULT_UDP_PAYLOAD, 'utf8');
  return new Promise((resolve) => {
    let phase: Phase = 'connect';
    let settled = false;
    const base = (): Evidence => ({ target, address: resolved.address, phase, elapsedMs: clock.elapsed() });
    const settle = (verdict: Verdict, evidence: Evidence): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.close();
      resolve({ id: item.id, kind: 'udp', ...verdict, evidence });
    };
    const socket = dgram().createSocket(resolved.family === 6 ? 'udp6' : 'udp4');
    const timer = setTimeout(() => {
      settle(
        {
          outcome: 'denied-l4',
          reason: `no reply within ${item.timeoutMs} ms: the datagram was dropped (UDP cannot tell a drop from a server that stays silent)`,
        },
        { ...base(), bytesSent: payload.length, errorMessage: `deadline of ${item.timeoutMs} ms reached` },
      );
    }, clock.remaining(item.timeoutMs));
    socket.on('message', (message) => {
      phase = 'done';
      settle(
        {
          outcome: 'allowed',
          reason: `the server replied with ${message.length} bytes: the datagram got through`,
        },
        { ...base(), bytesSent: payload.length, body: bodyPrefix(message), bodyBytes: message.length },
      );
    });
    socket.on('error', (error) => {
      const facts = errorFacts(error);
      settle(classifyFailure({ phase, deadline: false, timeoutMs: item.timeoutMs, ...facts }), {
        ...base(),
        ...errorEvidence(facts),
      });
    });
    socket.connect(item.port, resolved.address, () => {
      phase = 'sent';
      socket.send(payload);
    });
  });
}
