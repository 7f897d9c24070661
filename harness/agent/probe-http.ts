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
import { plainExchange } from './http-exchange.js';
import { hostPort, type HostLookup } from './lookup.js';
import { isResult, resolveTarget } from './resolve-target.js';
import { bodyPrefix, errorEvidence, tellingHeaders, type ProbeResult } from './result.js';

/**
 * The methods Node's client sends without a length when no body is written (nodejs/node v24
 * lib/_http_client.js, useChunkedEncodingByDefault); any other gets `content-length: 0`.
 */
const NO_BODY_METHODS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);

export async function probeHttp(item: HttpItem, lookupHost: HostLookup): Promise<ProbeResult> {
  const clock = new Clock();
  const target = hostPort(item.host, item.port);
  const resolved = await resolveTarget(item, target, lookupHost, clock);
  if (isResult(resolved)) return resolved;
  const spec = item.http;
  const body = spec.body === undefined ? undefined : Buffer.from(spec.body, 'utf8');
  const result = await plainExchange({
    address: resolved.address,
    family: resolved.family,
    port: item.port,
    method: spec.method,
    path: spec.path,
    headers: {
      host: target,
      'x-envoy-max-retries': '0',
      connection: 'close',
      // As Node's client sends it: a method that may carry a body says it carries none.
      ...(body
        ? { 'content-length': String(body.length) }
        : NO_BODY_METHODS.has(spec.method)
          ? {}
          : { 'content-length': '0' }),
      ...spec.headers,
    },
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
