/**
 * Attempts through an ingress gateway (harness/model/gateway.ts): each hop's deny, the
 * ReferenceGrant check and ablation. Sources are named in each title: istio@1.30.3
 * `pilot/pkg/model/policyattachment.go` (which AuthorizationPolicies attach to a gateway),
 * `gatewaycommon/references.go` (ReferenceGrant), `cluster_tls.go` (auto mTLS), the gateway
 * template `kube-gateway.yaml` (its pod's labels, port and service account), and gateway-api
 * v1.5.1 `apis/v1/referencegrant_types.go`.
 */
import { expect } from 'chai';

import { Ablator } from '../../harness/model/ablation.js';
import { PolicyModel, type ModelInput } from '../../harness/model/evaluate.js';
import type { Prediction } from '../../harness/model/types.js';
import type { Attempt, Scenario } from '../../harness/scenario/types.js';
import { HEAD, load } from '../support/scenarios.js';
import { indent } from './support.js';

const TOPOLOGY = `${HEAD}  namespaces:
    - { name: ingress }
  tenants:
    - name: a
      workloads:
        - { name: web, serviceAccount: web, ports: [{ port: 8080, name: http }] }
        - { name: other, serviceAccount: other, ports: [{ port: 8080, name: http }] }
    - name: b
      workloads:
        - { name: web, serviceAccount: web, ports: [{ port: 8080, name: http }] }
        - { name: other, serviceAccount: other, ports: [{ port: 8080, name: http }] }
  gateways:
    - name: public
      namespace: ingress
      routes:
        - { hostname: a.example.com, backend: tenant-a/web }
        - { hostname: b.example.com, backend: tenant-b/web }
  generators:
    - { kind: gateway }
`;

const CONTROL = 'gateway:tenant-a/probe-nosidecar->ingress/public:a.example.com';
const CROSS = `${CONTROL}/to/tenant-b/web:8080`;

interface Planned {
  readonly scenario: Scenario;
  readonly input: ModelInput;
  readonly p: (id: string) => Prediction;
  readonly attempt: (id: string) => Attempt;
}

async function plan(policies: string): Promise<Planned> {
  const scenario = await load(
    TOPOLOGY + (policies.trim() ? `  policies:\n    - inline: |\n${indent(policies, 8)}\n` : ''),
  );
  const manifests = scenario.policies.flatMap((s) => (s.kind === 'builtin' ? [] : s.manifests));
  const input: ModelInput = { ...scenario, manifests };
  const model = new PolicyModel(input);
  const attempt = (id: string) => {
    const a = scenario.attempts.find((x) => x.id === id);
    if (!a) throw new Error(`no attempt ${id}: ${scenario.attempts.map((x) => x.id).join(', ')}`);
    return a;
  };
  return { scenario, input, attempt, p: (id) => model.predict(attempt(id)) };
}

const grant = (spec: string, apiVersion = 'gateway.networking.k8s.io/v1beta1') => `
apiVersion: ${apiVersion}
kind: ReferenceGrant
metadata: { name: from-a, namespace: tenant-b }
spec:
${indent(spec, 2)}
`;
const FROM_A = 'from: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: tenant-a }]';

