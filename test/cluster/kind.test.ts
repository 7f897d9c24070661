import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';
import { parse } from 'yaml';

import { CommandRunner } from '../../harness/cluster/commands.js';
import { kindConfig, provisionKind, type KindProps } from '../../harness/cluster/kind.js';
import { NODE_IMAGES } from '../../harness/cluster/versions.js';
import { UserError } from '../../harness/errors.js';
import { FakeApiServer } from '../support/fake-apiserver/server.js';
import {
  kindKubeconfig,
  putNodes,
  releaseServer,
  serveCalico,
  serveIstioctl,
  serveKind,
  simulateControllers,
  writeStubs,
  type ReleaseServer,
  type Stubs,
} from './support.js';

const VERSIONS = { kubernetes: '1.35.0', calico: 'v3.31.2', istio: '1.29.3' };
const IMAGE_135 = NODE_IMAGES.find((n) => n.kubernetes === '1.35.0')?.image ?? '';

describe('cluster: kind provider (stub kind/docker/istioctl, local releases, fake API server)', function () {
  this.timeout(20_000);
  let dir: string;
  let api: FakeApiServer;
  let releases: ReleaseServer;
  let stubs: Stubs;
  let stopControllers: () => void;
  let log: string[];
  let props: KindProps;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-kind-'));
    api = await new FakeApiServer({ kubernetesVersion: 'v1.35.0' }).start();
    putNodes(api);
    releases = await releaseServer();
    stubs = await writeStubs(dir, kindKubeconfig(api));
    const istioBaseUrl = await serveIstioctl(releases, dir, '1.29.3');
    const calicoBaseUrl = serveCalico(releases, 'v3.31.2');
    stopControllers = simulateControllers(api, stubs, { calico: 'v3.31.2', istio: '1.29.3' });
    log = [];
    // Limits high enough for kind; a test below lowers them.
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
      inotifyDir: path.join(dir, 'inotify'),
      timeoutMs: 5000,
    };
  });
  afterEach(async () => {
    stopControllers();
    await api.stop();
    await releases.close();
    await rm(dir, { recursive: true, force: true });
  });

  const tools = async () => (await stubs.calls()).map((c) => c.slice(0, 3).join(' '));

  it('creates a pinned cluster, installs Calico and Istio, reports versions, and deletes it after exporting logs', async () => {
    const cluster = await provisionKind(props);
    const calls = await stubs.calls();
    const create = calls.find((c) => c[0] === 'kind' && c[1] === 'create');
    expect(create).to.include.members(['--name', 'bulkhead', '--image', IMAGE_135, '--retain']);
    expect(create).to.not.include('--wait');
    expect(IMAGE_135).to.match(/^kindest\/node:v1\.35\.0@sha256:[0-9a-f]{64}$/);
    const config = parse(await readFile(path.join(stubs.state, 'last-config.yaml'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(config).to.deep.equal({
      kind: 'Cluster',
      apiVersion: 'kind.x-k8s.io/v1alpha4',
      nodes: [{ role: 'control-plane' }, { role: 'worker' }, { role: 'worker' }],
      networking: { disableDefaultCNI: true, podSubnet: '192.168.0.0/16' },
    });
    // Preflight before anything is created; istioctl installs with the probe-serving mesh settings.
    expect(await tools()).to.deep.equal([
      'docker info --format',
      'kind version',
      'kind get clusters',
      'kind create cluster',
      'istioctl install -y',
    ]);
    const install = calls.find((c) => c[0] === 'istioctl') ?? [];
    expect(install.join(' ')).to.contain('--context kind-bulkhead --set profile=minimal');
    expect(install).to.include.members([
      'meshConfig.accessLogFile=/dev/stdout',
      'meshConfig.accessLogEncoding=JSON',
      'meshConfig.connectTimeout=2s',
    ]);
    const installation = api.get(
      'operator.tigera.io/v1',
      'Installation',
      undefined,
      'default',
    ) as unknown as {
      spec: { calicoNetwork: { ipPools: { cidr: string }[] } };
    };
    expect(installation.spec.calicoNetwork.ipPools[0]?.cidr).to.equal('192.168.0.0/16');
    expect(api.get('operator.tigera.io/v1', 'APIServer', undefined, 'default')).to.not.equal(undefined);
    expect(api.get('apps/v1', 'Deployment', 'tigera-operator', 'tigera-operator')).to.not.equal(undefined);
    // Calico objects went through server-side apply.
    const applies = api.requests.filter((r) => r.method === 'PATCH');
    expect(applies.length).to.be.greaterThan(5);
    expect(
      applies.every(
        (r) => r.contentType === 'application/apply-patch+yaml' && r.query.fieldManager === 'bulkhead',
      ),
    ).to.equal(true);

    expect(cluster.environment).to.deep.include({
      provider: 'kind',
      cluster: 'bulkhead',
      kubernetes: 'v1.35.0',
      calico: 'v3.31.2',
      istio: '1.29.3',
      nodeImage: IMAGE_135,
      kind: 'v0.31.0',
      reused: false,
    });
    expect(Object.keys(cluster.environment.artifacts ?? {})).to.deep.equal([
      'istioctl-1.29.3',
      'calico-v3.31.2/operator-crds.yaml',
      'calico-v3.31.2/tigera-operator.yaml',
    ]);
    expect(cluster.kubeConfig.getCurrentContext()).to.equal('kind-bulkhead');
    // Every step is logged as the command that reproduces it.
    expect(log).to.include(`$ docker info --format '{{.ServerVersion}}'`);
    expect(
      log.some(
        (l) =>
          l.startsWith(`$ kind create cluster --name bulkhead --config `) &&
          l.includes(`--image ${IMAGE_135}`),
      ),
    ).to.equal(true);
    expect(log.some((l) => l.startsWith('$ curl -fsSLo istioctl-1.29.3-linux-'))).to.equal(true);
    expect(
      log.some(
        (l) =>
          l.startsWith('$ kubectl apply --server-side') &&
          l.endsWith('/v3.31.2/manifests/operator-crds.yaml'),
      ),
    ).to.equal(true);
    expect(log).to.include(
      '$ kubectl wait --for=condition=Available tigerastatus/calico tigerastatus/apiserver --timeout=5s',
    );
    expect(log).to.include('$ kubectl wait --for=condition=Ready nodes --all --timeout=5s');

    await cluster.release({ keep: false, logsDir: props.logsDir });
    expect((await tools()).slice(-2)).to.deep.equal(['kind export logs', 'kind delete cluster']);
    expect((await stubs.calls()).find((c) => c[1] === 'export')).to.deep.equal([
      'kind',
      'export',
      'logs',
      props.logsDir,
      '--name',
      'bulkhead',
    ]);
    expect(await readdir(path.join(stubs.state, 'clusters'))).to.deep.equal([]);
    expect(existsSync(path.join(props.logsDir, 'bulkhead-control-plane', 'kubelet.log'))).to.equal(true);
  });

  it('starts the internet stand-in on the kind network when asked, and removes it with the cluster', async () => {
    const cluster = await provisionKind({
      ...props,
      internet: { image: 'registry.test/node:24@sha256:abc' },
    });
    expect(cluster.internet).to.equal('172.18.0.9');
    const calls = await stubs.calls();
    const run = calls.find((c) => c[0] === 'docker' && c[1] === 'run') ?? [];
    expect(run.slice(0, 10)).to.deep.equal([
      'docker',
      'run',
      '-d',
      '--name',
      'bulkhead-bulkhead-internet',
      '--network',
      'kind',
      '--label',
      'dev.bulkhead.internet=bulkhead',
      'registry.test/node:24@sha256:abc',
    ]);
    expect(run.slice(10, 12)).to.deep.equal(['node', '-e']);
    expect(run[12]).to.contain('.listen(80)');
    // Started once Istio is in, replacing a stale one of the same name first.
    expect((await tools()).slice(-4)).to.deep.equal([
      'istioctl install -y',
      'docker rm -f',
      'docker run -d',
      'docker inspect --format',
    ]);
    expect(
      log.some((l) => l.startsWith('$ docker run -d --name bulkhead-bulkhead-internet --network kind')),
    ).to.equal(true);
    await cluster.release({ keep: false, logsDir: props.logsDir });
    expect((await tools()).slice(-3)).to.deep.equal([
      'docker rm -f',
      'kind export logs',
      'kind delete cluster',
    ]);
    expect(await readdir(path.join(stubs.state, 'containers'))).to.deep.equal([]);
  });

  it('without the internet stand-in asked for, starts no container', async () => {
    const cluster = await provisionKind(props);
    expect(cluster.internet).to.equal(undefined);
    expect((await stubs.calls()).some((c) => c[0] === 'docker' && c[1] === 'run')).to.equal(false);
  });

  it('refuses an unsupported Istio/Kubernetes pair before running any command or download', async () => {
    let error: unknown;
    try {
      await provisionKind({ ...props, versions: { ...VERSIONS, istio: '1.28.2' } });
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(UserError);
    expect((error as Error).message).to.equal(
      'Istio 1.28.2 does not support Kubernetes 1.35.0 (it supports 1.30–1.34); pick --kubernetes in that range or another --istio',
    );
    expect(await stubs.calls()).to.deep.equal([]);
    expect(releases.requests).to.deep.equal([]);
    expect(log).to.deep.equal([]);
  });

  it('a failing kind create exports the logs, deletes the cluster, and says where the logs are', async () => {
    await writeFile(path.join(stubs.state, 'fail-create'), '');
    let error: unknown;
    try {
      await provisionKind(props);
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(UserError);
    expect((error as Error).message).to.match(
      /^`kind create cluster` failed \(ERROR: failed to create cluster: failed to init node with kubeadm: .*\); its logs are in .*cluster-logs and the cluster was deleted$/,
    );
    expect((await tools()).slice(-3)).to.deep.equal([
      'kind create cluster',
      'kind export logs',
      'kind delete cluster',
    ]);
    expect(await readdir(path.join(stubs.state, 'clusters'))).to.deep.equal([]);
    expect(existsSync(path.join(props.logsDir, 'bulkhead-control-plane', 'kubelet.log'))).to.equal(true);
    expect((await stubs.calls()).some((c) => c[0] === 'istioctl')).to.equal(false);
  });

  it('Calico that never becomes Available fails the provisioning in one sentence and deletes the cluster', async () => {
    stopControllers();
    const error = await provisionKind({ ...props, timeoutMs: 300 }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(UserError);
    expect((error as Error).message).to.equal(
      `installing Calico and Istio on the new kind cluster failed: timed out after 300 ms waiting for tigerastatus calico and apiserver Available (no tigerastatus yet); its logs are in ${props.logsDir} and the cluster was deleted`,
    );
    expect((await tools()).slice(-2)).to.deep.equal(['kind export logs', 'kind delete cluster']);
    expect(await readdir(path.join(stubs.state, 'clusters'))).to.deep.equal([]);
    expect((await stubs.calls()).some((c) => c[0] === 'istioctl')).to.equal(false);
  });

  it('an interrupt during kind create cancels it, exports the logs and deletes the cluster', async () => {
    await writeFile(path.join(stubs.state, 'slow-create'), '');
    const controller = new AbortController();
    const pending = provisionKind({ ...props, signal: controller.signal }).catch((e: unknown) => e);
    while (!(await tools()).includes('kind create cluster')) await new Promise((r) => setTimeout(r, 10));
    controller.abort();
    const error = await pending;
    expect((error as Error).message).to.match(
      /^`kind create cluster` failed \(cancelled\); its logs are in /,
    );
    expect((await tools()).slice(-2)).to.deep.equal(['kind export logs', 'kind delete cluster']);
    expect(await readdir(path.join(stubs.state, 'clusters'))).to.deep.equal([]);
  });

  it('refuses a cluster of the same name unless --reuse, reuses a running one, and never deletes it', async () => {
    await writeFile(path.join(stubs.state, 'clusters', 'bulkhead'), 'running');
    let refused: unknown;
    try {
      await provisionKind(props);
    } catch (e) {
      refused = e;
    }
    expect((refused as Error).message).to.equal(
      "a kind cluster named 'bulkhead' already exists; pass --reuse to use it, or run `bulkhead down --name bulkhead` first",
    );
    const cluster = await provisionKind({ ...props, reuse: true });
    expect(cluster.environment).to.deep.include({ reused: true, calico: 'v3.31.2', istio: '1.29.3' });
    const calls = await tools();
    expect(calls.filter((c) => c === 'kind create cluster')).to.deep.equal([]);
    expect(calls).to.include('kind get kubeconfig');
    expect(calls).to.include('docker ps -a');
    await cluster.release({ keep: false, logsDir: props.logsDir });
    expect((await tools()).filter((c) => c.startsWith('kind delete'))).to.deep.equal([]);
    expect(await readdir(path.join(stubs.state, 'clusters'))).to.deep.equal(['bulkhead']);
  });

  it('reusing a cluster that already runs the requested Calico and Istio installs nothing', async () => {
    await writeFile(path.join(stubs.state, 'clusters', 'bulkhead'), 'running');
    const first = await provisionKind({ ...props, reuse: true });
    const patches = api.requests.filter((r) => r.method === 'PATCH').length;
    await first.release({ keep: true });
    const second = await provisionKind({ ...props, reuse: true });
    expect(api.requests.filter((r) => r.method === 'PATCH').length).to.equal(patches);
    expect((await stubs.calls()).filter((c) => c[0] === 'istioctl')).to.have.length(1);
    expect(second.environment).to.deep.include({ calico: 'v3.31.2', istio: '1.29.3', reused: true });
    await second.release({ keep: false });
  });

  it('refuses a stopped cluster with the fix', async () => {
    await writeFile(path.join(stubs.state, 'clusters', 'bulkhead'), 'exited');
    let error: unknown;
    try {
      await provisionKind({ ...props, reuse: true });
    } catch (e) {
      error = e;
    }
    expect((error as Error).message).to.equal(
      "the kind cluster 'bulkhead' exists but is not running (bulkhead-control-plane exited); run `bulkhead down --name bulkhead` and retry",
    );
    expect((await tools()).some((c) => c.startsWith('kind create') || c.startsWith('kind delete'))).to.equal(
      false,
    );
  });

  it('preflight: an unreachable Docker engine or low inotify limits stop it with one sentence', async () => {
    await writeFile(path.join(stubs.state, 'docker-down'), '');
    const docker = await provisionKind(props).catch((e: unknown) => e);
    expect((docker as Error).message).to.equal(
      'the Docker engine is not reachable (Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?); start Docker or point DOCKER_HOST at it, then retry',
    );
    await rm(path.join(stubs.state, 'docker-down'));

    await writeFile(path.join(dir, 'inotify', 'max_user_instances'), '128\n');
    const inotify = await provisionKind(props).catch((e: unknown) => e);
    expect((inotify as Error).message).to.equal(
      'fs.inotify.max_user_instances is 128, below the 512 kind needs; run `sudo sysctl fs.inotify.max_user_instances=512` and retry',
    );
    expect((await tools()).some((c) => c.startsWith('kind create'))).to.equal(false);
    expect(releases.requests).to.deep.equal([]);
  });

  it('without kind on PATH, downloads the pinned release, verifies it, caches it, and uses it', async () => {
    await rm(path.join(stubs.bin, 'kind'));
    const kindBaseUrl = serveKind(releases, 'v0.31.0');
    const cluster = await provisionKind({ ...props, kindBaseUrl });
    const cached = path.join(
      props.cache,
      'kind',
      `v0.31.0-${process.arch === 'arm64' ? 'arm64' : 'amd64'}`,
      'kind',
    );
    expect(log).to.include(
      '# no kind on PATH, which the node image for Kubernetes 1.35.0 needs: using kind v0.31.0',
    );
    expect(log.some((l) => l.startsWith(`$ ${cached} create cluster --name bulkhead`))).to.equal(true);
    expect(cluster.environment.kind).to.equal('v0.31.0');
    await cluster.release({ keep: false, logsDir: props.logsDir });
    expect(log.at(-1)).to.equal(`$ ${cached} delete cluster --name bulkhead`);
    expect(releases.requests.filter((r) => r.startsWith('/kind/'))).to.have.length(2);

    // A tampered kind is refused and nothing is cached.
    await rm(path.join(props.cache, 'kind'), { recursive: true });
    for (const arch of ['amd64', 'arm64'])
      releases.set(`/kind/v0.31.0/kind-linux-${arch}`, '#!/bin/bash\necho pwned\n');
    const tampered = await provisionKind({ ...props, kindBaseUrl }).catch((e: unknown) => e);
    expect((tampered as Error).message).to.match(
      /^kind-linux-\w+ from .* has SHA-256 [0-9a-f]{64} but the release publishes [0-9a-f]{64}; nothing was cached/,
    );
    expect(existsSync(path.join(props.cache, 'kind'))).to.equal(false);
  });

  it('kindConfig: workers and a fixed API server port', () => {
    expect(parse(kindConfig({ workers: 0, apiServerPort: 6443 }))).to.deep.equal({
      kind: 'Cluster',
      apiVersion: 'kind.x-k8s.io/v1alpha4',
      nodes: [{ role: 'control-plane' }],
      networking: {
        disableDefaultCNI: true,
        podSubnet: '192.168.0.0/16',
        apiServerAddress: '127.0.0.1',
        apiServerPort: 6443,
      },
    });
  });
});
