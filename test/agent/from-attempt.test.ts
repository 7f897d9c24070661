/** Scenario attempts become batch items the agent accepts, dialling Service names. */
import { expect } from 'chai';
import { fileURLToPath } from 'node:url';

import { isInvalid, parseBatch } from '../../harness/agent/batch.js';
import { toBatchItem } from '../../harness/agent/from-attempt.js';
import { loadScenarioFile } from '../../harness/scenario/loader.js';
import type { Scenario } from '../../harness/scenario/types.js';

const SCENARIO = fileURLToPath(new URL('../../scenarios/hard-isolation.yaml', import.meta.url));

describe('agent: scenario attempts as batch items', function () {
  let scenario: Scenario;

  before(async function () {
    scenario = await loadScenarioFile(SCENARIO);
  });

  it('turns every attempt of the shipped scenario into an item the agent reads back unchanged', function () {
    const items = scenario.attempts.map((a) => toBatchItem(a, scenario));
    const batch = parseBatch(JSON.stringify(items));
    expect(batch.entries.filter(isInvalid)).to.deep.equal([]);
    expect(batch.entries).to.deep.equal(items);
  });

  it('dials the target Service by name, with the port, deadline and request of the attempt', function () {
    const attempt = scenario.attempts.find((a) => a.id === 'acme-frontend-reads-orders');
    expect(attempt).to.exist;
    expect(toBatchItem(attempt!, scenario)).to.deep.equal({
      id: 'acme-frontend-reads-orders',
      kind: 'http',
      timeoutMs: 15000,
      host: 'api-gateway.tenant-acme.svc.cluster.local',
      port: 8080,
      sidecar: true,
      http: { method: 'GET', path: '/api/v1/orders/42', headers: {} },
    });
  });

  it('marks items from ambient sources, read back unchanged, and leaves out-of-mesh ones unmarked', async function () {
    const { load, HEAD } = await import('../support/scenarios.js');
    const ambient = await load(
      `${HEAD}  tenants:\n    - { name: a, dataplane: ambient, workloads: [{ name: api, ports: [8080] }] }\n  generators: [{ kind: intra-tenant }]\n`,
    );
    const items = ambient.attempts.map((a) => toBatchItem(a, ambient));
    const byId = new Map(items.map((i) => [i.id, i]));
    expect(byId.get('intra-tenant:tenant-a/probe->tenant-a/api:8080')).to.include({
      ambient: true,
      sidecar: false,
    });
    expect(byId.get('intra-tenant:tenant-a/probe-nosidecar->tenant-a/api:8080')).to.not.have.property(
      'ambient',
    );
    expect(parseBatch(JSON.stringify(items)).entries).to.deep.equal(items);
  });

  it('marks items from sidecar-free probes, so a closed connection can count as Istio TCP RBAC', function () {
    const plaintext = scenario.attempts.filter((a) => a.category === 'plaintext');
    expect(plaintext).not.to.be.empty;
    for (const a of plaintext) expect(toBatchItem(a, scenario)).to.include({ sidecar: false });
  });

  it('carries dns queries and api requests as they are', function () {
    const dns = scenario.attempts.find((a) => a.kind === 'dns');
    const api = scenario.attempts.find((a) => a.kind === 'api');
    expect(dns && toBatchItem(dns, scenario)).to.deep.include({
      kind: 'dns',
      query: dns?.kind === 'dns' ? dns.query : undefined,
    });
    expect(api && toBatchItem(api, scenario)).to.deep.include({
      kind: 'api',
      request: api?.kind === 'api' ? api.request : undefined,
    });
  });
});
