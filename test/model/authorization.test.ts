import { expect } from 'chai';

import { normalizePath } from '../../harness/model/authorization.js';
import { http, plan, tcp } from './support.js';

const STRICT = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: istio-system }
spec: { mtls: { mode: STRICT } }
---
`;

const ap = (name: string, ns: string, spec: string) =>
  `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: ${name}, namespace: ${ns} }\nspec: ${spec}\n---\n`;

const ATTEMPTS =
  http('a-b', 'tenant-a/probe', 'tenant-b/web') +
  http('b-b', 'tenant-b/probe', 'tenant-b/web') +
  http('plain-b-b', 'tenant-b/probe-nosidecar', 'tenant-b/web') +
  http(
    'get-orders',
    'tenant-b/probe',
    'tenant-b/web',
    'http: { method: GET, path: "/api/v1/orders/42?x=1" }',
  ) +
  http('post-orders', 'tenant-b/probe', 'tenant-b/web', 'http: { method: POST, path: /api/v1/orders/42 }') +
  http('get-admin', 'tenant-b/probe', 'tenant-b/web', 'http: { method: GET, path: /admin/users }') +
  http(
    'dotdot',
    'tenant-b/probe',
    'tenant-b/web',
    'http: { method: GET, path: "/api/v1/../../admin/users" }',
  ) +
  http('hdr', 'tenant-a/probe', 'tenant-b/web', 'http: { headers: { x-tenant-id: acme } }') +
  tcp('tcp-a-b', 'tenant-a/probe', 'tenant-b/web') +
  tcp('tcp-b-b', 'tenant-b/probe', 'tenant-b/web');

async function run(policies: string, extra = {}) {
  return (await plan(STRICT + policies, ATTEMPTS, extra)).p;
}

describe('model: Istio AuthorizationPolicy', () => {
  it('allows when no policy applies and denies everything with an allow-nothing policy', async () => {
    expect((await run(''))('a-b')).to.include({ outcome: 'allowed', layer: 'none' });
    const p = await run(ap('allow-nothing', 'tenant-b', '{}'));
    expect(p('b-b')).to.include({ outcome: 'denied-l7', layer: 'authorization' });
    expect(p('b-b').reasons.join('\n')).to.contain('tenant-b/allow-nothing');
  });

  it('allows everything with rules: [{}], and a mesh-wide policy in the root namespace applies to all', async () => {
    expect((await run(ap('all', 'tenant-b', '{ rules: [{}] }')))('a-b').outcome).to.equal('allowed');
    const mesh = await run(ap('deny-all', 'istio-system', '{}'));
    expect(mesh('a-b').outcome).to.equal('denied-l7');
    expect(mesh('b-b').outcome).to.equal('denied-l7');
  });

  it('evaluates DENY before ALLOW, and any DENY match wins', async () => {
    const p = await run(
      ap('allow-all', 'tenant-b', '{ rules: [{}] }') +
        ap(
          'deny-others',
          'tenant-b',
          '{ action: DENY, rules: [{ from: [{ source: { notNamespaces: [tenant-b] } }] }] }',
        ),
    );
    expect(p('a-b').outcome).to.equal('denied-l7');
    expect(p('a-b').reasons.join('\n')).to.contain('DENY tenant-b/deny-others');
    expect(p('b-b').outcome).to.equal('allowed');
  });

  it('matches principals without spiffe://, never with it, and prefix wildcards', async () => {
    const allow = (v: string) =>
      ap('p', 'tenant-b', `{ rules: [{ from: [{ source: { principals: ["${v}"] } }] }] }`);
    expect((await run(allow('cluster.local/ns/tenant-b/sa/default')))('b-b').outcome).to.equal('allowed');
    expect((await run(allow('spiffe://cluster.local/ns/tenant-b/sa/default')))('b-b').outcome).to.equal(
      'denied-l7',
    );
    expect((await run(allow('cluster.local/ns/tenant-b/sa/*')))('b-b').outcome).to.equal('allowed');
    expect((await run(allow('cluster.local/ns/tenant-b/sa/*')))('a-b').outcome).to.equal('denied-l7');
    expect((await run(allow('*/sa/default')))('a-b').outcome).to.equal('allowed');
  });

  it('treats cluster.local in a principal as the mesh trust domain', async () => {
    const p = (
      await plan(
        STRICT +
          ap(
            'p',
            'tenant-b',
            '{ rules: [{ from: [{ source: { principals: ["cluster.local/ns/tenant-b/sa/default"] } }] }] }',
          ),
        ATTEMPTS,
        {
          extraSpec: '  trustDomain: example.org\n',
        },
      )
    ).p;
    expect(p('b-b').outcome).to.equal('allowed');
    expect(p('b-b').reasons.join('\n')).to.contain('example.org/ns/tenant-b/sa/default');
  });

  it('ANDs fields of one source: the article seed rule (notNamespaces X + principals in X) never matches', async () => {
    const seed = ap(
      'seed',
      'tenant-b',
      '{ rules: [{ from: [{ source: { notNamespaces: [tenant-b], principals: ["cluster.local/ns/tenant-b/sa/*"] } }] }] }',
    );
    const p = await run(seed);
    expect(p('b-b').outcome).to.equal('denied-l7');
    expect(p('a-b').outcome).to.equal('denied-l7');
    // As a DENY the same rule denies nothing.
    expect((await run(seed.replace('{ rules', '{ action: DENY, rules')))('a-b').outcome).to.equal('allowed');
  });

  it('plaintext peers have no principal: positive fields never match, negated ones always do', async () => {
    const plaintext = `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: default, namespace: istio-system }\nspec: { mtls: { mode: PERMISSIVE } }\n---\n`;
    const deny = ap(
      'deny',
      'tenant-b',
      '{ action: DENY, rules: [{ from: [{ source: { notNamespaces: [tenant-b] } }] }] }',
    );
    const p = (await plan(plaintext + deny, ATTEMPTS)).p;
    expect(p('plain-b-b').outcome).to.equal('denied-l7'); // even from tenant-b itself
    expect(p('b-b').outcome).to.equal('allowed');
    const allow = ap('ns', 'tenant-b', '{ rules: [{ from: [{ source: { namespaces: [tenant-b] } }] }] }');
    expect((await plan(plaintext + allow, ATTEMPTS)).p('plain-b-b').outcome).to.equal('denied-l7');
    const any = ap(
      'any',
      'tenant-b',
      '{ action: DENY, rules: [{ from: [{ source: { notPrincipals: ["*"] } }] }] }',
    );
    expect((await plan(plaintext + any, ATTEMPTS)).p('plain-b-b').outcome).to.equal('denied-l7');
    expect((await plan(plaintext + any, ATTEMPTS)).p('b-b').outcome).to.equal('allowed');
  });

  it('matches methods and paths: prefix, suffix, exact, query stripped, normalized, templates', async () => {
    const gw = ap(
      'gw',
      'tenant-b',
      '{ rules: [{ to: [{ operation: { methods: [GET], paths: ["/api/v1/orders/*"] } }] }] }',
    );
    const p = await run(gw);
    expect(p('get-orders').outcome).to.equal('allowed');
    expect(p('post-orders').outcome).to.equal('denied-l7');
    expect(p('get-admin').outcome).to.equal('denied-l7');
    const mid = await run(
      ap('mid', 'tenant-b', '{ rules: [{ to: [{ operation: { paths: ["/api/*/orders/42"] } }] }] }'),
    );
    expect(mid('get-orders').outcome).to.equal('denied-l7'); // a middle * is literal
    const tmpl = await run(
      ap('t', 'tenant-b', '{ rules: [{ to: [{ operation: { paths: ["/api/{*}/orders/{**}"] } }] }] }'),
    );
    expect(tmpl('get-orders').outcome).to.equal('allowed');
    const suffix = await run(
      ap('s', 'tenant-b', '{ rules: [{ to: [{ operation: { paths: ["*/users"] } }] }] }'),
    );
    expect(suffix('get-admin').outcome).to.equal('allowed');
    const deny = await run(
      ap('d', 'tenant-b', '{ action: DENY, rules: [{ to: [{ operation: { paths: ["/admin/*"] } }] }] }'),
    );
    expect(deny('dotdot').outcome).to.equal('denied-l7'); // /api/v1/../../admin/users normalizes to /admin/users
    expect(normalizePath('/a/%2e%2e/b%2Fc?q=1')).to.equal('/b%2Fc');
  });

  it('on a TCP port, HTTP-only fields drop ALLOW rules and are ignored in DENY rules', async () => {
    const allow = await run(ap('a', 'tenant-b', '{ rules: [{ to: [{ operation: { methods: [GET] } }] }] }'));
    expect(allow('b-b').outcome).to.equal('allowed');
    expect(allow('tcp-b-b')).to.include({ outcome: 'denied-l7', layer: 'authorization' });
    const deny = await run(
      ap('d', 'tenant-b', '{ action: DENY, rules: [{ to: [{ operation: { methods: [GET] } }] }] }'),
    );
    expect(deny('tcp-b-b').outcome).to.equal('denied-l7'); // denies all TCP traffic
    const ports = await run(ap('p', 'tenant-b', '{ rules: [{ to: [{ operation: { ports: ["9000"] } }] }] }'));
    expect(ports('tcp-b-b').outcome).to.equal('allowed');
    expect(ports('b-b').outcome).to.equal('denied-l7');
  });

  it('evaluates when: request.headers values and notValues (an absent header matches notValues)', async () => {
    const values = await run(
      ap('h', 'tenant-b', '{ rules: [{ when: [{ key: "request.headers[X-Tenant-Id]", values: [acme] }] }] }'),
    );
    expect(values('hdr').outcome).to.equal('allowed');
    expect(values('a-b').outcome).to.equal('denied-l7');
    const notValues = await run(
      ap(
        'n',
        'tenant-b',
        '{ action: DENY, rules: [{ when: [{ key: "request.headers[x-tenant-identity]", notValues: [""] }] }] }',
      ),
    );
    expect(notValues('a-b').outcome).to.equal('denied-l7');
  });

  it('evaluates when: source.namespace, source.principal and destination.port', async () => {
    const ns = await run(
      ap('w', 'tenant-b', '{ rules: [{ when: [{ key: source.namespace, values: [tenant-a] }] }] }'),
    );
    expect(ns('a-b').outcome).to.equal('allowed');
    expect(ns('b-b').outcome).to.equal('denied-l7');
    const port = await run(
      ap(
        'w',
        'tenant-b',
        '{ action: DENY, rules: [{ when: [{ key: destination.port, values: ["9000"] }] }] }',
      ),
    );
    expect(port('tcp-a-b').outcome).to.equal('denied-l7');
    expect(port('a-b').outcome).to.equal('allowed');
    const unknownKey = await run(
      ap('w', 'tenant-b', '{ rules: [{ when: [{ key: destination.namespace, values: [x] }] }] }'),
    );
    expect(unknownKey('a-b').outcome).to.equal('unknown');
  });

  it('never blocks with AUDIT, says unknown for CUSTOM, and ignores targetRefs on sidecars', async () => {
    const audit = await run(ap('au', 'tenant-b', '{ action: AUDIT, rules: [{}] }'));
    expect(audit('a-b').outcome).to.equal('allowed');
    expect(audit('a-b').reasons.join('\n')).to.contain('AUDIT');
    const custom = await run(ap('c', 'tenant-b', '{ action: CUSTOM, provider: { name: ext }, rules: [{}] }'));
    expect(custom('a-b')).to.include({ outcome: 'unknown', layer: 'authorization' });
    const target = await run(
      ap('t', 'tenant-b', '{ targetRefs: [{ kind: Gateway, group: gateway.networking.k8s.io, name: gw }] }'),
    );
    expect(target('a-b').outcome).to.equal('allowed');
    const emptySource = await run(ap('e', 'tenant-b', '{ rules: [{ from: [{ source: {} }] }] }'));
    expect(emptySource('a-b').outcome).to.equal('unknown');
    const badDeny = await run(ap('d', 'tenant-b', '{ action: DENY }'));
    expect(badDeny('a-b').outcome).to.equal('unknown');
  });

  it('stays definite when an unknown CUSTOM or DENY match cannot change a denial', async () => {
    const maybeDeny = ap(
      'd',
      'tenant-b',
      '{ action: DENY, rules: [{ when: [{ key: source.ip, values: ["192.168.5.0/24"] }] }] }',
    );
    expect((await run(maybeDeny))('a-b').outcome).to.equal('unknown');
    expect((await run(maybeDeny + ap('none', 'tenant-b', '{}')))('a-b').outcome).to.equal('denied-l7');
    const custom = ap('c', 'tenant-b', '{ action: CUSTOM, provider: { name: ext }, rules: [{}] }');
    expect((await run(custom + ap('none', 'tenant-b', '{}')))('a-b').outcome).to.equal('denied-l7');
    expect((await run(custom + ap('all', 'tenant-b', '{ rules: [{}] }')))('a-b').outcome).to.equal('unknown');
  });

  it('scopes by selector and namespace; v1beta1 is the same API', async () => {
    const other = await run(ap('x', 'tenant-a', '{}'));
    expect(other('a-b').outcome).to.equal('allowed');
    const sel = await run(ap('x', 'tenant-b', '{ selector: { matchLabels: { app: nothing } } }'));
    expect(sel('a-b').outcome).to.equal('allowed');
    const beta = await run(
      ap('x', 'tenant-b', '{}').replace('security.istio.io/v1', 'security.istio.io/v1beta1'),
    );
    expect(beta('a-b').outcome).to.equal('denied-l7');
  });

  it('matches hosts case-insensitively, and does not guess whether the port is stripped', async () => {
    const host = (values: string) =>
      ap('h', 'tenant-b', `{ rules: [{ to: [{ operation: { hosts: [${values}] } }] }] }`);
    expect((await run(host('"WEB.tenant-b.svc.cluster.local:8080"')))('a-b').outcome).to.equal('unknown');
    const both = host('"WEB.tenant-b.svc.cluster.local", "web.tenant-b.svc.cluster.local:*"');
    expect((await run(both))('a-b').outcome).to.equal('allowed');
    expect((await run(host('"*.svc.cluster.local", "*.svc.cluster.local:8080"')))('a-b').outcome).to.equal(
      'allowed',
    );
    expect((await run(host('"other.example.com"')))('a-b').outcome).to.equal('denied-l7');
  });
});
