/**
 * What the upgrade tests need from the fake API server, checked on its own: a changed pod
 * template replaces a Deployment's pods (a rollout restart), an unchanged re-apply does not, and
 * the admission hook sees each object once, on create.
 */
import { KubernetesObjectApi, PatchStrategy, type V1Pod } from '@kubernetes/client-node';
import { expect } from 'chai';

import { KubeClient } from '../../harness/kube/client.js';
import { FakeApiServer } from '../support/fake-apiserver/server.js';

const deployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'api', namespace: 'default' },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: 'api' } },
    template: {
      metadata: { labels: { app: 'api' } },
      spec: { containers: [{ name: 'app', image: 'node:24' }] },
    },
  },
};

describe('fake API server: rollouts and admission', () => {
  let server: FakeApiServer;
  let admitted: string[];

  beforeEach(async () => {
    admitted = [];
    server = await new FakeApiServer({
      admit: (object) => {
        const metadata = object.metadata as { name?: string; labels?: Record<string, string> };
        admitted.push(`${String(object.kind)} ${metadata.name ?? ''}`);
        return object.kind === 'Pod'
          ? { ...object, metadata: { ...metadata, labels: { ...metadata.labels, admitted: 'yes' } } }
          : object;
      },
    }).start();
  });
  afterEach(async () => {
    await server.stop();
  });

  const pods = () => server.list('v1', 'Pod', 'default') as unknown as V1Pod[];
  const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

  it('re-applying the same template keeps the pod; a new template annotation replaces it', async () => {
    const client = new KubeClient({ kubeConfig: server.kubeConfig() });
    await client.apply(deployment);
    await settle();
    const [first] = pods();
    expect(first?.metadata?.labels).to.include({ app: 'api', admitted: 'yes' });
    await client.apply(deployment);
    await settle();
    expect(pods().map((p) => p.metadata?.uid)).to.deep.equal([first?.metadata?.uid]);

    await KubernetesObjectApi.makeApiClient(server.kubeConfig()).patch(
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'api', namespace: 'default' },
        spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': 'now' } } } },
      } as never,
      undefined,
      undefined,
      'test',
      undefined,
      PatchStrategy.StrategicMergePatch,
    );
    await settle();
    const now = pods();
    expect(now).to.have.length(1);
    expect(now[0]?.metadata?.uid).not.to.equal(first?.metadata?.uid);
    expect(now[0]?.metadata?.annotations).to.deep.equal({ 'kubectl.kubernetes.io/restartedAt': 'now' });
    // Admission ran once per created object, never for the updates (status, readiness) in between.
    expect(admitted.filter((a) => a.startsWith('Pod '))).to.have.length(2);
    expect(admitted.filter((a) => a === 'Deployment api')).to.have.length(1);
  });
});
