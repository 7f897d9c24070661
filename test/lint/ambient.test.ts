/** The ambient lint rules: a bad and a good example each, with the fact they rest on. */
import { expect } from 'chai';

import { calicoEbpfFields } from '../../harness/calico-dataplane.js';
import { lintManifests, type Finding } from '../../harness/lint/index.js';
import { toManifests } from '../../harness/policies/documents.js';
import type { Scenario } from '../../harness/scenario/types.js';
import { HEAD, load } from '../support/scenarios.js';

let scenario: Scenario;
before(async () => {
  scenario = await load(`${HEAD}  tenants:
    - name: a
      dataplane: ambient
      waypoints: [{ name: waypoint, services: [api] }]
      workloads:
        - { name: api, ports: [8080] }
        - { name: db, ports: [5432] }
`);
});

function ambient(text: string, rule: string): Finding[] {
  return lintManifests(toManifests(text, 'test.yaml'), { scenario }).filter((f) => f.rule === rule);
}

const authz = (name: string, spec: string, ns = 'tenant-a') => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ${name}, namespace: ${ns} }
spec:
${spec}
---
`;

describe('lint: ambient pitfalls', () => {
  it('ambient/http-at-ztunnel (A4.3): HTTP attributes in a selector policy, not in a targetRefs one', () => {
    const bad = ambient(
      authz(
        'get',
        '  selector: { matchLabels: { app: api } }\n  rules: [{ to: [{ operation: { methods: [GET] } }] }]',
      ),
      'ambient/http-at-ztunnel',
    );
    expect(bad).to.have.length(1);
    expect(bad[0]?.message).to.contain(
      'drops its HTTP attributes (methods): ZtunnelAccepted UnsupportedValue',
    );
    expect(bad[0]?.line).to.equal(6);
    const good = ambient(
      authz(
        'get',
        '  targetRefs: [{ kind: Service, group: "", name: api }]\n  rules: [{ to: [{ operation: { methods: [GET] } }] }]',
      ),
      'ambient/http-at-ztunnel',
    );
    expect(good).to.deep.equal([]);
  });

  it('ambient/l7-without-waypoint (A4.4): a targetRefs policy on a Service without a waypoint', () => {
    const bad = ambient(
      authz('db', '  targetRefs: [{ kind: Service, group: "", name: db }]\n  rules: [{}]'),
      'ambient/l7-without-waypoint',
    );
    expect(bad.map((f) => f.message)).to.deep.equal([
      'this policy is enforced by a waypoint, and Service tenant-a/db uses no waypoint: it does nothing',
    ]);
    const gateway = ambient(
      authz(
        'gw',
        '  targetRefs: [{ kind: Gateway, group: gateway.networking.k8s.io, name: other }]\n  rules: [{}]',
      ),
      'ambient/l7-without-waypoint',
    );
    expect(gateway[0]?.message).to.contain('no waypoint named other in tenant-a');
    expect(
      ambient(
        authz('api', '  targetRefs: [{ kind: Service, group: "", name: api }]\n  rules: [{}]'),
        'ambient/l7-without-waypoint',
      ),
    ).to.deep.equal([]);
  });

  it('ambient/waypoint-bypass (A4.6, AO8): L7 at the waypoint without a ztunnel ALLOW naming it', () => {
    const l7 = authz(
      'api',
      '  targetRefs: [{ kind: Service, group: "", name: api }]\n  rules: [{ to: [{ operation: { methods: [GET] } }] }]',
    );
    expect(ambient(l7, 'ambient/waypoint-bypass').map((f) => f.severity)).to.deep.equal(['warning']);
    const closed = ambient(
      l7 +
        authz(
          'via-waypoint',
          '  selector: { matchLabels: { app: api } }\n  rules: [{ from: [{ source: { principals: [cluster.local/ns/tenant-a/sa/waypoint] } }] }]',
        ),
      'ambient/waypoint-bypass',
    );
    expect(closed).to.deep.equal([]);
  });

  const netpol = (ingress: string, name = 'ingress', podSelector = '{}') => `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: ${name}, namespace: tenant-a }
spec:
  podSelector: ${podSelector}
  policyTypes: [Ingress]
  ingress:
