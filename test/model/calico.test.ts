import { expect } from 'chai';

import { http, plan } from './support.js';

const PLAIN = `  tenants:
    - name: a
      injection: false
      workloads:
        - { name: web, labels: { app: web, tenant: a }, serviceAccount: web, ports: [{ port: 8080, name: http }] }
        - { name: ext, labels: { app: ext }, ip: 203.0.113.5, ports: [8443] }
    - name: b
      injection: false
      workloads:
        - { name: web, labels: { app: web, tenant: b }, serviceAccount: web, ports: [{ port: 8080, name: http }] }
`;

const ATTEMPTS =
  http('b-a', 'tenant-b/web', 'tenant-a/web') +
  http('a-a', 'tenant-a/probe-nosidecar', 'tenant-a/web') +
  http('a-b', 'tenant-a/web', 'tenant-b/web') +
  `- { id: b-ext, kind: tcp, from: tenant-b/web, to: tenant-a/ext, port: 8443 }
- { id: a-dns, kind: dns, from: tenant-a/web, query: { name: web.tenant-b.svc.cluster.local } }
`;

const k8sDefaultDeny = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: default-deny, namespace: tenant-a }
spec: { podSelector: {}, policyTypes: [Ingress] }
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: allow-same-ns, namespace: tenant-a }
spec: { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] }
---
`;

const tier = (name: string, order: number, extra = '') =>
  `apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: { name: ${name} }\nspec: { order: ${order}${extra} }\n---\n`;
const gnp = (name: string, spec: string, api = 'projectcalico.org/v3') =>
  `apiVersion: ${api}\nkind: GlobalNetworkPolicy\nmetadata: { name: ${name} }\nspec: ${spec}\n---\n`;
const cnp = (name: string, ns: string, spec: string) =>
  `apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: { name: ${name}, namespace: ${ns} }\nspec: ${spec}\n---\n`;

async function run(policies: string) {
  return (await plan(policies, ATTEMPTS, { topology: PLAIN })).p;
}

describe('model: Calico policies and tiers', () => {
  it('denies cross-tenant in an earlier tier and passes the rest to the Kubernetes policies', async () => {
    const policies =
      tier('isolation', 100) +
      gnp(
        'isolation.cross-tenant',
        '{ tier: isolation, order: 10, selector: has(tenant), types: [Ingress], ingress: [{ action: Deny, source: { selector: "has(tenant) && tenant != \'a\'", namespaceSelector: all() } }, { action: Pass }] }',
      ) +
      k8sDefaultDeny;
    const p = await run(policies);
    expect(p('b-a')).to.include({ outcome: 'denied-l4', layer: 'network' });
    expect(p('b-a').reasons.join('\n')).to.contain('GlobalNetworkPolicy isolation.cross-tenant (Ingress)');
    expect(p('a-a').outcome).to.equal('allowed');
    expect(p('a-a').reasons.join('\n')).to.contain('passes to the next tier');
  });

  it('drops at the end of a tier whose policies take no action (no Pass): DNS dies too', async () => {
    const policies =
      tier('isolation', 100) +
      gnp(
        'isolation.deny-only',
        '{ tier: isolation, selector: has(tenant), types: [Ingress, Egress], ingress: [{ action: Deny, source: { selector: "tenant == \'b\'" } }], egress: [{ action: Deny, destination: { selector: "tenant == \'b\'" } }] }',
      );
    const p = await run(policies);
    expect(p('a-a').outcome).to.equal('denied-l4');
    expect(p('a-a').reasons.join('\n')).to.contain('in tier isolation');
    expect(p('a-dns').outcome).to.equal('denied-l4');
  });

  it('honours a Tier whose defaultAction is Pass', async () => {
    const policies =
      tier('isolation', 100, ', defaultAction: Pass') +
      gnp(
        'isolation.deny-only',
        '{ tier: isolation, selector: has(tenant), ingress: [{ action: Deny, source: { selector: "tenant == \'b\'" } }] }',
      );
    const p = await run(policies);
    expect(p('a-a').outcome).to.equal('allowed');
    expect(p('b-a').outcome).to.equal('denied-l4');
  });

  it('lets a low-order Pass in the default tier bypass the Kubernetes NetworkPolicies (order 1000)', async () => {
    const policies =
      gnp('pass-all', '{ order: 100, selector: all(), types: [Ingress], ingress: [{ action: Pass }] }') +
      k8sDefaultDeny;
    expect((await run(policies))('b-a').outcome).to.equal('allowed');
    // Kubernetes policies only allow: what they do not allow falls through to later policies of
    // the tier, so even a later Pass rescues it from the end-of-tier drop; a later Deny does not.
    const later =
      gnp('pass-late', '{ order: 2000, selector: all(), types: [Ingress], ingress: [{ action: Pass }] }') +
      k8sDefaultDeny;
    expect((await run(later))('b-a').outcome).to.equal('allowed');
    const deny =
      gnp('deny-late', '{ order: 2000, selector: all(), types: [Ingress], ingress: [{ action: Deny }] }') +
      k8sDefaultDeny;
    expect((await run(deny))('b-a').outcome).to.equal('denied-l4');
    expect((await run(deny))('a-a').outcome).to.equal('allowed');
  });

  it('orders Calico policies around the Kubernetes ones by order', async () => {
    const allowFirst = cnp(
      'allow-b',
      'tenant-a',
      '{ order: 500, selector: all(), ingress: [{ action: Allow, source: { namespaceSelector: "projectcalico.org/name == \'tenant-b\'" } }] }',
    );
    expect((await run(allowFirst + k8sDefaultDeny))('b-a').outcome).to.equal('allowed');
    const denyFirst = cnp(
      'deny-same',
      'tenant-a',
      '{ order: 500, selector: all(), ingress: [{ action: Deny, source: { selector: all() } }] }',
    );
    expect((await run(denyFirst + k8sDefaultDeny))('a-a').outcome).to.equal('denied-l4');
  });

  it('scopes rule selectors: own namespace in a NetworkPolicy, every namespace in a global one', async () => {
    const ns = cnp(
      'allow-web',
      'tenant-a',
      '{ selector: all(), ingress: [{ action: Allow, source: { selector: "app == \'web\'" } }] }',
    );
    const p = await run(ns);
    expect(p('b-a').outcome).to.equal('denied-l4'); // b/web is in another namespace
    const global = gnp(
      'allow-web',
      '{ selector: "projectcalico.org/namespace == \'tenant-a\'", ingress: [{ action: Allow, source: { selector: "app == \'web\'" } }] }',
    );
    expect((await run(global))('b-a').outcome).to.equal('allowed');
  });

  it('matches serviceAccounts by name, notSelector, nets and Log (which goes on)', async () => {
    const sa = cnp(
      'sa',
      'tenant-a',
      '{ selector: all(), ingress: [{ action: Allow, source: { serviceAccounts: { names: [default] } } }] }',
    );
    const p = await run(sa);
    expect(p('a-a').outcome).to.equal('allowed');
    const not = gnp(
      'not',
      '{ selector: "app == \'web\'", ingress: [{ action: Log }, { action: Deny, source: { notSelector: "tenant == \'a\'" } }, { action: Allow }] }',
    );
    const q = await run(not);
    expect(q('b-a').outcome).to.equal('denied-l4');
    expect(q('a-a').outcome).to.equal('denied-l4'); // the probe has no tenant label
    const nets = gnp(
      'nets',
      '{ selector: all(), types: [Egress], egress: [{ action: Deny, destination: { nets: [203.0.113.0/24] } }, { action: Allow }] }',
    );
    expect((await run(nets))('b-ext').outcome).to.equal('denied-l4');
    expect((await run(nets))('b-a').outcome).to.equal('allowed');
  });

  it('matches GlobalNetworkSets by their labels', async () => {
    const set = `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: { name: partners, labels: { role: partner } }\nspec: { nets: [203.0.113.0/24] }\n---\n`;
    const p = await run(
      set +
        gnp(
          'egress',
          '{ selector: all(), types: [Egress], egress: [{ action: Deny, destination: { selector: "role == \'partner\'" } }, { action: Allow }] }',
        ),
    );
    expect(p('b-ext').outcome).to.equal('denied-l4');
  });

  it('reads crd.projectcalico.org/v1 like projectcalico.org/v3, and the article GNP selects no pod', async () => {
    const article = gnp(
      'deny-cross-tenant-traffic',
      "{ selector: \"tenant in {'acme', 'globex'}\", types: [Ingress], ingress: [{ action: Deny, source: { selector: \"tenant in {'acme'}\", notSelector: 'tenant == \"${tenant}\"' } }] }",
      'crd.projectcalico.org/v1',
    );
    expect((await run(article))('b-a').outcome).to.equal('allowed');
    const v1 = gnp(
      'deny-b',
      '{ selector: "tenant == \'a\'", ingress: [{ action: Deny, source: { selector: "tenant == \'b\'" } }] }',
      'crd.projectcalico.org/v1',
    );
    expect((await run(v1))('b-a').outcome).to.equal('denied-l4');
  });

  it('says unknown for a rejected selector, a missing tier and HTTP match rules', async () => {
    const bad = gnp('bad', "{ selector: 'tenant == ${tenant}', ingress: [{ action: Deny }] }");
    const r = (await run(bad))('b-a');
    expect(r.outcome).to.equal('unknown');
    expect(r.reasons.join('\n')).to.contain('spec.selector');
    const noTier = gnp('t.p', '{ tier: missing, selector: all(), ingress: [{ action: Deny }] }');
    expect((await run(noTier))('b-a').outcome).to.equal('unknown');
    const httpRule = gnp(
      'h',
      '{ selector: all(), ingress: [{ action: Deny, http: { methods: [GET] } }, { action: Allow }] }',
    );
    expect((await run(httpRule))('b-a').outcome).to.equal('unknown');
  });

  it('defaults types from the rules present', async () => {
    const egressOnly = gnp('e', '{ selector: "tenant == \'a\'", egress: [{ action: Deny }] }');
    const p = await run(egressOnly);
    expect(p('b-a').outcome).to.equal('allowed'); // not an Ingress policy
    expect(p('a-b').outcome).to.equal('denied-l4');
  });

  it('selects endpoints by spec.namespaceSelector and spec.serviceAccountSelector', async () => {
    const byNs = gnp(
      'ns',
      '{ namespaceSelector: "projectcalico.org/name == \'tenant-a\'", selector: all(), ingress: [{ action: Deny }] }',
    );
    const p = await run(byNs);
    expect(p('b-a').outcome).to.equal('denied-l4');
    expect(p('a-b').outcome).to.equal('allowed');
    const bySa = gnp(
      'sa',
      '{ serviceAccountSelector: "projectcalico.org/name == \'web\'", ingress: [{ action: Deny }] }',
    );
    const q = await run(bySa);
    expect(q('b-a').outcome).to.equal('denied-l4');
    expect(q('b-ext').outcome).to.equal('allowed'); // ext runs as the default service account
  });

  it('matches services in rules and sees pod labels with pcns.* namespace labels', async () => {
    const svc = gnp(
      'svc',
      '{ selector: "projectcalico.org/namespace == \'tenant-b\'", types: [Egress], egress: [{ action: Deny, destination: { services: { name: web, namespace: tenant-a } } }, { action: Allow }] }',
    );
    expect((await run(svc))('b-ext').outcome).to.equal('allowed');
    expect((await run(svc))('b-a').outcome).to.equal('denied-l4');
    const pcns = gnp('pcns', '{ selector: "pcns.tenant == \'a\'", ingress: [{ action: Deny }] }');
    expect((await run(pcns))('b-a').outcome).to.equal('denied-l4');
  });
});
