/**
 * The cluster facts a run reads, as pure decisions: the API server from the `kubernetes`
 * EndpointSlice, the mesh's connect timeout and retries (istio/istio 1.29.3 defaults), the
 * deadlines derived from them, the DNS path cases, and the `--api-server` option.
 */
import { expect } from 'chai';
import { InvalidArgumentError } from 'commander';

import { apiServerEndpoints } from '../../harness/cli/shared.js';
import { EnvironmentError } from '../../harness/errors.js';
import { PolicyModel } from '../../harness/model/evaluate.js';
import { renderPolicySources } from '../../harness/policies/render.js';
import { endpointsOfSlices } from '../../harness/run/api-server-fact.js';
import { decideDns, nameserversOf, type DnsServiceReading } from '../../harness/run/dns-fact.js';
import {
  meshDeadlines,
  meshTimeoutsFromText,
  parseDuration,
  scenarioOverrides,
  type MeshTimeouts,
} from '../../harness/run/mesh-deadlines.js';
import type { Scenario } from '../../harness/scenario/types.js';
import { HEAD, load } from '../support/scenarios.js';

const SCENARIO = `${HEAD}  tenants:
    - name: acme
      workloads: [{ name: client }, { name: api, ports: [8080] }]
  attempts:
    - { id: meshed, kind: http, from: tenant-acme/probe, to: tenant-acme/api, expect: allowed }
    - { id: meshed-tcp, kind: tcp, from: tenant-acme/probe, to: tenant-acme/api, expect: allowed }
    - { id: meshed-own, kind: http, from: tenant-acme/probe, to: tenant-acme/api, expect: allowed, timeoutMs: 7000 }
    - { id: plain, kind: http, from: tenant-acme/probe-nosidecar, to: tenant-acme/api, expect: allowed }
    - { id: lookup, kind: dns, from: tenant-acme/probe, query: { name: api.tenant-acme.svc.cluster.local }, expect: resolved }
  generators:
    - { kind: dns-recon, from: [tenant-acme/probe], timeoutMs: 9000 }
`;

const STOCK: MeshTimeouts = {
  known: true,
  connectTimeoutMs: 10_000,
  retries: 2,
  retryOn: 'connect-failure',
  source: 'stock',
};

describe('cluster facts: the mesh settings', () => {
  it('reads protobuf JSON durations and nothing else', () => {
    expect(parseDuration('10s')).to.equal(10_000);
    expect(parseDuration('2.5s')).to.equal(2500);
    expect(parseDuration('0.001s')).to.equal(1);
    for (const bad of ['1m', '10', '10ms', 10, undefined, '-1s'])
      expect(parseDuration(bad), String(bad)).to.equal(undefined);
  });

  it("falls back to Istio's defaults field by field", () => {
    const empty = meshTimeoutsFromText('', 'ConfigMap istio-system/istio');
    expect(empty).to.include({ known: true, connectTimeoutMs: 10_000, retries: 2 });
    const three = meshTimeoutsFromText('connectTimeout: 3s\naccessLogFile: /dev/stdout\n', 'cm');
    expect(three).to.include({ known: true, connectTimeoutMs: 3000, retries: 2 });
    expect(three.known && three.source).to.contain('connectTimeout "3s" from cm');
  });

  it('takes defaultHttpRetryPolicy as Istio converts it: attempts retries, 0 or unset none', () => {
    const five = meshTimeoutsFromText('defaultHttpRetryPolicy: { attempts: 5, retryOn: 5xx }', 'cm');
    expect(five).to.include({ known: true, retries: 5, retryOn: '5xx' });
    const zero = meshTimeoutsFromText('defaultHttpRetryPolicy: { attempts: 0 }', 'cm');
    expect(zero).to.include({ retries: 0 });
    const unset = meshTimeoutsFromText('defaultHttpRetryPolicy: { retryOn: connect-failure }', 'cm');
    expect(unset).to.include({ retries: 0 });
  });

  it('says unknown, with the reason, for values it cannot read', () => {
    const minutes = meshTimeoutsFromText('connectTimeout: 1m', 'ConfigMap istio-system/istio');
    expect(minutes.known).to.equal(false);
    expect(!minutes.known && minutes.reason).to.contain('connectTimeout "1m"');
    expect(meshTimeoutsFromText('[', 'cm').known).to.equal(false);
    expect(meshTimeoutsFromText('defaultHttpRetryPolicy: { attempts: two }', 'cm').known).to.equal(false);
  });

  it("finds the scenario's own DestinationRule connect timeouts and VirtualService retries", () => {
    const found = scenarioOverrides([
      {
        file: 'p.yaml',
        line: 1,
        object: {
          apiVersion: 'networking.istio.io/v1',
          kind: 'DestinationRule',
          spec: {
            trafficPolicy: {
              connectionPool: { tcp: { connectTimeout: '4s' } },
              portLevelSettings: [
                { port: { number: 8080 }, connectionPool: { tcp: { connectTimeout: '20s' } } },
              ],
            },
          },
        },
      },
      {
        file: 'p.yaml',
        line: 9,
        object: {
          apiVersion: 'networking.istio.io/v1',
          kind: 'VirtualService',
          spec: { http: [{ retries: { attempts: 4 } }, { retries: { attempts: 1 } }] },
        },
      },
    ]);
    expect(found).to.include({ connectTimeoutMs: 20_000, retries: 4 });
    expect(found.problems).to.deep.equal([]);
  });
});

