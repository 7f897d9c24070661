import { expect } from 'chai';

import { toBatchItem } from '../../harness/agent/from-attempt.js';
import { formatProblem } from '../../harness/errors.js';
import { attemptTarget } from '../../harness/scenario/attempt-target.js';
import { formatExpectation } from '../../harness/scenario/outcomes.js';
import type { Attempt, Scenario } from '../../harness/scenario/types.js';
import { HEAD, load, problemsOf } from '../support/scenarios.js';

const TOPOLOGY = `${HEAD}  namespaces:
    - { name: ingress }
  tenants:
    - name: acme
      workloads:
        - { name: api, ports: [{ port: 8080, name: http }] }
    - name: globex
      workloads:
        - { name: web, ports: [9000, { port: 53, protocol: UDP }] }
    - name: initech
      workloads:
        - { name: app, ports: [7000] }
  gateways:
    - name: public
      namespace: ingress
      routes:
        - { hostname: acme.example.com, backend: tenant-acme/api }
        - { hostname: globex.example.com, backend: tenant-globex/web }
`;

const ids = (s: Scenario) => s.attempts.map((a) => a.id);
const byId = (s: Scenario, id: string): Attempt => {
  const a = s.attempts.find((x) => x.id === id);
  if (!a) throw new Error(`no attempt ${id}; have ${ids(s).join(', ')}`);
  return a;
};

describe('spec.gateways and the gateway generator', () => {
  it("each routed tenant's out-of-mesh probe: its own host to its backend (allowed) and to the other tenant's (denied)", async () => {
    const s = await load(`${TOPOLOGY}  generators:\n    - { kind: gateway }\n`);
    expect(ids(s)).to.deep.equal([
      'gateway:tenant-acme/probe-nosidecar->ingress/public:acme.example.com',
      'gateway:tenant-acme/probe-nosidecar->ingress/public:acme.example.com/to/tenant-globex/web:9000',
      'gateway:tenant-globex/probe-nosidecar->ingress/public:globex.example.com',
      'gateway:tenant-globex/probe-nosidecar->ingress/public:globex.example.com/to/tenant-acme/api:8080',
    ]);
    const control = byId(s, 'gateway:tenant-acme/probe-nosidecar->ingress/public:acme.example.com');
    expect(formatExpectation(control.expect)).to.equal('allowed');
    const cross = byId(
      s,
      'gateway:tenant-acme/probe-nosidecar->ingress/public:acme.example.com/to/tenant-globex/web:9000',
    );
    expect(formatExpectation(cross.expect)).to.equal('denied');
    expect(cross).to.deep.include({
      kind: 'http',
      category: 'gateway',
      port: { port: 80, protocol: 'TCP' },
      target: {
        kind: 'gateway',
        gateway: { namespace: 'ingress', name: 'public' },
        hostname: 'acme.example.com',
        routeNamespace: 'tenant-acme',
        backend: { namespace: 'tenant-globex', name: 'web' },
        backendPort: 9000,
      },
      http: {
        method: 'GET',
        path: '/bulkhead-cross/tenant-globex/web/',
        headers: { host: 'acme.example.com' },
      },
    });
    expect(attemptTarget(cross)).to.equal('gateway(ingress/public:acme.example.com->tenant-globex/web):80');
    expect(s.gateways?.[0]?.routes.map((r) => [r.tenant, r.port.port])).to.deep.equal([
      ['acme', 8080],
      ['globex', 9000],
    ]);
  });

  it("dials the gateway's Service, <name>-istio, with the tenant's host as the Host header", async () => {
    const s = await load(`${TOPOLOGY}  generators:\n    - { kind: gateway, controls: false }\n`);
    const item = toBatchItem(s.attempts[0] as Attempt, s);
    expect(item).to.deep.include({ host: 'public-istio.ingress.svc.cluster.local', port: 80, gateway: true });
    expect(item).to.have.nested.property('http.headers.host', 'acme.example.com');
  });

  it('controls: false, exclude and expect shape the attempts as for every generator', async () => {
    const s = await load(`${TOPOLOGY}  generators:
    - kind: gateway
      controls: false
      expect: denied-l7
      exclude: ['gateway:tenant-globex/probe-nosidecar->ingress/public:globex.example.com/to/tenant-acme/api:8080']
`);
    expect(ids(s)).to.deep.equal([
      'gateway:tenant-acme/probe-nosidecar->ingress/public:acme.example.com/to/tenant-globex/web:9000',
    ]);
    expect(formatExpectation(s.attempts[0]?.expect ?? { words: [], outcomes: [], auto: true })).to.equal(
      'denied-l7',
    );
  });

  it('leaves out meshed sources and tenants with no route on the gateway', async () => {
    const s = await load(`${TOPOLOGY}  generators:
    - { kind: gateway, from: [tenant-acme/probe, tenant-initech/probe-nosidecar] }
`);
    expect(ids(s)).to.deep.equal([]);
    expect(s.warnings.map((w) => w.message)).to.include(
      'the gateway generator produced no attempts for this topology',
    );
  });

  it('refuses gateways and routes that name what the scenario does not have, with the line', async () => {
    const problems = await problemsOf(`${HEAD}  namespaces:
    - { name: ingress }
  tenants:
    - name: acme
      workloads:
        - { name: api, ports: [8080, 8443] }
  gateways:
    - name: public
      namespace: tenant-acme
      routes:
        - { hostname: acme.example.com, backend: tenant-acme/api }
    - name: other
      namespace: nowhere
      routes:
        - { hostname: a.example.com, backend: tenant-acme/nothing }
    - name: third
      namespace: ingress
      routes:
        - { hostname: b.example.com, backend: tenant-acme/api, port: 9999 }
        - { hostname: b.example.com, backend: tenant-acme/api, port: 8080 }
        - { hostname: c.example.com, backend: tenant-acme/api }
  generators:
    - { kind: gateway, gateways: [ingress/none] }
`);
    const shown = problems.map(formatProblem);
    expect(shown).to.deep.equal([
      "/virtual/scenario.yaml:13:18: spec.gateways[0].namespace: 'tenant-acme' belongs to tenant 'acme'; a gateway shared by tenants lives in a shared namespace",
      "/virtual/scenario.yaml:15:50: spec.gateways[0].routes[0].backend: 'tenant-acme/api' serves 2 TCP ports; name one with port",
      "/virtual/scenario.yaml:17:18: spec.gateways[1].namespace: 'nowhere' is not a namespace of the scenario (spec.namespaces)",
      "/virtual/scenario.yaml:19:47: spec.gateways[1].routes[0].backend: names no workload of the scenario: 'tenant-acme/nothing'",
      "/virtual/scenario.yaml:23:70: spec.gateways[2].routes[0].port: 'tenant-acme/api' serves no TCP port 9999",
      '/virtual/scenario.yaml:24:23: spec.gateways[2].routes[1].hostname: hostname b.example.com is already routed by routes[0]',
      "/virtual/scenario.yaml:25:47: spec.gateways[2].routes[2].backend: 'tenant-acme/api' serves 2 TCP ports; name one with port",
      "/virtual/scenario.yaml:27:35: spec.generators[0].gateways[0]: 'ingress/none' is not a gateway of spec.gateways",
    ]);
  });

  it('refuses a wildcard or dotless hostname in the schema', async () => {
    const problems = await problemsOf(TOPOLOGY.replace('acme.example.com', "'*.example.com'"));
    expect(problems.map((p) => p.message).join('\n')).to.match(/lower-case DNS name with at least one dot/);
  });
});
