/**
 * The facts a run reads from the cluster, against the fake API server with the real agent behind
 * exec: the API server endpoints (refused on an existing cluster that cannot say, unless given;
 * kind keeps its fallback), the deadlines of attempts through a sidecar from the mesh config the
 * cluster holds, and the DNS path the pods use. Only loopback is dialled: the addresses below
 * (172.18.0.2, 10.96.0.10, 169.254.20.10) are data in objects and files.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import type { ProviderName } from '../../harness/cluster/provider.js';
import { EnvironmentError } from '../../harness/errors.js';
import type { ApiServerEndpoints } from '../../harness/policies/options.js';
import { createProgress } from '../../harness/run/progress.js';
import { runScenario, type RunResult } from '../../harness/run/runner.js';
import type { ExecRequest } from '../support/fake-apiserver/exec.js';
import { resolvConf } from '../support/fake-apiserver/cluster-services.js';
import {
  FakeApiServer,
  type FakeApiServerOptions,
  type RecordedRequest,
} from '../support/fake-apiserver/server.js';
import { runExisting } from '../support/cli.js';
import { putCalicoInstallation, putIstiod } from '../support/existing-cluster.js';
import { agentBundle, agentExec, closedPort, scriptedServer } from '../support/fake-cluster.js';
import { HEAD, load } from '../support/scenarios.js';

const TENANTS = `  tenants:
    - name: acme
      probes: false
      workloads:
        - { name: client }
        - { name: plain, sidecar: false }
        - { name: api, ports: [8080] }
`;

/** The built-in bundle: allow-dns and allow-api-server come from the cluster facts. */
const BUNDLE = `${HEAD}${TENANTS}  policies:
    - builtin: hard-isolation
  attempts:
    - { id: acme-to-acme, kind: http, from: tenant-acme/client, to: tenant-acme/api, expect: allowed }
`;

/** The user's own policy only, and attempts whose deadlines differ. */
const OWN = `${HEAD}${TENANTS}  policies:
    - inline: |
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: { name: allow-all, namespace: tenant-acme }
        spec: { podSelector: {}, policyTypes: [Ingress], ingress: [{}] }
  attempts:
    - { id: meshed, kind: http, from: tenant-acme/client, to: tenant-acme/api, expect: allowed }
    - { id: meshed-own, kind: http, from: tenant-acme/client, to: tenant-acme/api, expect: allowed, timeoutMs: 7000 }
    - { id: plain, kind: http, from: tenant-acme/plain, to: tenant-acme/api, expect: allowed }
`;

/** A structural CRD that keeps whatever it is given, for the kinds the bundle renders. */
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

const BUNDLE_CRDS = [
  crd('projectcalico.org', 'v3', 'Tier', 'tiers', 'Cluster'),
  crd('projectcalico.org', 'v3', 'GlobalNetworkPolicy', 'globalnetworkpolicies', 'Cluster'),
  crd('security.istio.io', 'v1', 'PeerAuthentication', 'peerauthentications', 'Namespaced'),
  crd('security.istio.io', 'v1', 'AuthorizationPolicy', 'authorizationpolicies', 'Namespaced'),
  crd('networking.istio.io', 'v1alpha3', 'EnvoyFilter', 'envoyfilters', 'Namespaced'),
];

