/** dns attempts through the real agent process against a CoreDNS-like server on loopback (O10, O11, §A5). */
import { expect } from 'chai';

import { closedUdpPort } from './support/servers.js';
import { resultFor, runProbe, type ProbeRun } from './support/agent-process.js';
import { startDnsServer, type RunningDns } from './support/dns-server.js';

describe('agent probe: dns', function () {
  let dns: RunningDns;
  let run: ProbeRun;

  before(async function () {
    this.timeout(20_000);
    dns = await startDnsServer();
    const server = `127.0.0.1:${dns.port}`;
    const query = (id: string, name: string, type: string, extra: object = {}): object => ({
      id,
      kind: 'dns',
      query: { name, type },
      dnsServer: server,
      timeoutMs: 1500,
      ...extra,
    });
    const closed = await closedUdpPort();
    run = await runProbe([
      query('a', 'echo.acme.svc.cluster.local', 'A'),
      query('aaaa', 'echo.acme.svc.cluster.local', 'AAAA'),
      query('srv', '_http._tcp.echo.acme.svc.cluster.local', 'SRV'),
      query('ptr-ip', '10.96.0.10', 'PTR'),
      query('ptr-arpa', '10.0.96.10.in-addr.arpa', 'PTR'),
      query('nx', 'payments.initech.svc.cluster.local', 'A'),
      query('nodata', 'only-v4.acme.svc.cluster.local', 'AAAA'),
      query('refused', 'blocked.globex.svc.cluster.local', 'A'),
      query('dropped', 'dropped.globex.svc.cluster.local', 'A', { timeoutMs: 400 }),
      query('closed-port', 'echo.acme.svc.cluster.local', 'A', { dnsServer: `127.0.0.1:${closed}` }),
      query('bracketed', 'echo.acme.svc.cluster.local', 'A', { dnsServer: `[127.0.0.1]:${dns.port}` }),
    ]);
  });

  after(async function () {
    await dns.close();
  });

  it('A, AAAA, SRV and PTR answers are resolved, with the records as evidence', function () {
    expect(resultFor(run, 'a').outcome).to.equal('resolved');
    expect(resultFor(run, 'a').evidence.dns?.records).to.deep.equal(['10.96.0.10']);
    expect(resultFor(run, 'aaaa').evidence.dns?.records).to.deep.equal(['fd00::10']);
    expect(resultFor(run, 'srv').evidence.dns?.records).to.deep.equal([
      { name: 'echo.acme.svc.cluster.local', port: 8080, priority: 0, weight: 100 },
    ]);
    for (const id of ['ptr-ip', 'ptr-arpa']) {
      expect(resultFor(run, id).outcome, id).to.equal('resolved');
      expect(resultFor(run, id).evidence.dns?.records, id).to.deep.equal(['echo.acme.svc.cluster.local']);
    }
    expect(resultFor(run, 'a').evidence.dns?.server).to.equal(`127.0.0.1:${dns.port}`);
  });

  it('asks exactly the question given', function () {
    expect(dns.questions).to.include.members([
      'A echo.acme.svc.cluster.local',
      'SRV _http._tcp.echo.acme.svc.cluster.local',
      'PTR 10.0.96.10.in-addr.arpa',
    ]);
  });

  it('O10: NXDOMAIN is nxdomain; NOERROR without records of the type is nxdomain too, noted', function () {
    expect(resultFor(run, 'nx').outcome).to.equal('nxdomain');
    expect(resultFor(run, 'nx').evidence.errorCode).to.equal('ENOTFOUND');
    const nodata = resultFor(run, 'nodata');
    expect(nodata.outcome).to.equal('nxdomain');
    expect(nodata.reason).to.match(/NODATA/);
  });

  it('a REFUSED answer and a closed resolver port are refused', function () {
    expect(resultFor(run, 'refused').outcome).to.equal('refused');
    expect(resultFor(run, 'closed-port').outcome).to.equal('refused');
  });

  it('a query that is never answered is denied-l4 at the deadline', function () {
    const r = resultFor(run, 'dropped');
    expect(r.outcome).to.equal('denied-l4');
    expect(r.evidence.elapsedMs).to.be.within(350, 1400);
  });

  it('takes the server as [address]:port too', function () {
    expect(resultFor(run, 'bracketed').outcome).to.equal('resolved');
  });
});
