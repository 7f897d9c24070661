/**
 * builtin:hard-isolation with a declared ingress gateway (harness/policies/hard-isolation-gateways.ts):
 * the shipped scenario plus a gateway in a shared namespace routing each tenant's host to one of
 * its own workloads, and the `gateway` generator. Every expectation holds in the model: the
 * controls pass all three hops (harness/model/gateway.ts), the cross routes are refused by the
 * gateway's routing (no ReferenceGrant: gateway-api v1.5.1 `apis/v1/referencegrant_types.go`,
 * istio@1.30.3 `gatewaycommon/references.go:236-254`). A ReferenceGrant that trusts another
 * tenant's routes is what would let them through, which lint reports.
 */
import { readFile } from 'node:fs/promises';

import { expect } from 'chai';

import { lintManifests } from '../../harness/lint/index.js';
import { Ablator } from '../../harness/model/ablation.js';
import { PolicyModel, type ModelInput } from '../../harness/model/evaluate.js';
import { planAttempts } from '../../harness/model/plan.js';
import type { RenderOptions } from '../../harness/policies/options.js';
import { toManifests } from '../../harness/policies/documents.js';
import { renderPolicySources } from '../../harness/policies/render.js';
import { validateManifest } from '../../harness/policies/schema-validate.js';
import { satisfies } from '../../harness/scenario/outcomes.js';
import type { Manifest, Scenario } from '../../harness/scenario/types.js';
import { load, repoRoot } from '../support/scenarios.js';

/** The shipped scenario with an ingress gateway and its generator (the api-gateway route needs its ALLOW to admit the gateway). */
async function gatewayScenario(): Promise<Scenario> {
  const shipped = await readFile(`${repoRoot}scenarios/hard-isolation.yaml`, 'utf8');
  const text = shipped
    .replace('  namespaces:\n', '  namespaces:\n    - name: ingress\n')
    .replace(
      '  policies:\n',
      `  gateways:
    - name: public
      namespace: ingress
      routes:
        - { hostname: acme.example.com, backend: tenant-acme/frontend-service }
        - { hostname: globex.example.com, backend: tenant-globex/frontend-service }
        - { hostname: initech.example.com, backend: tenant-initech/api-gateway }
  policies:
`,
    )
    .replace('  generators:\n', '  generators:\n    - kind: gateway\n');
  return load(text, `${repoRoot}scenarios/hard-isolation-gateway.yaml`);
}

function inputOf(s: Scenario, manifests: readonly Manifest[]): ModelInput {
  return { ...s, manifests, attempts: s.attempts, gateways: s.gateways ?? [] };
}

const gatewayAttempts = (s: Scenario) => s.attempts.filter((a) => a.category === 'gateway');

