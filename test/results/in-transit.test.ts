import { expect } from 'chai';

import { inTransit, xfccElements } from '../../harness/results/in-transit.js';
import type { Attempt, Scenario } from '../../harness/scenario/types.js';
import { HEAD, load } from '../support/scenarios.js';

const SCENARIO = `${HEAD}  tenants:
    - name: a
      workloads: [{ name: web, serviceAccount: web, ports: [{ port: 8080, name: http }] }]
    - name: b
      injection: false
      workloads: [{ name: web, ports: [8080] }]
  attempts:
    - { id: meshed, kind: http, from: tenant-a/probe, to: tenant-a/web }
    - { id: meshed-tcp, kind: tcp, from: tenant-a/probe, to: tenant-a/web }
    - { id: plain-source, kind: http, from: tenant-a/probe-nosidecar, to: tenant-a/web }
    - { id: plain-destination, kind: http, from: tenant-a/probe, to: tenant-b/web }
`;

const echo = (xfcc?: string) => ({
  echo: { headers: xfcc === undefined ? {} : { 'x-forwarded-client-cert': xfcc } },
});

describe('results: encrypted in transit', () => {
  let s: Scenario;
  const a = (id: string): Attempt => s.attempts.find((x) => x.id === id) as Attempt;
  before(async () => {
    s = await load(SCENARIO);
  });

  it("proves mTLS only by the last XFCC element, the sidecar's, naming the caller", () => {
    const own =
      'By=spiffe://cluster.local/ns/tenant-a/sa/web;Hash=1;Subject="";URI=spiffe://cluster.local/ns/tenant-a/sa/default';
    expect(inTransit(a('meshed'), s, 'allowed', echo(own))).to.deep.include({
      status: 'mtls',
      identity: 'spiffe://cluster.local/ns/tenant-a/sa/default',
    });
    // A client's forged XFCC comes first; the sidecar's element, appended, names another caller.
    const forged = `${own},By=x;URI=spiffe://cluster.local/ns/tenant-b/sa/default`;
    expect(inTransit(a('meshed'), s, 'allowed', echo(forged))?.status).to.equal('no-proof');
    expect(inTransit(a('meshed'), s, 'allowed', echo())?.reason).to.match(/no x-forwarded-client-cert/);
    expect(inTransit(a('meshed-tcp'), s, 'allowed', undefined)).to.deep.include({ status: 'no-proof' });
  });

  it('is not meshed without a sidecar at either end, and says nothing of what was not allowed', () => {
    expect(inTransit(a('plain-source'), s, 'allowed', echo())?.status).to.equal('not-meshed');
    expect(inTransit(a('plain-destination'), s, 'allowed', echo())?.reason).to.match(
      /destination has no sidecar/,
    );
    expect(inTransit(a('meshed'), s, 'denied-l7', echo())).to.equal(undefined);
  });

  it('splits XFCC elements on commas outside quotes', () => {
    expect(xfccElements('By=a;Subject="CN=x,O=y";URI=u1, By=b;URI=u2')).to.deep.equal([
      'By=a;Subject="CN=x,O=y";URI=u1',
      'By=b;URI=u2',
    ]);
  });

  describe('through an ingress gateway', () => {
    const GATEWAY = `${HEAD}  namespaces: [{ name: ingress }]
  tenants:
    - name: a
      workloads: [{ name: api, ports: [8080] }]
    - name: b
      workloads: [{ name: api, ports: [8080] }]
    - name: c
      injection: false
      workloads: [{ name: api, ports: [8080] }]
  gateways:
    - name: public
      namespace: ingress
      routes:
        - { hostname: a.example.com, backend: tenant-a/api }
        - { hostname: c.example.com, backend: tenant-c/api }
  generators: [{ kind: gateway }]
`;
    let g: Scenario;
    const control = (tenant: string): Attempt =>
      g.attempts.find(
        (x) => x.id === `gateway:tenant-${tenant}/probe-nosidecar->ingress/public:${tenant}.example.com`,
      ) as Attempt;
    before(async () => {
      g = await load(GATEWAY);
    });

    it("proves the gateway's hop by the backend sidecar naming the gateway's service account", () => {
      expect(control('a'), 'the control attempt').to.not.equal(undefined);
      const gatewayIdentity = 'spiffe://cluster.local/ns/ingress/sa/public-istio';
      expect(inTransit(control('a'), g, 'allowed', echo(`By=x;URI=${gatewayIdentity}`))).to.deep.include({
        status: 'mtls',
        identity: gatewayIdentity,
      });
      // The probe's own identity is not what the backend sees: the gateway originated the mTLS hop.
      const probe = inTransit(
        control('a'),
        g,
        'allowed',
        echo('By=x;URI=spiffe://cluster.local/ns/tenant-a/sa/default'),
      );
      expect(probe?.status).to.equal('no-proof');
      expect(probe?.reason).to.contain(`not the gateway's ${gatewayIdentity}`);
      expect(inTransit(control('a'), g, 'allowed', echo())?.status).to.equal('no-proof');
    });

    it('is not meshed when the backend has no sidecar, and says nothing of a denied attempt', () => {
      expect(inTransit(control('c'), g, 'allowed', echo())).to.deep.include({
        status: 'not-meshed',
        reason: 'the backend has no sidecar',
      });
      expect(inTransit(control('a'), g, 'denied-l7', echo())).to.equal(undefined);
    });
  });
});
