/**
 * What bulkhead applies reaches the API server as written: the real Calico operator manifests
 * (v3.31.2, byte-exact, test/fixtures/calico-operator/) and every object a run renders for the
 * shipped scenario go through KubeClient into the fake API server; the bodies it received must
 * equal the objects sent, and what it stored must read back without drift.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import type { KubernetesObject } from '@kubernetes/client-node';
// Not re-exported by the package index: the very functions KubernetesObjectApi calls.
import { ObjectSerializer } from '@kubernetes/client-node/dist/serializer.js';
import { getSerializationType } from '@kubernetes/client-node/dist/util.js';
import { expect } from 'chai';

import { parseManifests } from '../../harness/cluster/calico.js';
import { KubeClient } from '../../harness/kube/client.js';
import { driftOf } from '../../harness/kube/drift.js';
import { KubeApiError } from '../../harness/kube/errors.js';
import { refOf } from '../../harness/kube/objects.js';
import { renderPolicySources } from '../../harness/policies/render.js';
import { renderFixtures } from '../../harness/run/fixtures.js';
import { compareStored } from '../../harness/run/footing.js';
import { loadScenarioFile } from '../../harness/scenario/loader.js';
import { FakeApiServer } from '../support/fake-apiserver/server.js';
import { repoRoot } from '../support/scenarios.js';

const CALICO = path.join(repoRoot, 'test/fixtures/calico-operator');
const SHIPPED_SCHEMAS = path.join(repoRoot, 'harness/policies/schemas/calico');
const SHA256 = {
  'operator-crds-v3.31.2.yaml': 'a16bf72fd7bb8e69afd2bdb2fd3f75b64ffd111dcaafd41d720a45a1089c48e9',
  'tigera-operator-v3.31.2.yaml': 'c0b05a7f074adb266695e4b7e1fe712e2dbccd26f26e3b84e81c4e895d9879bb',
} as const;

async function manifests(name: keyof typeof SHA256): Promise<KubernetesObject[]> {
  const text = await readFile(path.join(CALICO, name), 'utf8');
  expect(
    createHash('sha256').update(text).digest('hex'),
    `${name} is not the byte-exact release file`,
  ).to.equal(SHA256[name]);
  return parseManifests(text, name);
}

/**
 * Stand-ins for the kinds the policies use that neither Kubernetes nor the Calico operator
 * defines: Calico's projectcalico.org/v3 kinds from the CRD schemas bulkhead ships (so the fake
 * prunes and refuses by Calico's real schema), Istio's kinds with an open spec.
 */
