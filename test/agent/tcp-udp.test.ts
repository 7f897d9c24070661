/** tcp and udp attempts through the real agent process (docs/behaviour.md O3, O4, O7, O9). */
import { expect } from 'chai';

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
  closedUdpPort,
  ENVOY_RBAC_DENY,
  envoyUpstreamFailure,
  replyServer,
  silentServer,
  tlsOnlyServer,
  type Running,
} from './support/servers.js';

describe('agent probe: tcp and udp', function () {
  let echo: ServeProcess;
  const servers: Running[] = [];
  let closedUdp: number;
  let run: ProbeRun;

  before(async function () {
    this.timeout(20_000);
    echo = await startServe(['--port', '0', '--udp-port', '0'], {
      POD_NAME: 'ledger-0',
      POD_NAMESPACE: 'globex',
    });
    const [rbac, rbacChunked, uf, tlsOnly, closes, silent] = await Promise.all([
      replyServer(ENVOY_RBAC_DENY),
      replyServer(ENVOY_RBAC_DENY, undefined, { chunked: true }),
      replyServer(envoyUpstreamFailure('connection timeout')),
      tlsOnlyServer(),
      acceptAndCloseServer(),
      silentServer(),
    ]);
    servers.push(rbac, rbacChunked, uf, tlsOnly, closes, silent);
    closedUdp = await closedUdpPort();
    const tcp = (id: string, port: number | undefined, extra: object = {}): object => ({
      id,
      kind: 'tcp',
      host: '127.0.0.1',
      port,
      timeoutMs: 1500,
      ...extra,
    });
    run = await runProbe([
      tcp('echo', echo.tcp[0]),
      tcp('raw', echo.tcp[0], { send: 'PING\r\n' }),
      tcp('rbac-http-port', rbac.port),
      tcp('rbac-chunked', rbacChunked.port),
      tcp('uf', uf.port),
      tcp('tls-only', tlsOnly.port),
      tcp('closes', closes.port),
      tcp('closes-behind-sidecar', closes.port, { sidecar: true }),
      tcp('closed', await closedPort()),
      tcp('silent', silent.port, { timeoutMs: 400 }),
      { id: 'udp-echo', kind: 'udp', host: '127.0.0.1', port: echo.udp[0], timeoutMs: 1500 },
      { id: 'udp-closed', kind: 'udp', host: '127.0.0.1', port: closedUdp, timeoutMs: 1500 },
    ]);
  });

  after(async function () {
    await echo.stop();
    await Promise.all(servers.map((s) => s.close()));
  });

  it('tcp to the echo: sends a one-line HTTP request by default and sees the echo (allowed)', function () {
    const r = resultFor(run, 'echo');
    expect(r.outcome).to.equal('allowed');
    expect(r.evidence.echo?.namespace).to.equal('globex');
    expect(r.evidence.echo?.headers['x-envoy-max-retries']).to.equal('0');
    expect(r.evidence.body).to.match(/^HTTP\/1\.1 200/);
  });

  it('tcp with a payload of its own: any answer is allowed, with the first bytes as evidence', function () {
    const r = resultFor(run, 'raw');
    expect(r.outcome).to.equal('allowed');
    expect(r.evidence.body).to.match(/^HTTP\/1\.1 400/);
    expect(r.evidence.bytesSent).to.equal(6);
  });

  it("tcp to a port the mesh treats as HTTP: Envoy's replies classify as they do for http", function () {
    expect(resultFor(run, 'rbac-http-port').outcome).to.equal('denied-l7');
    expect(resultFor(run, 'rbac-chunked').outcome, 'a chunked body is read through').to.equal('denied-l7');
    expect(resultFor(run, 'uf').outcome).to.equal('denied-l4');
  });

  it('O4: a plaintext exchange with a TLS-only port is reset', function () {
    const r = resultFor(run, 'tls-only');
    expect(r.outcome).to.equal('reset');
    expect(r.evidence.errorCode).to.equal('ECONNRESET');
  });

  it('O3: connected, then closed with no data, from a pod without a sidecar, is denied-l7', function () {
    const r = resultFor(run, 'closes');
    expect(r.outcome).to.equal('denied-l7');
    expect(r.evidence.bodyBytes).to.equal(0);
  });

  it('O7: the same close behind the probe’s own sidecar cannot be told apart, so it is an error', function () {
    const r = resultFor(run, 'closes-behind-sidecar');
    expect(r.outcome).to.equal('error');
    expect(r.reason).to.match(/O7/);
  });

  it('O9: a closed port is refused', function () {
    expect(resultFor(run, 'closed').outcome).to.equal('refused');
  });

  it('connected with no answer by the deadline is an error, not a deny', function () {
    expect(resultFor(run, 'silent').outcome).to.equal('error');
  });

  it('udp to the echo: the reply names who answered (allowed)', function () {
    const r = resultFor(run, 'udp-echo');
    expect(r.outcome).to.equal('allowed');
    expect(r.evidence.body).to.contain('"pod":"ledger-0"');
  });

  it('udp to a closed port: the ICMP port-unreachable surfaces as refused', function () {
    const r = resultFor(run, 'udp-closed');
    expect(r.outcome).to.equal('refused');
    expect(r.evidence.errorCode).to.equal('ECONNREFUSED');
  });
});
