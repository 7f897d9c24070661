/** Scenario attempts become batch items the agent accepts, dialling Service names or read addresses. */
import { expect } from 'chai';
import { fileURLToPath } from 'node:url';

import { isInvalid, parseBatch } from '../../harness/agent/batch.js';
import { nodePortKey, toBatchItem, type RunAddresses } from '../../harness/agent/from-attempt.js';
import { loadScenarioFile } from '../../harness/scenario/loader.js';
import type { Scenario } from '../../harness/scenario/types.js';

const SCENARIO = fileURLToPath(new URL('../../scenarios/hard-isolation.yaml', import.meta.url));

describe('agent: scenario attempts as batch items', function () {
  let scenario: Scenario;

  before(async function () {
    scenario = await loadScenarioFile(SCENARIO);
  });

  /** As a run reads them from the pods: every workload on one node, pods on 10.244.0.x. */
  const addresses = (): RunAddresses => ({
    pods: new Map(
      scenario.workloads.map((w, i) => [
        `${w.namespace}/${w.name}`,
        { podIP: `10.244.0.${i + 2}`, hostIP: '172.18.0.2' },
      ]),
    ),
    nodePorts: new Map(
      scenario.workloads
        .filter((w) => w.nodePort)
        .flatMap((w, i) => w.ports.map((p) => [nodePortKey(w, p.port), 30100 + i] as const)),
    ),
  });

  it('turns every attempt of the shipped scenario into an item the agent reads back unchanged', function () {
    const withAddresses = { ...scenario, addresses: addresses() };
    const items = scenario.attempts.map((a) => toBatchItem(a, withAddresses));
    const batch = parseBatch(JSON.stringify(items));
    expect(batch.entries.filter(isInvalid)).to.deep.equal([]);
    expect(batch.entries).to.deep.equal(items);
  });

  it("dials a node port attempt at the source's node on the node port the run read, never without one", function () {
    const attempt = scenario.attempts.find(
      (a) => a.id === 'node:tenant-acme/probe-nosidecar->node-port:tenant-globex/api-gateway:8080',
    );
    expect(attempt).to.exist;
    const read = addresses();
    const port = read.nodePorts?.get('tenant-globex/api-gateway:8080');
    expect(port).to.be.a('number');
    expect(toBatchItem(attempt!, { ...scenario, addresses: read })).to.include({
      kind: 'tcp',
      host: '172.18.0.2',
      port,
    });
    const unread = toBatchItem(attempt!, { ...scenario, addresses: { ...read, nodePorts: new Map() } });
    const [entry] = parseBatch(JSON.stringify([unread])).entries;
    expect(entry && isInvalid(entry)).to.equal(true);
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

  it('dials the node, a pod and the metadata service by the addresses the run read', function () {
    const withAddresses = { ...scenario, addresses: addresses() };
    const host = (id: string) => {
      const a = scenario.attempts.find((x) => x.id === id);
      expect(a, id).to.exist;
      return toBatchItem(a!, withAddresses);
    };
    expect(host('node:tenant-acme/probe-nosidecar->node:10250')).to.include({
      kind: 'tcp',
      host: '172.18.0.2',
      port: 10250,
    });
    const index = scenario.workloads.findIndex(
      (w) => w.namespace === 'tenant-globex' && w.name === 'api-gateway',
    );
    expect(host('pod-ip:tenant-acme/probe->tenant-globex/api-gateway:8080')).to.include({
      host: `10.244.0.${index + 2}`,
      port: 8080,
      sidecar: true,
    });
    expect(host('metadata:tenant-acme/probe-nosidecar->169.254.169.254:80')).to.deep.include({
      host: '169.254.169.254',
      port: 80,
      http: { method: 'GET', path: '/latest/meta-data/', headers: {} },
    });
    expect(host('egress:tenant-acme/probe-nosidecar->internet:80')).to.include({ host: '1.1.1.1' });
  });

  it('leaves the host empty when the run has not read the address, which the agent answers as error', function () {
    const a = scenario.attempts.find((x) => x.id === 'node:tenant-acme/probe-nosidecar->node:22');
    const item = toBatchItem(a!, scenario);
    expect(item).to.include({ host: '' });
    const [entry] = parseBatch(JSON.stringify([item])).entries;
    expect(entry && isInvalid(entry)).to.equal(true);
  });
});