${ingress}
---
`;

  it('ambient/netpol-blocks-hbone (A1.14, A4.9): ingress on app ports only', () => {
    expect(ambient(netpol('    - ports: [{ port: 8080 }]'), 'ambient/netpol-blocks-hbone')).to.have.length(1);
    expect(
      ambient(netpol('    - ports: [{ port: 8080 }, { port: 15008 }]'), 'ambient/netpol-blocks-hbone'),
    ).to.deep.equal([]);
  });

  it('ambient/netpol-blocks-probes (A4.9): restricted ingress without 169.254.7.127', () => {
    const bad = ambient(
      netpol('    - from: [{ namespaceSelector: { matchLabels: { tenant: a } } }]'),
      'ambient/netpol-blocks-probes',
    );
    expect(bad[0]?.hint).to.equal('Add an ingress rule from ipBlock 169.254.7.127/32.');
    const good = netpol(
      '    - from: [{ namespaceSelector: { matchLabels: { tenant: a } } }]\n    - from: [{ ipBlock: { cidr: 169.254.7.127/32 } }]',
    );
    expect(ambient(good, 'ambient/netpol-blocks-probes')).to.deep.equal([]);
  });

  it('netpol-blocks-hbone and -probes: policies add up, so one admitting it for every pod covers the rest', () => {
    const appPorts = netpol(
      '    - from: [{ namespaceSelector: { matchLabels: { tenant: a } } }]\n      ports: [{ port: 8080 }]',
      'app-ports',
    );
    const hbone = netpol(
      '    - from: [{ namespaceSelector: { matchLabels: { tenant: a } } }]\n      ports: [{ port: 15008 }]',
      'hbone',
    );
    const probes = netpol('    - from: [{ ipBlock: { cidr: 169.254.7.127/32 } }]', 'probes');
    const ids = (text: string) =>
      ['ambient/netpol-blocks-hbone', 'ambient/netpol-blocks-probes']
        .flatMap((rule) => ambient(text, rule).map((f) => `${f.rule} ${f.object.name}`))
        .sort();
    expect(ids(appPorts)).to.deep.equal([
      'ambient/netpol-blocks-hbone app-ports',
      'ambient/netpol-blocks-probes app-ports',
    ]);
    // hbone covers app-ports for 15008; nothing yet admits the probes.
    expect(ids(appPorts + hbone)).to.deep.equal([
      'ambient/netpol-blocks-probes app-ports',
      'ambient/netpol-blocks-probes hbone',
    ]);
    expect(ids(appPorts + hbone + probes)).to.deep.equal([]);
    // A policy that selects only some pods covers nothing for the others.
    const some = netpol(
      '    - ports: [{ port: 15008 }]\n    - from: [{ ipBlock: { cidr: 169.254.7.127/32 } }]',
      'api-only',
      '{ matchLabels: { app: api } }',
    );
    expect(ids(appPorts + some)).to.deep.equal([
      'ambient/netpol-blocks-hbone app-ports',
      'ambient/netpol-blocks-probes app-ports',
    ]);
  });

  it('ambient/envoyfilter (A4.8): an EnvoyFilter in an ambient namespace, not in a sidecar one', () => {
    const filter = (ns: string) => `apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: { name: identity, namespace: ${ns} }
spec:
  configPatches: []
`;
    expect(ambient(filter('tenant-a'), 'ambient/envoyfilter')).to.have.length(1);
    expect(ambient(filter('tenant-b'), 'ambient/envoyfilter')).to.deep.equal([]);
  });

  it('ambient/calico-ebpf (A1.8): bpfEnabled with ambient workloads', () => {
    const felix = (bpf: boolean) => `apiVersion: projectcalico.org/v3
kind: FelixConfiguration
metadata: { name: default }
spec:
  bpfEnabled: ${String(bpf)}
`;
    expect(ambient(felix(true), 'ambient/calico-ebpf').map((f) => f.severity)).to.deep.equal(['error']);
    expect(ambient(felix(false), 'ambient/calico-ebpf')).to.deep.equal([]);
  });

  it('ambient/calico-ebpf reads the same eBPF fields as the cluster check (harness/calico-dataplane.ts)', () => {
    const installation = (dataplane: string) => `apiVersion: operator.tigera.io/v1
kind: Installation
metadata: { name: default }
spec:
  calicoNetwork: { linuxDataplane: ${dataplane} }
`;
    const found = ambient(installation('BPF'), 'ambient/calico-ebpf');
    expect(found.map((f) => f.message)).to.deep.equal([
      'linuxDataplane: BPF with ambient workloads: Calico policy is not enforced on ambient traffic',
    ]);
    expect(ambient(installation('Nftables'), 'ambient/calico-ebpf')).to.deep.equal([]);
    // The one reading both use: a field the lint rule flags is one the cluster check refuses.
    expect(
      calicoEbpfFields({ kind: 'Installation', spec: { calicoNetwork: { linuxDataplane: 'BPF' } } }).map(
        (f) => f.path.join('.'),
      ),
    ).to.deep.equal(['spec.calicoNetwork.linuxDataplane']);
    expect(calicoEbpfFields({ kind: 'FelixConfiguration', spec: { bpfEnabled: true } })).to.have.length(1);
    expect(calicoEbpfFields({ kind: 'FelixConfiguration', spec: { bpfEnabled: 'true' } })).to.deep.equal([]);
  });
});
