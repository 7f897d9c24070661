/**
 * Drops and rejects as the network does them: a veth pair between two network namespaces this
 * test creates, with nftables rules inside the destination namespace, and the client's resolver
 * (a CoreDNS-like server) in that namespace too. Needs root, `ip` and `nft`; skips with the
 * reason otherwise.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

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
const DROPPED_DNS = 5353;
const DNS_MAIN = fileURLToPath(new URL('./support/dns-server-main.ts', import.meta.url));

describe('agent probe: drops and rejects across network namespaces', function () {
  let pair: NetnsPair | undefined;
  let echo: ServeProcess | undefined;
  let dns: ChildProcess | undefined;
  let run: ProbeRun;

  before(async function () {
    this.timeout(20_000);
    const unavailable = await netnsUnavailable();
    if (unavailable) {
      process.stderr.write(`      skipped: ${unavailable}\n`);
      this.skip();
    }
    pair = await createNetnsPair('agent');
    const host = pair.serverAddress;
    await pair.nft(`
      table inet bulkhead_test {
        chain input {
          type filter hook input priority 0; policy accept;
          tcp dport ${DROPPED_TCP} drop
          tcp dport ${REJECTED_TCP} reject
          udp dport ${DROPPED_UDP} drop
          udp dport ${DROPPED_DNS} drop
        }
      }`);
    // The client's resolver is a DNS server in the other namespace, as CoreDNS is another pod.
    await pair.resolver(host, 5);
    const zone = {
      records: { 'echo.globex.svc.cluster.local': [{ type: 'A', address: host }] },
      silent: ['slow.globex.svc.cluster.local'],
    };
    dns = spawn(
      'ip',
      [
        'netns',
        'exec',
        pair.server,
        process.execPath,
        '--import',
        'tsx',
        DNS_MAIN,
        '53',
        JSON.stringify(zone),
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    await once(dns.stderr!, 'data');
    echo = await startServe(
      ['--port', '8080', '--udp-port', '8081'],
      { POD_NAME: 'echo-0', POD_NAMESPACE: 'globex' },
      pair.server,
    );
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
        attempt('http-by-name', 'http', 8080, { host: 'echo.globex.svc.cluster.local', timeoutMs: 3000 }),
        attempt('http-dropped', 'http', DROPPED_TCP),
        attempt('tcp-dropped', 'tcp', DROPPED_TCP),
        attempt('udp-dropped', 'udp', DROPPED_UDP),
        attempt('tcp-rejected', 'tcp', REJECTED_TCP),
        {
          id: 'dns-pod-resolver',
          kind: 'dns',
          query: { name: 'echo.globex.svc.cluster.local', type: 'A' },
          timeoutMs: 3000,
        },
        {
          id: 'dns-dropped',
          kind: 'dns',
          query: { name: 'echo.globex.svc.cluster.local', type: 'A' },
          dnsServer: `${host}:${DROPPED_DNS}`,
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
        attempt('nxdomain-name', 'http', 8080, {
          host: 'payments.initech.svc.cluster.local',
          timeoutMs: 3000,
        }),
        attempt('unanswered-name', 'http', 8080, { host: 'slow.globex.svc.cluster.local' }),
      ],
      { netns: pair.client },
    );
  });

  after(async function () {
    this.timeout(10_000);
    await echo?.stop();
    if (dns && dns.exitCode === null) {
      const exited = once(dns, 'exit');
      dns.kill('SIGTERM');
      await exited;
    }
    await pair?.remove();
  });

  it('reaches the echo server in the other namespace (the path works; only the rules drop)', function () {
    expect(resultFor(run, 'http-allowed').outcome).to.equal('allowed');
    expect(resultFor(run, 'http-allowed').evidence.echo?.pod).to.equal('echo-0');
    expect(resultFor(run, 'udp-allowed').outcome).to.equal('allowed');
  });

  it("dials a Service name through the pod's resolver, and sends it as the Host", function () {
    const r = resultFor(run, 'http-by-name');
    expect(r.outcome).to.equal('allowed');
    expect(r.evidence.address).to.equal(pair?.serverAddress);
    expect(r.evidence.echo?.headers.host).to.equal('echo.globex.svc.cluster.local:8080');
    const query = resultFor(run, 'dns-pod-resolver');
    expect(query.outcome).to.equal('resolved');
    expect(query.evidence.dns).to.deep.equal({ server: pair?.serverAddress, records: [pair?.serverAddress] });
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

  it('a target name that does not exist is an error, never a deny', function () {
    const r = resultFor(run, 'nxdomain-name');
    expect(r.outcome).to.equal('error');
    expect(r.evidence.phase).to.equal('lookup');
    expect(r.evidence.errorCode).to.equal('ENOTFOUND');
  });

  it('a name lookup that outlives the deadline is an error, and does not hold the probe open', function () {
    const r = resultFor(run, 'unanswered-name');
    expect(r.outcome).to.equal('error');
    expect(r.evidence.phase).to.equal('lookup');
    expect(r.evidence.elapsedMs).to.be.within(550, 1500);
    // The resolver would keep trying for seconds; the probe ends with its last attempt.
    expect(run.wallMs).to.be.below(3000);
  });
});