async function policyKinds(): Promise<KubernetesObject[]> {
  const calico = await Promise.all(
    ['tiers', 'globalnetworkpolicies', 'networkpolicies', 'globalnetworksets'].map(async (plural) =>
      parseManifests(
        await readFile(path.join(SHIPPED_SCHEMAS, `projectcalico.org_${plural}.yaml`), 'utf8'),
        plural,
      ),
    ),
  );
  const istio = [
    ['security.istio.io', 'v1', 'AuthorizationPolicy', 'authorizationpolicies'],
    ['security.istio.io', 'v1', 'PeerAuthentication', 'peerauthentications'],
    ['networking.istio.io', 'v1alpha3', 'EnvoyFilter', 'envoyfilters'],
  ].map(([group, version, kind, plural]) => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${group}` },
    spec: {
      group,
      scope: 'Namespaced',
      names: { kind, plural, singular: kind?.toLowerCase(), listKind: `${kind}List` },
      versions: [
        {
          name: version,
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: { spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
            },
          },
        },
      ],
    },
  }));
  return [...calico.flat(), ...istio] as KubernetesObject[];
}

/** The objects a run renders for the shipped scenario: fixtures, then the built-in policies. */
async function shippedRunObjects(): Promise<KubernetesObject[]> {
  const scenario = await loadScenarioFile(path.join(repoRoot, 'scenarios/hard-isolation.yaml'));
  const fixtures = renderFixtures({ scenario, runId: 'r1', agentBundle: '// agent' });
  const policies = renderPolicySources(scenario).map((m) => m.object as unknown as KubernetesObject);
  return [...fixtures, ...policies];
}

/**
 * What client-node 2's KubernetesObjectApi.patch would have sent for an object: its typed
 * serialization (`dist/object.js` patch → `ObjectSerializer.serialize(spec, getSerializationType(...))`).
 */
function typedSerialization(object: KubernetesObject): unknown {
  const type = getSerializationType(object.apiVersion, object.kind);
  return JSON.parse(JSON.stringify(ObjectSerializer.serialize(object, type))) as unknown;
}

describe('kube: apply fidelity (real Calico manifests and every rendered object, through the wire)', function () {
  this.timeout(60_000);
  let server: FakeApiServer;
  let client: KubeClient;

  beforeEach(async () => {
    server = await new FakeApiServer().start();
    client = new KubeClient({ kubeConfig: server.kubeConfig() });
  });
  afterEach(async () => {
    await server.stop();
  });

  /** Applies each object and returns, per object, the body the server received for it. */
  async function applyAndCapture(objects: readonly KubernetesObject[]): Promise<unknown[]> {
    const bodies: unknown[] = [];
    for (const object of objects) {
      const before = server.requests.length;
      await client.apply(object);
      const sent = server.requests
        .slice(before)
        .filter((r) => r.method === 'PATCH' && r.contentType === 'application/apply-patch+yaml');
      expect(sent, `one apply request for ${object.kind} ${object.metadata?.name}`).to.have.length(1);
      bodies.push(JSON.parse(sent[0]?.body ?? 'null'));
    }
    return bodies;
  }

  it('sends the Calico v3.31.2 operator manifests byte for byte, and they read back unchanged', async () => {
    const objects = [
      ...(await manifests('operator-crds-v3.31.2.yaml')),
      ...(await manifests('tigera-operator-v3.31.2.yaml')),
    ];
    expect(objects).to.have.length(39);
    const bodies = await applyAndCapture(objects);
    objects.forEach((object, i) => {
      expect(bodies[i], `${object.kind} ${object.metadata?.name}`).to.deep.equal(object);
    });
    for (const object of objects) {
      const stored = await client.read(refOf(object));
      expect(driftOf(object, stored), `${object.kind} ${object.metadata?.name}`).to.deep.equal([]);
    }
    // The field whose loss made the goldmanes CRD non-structural is there as sent.
    const goldmane = server.get(
      'apiextensions.k8s.io/v1',
      'CustomResourceDefinition',
      undefined,
      'goldmanes.operator.tigera.io',
    );
    expect(JSON.stringify(goldmane)).to.contain('"x-kubernetes-int-or-string":true');
  });

  it('sends every fixture and policy of the shipped scenario as rendered, NetworkPolicy from included', async () => {
    // The mesh root namespace exists on a cluster with Istio; the run creates the others.
    server.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-system' } });
    await applyAndCapture(await policyKinds());
    const objects = await shippedRunObjects();
    expect(objects.length).to.be.greaterThan(90);
    const bodies = await applyAndCapture(objects);
    objects.forEach((object, i) => {
      expect(
        bodies[i],
        `${object.kind} ${object.metadata?.namespace ?? ''}/${object.metadata?.name}`,
      ).to.deep.equal(object);
    });
    // Pods come back with what admission adds (the fake injects sidecars and token volumes);
    // the run's own read-back comparison must accept exactly that and nothing else.
    const stored = await Promise.all(objects.map((o) => client.read(refOf(o))));
    expect(compareStored(objects, stored)).to.deep.equal([]);
    expect(JSON.stringify(stored.find((o) => o?.kind === 'Pod'))).to.contain('istio-proxy');
    const sameNamespace = server.get(
      'networking.k8s.io/v1',
      'NetworkPolicy',
      'tenant-acme',
      'allow-same-namespace',
    ) as unknown as {
      spec: { ingress: { from?: unknown[] }[] };
    };
    expect(sameNamespace.spec.ingress[0]?.from, 'allow-same-namespace keeps its sources').to.have.length(1);
  });

  it('covers objects that client-node’s typed serializer would have changed (the test is not vacuous)', async () => {
    const objects = [
      ...(await manifests('operator-crds-v3.31.2.yaml')),
      ...(await manifests('tigera-operator-v3.31.2.yaml')),
      ...(await shippedRunObjects()),
    ];
    const changed = objects.filter((o) => JSON.stringify(typedSerialization(o)) !== JSON.stringify(o));
    const names = changed.map((o) => `${o.kind}/${o.metadata?.name}`);
    expect(names).to.include('CustomResourceDefinition/goldmanes.operator.tigera.io');
    expect(names).to.include('NetworkPolicy/allow-same-namespace');
    expect(names).to.include('NetworkPolicy/allow-from-tenants');
  });

  it('the fake refuses a CRD that is not structural, as a real API server does (422)', async () => {
    const crds = await manifests('operator-crds-v3.31.2.yaml');
    const goldmane = crds.find((o) => o.metadata?.name === 'goldmanes.operator.tigera.io');
    const mangled = typedSerialization(goldmane as KubernetesObject) as KubernetesObject;
    const error = await client.apply(mangled).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(KubeApiError);
    expect((error as KubeApiError).code).to.equal(422);
    expect((error as KubeApiError).message).to.match(
      /goldmanes\.operator\.tigera\.io" is invalid: .*maxSurge\]\.type: Required value: must not be empty for specified object fields/,
    );
    expect(
      server.get(
        'apiextensions.k8s.io/v1',
        'CustomResourceDefinition',
        undefined,
        'goldmanes.operator.tigera.io',
      ),
    ).to.equal(undefined);
  });

  it('the fake refuses an apply of a custom resource with a field its schema does not declare', async () => {
    await applyAndCapture(await policyKinds());
    const error = await client
      .apply({
        apiVersion: 'projectcalico.org/v3',
        kind: 'Tier',
        metadata: { name: 'typo' },
        spec: { order: 100, ordr: 5 },
      } as KubernetesObject)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect((error as KubeApiError).message).to.contain('.spec.ordr: field not declared in schema');
    expect(server.get('projectcalico.org/v3', 'Tier', undefined, 'typo')).to.equal(undefined);
  });
});
