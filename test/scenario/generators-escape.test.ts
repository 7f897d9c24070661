import { expect } from 'chai';

import { formatProblem } from '../../harness/errors.js';
import { attemptTarget } from '../../harness/scenario/attempt-target.js';
import { formatExpectation } from '../../harness/scenario/outcomes.js';
import type { Attempt, Scenario } from '../../harness/scenario/types.js';
import { HEAD, load, problemsOf } from '../support/scenarios.js';

const TOPOLOGY = `${HEAD}  tenants:
    - name: acme
      workloads:
        - { name: api, ports: [{ port: 8080, name: http }, { port: 53, protocol: UDP }] }
    - name: globex
      workloads:
        - { name: web, ports: [9000] }
`;

const ids = (s: Scenario) => s.attempts.map((a) => a.id);
const byId = (s: Scenario, id: string): Attempt => {
  const a = s.attempts.find((x) => x.id === id);
  if (!a) throw new Error(`no attempt ${id}; have ${ids(s).join(', ')}`);
  return a;
};

describe('escape generators', () => {
  it('node: each probe to its own node on the kubelet and SSH ports, over TCP, expect denied', async () => {
    const s = await load(
      `${TOPOLOGY}  generators:\n    - { kind: node, from: [tenant-acme/probe-nosidecar] }\n`,
    );
    expect(ids(s)).to.deep.equal([
      'node:tenant-acme/probe-nosidecar->node:10250',
      'node:tenant-acme/probe-nosidecar->node:22',
    ]);
    const a = byId(s, 'node:tenant-acme/probe-nosidecar->node:10250');
    expect(a).to.deep.include({ kind: 'tcp', category: 'node', target: { kind: 'node' } });
    expect(formatExpectation(a.expect)).to.equal('denied');
    expect(attemptTarget(a)).to.equal('node:10250');
  });

  it("node: also other tenants' node ports, one attempt per TCP port of each NodePort workload", async () => {
    const s = await load(`${HEAD}  tenants:
    - name: acme
      workloads:
        - { name: api, nodePort: true, ports: [{ port: 8080, name: http }, 8443, { port: 53, protocol: UDP }] }
        - { name: internal, ports: [9000] }
    - name: globex
      workloads:
        - { name: web, nodePort: true, ports: [9000] }
  generators:
    - kind: node
      from: [tenant-globex/probe-nosidecar, tenant-acme/probe-nosidecar]
      ports: [10250]
      exclude: ['node:tenant-globex/probe-nosidecar->node-port:tenant-acme/api:8443']
    - { kind: node, from: [tenant-acme/probe], ports: [22], nodePorts: false, expect: allowed }
`);
    expect(ids(s)).to.deep.equal([
      'node:tenant-globex/probe-nosidecar->node:10250',
      'node:tenant-globex/probe-nosidecar->node-port:tenant-acme/api:8080',
      'node:tenant-acme/probe-nosidecar->node:10250',
      'node:tenant-acme/probe-nosidecar->node-port:tenant-globex/web:9000',
      'node:tenant-acme/probe->node:22',
    ]);
    const a = byId(s, 'node:tenant-globex/probe-nosidecar->node-port:tenant-acme/api:8080');
    expect(a).to.deep.include({
      kind: 'tcp',
      category: 'node',
      target: { kind: 'node-port', workload: { namespace: 'tenant-acme', name: 'api' } },
      port: { port: 8080, protocol: 'TCP', name: 'http' },
    });
    expect(formatExpectation(a.expect)).to.equal('denied');
    expect(attemptTarget(a)).to.equal('node-port(tenant-acme/api):8080');
    expect(formatExpectation(byId(s, 'node:tenant-acme/probe->node:22').expect)).to.equal('allowed');
    expect(s.workloads.find((w) => w.name === 'api')?.nodePort).to.equal(true);
    expect(s.workloads.find((w) => w.name === 'internal')).to.not.have.property('nodePort');
  });

  it('metadata: 169.254.169.254:80, and fd00:ec2::254 when asked for the IPv6 form', async () => {
    const s = await load(
      `${TOPOLOGY}  generators:\n    - { kind: metadata, from: [tenant-globex/probe], ipv6: true }\n`,
    );
    expect(ids(s)).to.deep.equal([
      'metadata:tenant-globex/probe->169.254.169.254:80',
      'metadata:tenant-globex/probe->[fd00:ec2::254]:80',
    ]);
    const v6 = byId(s, 'metadata:tenant-globex/probe->[fd00:ec2::254]:80');
    expect(v6).to.deep.include({
      kind: 'http',
      category: 'metadata',
      target: { kind: 'address', address: 'fd00:ec2::254' },
    });
    expect(v6.kind === 'http' && v6.http.path).to.equal('/latest/meta-data/');
  });

  it('egress: the internet by default, named addresses and CIDRs (dialled at their first host), exclude and expect', async () => {
    const s = await load(`${TOPOLOGY}  generators:
    - { kind: egress, from: [tenant-acme/probe] }
    - kind: egress
      from: [tenant-globex/probe-nosidecar]
      to: [203.0.113.0/24, 198.51.100.7, '2001:db8::/64']
      port: 443
      as: tcp
      exclude: ['egress:tenant-globex/probe-nosidecar->198.51.100.7:443']
      expect: [denied-l4]
`);
    expect(ids(s)).to.deep.equal([
      'egress:tenant-acme/probe->internet:80',
      'egress:tenant-globex/probe-nosidecar->203.0.113.0/24:443',
      'egress:tenant-globex/probe-nosidecar->2001:db8::/64:443',
    ]);
    expect(byId(s, 'egress:tenant-acme/probe->internet:80')).to.deep.include({
      target: { kind: 'internet' },
    });
    const cidr = byId(s, 'egress:tenant-globex/probe-nosidecar->203.0.113.0/24:443');
    expect(cidr).to.deep.include({
      kind: 'tcp',
      target: { kind: 'address', address: '203.0.113.1', cidr: '203.0.113.0/24' },
    });
    expect(formatExpectation(cidr.expect)).to.equal('denied-l4');
    const v6 = byId(s, 'egress:tenant-globex/probe-nosidecar->2001:db8::/64:443');
    expect('target' in v6 && v6.target).to.deep.equal({
      kind: 'address',
      address: '2001:db8:0:0:0:0:0:1',
      cidr: '2001:db8::/64',
    });
  });

  it('egress: a destination the hard-isolation allowEgress names is expected allowed on its ports', async () => {
    const s = await load(`${TOPOLOGY}  policies:
    - builtin: hard-isolation
      allowEgress: [{ cidr: 203.0.113.0/24, ports: [443] }]
  generators:
    - { kind: egress, from: [tenant-acme/probe-nosidecar], to: [203.0.113.0/24, 198.51.100.7], port: 443 }
    - { kind: egress, from: [tenant-acme/probe], to: [203.0.113.0/24], port: 80 }
`);
    const words = Object.fromEntries(s.attempts.map((a) => [a.id, formatExpectation(a.expect)]));
    expect(words).to.deep.equal({
      'egress:tenant-acme/probe-nosidecar->203.0.113.0/24:443': 'allowed',
      'egress:tenant-acme/probe-nosidecar->198.51.100.7:443': 'denied',
      'egress:tenant-acme/probe->203.0.113.0/24:80': 'denied',
    });
  });

  it('pod-ip: each source to every TCP port of other tenants by pod IP, expect denied', async () => {
    const s = await load(`${TOPOLOGY}  generators:\n    - { kind: pod-ip, from: [tenant-globex/probe] }\n`);
    expect(ids(s)).to.deep.equal(['pod-ip:tenant-globex/probe->tenant-acme/api:8080']);
    const a = byId(s, 'pod-ip:tenant-globex/probe->tenant-acme/api:8080');
    expect(a).to.deep.include({
      kind: 'http',
      category: 'pod-ip',
      target: { kind: 'pod-ip', workload: { namespace: 'tenant-acme', name: 'api' } },
      port: { port: 8080, protocol: 'TCP', name: 'http' },
    });
    expect(attemptTarget(a)).to.equal('pod-ip(tenant-acme/api):8080');
  });

  it('counts escape attempts toward the scenario cap', async () => {
    const problems = await problemsOf(
      `${TOPOLOGY}  generators:\n    - { kind: node, ports: [${Array.from({ length: 6000 }, (_, i) => i + 1).join(', ')}] }\n`,
    );
    expect(problems.map(formatProblem).join('\n')).to.match(/node 24,000/);
  });
});

