import type { KubernetesObject } from '@kubernetes/client-node';
import { expect } from 'chai';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { stringify } from 'yaml';

import { agentImage, DEFAULT_AGENT_IMAGE, renderFixtures } from '../../harness/run/fixtures.js';
import type { Scenario } from '../../harness/scenario/types.js';
import { HEAD, load } from '../support/scenarios.js';
import { matchSnapshot } from '../support/snapshot.js';

const SNAPSHOT = new URL('./__snapshots__/fixtures.yaml', import.meta.url);

const TWO_TENANTS = `${HEAD}  tenants:
    - name: acme
      workloads:
        - { name: api, serviceAccount: api-sa, ports: [{ port: 8080, name: http }, { port: 5353, protocol: UDP }] }
    - name: globex
      injection: false
      workloads:
        - { name: web, ports: [9000], automountToken: false, nodePort: true }
`;

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  Namespace,
  ServiceAccount,
  ConfigMap,
  Deployment,
  Service,
  Pod,
};

describe('fixtures', () => {
  let scenario: Scenario;
  let objects: KubernetesObject[];
  before(async () => {
    scenario = await load(TWO_TENANTS);
    objects = renderFixtures({ scenario, runId: 'r1', agentBundle: '// agent bundle' });
  });

  it('renders what the committed snapshot shows (npm run test:update-snapshots rewrites it)', async () => {
    await matchSnapshot(objects.map((o) => stringify(o)).join('---\n'), SNAPSHOT);
  });

  it('validates every object against the Kubernetes schemas', () => {
    for (const o of objects) {
      const Model = MODELS[o.kind ?? ''];
      expect(Model, `a model for ${o.kind ?? '?'}`).to.not.equal(undefined);
      expect(
        () => {
          new Model!(o as never).validate();
        },
        `${o.kind ?? ''} ${o.metadata?.name ?? ''}`,
      ).to.not.throw();
    }
  });

  it('orders namespaces first and labels everything with the run', () => {
    expect(objects.slice(0, 2).map((o) => o.kind)).to.deep.equal(['Namespace', 'Namespace']);
    for (const o of objects) {
      expect(o.metadata?.labels, `${o.kind ?? ''} ${o.metadata?.name ?? ''}`).to.include({
        'app.kubernetes.io/managed-by': 'bulkhead',
        'bulkhead.dev/run': 'r1',
        'bulkhead.dev/scenario': 't',
      });
    }
  });

  it('turns injection and sidecar choices into the labels Istio reads', () => {
    const ns = (name: string) => objects.find((o) => o.kind === 'Namespace' && o.metadata?.name === name);
    expect(ns('tenant-acme')?.metadata?.labels).to.include({ 'istio-injection': 'enabled', tenant: 'acme' });
    expect(ns('tenant-globex')?.metadata?.labels).to.not.have.property('istio-injection');
    const probe = objects.find(
      (o) =>
        o.kind === 'Pod' && o.metadata?.name === 'probe-nosidecar' && o.metadata.namespace === 'tenant-acme',
    );
    expect(probe?.metadata?.labels).to.include({
      'sidecar.istio.io/inject': 'false',
      'bulkhead.dev/workload': 'probe-nosidecar',
    });
  });

  it('serves every port with the agent, names unnamed Service ports for Istio, honours token mounting', () => {
    const api = objects.find((o) => o.kind === 'Deployment' && o.metadata?.name === 'api') as unknown as {
      spec: { template: { spec: { serviceAccountName: string; containers: { command: string[] }[] } } };
    };
    expect(api.spec.template.spec.serviceAccountName).to.equal('api-sa');
    expect(api.spec.template.spec.containers[0]?.command).to.deep.equal([
      'node',
      '/agent/bulkhead-agent.mjs',
      'serve',
      '--port',
      '8080',
      '--udp-port',
      '5353',
    ]);
    const svc = objects.find((o) => o.kind === 'Service' && o.metadata?.name === 'web') as unknown as {
      spec: { ports: { name: string }[] };
    };
    expect(svc.spec.ports.map((p) => p.name)).to.deep.equal(['http-9000']);
    const web = objects.find((o) => o.kind === 'Deployment' && o.metadata?.name === 'web') as unknown as {
      spec: { template: { spec: { automountServiceAccountToken: boolean } } };
    };
    expect(web.spec.template.spec.automountServiceAccountToken).to.equal(false);
    expect(objects.filter((o) => o.kind === 'ServiceAccount').map((o) => o.metadata?.name)).to.deep.equal([
      'api-sa',
    ]);
  });

  it('puts a nodePort workload behind a NodePort Service too, leaving the node ports to the API server', () => {
    const services = objects.filter((o) => o.kind === 'Service').map((o) => o.metadata?.name);
    expect(services).to.deep.equal(['api', 'web', 'web-nodeport']);
    const np = objects.find((o) => o.metadata?.name === 'web-nodeport') as unknown as {
      metadata: { namespace: string };
      spec: { type: string; selector: Record<string, string>; ports: Record<string, unknown>[] };
    };
    expect(np.metadata.namespace).to.equal('tenant-globex');
    expect(np.spec).to.deep.equal({
      type: 'NodePort',
      selector: { 'bulkhead.dev/workload': 'web' },
      ports: [{ name: 'http-9000', port: 9000, targetPort: 9000, protocol: 'TCP' }],
    });
  });

  it('pins the image by digest and moves it to a mirror registry on request', () => {
    expect(DEFAULT_AGENT_IMAGE).to.match(/@sha256:[0-9a-f]{64}$/);
    expect(agentImage({ imageRegistry: 'mirror.example.com:5000/' })).to.equal(
      'mirror.example.com:5000/library/node:24-alpine@sha256:a0b9bf06e4e6193cf7a0f58816cc935ff8c2a908f81e6f1a95432d679c54fbfd',
    );
    expect(agentImage({ agentImage: 'node@sha256:abc', imageRegistry: 'm.local' })).to.equal(
      'm.local/library/node@sha256:abc',
    );
    expect(agentImage({ agentImage: 'quay.io/me/agent:1', imageRegistry: 'm.local' })).to.equal(
      'm.local/me/agent:1',
    );
  });
});
