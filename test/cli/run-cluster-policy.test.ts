/**
 * `bulkhead run --cluster-policy cnp|calico`: the same option as `plan`'s, choosing where
 * `builtin: hard-isolation` puts its cross-tenant deny; the objects the run applies (its
 * `policies` record, as the fake API server stored them) are the form asked for. An option that
 * would change nothing (no hard-isolation in the scenario) or a form that does not exist is bad
 * input: exit 2, one sentence, before anything is created.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { FakeApiServer } from '../support/fake-apiserver/server.js';
import { runCli, runExisting } from '../support/cli.js';
import { putCalicoInstallation, putIstiod } from '../support/existing-cluster.js';
import { agentBundle, agentExec, closedPort, scriptedServer } from '../support/fake-cluster.js';
import { HEAD } from '../support/scenarios.js';

const TENANTS = `  tenants:
    - name: acme
      probes: false
      workloads: [{ name: client }, { name: api, ports: [8080] }]
    - name: globex
      probes: false
      workloads: [{ name: client }]
`;
const ATTEMPTS = `  attempts:
    - { id: acme-to-acme, kind: http, from: tenant-acme/client, to: tenant-acme/api, expect: allowed }
`;
const BUNDLE = `${HEAD}${TENANTS}  policies:\n    - builtin: hard-isolation\n${ATTEMPTS}`;
const OWN = `${HEAD}${TENANTS}  policies:
    - inline: |
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: { name: allow-all, namespace: tenant-acme }
        spec: { podSelector: {}, policyTypes: [Ingress], ingress: [{}] }
${ATTEMPTS}`;

/** A CRD that keeps whatever it is given, for the kinds the bundle renders. */
function crd(group: string, version: string, kind: string, plural: string, scope: 'Cluster' | 'Namespaced') {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${group}` },
    spec: {
      group,
      names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
      scope,
      versions: [
        {
          name: version,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
        },
      ],
    },
  };
}

interface Stored {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string };
  readonly spec: Record<string, unknown>;
}

describe('cli: bulkhead run --cluster-policy', function () {
  this.timeout(60_000);
  let dir: string;
  let server: FakeApiServer;
  let app: Awaited<ReturnType<typeof scriptedServer>>;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-cluster-policy-'));
    app = await scriptedServer(['app']);
    server = await new FakeApiServer({
      exec: agentExec({
        bundlePath: await agentBundle(),
        unroutedPort: await closedPort(),
        route: (_source, host) => (host.startsWith('api.') ? app.port : undefined),
      }),
    }).start();
    for (const object of [
      crd('projectcalico.org', 'v3', 'Tier', 'tiers', 'Cluster'),
      crd('projectcalico.org', 'v3', 'GlobalNetworkPolicy', 'globalnetworkpolicies', 'Cluster'),
      crd(
        'policy.networking.k8s.io',
        'v1alpha2',
        'ClusterNetworkPolicy',
        'clusternetworkpolicies',
        'Cluster',
      ),
      crd('security.istio.io', 'v1', 'PeerAuthentication', 'peerauthentications', 'Namespaced'),
      crd('security.istio.io', 'v1', 'AuthorizationPolicy', 'authorizationpolicies', 'Namespaced'),
      crd('networking.istio.io', 'v1alpha3', 'EnvoyFilter', 'envoyfilters', 'Namespaced'),
    ])
      server.put(object);
    // ClusterNetworkPolicy needs Calico v3.32.1 or later.
    putCalicoInstallation(server, 'v3.32.1');
    putIstiod(server);
    await writeFile(path.join(dir, 'kubeconfig'), server.kubeConfig().exportConfig());
  });
  afterEach(async () => {
    await server.stop();
    await app.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** The policy objects the run applied, as the cluster stored them. */
  async function applied(): Promise<Stored[]> {
    const text = await readFile(path.join(dir, 'reports', 'r1', 'results.jsonl'), 'utf8');
    const record = text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; applied?: Stored[] })
      .find((r) => r.type === 'policies');
    return record?.applied ?? [];
  }

  it('applies the cross-tenant deny as ClusterNetworkPolicies in the Admin tier with --cluster-policy cnp', async () => {
    await writeFile(path.join(dir, 'scenario.yaml'), BUNDLE);
    const r = await runExisting(dir, '--stable-rounds', '1', '--cluster-policy', 'cnp');
    expect(r.code, r.stderr).to.equal(0);
    const objects = await applied();
    const cnps = objects.filter((o) => o.kind === 'ClusterNetworkPolicy');
    expect(cnps.map((o) => [o.apiVersion, o.spec.tier])).to.deep.equal([
      ['policy.networking.k8s.io/v1alpha2', 'Admin'],
      ['policy.networking.k8s.io/v1alpha2', 'Admin'],
    ]);
    // One priority per tenant, none shared (facts B2.4).
    expect(new Set(cnps.map((o) => o.spec.priority)).size).to.equal(2);
    expect(objects.filter((o) => o.kind === 'Tier' || o.kind === 'GlobalNetworkPolicy')).to.deep.equal([]);
  });

  it('applies the Calico tier form with --cluster-policy calico', async () => {
    await writeFile(path.join(dir, 'scenario.yaml'), BUNDLE);
    const r = await runExisting(dir, '--stable-rounds', '1', '--cluster-policy', 'calico');
    expect(r.code, r.stderr).to.equal(0);
    const kinds = (await applied()).map((o) => o.kind);
    expect(kinds).to.include.members(['Tier', 'GlobalNetworkPolicy']);
    expect(kinds).to.not.include('ClusterNetworkPolicy');
  });

  it('refuses --cluster-policy on a scenario without builtin: hard-isolation, creating nothing', async () => {
    await writeFile(path.join(dir, 'scenario.yaml'), OWN);
    const r = await runExisting(dir, '--cluster-policy', 'cnp');
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stderr).to.match(
      /^error: --cluster-policy cnp: \S*scenario\.yaml does not use builtin: hard-isolation, the only policy source it chooses the form of$/m,
    );
    expect(server.requests.filter((q) => q.method !== 'GET')).to.deep.equal([]);
  });

  it('refuses a form that does not exist', async () => {
    await writeFile(path.join(dir, 'scenario.yaml'), BUNDLE);
    const r = await runExisting(dir, '--cluster-policy', 'anp');
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stderr).to.contain("option '--cluster-policy <form>' argument 'anp' is invalid");
    expect(server.requests).to.deep.equal([]);
  });
});

describe('cli: bulkhead run refuses ClusterNetworkPolicy on a Calico before v3.32.1', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-cnp-gate-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const SENTENCE =
    'uses ClusterNetworkPolicy (ClusterNetworkPolicy tenant-isolation-acme, ClusterNetworkPolicy tenant-isolation-globex), which Calico enforces from v3.32.1 on (v3.32.0 added it and is refused for its server-side-apply bug); ';

  it('on kind, against the Calico it would install (the default v3.31.2), before any download', async () => {
    await writeFile(path.join(dir, 'scenario.yaml'), BUNDLE);
    // A mirror that cannot answer: a download attempted would fail with another message.
    const r = await runCli(
      ['run', '-f', 'scenario.yaml', '--cluster-policy', 'cnp', '--calico-base-url', 'http://127.0.0.1:9'],
      dir,
    );
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stderr).to.contain(
      `${SENTENCE}this run would install Calico v3.31.2: add --calico v3.32.1 (or --cluster-policy calico)`,
    );
    expect(r.stderr).to.not.contain('$ ');
    // The scenario's own clusterPolicy: cnp is refused the same way, without the option.
    await writeFile(
      path.join(dir, 'scenario.yaml'),
      BUNDLE.replace('- builtin: hard-isolation', '- { builtin: hard-isolation, clusterPolicy: cnp }'),
    );
    const own = await runCli(['run', '-f', 'scenario.yaml', '--calico-base-url', 'http://127.0.0.1:9'], dir);
    expect(own.code, own.stderr).to.equal(2);
    expect(own.stderr).to.contain(`${SENTENCE}this run would install Calico v3.31.2: add --calico v3.32.1`);
  });

  it('on an existing cluster, against the Calico it runs, creating nothing', async () => {
    const server = await new FakeApiServer({}).start();
    try {
      putCalicoInstallation(server, 'v3.31.2');
      server.put(crd('projectcalico.org', 'v3', 'Tier', 'tiers', 'Cluster'));
      server.put(crd('projectcalico.org', 'v3', 'GlobalNetworkPolicy', 'globalnetworkpolicies', 'Cluster'));
      putIstiod(server);
      await writeFile(path.join(dir, 'kubeconfig'), server.kubeConfig().exportConfig());
      await writeFile(
        path.join(dir, 'scenario.yaml'),
        OWN.replace(
          `        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: { name: allow-all, namespace: tenant-acme }
        spec: { podSelector: {}, policyTypes: [Ingress], ingress: [{}] }`,
          `        apiVersion: policy.networking.k8s.io/v1alpha2
        kind: ClusterNetworkPolicy
        metadata: { name: platform-baseline }
        spec:
          tier: Baseline
          priority: 10
          subject: { namespaces: {} }
          ingress: [{ name: deny-all, action: Deny, from: [{ namespaces: {} }] }]`,
        ),
      );
      const r = await runExisting(dir);
      expect(r.code, r.stderr).to.equal(2);
      expect(r.stderr).to.match(
        /^error: \S*scenario\.yaml uses ClusterNetworkPolicy \(ClusterNetworkPolicy platform-baseline\), which Calico enforces from v3\.32\.1 on \(v3\.32\.0 added it and is refused for its server-side-apply bug\); the cluster runs Calico v3\.31\.2: upgrade it$/m,
      );
      // Only reads and the permission checks that finding the cluster makes (access reviews).
      expect(
        server.requests.filter(
          (q) => q.method !== 'GET' && q.path !== '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
        ),
      ).to.deep.equal([]);
    } finally {
      await server.stop();
    }
  });
});