describe('cluster facts: deadlines of attempts through a sidecar', () => {
  let scenario: Scenario;
  before(async () => {
    scenario = await load(SCENARIO);
  });

  it('gives http and tcp attempts from a sidecar without their own timeout (1 + retries) x connectTimeout + 10 s', () => {
    const d = meshDeadlines(scenario, STOCK, []);
    expect(Object.fromEntries(d.deadlines)).to.deep.equal({ meshed: 40_000, 'meshed-tcp': 40_000 });
    expect(d.record).to.include({
      connectTimeoutMs: 10_000,
      retries: 2,
      marginMs: 10_000,
      derivedMs: 40_000,
      scenarioDefaultMs: 15_000,
      lengthened: 2,
      keptExplicit: 1,
    });
    expect(d.record.reasoning).to.contain('(1 + 2) × 10000 ms + 10000 ms = 40000 ms');
  });

  it('keeps explicit timeouts (attempt or generator), sources without a sidecar and dns attempts', async () => {
    const d = meshDeadlines(scenario, STOCK, []);
    for (const id of ['meshed-own', 'plain', 'lookup']) expect(d.deadlines.has(id), id).to.equal(false);
    const recon = scenario.attempts.filter((a) => a.origin.generator !== undefined);
    expect(recon.length).to.be.greaterThan(0);
    for (const a of recon) expect(a.explicitTimeout).to.equal(true);
    const defaulted = scenario.attempts.find((a) => a.id === 'meshed');
    expect(defaulted?.explicitTimeout).to.equal(undefined);
    // A generator without timeoutMs leaves its attempts defaulted.
    const plainGen = await load(`${HEAD}  tenants: [{ name: acme }]
  generators: [{ kind: dns-recon, from: [tenant-acme/probe] }]
`);
    expect(plainGen.attempts.every((a) => a.explicitTimeout === undefined)).to.equal(true);
  });

  it('changes nothing when the scenario default is already longer', () => {
    const short: MeshTimeouts = { ...STOCK, connectTimeoutMs: 1000 };
    const d = meshDeadlines(scenario, short, []);
    expect(d.deadlines.size).to.equal(0);
    expect(d.record.derivedMs).to.equal(13_000);
    expect(d.record.reasoning).to.contain('already longer');
  });

  it("raises the bound with the scenario's own DestinationRule timeout", () => {
    const d = meshDeadlines(scenario, STOCK, [
      {
        file: 'dr.yaml',
        line: 1,
        object: {
          apiVersion: 'networking.istio.io/v1',
          kind: 'DestinationRule',
          spec: { trafficPolicy: { connectionPool: { tcp: { connectTimeout: '30s' } } } },
        },
      },
    ]);
    expect(d.deadlines.get('meshed')).to.equal(100_000);
    expect(d.record.source).to.contain('connectTimeout 30s from DestinationRule dr.yaml:1');
  });

  it('refuses unknown mesh settings only when an attempt depends on them', async () => {
    const unknown: MeshTimeouts = {
      known: false,
      reason: 'ConfigMap istio-system/istio could not be read (403)',
    };
    expect(() => meshDeadlines(scenario, unknown, []))
      .to.throw(EnvironmentError, 'cannot tell how long Envoy takes')
      .with.property('hint')
      .that.contains('timeoutMs');
    const explicitOnly = await load(`${HEAD}  tenants:
    - name: acme
      workloads: [{ name: api, ports: [8080] }]
  attempts:
    - { id: own, kind: http, from: tenant-acme/probe, to: tenant-acme/api, expect: allowed, timeoutMs: 5000 }
`);
    const d = meshDeadlines(explicitOnly, unknown, []);
    expect(d.deadlines.size).to.equal(0);
    expect(d.record.reasoning).to.contain('sets its own timeoutMs');
  });
});

