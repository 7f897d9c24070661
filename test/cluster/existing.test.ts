import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { RUN_PERMISSIONS } from '../../harness/cluster/access.js';
import { detectVersions, imageTag } from '../../harness/cluster/detect.js';
import { KubeClient } from '../../harness/kube/client.js';
import { checkExisting, connectExisting } from '../../harness/cluster/existing.js';
import { FakeApiServer } from '../support/fake-apiserver/server.js';
import { putCalicoApiServer } from '../support/existing-cluster.js';
import { runCli } from '../support/cli.js';

describe('cluster: existing provider reports what the cluster runs', () => {
  let dir: string;
  let api: FakeApiServer;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-existing-'));
    api = await new FakeApiServer({ kubernetesVersion: 'v1.34.2' }).start();
    await writeFile(path.join(dir, 'kubeconfig'), api.kubeConfig().exportConfig());
  });
  afterEach(async () => {
    await api.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('finds Kubernetes, Calico (ClusterInformation) and Istio (istiod image), creating nothing', async () => {
    api.put({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'clusterinformations.crd.projectcalico.org' },
      spec: {
        group: 'crd.projectcalico.org',
        names: { kind: 'ClusterInformation', plural: 'clusterinformations' },
        scope: 'Cluster',
        versions: [{ name: 'v1', served: true, storage: true }],
      },
    });
    api.put({
      apiVersion: 'crd.projectcalico.org/v1',
      kind: 'ClusterInformation',
      metadata: { name: 'default' },
      spec: { calicoVersion: 'v3.30.3' },
    });
    api.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-system' } });
    api.put({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'istiod', namespace: 'istio-system' },
      spec: {
        selector: { matchLabels: { app: 'istiod' } },
        template: {
          metadata: { labels: { app: 'istiod' } },
          spec: {
            containers: [{ name: 'discovery', image: 'gcr.io/istio-release/pilot:1.28.1-distroless' }],
          },
        },
      },
    });
    const cluster = await connectExisting({ cwd: dir, kubeconfig: 'kubeconfig', context: 'fake' });
    expect(cluster.environment).to.deep.equal({
      provider: 'existing',
      cluster: 'fake',
      kubernetes: 'v1.34.2',
      calico: 'v3.30.3',
      istio: '1.28.1',
      reused: true,
    });
    expect(cluster.kubeconfigPath).to.equal(path.join(dir, 'kubeconfig'));
    await cluster.release({ keep: false });
    expect(api.requests.filter((r) => r.method !== 'GET')).to.deep.equal([]);
  });

  it('reports absent Calico and Istio as absent', async () => {
    const cluster = await connectExisting({ cwd: dir, kubeconfig: 'kubeconfig' });
    expect(cluster.environment).to.deep.equal({
      provider: 'existing',
      cluster: 'fake',
      kubernetes: 'v1.34.2',
      reused: true,
    });
  });

  function putIstiod(server: FakeApiServer, version: string): void {
    server.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-system' } });
    server.put({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'istiod', namespace: 'istio-system' },
      spec: {
        selector: { matchLabels: { app: 'istiod' } },
        template: {
          metadata: { labels: { app: 'istiod' } },
          spec: { containers: [{ name: 'discovery', image: `docker.io/istio/pilot:${version}` }] },
        },
      },
    });
  }

  function putCalicoInstallation(server: FakeApiServer, version: string): void {
    server.put({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'installations.operator.tigera.io' },
      spec: {
        group: 'operator.tigera.io',
        names: { kind: 'Installation', plural: 'installations' },
        scope: 'Cluster',
        versions: [{ name: 'v1', served: true, storage: true }],
      },
    });
    server.put({
      apiVersion: 'operator.tigera.io/v1',
      kind: 'Installation',
      metadata: { name: 'default' },
      status: { calicoVersion: version },
    });
  }

  it('up --provider existing: a ready cluster passes, after one access review per permission a run needs', async () => {
    putCalicoInstallation(api, 'v3.31.2');
    putCalicoApiServer(api);
    putIstiod(api, '1.29.3');
    const r = await runCli(['up', '--provider', 'existing', '--kubeconfig', 'kubeconfig'], dir);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^kubernetes\s+v1\.34\.2$/m);
    expect(r.stdout).to.match(/^calico\s+v3\.31\.2$/m);
    expect(r.stdout).to.match(/^istio\s+1\.29\.3$/m);
    expect(r.stdout).to.contain("context 'fake' is ready for bulkhead run --provider existing");
    const reviews = api.requests.filter(
      (q) => q.path === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
    );
    expect(reviews).to.have.length(RUN_PERMISSIONS.length);
    expect(api.requests.filter((q) => q.method !== 'GET' && !reviews.includes(q))).to.deep.equal([]);
  });

  it('names every problem in one sentence with its fix: missing Calico, an unsupported Istio, missing permissions', async () => {
    await api.stop();
    api = await new FakeApiServer({
      kubernetesVersion: 'v1.35.0',
      accessReview: (a) =>
        !(a.subresource === 'exec' || (a.resource === 'namespaces' && a.verb === 'delete')),
    }).start();
    await writeFile(path.join(dir, 'kubeconfig'), api.kubeConfig().exportConfig());
    putIstiod(api, '1.28.1');
    const cluster = await connectExisting({ cwd: dir, kubeconfig: 'kubeconfig' });
    expect(await checkExisting(cluster)).to.deep.equal([
      'no Calico found (no operator Installation, no ClusterInformation); install Calico, or run on a fresh cluster with --provider kind',
      'Istio 1.28.1 does not support Kubernetes v1.35.0 (it supports 1.30–1.34); upgrade Istio before trusting isolation results on this cluster',
      "the credentials of context 'fake' may not delete namespaces, create pods/exec, get pods/exec; use a context whose role allows them (a run creates and deletes its own namespaces)",
    ]);
    const r = await runCli(['up', '--provider', 'existing', '--kubeconfig', 'kubeconfig'], dir);
    expect(r.code).to.equal(2);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('error: '))).to.have.length(3);
    expect(r.stdout).to.match(/^calico\s+not found$/m);
  });

  function putRevision(server: FakeApiServer, revision: string, version: string): void {
    server.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-system' } });
    server.put({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        name: `istiod-${revision}`,
        namespace: 'istio-system',
        labels: { 'istio.io/rev': revision },
      },
      spec: {
        selector: { matchLabels: { app: 'istiod', 'istio.io/rev': revision } },
        template: {
          metadata: { labels: { app: 'istiod', 'istio.io/rev': revision } },
          spec: { containers: [{ name: 'discovery', image: `docker.io/istio/pilot:${version}` }] },
        },
      },
    });
  }

  function putDefaultTag(server: FakeApiServer, revision: string): void {
    server.put({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: {
        name: 'istio-revision-tag-default',
        labels: { 'istio.io/rev': revision, 'istio.io/tag': 'default' },
      },
      webhooks: [],
    });
  }

  it("a revision install: the Istio version is the default tag's revision, not any istiod-<rev>", async () => {
    putRevision(api, '1-29-3', '1.29.3');
    putRevision(api, '1-30-3', '1.30.3');
    putDefaultTag(api, '1-30-3');
    const cluster = await connectExisting({ cwd: dir, kubeconfig: 'kubeconfig' });
    expect(cluster.environment.istio).to.equal('1.30.3');
  });

  it('an istiod without a revision is the default one when no default tag exists', async () => {
    putIstiod(api, '1.29.3');
    putRevision(api, '1-30-3', '1.30.3');
    const cluster = await connectExisting({ cwd: dir, kubeconfig: 'kubeconfig' });
    expect(cluster.environment.istio).to.equal('1.29.3');
  });

  it('revisions without a default are named, with the fix, instead of "no istiod found"', async () => {
    putCalicoInstallation(api, 'v3.31.2');
    putCalicoApiServer(api);
    putRevision(api, '1-29-3', '1.29.3');
    const cluster = await connectExisting({ cwd: dir, kubeconfig: 'kubeconfig' });
    expect(cluster.environment.istio).to.equal(undefined);
    expect(await checkExisting(cluster)).to.deep.equal([
      'istio-system runs istiod-1-29-3 (revision 1-29-3, Istio 1.29.3) but none is the default revision (no Deployment istiod, no MutatingWebhookConfiguration istio-revision-tag-default naming one of them), and bulkhead labels its namespaces istio-injection=enabled, which only the default revision injects; make one the default with istioctl tag set default --revision 1-29-3',
    ]);
  });

  it('detectVersions reports a failed GET /version instead of recording no version', async () => {
    await api.stop();
    api = await new FakeApiServer({ forbid: (q) => q.path === '/version' }).start();
    const client = new KubeClient({ kubeConfig: api.kubeConfig() });
    let failure: unknown;
    await detectVersions(client).catch((error: unknown) => (failure = error));
    expect(failure, 'detectVersions resolved').to.be.instanceOf(Error);
    expect((failure as Error).message).to.match(/version/i);
  });

  it('imageTag', () => {
    expect(imageTag('docker.io/istio/pilot:1.29.3@sha256:abc')).to.equal('1.29.3');
    expect(imageTag('localhost:5000/pilot')).to.equal(undefined);
  });
});
