/**
 * Schema validation against the real schemas: kubernetes-models, @kubernetes-models/istio and
 * Calico's CRDs (the shared copy in ../shared/schemas/calico/ and the one shipped in the package).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { expect } from 'chai';
import { parse } from 'yaml';

import { formatProblem } from '../../harness/errors.js';
import { CALICO_CRDS } from '../../harness/policies/calico-schema.js';
import { toManifests } from '../../harness/policies/documents.js';
import { renderBuiltin } from '../../harness/policies/render.js';
import { schemaFor, validateManifest } from '../../harness/policies/schema-validate.js';
import { loadScenarioFile } from '../../harness/scenario/loader.js';
import type { Scenario } from '../../harness/scenario/types.js';
import { repoRoot } from '../support/scenarios.js';

const SHARED_SCHEMAS = new URL('../../../shared/schemas/calico/', import.meta.url);
const PACKAGED_SCHEMAS = new URL('../../harness/policies/schemas/calico/', import.meta.url);

function only(text: string) {
  const [m] = toManifests(text, 'test.yaml');
  if (!m) throw new Error('no manifest');
  return m;
}

describe('policies: schema validation', () => {
  let scenario: Scenario;
  before(async () => {
    scenario = await loadScenarioFile(`${repoRoot}scenarios/hard-isolation.yaml`);
  });

  it('validates every hard-isolation object against a real schema', () => {
    const manifests = renderBuiltin('hard-isolation', scenario);
    expect(manifests.length).to.be.greaterThan(40);
    for (const m of manifests) {
      const result = validateManifest(m);
      const detail =
        result.status === 'invalid' ? result.problems.map(formatProblem).join('\n') : result.status;
      expect(result.status, `${m.file}:${m.line} ${String(m.object.kind)}: ${detail}`).to.equal('valid');
    }
  });

  it('knows a schema for every kind the bundles use', () => {
    const kinds = new Set(
      [...renderBuiltin('hard-isolation', scenario), ...renderBuiltin('article', scenario)].map(
        (m) => `${String(m.object.apiVersion)} ${String(m.object.kind)}`,
      ),
    );
    for (const k of kinds) {
      const [apiVersion = '', kind = ''] = k.split(' ');
      expect(schemaFor(apiVersion, kind), k).to.not.equal(undefined);
    }
    expect(kinds).to.include('crd.projectcalico.org/v1 GlobalNetworkPolicy');
  });

  it('names the object, field and file:line of a Calico violation', () => {
    const m = only(`apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: bad
spec:
  selector: all()
  ingress:
    - action: Drop
  egres: []
`);
    const result = validateManifest(m);
    expect(result.status).to.equal('invalid');
    const problems = result.status === 'invalid' ? result.problems.map(formatProblem) : [];
    expect(problems).to.include(
      'test.yaml:8:15: spec.ingress[0].action: GlobalNetworkPolicy bad: must be one of "Allow", "Deny", "Log", "Pass"',
    );
    expect(problems).to.include("test.yaml:9:3: spec.egres: GlobalNetworkPolicy bad: unknown field 'egres'");
  });

  it('validates Istio kinds with @kubernetes-models/istio', () => {
    const m = only(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: p, namespace: a }
spec:
  action: REJECT
  rules:
    - from:
        - source:
            notNamespaces: tenant-a
`);
    const result = validateManifest(m);
    const problems = result.status === 'invalid' ? result.problems.map(formatProblem) : [];
    expect(problems).to.have.length(2);
    expect(problems[0]).to.match(
      /^test\.yaml:5:11: spec\.action: AuthorizationPolicy a\/p: must be one of "ALLOW"/,
    );
    expect(problems[1]).to.equal(
      'test.yaml:9:28: spec.rules[0].from[0].source.notNamespaces: AuthorizationPolicy a/p: must be array',
    );
  });

  it('validates Kubernetes kinds with kubernetes-models', () => {
    const m = only(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: np, namespace: a }
spec:
  podSelector: {}
  policyTypes: [Ingress, Egres]
`);
    const result = validateManifest(m);
    const problems = result.status === 'invalid' ? result.problems.map(formatProblem) : [];
    expect(problems).to.deep.equal([
      'test.yaml:6:26: spec.policyTypes[1]: NetworkPolicy a/np: must be one of "Egress", "Ingress"',
    ]);
  });

  it('requires metadata.name and reports kinds it has no schema for', () => {
    const nameless = validateManifest(only('apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n'));
    expect(nameless.status).to.equal('invalid');
    expect(
      validateManifest(only('apiVersion: example.com/v1\nkind: Widget\nmetadata: { name: w }\n')).status,
    ).to.equal('unknown-kind');
  });

  it('ships Calico CRD schemas identical to the shared copy, byte for byte', () => {
    for (const file of [...Object.values(CALICO_CRDS)]) {
      const shipped = readFileSync(new URL(file, PACKAGED_SCHEMAS), 'utf8');
      const shared = readFileSync(new URL(file, SHARED_SCHEMAS), 'utf8');
      expect(shipped === shared, `${file} differs from ../shared/schemas/calico/${file}`).to.equal(true);
      expect(parse(shipped), file).to.deep.equal(parse(shared));
    }
    expect(readFileSync(new URL('SOURCE.md', PACKAGED_SCHEMAS), 'utf8')).to.equal(
      readFileSync(new URL('SOURCE.md', SHARED_SCHEMAS), 'utf8'),
    );
    expect(fileURLToPath(SHARED_SCHEMAS)).to.match(/shared\/schemas\/calico\/$/);
  });
});

describe('policies: unknown fields in policy kinds', () => {
  it('reports a misspelt field of an AuthorizationPolicy with a suggestion, at its key', () => {
    const m = toManifests(
      `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: p, namespace: a }
spec:
  action: DENY
  rules:
    - from:
        - source:
            notNamespace: [a]
`,
      'test.yaml',
    )[0]!;
    const result = validateManifest(m);
    const problems = result.status === 'invalid' ? result.problems.map(formatProblem) : [];
    expect(problems).to.deep.equal([
      "test.yaml:9:13: spec.rules[0].from[0].source.notNamespace: AuthorizationPolicy a/p: unknown field 'notNamespace' (did you mean 'notNamespaces'?); kubectl apply rejects it",
    ]);
  });

  it('reports unknown fields of a NetworkPolicy and accepts every documented one', () => {
    const bad = toManifests(
      'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: n, namespace: a }\nspec:\n  podSelector: {}\n  egress: [{ to: [{ ipblock: { cidr: 1.2.3.4/32 } }] }]\n',
      'test.yaml',
    )[0]!;
    expect(validateManifest(bad).status).to.equal('invalid');
    const good = toManifests(
      `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: n, namespace: a }
spec:
  podSelector: { matchExpressions: [{ key: a, operator: In, values: [b] }] }
  policyTypes: [Ingress, Egress]
  ingress: [{ from: [{ namespaceSelector: { matchLabels: { a: b } }, podSelector: {} }], ports: [{ protocol: TCP, port: 80, endPort: 90 }] }]
  egress: [{ to: [{ ipBlock: { cidr: 10.0.0.0/8, except: [10.1.0.0/16] } }] }]
`,
      'test.yaml',
    )[0]!;
    expect(validateManifest(good).status).to.equal('valid');
  });
});
