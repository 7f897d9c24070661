/**
 * Drops and rejects as the network does them: a veth pair between two network namespaces this
 * test creates, with nftables rules inside the destination namespace. Needs root, `ip` and
 * `nft`; skips with the reason otherwise.
 */
import { expect } from 'chai';

import {
  resultFor,
  runProbe,
  startServe,
  type ProbeRun,
  type ServeProcess,
} from './support/agent-process.js';
import { createNetnsPair, netnsUnavailable, type NetnsPair } from './support/netns.js';

const DROPPED_TCP = 7001;
const REJECTED_TCP = 7002;
const DROPPED_UDP = 7003;

describe('agent probe: drops and rejects across network namespaces', function () {
  let pair: NetnsPair | undefined;
  let echo: ServeProcess | undefined;
  let run: ProbeRun;

  before(async function () {
    this.timeout(20_000);
    const unavailable = await netnsUnavailable();
    if (unavailable) {
      process.stderr.write(`      skipped: ${unavailable}\n`);
      this.skip();
    }
    pair = await createNetnsPair('agent');
    await pair.nft(`
      table inet bulkhead_test {
        chain input {
          type filter hook input priority 0; policy accept;
          tcp dport ${DROPPED_TCP} drop
          tcp dport ${REJECTED_TCP} reject
          udp dport ${DROPPED_UDP} drop
          udp dport 53 drop
        }
      }`);
    // The client's resolver is its own loopback, where nothing answers: names cannot resolve.
    await pair.resolver('127.0.0.1');
    echo = await startServe(
      ['--port', '8080', '--udp-port', '8081'],
      { POD_NAME: 'echo-0', POD_NAMESPACE: 'globex' },
      pair.server,
    );
    const host = pair.serverAddress;
    const attempt = (id: string, kind: string, port: number, extra: object = {}): object => ({
      id,
      kind,
      host,
      port,
      timeoutMs: 600,
      ...extra,
    });
    run = await runProbe(
      [
        attempt('http-allowed', 'http', 8080, { timeoutMs: 3000 }),
        attempt('udp-allowed', 'udp', 8081, { timeoutMs: 3000 }),
        attempt('http-dropped', 'http', DROPPED_TCP),
        attempt('tcp-dropped', 'tcp', DROPPED_TCP),
        attempt('udp-dropped', 'udp', DROPPED_UDP),
        attempt('tcp-rejected', 'tcp', REJECTED_TCP),
        {
          id: 'dns-dropped',
          kind: 'dns',
          query: { name: 'echo.globex.svc.cluster.local', type: 'A' },
          dnsServer: `${host}:53`,
          timeoutMs: 600,
        },
        {
          id: 'api-dropped',
          kind: 'api',
          request: { verb: 'list', resource: 'secrets', namespace: 'globex' },
          apiServer: `https://${host}:${DROPPED_TCP}`,
          tokenFile: '/nonexistent/token',
          caFile: '/nonexistent/ca.crt',
          timeoutMs: 600,
        },
        {
          id: 'unresolvable',
          kind: 'http',
          host: 'payments.globex.svc.cluster.local',
          port: 8080,
          timeoutMs: 3000,
        },
      ],
      { netns: pair.client },
    );
  });

  after(async function () {
    this.timeout(10_000);
    await echo?.stop();
    await pair?.remove();
  });

  it('reaches the echo server in the other namespace (the path works; only the rules drop)', function () {
    expect(resultFor(run, 'http-allowed').outcome).to.equal('allowed');
    expect(resultFor(run, 'http-allowed').evidence.echo?.pod).to.equal('echo-0');
    expect(resultFor(run, 'udp-allowed').outcome).to.equal('allowed');
  });

  it('O8: a dropped SYN is denied-l4 at the deadline, for http, tcp and api attempts', function () {
    for (const id of ['http-dropped', 'tcp-dropped', 'api-dropped']) {
      const r = resultFor(run, id);
      expect(r.outcome, id).to.equal('denied-l4');
      expect(r.evidence.phase, id).to.equal('connect');
      expect(r.evidence.connectMs, id).to.equal(undefined);
      expect(r.evidence.elapsedMs, id).to.be.within(550, 1500);
    }
  });

  it('a dropped datagram and a dropped DNS query are denied-l4', function () {
    expect(resultFor(run, 'udp-dropped').outcome).to.equal('denied-l4');
    expect(resultFor(run, 'dns-dropped').outcome).to.equal('denied-l4');
  });

  it('O9: a REJECT rule is refused', function () {
    const r = resultFor(run, 'tcp-rejected');
    expect(r.outcome).to.equal('refused');
    expect(r.evidence.errorCode).to.equal('ECONNREFUSED');
  });

  it('a target name that does not resolve is an error, never a deny', function () {
    const r = resultFor(run, 'unresolvable');
    expect(r.outcome).to.equal('error');
    expect(r.evidence.phase).to.equal('lookup');
  });
});
