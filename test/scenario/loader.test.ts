import { expect } from 'chai';

import { loadScenarioFile } from '../../harness/scenario/loader.js';
import { formatExpectation } from '../../harness/scenario/outcomes.js';
import type { Attempt, Scenario } from '../../harness/scenario/types.js';
import { fixture } from '../support/scenarios.js';

function attempt<K extends Attempt['kind']>(s: Scenario, id: string, kind: K): Extract<Attempt, { kind: K }> {
  const found = s.attempts.find((a) => a.id === id);
  expect(found, `attempt ${id}`).to.not.equal(undefined);
  expect(found?.kind).to.equal(kind);
  return found as Extract<Attempt, { kind: K }>;
}

describe('scenario loader: every field of v1alpha1', () => {
  let s: Scenario;
  before(async () => {
    s = await loadScenarioFile(fixture('all-fields.yaml'));
  });

  it('reads metadata and the spec-level settings', () => {
    expect(s.name).to.equal('all-fields');
    expect(s.description).to.equal('every field once');
    expect(s.meshRootNamespace).to.equal('mesh-root');
    expect(s.trustDomain).to.equal('example.org');
    expect(s.clusterDomain).to.equal('k8s.local');
    expect(s.defaults.timeoutMs).to.equal(4000);
    expect(s.sha256).to.match(/^[0-9a-f]{64}$/);
  });

  it('expands tenants into namespaces with the tenant label, prefix and explicit name', () => {
    const red = s.namespaces.find((n) => n.name === 't-red');
    expect(red).to.deep.include({ tenant: 'red', injection: false });
    expect(red?.labels).to.deep.equal({ team: 'red-team', tenant: 'red' });
    const blue = s.namespaces.find((n) => n.name === 'blue-ns');
    expect(blue).to.deep.include({ tenant: 'blue', injection: true });
  });

  it('reads namespaces: labels, injection, tenant ownership (labelled) and shared ones', () => {
    expect(s.namespaces.find((n) => n.name === 'shared')?.injection).to.equal(true);
    expect(s.namespaces.find((n) => n.name === 'shared')?.tenant).to.equal(undefined);
    expect(s.namespaces.find((n) => n.name === 'shared')?.labels).to.deep.equal({ role: 'shared' });
    expect(s.namespaces.find((n) => n.name === 'green')?.labels).to.deep.equal({ tenant: 'green' });
    expect(s.namespaces.map((n) => n.name)).to.deep.equal(['t-red', 'blue-ns', 'shared', 'green']);
  });

  it('reads every workload field, with port shorthand and the sidecar override', () => {
    const web = s.workloads.find((w) => w.name === 'web');
    expect(web).to.deep.include({
      namespace: 't-red',
      serviceAccount: 'web-sa',
      sidecar: true,
      ip: '10.1.0.10',
      automountToken: false,
      probe: false,
    });
    expect(web?.labels).to.deep.equal({ app: 'web', tier: 'front' });
    expect(web?.ports).to.deep.equal([
      { port: 8080, protocol: 'TCP' },
      { port: 5353, protocol: 'UDP', name: 'dns-ish' },
    ]);
  });

  it('applies workload defaults: app label, default service account, sidecar from the namespace', () => {
    const api = s.workloads.find((w) => w.name === 'api');
    expect(api).to.deep.include({ serviceAccount: 'default', sidecar: false, automountToken: true });
    expect(api?.labels).to.deep.equal({ app: 'api' });
    expect(s.workloads.find((w) => w.name === 'collector')?.sidecar).to.equal(true);
  });

  it('adds a meshed and a sidecar-free probe per tenant unless probes: false', () => {
    expect(s.workloads.filter((w) => w.namespace === 't-red').map((w) => w.name)).to.deep.equal(['web']);
    const probes = s.workloads.filter((w) => w.namespace === 'blue-ns');
    expect(probes.map((w) => [w.name, w.sidecar, w.probe])).to.deep.equal([
      ['probe', true, true],
      ['probe-nosidecar', false, true],
    ]);
  });

  it('reads an http attempt with every field', () => {
    const a = attempt(s, 'http-full', 'http');
    if (!('to' in a)) throw new Error('a Service attempt');
    expect(a.from).to.deep.equal({ namespace: 'blue-ns', name: 'probe' });
    expect(a.to).to.deep.equal({ namespace: 'green', name: 'api' });
    expect(a.port).to.deep.equal({ port: 9090, protocol: 'TCP', name: 'http' });
    expect(a.http).to.deep.equal({
      method: 'POST',
      path: '/submit',
      headers: { 'x-tenant-id': 'blue' },
      body: 'hello',
    });
    expect(a.expect.outcomes).to.deep.equal(['denied-l7', 'reset']);
    expect(a.category).to.equal('header-spoof');
    expect(a.timeoutMs).to.equal(1500);
    expect(a.description).to.equal('forged header');
    expect(a.origin).to.include({ line: 52, path: 'spec.attempts[0]' });
  });

  it('reads tcp and udp payloads, the port by number and the only UDP port by default', () => {
    const tcp = attempt(s, 'tcp-send', 'tcp');
    expect(tcp.send).to.equal('ping');
    expect(tcp.port.port).to.equal(8080);
    expect(formatExpectation(tcp.expect)).to.equal('denied');
    expect(tcp.expect.outcomes).to.have.members(['denied-l7', 'denied-l4', 'reset', 'refused']);
    expect(tcp.timeoutMs).to.equal(4000);
    const udp = attempt(s, 'udp-send', 'udp');
    expect(udp.send).to.equal('hi');
    expect(udp.port).to.deep.equal({ port: 5353, protocol: 'UDP', name: 'dns-ish' });
  });

  it('reads dns and api attempts and infers their categories', () => {
    const dns = attempt(s, 'dns-ptr', 'dns');
    expect(dns.query).to.deep.equal({ name: '10.96.0.10', type: 'PTR' });
    expect(dns.dnsServer).to.equal('10.96.0.10:53');
    expect(dns.category).to.equal('dns-recon');
    const api = attempt(s, 'api-get', 'api');
    expect(api.request).to.deep.equal({
      verb: 'get',
      resource: 'configmaps',
      group: '',
      version: 'v1',
      namespace: 'green',
      name: 'cfg',
    });
    expect(api.category).to.equal('api-token');
    expect(api.from.name).to.equal('probe-nosidecar');
  });

  it('defaults expect to auto and infers shared-services for a shared target', () => {
    const a = attempt(s, 'auto-expect', 'http');
    expect(a.expect.auto).to.equal(true);
    expect(a.category).to.equal('shared-services');
    expect(a.http).to.deep.equal({ method: 'GET', path: '/', headers: {} });
  });

  it('expands generators with their options: from all, as tcp, expect, exclude, timeout', () => {
    const generated = s.attempts.filter((a) => a.id.startsWith('cross-tenant:'));
    // Sources: every workload of a tenant (web, api, blue's two probes); targets: other tenants' ports.
    expect(generated.map((a) => a.id)).to.deep.equal([
      'cross-tenant:t-red/web->green/api:9090',
      'cross-tenant:blue-ns/probe->t-red/web:8080',
      'cross-tenant:blue-ns/probe->t-red/web:5353',
      'cross-tenant:blue-ns/probe-nosidecar->t-red/web:8080',
      'cross-tenant:blue-ns/probe-nosidecar->t-red/web:5353',
      'cross-tenant:blue-ns/probe-nosidecar->green/api:9090',
      'cross-tenant:green/api->t-red/web:8080',
      'cross-tenant:green/api->t-red/web:5353',
    ]);
    const first = generated[0];
    expect(first?.kind).to.equal('tcp');
    expect(generated.find((a) => a.id.endsWith(':5353'))?.kind).to.equal('udp');
    expect(first?.timeoutMs).to.equal(2500);
    expect(first?.expect.outcomes).to.deep.equal(['denied-l4']);
    expect(first?.origin.generator).to.equal('spec.generators[0] (cross-tenant)');
    expect(s.generators.map((g) => [g.kind, g.count])).to.deep.equal([
      ['cross-tenant', 8],
      ['api-token', 2],
    ]);
  });

  it('expands api-token requests per victim namespace', () => {
    const ids = s.attempts.filter((a) => a.kind === 'api' && a.category === 'api-token').map((a) => a.id);
    expect(ids).to.include.members([
      'api-token:blue-ns/probe:list-secrets@t-red',
      'api-token:blue-ns/probe:list-secrets@green',
    ]);
  });

  it('reads policy sources in order: builtin, a multi-document file, inline YAML with scenario lines', () => {
    expect(s.policies.map((p) => p.kind)).to.deep.equal(['builtin', 'file', 'inline']);
    const [builtin, file, inline] = s.policies;
    expect(builtin).to.include({ kind: 'builtin', name: 'hard-isolation' });
    if (file?.kind !== 'file' || inline?.kind !== 'inline') throw new Error('unexpected policy kinds');
    expect(file.location).to.match(/policies\/extra\.yaml$/);
    expect(file.manifests.map((m) => [m.object.kind, m.line])).to.deep.equal([
      ['NetworkPolicy', 1],
      ['PeerAuthentication', 12],
    ]);
    expect(inline.manifests).to.have.length(1);
    expect(inline.manifests[0]?.object.kind).to.equal('NetworkPolicy');
    // The inline document starts on line 47 of the scenario file.
    expect(inline.manifests[0]?.line).to.equal(47);
    expect(inline.manifests[0]?.source.locate(['spec', 'policyTypes']).line).to.equal(50);
  });
});

