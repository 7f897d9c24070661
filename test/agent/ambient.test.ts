/**
 * Attempts from an ambient client through the real agent process, against loopback servers that
 * behave as the client's own ztunnel and a waypoint do (ambient-cnp-facts.md part 0): the connect
 * always succeeds, and what follows it tells the cause.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';

import { expect } from 'chai';

import { ZTUNNEL_CONNECT_TIMEOUT_MS } from '../../harness/agent/classify-ambient.js';
import { resultFor, runProbe, type ProbeRun } from './support/agent-process.js';
import {
  acceptAndCloseServer,
  closedPort,
  ENVOY_RBAC_DENY,
  envoyUpstreamFailure,
  replyServer,
  type Running,
} from './support/servers.js';

/** Accepts (the client's ztunnel listener), then resets `afterMs` after the request arrives. */
async function resetServer(afterMs: number): Promise<Running & { destroy(): void }> {
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('data', () => {
      const t = setTimeout(() => socket.resetAndDestroy(), afterMs);
      timers.add(t);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let connections = 0;
  server.on('connection', () => connections++);
  const destroy = () => {
    for (const t of timers) clearTimeout(t);
    for (const s of sockets) s.destroy();
  };
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    destroy,
    close: () =>
      new Promise<void>((resolve) => {
        destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}

describe('agent probe: an ambient client', function () {
  const servers: Running[] = [];
  let run: ProbeRun;

  before(async function () {
    this.timeout(40_000);
    const add = async (server: Promise<Running>): Promise<number> => {
      const running = await server;
      servers.push(running);
      return running.port;
    };
    const deny = await add(resetServer(0));
    const hbone = await add(resetServer(ZTUNNEL_CONNECT_TIMEOUT_MS));
    const between = await add(resetServer(2_000));
    const waypoint403 = await add(
      replyServer({ ...ENVOY_RBAC_DENY, headers: { ...ENVOY_RBAC_DENY.headers, server: 'istio-envoy' } }),
    );
    const app403 = await add(
      replyServer({
        status: 403,
        headers: { server: 'istio-envoy', 'x-envoy-upstream-service-time': '2' },
        body: '{"error":"not yours"}',
      }),
    );
    const waypoint503 = await add(replyServer(envoyUpstreamFailure('connection timeout')));
    const closes = await add(acceptAndCloseServer());
    const closed = await closedPort();
    const http = (id: string, port: number, extra: object = {}) => ({
      id,
      kind: 'http',
      host: '127.0.0.1',
      port,
      timeoutMs: 4_000,
      ambient: true,
      ...extra,
    });
    run = await runProbe([
      http('ztunnel-deny', deny),
      http('hbone-dropped', hbone, { timeoutMs: ZTUNNEL_CONNECT_TIMEOUT_MS + 15_000 }),
      http('reset-between', between),
      http('waypoint-403', waypoint403),
      http('app-403-via-waypoint', app403),
      http('waypoint-503', waypoint503),
      http('connect-refused', closed),
      { id: 'tcp-closed', kind: 'tcp', host: '127.0.0.1', port: closes, timeoutMs: 4_000, ambient: true },
      // The same reset seen by an out-of-mesh client: STRICT against plaintext (AO3).
      { id: 'out-of-mesh-reset', kind: 'http', host: '127.0.0.1', port: deny, timeoutMs: 4_000 },
      {
        id: 'both',
        kind: 'http',
        host: '127.0.0.1',
        port: deny,
        timeoutMs: 1_000,
        ambient: true,
        sidecar: true,
      },
    ]);
  });

  after(async function () {
    await Promise.all(servers.map((s) => s.close()));
  });

  it('AO1: a reset right after the request is a ztunnel refusal, reset', function () {
    const r = resultFor(run, 'ztunnel-deny');
    expect(r.outcome).to.equal('reset');
    expect(r.reason).to.contain('ztunnel refused it by policy or STRICT mTLS (facts AO1, AO3)');
  });

  it('AO5: a reset after ztunnel’s 10 s connect timeout is the network dropping HBONE, denied-l4', function () {
    const r = resultFor(run, 'hbone-dropped');
    expect(r.outcome).to.equal('denied-l4');
    expect(r.evidence.elapsedMs).to.be.at.least(ZTUNNEL_CONNECT_TIMEOUT_MS);
    expect(r.reason).to.contain('gave up its 10 s connect');
  });

  it('a reset between the two signatures is no fact’s: error', function () {
    const r = resultFor(run, 'reset-between');
    expect(r.outcome).to.equal('error');
    expect(r.reason).to.contain('neither an Istio refusal');
  });

  it('AO4: 403 "RBAC: access denied" through a waypoint is denied-l7, an app 403 with the same server is allowed', function () {
    expect(resultFor(run, 'waypoint-403').outcome).to.equal('denied-l7');
    expect(resultFor(run, 'waypoint-403').reason).to.contain('fact AO4');
    const app = resultFor(run, 'app-403-via-waypoint');
    expect(app.outcome).to.equal('allowed');
  });

  it('AO6: the waypoint’s 503 for a timed-out upstream connect is denied-l4', function () {
    expect(resultFor(run, 'waypoint-503').outcome).to.equal('denied-l4');
  });

  it('AO2: a refused connect cannot come from an ambient client’s own ztunnel: error, not a deny', function () {
    const r = resultFor(run, 'connect-refused');
    expect(r.outcome).to.equal('error');
    expect(r.reason).to.contain('not captured');
  });

  it('AO2: a tcp probe closed with no data right away is a ztunnel refusal', function () {
    expect(resultFor(run, 'tcp-closed').outcome).to.equal('reset');
  });

  it('AO3: an out-of-mesh client reads the same reset as strict mTLS, as before', function () {
    expect(resultFor(run, 'out-of-mesh-reset').outcome).to.equal('reset');
  });

  it('refuses an item that claims both a sidecar and ztunnel capture', function () {
    const r = resultFor(run, 'both');
    expect(r.outcome).to.equal('error');
    expect(r.reason).to.contain('never captured by ztunnel');
  });
});
