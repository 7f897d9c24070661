/** `agent serve` as a process: the echo, readiness, identity, and a clean stop. */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';

import { AGENT_NODE, agentBundle, startServe, type ServeProcess } from './support/agent-process.js';

describe('agent serve', function () {
  let echo: ServeProcess;

  before(async function () {
    this.timeout(20_000);
    echo = await startServe(['--port', '0,0'], {
      POD_NAME: 'api-gateway-5d8',
      POD_NAMESPACE: 'tenant-acme',
      POD_SERVICE_ACCOUNT: 'api-gateway',
    });
  });

  after(async function () {
    await echo.stop();
  });

  it('listens on every port given, comma-separated or repeated', function () {
    expect(echo.tcp).to.have.length(2);
    expect(echo.tcp[0]).not.to.equal(echo.tcp[1]);
  });

  it('answers readiness on its own path', async function () {
    const response = await fetch(`http://127.0.0.1:${echo.tcp[0]}/readyz`);
    expect(response.status).to.equal(200);
    expect(await response.text()).to.equal('ok\n');
  });

  it('echoes identity, the port, and every header, repeated ones included, as received', async function () {
    // A raw request, so that header repetition and case reach the server untouched.
    const socket = net.connect(echo.tcp[1] ?? 0, '127.0.0.1');
    socket.end(
      'GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Forwarded-Client-Cert: By=spiffe://a\r\nx-tenant: acme\r\nx-tenant: globex\r\nConnection: close\r\n\r\n',
    );
    let raw = '';
    socket.setEncoding('utf8').on('data', (s: string) => (raw += s));
    await once(socket, 'end');
    const view = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
    expect(view).to.deep.include({
      agent: 'bulkhead-echo',
      pod: 'api-gateway-5d8',
      namespace: 'tenant-acme',
      serviceAccount: 'api-gateway',
      port: echo.tcp[1],
      method: 'GET',
      path: '/a?b=1',
    });
    expect(view.headers).to.deep.include({
      'x-forwarded-client-cert': 'By=spiffe://a',
      'x-tenant': ['acme', 'globex'],
    });
  });

  it('answers /status/<code> with that status and the echo, so an app-side refusal can be staged', async function () {
    const response = await fetch(`http://127.0.0.1:${echo.tcp[0]}/status/503`);
    expect(response.status).to.equal(503);
    expect(((await response.json()) as { path: string }).path).to.equal('/status/503');
  });

  it('stops on SIGTERM with exit 0, and rejects a bad port with exit 2 and the usage', async function () {
    const child = spawn(AGENT_NODE, [await agentBundle(), 'serve', '--port', '0'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    await once(child.stderr, 'data');
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).to.equal(0);

    const bad = spawn(AGENT_NODE, [await agentBundle(), 'serve', '--port', 'http'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    bad.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const [badCode] = (await once(bad, 'exit')) as [number | null];
    expect(badCode).to.equal(2);
    expect(stderr).to.match(/--port: "http" is not a port/);
    expect(stderr).to.match(/usage:/);
  });
});