interface Setup {
  readonly server: FakeApiServer;
  /** Attempt id → the timeoutMs of the batch item the agent got (the last one). */
  readonly batches: Map<string, number>;
  run(text: string, extra?: { provider?: ProviderName; apiServer?: ApiServerEndpoints }): Promise<RunResult>;
  /** The run as it failed: the error it threw. */
  refused(text: string, extra?: { provider?: ProviderName; apiServer?: ApiServerEndpoints }): Promise<Error>;
  lines(): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

async function setup(
  options: {
    fake?: Partial<FakeApiServerOptions>;
    resolvConf?: (r: ExecRequest) => string;
  } = {},
): Promise<Setup> {
  const app = await scriptedServer(['app']);
  const unroutedPort = await closedPort();
  const batches = new Map<string, number>();
  const server = await new FakeApiServer({
    ...options.fake,
    exec: agentExec({
      bundlePath: await agentBundle(),
      unroutedPort,
      route: (_source, host) => (host.startsWith('api.') ? app.port : undefined),
      ...(options.resolvConf ? { resolvConf: options.resolvConf } : {}),
      onBatch: (_request, items) => {
        for (const item of items) batches.set(String(item.id), Number(item.timeoutMs));
      },
    }),
  }).start();
  for (const object of BUNDLE_CRDS) server.put(object);
  server.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-system' } });
  const reports = await mkdtemp(path.join(tmpdir(), 'bulkhead-facts-'));
  const run = async (text: string, extra: { provider?: ProviderName; apiServer?: ApiServerEndpoints } = {}) =>
    runScenario({
      scenario: await load(text),
      kubeConfig: server.kubeConfig(),
      agentBundle: '// bundle',
      directory: path.join(reports, 'run-1'),
      runId: 'run-1',
      progress: createProgress({ write: () => undefined, interactive: false }),
      settleMs: 0,
      roundIntervalMs: 0,
      stableRounds: 1,
      convergeTimeoutMs: 20_000,
      // The fake has no dataplane for the network canary (test/run/barrier.test.ts gives it one).
      barrierTimeoutMs: 0,
      provider: extra.provider ?? 'existing',
      ...(extra.apiServer ? { apiServer: extra.apiServer } : {}),
    });
  return {
    server,
    batches,
    run,
    refused: async (text, extra) => {
      try {
        await run(text, extra);
      } catch (error) {
        return error as Error;
      }
      expect.fail('the run went on; a refusal was expected');
    },
    lines: async () =>
      (await readFile(path.join(reports, 'run-1', 'results.jsonl'), 'utf8'))
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    close: async () => {
      await server.stop();
      await app.close();
      await rm(reports, { recursive: true, force: true });
    },
  };
}

/** The stored policy of that name in tenant-acme, as the run applied it. */
function policy(result: RunResult, name: string): Record<string, unknown> {
  const found = result.appliedPolicies.find(
    (p) => p.kind === 'NetworkPolicy' && p.metadata?.name === name && p.metadata.namespace === 'tenant-acme',
  );
  expect(found, name).to.not.equal(undefined);
  return (found as unknown as { spec: Record<string, unknown> }).spec;
}

const egressTo = (spec: Record<string, unknown>) =>
  (spec.egress as { to: unknown[]; ports: unknown[] }[])[0] ?? { to: [], ports: [] };

const slicesOfDefault = (r: RecordedRequest) =>
  r.path === '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices';

describe('cluster facts on a cluster: the API server', function () {
  this.timeout(30_000);
  let s: Setup | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
  });

  it('refuses an existing cluster whose kubernetes EndpointSlice cannot be read, before creating anything', async () => {
    s = await setup({ fake: { forbid: slicesOfDefault } });
    const error = await s.refused(BUNDLE);
    expect(error).to.be.instanceOf(EnvironmentError);
    expect(error.message).to.contain('cannot tell where the API server is');
    expect(error.message).to.contain('403');
    expect((error as EnvironmentError).hint).to.contain('--api-server');
    expect(s.server.list('v1', 'Namespace').map((n) => n.metadata.name)).to.not.include('tenant-acme');
    const end = (await s.lines()).at(-1);
    expect(end).to.include({ type: 'end', exitCode: 2 });
  });

  it('refuses one without the EndpointSlice at all', async () => {
    s = await setup({ fake: { clusterServices: false } });
    const error = await s.refused(BUNDLE, { provider: 'k3s' });
    expect(error.message).to.contain('there is no EndpointSlice default/kubernetes');
  });

  it('renders allow-api-server with exactly the given CIDRs and port, without reading the slice', async () => {
    s = await setup({ fake: { forbid: slicesOfDefault } });
    const given = { cidrs: ['10.20.0.5/32', '10.20.0.6/32'], port: 16443 };
    const result = await s.run(BUNDLE, { apiServer: given });
    expect(result.exitCode, JSON.stringify(result.results.map((r) => r.judgement))).to.equal(0);
    const rule = egressTo(policy(result, 'allow-api-server'));
    expect(rule.to).to.deep.equal([
      { ipBlock: { cidr: '10.20.0.5/32' } },
      { ipBlock: { cidr: '10.20.0.6/32' } },
    ]);
    expect(rule.ports).to.deep.equal([{ protocol: 'TCP', port: 16443 }]);
    expect(s.server.requests.filter(slicesOfDefault)).to.deep.equal([]);
    const facts = (await s.lines()).find((l) => l.type === 'facts');
    expect(facts?.apiServer).to.deep.include({ source: 'option', value: given });
  });

  it('uses the EndpointSlice when it can be read', async () => {
    s = await setup();
    const result = await s.run(BUNDLE);
    expect(egressTo(policy(result, 'allow-api-server')).to).to.deep.equal([
      { ipBlock: { cidr: '172.18.0.2/32' } },
    ]);
  });