describe('cluster facts: the API server endpoints', () => {
  it('takes every address of the kubernetes EndpointSlice and its https port', () => {
    expect(
      endpointsOfSlices([
        {
          endpoints: [{ addresses: ['172.18.0.2'] }, { addresses: ['172.18.0.3'] }],
          ports: [{ name: 'https', port: 6443 }],
        },
        {
          addressType: 'IPv6',
          endpoints: [{ addresses: ['fd00::2'] }],
          ports: [{ name: 'https', port: 6443 }],
        },
      ]),
    ).to.deep.equal({ endpoints: { cidrs: ['172.18.0.2/32', '172.18.0.3/32', 'fd00::2/128'], port: 6443 } });
  });

  it('says what is missing', () => {
    expect(endpointsOfSlices([])).to.deep.equal({ missing: 'there is no EndpointSlice default/kubernetes' });
    expect(endpointsOfSlices([{ endpoints: [], ports: [{ port: 6443 }] }])).to.have.property('missing');
    expect(endpointsOfSlices([{ endpoints: [{ addresses: ['10.0.0.1'] }] }])).to.have.property('missing');
  });

  it('reads --api-server <cidr>[,<cidr>...][:port], each CIDR with its prefix length, port 6443 by default', () => {
    expect(apiServerEndpoints('10.0.0.5/32')).to.deep.equal({ cidrs: ['10.0.0.5/32'], port: 6443 });
    expect(apiServerEndpoints('10.0.0.5/32,10.0.0.6/32:443')).to.deep.equal({
      cidrs: ['10.0.0.5/32', '10.0.0.6/32'],
      port: 443,
    });
    expect(apiServerEndpoints('fd00::5/128:443')).to.deep.equal({ cidrs: ['fd00::5/128'], port: 443 });
    expect(apiServerEndpoints('fd00::/64')).to.deep.equal({ cidrs: ['fd00::/64'], port: 6443 });
    expect(() => apiServerEndpoints('10.0.0.5')).to.throw(InvalidArgumentError, 'prefix length');
    expect(() => apiServerEndpoints('10.0.0.5:6443')).to.throw(InvalidArgumentError);
    expect(() => apiServerEndpoints('10.0.0.300/32')).to.throw(InvalidArgumentError, '10.0.0.300/32');
    expect(() => apiServerEndpoints('10.0.0.5/32,bogus/8')).to.throw(InvalidArgumentError, 'bogus/8');
    expect(() => apiServerEndpoints('10.0.0.5/32:70000')).to.throw(InvalidArgumentError, 'port');
  });
});

