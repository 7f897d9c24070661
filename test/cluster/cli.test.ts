import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { FakeApiServer } from '../support/fake-apiserver/server.js';
import { runCli } from '../support/cli.js';
import { agentBundle, agentExec, closedPort, scriptedServer } from '../support/fake-cluster.js';
import { HEAD } from '../support/scenarios.js';
import {
  kindKubeconfig,
  putNodes,
  releaseServer,
  serveCalico,
  serveIstioctl,
  simulateControllers,
  writeStubs,
  type ReleaseServer,
  type Stubs,
} from './support.js';

const SCENARIO = `${HEAD}  tenants:
    - name: acme
      probes: false
      workloads: [{ name: client }, { name: api, ports: [8080] }]
  attempts:
    - { id: acme-to-acme, kind: http, from: tenant-acme/client, to: tenant-acme/api, expect: allowed }
`;

describe('cli: bulkhead up / down / run --provider kind (stubs on PATH, local releases, fake API server)', function () {
  this.timeout(30_000);
  let dir: string;
  let api: FakeApiServer;
  let app: Awaited<ReturnType<typeof scriptedServer>>;
  let releases: ReleaseServer;
  let stubs: Stubs;
  let stopControllers: () => void;
  let mirrors: string[];
  const saved = { ...process.env };

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-cli-cluster-'));
    app = await scriptedServer(['app']);
    const unrouted = await closedPort();
    api = await new FakeApiServer({
      kubernetesVersion: 'v1.35.0',
      exec: agentExec({
        bundlePath: await agentBundle(),
        unroutedPort: unrouted,
        route: (_source, host) => (host.startsWith('api.') ? app.port : undefined),
      }),
    }).start();
    putNodes(api, 'bulkhead', 0);
    releases = await releaseServer();
    stubs = await writeStubs(dir, kindKubeconfig(api));
    mirrors = [
      '--istio-base-url',
      await serveIstioctl(releases, dir, '1.30.3'),
      '--calico-base-url',
      serveCalico(releases, 'v3.31.2'),
      '--provision-timeout',
      '5',
    ];
    stopControllers = simulateControllers(api, stubs, { calico: 'v3.31.2', istio: '1.30.3' });
    await writeFile(path.join(dir, 'scenario.yaml'), SCENARIO);
    // The CLI runs in-process: the stubs come first on this process's PATH, the cache is ours.
    process.env.PATH = stubs.env.PATH;
    process.env.STUB_STATE = stubs.env.STUB_STATE;
    process.env.XDG_CACHE_HOME = path.join(dir, 'cache');
  });
  afterEach(async () => {
    for (const key of ['PATH', 'STUB_STATE', 'XDG_CACHE_HOME', 'DOCKER_HOST']) {
      if (saved[key] === undefined) Reflect.deleteProperty(process.env, key);
      else process.env[key] = saved[key];
    }
    stopControllers();
    await api.stop();
    await app.close();
    await releases.close();
    await rm(dir, { recursive: true, force: true });
  });

  const clusters = () => readdir(path.join(stubs.state, 'clusters'));

  it('up creates and keeps the cluster, prints versions; up again reuses it; down exports logs and deletes it', async () => {
    const up = await runCli(['up', '--workers', '0', '--write-kubeconfig', 'kc.yaml', ...mirrors], dir);
    expect(up.code, up.stderr).to.equal(0);
    expect(up.stdout).to.match(/^kubernetes\s+v1\.35\.0$/m);
    expect(up.stdout).to.match(/^calico\s+v3\.31\.2$/m);
    expect(up.stdout).to.match(/^istio\s+1\.30\.3$/m);
    expect(up.stdout).to.match(/^node image\s+kindest\/node:v1\.35\.0@sha256:452d707d[0-9a-f]{56}$/m);
    expect(up.stdout).to.contain("cluster 'bulkhead' is up (context kind-bulkhead;");
    expect(up.stderr).to.match(
      /^\$ kind create cluster --name bulkhead --config \S+ --image kindest\/node:v1\.35\.0@sha256:\S+ --kubeconfig \S+ --retain$/m,
    );
    expect(up.stderr).to.match(/^\$ \S+\/istioctl install -y --kubeconfig /m);
    expect(await clusters()).to.deep.equal(['bulkhead']);
    expect(await readFile(path.join(dir, 'kc.yaml'), 'utf8')).to.contain('kind-bulkhead');

    const again = await runCli(['up', '--workers', '0', ...mirrors], dir);
    expect(again.code, again.stderr).to.equal(0);
    expect(again.stdout).to.match(/^cluster\s+bulkhead \(reused\)$/m);
    expect((await stubs.calls()).filter((c) => c[1] === 'create')).to.have.length(1);
    // istioctl came from the cache the second time.
    expect(releases.requests.filter((r) => r.endsWith('.tar.gz'))).to.have.length(1);

    const down = await runCli(['down', '--logs', 'logs'], dir);
    expect(down.code, down.stderr).to.equal(0);
    expect(down.stdout).to.equal("deleted kind cluster 'bulkhead'; logs in logs\n");
    expect(existsSync(path.join(dir, 'logs', 'bulkhead-control-plane', 'kubelet.log'))).to.equal(true);
    expect(await clusters()).to.deep.equal([]);
    const none = await runCli(['down'], dir);
    expect(none.code).to.equal(0);
    expect(none.stdout).to.equal("no kind cluster named 'bulkhead'; nothing to delete\n");
  });

  it('run (kind by default) provisions, records the versions in results.jsonl, then exports logs and deletes the cluster', async () => {
    const r = await runCli(
      [
        'run',
        '-f',
        'scenario.yaml',
        '--workers',
        '0',
        '--settle',
        '0',
        '--round-interval',
        '0',
        '--run-id',
        'r1',
        ...mirrors,
      ],
      dir,
    );
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^PASS\s+acme-to-acme\s+allowed\s+allowed\s+3$/m);
    const first = JSON.parse(
      (await readFile(path.join(dir, 'reports', 'r1', 'results.jsonl'), 'utf8')).split('\n')[0] ?? '{}',
    ) as {
      environment?: Record<string, unknown> & { versions?: Record<string, unknown> };
    };
    expect(first.environment).to.deep.include({
      provider: 'kind',
      environment: 'replica',
      clusterName: 'bulkhead',
      reused: false,
    });
    expect(first.environment?.versions).to.deep.include({
      kubernetes: 'v1.35.0',
      calico: 'v3.31.2',
      istio: '1.30.3',
      kind: 'v0.31.0',
    });
    expect(first.environment?.artifacts, 'the pinned artifacts, each with its SHA-256').to.be.an('object')
      .that.is.not.empty;
    const provision = await readFile(path.join(dir, 'reports', 'r1', 'provision.log'), 'utf8');
    expect(provision).to.match(/^\$ kind create cluster --name bulkhead /m);
    expect(provision).to.match(
      /^\$ kind export logs \S+reports\/r1\/cluster-logs --name bulkhead\n\$ kind delete cluster --name bulkhead\n$/m,
    );
    expect(
      existsSync(path.join(dir, 'reports', 'r1', 'cluster-logs', 'bulkhead-control-plane', 'kubelet.log')),
    ).to.equal(true);
    expect(await clusters()).to.deep.equal([]);
  });

  it('run --keep-cluster keeps it; run --reuse then uses it and leaves it', async () => {
    const kept = await runCli(
      [
        'run',
        '-f',
        'scenario.yaml',
        '--workers',
        '0',
        '--settle',
        '0',
        '--round-interval',
        '0',
        '--keep-cluster',
        ...mirrors,
      ],
      dir,
    );
    expect(kept.code, kept.stderr).to.equal(0);
    expect(await clusters()).to.deep.equal(['bulkhead']);
    const keptContainers = await readdir(path.join(stubs.state, 'containers'));
    const reused = await runCli(
      [
        'run',
        '-f',
        'scenario.yaml',
        '--reuse',
        '--workers',
        '0',
        '--settle',
        '0',
        '--round-interval',
        '0',
        ...mirrors,
      ],
      dir,
    );
    expect(reused.code, reused.stderr).to.equal(0);
    expect(reused.stderr).to.contain(
      "# kind cluster 'bulkhead' kept; `bulkhead down --name bulkhead` deletes it",
    );
    expect(await clusters()).to.deep.equal(['bulkhead']);
    expect((await stubs.calls()).filter((c) => c[1] === 'create' || c[1] === 'delete')).to.have.length(1);
    // The run that kept the cluster left its stand-in running (the reusing run removed it at its end).
    expect(keptContainers).to.deep.equal(['bulkhead-bulkhead-internet']);
  });

  it("down removes a kept cluster's internet stand-in with it, one left without its cluster, and no other", async () => {
    const containers = path.join(stubs.state, 'containers');
    await mkdir(containers, { recursive: true });
    const stale = async () => {
      for (const name of ['bulkhead-bulkhead-internet', 'other-bulkhead-internet'])
        await writeFile(path.join(containers, name), '');
    };
    // What `run --keep-cluster` leaves (the test above): the cluster and its stand-in.
    await writeFile(path.join(stubs.state, 'clusters', 'bulkhead'), 'running');
    await stale();
    const down = await runCli(['down'], dir);
    expect(down.code, down.stderr).to.equal(0);
    expect(down.stdout).to.equal("deleted kind cluster 'bulkhead'\n");
    expect(down.stderr).to.match(/^\$ docker rm -f bulkhead-bulkhead-internet$/m);
    expect(await clusters()).to.deep.equal([]);
    expect(await readdir(containers)).to.deep.equal(['other-bulkhead-internet']);

    await stale();
    const none = await runCli(['down'], dir);
    expect(none.code, none.stderr).to.equal(0);
    expect(none.stdout).to.equal("no kind cluster named 'bulkhead'; nothing to delete\n");
    expect(await readdir(containers)).to.deep.equal(['other-bulkhead-internet']);
  });

  it('run with an unsupported Istio/Kubernetes pair exits 2 with one sentence before any command or download', async () => {
    const r = await runCli(
      ['run', '-f', 'scenario.yaml', '--istio', '1.29.3', '--kubernetes', '1.36.1', ...mirrors],
      dir,
    );
    expect(r.code).to.equal(2);
    expect(r.stderr).to.equal(
      'error: Istio 1.29.3 does not support Kubernetes 1.36.1 (it supports 1.31–1.35); pick --kubernetes in that range or another --istio\n',
    );
    expect(await stubs.calls()).to.deep.equal([]);
    expect(releases.requests).to.deep.equal([]);
    expect(api.requests).to.deep.equal([]);
  });

  it('run --provider k3s without a container runtime exits 2 naming the fix, before any download', async () => {
    process.env.DOCKER_HOST = `unix://${path.join(dir, 'no-docker.sock')}`;
    const r = await runCli(['run', '-f', 'scenario.yaml', '--provider', 'k3s', ...mirrors], dir);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(
      /^error: no Docker engine is reachable for k3s \(.+\); start Docker or set DOCKER_HOST, then retry\n$/,
    );
    expect(releases.requests).to.deep.equal([]);
  });

  it('run without a Docker engine exits 2 naming the fix, creating nothing', async () => {
    await writeFile(path.join(stubs.state, 'docker-down'), '');
    const r = await runCli(['run', '-f', 'scenario.yaml', ...mirrors], dir);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(
      /^error: the Docker engine is not reachable \(Cannot connect to the Docker daemon at .*\); start Docker or point DOCKER_HOST at it, then retry\n$/m,
    );
    expect((await stubs.calls()).map((c) => c.slice(0, 2).join(' '))).to.deep.equal(['docker info']);
  });
});
