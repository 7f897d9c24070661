/**
 * HTTP attempts through the real agent process against servers that answer as Envoy and the
 * echo app do. Each case is one fact of docs/behaviour.md §0.
 */
import { expect } from 'chai';
import type http from 'node:http';

import {
  resultFor,
  runProbe,
  startServe,
  type ProbeRun,
  type ServeProcess,
} from './support/agent-process.js';
import {
  acceptAndCloseServer,
  closedPort,
  ENVOY_RBAC_DENY,
  envoyUpstreamFailure,
  replyServer,
  silentServer,
  tlsOnlyServer,
  type Running,
} from './support/servers.js';

describe('agent probe: http', function () {
  let echo: ServeProcess;
  const servers: Running[] = [];
  const seenByRbac: http.IncomingHttpHeaders[] = [];
  let run: ProbeRun;
  const ports: Record<string, number> = {};

  before(async function () {
    this.timeout(20_000);
    echo = await startServe(['--port', '0'], { POD_NAME: 'frontend-7c9', POD_NAMESPACE: 'acme' });
    const add = async (name: string, server: Promise<Running>): Promise<void> => {
      const running = await server;
      servers.push(running);
      ports[name] = running.port;
    };
    await add(
      'rbac',
      replyServer(ENVOY_RBAC_DENY, (req) => seenByRbac.push(req.headers)),
    );
    await add(
      'rbacOutbound',
      replyServer({ ...ENVOY_RBAC_DENY, headers: { ...ENVOY_RBAC_DENY.headers, server: 'envoy' } }),
    );
    await add('rbacNotEnvoy', replyServer({ ...ENVOY_RBAC_DENY, headers: { server: 'nginx' } }));
    await add(
      'app403',
      replyServer({ status: 403, headers: { 'content-type': 'text/plain' }, body: 'forbidden by the app' }),
    );
    await add(
      'app403ViaSidecar',
      replyServer({
        status: 403,
        headers: { server: 'envoy', 'x-envoy-upstream-service-time': '3' },
        body: '{"error":"not your order"}',
      }),
    );
    await add('ufTimeout', replyServer(envoyUpstreamFailure('connection timeout')));
    await add('ufFailure', replyServer(envoyUpstreamFailure('connection failure', false)));
    await add(
      'ufRefused',
      replyServer(
        envoyUpstreamFailure(
          'remote connection failure, transport failure reason: delayed connect error: 111',
        ),
      ),
    );
    await add('ufTermination', replyServer(envoyUpstreamFailure('connection termination')));
    await add(
      'ufTls',
      replyServer(
        envoyUpstreamFailure(
          'remote connection failure, transport failure reason: TLS_error:|268435703:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER',
        ),
      ),
    );
    await add('ufOverflow', replyServer(envoyUpstreamFailure('overflow')));
    await add(
      'noHealthy',
      replyServer({
        status: 503,
        headers: { server: 'envoy', 'content-type': 'text/plain' },
        body: 'no healthy upstream',
      }),
    );
    await add('tlsOnly', tlsOnlyServer());
    await add('closes', acceptAndCloseServer());
    await add('silent', silentServer());
    ports.closed = await closedPort();

    const attempt = (id: string, port: number | undefined, extra: object = {}): object => ({
      id,
      kind: 'http',
      host: '127.0.0.1',
      port,
      timeoutMs: 1500,
      ...extra,
    });
    run = await runProbe([
      attempt('echo', echo.tcp[0], {
        http: {
          method: 'POST',
          path: '/orders',
          headers: { 'x-forwarded-client-cert': 'forged' },
          body: 'hi',
        },
      }),
      attempt('echo-403', echo.tcp[0], { http: { path: '/status/403' } }),
      attempt('rbac', ports.rbac),
      attempt('rbac-outbound', ports.rbacOutbound),
      attempt('rbac-not-envoy', ports.rbacNotEnvoy),
      attempt('app-403', ports.app403),
      attempt('app-403-via-sidecar', ports.app403ViaSidecar),
      attempt('uf-timeout', ports.ufTimeout),
      attempt('uf-failure', ports.ufFailure),
      attempt('uf-refused', ports.ufRefused),
      attempt('uf-termination', ports.ufTermination),
      attempt('uf-tls', ports.ufTls),
      attempt('uf-overflow', ports.ufOverflow),
      attempt('no-healthy', ports.noHealthy),
      attempt('tls-only', ports.tlsOnly),
      attempt('closes', ports.closes),
      attempt('closed', ports.closed),
      attempt('silent', ports.silent, { timeoutMs: 400 }),
    ]);
  });

  after(async function () {
    await echo.stop();
    await Promise.all(servers.map((s) => s.close()));
  });

  it('writes one result per attempt and exits 0', function () {
    expect(run.code).to.equal(0);
    expect(run.results).to.have.length(18);
  });

  it('echo: allowed, with the echo view of the request and the headers it received', function () {
    const r = resultFor(run, 'echo');
    expect(r.outcome).to.equal('allowed');
    expect(r.evidence.status).to.equal(200);
    expect(r.evidence.echo?.pod).to.equal('frontend-7c9');
    expect(r.evidence.echo?.namespace).to.equal('acme');
    expect(r.evidence.echo?.method).to.equal('POST');
    expect(r.evidence.echo?.path).to.equal('/orders');
    expect(r.evidence.echo?.bodyBytes).to.equal(2);
    expect(r.evidence.echo?.headers['x-forwarded-client-cert']).to.equal('forged');
    expect(r.evidence.echo?.headers['x-envoy-max-retries']).to.equal('0');
    expect(r.evidence.connectMs).to.be.a('number');
  });

  it('a 403 from the echo app itself is allowed (it reached the app), not denied-l7', function () {
    const r = resultFor(run, 'echo-403');
    expect(r.outcome).to.equal('allowed');
    expect(r.evidence.status).to.equal(403);
    expect(r.evidence.echo?.path).to.equal('/status/403');
  });

  it('O1: 403 "RBAC: access denied" from istio-envoy or envoy is denied-l7, with the evidence', function () {
    for (const id of ['rbac', 'rbac-outbound']) {
      const r = resultFor(run, id);
      expect(r.outcome, id).to.equal('denied-l7');
      expect(r.evidence.status).to.equal(403);
      expect(r.evidence.body).to.equal('RBAC: access denied');
      expect(r.evidence.headers?.server).to.match(/envoy/);
    }
  });

  it('sends x-envoy-max-retries: 0 on every HTTP attempt', function () {
    expect(seenByRbac).to.have.length(1);
    expect(seenByRbac[0]?.['x-envoy-max-retries']).to.equal('0');
  });

  it('an RBAC body from a server that is not Envoy is an error, not a deny', function () {
    expect(resultFor(run, 'rbac-not-envoy').outcome).to.equal('error');
  });

  it("a non-Envoy 403 (the app's own) is allowed, directly or through a sidecar", function () {
    for (const id of ['app-403', 'app-403-via-sidecar']) {
      const r = resultFor(run, id);
      expect(r.outcome, id).to.equal('allowed');
      expect(r.evidence.status).to.equal(403);
    }
    expect(resultFor(run, 'app-403-via-sidecar').evidence.headers).to.deep.equal({
      server: 'envoy',
      'x-envoy-upstream-service-time': '3',
    });
    expect(resultFor(run, 'app-403').evidence.body).to.equal('forbidden by the app');
  });

  it('O6: 503 upstream connect error with a connection timeout or failure is denied-l4', function () {
    for (const id of ['uf-timeout', 'uf-failure']) {
      const r = resultFor(run, id);
      expect(r.outcome, id).to.equal('denied-l4');
      expect(r.evidence.status).to.equal(503);
      expect(r.evidence.body).to.match(/^upstream connect error/);
    }
  });

  it('§A3: 503 with "delayed connect error: 111" is refused', function () {
    expect(resultFor(run, 'uf-refused').outcome).to.equal('refused');
  });

  it('503 whose upstream closed the connection or refused the TLS handshake is reset; unknown Envoy replies are errors', function () {
    expect(resultFor(run, 'uf-termination').outcome).to.equal('reset');
    expect(resultFor(run, 'uf-tls').outcome).to.equal('reset');
    expect(resultFor(run, 'uf-overflow').outcome).to.equal('error');
    const noHealthy = resultFor(run, 'no-healthy');
    expect(noHealthy.outcome).to.equal('error');
    expect(noHealthy.evidence.body).to.equal('no healthy upstream');
  });

  it('O4: a plaintext request to a TLS-only port is reset', function () {
    const r = resultFor(run, 'tls-only');
    expect(r.outcome).to.equal('reset');
    expect(r.evidence.errorCode).to.equal('ECONNRESET');
  });

  it('O5: a server that closes without a reply (empty reply) is reset', function () {
    const r = resultFor(run, 'closes');
    expect(r.outcome).to.equal('reset');
    expect(r.evidence.errorMessage).to.equal('socket hang up');
  });

  it('O9: a closed port is refused', function () {
    const r = resultFor(run, 'closed');
    expect(r.outcome).to.equal('refused');
    expect(r.evidence.errorCode).to.equal('ECONNREFUSED');
    expect(r.evidence.phase).to.equal('connect');
  });

  it('connected but no answer by the deadline is an error, never a deny', function () {
    const r = resultFor(run, 'silent');
    expect(r.outcome).to.equal('error');
    expect(r.evidence.phase).to.equal('sent');
    expect(r.evidence.elapsedMs).to.be.within(350, 1400);
  });

  it('opens a fresh connection for every attempt (no keep-alive pooling)', async function () {
    const counted = await replyServer({ status: 200, headers: {}, body: 'ok' });
    try {
      const batch = [1, 2, 3].map((n) => ({
        id: `c${n}`,
        kind: 'http',
        host: '127.0.0.1',
        port: counted.port,
      }));
      const again = await runProbe(batch, { args: ['--concurrency', '1'] });
      expect(again.results.map((r) => r.outcome)).to.deep.equal(['allowed', 'allowed', 'allowed']);
      expect(counted.connections()).to.equal(3);
    } finally {
      await counted.close();
    }
  });
});
