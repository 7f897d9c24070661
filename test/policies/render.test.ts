/**
 * The built-in bundles rendered for a two-tenant scenario, compared with committed snapshots
 * (test/policies/snapshots/*.yaml, readable in review). After an intended change, regenerate them
 * with `npm run test:update-snapshots` (sets BULKHEAD_UPDATE_SNAPSHOTS=1) and review the diff
 * (test/support/snapshot.ts).
 */
import { fileURLToPath } from 'node:url';

import { expect } from 'chai';

import { articleNameMap } from '../../harness/policies/article.js';
import { lintManifests } from '../../harness/lint/index.js';
import { validateManifest } from '../../harness/policies/schema-validate.js';
import { renderBuiltin, renderBuiltinText, renderPolicySources } from '../../harness/policies/render.js';
import { loadScenarioFile } from '../../harness/scenario/loader.js';
import type { Manifest, Scenario } from '../../harness/scenario/types.js';
import { load } from '../support/scenarios.js';
import { matchSnapshot } from '../support/snapshot.js';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const snapshot = (file: string) => new URL(`snapshots/${file}`, import.meta.url);

function ids(manifests: readonly Manifest[]): string[] {
  return manifests.map((m) => {
    const md = m.object.metadata as { name: string; namespace?: string };
    return `${String(m.object.kind)} ${md.namespace ? `${md.namespace}/` : ''}${md.name}`;
  });
}

