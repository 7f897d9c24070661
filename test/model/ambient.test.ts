/**
 * The ambient rules of the model, one test per fact of ambient-cnp-facts.md (named in each title).
 */
import { expect } from 'chai';

import { PolicyModel, planAttempts } from '../../harness/model/index.js';
import type { Scenario } from '../../harness/scenario/types.js';
import { HEAD, load } from '../support/scenarios.js';

const TOPOLOGY = `${HEAD}  tenants:
    - name: a
      dataplane: ambient
      workloads:
        - { name: api, ports: [{ port: 8080, name: http }] }
    - name: b
      dataplane: ambient
      waypoints: [{ name: waypoint }]
      workloads:
        - { name: api, ports: [{ port: 8080, name: http }] }
    - name: s
      injection: true
      workloads:
        - { name: api, ports: [{ port: 8080, name: http }] }
  namespaces:
    - { name: plain }
  workloads:
    - { name: legacy, namespace: plain, ports: [{ port: 8080, name: http }] }
  attempts:
    - { id: a-b, kind: http, from: tenant-a/probe, to: tenant-b/api }
    - { id: a-b-admin, kind: http, from: tenant-a/probe, to: tenant-b/api, http: { path: /admin } }
    - { id: out-b-admin, kind: http, from: tenant-a/probe-nosidecar, to: tenant-b/api, http: { path: /admin } }
    - { id: a-a, kind: http, from: tenant-a/probe, to: tenant-a/api }
    - { id: a-a-tcp, kind: tcp, from: tenant-a/probe, to: tenant-a/api }
    - { id: out-a, kind: http, from: tenant-a/probe-nosidecar, to: tenant-a/api }
    - { id: a-legacy, kind: http, from: tenant-a/probe, to: plain/legacy }
    - { id: s-a, kind: http, from: tenant-s/probe, to: tenant-a/api }
    - { id: a-s, kind: http, from: tenant-a/probe, to: tenant-s/api }
    - { id: a-b-pod-ip, kind: http, from: tenant-a/probe, to: { podIp: tenant-b/api }, port: 8080, http: { path: /admin } }
`;

let scenario: Scenario;
before(async () => {
  scenario = await load(TOPOLOGY);
});

function model(manifests: Record<string, unknown>[]): PolicyModel {
  return new PolicyModel({ ...scenario, manifests });
}

function predict(manifests: Record<string, unknown>[], id: string) {
  const attempt = scenario.attempts.find((x) => x.id === id);
  if (!attempt) throw new Error(id);
  return model(manifests).predict(attempt);
}

const authz = (name: string, namespace: string, spec: Record<string, unknown>) => ({
  apiVersion: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  metadata: { name, namespace },
  spec,
});

const netpol = (name: string, namespace: string, spec: Record<string, unknown>) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name, namespace },
  spec,
});

/** Ingress to tenant-a's pods from tenant-a only, on the given ports (and the probe address). */
function ingressFromTenantA(ports: number[], probeAddress = true) {
  return netpol('ingress', 'tenant-a', {
    podSelector: {},
    policyTypes: ['Ingress'],
    ingress: [
      {
        from: [{ namespaceSelector: { matchLabels: { tenant: 'a' } } }],
        ports: ports.map((port) => ({ port, protocol: 'TCP' })),
      },
      ...(probeAddress ? [{ from: [{ ipBlock: { cidr: '169.254.7.127/32' } }] }] : []),
    ],
  });
}