describe('policies: builtin:hard-isolation with an ingress gateway', () => {
  let scenario: Scenario;
  before(async () => {
    scenario = await gatewayScenario();
  });

  for (const clusterPolicy of ['calico', 'cnp'] as const) {
    it(`plans every attempt with no disagreement and nothing unknown (clusterPolicy ${clusterPolicy})`, () => {
      const options: RenderOptions = { clusterPolicy };
      const manifests = renderPolicySources(scenario, options);
      for (const m of manifests)
        expect(validateManifest(m).status, String(m.object.kind)).to.not.equal('invalid');
      const planned = planAttempts(inputOf(scenario, manifests), scenario.attempts);
      expect(planned.filter((p) => p.agrees !== true).map((p) => p.attempt.id)).to.deep.equal([]);
      const gateway = planned.filter((p) => p.attempt.category === 'gateway');
      expect(gateway).to.have.length(9);
      for (const p of gateway) {
        const control = !p.attempt.id.includes('/to/');
        expect(p.predicted, p.attempt.id).to.include(
          control ? { outcome: 'allowed', layer: 'none' } : { outcome: 'denied-l7', layer: 'routing' },
        );
      }
      // The api-gateway's least-privilege ALLOW names the gateway's identity for initech's route.
      const initech = planned.find(
        (p) => p.attempt.id === 'gateway:tenant-initech/probe-nosidecar->ingress/public:initech.example.com',
      );
      expect(initech?.predicted.reasons.join('\n')).to.include('ALLOW tenant-initech/api-gateway-policy');
    });
  }

  it("would not let the controls through without the gateway's allowance: its proxy gets no istiod", async () => {
    const without = await load(
      (await readFile(`${repoRoot}scenarios/hard-isolation.yaml`, 'utf8')).replace(
        '  namespaces:\n',
        '  namespaces:\n    - name: ingress\n',
      ),
    );
    const model = new PolicyModel(inputOf(scenario, renderPolicySources(without)));
    for (const a of gatewayAttempts(scenario).filter((x) => !x.id.includes('/to/'))) {
      const p = model.predict(a);
      expect(p.outcome, a.id).to.not.equal('allowed');
      expect(p.reasons.join('\n')).to.include('the proxy of ingress/public-istio cannot reach istiod');
    }
  });

  it('lets the gateway reach only its routed backends: the api-gateways of acme and globex stay out of its reach', () => {
    const manifests = renderPolicySources(scenario);
    const egress = manifests.find(
      (m) => (m.object.metadata as { name?: string }).name === 'allow-public-to-backends',
    );
    const to = JSON.stringify(egress?.object.spec);
    expect(to).to.include('tenant-initech').and.to.include('frontend-service');
    const fromGateway = manifests
      .filter((m) =>
        String((m.object.metadata as { name?: string }).name).startsWith('allow-ingress-gateways-to-'),
      )
      .map(
        (m) =>
          `${String((m.object.metadata as { namespace?: string }).namespace)}/${String((m.object.metadata as { name?: string }).name)}`,
      );
    expect(fromGateway.sort()).to.deep.equal([
      'tenant-acme/allow-ingress-gateways-to-frontend-service',
      'tenant-globex/allow-ingress-gateways-to-frontend-service',
      'tenant-initech/allow-ingress-gateways-to-api-gateway',
    ]);
  });

  it("reports nothing at error level in lint, and the gateway's policies select its pod", () => {
    const findings = lintManifests(renderPolicySources(scenario), { scenario });
    expect(findings.filter((f) => f.severity === 'error')).to.deep.equal([]);
    // The gateway's pod is no workload of the scenario, but its NetworkPolicies select it.
    expect(findings.filter((f) => f.rule === 'scenario/selects-nothing')).to.deep.equal([]);
  });

  it('holds a cross route only by the missing grant: with a cross-tenant ReferenceGrant it is allowed, and lint says so', () => {
    const [grant] = toManifests(
      `apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: { name: trust-acme, namespace: tenant-globex }
spec:
  from: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: tenant-acme }]
  to: [{ group: '', kind: Service }]
`,
      'grant.yaml',
    );
    if (!grant) throw new Error('no grant');
    const manifests = [...renderPolicySources(scenario), grant];
    const cross = gatewayAttempts(scenario).find(
      (a) =>
        a.id ===
        'gateway:tenant-acme/probe-nosidecar->ingress/public:acme.example.com/to/tenant-globex/frontend-service:8080',
    );
    if (!cross) throw new Error('no cross attempt');
    const p = new PolicyModel(inputOf(scenario, manifests)).predict(cross);
    expect(p.outcome).to.equal('allowed');
    expect(satisfies(cross.expect, 'allowed')).to.equal(false);
    expect(lintManifests(manifests, { scenario }).map((f) => f.rule)).to.include(
      'gateway/cross-tenant-reference-grant',
    );
    // Ablation weighs the policy layers; the routing check is no layer of them.
    const held = new Ablator(inputOf(scenario, renderPolicySources(scenario))).ablate(cross);
    expect(held.failsWithout).to.deep.equal([]);
  });
});