describe('policies: rendering the built-in bundles', () => {
  let two: Scenario;
  before(async () => {
    two = await loadScenarioFile(here('fixtures/two-tenants.yaml'));
  });

  it('renders hard-isolation for two tenants as in the committed snapshot', async () => {
    await matchSnapshot(
      renderBuiltinText('hard-isolation', two),
      snapshot('hard-isolation.two-tenants.yaml'),
    );
  });

  it('renders each namespace for its data plane (ambient and sidecar) as in the committed snapshot', async () => {
    const mixed = await loadScenarioFile(here('fixtures/two-tenants-mixed.yaml'));
    await matchSnapshot(
      renderBuiltinText('hard-isolation', mixed),
      snapshot('hard-isolation.two-tenants-mixed.yaml'),
    );
    // The namespace still on sidecars gets exactly what the all-sidecar bundle gives it.
    const of = (s: Scenario, ns: string) =>
      renderBuiltin('hard-isolation', s)
        .filter((m) => (m.object.metadata as { namespace?: string }).namespace === ns)
        .map((m) => m.object);
    expect(of(mixed, 'tenant-globex')).to.deep.equal(of(two, 'tenant-globex'));
  });

  it('renders the article for two tenants as in the committed snapshot', async () => {
    await matchSnapshot(renderBuiltinText('article', two), snapshot('article.two-tenants.yaml'));
  });

  it('returns the builtin bundles first, each object located in its virtual file', () => {
    const all = renderPolicySources(two);
    const hard = renderBuiltin('hard-isolation', two);
    const article = renderBuiltin('article', two);
    expect(all).to.have.length(hard.length + article.length);
    expect(all.slice(0, hard.length).every((m) => m.file === 'builtin:hard-isolation')).to.equal(true);
    expect(all.slice(hard.length).every((m) => m.file === 'builtin:article')).to.equal(true);
    // Each manifest's line is the line its apiVersion is on in the rendered text.
    const lines = renderBuiltinText('hard-isolation', two).split('\n');
    for (const m of hard) expect(lines[m.line - 1], `${m.file}:${m.line}`).to.match(/^apiVersion: /);
    // Fields can be located inside an object.
    const gnp = hard.find((m) => m.object.kind === 'GlobalNetworkPolicy');
    const { line } = gnp!.source.locate(['spec', 'namespaceSelector']);
    expect(lines[line - 1]).to.equal("  namespaceSelector: tenant == 'acme'");
  });

  it('renders per tenant what each tenant needs, and per shared namespace its ingestion policies', () => {
    const names = ids(renderBuiltin('hard-isolation', two));
    for (const ns of ['tenant-acme', 'tenant-globex']) {
      for (const n of [
        'default-deny-all',
        'allow-dns',
        'allow-istiod',
        'allow-api-server',
        'allow-same-namespace',
        'allow-shared-services',
      ]) {
        expect(names).to.include(`NetworkPolicy ${ns}/${n}`);
      }
      expect(names).to.include.members([
        `PeerAuthentication ${ns}/default`,
        `AuthorizationPolicy ${ns}/deny-cross-tenant`,
        `AuthorizationPolicy ${ns}/api-gateway-policy`,
        `AuthorizationPolicy ${ns}/audit-transactions`,
      ]);
    }
    expect(names).to.include.members([
      'Tier tenant-isolation',
      'GlobalNetworkPolicy tenant-isolation.acme',
      'GlobalNetworkPolicy tenant-isolation.globex',
      'PeerAuthentication istio-system/default',
      'EnvoyFilter shared-services/tenant-identity-header',
      'AuthorizationPolicy shared-services/logging-ingestion-policy',
      'AuthorizationPolicy shared-services/deny-foreign-ingest',
      'AuthorizationPolicy shared-services/deny-shared-service-impersonation',
      'NetworkPolicy shared-services/allow-from-tenants',
    ]);
  });

  it('annotates every hard-isolation object with the article claim it implements', () => {
    for (const m of renderBuiltin('hard-isolation', two)) {
      const annotations = (m.object.metadata as { annotations?: Record<string, string> }).annotations ?? {};
      expect(annotations['bulkhead.dev/implements'], ids([m])[0])
        .to.be.a('string')
        .and.not.equal('');
    }
  });

  it('follows the scenario: no istiod egress without injection, API server option, other trust domain', async () => {
    const s = await load(`apiVersion: bulkhead.dev/v1alpha1
kind: Scenario
metadata: { name: plain }
spec:
  meshRootNamespace: mesh-root
  trustDomain: example.org
  tenants:
    - name: a
      injection: false
      workloads: [{ name: api-gateway, serviceAccount: gw, ports: [80] }, { name: frontend-service, serviceAccount: fe, ports: [80] }]
  policies: [{ builtin: hard-isolation }]
`);
    const manifests = renderPolicySources(s, { apiServer: { cidrs: ['10.1.2.3/32'], port: 16443 } });
    const names = ids(manifests);
    expect(names).to.not.include('NetworkPolicy tenant-a/allow-istiod');
    expect(names).to.include('PeerAuthentication mesh-root/default');
    const api = manifests.find((m) => ids([m])[0] === 'NetworkPolicy tenant-a/allow-api-server');
    expect(JSON.stringify(api?.object)).to.contain('"cidr":"10.1.2.3/32"').and.contain('"port":16443');
    const gateway = manifests.find((m) => ids([m])[0] === 'AuthorizationPolicy tenant-a/api-gateway-policy');
    expect(JSON.stringify(gateway?.object)).to.contain('"principals":["example.org/ns/tenant-a/sa/fe"]');
    // Only the frontend exists: one rule, no admin rule.
    expect((gateway?.object.spec as { rules: unknown[] }).rules).to.have.length(1);
  });

  it('renders a valid, lint-clean bundle for a scenario without tenants', async () => {
    const s = await load(`apiVersion: bulkhead.dev/v1alpha1
kind: Scenario
metadata: { name: none }
spec:
  namespaces: [{ name: shared, injection: true }]
  workloads: [{ name: log-collector, namespace: shared, ports: [8080] }]
  policies: [{ builtin: hard-isolation }]
`);
    const manifests = renderPolicySources(s);
    expect(ids(manifests)).to.not.include('Tier tenant-isolation');
    expect(ids(manifests)).to.not.include('AuthorizationPolicy shared/deny-foreign-ingest');
    expect(
      lintManifests(manifests, { scenario: s }).filter((f) => f.file === 'builtin:hard-isolation'),
    ).to.deep.equal([]);
  });

  const VARIANTS: Record<string, string> = {
    'no injection anywhere': `
  tenants: [{ name: a, injection: false, workloads: [{ name: web, ports: [80] }] }, { name: b, injection: false }]
  namespaces: [{ name: shared, injection: false }]
  workloads: [{ name: log-collector, namespace: shared, ports: [8080] }]`,
    'custom labels, another root and trust domain, UDP ports': `
  meshRootNamespace: mesh-root
  trustDomain: example.org
  tenants:
    - name: a
      labels: { team: x }
      workloads:
        - { name: api-gateway, labels: { app: gw, tier: edge }, serviceAccount: gw, ports: [{ port: 443, name: https }] }
        - { name: admin-service, serviceAccount: admin, ports: [{ port: 53, protocol: UDP }, 8443] }
  namespaces: [{ name: logging, injection: true }, { name: metrics, injection: true }]
  workloads:
    - { name: log-collector, namespace: logging, ports: [8080, { port: 5140, protocol: UDP }] }
    - { name: prometheus, namespace: metrics, ports: [9090] }`,
    'one tenant, no shared namespace': `
  tenants: [{ name: solo }]`,
  };

  for (const [name, body] of Object.entries(VARIANTS)) {
    it(`renders schema-valid, lint-clean objects: ${name}`, async () => {
      const s = await load(`apiVersion: bulkhead.dev/v1alpha1
kind: Scenario
metadata: { name: variant }
spec:${body}
  policies: [{ builtin: hard-isolation }]
`);
      const manifests = renderPolicySources(s);
      for (const m of manifests) expect(validateManifest(m).status, ids([m])[0]).to.equal('valid');
      const onBundle = lintManifests(manifests, { scenario: s }).filter(
        (f) => f.file === 'builtin:hard-isolation',
      );
      expect(onBundle.map((f) => `${f.rule} ${f.line}: ${f.message}`)).to.deep.equal([]);
    });
  }

  it('maps the article names onto the scenario, leaving names without a counterpart as written', () => {
    const map = articleNameMap(two);
    expect(map.get('tenant-alpha')).to.equal('tenant-acme');
    expect(map.get('beta')).to.equal('globex');
    expect(map.get('platform-logging')).to.equal('shared-services');
    expect(map.has('tenant-initech')).to.equal(false);
    const text = renderBuiltinText('article', two);
    expect(text).to.contain("tenant in {'acme', 'globex', 'initech'}");
    expect(text).to.contain('notSelector: tenant == "${tenant}"');
    const objects = JSON.stringify(renderBuiltin('article', two).map((m) => m.object));
    expect(objects).not.to.contain('tenant-alpha');
    expect(objects).not.to.contain('platform-logging');
    expect(objects).to.contain('"values":["acme"]');
  });

  it('substitutes in one pass, so swapped names do not collide', async () => {
    const s = await load(`apiVersion: bulkhead.dev/v1alpha1
kind: Scenario
metadata: { name: swapped }
spec:
  tenants: [{ name: globex }, { name: acme }]
  policies: [{ builtin: article }]
`);
    const objects = renderPolicySources(s).map((m) => m.object);
    const namespaces = objects.map((o) => (o.metadata as { namespace?: string }).namespace);
    // The article's tenant-acme objects land in the first tenant (globex) and vice versa.
    expect(namespaces.slice(0, 3)).to.deep.equal(['tenant-globex', 'tenant-globex', 'tenant-globex']);
    expect(JSON.stringify(objects[3])).to.contain("tenant in {'globex', 'acme', 'initech'}");
  });

  it('passes file and inline manifests through after the builtins', async () => {
    const s = await load(`apiVersion: bulkhead.dev/v1alpha1
kind: Scenario
metadata: { name: mixed }
spec:
  tenants: [{ name: a }]
  policies:
    - inline: |
        apiVersion: v1
        kind: ConfigMap
        metadata: { name: first, namespace: tenant-a }
    - builtin: hard-isolation
`);
    const all = renderPolicySources(s);
    expect(all[0]?.file).to.equal('builtin:hard-isolation');
    expect(all.at(-1)?.object.kind).to.equal('ConfigMap');
    // Line 8 of the scenario: the inline block's first line.
    expect(all.at(-1)?.line).to.equal(8);
  });
});
