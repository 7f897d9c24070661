/**
 * One HTTP attempt. Sends `x-envoy-max-retries: 0` so a sidecar does not retry a failed
 * upstream connect and multiply the wait (docs/behaviour.md O6), and reads enough of the body to recognise
 * Envoy's replies and the echo.
 */
import type { HttpItem } from './batch.js';
import { classifyFailure, classifyGatewayAnswer, classifyHttpAnswer } from './classify.js';
import { classifyAmbientAnswer, classifyAmbientFailure } from './classify-ambient.js';
import { Clock } from './clock.js';
import { readEcho } from './echo.js';
import { exchange } from './exchange.js';
import { hostPort, type HostLookup } from './lookup.js';
import { isResult, resolveTarget } from './resolve-target.js';
import { bodyPrefix, errorEvidence, tellingHeaders, type ProbeResult } from './result.js';

export async function probeHttp(item: HttpItem, lookupHost: HostLookup): Promise<ProbeResult> {
  const clock = new Clock();
  const target = hostPort(item.host, item.port);
  const resolved = await resolveTarget(item, target, lookupHost, clock);
  if (isResult(resolved)) return resolved;
  const spec = item.http;
  const body = spec.body === undefined ? undefined : Buffer.from(spec.body, 'utf8');
  const result = await exchange({
    options: {
      host: resolved.address,
      family: resolved.family,
      port: item.port,
      method: spec.method,
      path: spec.path,
      setHost: false,
      headers: {
        host: target,
        'x-envoy-max-retries': '0',
        connection: 'close',
        ...(body ? { 'content-length': String(body.length) } : {}),
        ...spec.headers,
      },
    },
    tls: false,
    ...(body ? { body } : {}),
    timeoutMs: item.timeoutMs,
    clock,
  });
  const timing = {
    target,
    address: resolved.address,
    phase: result.phase,
    elapsedMs: clock.elapsed(),
    ...(result.connectMs === undefined ? {} : { connectMs: result.connectMs }),
  };
  if (result.type === 'failure') {
    return {
      id: item.id,
      kind: 'http',
      ...(item.ambient
        ? classifyAmbientFailure({ ...result, timeoutMs: item.timeoutMs }, timing.elapsedMs)
        : classifyFailure({ ...result, timeoutMs: item.timeoutMs })),
      evidence: { ...timing, ...errorEvidence(result) },
    };
  }
  const text = result.body.toString('utf8');
  const echo = readEcho(text);
  return {
    id: item.id,
    kind: 'http',
    ...(item.ambient ? classifyAmbientAnswer : item.gateway ? classifyGatewayAnswer : classifyHttpAnswer)({
      status: result.status,
      headers: result.headers,
      body: text,
      ...(echo ? { echo } : {}),
    }),
    evidence: {
      ...timing,
      status: result.status,
      headers: tellingHeaders(result.headers),
      body: bodyPrefix(result.body),
      bodyBytes: result.body.length,
      ...(result.note ? { errorMessage: result.note } : {}),
      ...(echo ? { echo } : {}),
    },
  };
}
