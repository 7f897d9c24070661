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
});
