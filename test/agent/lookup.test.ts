/**
 * The name step every dialling attempt starts with (harness/agent/lookup.ts): addresses pass
 * through, /etc/hosts names come from the file (read at the first name, not before), and a
 * Service name is asked of the resolver once per batch, then answered at once. DNS goes only to a
 * loopback server the test runs; the addresses it answers are never dialled.
 */
import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { batchLookup, hostPort, ipFamily } from '../../harness/agent/lookup.js';
import { startDnsServer, type RunningDns } from './support/dns-server.js';

describe('agent name lookup', function () {
  let dir: string;
  let dns: RunningDns;

  before(async function () {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-lookup-'));
    dns = await startDnsServer();
  });

  after(async function () {
    await dns.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('tells addresses from names as net.isIP does, without the IPv6 pattern for text without a colon', function () {
    expect(ipFamily('10.96.0.10')).to.equal(4);
    expect(ipFamily('fd00::10')).to.equal(6);
    expect(ipFamily('::ffff:10.0.0.1')).to.equal(6);
    for (const text of ['', 'echo.acme.svc.cluster.local', '10.96.0', '[::1]', 'fd00::zz'])
      expect(ipFamily(text), text).to.equal(0);
    expect(hostPort('fd00::10', 80)).to.equal('[fd00::10]:80');
    expect(hostPort('10.96.0.10', 80)).to.equal('10.96.0.10:80');
  });

  it('passes addresses through without reading the hosts file, which it reads at the first name', async function () {
    const hosts = path.join(dir, 'hosts');
    const lookup = batchLookup(hosts);
    // The file does not exist yet: an address must not need it.
    expect(lookup.now('10.0.0.7')).to.deep.equal({ address: '10.0.0.7', family: 4 });
    expect(await lookup('[fd00::7]', 1000)).to.deep.equal({ address: 'fd00::7', family: 6 });
    await writeFile(hosts, '# comment\n\nfd00::9 probe-0\n10.244.0.9 probe-0 Probe-0.acme\n');
    expect(lookup.now('PROBE-0')).to.deep.equal({ address: '10.244.0.9', family: 4 });
    expect(lookup.now('localhost')).to.deep.equal({ address: '127.0.0.1', family: 4 });
    expect(lookup.now('echo.acme.svc.cluster.local')).to.equal(undefined);
    lookup.close();
  });

  it('asks the resolver once per name per batch, and answers that name at once afterwards', async function () {
    const lookup = batchLookup(path.join(dir, 'absent'), [`127.0.0.1:${dns.port}`]);
    const asked = dns.questions.length;
    const [first, second] = await Promise.all([
      lookup('echo.acme.svc.cluster.local', 2000),
      lookup('echo.acme.svc.cluster.local', 2000),
    ]);
    expect(first).to.deep.equal({ address: '10.96.0.10', family: 4 });
    expect(second).to.deep.equal(first);
    expect(lookup.now('echo.acme.svc.cluster.local')).to.deep.equal(first);
    expect(dns.questions.slice(asked)).to.deep.equal(['A echo.acme.svc.cluster.local']);
    // A fresh batch asks again.
    const next = batchLookup(path.join(dir, 'absent'), [`127.0.0.1:${dns.port}`]);
    expect(next.now('echo.acme.svc.cluster.local')).to.equal(undefined);
    lookup.close();
    next.close();
  });

  it('a name that does not exist fails with the resolver code, and is not remembered as answered', async function () {
    const lookup = batchLookup(path.join(dir, 'absent'), [`127.0.0.1:${dns.port}`]);
    let code: unknown;
    try {
      await lookup('nope.acme.svc.cluster.local', 2000);
    } catch (error) {
      code = (error as { code?: unknown }).code;
    }
    expect(code).to.equal('ENOTFOUND');
    expect(lookup.now('nope.acme.svc.cluster.local')).to.equal(undefined);
    lookup.close();
  });
});
