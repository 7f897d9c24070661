import { expect } from 'chai';

import { formatProblem } from '../../harness/errors.js';
import { formatExpectation } from '../../harness/scenario/outcomes.js';
import type { Attempt, Scenario } from '../../harness/scenario/types.js';
import { HEAD, load } from '../support/scenarios.js';

/** Two tenants with one service each, a shared collector, and the default probes. */
const TOPOLOGY = `${HEAD}  trustDomain: td.local
  tenants:
    - name: acme
      workloads:
        - { name: api, serviceAccount: api-sa, ports: [{ port: 8080, name: http }, { port: 53, protocol: UDP }] }
    - name: globex
      workloads:
        - { name: web, ports: [9000] }
  namespaces:
    - { name: shared, injection: true }
  workloads:
    - { name: collector, namespace: shared, ports: [{ port: 8080, name: http }] }
  generators:
`;

async function generate(generators: string): Promise<Scenario> {
  return load(TOPOLOGY + generators);
}

const ids = (s: Scenario) => s.attempts.map((a) => a.id);
const byId = (s: Scenario, id: string): Attempt => {
  const a = s.attempts.find((x) => x.id === id);
  if (!a) throw new Error(`no attempt ${id}; have ${ids(s).join(', ')}`);
  return a;
};

describe('attempt generators', () => {
  it('cross-tenant: every probe to every port of other tenants, UDP ports as udp, expect denied', async () => {
    const s = await generate('    - kind: cross-tenant\n');
    expect(ids(s)).to.deep.equal([
      'cross-tenant:tenant-acme/probe->tenant-globex/web:9000',
      'cross-tenant:tenant-acme/probe-nosidecar->tenant-globex/web:9000',
      'cross-tenant:tenant-globex/probe->tenant-acme/api:8080',
      'cross-tenant:tenant-globex/probe->tenant-acme/api:53',
      'cross-tenant:tenant-globex/probe-nosidecar->tenant-acme/api:8080',
      'cross-tenant:tenant-globex/probe-nosidecar->tenant-acme/api:53',
    ]);
    expect(s.attempts.map((a) => a.kind)).to.deep.equal(['http', 'http', 'http', 'udp', 'http', 'udp']);
    for (const a of s.attempts) {
      expect(a.category).to.equal('cross-tenant');
      expect(formatExpectation(a.expect)).to.equal('denied');
    }
    const first = byId(s, 'cross-tenant:tenant-acme/probe->tenant-globex/web:9000');
    expect(first.kind === 'http' && first.http).to.deep.equal({ method: 'GET', path: '/', headers: {} });
  });

  it('intra-tenant: sources to their own tenant, never to themselves, expect allowed', async () => {
    const s = await generate('    - kind: intra-tenant\n      from: all\n');
    expect(ids(s)).to.deep.equal([
      'intra-tenant:tenant-acme/probe->tenant-acme/api:8080',
      'intra-tenant:tenant-acme/probe->tenant-acme/api:53',
      'intra-tenant:tenant-acme/probe-nosidecar->tenant-acme/api:8080',
      'intra-tenant:tenant-acme/probe-nosidecar->tenant-acme/api:53',
      'intra-tenant:tenant-globex/probe->tenant-globex/web:9000',
      'intra-tenant:tenant-globex/probe-nosidecar->tenant-globex/web:9000',
    ]);
    expect(s.attempts.every((a) => formatExpectation(a.expect) === 'allowed')).to.equal(true);
  });

  it('shared-services: tenant sources to shared TCP ports with templated requests', async () => {
    const s = await generate(
      "    - kind: shared-services\n      from: [tenant-acme/probe]\n      http: { method: POST, path: '/ingest/{sourceNamespace}/', headers: { x-tenant-id: '{source}' } }\n",
    );
    const a = byId(s, 'shared-services:tenant-acme/probe->shared/collector:8080');
    expect(a.kind === 'http' && a.http).to.deep.equal({
      method: 'POST',
      path: '/ingest/tenant-acme/',
      headers: { 'x-tenant-id': 'acme' },
    });
    expect(formatExpectation(a.expect)).to.equal('allowed');
    expect(s.attempts).to.have.length(1);
  });

  it('header-spoof: meshed sources claim every other tenant, with the trust domain filled in', async () => {
    const s = await generate('    - kind: header-spoof\n');
    expect(ids(s)).to.deep.equal([
      'header-spoof:tenant-acme/probe->shared/collector:8080:as-tenant-globex',
      'header-spoof:tenant-globex/probe->shared/collector:8080:as-tenant-acme',
    ]);
    const a = byId(s, 'header-spoof:tenant-acme/probe->shared/collector:8080:as-tenant-globex');
    expect(a.kind === 'http' && a.http.headers).to.deep.equal({
      'x-tenant-identity': 'td.local/ns/tenant-globex/sa/default',
      'x-tenant-id': 'globex',
    });
    expect(a.category).to.equal('header-spoof');
    expect(formatExpectation(a.expect)).to.equal('denied');
  });

  it('plaintext: only sidecar-free sources, to meshed TCP ports of the same tenant, expect reset', async () => {
    const s = await generate('    - kind: plaintext\n');
    expect(ids(s)).to.deep.equal([
      'plaintext:tenant-acme/probe-nosidecar->tenant-acme/api:8080',
      'plaintext:tenant-globex/probe-nosidecar->tenant-globex/web:9000',
    ]);
    expect(formatExpectation(byId(s, ids(s)[0]!).expect)).to.equal('reset');
    const shared = await generate('    - kind: plaintext\n      to: shared\n');
    expect(ids(shared)).to.deep.equal([
      'plaintext:tenant-acme/probe-nosidecar->shared/collector:8080',
      'plaintext:tenant-globex/probe-nosidecar->shared/collector:8080',
    ]);
  });

  it("dns-recon: A and SRV for other tenants' Services, plus an NXDOMAIN control per source", async () => {
    const s = await generate('    - kind: dns-recon\n      from: [tenant-globex/probe]\n');
    expect(ids(s)).to.deep.equal([
      'dns-recon:tenant-globex/probe:A:api.tenant-acme.svc.cluster.local',
      'dns-recon:tenant-globex/probe:SRV:_http._tcp.api.tenant-acme.svc.cluster.local',
      'dns-recon:tenant-globex/probe:A:bulkhead-no-such-service.tenant-globex.svc.cluster.local',
    ]);
    const expectations = s.attempts.map((a) => formatExpectation(a.expect));
    expect(expectations).to.deep.equal(['resolved', 'resolved', 'nxdomain']);
    const srv = s.attempts[1];
    expect(srv?.kind === 'dns' && srv.query).to.deep.equal({
      name: '_http._tcp.api.tenant-acme.svc.cluster.local',
      type: 'SRV',
    });
  });

  it('api-token: default requests per other tenant namespace and one cluster-scoped', async () => {
    const s = await generate('    - kind: api-token\n      from: [tenant-acme/probe]\n');
    expect(ids(s)).to.deep.equal([
      'api-token:tenant-acme/probe:list-secrets@tenant-globex',
      'api-token:tenant-acme/probe:list-pods@tenant-globex',
      'api-token:tenant-acme/probe:list-namespaces',
    ]);
    expect(s.attempts.every((a) => formatExpectation(a.expect) === 'api-forbidden')).to.equal(true);
    const a = s.attempts[2];
    expect(a?.kind === 'api' && a.request).to.deep.equal({
      verb: 'list',
      resource: 'namespaces',
      group: '',
      version: 'v1',
    });
  });

  it('exclude removes generated attempts; expect overrides the default', async () => {
    const s = await generate(
      "    - kind: cross-tenant\n      from: [tenant-acme/probe]\n      expect: denied-l4\n      exclude: ['cross-tenant:tenant-acme/probe->tenant-globex/web:9000']\n",
    );
    expect(s.attempts).to.have.length(0);
    expect(s.warnings.map(formatProblem)).to.deep.equal([
      '/virtual/scenario.yaml:18:7: spec.generators[0]: the cross-tenant generator produced no attempts for this topology',
    ]);
    const t = await generate(
      '    - kind: cross-tenant\n      from: [tenant-acme/probe]\n      expect: denied-l4\n',
    );
    expect(t.attempts[0]?.expect.outcomes).to.deep.equal(['denied-l4']);
  });

  it('warns about an exclusion that matches nothing', async () => {
    const s = await generate("    - kind: plaintext\n      exclude: ['plaintext:nothing']\n");
    expect(s.warnings[0]?.message).to.equal("'plaintext:nothing' is not an attempt this generator produces");
    expect(s.warnings[0]?.path).to.equal('spec.generators[0].exclude[0]');
  });

  it('refuses sources outside tenant namespaces', async () => {
    const error = await generate('    - kind: cross-tenant\n      from: [shared/collector]\n').catch(
      (e: unknown) => e,
    );
    expect(String(error)).to.contain("'shared/collector' is not in a tenant namespace");
  });
});