  it("keeps kind's fallback on the kind provider", async () => {
    s = await setup({ fake: { forbid: slicesOfDefault } });
    const result = await s.run(BUNDLE, { provider: 'kind' });
    expect(result.exitCode).to.equal(0);
    expect(egressTo(policy(result, 'allow-api-server')).to).to.deep.equal([
      { ipBlock: { cidr: '172.18.0.0/16' } },
    ]);
    const facts = (await s.lines()).find((l) => l.type === 'facts');
    expect(facts?.apiServer).to.deep.include({ source: 'kind-default' });
    expect((facts?.apiServer as { reasoning: string }).reasoning).to.contain('403');
  });
});

describe('cluster facts on a cluster: deadlines from the mesh settings', function () {
  this.timeout(30_000);
  let s: Setup | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
  });

  const meshConfig = (server: FakeApiServer, mesh: string) => {
    server.put({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'istio', namespace: 'istio-system', labels: { 'istio.io/rev': 'default' } },
      data: { mesh, meshNetworks: 'networks: {}' },
    });
  };

  it('gives meshed attempts (1 + 2) x 3 s + 10 s with connectTimeout 3s; an explicit timeout and a plain pod keep theirs', async () => {
    s = await setup();
    meshConfig(s.server, 'connectTimeout: 3s\naccessLogFile: /dev/stdout\n');
    const result = await s.run(OWN);
    expect(result.exitCode).to.equal(0);
    expect(Object.fromEntries(s.batches)).to.deep.equal({
      meshed: 19_000,
      'meshed-own': 7000,
      plain: 15_000,
    });
    const facts = (await s.lines()).find((l) => l.type === 'facts');
    expect(facts?.deadlines).to.deep.include({
      connectTimeoutMs: 3000,
      retries: 2,
      derivedMs: 19_000,
      lengthened: 1,
      keptExplicit: 1,
    });
    expect((facts?.deadlines as { source: string }).source).to.contain(
      'connectTimeout "3s" from ConfigMap istio-system/istio',
    );
  });

  it("uses Istio's defaults (10 s, 2 retries: 40 s) when the cluster has no mesh config", async () => {
    s = await setup();
    await s.run(OWN);
    expect(Object.fromEntries(s.batches)).to.deep.equal({
      meshed: 40_000,
      'meshed-own': 7000,
      plain: 15_000,
    });
  });

  it('follows defaultHttpRetryPolicy: no retries leaves the scenario default', async () => {
    s = await setup();
    meshConfig(s.server, 'connectTimeout: 3s\ndefaultHttpRetryPolicy:\n  attempts: 0\n');
    await s.run(OWN);
    expect(s.batches.get('meshed')).to.equal(15_000);
  });

  it('refuses when the mesh config cannot be read and a meshed attempt depends on it', async () => {
    s = await setup({
      fake: { forbid: (r) => r.path.startsWith('/api/v1/namespaces/istio-system/configmaps') },
    });
    const error = await s.refused(OWN);
    expect(error).to.be.instanceOf(EnvironmentError);
    expect(error.message).to.contain('cannot tell how long Envoy takes');
    expect(s.server.list('v1', 'Namespace').map((n) => n.metadata.name)).to.not.include('tenant-acme');
  });
});