describe('model: attempts through an ingress gateway', () => {
  it('routes the control and drops the cross backendRef without a ReferenceGrant (references.go BackendAllowed, conversion.go buildDestination)', async () => {
    const { p } = await plan('');
    const control = p(CONTROL);
    expect(control.outcome).to.equal('allowed');
    const text = control.reasons.join('\n');
    expect(text).to.include("hop 1, tenant-a/probe-nosidecar → the gateway's pod ingress/public-istio:80");
    expect(text).to.include('share a namespace: no ReferenceGrant needed');
    expect(text).to.include('mTLS: the peer principal is cluster.local/ns/ingress/sa/public-istio');
    const cross = p(CROSS);
    expect(cross).to.include({ outcome: 'denied-l7', layer: 'routing' });
    expect(cross.reasons.join('\n')).to.include(
      'no ReferenceGrant in tenant-b lets HTTPRoutes of tenant-a reach Service tenant-b/web',
    );
  });

  it('resolves the cross backendRef with a grant for HTTPRoutes of the route namespace, all Services or the named one (referencegrant_types.go)', async () => {
    const all = await plan(grant(`${FROM_A}\nto: [{ group: "", kind: Service }]`));
    expect(all.p(CROSS).outcome).to.equal('allowed');
    expect(all.p(CROSS).reasons.join('\n')).to.include(
      'lets HTTPRoutes of tenant-a reach every Service of tenant-b',
    );
    const named = await plan(grant(`${FROM_A}\nto: [{ group: "", kind: Service, name: web }]`));
    expect(named.p(CROSS).outcome).to.equal('allowed');
    const v1 = await plan(
      grant(`${FROM_A}\nto: [{ group: "", kind: Service }]`, 'gateway.networking.k8s.io/v1'),
    );
    expect(v1.p(CROSS).outcome).to.equal('allowed');
  });

  it('keeps the 500 for a grant naming another Service, another namespace, another kind or group (references.go:133-178)', async () => {
    for (const spec of [
      `${FROM_A}\nto: [{ group: "", kind: Service, name: other }]`,
      'from: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: ingress }]\nto: [{ group: "", kind: Service }]',
      'from: [{ group: gateway.networking.k8s.io, kind: GRPCRoute, namespace: tenant-a }]\nto: [{ group: "", kind: Service }]',
      `${FROM_A}\nto: [{ group: core, kind: Service }]`,
    ]) {
      const { p } = await plan(grant(spec));
      expect(p(CROSS), spec).to.include({ outcome: 'denied-l7', layer: 'routing' });
    }
  });

  it('leaves a ReferenceGrant in a version the pinned bundles do not serve unknown (REFERENCE_GRANT_VERSIONS)', async () => {
    const { p } = await plan(
      grant(`${FROM_A}\nto: [{ group: "", kind: Service }]`, 'gateway.networking.k8s.io/v1alpha2'),
    );
    expect(p(CROSS)).to.include({ outcome: 'unknown', layer: 'routing' });
    expect(p(CONTROL).outcome).to.equal('allowed');
  });

  it('drops hop 1 at the gateway namespace ingress, by the pod labels of kube-gateway.yaml:59-71 (denied-l4)', async () => {
    const { p } = await plan(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: no-way-in, namespace: ingress }
spec:
  podSelector: { matchLabels: { gateway.networking.k8s.io/gateway-name: public } }
  policyTypes: [Ingress]
`);
    const control = p(CONTROL);
    expect(control).to.include({ outcome: 'denied-l4', layer: 'network' });
    expect(control.reasons.join('\n')).to.include('no-way-in');
  });

  it("drops hop 1 at the source's egress, on the listener port the pod binds itself (deploymentcontroller.go extractServicePorts)", async () => {
    const egress = (port: number) => `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: egress, namespace: tenant-a }
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
    - to: [{ namespaceSelector: {} }]
      ports: [{ port: ${port} }, { port: 53, protocol: UDP }, { port: 8080 }, { port: 15012 }]
`;
    expect((await plan(egress(80))).p(CONTROL).outcome).to.equal('allowed');
    expect((await plan(egress(8081))).p(CONTROL)).to.include({ outcome: 'denied-l4', layer: 'network' });
  });

  it('applies selector and Gateway-targetRef policies to the gateway, with no principal for the plaintext caller (policyattachment.go:123-201)', async () => {
    const policy = (ns: string, attach: string, rules: string, action = 'DENY') => `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: gw, namespace: ${ns} }
spec:${attach ? `\n${indent(attach, 2)}` : ''}
  action: ${action}
  rules:
${indent(rules, 4)}
`;
    const hostDeny = '- to: [{ operation: { hosts: [a.example.com] } }]';
    const cases: [string, string][] = [
      [
        policy(
          'ingress',
          'selector: { matchLabels: { gateway.networking.k8s.io/gateway-name: public } }',
          hostDeny,
        ),
        'denied-l7',
      ],
      [
        policy(
          'ingress',
          'targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: public }]',
          hostDeny,
        ),
        'denied-l7',
      ],
      [policy('istio-system', '', hostDeny), 'denied-l7'],
      // A root-namespace targetRef to the Gateway does not attach (namespace check, :184-192).
      [
        policy(
          'istio-system',
          'targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: public }]',
          hostDeny,
        ),
        'allowed',
      ],
      [
        policy(
          'ingress',
          'targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: private }]',
          hostDeny,
        ),
        'allowed',
      ],
      [policy('ingress', 'selector: { matchLabels: { app: something-else } }', hostDeny), 'allowed'],
      // Plaintext: a positive namespace never matches, so an ALLOW by namespace denies.
      [policy('ingress', '', '- from: [{ source: { namespaces: [tenant-a] } }]', 'ALLOW'), 'denied-l7'],
    ];
    for (const [yaml, outcome] of cases) {
      const c = (await plan(yaml)).p(CONTROL);
      expect(c.outcome, yaml).to.equal(outcome);
      if (outcome === 'denied-l7') {
        expect(c.layer).to.equal('authorization');
        expect(c.reasons.join('\n')).to.include('the gateway answers 403 itself');
      }
    }
  });

  it("drops hop 3 at the backend's ingress: the gateway's 503 (denied-l4)", async () => {
    const { p } = await plan(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: same-namespace-only, namespace: tenant-a }
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress: [{ from: [{ podSelector: {} }] }]
`);
    const control = p(CONTROL);
    expect(control).to.include({ outcome: 'denied-l4', layer: 'network' });
    expect(control.reasons.join('\n')).to.include("the gateway's upstream connection fails");
  });

  it("authorizes hop 3 by the gateway's principal and namespace, STRICT satisfied (cluster_tls.go auto mTLS)", async () => {
    const strict = `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: tenant-a }
spec: { mtls: { mode: STRICT } }
---`;
    const allow = (principal: string) => `${strict}
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: web, namespace: tenant-a }
spec:
  selector: { matchLabels: { bulkhead.dev/workload: web } }
  action: ALLOW
  rules: [{ from: [{ source: { principals: ['${principal}'] } }] }]
`;
    expect((await plan(allow('cluster.local/ns/ingress/sa/public-istio'))).p(CONTROL).outcome).to.equal(
      'allowed',
    );
    const other = (await plan(allow('cluster.local/ns/ingress/sa/other'))).p(CONTROL);
    expect(other).to.include({ outcome: 'denied-l7', layer: 'authorization' });
    expect(other.reasons.join('\n')).to.include("the gateway passes on the backend's 403");
    const byNamespace = (
      await plan(`${strict}
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-others, namespace: tenant-a }
spec:
  action: DENY
  rules: [{ from: [{ source: { notNamespaces: [tenant-a] } }] }]
`)
    ).p(CONTROL);
    expect(byNamespace).to.include({ outcome: 'denied-l7', layer: 'authorization' });
  });

  it("needs the gateway's proxy to reach istiod like a sidecar's (fact O13)", async () => {
    const { p } = await plan(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: no-egress, namespace: ingress }
spec: { podSelector: {}, policyTypes: [Egress] }
`);
    const control = p(CONTROL);
    expect(control.outcome).to.equal('unknown');
    expect(control.reasons.join('\n')).to.include('the proxy of ingress/public-istio cannot reach istiod');
  });

  it('leaves an HTTPRoute attached to the Gateway unknown (its parentRef kind defaults to Gateway)', async () => {
    const { p } = await plan(`
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: extra, namespace: tenant-a }
spec:
  parentRefs: [{ name: public, namespace: ingress }]
  rules: [{ backendRefs: [{ name: other, port: 8080 }] }]
`);
    expect(p(CONTROL).outcome).to.equal('unknown');
    expect(p(CONTROL).reasons.join('\n')).to.include('attached to an ingress gateway');
  });

  it('leaves the hop to an ambient backend unknown: the facts have no gateway-to-ambient path (ambient-cnp-facts.md)', async () => {
    const scenario = await load(
      TOPOLOGY.replace('    - name: b\n', '    - name: b\n      dataplane: ambient\n'),
    );
    const model = new PolicyModel({ ...scenario, manifests: [] });
    const control = scenario.attempts.filter(
      (a) => a.id.startsWith('gateway:tenant-b/') && !a.id.includes('/to/'),
    );
    expect(control).to.not.deep.equal([]);
    for (const a of control) {
      const p = model.predict(a);
      expect(p.outcome, a.id).to.equal('unknown');
      expect(p.reasons.join('\n')).to.include('no facts for an ingress gateway');
    }
  });

  it('leaves a meshed source unknown: its sidecar would route the Host, which the facts do not cover (gateways.ts)', async () => {
    const { scenario, input, attempt } = await plan('');
    const meshed = { ...attempt(CONTROL), from: { namespace: 'tenant-a', name: 'probe' } };
    expect(
      scenario.workloads.find((w) => w.name === 'probe' && w.namespace === 'tenant-a')?.sidecar,
    ).to.equal(true);
    const p = new PolicyModel(input).predict(meshed);
    expect(p.outcome).to.equal('unknown');
    expect(p.reasons.join('\n')).to.include('is in the mesh');
  });

  it('ablates the policy layers of each hop; the missing grant holds in every ablated model (ablation.ts)', async () => {
    const denyB = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: same-namespace-only, namespace: tenant-b }
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress: [{ from: [{ podSelector: {} }] }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-others, namespace: tenant-b }
spec:
  action: DENY
  rules: [{ from: [{ source: { notNamespaces: [tenant-b] } }] }]
`;
    const granted = await plan(`${denyB}---${grant(`${FROM_A}\nto: [{ group: "", kind: Service }]`)}`);
    expect(granted.p(CROSS)).to.include({ outcome: 'denied-l4', layer: 'network' });
    const a = new Ablator(granted.input).ablate(granted.attempt(CROSS));
    expect(a.without.network).to.equal('denied-l7');
    expect(a.without.authorization).to.equal('denied-l4');
    expect(a.holdsAlone).to.have.members(['network', 'authorization']);
    expect(a.failsWithout).to.deep.equal([]);

    const ungranted = await plan(denyB);
    const b = new Ablator(ungranted.input).ablate(ungranted.attempt(CROSS));
    expect(b.without).to.deep.equal({ network: 'denied-l7', mtls: 'denied-l7', authorization: 'denied-l7' });
    expect(b.failsWithout).to.deep.equal([]);
  });
});
