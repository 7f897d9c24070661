import { expect } from 'chai';

import { http, plan } from './support.js';

/** Tenants without sidecars: the network layer alone decides. */
const PLAIN = `  tenants:
    - name: a
      injection: false
      labels: { team: red }
      workloads:
        - { name: web, labels: { app: web, tier: front }, ports: [{ port: 8080, name: http }, { port: 5353, protocol: UDP, name: dns-ish }] }
        - { name: db, labels: { app: db }, ip: 192.168.1.20, ports: [{ port: 5432, name: pg }, 9000, 9001, 9100] }
    - name: b
      injection: false
      labels: { team: blue }
      workloads:
        - { name: web, labels: { app: web, tier: front }, ip: 192.168.2.10, ports: [{ port: 8080, name: http }] }
        - { name: api, labels: { app: api }, ports: [{ port: 8080, name: http }] }
`;

const ATTEMPTS =
  http('b-to-a', 'tenant-b/web', 'tenant-a/web') +
  http('a-to-a', 'tenant-a/db', 'tenant-a/web') +
  http('a-to-b', 'tenant-a/web', 'tenant-b/web') +
  http('bapi-to-a', 'tenant-b/api', 'tenant-a/web') +
  `- { id: b-pg, kind: tcp, from: tenant-b/web, to: tenant-a/db, port: pg }
- { id: b-9000, kind: tcp, from: tenant-b/web, to: tenant-a/db, port: 9000 }
- { id: b-9001, kind: tcp, from: tenant-b/web, to: tenant-a/db, port: 9001 }
- { id: b-9100, kind: tcp, from: tenant-b/web, to: tenant-a/db, port: 9100 }
- { id: b-udp, kind: udp, from: tenant-b/web, to: tenant-a/web, port: 5353 }
- { id: a-dns, kind: dns, from: tenant-a/web, query: { name: web.tenant-b.svc.cluster.local } }
- { id: a-api, kind: api, from: tenant-a/web, request: { verb: list, resource: pods, namespace: tenant-a } }
`;

const netpol = (name: string, ns: string, spec: string) =>
  `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: ${name}, namespace: ${ns} }\nspec:\n${spec
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n')}\n---\n`;

