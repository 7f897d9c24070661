import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { CommandRunner } from '../../harness/cluster/commands.js';
import { ambientProblems, CALICO_BUNDLE_REFUSAL, checkExisting } from '../../harness/cluster/existing.js';
import { GATEWAY_API_BUNDLES, gatewayApiFor } from '../../harness/cluster/gateway-api.js';
import { provisionKind, type KindProps } from '../../harness/cluster/kind.js';
import type { Cluster } from '../../harness/cluster/provider.js';
import { UserError } from '../../harness/errors.js';
import { KubeClient } from '../../harness/kube/client.js';
import { daemonSetRolledOut } from '../../harness/kube/rollout.js';
import { FakeApiServer } from '../support/fake-apiserver/server.js';
import { crd, putCalicoInstallation } from '../support/existing-cluster.js';
import { gatewayApiCrds, gatewayApiFiles } from '../support/gateway-api.js';
import {
  ambientDaemonSet,
  kindKubeconfig,
  putNodes,
  releaseServer,
  serveCalico,
  serveGatewayApi,
  serveIstioctl,
  simulateControllers,
  writeStubs,
  type ReleaseServer,
  type Stubs,
} from './support.js';

const VERSIONS = { kubernetes: '1.35.0', calico: 'v3.31.2', istio: '1.30.3' };