describe('cluster facts on a cluster: the DNS path', function () {
  this.timeout(30_000);
  let s: Setup | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
  });

  it("keeps the bundle's allow-dns for kubeadm's CoreDNS and records what it read", async () => {
    s = await setup();
    const result = await s.run(BUNDLE);
    const rule = egressTo(policy(result, 'allow-dns'));
    expect(rule.to).to.deep.equal([
      {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
        podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
      },
    ]);
    const facts = (await s.lines()).find((l) => l.type === 'facts');
    const dns = facts?.dns as { status: string; observed: { nameservers: string[] } };
    expect(dns.status).to.equal('kubeadm');
    expect(dns.observed.nameservers).to.deep.equal(['10.96.0.10']);
    expect(s.server.execs.some((e) => e.request.command.join(' ') === 'cat /etc/resolv.conf')).to.equal(true);
  });

  it('allows the DNS pods and target ports the cluster really has', async () => {
    s = await setup();
    const service = s.server.get('v1', 'Service', 'kube-system', 'kube-dns') as unknown as Record<
      string,
      unknown
    > & { spec: Record<string, unknown> };
    s.server.put({ ...service, spec: { ...service.spec, selector: { app: 'cluster-dns' } } });
    const slice = s.server.list(
      'discovery.k8s.io/v1',
      'EndpointSlice',
      'kube-system',
    )[0] as unknown as Record<string, unknown>;
    s.server.put({
      ...slice,
      ports: [
        { name: 'dns', port: 5353, protocol: 'UDP' },
        { name: 'dns-tcp', port: 5353, protocol: 'TCP' },
      ],
    });
    const result = await s.run(BUNDLE);
    expect(result.exitCode).to.equal(0);
    const rule = egressTo(policy(result, 'allow-dns'));
    expect(rule.to).to.deep.equal([
      {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
        podSelector: { matchLabels: { app: 'cluster-dns' } },
      },
    ]);
    expect(rule.ports).to.deep.equal([
      { protocol: 'UDP', port: 5353 },
      { protocol: 'TCP', port: 5353 },
    ]);
    const facts = (await s.lines()).find((l) => l.type === 'facts');
    expect(facts?.dns).to.deep.include({ status: 'adjusted' });
  });

  it('refuses a node-local resolver with the built-in bundle, naming it, and cleans up', async () => {
    s = await setup({ resolvConf: (r) => resolvConf(r.namespace, '169.254.20.10') });
    const error = await s.refused(BUNDLE);
    expect(error).to.be.instanceOf(EnvironmentError);
    expect(error.message).to.contain('169.254.20.10');
    expect(error.message).to.contain('not the kube-dns ClusterIP 10.96.0.10');
    expect((error as EnvironmentError).hint).to.contain('your own policy files');
    expect(s.server.list('v1', 'Namespace').map((n) => n.metadata.name)).to.not.include('tenant-acme');
  });

  it('goes on with the user’s own policies, recording the DNS path as unknown', async () => {
    s = await setup({ resolvConf: (r) => resolvConf(r.namespace, '169.254.20.10') });
    const result = await s.run(OWN);
    expect(result.exitCode).to.equal(0);
    const facts = (await s.lines()).find((l) => l.type === 'facts');
    expect(facts?.dns).to.deep.include({ status: 'unknown', allowDns: null });
  });

  it('assumes kubeadm CoreDNS on kind when kube-system cannot be read', async () => {
    s = await setup({
      fake: { forbid: (r) => r.path.startsWith('/api/v1/namespaces/kube-system/services') },
    });
    const result = await s.run(BUNDLE, { provider: 'kind' });
    expect(result.exitCode).to.equal(0);
    const facts = (await s.lines()).find((l) => l.type === 'facts');
    expect(facts?.dns).to.deep.include({ status: 'kind-default' });
  });
});

describe('cli: bulkhead run --provider existing without a readable API server endpoint', function () {
  this.timeout(30_000);
  let dir: string;
  let server: FakeApiServer;
  let app: Awaited<ReturnType<typeof scriptedServer>>;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-facts-cli-'));
    app = await scriptedServer(['app']);
    server = await new FakeApiServer({
      forbid: slicesOfDefault,
      exec: agentExec({
        bundlePath: await agentBundle(),
        unroutedPort: await closedPort(),
        route: (_source, host) => (host.startsWith('api.') ? app.port : undefined),
      }),
    }).start();
    for (const object of BUNDLE_CRDS) server.put(object);
    // Calico's Installation and istiod, which run --provider existing checks for before anything else.
    putCalicoInstallation(server);
    putIstiod(server);
    await writeFile(path.join(dir, 'kubeconfig'), server.kubeConfig().exportConfig());
    await writeFile(path.join(dir, 'scenario.yaml'), BUNDLE);
  });
  afterEach(async () => {
    await server.stop();
    await app.close();
    await rm(dir, { recursive: true, force: true });
  });

  const run = (...extra: string[]) => runExisting(dir, '--stable-rounds', '1', ...extra);

  it('exits 2 with one sentence and the hint to pass --api-server', async () => {
    const r = await run();
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stderr).to.match(
      /^error: cannot tell where the API server is for the allow-api-server policy: /m,
    );
    expect(r.stderr).to.match(/^ {2}pass --api-server <cidr>/m);
    expect(r.stderr).to.not.contain('internal error');
  });

  it('runs with --api-server <cidr>:<port>', async () => {
    const r = await run('--api-server', '10.20.0.5/32:443');
    expect(r.code, r.stderr).to.equal(0);
    const stored = server.get('networking.k8s.io/v1', 'NetworkPolicy', 'tenant-acme', 'allow-api-server');
    // Cleaned up after the run; the results hold what was applied.
    expect(stored).to.equal(undefined);
    const text = await readFile(path.join(dir, 'reports', 'r1', 'results.jsonl'), 'utf8');
    expect(text).to.contain('"source":"option"');
    expect(text).to.contain('"cidrs":["10.20.0.5/32"],"port":443');
  });
});
