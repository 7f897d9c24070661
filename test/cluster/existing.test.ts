import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { imageTag } from '../../harness/cluster/detect.js';
import { connectExisting } from '../../harness/cluster/existing.js';
import { FakeApiServer } from '../support/fake-apiserver/server.js';

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

  it('imageTag', () => {
    expect(imageTag('docker.io/istio/pilot:1.29.3@sha256:abc')).to.equal('1.29.3');
    expect(imageTag('localhost:5000/pilot')).to.equal(undefined);
  });
});