const KUBEADM: Extract<DnsServiceReading, { ok: true }> = {
  ok: true,
  clusterIPs: ['10.96.0.10'],
  selector: { 'k8s-app': 'kube-dns' },
  servicePorts: [
    { name: 'dns', port: 53, protocol: 'UDP' },
    { name: 'dns-tcp', port: 53, protocol: 'TCP' },
    { name: 'metrics', port: 9153, protocol: 'TCP' },
  ],
  endpoints: [{ addresses: ['192.168.0.10'], targetKind: 'Pod', pod: 'coredns-1' }],
  slicePorts: [
    { name: 'dns', port: 53, protocol: 'UDP' },
    { name: 'dns-tcp', port: 53, protocol: 'TCP' },
    { name: 'metrics', port: 9153, protocol: 'TCP' },
  ],
  pods: { labels: { 'k8s-app': 'kube-dns', 'pod-template-hash': 'abc' }, hostNetwork: [] },
};
const RESOLVER = { nameservers: ['10.96.0.10'], pod: 'tenant-acme/client-1' };

describe('cluster facts: the DNS path', () => {
  it('reads nameserver lines, comments aside', () => {
    expect(
      nameserversOf(
        '# written by kubelet\nsearch a.svc.cluster.local\nnameserver 10.96.0.10\nnameserver fd00::a ; x\n',
      ),
    ).to.deep.equal(['10.96.0.10', 'fd00::a']);
  });

  it("keeps the bundle's allow-dns for kubeadm's CoreDNS behind the kube-dns ClusterIP", () => {
    const d = decideDns({ service: KUBEADM, resolver: RESOLVER, provider: 'existing', needed: true });
    expect(d.status).to.equal('kubeadm');
    expect(d.render).to.equal(undefined);
    expect(d.model).to.equal(undefined);
    expect(d.reasoning).to.contain('k8s-app=kube-dns');
  });

  it('allows exactly the selected pods and their own ports for another DNS deployment', () => {
    const other: DnsServiceReading = {
      ...KUBEADM,
      selector: { app: 'coredns' },
      slicePorts: [
        { name: 'dns', port: 1053, protocol: 'UDP' },
        { name: 'dns-tcp', port: 1053, protocol: 'TCP' },
      ],
      pods: { labels: { app: 'coredns', tier: 'dns' }, hostNetwork: [] },
    };
    const d = decideDns({ service: other, resolver: RESOLVER, provider: 'existing', needed: true });
    expect(d.status).to.equal('adjusted');
    expect(d.render).to.deep.equal({
      podLabels: { app: 'coredns' },
      ports: [
        { protocol: 'UDP', port: 1053 },
        { protocol: 'TCP', port: 1053 },
      ],
    });
    expect(d.model?.labels).to.deep.equal({ app: 'coredns', tier: 'dns' });
  });

  it('refuses a nameserver that is not the kube-dns ClusterIP, naming it, when the bundle needs it', () => {
    const nodeLocal = { nameservers: ['169.254.20.10'], pod: 'tenant-acme/client-1' };
    expect(() => decideDns({ service: KUBEADM, resolver: nodeLocal, provider: 'kind', needed: true }))
      .to.throw(EnvironmentError, '169.254.20.10')
      .with.property('message')
      .that.contains('link-local');
    const d = decideDns({ service: KUBEADM, resolver: nodeLocal, provider: 'existing', needed: false });
    expect(d.status).to.equal('unknown');
    expect(d.reasoning).to.contain('the model predicts no DNS attempt');
  });

  it('refuses a Service without a selector, endpoints that are not pods, DNS pods on the host network', () => {
    const cases: DnsServiceReading[] = [
      { ...KUBEADM, selector: undefined },
      { ...KUBEADM, endpoints: [{ addresses: ['10.0.0.53'] }] },
      { ...KUBEADM, pods: { labels: {}, hostNetwork: ['coredns-1'] } },
      { ...KUBEADM, endpoints: [] },
      { ...KUBEADM, servicePorts: [{ name: 'dns-tcp', port: 53, protocol: 'TCP' }] },
    ];
    const messages = cases.map((service) => {
      try {
        decideDns({ service, resolver: RESOLVER, provider: 'existing', needed: true });
        return 'no error';
      } catch (error) {
        expect(error).to.be.instanceOf(EnvironmentError);
        return (error as Error).message;
      }
    });
    expect(messages[0]).to.contain('no selector');
    expect(messages[1]).to.contain('10.0.0.53 are not pods');
    expect(messages[2]).to.contain('host network');
    expect(messages[3]).to.contain('no endpoints');
    expect(messages[4]).to.contain('no port 53/UDP');
  });

  it('falls back to kubeadm CoreDNS only on kind when nothing could be read', () => {
    const unread: DnsServiceReading = {
      ok: false,
      reason: 'the Service kube-system/kube-dns could not be read (403)',
    };
    expect(
      decideDns({ service: unread, resolver: RESOLVER, provider: 'kind', needed: true }).status,
    ).to.equal('kind-default');
    expect(() => decideDns({ service: unread, resolver: RESOLVER, provider: 'k3s', needed: true })).to.throw(
      EnvironmentError,
      'could not be read (403)',
    );
    expect(
      decideDns({ service: KUBEADM, resolver: { reason: 'exec failed' }, provider: undefined, needed: false })
        .status,
    ).to.equal('unknown');
  });
});

