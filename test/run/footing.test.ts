/**
 * A run checks its own footing: what the cluster stores is what bulkhead applied, and the pods
 * have the data plane the scenario says. Unit cases for the comparison, then the runner on the
 * fake cluster with a webhook that rewrites a policy, and with no sidecar injector at all.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import type { KubernetesObject, V1Pod } from '@kubernetes/client-node';
import { expect } from 'chai';

import { EnvironmentError } from '../../harness/errors.js';
import { driftOf } from '../../harness/kube/drift.js';
import { compareStored } from '../../harness/run/footing.js';
import { createProgress } from '../../harness/run/progress.js';
import { runScenario, type RunnerProps, type RunResult } from '../../harness/run/runner.js';
import { describeMismatches, sidecarMismatches } from '../../harness/run/sidecars.js';
import { FakeApiServer, type FakeApiServerOptions } from '../support/fake-apiserver/server.js';
import { agentBundle, agentExec, closedPort, scriptedServer } from '../support/fake-cluster.js';
import { HEAD, load } from '../support/scenarios.js';

interface Policy {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  spec: Record<string, unknown>;
}

const policy = (ingress: unknown[]): Policy => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: 'p', namespace: 'tenant-acme', labels: { a: 'b' } },
  spec: { podSelector: {}, policyTypes: ['Ingress'], ingress },
});

describe('footing: the stored object against the rendered one', () => {
  it('accepts server defaults and bookkeeping, and an empty list the server omitted', () => {
    const rendered = {
      ...policy([{ from: [{ podSelector: {} }], ports: [{ port: 8080 }] }]),
      spec: { ...policy([{ from: [{ podSelector: {} }], ports: [{ port: 8080 }] }]).spec, egress: [] },
    };
    const stored = {
      ...rendered,
      metadata: {
        ...rendered.metadata,
        uid: 'u',
        resourceVersion: '7',
        managedFields: [{}],
        labels: { a: 'b', 'kubernetes.io/x': 'y' },
      },
      spec: {
        podSelector: {},
        policyTypes: ['Ingress'],
        ingress: [{ from: [{ podSelector: {} }], ports: [{ port: 8080, protocol: 'TCP' }] }],
      },
    };
    expect(driftOf(rendered, stored)).to.deep.equal([]);
  });

  it('names a field the cluster lost: NetworkPolicy from, as client-node’s typed serializer dropped it', () => {
    const rendered = policy([{ from: [{ podSelector: {} }], ports: [{ port: 8080 }] }]);
    const stored = policy([{ ports: [{ port: 8080, protocol: 'TCP' }] }]);
    expect(driftOf(rendered, stored)).to.deep.equal([
      { path: 'spec.ingress[0].from', rendered: [{ podSelector: {} }], stored: undefined },
    ]);
  });

  it('treats a rule a webhook appended, a narrowed empty selector and a changed value as drift', () => {
    const rendered = policy([{ from: [{ podSelector: {} }] }]);
    expect(driftOf(rendered, policy([{ from: [{ podSelector: {} }] }, {}]))).to.have.length(1);
    expect(
      driftOf(rendered, policy([{ from: [{ podSelector: { matchLabels: { x: 'y' } } }] }]))[0]?.path,
    ).to.equal('spec.ingress[0].from[0].podSelector');
    expect(driftOf({ spec: { port: 8080 } }, { spec: { port: '8080' } })[0]?.path).to.equal('spec.port');
    expect(driftOf({ spec: { on: false } }, { spec: { on: true } })[0]?.path).to.equal('spec.on');
  });

  it('lets a pod grow by what admission adds, keyed by name, and nothing else', () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'probe', namespace: 'tenant-acme' },
      spec: {
        containers: [
          { name: 'agent', image: 'node', volumeMounts: [{ name: 'agent', mountPath: '/agent' }] },
        ],
        volumes: [{ name: 'agent', configMap: { name: 'bulkhead-agent' } }],
      },
    } as KubernetesObject;
    const injected = {
      ...pod,
      spec: {
        initContainers: [{ name: 'istio-proxy', image: 'proxyv2', restartPolicy: 'Always' }],
        containers: [
          {
            name: 'agent',
            image: 'node',
            volumeMounts: [
              { name: 'agent', mountPath: '/agent' },
              { name: 'kube-api-access-x', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' },
            ],
          },
        ],
        volumes: [
          { name: 'istio-envoy', emptyDir: {} },
          ...(pod as { spec: { volumes: unknown[] } }).spec.volumes,
        ],
      },
    } as KubernetesObject;
    expect(compareStored([pod], [injected])).to.deep.equal([]);
    const reimaged = JSON.parse(
      JSON.stringify(injected).replace('"image":"node"', '"image":"evil"'),
    ) as KubernetesObject;
    expect(compareStored([pod], [reimaged])[0]?.drifts.map((d) => d.path)).to.deep.equal([
      'spec.containers[agent].image',
    ]);
    // The same growth on a policy's list is a drift.
    expect(
      compareStored([policy([{ ports: [{ port: 1 }] }])], [policy([{ ports: [{ port: 1 }] }, {}])]),
    ).to.have.length(1);
    expect(compareStored([pod], [undefined])).to.deep.equal([
      { object: 'Pod tenant-acme/probe', drifts: [], missing: true },
    ]);
  });
});

describe('footing: sidecars where the scenario says', () => {
  const podOf = (namespace: string, workload: string, proxy: 'container' | 'native' | 'none'): V1Pod => ({
    metadata: { namespace, name: `${workload}-1`, labels: { 'bulkhead.dev/workload': workload } },
    spec: {
      containers: [{ name: 'agent' }, ...(proxy === 'container' ? [{ name: 'istio-proxy' }] : [])],
      ...(proxy === 'native' ? { initContainers: [{ name: 'istio-proxy', restartPolicy: 'Always' }] } : {}),
    },
  });

  it('finds pods without the proxy the scenario asks for, and with one it does not', async () => {
    const scenario = await load(`${HEAD}  tenants:
    - name: acme
      workloads: [{ name: api, ports: [8080] }, { name: plain, ports: [8080], sidecar: false }]
`);
    expect(
      sidecarMismatches(scenario, [
        podOf('tenant-acme', 'api', 'native'),
        podOf('tenant-acme', 'plain', 'none'),
        podOf('tenant-acme', 'probe', 'container'),
        podOf('tenant-acme', 'probe-nosidecar', 'none'),
      ]),
    ).to.deep.equal([]);
    const mismatches = sidecarMismatches(scenario, [
      podOf('tenant-acme', 'api', 'none'),
      podOf('tenant-acme', 'plain', 'container'),
    ]);
    expect(mismatches).to.deep.equal([
      { pod: 'tenant-acme/api-1', workload: 'tenant-acme/api', wanted: true },
      { pod: 'tenant-acme/plain-1', workload: 'tenant-acme/plain', wanted: false },
    ]);
    const [missing, extra] = describeMismatches(mismatches, []);
    expect(missing).to.match(
      /^tenant-acme\/api-1 has no istio-proxy .*no Istio sidecar injector webhook.*istioctl tag set default/,
    );
    expect(extra).to.match(
      /^tenant-acme\/plain-1 has an istio-proxy although the scenario says sidecar: false/,
    );
    expect(
      describeMismatches(mismatches.slice(0, 1), [
        'istio-sidecar-injector-1-30/rev.namespace.sidecar-injector.istio.io',
      ])[0],
    ).to.contain('did not inject them: check their namespace and object selectors');
  });
});

const SCENARIO = `${HEAD}  tenants:
    - name: acme
      probes: false
      workloads:
        - { name: client }
        - { name: api, ports: [8080] }
    - name: globex
      probes: false
      workloads:
        - { name: client }
  policies:
    - inline: |
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: { name: allow-same-namespace, namespace: tenant-acme }
        spec: { podSelector: {}, policyTypes: [Ingress], ingress: [{ from: [{ podSelector: {} }] }] }
  attempts:
    - { id: globex-to-acme, kind: http, from: tenant-globex/client, to: tenant-acme/api, expect: denied }
`;

describe('footing: the runner refuses to judge a cluster that differs from the one described', function () {
  this.timeout(30_000);
  let server: FakeApiServer;
  let reports: string;
  let app: Awaited<ReturnType<typeof scriptedServer>>;

  async function start(options: FakeApiServerOptions): Promise<void> {
    app = await scriptedServer(['app']);
    const unroutedPort = await closedPort();
    server = await new FakeApiServer({
      ...options,
      // globex's attempt meets a closed port: refused, a deny.
      exec: agentExec({ bundlePath: await agentBundle(), unroutedPort, route: () => undefined }),
    }).start();
    reports = await mkdtemp(path.join(tmpdir(), 'bulkhead-footing-'));
  }
  afterEach(async () => {
    await server.stop();
    await app.close();
    await rm(reports, { recursive: true, force: true });
  });

  /** The run's result, or what it threw. */
  async function run(extra: Partial<RunnerProps> = {}): Promise<unknown> {
    return runScenario({
      scenario: await load(SCENARIO),
      kubeConfig: server.kubeConfig(),
      agentBundle: '// bundle',
      directory: path.join(reports, 'run-1'),
      runId: 'run-1',
      progress: createProgress({ write: () => undefined, interactive: false }),
      settleMs: 0,
      roundIntervalMs: 0,
      apiServer: { cidrs: ['127.0.0.1/32'], port: 6443 },
      ...extra,
    }).then(
      (result) => result,
      (e: unknown) => e,
    );
  }
  /** Execs of the agent's probe: attempts made (other execs read facts such as resolv.conf). */
  /** The agent's execs that make attempts: its sessions (or, on a v4 server, its probes). */
  const probes = () =>
    server.execs.filter((e) => e.request.command.includes('session') || e.request.command.includes('probe'));

  const endLine = async () => {
    const lines = (await readFile(path.join(reports, 'run-1', 'results.jsonl'), 'utf8'))
      .trimEnd()
      .split('\n');
    return JSON.parse(lines.at(-1) ?? '{}') as Record<string, unknown>;
  };

  it('a policy rewritten by a mutating webhook is a fault naming the object and the field; nothing is judged', async () => {
    // A policy engine's webhook that "simplifies" ingress rules by dropping their sources.
    await start({
      admit: (object) =>
        object.kind === 'NetworkPolicy'
          ? { ...object, spec: { ...(object.spec as object), ingress: [{}] } }
          : object,
    });
    const error = await run();
    expect(error).to.be.instanceOf(EnvironmentError);
    expect((error as Error).message).to.contain(
      'the cluster does not hold the policies bulkhead applied (1 object differ',
    );
    expect((error as Error).message).to.contain(
      'NetworkPolicy tenant-acme/allow-same-namespace: spec.ingress[0].from: set [{"podSelector":{}}], stored absent',
    );
    expect(probes(), 'no attempt was made').to.have.length(0);
    expect(await endLine()).to.deep.include({ exitCode: 2 });
    expect(server.list('v1', 'Namespace').map((n) => n.metadata.name)).to.not.include('tenant-acme');
  });

  it('a fixture the cluster changed is a fault too (an image rewritten by admission)', async () => {
    await start({
      admit: (object) =>
        object.kind === 'Deployment'
          ? (JSON.parse(
              JSON.stringify(object).replace(/"image":"[^"]+"/, '"image":"registry.internal/node:24"'),
            ) as Record<string, unknown>)
          : object,
    });
    const error = await run();
    expect((error as Error).message).to.match(
      /the cluster does not hold the fixtures bulkhead applied .*Deployment tenant-acme\/api: spec\.template\.spec\.containers\[0\]\.image: set "docker\.io\/library\/node/s,
    );
    expect(probes()).to.have.length(0);
  });

  it('pods without the sidecar the scenario says are a fault naming each pod and the likely cause', async () => {
    await start({ sidecarInjector: false });
    const error = await run();
    expect(error).to.be.instanceOf(EnvironmentError);
    expect((error as Error).message).to.match(
      /^the pods do not have the data plane the scenario says: tenant-acme\/api-\S+, tenant-acme\/client, tenant-globex\/client have no istio-proxy although the scenario says sidecar: true; the cluster has no Istio sidecar injector webhook/,
    );
    expect(probes(), 'no attempt was made').to.have.length(0);
    expect(await endLine()).to.deep.include({ exitCode: 2 });
  });

  it('with the injector, the same run passes its footing and the results hold the policy as stored', async () => {
    await start({});
    const result = (await run()) as RunResult;
    expect(result.exitCode).to.equal(0);
    const [stored] = result.appliedPolicies;
    expect(stored?.metadata?.uid, 'the object as the server holds it').to.be.a('string');
    expect(stored?.metadata?.managedFields, 'without the server’s field bookkeeping').to.equal(undefined);
    expect(probes().length).to.be.greaterThan(0);
  });
});