describe('model: Kubernetes NetworkPolicy', () => {
  it('allows everything when no policy selects a pod', async () => {
    const { p } = await plan('', ATTEMPTS, { topology: PLAIN });
    expect(p('b-to-a')).to.include({ outcome: 'allowed', layer: 'none' });
    expect(p('a-dns').outcome).to.equal('resolved');
    expect(p('a-api').outcome).to.equal('api-forbidden');
  });

  it('isolates the selected pods for ingress and names the policy and direction', async () => {
    const { p } = await plan(
      netpol('default-deny', 'tenant-a', 'podSelector: {}\npolicyTypes: [Ingress]'),
      ATTEMPTS,
      { topology: PLAIN },
    );
    const denied = p('b-to-a');
    expect(denied).to.include({ outcome: 'denied-l4', layer: 'network' });
    expect(denied.reasons.join('\n')).to.contain('tenant-a/default-deny (Ingress)');
    // Egress of tenant-a is not isolated by an Ingress-only policy.
    expect(p('a-to-b').outcome).to.equal('allowed');
    expect(p('a-dns').outcome).to.equal('resolved');
  });

  it('infers policyTypes: Ingress always, Egress only when egress rules exist', async () => {
    const onlyEgressRules = netpol(
      'eg',
      'tenant-a',
      'podSelector: {}\negress:\n  - to: [{ podSelector: {} }]',
    );
    const r = await plan(onlyEgressRules, ATTEMPTS, { topology: PLAIN });
    expect(r.p('b-to-a').outcome).to.equal('denied-l4'); // Ingress inferred, no ingress rules
    expect(r.p('a-to-b').outcome).to.equal('denied-l4'); // Egress inferred, only same-namespace
    expect(r.p('a-to-a').outcome).to.equal('denied-l4'); // ingress isolated, nothing allows

    const emptyEgress = netpol('eg', 'tenant-a', 'podSelector: {}\negress: []');
    const s = await plan(emptyEgress, ATTEMPTS, { topology: PLAIN });
    expect(s.p('a-to-b').outcome).to.equal('allowed'); // an empty egress list does not imply Egress
  });

  it('unions the allow rules of every policy that selects the pod', async () => {
    const policies =
      netpol('deny', 'tenant-a', 'podSelector: {}\npolicyTypes: [Ingress]') +
      netpol(
        'allow-b-web',
        'tenant-a',
        'podSelector: { matchLabels: { app: web } }\ningress:\n  - from: [{ namespaceSelector: { matchLabels: { team: blue } }, podSelector: { matchLabels: { app: web } } }]',
      );
    const { p } = await plan(policies, ATTEMPTS, { topology: PLAIN });
    expect(p('b-to-a').outcome).to.equal('allowed');
    expect(p('b-to-a').reasons.join('\n')).to.contain('tenant-a/allow-b-web (Ingress)');
    // namespaceSelector AND podSelector in one peer: b/api is in the namespace but not the pods.
    expect(p('bapi-to-a').outcome).to.equal('denied-l4');
  });

  it('treats namespaceSelector and podSelector as two peers (OR) when they are two list items', async () => {
    const policies = netpol(
      'two-peers',
      'tenant-a',
      'podSelector: {}\ningress:\n  - from:\n      - namespaceSelector: { matchLabels: { team: blue } }\n      - podSelector: { matchLabels: { app: nothing } }',
    );
    const { p } = await plan(policies, ATTEMPTS, { topology: PLAIN });
    expect(p('bapi-to-a').outcome).to.equal('allowed');
    expect(p('a-to-a').outcome).to.equal('denied-l4');
  });

  it('evaluates matchExpressions In, NotIn, Exists and DoesNotExist', async () => {
    const sel = (expr: string) =>
      netpol(
        'x',
        'tenant-a',
        `podSelector: {}\ningress:\n  - from: [{ namespaceSelector: {}, podSelector: { matchExpressions: [${expr}] } }]`,
      );
    const cases: [string, string, string][] = [
      ['{ key: app, operator: In, values: [web] }', 'allowed', 'denied-l4'],
      ['{ key: app, operator: NotIn, values: [web] }', 'denied-l4', 'allowed'],
      ['{ key: tier, operator: Exists }', 'allowed', 'denied-l4'],
      ['{ key: tier, operator: DoesNotExist }', 'denied-l4', 'allowed'],
    ];
    for (const [expr, web, api] of cases) {
      const { p } = await plan(sel(expr), ATTEMPTS, { topology: PLAIN });
      expect(p('b-to-a').outcome, expr).to.equal(web);
      expect(p('bapi-to-a').outcome, expr).to.equal(api);
    }
  });

  it('matches ipBlock with except against declared addresses, and says unknown without one', async () => {
    const block = (cidr: string, except = '') =>
      netpol(
        'ip',
        'tenant-a',
        `podSelector: {}\ningress:\n  - from: [{ ipBlock: { cidr: ${cidr}${except ? `, except: [${except}]` : ''} } }]`,
      );
    expect((await plan(block('192.168.2.0/24'), ATTEMPTS, { topology: PLAIN })).p('b-to-a').outcome).to.equal(
      'allowed',
    );
    expect(
      (await plan(block('192.168.2.0/24', '192.168.2.10/32'), ATTEMPTS, { topology: PLAIN })).p('b-to-a')
        .outcome,
    ).to.equal('denied-l4');
    expect((await plan(block('10.0.0.0/8'), ATTEMPTS, { topology: PLAIN })).p('b-to-a').outcome).to.equal(
      'denied-l4',
    );
    // b/api declares no ip: inside the pod network, but which address is unknown.
    const partial = (await plan(block('192.168.2.0/24'), ATTEMPTS, { topology: PLAIN })).p('bapi-to-a');
    expect(partial.outcome).to.equal('unknown');
    expect(partial.layer).to.equal('network');
    expect(partial.reasons.join('\n')).to.contain('tenant-a/ip (Ingress)');
    expect((await plan(block('0.0.0.0/0'), ATTEMPTS, { topology: PLAIN })).p('bapi-to-a').outcome).to.equal(
      'allowed',
    );
  });

  it('matches ports by number, name, protocol and endPort range', async () => {
    const ports = (spec: string) =>
      netpol('p', 'tenant-a', `podSelector: {}\ningress:\n  - ports: [${spec}]`);
    const named = (await plan(ports('{ port: pg }'), ATTEMPTS, { topology: PLAIN })).p;
    expect(named('b-pg').outcome).to.equal('allowed');
    expect(named('b-9000').outcome).to.equal('denied-l4');
    const range = (await plan(ports('{ port: 9000, endPort: 9001 }'), ATTEMPTS, { topology: PLAIN })).p;
    expect([range('b-9000').outcome, range('b-9001').outcome, range('b-9100').outcome]).to.deep.equal([
      'allowed',
      'allowed',
      'denied-l4',
    ]);
    const udp = (await plan(ports('{ port: 5353 }'), ATTEMPTS, { topology: PLAIN })).p;
    expect(udp('b-udp').outcome).to.equal('denied-l4'); // protocol defaults to TCP
    const udpOk = (await plan(ports('{ port: dns-ish, protocol: UDP }'), ATTEMPTS, { topology: PLAIN })).p;
    expect(udpOk('b-udp').outcome).to.equal('allowed');
    // A quoted number is a port name to the API, and names need a letter: rejected, so unknown.
    const quoted = (await plan(ports('{ port: "9000" }'), ATTEMPTS, { topology: PLAIN })).p;
    expect(quoted('b-9000').outcome).to.equal('unknown');
  });

  it('egress default-deny also blocks DNS and the API server unless allowed after DNAT', async () => {
    const deny = netpol('deny', 'tenant-a', 'podSelector: {}\npolicyTypes: [Egress]');
    const blocked = (await plan(deny, ATTEMPTS, { topology: PLAIN })).p;
    expect(blocked('a-dns')).to.include({ outcome: 'denied-l4', layer: 'network' });
    expect(blocked('a-api')).to.include({ outcome: 'denied-l4', layer: 'network' });

    const allow =
      deny +
      netpol(
        'dns-api',
        'tenant-a',
        'podSelector: {}\npolicyTypes: [Egress]\negress:\n  - to: [{ namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: kube-system } }, podSelector: { matchLabels: { k8s-app: kube-dns } } }]\n    ports: [{ protocol: UDP, port: 53 }]\n  - to: [{ ipBlock: { cidr: 10.96.0.1/32 } }]\n    ports: [{ protocol: TCP, port: 443 }]',
      );
    const article = (await plan(allow, ATTEMPTS, { topology: PLAIN })).p;
    expect(article('a-dns').outcome).to.equal('resolved');
    // The ClusterIP never matches: Calico sees the API server's node address and 6443.
    expect(article('a-api').outcome).to.equal('denied-l4');

    const node =
      deny +
      netpol(
        'api',
        'tenant-a',
        'podSelector: {}\npolicyTypes: [Egress]\negress:\n  - to: [{ ipBlock: { cidr: 172.18.0.0/16 } }]\n    ports: [{ port: 6443 }]',
      );
    expect((await plan(node, ATTEMPTS, { topology: PLAIN })).p('a-api').outcome).to.equal('api-forbidden');
  });

  it('says unknown for a field it does not know, naming it', async () => {
    const typo = netpol('typo', 'tenant-a', 'podSelecter: {}');
    const r = (await plan(typo, ATTEMPTS, { topology: PLAIN })).p('b-to-a');
    expect(r.outcome).to.equal('unknown');
    expect(r.reasons.join('\n')).to.match(/podSelecter/);
  });
});