describe('cluster: the ambient install on kind (stub kind/docker/istioctl, local releases, fake API server)', function () {
  this.timeout(20_000);
  let dir: string;
  let api: FakeApiServer;
  let releases: ReleaseServer;
  let stubs: Stubs;
  let stop: () => void;
  let log: string[];
  let props: KindProps;
  const test = gatewayApiFiles('v1.5.1');

  async function start(options: { ztunnelStuck?: boolean } = {}): Promise<void> {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-ambient-'));
    api = await new FakeApiServer({ kubernetesVersion: 'v1.35.0' }).start();
    putNodes(api);
    releases = await releaseServer();
    stubs = await writeStubs(dir, kindKubeconfig(api));
    const istioBaseUrl = await serveIstioctl(releases, dir, '1.30.3');
    const calicoBaseUrl = serveCalico(releases, 'v3.31.2');
    const gatewayApiBaseUrl = serveGatewayApi(releases, test.files, 'v1.5.1');
    stop = simulateControllers(api, stubs, { calico: 'v3.31.2', istio: '1.30.3' }, options);
    log = [];
    await mkdir(path.join(dir, 'inotify'));
    await writeFile(path.join(dir, 'inotify', 'max_user_watches'), '524288\n');
    await writeFile(path.join(dir, 'inotify', 'max_user_instances'), '512\n');
    props = {
      runner: new CommandRunner({ log: (l) => log.push(l), env: stubs.env }),
      versions: VERSIONS,
      cache: path.join(dir, 'cache'),
      logsDir: path.join(dir, 'report', 'cluster-logs'),
      istioBaseUrl,
      calicoBaseUrl,
      gatewayApiBaseUrl,
      gatewayApi: test.bundle,
      dataplane: 'ambient',
      inotifyDir: path.join(dir, 'inotify'),
      timeoutMs: 5000,
    };
  }
  afterEach(async () => {
    stop();
    await api.stop();
    await releases.close();
    await rm(dir, { recursive: true, force: true });
  });

  const tools = async () => (await stubs.calls()).map((c) => c.slice(0, 3).join(' '));
  async function refusal(p: KindProps): Promise<Error> {
    try {
      await provisionKind(p);
    } catch (error) {
      return error as Error;
    }
    throw new Error('provisionKind did not refuse');
  }

  it('installs the ambient profile, keeps Calico on iptables, waits for istio-cni and ztunnel, and applies the pinned Gateway API CRDs', async () => {
    await start();
    const cluster = await provisionKind(props);
    const install = (await stubs.calls()).find((c) => c[0] === 'istioctl' && c[1] === 'install') ?? [];
    expect(install).to.include('profile=ambient');
    expect(install).to.not.include('profile=minimal');
    expect(install).to.include('meshConfig.connectTimeout=2s');
    const installation = api.get(
      'operator.tigera.io/v1',
      'Installation',
      undefined,
      'default',
    ) as unknown as {
      spec: { calicoNetwork: { linuxDataplane?: string } };
    };
    expect(installation.spec.calicoNetwork.linuxDataplane).to.equal('Iptables');
    // The CRDs as stored carry the bundle's version and channel.
    for (const name of ['gateways', 'gatewayclasses']) {
      const stored = api.get(
        'apiextensions.k8s.io/v1',
        'CustomResourceDefinition',
        undefined,
        `${name}.gateway.networking.k8s.io`,
      );
      expect(stored?.metadata.annotations).to.deep.equal({
        'gateway.networking.k8s.io/bundle-version': 'v1.5.1',
        'gateway.networking.k8s.io/channel': 'standard',
      });
    }
    // Downloaded before the cluster was created, each file checked against its pin.
    const firstGet = log.findIndex((l) => l.includes('/gateway-api/v1.5.1/config/crd/standard/'));
    const create = log.findIndex((l) => l.startsWith('$ kind create cluster'));
    expect(firstGet).to.be.greaterThan(-1);
    expect(firstGet).to.be.lessThan(create);
    for (const f of test.bundle.files) expect(log).to.include(`$ sha256sum ${f.name}  # must be ${f.sha256}`);
    expect(log).to.include(
      '$ kubectl rollout status daemonset/istio-cni-node daemonset/ztunnel -n istio-system --timeout=5s',
    );
    // Progress while the node agents roll out, then done.
    expect(log).to.include('# daemonset istio-system/ztunnel: 1 of 3 pods updated');
    expect(log).to.include('# daemonset istio-system/ztunnel: rolled out');
    expect(log).to.include('# daemonset istio-system/istio-cni-node: rolled out');
    expect(cluster.environment.artifacts).to.include({
      [`gateway-api-v1.5.1/${test.bundle.files[1]?.name ?? ''}`]: test.bundle.files[1]?.sha256,
    });
    await cluster.release({ keep: true });
  });

  it('refuses a Gateway API file whose bytes differ from the pin before creating anything, and caches nothing', async () => {
    await start();
    const [first] = test.bundle.files;
    const tampered = { ...test.bundle, files: [{ name: first?.name ?? '', sha256: '0'.repeat(64) }] };
    const error = await refusal({ ...props, gatewayApi: tampered });
    expect(error).to.be.instanceOf(UserError);
    expect(error.message).to.match(
      new RegExp(
        `^${first?.name ?? ''} from .* has SHA-256 ${first?.sha256 ?? ''} but bulkhead pins 0{64}; nothing was cached, retry or check the mirror \\(--gateway-api-base-url\\)$`,
      ),
    );
    expect(await tools()).to.not.include('kind create cluster');
    expect(existsSync(path.join(props.cache, 'gateway-api'))).to.equal(false);
  });

  it('refuses ambient on an Istio the facts do not cover before any command or download', async () => {
    await start();
    const error = await refusal({
      ...props,
      versions: { ...VERSIONS, kubernetes: '1.34.0', istio: '1.28.2' },
    });
    expect(error.message).to.equal(
      'Istio 1.28.2 is not a release bulkhead runs the ambient data plane on (it does for 1.29 and 1.30, the releases its ambient facts were checked against); use --istio with one of those for --dataplane ambient',
    );
    expect(await stubs.calls()).to.deep.equal([]);
    expect(releases.requests).to.deep.equal([]);
  });

  it('refuses a reused cluster whose Calico runs the eBPF dataplane, naming the field', async () => {
    await start();
    await writeFile(path.join(stubs.state, 'clusters', 'bulkhead'), 'running');
    putCalicoInstallation(api, 'v3.31.2');
    const installation = api.get('operator.tigera.io/v1', 'Installation', undefined, 'default');
    api.put({ ...installation, spec: { calicoNetwork: { linuxDataplane: 'BPF' } } });
    const error = await refusal({ ...props, reuse: true });
    expect(error).to.be.instanceOf(UserError);
    expect(error.message).to.contain(
      'Calico runs the eBPF dataplane (Installation default has spec.calicoNetwork.linuxDataplane: BPF), and under eBPF Calico policy is not enforced on ambient traffic',
    );
    expect((await stubs.calls()).some((c) => c[0] === 'istioctl' && c[1] === 'install')).to.equal(false);
  });

  it('refuses a reused cluster that already has other Gateway API CRDs, changing none', async () => {
    await start();
    await writeFile(path.join(stubs.state, 'clusters', 'bulkhead'), 'running');
    for (const c of gatewayApiCrds('v1.5.1', 'experimental')) api.put(c);
    const error = await refusal({ ...props, reuse: true });
    expect(error.message).to.contain(
      'the cluster already has Gateway API CRDs (CRD gateways.gateway.networking.k8s.io is at bundle v1.5.1, channel experimental, not v1.5.1 standard)',
    );
    const stored = api.get(
      'apiextensions.k8s.io/v1',
      'CustomResourceDefinition',
      undefined,
      'gateways.gateway.networking.k8s.io',
    );
    expect(stored?.metadata.annotations?.['gateway.networking.k8s.io/channel']).to.equal('experimental');
  });

  it('gives up on a ztunnel that never rolls out, with the state it was left in', async () => {
    await start({ ztunnelStuck: true });
    const error = await refusal({ ...props, timeoutMs: 1500 });
    expect(error.message).to.contain(
      'daemonsets istio-system/istio-cni-node, istio-system/ztunnel rolled out',
    );
    expect(error.message).to.contain('ztunnel: 1 of 3 pods updated');
  });
});

