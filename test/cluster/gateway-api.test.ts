/**
 * The Gateway API CRDs for a scenario's ingress gateways: on kind they are installed in sidecar
 * mode too (the pinned files, checked as for ambient), and only when the scenario declares a
 * gateway; an existing cluster must serve Gateway and HTTPRoute v1 and ReferenceGrant v1beta1,
 * read-only checks that name what is missing; k3s refuses such a scenario.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { checkHost } from '../../harness/cluster/acquire.js';
import { CommandRunner } from '../../harness/cluster/commands.js';
import { checkExisting } from '../../harness/cluster/existing.js';
import { ingressGatewayApiProblems } from '../../harness/cluster/gateway-api.js';
import { provisionKind, type KindProps } from '../../harness/cluster/kind.js';
import type { Cluster } from '../../harness/cluster/provider.js';
import { UserError } from '../../harness/errors.js';
import { KubeClient } from '../../harness/kube/client.js';
import { FakeApiServer } from '../support/fake-apiserver/server.js';
import { gatewayApiCrds, gatewayApiFiles } from '../support/gateway-api.js';
import {
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
const GATEWAY_CRDS = ['gateways', 'httproutes', 'referencegrants'].map(
  (p) => `${p}.gateway.networking.k8s.io`,
);

describe('cluster: Gateway API CRDs for ingress gateways on kind, sidecar mode (stub tools, fake API server)', function () {
  this.timeout(20_000);
  let dir: string;
  let api: FakeApiServer;
  let releases: ReleaseServer;
  let stubs: Stubs;
  let stop: () => void;
  let log: string[];
  let props: KindProps;
  const test = gatewayApiFiles('v1.5.1');

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-gateway-api-'));
    api = await new FakeApiServer({ kubernetesVersion: 'v1.35.0' }).start();
    putNodes(api);
    releases = await releaseServer();
    stubs = await writeStubs(dir, kindKubeconfig(api));
    const istioBaseUrl = await serveIstioctl(releases, dir, '1.30.3');
    const calicoBaseUrl = serveCalico(releases, 'v3.31.2');
    const gatewayApiBaseUrl = serveGatewayApi(releases, test.files, 'v1.5.1');
    stop = simulateControllers(api, stubs, { calico: 'v3.31.2', istio: '1.30.3' });
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
      inotifyDir: path.join(dir, 'inotify'),
      timeoutMs: 5000,
    };
  });
  afterEach(async () => {
    stop();
    await api.stop();
    await releases.close();
    await rm(dir, { recursive: true, force: true });
  });

  const stored = (name: string) =>
    api.get('apiextensions.k8s.io/v1', 'CustomResourceDefinition', undefined, name);

  it('installs the pinned CRDs, HTTPRoute and ReferenceGrant included, with a sidecar install of Istio', async () => {
    const cluster = await provisionKind({ ...props, gateways: true });
    const install = (await stubs.calls()).find((c) => c[0] === 'istioctl' && c[1] === 'install') ?? [];
    expect(install).to.not.include('profile=ambient');
    for (const name of GATEWAY_CRDS)
      expect(stored(name)?.metadata.annotations, name).to.deep.equal({
        'gateway.networking.k8s.io/bundle-version': 'v1.5.1',
        'gateway.networking.k8s.io/channel': 'standard',
      });
    for (const f of test.bundle.files) expect(log).to.include(`$ sha256sum ${f.name}  # must be ${f.sha256}`);
    expect(cluster.environment.artifacts).to.have.property(
      'gateway-api-v1.5.1/gateway.networking.k8s.io_httproutes.yaml',
    );
    await cluster.release({ keep: true });
  });

  it('installs none of them for a sidecar scenario without gateways', async () => {
    const cluster = await provisionKind(props);
    for (const name of GATEWAY_CRDS) expect(stored(name), name).to.equal(undefined);
    expect(log.some((l) => l.includes('/gateway-api/'))).to.equal(false);
    await cluster.release({ keep: true });
  });
});

describe('cluster: an existing cluster for a scenario with ingress gateways (read only)', () => {
  let api: FakeApiServer;
  beforeEach(async () => {
    api = await new FakeApiServer().start();
  });
  afterEach(async () => {
    await api.stop();
  });
  const client = () => new KubeClient({ kubeConfig: api.kubeConfig() });

  it('has no problem when Gateway, HTTPRoute v1 and ReferenceGrant v1beta1 are served (either bundle)', async () => {
    for (const c of gatewayApiCrds('v1.4.1')) api.put(c);
    expect(await ingressGatewayApiProblems(client())).to.deep.equal([]);
    for (const c of gatewayApiCrds('v1.5.1')) api.put(c);
    expect(await ingressGatewayApiProblems(client())).to.deep.equal([]);
    expect(api.requests.every((r) => r.method === 'GET')).to.equal(true);
  });

  it('names each CRD that is missing or does not serve the version bulkhead writes', async () => {
    const [classes, gateways, , grants] = gatewayApiCrds('v1.5.1');
    for (const c of [classes, gateways]) if (c) api.put(c);
    const onlyV1 = structuredClone(grants) as { spec: { versions: { name: string; served: boolean }[] } };
    for (const v of onlyV1.spec.versions) v.served = v.name === 'v1';
    api.put(onlyV1);
    const problems = await ingressGatewayApiProblems(client());
    expect(problems).to.have.length(2);
    expect(problems[0]).to.contain(
      'the scenario declares ingress gateways, and the cluster has no CRD httproutes.gateway.networking.k8s.io',
    );
    expect(problems[0]).to.contain('v1.5.1 for Istio 1.30');
    expect(problems[1]).to.contain(
      'the CRD referencegrants.gateway.networking.k8s.io does not serve v1beta1 (served: v1), which bulkhead writes and istiod watches',
    );
  });

  it('checkExisting reports them only when the scenario declares gateways', async () => {
    const cluster: Cluster = {
      kubeConfig: api.kubeConfig(),
      kubeconfigPath: '',
      environment: { provider: 'existing', cluster: 'fake', artifacts: {}, reused: true },
      release: () => Promise.resolve(),
    };
    const without = await checkExisting(cluster);
    expect(without.some((p) => p.includes('ingress gateways'))).to.equal(false);
    const withGateways = await checkExisting(cluster, undefined, { gateways: true });
    expect(withGateways.filter((p) => p.includes('ingress gateways'))).to.have.length(3);
  });

  it('k3s refuses a scenario with gateways before anything is checked or downloaded', async () => {
    const error = await checkHost({
      provider: 'k3s',
      gateways: true,
      log: () => undefined,
      cwd: tmpdir(),
      logsDir: tmpdir(),
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(UserError);
    expect((error as Error).message).to.contain('the k3s provider does not install the Gateway API CRDs');
  });
});