describe('cluster facts: plan and model agree with the allow-dns the cluster gets', () => {
  const text = `${HEAD}  tenants:
    - name: acme
      workloads: [{ name: api, ports: [8080] }]
  policies:
    - builtin: hard-isolation
  attempts:
    - { id: lookup, kind: dns, from: tenant-acme/probe-nosidecar, query: { name: api.tenant-acme.svc.cluster.local }, expect: resolved }
    - { id: meshed, kind: http, from: tenant-acme/probe, to: tenant-acme/api, expect: allowed }
`;
  const dns = {
    podLabels: { app: 'coredns' },
    ports: [
      { protocol: 'UDP' as const, port: 1053 },
      { protocol: 'TCP' as const, port: 1053 },
    ],
  };
  const modelDns = { labels: { app: 'coredns' }, ports: dns.ports };
  const predict = (s: Scenario, options: Parameters<typeof renderPolicySources>[1], facts: object) => {
    const model = new PolicyModel({
      namespaces: s.namespaces,
      workloads: s.workloads,
      meshRootNamespace: s.meshRootNamespace,
      trustDomain: s.trustDomain,
      clusterDomain: s.clusterDomain,
      manifests: renderPolicySources(s, options),
      facts,
    });
    return (id: string) => model.predict(s.attempts.find((a) => a.id === id) ?? s.attempts[0]!);
  };

  it('renders allow-dns with the given pods and ports, and the default unchanged', async () => {
    const s = await load(text);
    const rule = (options: Parameters<typeof renderPolicySources>[1]) =>
      renderPolicySources(s, options).find(
        (m) => (m.object.metadata as { name?: string }).name === 'allow-dns',
      )?.object.spec as { egress: { to: { podSelector: unknown }[]; ports: unknown }[] };
    expect(rule({}).egress[0]?.to[0]?.podSelector).to.deep.equal({ matchLabels: { 'k8s-app': 'kube-dns' } });
    expect(rule({}).egress[0]?.ports).to.deep.equal([
      { protocol: 'UDP', port: 53 },
      { protocol: 'TCP', port: 53 },
    ]);
    expect(rule({ dns }).egress[0]?.to[0]?.podSelector).to.deep.equal({ matchLabels: { app: 'coredns' } });
    expect(rule({ dns }).egress[0]?.ports).to.deep.equal(dns.ports);
  });

  it('predicts DNS resolved and the meshed pod ready when rule and DNS pods agree, denied when they do not', async () => {
    const s = await load(text);
    // The cluster's DNS pods, allowed by the rendered rule: both predictions hold.
    const agree = predict(s, { dns }, { dns: modelDns });
    expect(agree('lookup').outcome).to.equal('resolved');
    expect(agree('meshed').outcome).to.equal('allowed');
    // The shipped rule on that cluster: the query is dropped and the sidecar never gets ready.
    const stale = predict(s, {}, { dns: modelDns });
    expect(stale('lookup')).to.include({ outcome: 'denied-l4', layer: 'network' });
    expect(stale('meshed').outcome).to.not.equal('allowed');
    // kubeadm's CoreDNS and the shipped rule, as plan assumes.
    const plan = predict(s, {}, {});
    expect(plan('lookup').outcome).to.equal('resolved');
    expect(plan('meshed').outcome).to.equal('allowed');
  });
});