describe('attempts to addresses', () => {
  const attempts = (body: string) => `${TOPOLOGY}  attempts:\n${body}`;

  it('reads address, podIp, node and internet targets with their categories', async () => {
    const s = await load(
      attempts(`    - { id: a, kind: http, from: tenant-acme/probe, to: { address: 169.254.169.254 }, port: 80 }
    - { id: b, kind: tcp, from: tenant-acme/probe, to: { podIp: tenant-globex/web } }
    - { id: c, kind: tcp, from: tenant-acme/probe, to: { node: own }, port: 10250 }
    - { id: d, kind: http, from: tenant-acme/probe, to: { internet: true }, port: 443, category: egress }
    - { id: e, kind: udp, from: tenant-acme/probe, to: { address: 192.0.2.9 }, port: 53 }
`),
    );
    expect(s.attempts.map((a) => [a.id, a.category, attemptTarget(a)])).to.deep.equal([
      ['a', 'metadata', '169.254.169.254:80'],
      ['b', 'pod-ip', 'pod-ip(tenant-globex/web):9000'],
      ['c', 'node', 'node:10250'],
      ['d', 'egress', 'internet:443'],
      ['e', 'egress', '192.0.2.9:53'],
    ]);
    const e = byId(s, 'e');
    expect('port' in e && e.port).to.deep.equal({ port: 53, protocol: 'UDP' });
  });

  it('points at the field: a port name for an address, a bad address, a pod of no workload', async () => {
    const problems = await problemsOf(
      attempts(`    - { id: a, kind: http, from: tenant-acme/probe, to: { address: 169.254.169.254 } }
    - { id: b, kind: http, from: tenant-acme/probe, to: { node: own }, port: http }
    - { id: c, kind: tcp, from: tenant-acme/probe, to: { podIp: tenant-globex/nope } }
`),
    );
    const text = problems.map(formatProblem);
    expect(
      text.some((t) =>
        /:13:57: spec\.attempts\[0\]\.to: an attempt to 169\.254\.169\.254 needs a port number/.test(t),
      ),
      text.join('\n'),
    ).to.equal(true);
    expect(
      text.some((t) =>
        /spec\.attempts\[1\]\.port: an attempt to node needs a port number \(a port name/.test(t),
      ),
      text.join('\n'),
    ).to.equal(true);
    expect(
      text.some((t) =>
        /spec\.attempts\[2\]\.to\.podIp: names no workload of the scenario: 'tenant-globex\/nope'/.test(t),
      ),
      text.join('\n'),
    ).to.equal(true);
    const bad = await problemsOf(
      attempts(
        `    - { id: a, kind: http, from: tenant-acme/probe, to: { address: 300.1.1.1 }, port: 80 }\n`,
      ),
    );
    expect(bad.map(formatProblem).join('\n')).to.match(/spec\.attempts\[0\]\.to/);
  });

  it('reads a nodePort target: the Service port of a NodePort workload, and refuses the others', async () => {
    const topology = (extra = '') => `${HEAD}  tenants:
    - name: acme
      workloads:
        - { name: api, nodePort: true, ports: [8080] }
        - { name: web, ports: [9000] }${extra}
  attempts:
`;
    const s = await load(
      `${topology()}    - { id: a, kind: tcp, from: tenant-acme/probe, to: { nodePort: tenant-acme/api } }
`,
    );
    expect(s.attempts.map((a) => [a.id, a.category, attemptTarget(a)])).to.deep.equal([
      ['a', 'node', 'node-port(tenant-acme/api):8080'],
    ]);
    const problems = (
      await problemsOf(`${topology('\n        - { name: idle, nodePort: true }')}    - { id: b, kind: tcp, from: tenant-acme/probe, to: { nodePort: tenant-acme/web } }
    - { id: c, kind: tcp, from: tenant-acme/probe, to: { nodePort: tenant-acme/api }, port: 9999 }
`)
    ).map(formatProblem);
    const all = problems.join('\n');
    expect(all).to.match(
      /workloads\[2\]\.nodePort: a workload without ports has no Service to expose on node ports/,
    );
    expect(all).to.match(
      /spec\.attempts\[0\]\.to\.nodePort: 'tenant-acme\/web' has no NodePort Service; set nodePort: true on the workload/,
    );
    expect(all).to.match(
      /spec\.attempts\[1\]\.port: 'tenant-acme\/api' serves no port 9999, so its NodePort Service has none/,
    );
  });

  it('keeps allowEgress to the hard-isolation bundle', async () => {
    const problems = await problemsOf(
      `${TOPOLOGY}  policies:\n    - { builtin: article, allowEgress: [{ cidr: 203.0.113.0/24 }] }\n  generators:\n    - { kind: egress }\n`,
    );
    expect(problems.map(formatProblem).join('\n')).to.match(/allowEgress belongs to builtin: hard-isolation/);
  });
});