describe('model: ambient paths', () => {
  it('A1.14/AO5: policy between ambient pods sees 15008, and a drop there is denied-l4', () => {
    const appOnly = predict([ingressFromTenantA([8080])], 'a-a');
    expect(appOnly.outcome).to.equal('denied-l4');
    expect(appOnly.layer).to.equal('network');
    expect(appOnly.reasons.join('\n')).to.contain('network policy sees TCP 15008, not 8080 (fact A1.14)');
    expect(appOnly.reasons.at(-1)).to.contain('gives up its connect after 10 s');
    expect(predict([ingressFromTenantA([15008])], 'a-a').outcome).to.equal('allowed');
  });

  it('A1.14/AO7: an out-of-mesh client is seen on the app port, and a drop is its connect timeout', () => {
    expect(predict([ingressFromTenantA([15008])], 'out-a').outcome).to.equal('denied-l4');
    const ok = predict([ingressFromTenantA([8080])], 'out-a');
    expect(ok.outcome).to.equal('allowed');
    expect(ok.reasons.join('\n')).to.contain('plain TCP to tenant-a/api on 8080');
  });

  it('A4.9: an ingress policy without 169.254.7.127 leaves the ambient pod readiness unknown', () => {
    const p = predict([ingressFromTenantA([15008], false)], 'a-a');
    expect(p.outcome).to.equal('unknown');
    expect(p.reasons[0]).to.contain('from 169.254.7.127 (fact A4.9)');
    expect(p.reasons[0]).to.contain('allow ipBlock 169.254.7.127/32');
  });

  it('A4.1/AO1: a selector ALLOW at ztunnel that names other peers resets the connection', () => {
    const allowOther = authz('only-b', 'tenant-a', {
      selector: { matchLabels: { app: 'api' } },
      rules: [{ from: [{ source: { principals: ['cluster.local/ns/tenant-b/sa/default'] } }] }],
    });
    const p = predict([allowOther], 'a-a');
    expect(p.outcome).to.equal('reset');
    expect(p.layer).to.equal('authorization');
    expect(p.reasons.join('\n')).to.contain(
      'the destination ztunnel sees the peer cluster.local/ns/tenant-a/sa/default',
    );
    expect(p.reasons.at(-1)).to.contain('connection reset (fact AO1)');
    const allowSelf = authz('self', 'tenant-a', {
      rules: [{ from: [{ source: { namespaces: ['tenant-a'] } }] }],
    });
    expect(predict([allowSelf], 'a-a').outcome).to.equal('allowed');
  });

  it('A4.1: CUSTOM and AUDIT are not sent to ztunnel', () => {
    const audit = authz('audit', 'tenant-a', { action: 'AUDIT', rules: [{}] });
    const p = predict([audit], 'a-a');
    expect(p.outcome).to.equal('allowed');
    expect(p.reasons.join('\n')).to.contain('ztunnel does not support the AUDIT action (fact A4.1)');
  });

  it('A4.3: an ALLOW rule with HTTP attributes is dropped at ztunnel (deny-all), with ZtunnelAccepted', () => {
    const allowGet = authz('get-only', 'tenant-a', {
      rules: [
        { from: [{ source: { namespaces: ['tenant-a'] } }], to: [{ operation: { methods: ['GET'] } }] },
      ],
    });
    const p = predict([allowGet], 'a-a');
    expect(p.outcome).to.equal('reset');
    expect(p.reasons.join('\n')).to.contain(
      'ZtunnelAccepted UnsupportedValue: ztunnel does not support HTTP attributes (found: methods). In ambient mode you must use a waypoint proxy to enforce HTTP rules. Within an ALLOW policy, rules matching HTTP attributes are omitted.',
    );
  });

  it('A4.3: a DENY whose clause was only HTTP denies nothing; with ports it denies every connection to them', () => {
    const denyGet = authz('no-get', 'tenant-a', {
      action: 'DENY',
      rules: [{ to: [{ operation: { methods: ['GET'] } }] }],
    });
    const none = predict([denyGet], 'a-a');
    expect(none.outcome).to.equal('allowed');
    expect(none.reasons.join('\n')).to.contain(
      'DENY policy with HTTP attributes is enforced without the HTTP rules',
    );
    const denyGetPort = authz('no-get', 'tenant-a', {
      action: 'DENY',
      rules: [{ to: [{ operation: { methods: ['POST'], ports: ['8080'] } }] }],
    });
    // The attempt is a GET, but ztunnel cannot see the method: every connection to 8080 is refused.
    expect(predict([denyGetPort], 'a-a').outcome).to.equal('reset');
    // remoteIpBlocks and when keys outside l4WhenAttributes are L7 at ztunnel (A4.2).
    const remote = authz('remote', 'tenant-a', {
      rules: [{ from: [{ source: { remoteIpBlocks: ['0.0.0.0/0'] } }] }],
    });
    expect(predict([remote], 'a-a').outcome).to.equal('reset');
  });

  it('AO4/A4.4: a targetRefs policy is enforced by the waypoint, a deny is a 403', () => {
    const denyAdmin = authz('no-admin', 'tenant-b', {
      targetRefs: [{ kind: 'Service', group: '', name: 'api' }],
      action: 'DENY',
      rules: [{ to: [{ operation: { paths: ['/admin'] } }] }],
    });
    const p = predict([denyAdmin], 'a-b-admin');
    expect(p.outcome).to.equal('denied-l7');
    expect(p.reasons.join('\n')).to.contain(
      'the waypoint tenant-b/waypoint sees the peer cluster.local/ns/tenant-a/sa/default (fact A4.4)',
    );
    expect(p.reasons.at(-1)).to.contain("403 'RBAC: access denied' (fact AO4)");
    expect(predict([denyAdmin], 'a-b').outcome).to.equal('allowed');
    // The same policy by Gateway: the waypoint of the namespace.
    const byGateway = {
      ...denyAdmin,
      spec: {
        ...denyAdmin.spec,
        targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'waypoint' }],
      },
    };
    expect(predict([byGateway], 'a-b-admin').outcome).to.equal('denied-l7');
  });

  it('AO8: an out-of-mesh client bypasses the waypoint, so its L7 deny does not hold', () => {
    const denyAdmin = authz('no-admin', 'tenant-b', {
      targetRefs: [{ kind: 'Service', name: 'api' }],
      action: 'DENY',
      rules: [{ to: [{ operation: { paths: ['/admin'] } }] }],
    });
    const p = predict([denyAdmin], 'out-b-admin');
    expect(p.outcome).to.equal('allowed');
    expect(p.reasons.join('\n')).to.contain(
      'bypasses waypoint tenant-b/waypoint: its L7 policies are not evaluated (fact AO8)',
    );
  });

  it('A4.6: a ztunnel ALLOW naming only the waypoint closes the bypass and keeps the waypoint path', () => {
    const viaWaypoint = authz('via-waypoint', 'tenant-b', {
      rules: [{ from: [{ source: { principals: ['cluster.local/ns/tenant-b/sa/waypoint'] } }] }],
    });
    expect(predict([viaWaypoint], 'out-b-admin').outcome).to.equal('reset');
    const through = predict([viaWaypoint], 'a-b');
    expect(through.outcome).to.equal('allowed');
    expect(through.reasons.join('\n')).to.contain(
      "the destination ztunnel sees the waypoint's identity cluster.local/ns/tenant-b/sa/waypoint",
    );
    // Listing only the client denies the waypoint's hop; what the client then sees is not in the facts.
    const clientOnly = authz('client-only', 'tenant-b', {
      rules: [{ from: [{ source: { principals: ['cluster.local/ns/tenant-a/sa/default'] } }] }],
    });
    const hop = predict([clientOnly], 'a-b');
    expect(hop.outcome).to.equal('unknown');
    expect(hop.reasons.at(-1)).to.contain("refuses the waypoint's hop");
  });

  it('AO8/A2.4: a call to the pod IP skips a service waypoint; a ztunnel ALLOW naming the waypoint resets it', () => {
    const denyAdmin = authz('no-admin', 'tenant-b', {
      targetRefs: [{ kind: 'Service', name: 'api' }],
      action: 'DENY',
      rules: [{ to: [{ operation: { paths: ['/admin'] } }] }],
    });
    // Through the Service the waypoint's L7 deny holds; by pod IP it is never evaluated.
    expect(predict([denyAdmin], 'a-b-admin').outcome).to.equal('denied-l7');
    const bypass = predict([denyAdmin], 'a-b-pod-ip');
    expect(bypass.outcome).to.equal('allowed');
    expect(bypass.reasons.join('\n')).to.contain(
      'skips waypoint tenant-b/waypoint, which takes traffic to the Service only',
    );
    const viaWaypoint = authz('via-waypoint', 'tenant-b', {
      rules: [{ from: [{ source: { principals: ['cluster.local/ns/tenant-b/sa/waypoint'] } }] }],
    });
    const closed = predict([denyAdmin, viaWaypoint], 'a-b-pod-ip');
    expect(closed.outcome).to.equal('reset');
    expect(closed.reasons.join('\n')).to.contain(
      'the destination ztunnel sees the peer cluster.local/ns/tenant-a/sa/',
    );
  });

  it('A3.2/A2.4: a destination behind a waypoint sees the waypoint pod, so a client-only NetworkPolicy drops it', () => {
    const fromClient = netpol('from-a', 'tenant-b', {
      podSelector: { matchLabels: { app: 'api' } },
      policyTypes: ['Ingress'],
      ingress: [
        { from: [{ namespaceSelector: { matchLabels: { tenant: 'a' } } }], ports: [{ port: 15008 }] },
        { from: [{ ipBlock: { cidr: '169.254.7.127/32' } }] },
      ],
    });
    const p = predict([fromClient], 'a-b');
    expect(p.outcome).to.equal('denied-l4');
    expect(p.reasons.at(-1)).to.contain("Envoy's 503 after its connect timeout (fact AO6)");
  });

  it('AO3/A4.7: STRICT resets an out-of-mesh client, and does nothing to an ambient one', () => {
    const strict = {
      apiVersion: 'security.istio.io/v1',
      kind: 'PeerAuthentication',
      metadata: { name: 'default', namespace: 'istio-system' },
      spec: { mtls: { mode: 'STRICT' } },
    };
    const p = predict([strict], 'out-a');
    expect(p.outcome).to.equal('reset');
    expect(p.layer).to.equal('mtls');
    expect(p.reasons.at(-1)).to.contain('istio_converted_static_strict');
    expect(predict([strict], 'a-a').outcome).to.equal('allowed');
  });

  it('A1.14: an ambient client reaches an out-of-mesh server in plain TCP on the app port', () => {
    expect(predict([], 'a-legacy').outcome).to.equal('allowed');
    const deny = netpol('deny', 'plain', { podSelector: {}, policyTypes: ['Ingress'] });
    const p = predict([deny], 'a-legacy');
    expect(p.outcome).to.equal('denied-l4');
    expect(p.reasons.at(-1)).to.contain('(fact AO7)');
  });

  it('sidecar ↔ ambient: unknown unless the network drops every way, then denied-l4', () => {
    expect(predict([], 's-a').outcome).to.equal('unknown');
    expect(predict([], 'a-s').reasons[0]).to.contain('not in the reference facts');
    // Only kubelet probes get in (A4.9): every way from the sidecar client is dropped.
    const denyA = netpol('deny', 'tenant-a', {
      podSelector: {},
      policyTypes: ['Ingress'],
      ingress: [{ from: [{ ipBlock: { cidr: '169.254.7.127/32' } }] }],
    });
    const p = predict([denyA], 's-a');
    expect(p.outcome).to.equal('denied-l4');
    expect(p.reasons.at(-1)).to.contain('(fact O6)');
  });

  it('ablation works across data planes: each layer removed in turn', () => {
    const allowSelf = authz('self', 'tenant-a', {
      rules: [{ from: [{ source: { namespaces: ['tenant-a'] } }] }],
    });
    const strict = {
      apiVersion: 'security.istio.io/v1',
      kind: 'PeerAuthentication',
      metadata: { name: 'default', namespace: 'istio-system' },
      spec: { mtls: { mode: 'STRICT' } },
    };
    const attempts = scenario.attempts
      .filter((a) => a.id === 'out-a')
      .map((a) => ({
        ...a,
        expect: {
          words: ['denied'],
          outcomes: ['denied-l7', 'denied-l4', 'reset', 'refused'],
          auto: false,
        } as const,
      }));
    const [planned] = planAttempts(
      { ...scenario, manifests: [allowSelf, strict, ingressFromTenantA([15008])] },
      attempts,
      { ablate: true },
    );
    expect(planned?.predicted.outcome).to.equal('denied-l4');
    expect(planned?.ablation?.without).to.deep.equal({
      network: 'reset',
      mtls: 'denied-l4',
      authorization: 'denied-l4',
    });
    expect(planned?.ablation?.holdsAlone).to.deep.equal(['network', 'mtls', 'authorization']);
  });
});