describe('scenario loader: the shipped hard-isolation scenario', () => {
  let s: Scenario;
  before(async () => {
    s = await loadScenarioFile(new URL('../../scenarios/hard-isolation.yaml', import.meta.url).pathname);
  });

  it("has the article's topology", () => {
    expect(s.namespaces.map((n) => [n.name, n.tenant ?? null, n.injection])).to.deep.equal([
      ['tenant-acme', 'acme', true],
      ['tenant-globex', 'globex', true],
      ['tenant-initech', 'initech', true],
      ['shared-services', null, true],
    ]);
    const acme = s.workloads.filter((w) => w.namespace === 'tenant-acme');
    expect(acme.map((w) => `${w.name}:${w.serviceAccount}:${w.sidecar}`)).to.deep.equal([
      'api-gateway:api-gateway:true',
      'frontend-service:frontend-service:true',
      'admin-service:admin-service:true',
      'payment-service:payment-service:true',
      'probe:default:true',
      'probe-nosidecar:default:false',
    ]);
    expect(s.workloads.find((w) => w.name === 'log-collector')).to.deep.include({
      namespace: 'shared-services',
      serviceAccount: 'log-collector',
    });
    expect(s.policies).to.deep.equal([
      { kind: 'builtin', name: 'hard-isolation', origin: s.policies[0]?.origin },
    ]);
  });

  it("gives attempts a 15 s deadline by default, above Istio's 10 s upstream connect timeout", () => {
    expect(new Set(s.attempts.map((a) => a.timeoutMs))).to.deep.equal(new Set([15_000]));
  });

  it('covers every attempt category with unique ids', () => {
    const categories = new Set(s.attempts.map((a) => a.category));
    expect([...categories]).to.have.members([
      'cross-tenant',
      'intra-tenant',
      'header-spoof',
      'plaintext',
      'dns-recon',
      'api-token',
      'shared-services',
      'node',
      'metadata',
      'egress',
      'pod-ip',
    ]);
    expect(new Set(s.attempts.map((a) => a.id)).size).to.equal(s.attempts.length);
  });

  it('expects every cross-tenant attempt denied and expands deterministically', async () => {
    for (const a of s.attempts.filter((x) => x.category === 'cross-tenant')) {
      expect(formatExpectation(a.expect), a.id).to.equal('denied');
    }
    const again = await loadScenarioFile(
      new URL('../../scenarios/hard-isolation.yaml', import.meta.url).pathname,
    );
    expect(again.attempts.map((a) => a.id)).to.deep.equal(s.attempts.map((a) => a.id));
  });
});
