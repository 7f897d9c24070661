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
import {
  invalidValues,
  missingRequired,
  pruneUnknown,
  type JsonSchema,
} from '../support/fake-apiserver/schemas.js';
import { GATEWAY_SCHEMA, HTTPROUTE_SCHEMA } from '../support/gateway-api.js';
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

const AMBIENT = `${HEAD}  tenants:
    - name: acme
      dataplane: ambient
      probes: false
      waypoints:
        - { name: waypoint }
      workloads:
        - { name: api, ports: [8080] }
        - { name: legacy, dataplane: sidecar, ports: [8080] }
        - { name: batch, sidecar: false, ports: [9000] }
    - name: globex
      probes: false
      workloads:
        - { name: edge, dataplane: ambient, ports: [8080] }
  namespaces:
    - name: mesh-l7
      dataplane: ambient
      waypoints:
        - { name: wp-api, for: all, services: [api] }
  workloads:
    - { name: api, namespace: mesh-l7, ports: [8080] }
`;

describe('fixtures: the ambient data plane', () => {
  let objects: KubernetesObject[];
  const find = (kind: string, namespace: string | undefined, name: string) =>
    objects.find((o) => o.kind === kind && o.metadata?.name === name && o.metadata.namespace === namespace);
  const podLabelsOf = (namespace: string, name: string) =>
    (
      find('Deployment', namespace, name) as {
        spec: { template: { metadata: { labels: Record<string, string> } } };
      }
    ).spec.template.metadata.labels;
  before(async () => {
    objects = renderFixtures({ scenario: await load(AMBIENT), runId: 'r1', agentBundle: '// agent bundle' });
  });

  it('renders what the committed snapshot shows (npm run test:update-snapshots rewrites it)', async () => {
    await matchSnapshot(
      objects.map((o) => stringify(o)).join('---\n'),
      new URL('./__snapshots__/fixtures-ambient.yaml', import.meta.url),
    );
  });

  it('validates every object against the Kubernetes schemas, and each waypoint against the Gateway CRD', () => {
    for (const o of objects) {
      if (o.kind === 'Gateway') {
        expect(missingRequired(o as Record<string, unknown>, GATEWAY_SCHEMA)).to.deep.equal([]);
        expect(pruneUnknown(o as Record<string, unknown>, GATEWAY_SCHEMA).unknown).to.deep.equal([]);
        continue;
      }
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

  it('labels ambient namespaces for ztunnel, never for injection, and enrols them with their waypoint', () => {
    const acme = find('Namespace', undefined, 'tenant-acme')?.metadata?.labels ?? {};
    expect(acme).to.include({ 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'waypoint' });
    expect(acme).to.not.have.property('istio-injection');
    expect(find('Namespace', undefined, 'tenant-globex')?.metadata?.labels).to.include({
      'istio-injection': 'enabled',
    });
    // mesh-l7's waypoint names its services: the Service and pod are labelled, not the namespace.
    expect(find('Namespace', undefined, 'mesh-l7')?.metadata?.labels).to.not.have.property(
      'istio.io/use-waypoint',
    );
    expect(find('Service', 'mesh-l7', 'api')?.metadata?.labels).to.include({
      'istio.io/use-waypoint': 'wp-api',
    });
    expect(podLabelsOf('mesh-l7', 'api')).to.include({ 'istio.io/use-waypoint': 'wp-api' });
  });

  it('says each pod data plane that differs from its namespace on the pod', () => {
    expect(podLabelsOf('tenant-acme', 'api')).to.not.have.property('istio.io/dataplane-mode');
    expect(podLabelsOf('tenant-acme', 'batch')).to.include({
      'istio.io/dataplane-mode': 'none',
      'sidecar.istio.io/inject': 'false',
    });
    expect(podLabelsOf('tenant-acme', 'legacy')).to.include({
      'istio.io/dataplane-mode': 'none',
      'sidecar.istio.io/inject': 'true',
    });
    expect(podLabelsOf('tenant-globex', 'edge')).to.include({
      'istio.io/dataplane-mode': 'ambient',
      'sidecar.istio.io/inject': 'false',
    });
  });

  it('renders each waypoint as istioctl waypoint generate does, after the namespaces', () => {
    const gw = find('Gateway', 'mesh-l7', 'wp-api') as unknown as {
      metadata: { labels: Record<string, string> };
      spec: unknown;
    };
    expect(gw.metadata.labels).to.include({
      'istio.io/waypoint-for': 'all',
      'app.kubernetes.io/managed-by': 'bulkhead',
    });
    expect(gw.spec).to.deep.equal({
      gatewayClassName: 'istio-waypoint',
      listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }],
    });
    const kinds = objects.map((o) => o.kind);
    expect(kinds.lastIndexOf('Namespace')).to.be.lessThan(kinds.indexOf('Gateway'));
  });
});

const GATEWAYS = `${HEAD}  namespaces: [{ name: ingress }]
  tenants:
    - name: acme
      workloads: [{ name: api, ports: [8080] }]
    - name: globex
      workloads: [{ name: web, ports: [9000] }]
  gateways:
    - name: public
      namespace: ingress
      port: 8000
      routes:
        - { hostname: acme.example.com, backend: tenant-acme/api }
        - { hostname: globex.example.com, backend: tenant-globex/web }
  generators: [{ kind: gateway }]
`;

describe('fixtures: ingress gateways', () => {
  let objects: KubernetesObject[];
  const of = (kind: string) => objects.filter((o) => o.kind === kind);
  before(async () => {
    objects = renderFixtures({ scenario: await load(GATEWAYS), runId: 'r1', agentBundle: '// agent bundle' });
  });

  it('renders what the committed snapshot shows (npm run test:update-snapshots rewrites it)', async () => {
    await matchSnapshot(
      objects
        .filter((o) => o.apiVersion?.startsWith('gateway.networking.k8s.io/'))
        .map((o) => stringify(o))
        .join('---\n'),
      new URL('./__snapshots__/fixtures-gateways.yaml', import.meta.url),
    );
  });

  it('validates the Gateway and every HTTPRoute against the CRD schemas the fake holds (required, unknown, values)', () => {
    const schemas: Record<string, JsonSchema> = { Gateway: GATEWAY_SCHEMA, HTTPRoute: HTTPROUTE_SCHEMA };
    const checked = objects.filter((o) => o.kind === 'Gateway' || o.kind === 'HTTPRoute');
    expect(checked).to.have.length(5);
    for (const o of checked) {
      const schema = schemas[o.kind ?? ''] as JsonSchema;
      const at = `${o.kind ?? ''} ${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
      expect(missingRequired(o as Record<string, unknown>, schema), at).to.deep.equal([]);
      expect(pruneUnknown(o as Record<string, unknown>, schema).unknown, at).to.deep.equal([]);
      expect(invalidValues(o as Record<string, unknown>, schema), at).to.deep.equal([]);
    }
  });

  it('makes the Gateway ClusterIP and open to routes of every namespace, after the backends', () => {
    const [gateway] = of('Gateway') as unknown as {
      metadata: { annotations: Record<string, string> };
      spec: { gatewayClassName: string; listeners: unknown[] };
    }[];
    expect(gateway?.metadata.annotations).to.deep.equal({ 'networking.istio.io/service-type': 'ClusterIP' });
    expect(gateway?.spec).to.deep.equal({
      gatewayClassName: 'istio',
      listeners: [
        { name: 'http', port: 8000, protocol: 'HTTP', allowedRoutes: { namespaces: { from: 'All' } } },
      ],
    });
    const kinds = objects.map((o) => o.kind);
    expect(kinds.lastIndexOf('Service')).to.be.lessThan(kinds.indexOf('Gateway'));
  });

  it("puts each tenant's own route in its backend's namespace and each cross route in the attacker's, with no ReferenceGrant", () => {
    const routes = of('HTTPRoute').map((o) => {
      const spec = (
        o as unknown as { spec: { rules: { matches: unknown[]; backendRefs: Record<string, unknown>[] }[] } }
      ).spec;
      return {
        at: `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`,
        role: o.metadata?.labels?.['bulkhead.dev/gateway-route'],
        path: (spec.rules[0]?.matches[0] as { path: { value: string } }).path.value,
        to: spec.rules[0]?.backendRefs[0],
      };
    });
    expect(routes).to.deep.equal([
      {
        at: 'tenant-acme/public-acme.example.com',
        role: 'own',
        path: '/',
        to: { group: '', kind: 'Service', name: 'api', port: 8080, weight: 1 },
      },
      {
        at: 'tenant-globex/public-globex.example.com',
        role: 'own',
        path: '/',
        to: { group: '', kind: 'Service', name: 'web', port: 9000, weight: 1 },
      },
      {
        at: 'tenant-acme/public-acme.example.com-to-tenant-globex-web-9000',
        role: 'cross',
        path: '/bulkhead-cross/tenant-globex/web/',
        to: { group: '', kind: 'Service', name: 'web', namespace: 'tenant-globex', port: 9000, weight: 1 },
      },
      {
        at: 'tenant-globex/public-globex.example.com-to-tenant-acme-api-8080',
        role: 'cross',
        path: '/bulkhead-cross/tenant-acme/api/',
        to: { group: '', kind: 'Service', name: 'api', namespace: 'tenant-acme', port: 8080, weight: 1 },
      },
    ]);
    expect(of('ReferenceGrant')).to.deep.equal([]);
  });
});
