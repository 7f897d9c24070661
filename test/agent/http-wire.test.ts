/**
 * The agent's own HTTP/1.1 reader (harness/agent/http-wire.ts) through the real agent process,
 * against loopback servers that write exact bytes: responses split anywhere, framed every way
 * RFC 9112 allows, and malformed ones. A response the agent cannot read exactly is `error` with
 * the fault named, never a deny.
 */
import { expect } from 'chai';

import {
  resultFor,
  runProbe,
  startServe,
  type ProbeRun,
  type ServeProcess,
} from './support/agent-process.js';
import { rawReplyServer, type Running } from './support/servers.js';

const RBAC = 'RBAC: access denied';

/** Each case: the bytes the server writes (one packet per part). */
const CASES: Readonly<Record<string, readonly string[]>> = {
  // Split inside the status line, inside a header name, and inside the blank line.
  split: [
    'HTTP/1.',
    '1 403 Forbidden\r\nser',
    'ver: istio-envoy\r\ncontent-length: 19\r\n\r',
    '\nRBAC: acc',
    'ess denied',
  ],
  chunked: [
    'HTTP/1.1 403 Forbidden\r\nserver: envoy\r\ntransfer-encoding: chunked\r\n\r\n',
    '5;ext=1\r\nRBAC:\r\n',
    'e\r\n access denied\r',
    '\n0\r\nx-trailer: 1\r\n\r\n',
  ],
  toClose: ['HTTP/1.1 403 Forbidden\r\nserver: envoy\r\n\r\n', 'RBAC: access', ' denied'],
  interim: [
    'HTTP/1.1 100 Continue\r\n\r\n',
    `HTTP/1.1 403 Forbidden\r\nserver: envoy\r\ncontent-length: 19\r\n\r\n${RBAC}`,
  ],
  repeated: [
    'HTTP/1.1 200 OK\r\nserver: envoy\r\nServer: nginx\r\nx-envoy-upstream-service-time: 3\r\n',
    'x-envoy-decorator-operation: a\r\nx-envoy-decorator-operation: b\r\ncontent-length: 2\r\n\r\nok',
  ],
  cutShort: ['HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n', 'only ten b'],
  midHeaders: ['HTTP/1.1 403 Forbidden\r\nserver: env'],
  oversized: [`HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(17 * 1024)}\r\n\r\n`],
  badStatus: ['HTTP/1.1 2x0 OK\r\ncontent-length: 0\r\n\r\n'],
  notHttp: ['SSH-2.0-OpenSSH_9.6\r\n\r\n'],
  spaceBeforeColon: ['HTTP/1.1 200 OK\r\nserver : envoy\r\ncontent-length: 0\r\n\r\n'],
  bareLf: ['HTTP/1.1 200 OK\nserver: envoy\ncontent-length: 0\n\n', '\r\n\r\n'],
  folded: ['HTTP/1.1 200 OK\r\nx-a: 1\r\n  continued\r\ncontent-length: 0\r\n\r\n'],
  controlChar: ['HTTP/1.1 200 OK\r\nx-a: a\x01b\r\ncontent-length: 0\r\n\r\n'],
  lengthAndChunked: [
    'HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  ],
  twoLengths: ['HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 2\r\n\r\nok'],
  badLength: ['HTTP/1.1 200 OK\r\ncontent-length: 2x\r\n\r\nok'],
  badChunk: ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n', 'zz\r\nhello\r\n0\r\n\r\n'],
  longChunk: ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n', '2\r\nhello\r\n0\r\n\r\n'],
};

describe('agent probe: reading HTTP/1.1 responses byte by byte', function () {
  const servers: Running[] = [];
  let echo: ServeProcess;
  let run: ProbeRun;

  before(async function () {
    this.timeout(20_000);
    const items: object[] = [];
    for (const [id, parts] of Object.entries(CASES)) {
      const server = await rawReplyServer(parts);
      servers.push(server);
      items.push({ id, kind: 'http', host: '127.0.0.1', port: server.port, timeoutMs: 3000 });
    }
    const resetMidBody = await rawReplyServer(
      ['HTTP/1.1 200 OK\r\nserver: envoy\r\ncontent-length: 100\r\n\r\n', 'part of it'],
      { reset: true },
    );
    servers.push(resetMidBody);
    items.push({
      id: 'resetMidBody',
      kind: 'http',
      host: '127.0.0.1',
      port: resetMidBody.port,
      timeoutMs: 3000,
    });
    const head = await rawReplyServer(['HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n']);
    servers.push(head);
    items.push({
      id: 'head',
      kind: 'http',
      host: '127.0.0.1',
      port: head.port,
      timeoutMs: 3000,
      http: { method: 'HEAD' },
    });
    items.push({
      id: 'crlf-in-header',
      kind: 'http',
      host: '127.0.0.1',
      port: head.port,
      http: { headers: { 'x-a': 'a\r\nx-injected: 1' } },
    });
    echo = await startServe(['--port', '0']);
    for (const method of ['GET', 'POST', 'DELETE', 'PATCH'])
      items.push({
        id: `echo-${method}`,
        kind: 'http',
        host: '127.0.0.1',
        port: echo.tcp[0],
        http: { method },
      });
    run = await runProbe(items);
  });

  after(async function () {
    await echo.stop();
    await Promise.all(servers.map((s) => s.close()));
  });

  it('reads a response split anywhere, even inside the blank line that ends its head', function () {
    const r = resultFor(run, 'split');
    expect(r.outcome).to.equal('denied-l7');
    expect(r.evidence.body).to.equal(RBAC);
    expect(r.evidence.headers).to.deep.equal({ server: 'istio-envoy' });
    expect(r.evidence.phase).to.equal('done');
  });

  it('de-chunks a chunked body (extensions, trailers, chunks split across packets) before classifying it', function () {
    const r = resultFor(run, 'chunked');
    expect(r.outcome).to.equal('denied-l7');
    expect(r.evidence.body).to.equal(RBAC);
    expect(r.evidence.bodyBytes).to.equal(RBAC.length);
  });

  it('reads a body with no length to the close', function () {
    const r = resultFor(run, 'toClose');
    expect(r.outcome).to.equal('denied-l7');
    expect(r.evidence.body).to.equal(RBAC);
  });

  it('skips an interim 100 Continue and reads the final answer', function () {
    const r = resultFor(run, 'interim');
    expect(r.outcome).to.equal('denied-l7');
    expect(r.evidence.status).to.equal(403);
  });

  it('keeps the first of repeated server headers and joins other repeats, as Node does', function () {
    const r = resultFor(run, 'repeated');
    expect(r.evidence.headers).to.deep.equal({
      server: 'envoy',
      'x-envoy-upstream-service-time': '3',
      'x-envoy-decorator-operation': 'a, b',
    });
    expect(r.outcome).to.equal('allowed');
  });

  it('a body cut short by the close is still the answer, noted', function () {
    const r = resultFor(run, 'cutShort');
    expect(r.outcome).to.equal('allowed');
    expect(r.evidence.body).to.equal('only ten b');
    expect(r.evidence.errorMessage).to.equal('body cut short: the connection closed');
  });

  it('a reset in the middle of the body is the reset, as Node reported it, even after the headers', function () {
    const r = resultFor(run, 'resetMidBody');
    expect(r.outcome).to.equal('reset');
    expect(r.evidence.errorCode).to.equal('ECONNRESET');
    expect(r.evidence.phase).to.equal('response');
  });

  it('a HEAD answer has no body whatever its length says, and ends at once', function () {
    const r = resultFor(run, 'head');
    expect(r.outcome).to.equal('allowed');
    expect(r.evidence.bodyBytes).to.equal(0);
    expect(r.evidence.phase).to.equal('done');
    expect(r.evidence.elapsedMs).to.be.below(2000);
  });

  const malformed: Readonly<Record<string, string>> = {
    midHeaders: 'HPE_INVALID_EOF_STATE',
    oversized: 'HPE_HEADER_OVERFLOW',
    badStatus: 'HPE_INVALID_STATUS',
    notHttp: 'HPE_INVALID_CONSTANT',
    spaceBeforeColon: 'HPE_INVALID_HEADER_TOKEN',
    bareLf: 'HPE_CR_EXPECTED',
    folded: 'HPE_INVALID_HEADER_TOKEN',
    controlChar: 'HPE_INVALID_HEADER_TOKEN',
    lengthAndChunked: 'HPE_INVALID_TRANSFER_ENCODING',
    twoLengths: 'HPE_UNEXPECTED_CONTENT_LENGTH',
    badLength: 'HPE_INVALID_CONTENT_LENGTH',
    badChunk: 'HPE_INVALID_CHUNK_SIZE',
    longChunk: 'HPE_STRICT',
  };
  for (const [id, code] of Object.entries(malformed))
    it(`a malformed response (${id}) is an error naming the fault (${code}), never a deny`, function () {
      const r = resultFor(run, id);
      expect(r.outcome).to.equal('error');
      expect(r.evidence.errorCode).to.equal(code);
      expect(r.evidence.errorMessage).to.match(/^malformed response: /);
      expect(r.reason).to.include(code);
    });

  it('a close in the middle of the head is not read as an empty reply (a reset)', function () {
    expect(resultFor(run, 'midHeaders').evidence.errorMessage).to.include('before the response');
  });

  it('sends the request as Node did: the batch headers, and a zero length for a bodiless POST or PATCH only', function () {
    const seen = (method: string) => resultFor(run, `echo-${method}`).evidence.echo?.headers;
    for (const method of ['GET', 'DELETE']) {
      expect(seen(method)?.['content-length'], method).to.equal(undefined);
      expect(seen(method)?.['x-envoy-max-retries'], method).to.equal('0');
      expect(seen(method)?.connection, method).to.equal('close');
    }
    for (const method of ['POST', 'PATCH']) expect(seen(method)?.['content-length'], method).to.equal('0');
    expect(resultFor(run, 'echo-GET').evidence.echo?.method).to.equal('GET');
  });

  it('refuses to send a header value with a line break, as Node does, as an error', function () {
    const r = resultFor(run, 'crlf-in-header');
    expect(r.outcome).to.equal('error');
    expect(r.evidence.errorCode).to.equal('ERR_INVALID_CHAR');
  });
});