describe('cluster: ambient on an existing cluster (read-only checks)', () => {
  let api: FakeApiServer;
  let cluster: Cluster;
  beforeEach(async () => {
    api = await new FakeApiServer().start();
    cluster = {
      kubeConfig: api.kubeConfig(),
      environment: {
        provider: 'existing',
        cluster: 'fake',
        kubernetes: 'v1.35.0',
        calico: 'v3.31.2',
        istio: '1.30.3',
        reused: true,
      },
      release: () => Promise.resolve(),
    };
  });
  afterEach(async () => {
    await api.stop();
  });

  it('names each missing piece: eBPF in FelixConfiguration, ztunnel not rolled out, no Gateway API CRDs', async () => {
    api.put(crd('projectcalico.org', 'v3', 'FelixConfiguration', 'felixconfigurations'));
    api.put({
      apiVersion: 'projectcalico.org/v3',
      kind: 'FelixConfiguration',
      metadata: { name: 'default' },
      spec: { bpfEnabled: true },
    });
    api.put(ambientDaemonSet('istio-cni-node', { desired: 3, updated: 3, available: 3 }));
    api.put(ambientDaemonSet('ztunnel', { desired: 3, updated: 3, available: 2 }));
    const problems = await ambientProblems(new KubeClient({ kubeConfig: api.kubeConfig() }), true);
    expect(problems).to.have.length(3);
    expect(problems[0]).to.contain(
      'FelixConfiguration default (projectcalico.org/v3) has spec.bpfEnabled: true',
    );
    expect(problems[1]).to.equal(
      'the ambient data plane is not running in istio-system (daemonset ztunnel: 2 of 3 updated pods available); install Istio with the ambient profile (istioctl install --set profile=ambient) and wait for both to roll out',
    );
    expect(problems[2]).to.contain('no CRD gateways.gateway.networking.k8s.io');
    expect(problems[2]).to.contain('v1.5.1 for Istio 1.30');
    // Only reads.
    expect(api.requests.every((r) => r.method === 'GET')).to.equal(true);
  });

  it('a cluster with everything ambient needs has no ambient problem', async () => {
    for (const name of ['istio-cni-node', 'ztunnel'])
      api.put(ambientDaemonSet(name, { desired: 2, updated: 2, available: 2 }));
    for (const c of gatewayApiCrds('v1.5.1')) api.put(c);
    expect(await ambientProblems(new KubeClient({ kubeConfig: api.kubeConfig() }), true)).to.deep.equal([]);
  });

  it("refuses Calico's bundled ambient Istio (calico-system) in one sentence", async () => {
    for (const name of ['istio-cni-node', 'ztunnel'])
      api.put(ambientDaemonSet(name, { desired: 2, updated: 2, available: 2 }, 'calico-system'));
    const problems = await checkExisting(
      { ...cluster, environment: { ...cluster.environment, istio: undefined } },
      undefined,
      {
        dataplane: 'ambient',
      },
    );
    expect(problems).to.include(CALICO_BUNDLE_REFUSAL);
    expect(problems.some((p) => p.startsWith('no istiod found'))).to.equal(false);
  });
});

describe('cluster: ambient pins and rollout rule', () => {
  it('pins gateway-api v1.4.1 for Istio 1.29 and v1.5.1 (with its safe-upgrades policy) for 1.30, per the facts', () => {
    expect(gatewayApiFor('1.29.6').version).to.equal('v1.4.1');
    expect(gatewayApiFor('1.30.3').files.map((f) => f.name)).to.include(
      'gateway.networking.k8s.io_vap_safeupgrades.yaml',
    );
    expect(GATEWAY_API_BUNDLES['v1.4.1']?.files.map((f) => f.name)).to.not.include(
      'gateway.networking.k8s.io_tlsroutes.yaml',
    );
    expect(() => gatewayApiFor('1.28.2')).to.throw(
      UserError,
      'bulkhead pins them only for Istio 1.29 and 1.30',
    );
  });

  it('a DaemonSet is rolled out once observed, updated and available on every scheduled node', () => {
    const ds = (status: Record<string, number>, generation = 1) => ({
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'ztunnel', generation },
      status,
    });
    expect(daemonSetRolledOut(undefined).state).to.equal('the DaemonSet does not exist');
    expect(daemonSetRolledOut(ds({ observedGeneration: 1 }, 2)).complete).to.equal(false);
    expect(daemonSetRolledOut(ds({ observedGeneration: 1, desiredNumberScheduled: 0 })).state).to.equal(
      'no node scheduled yet',
    );
    expect(
      daemonSetRolledOut(
        ds({
          observedGeneration: 1,
          desiredNumberScheduled: 3,
          updatedNumberScheduled: 3,
          numberAvailable: 2,
        }),
      ).state,
    ).to.equal('2 of 3 updated pods available');
    expect(
      daemonSetRolledOut(
        ds({
          observedGeneration: 1,
          desiredNumberScheduled: 3,
          updatedNumberScheduled: 3,
          numberAvailable: 3,
        }),
      ).complete,
    ).to.equal(true);
  });
});
