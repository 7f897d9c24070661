/**
 * Which namespaces lint takes for tenants without a scenario (harness/lint/context.ts): the
 * options, Capsule's and HNC's labels, the `tenant` label and the `tenant-` prefix, in that
 * precedence, and that every tenant-scoped rule follows whichever found them. Then
 * peerauth/weakens-mesh-strict, which needs no tenant at all.
 */
import { expect } from 'chai';

import { UserError } from '../../harness/errors.js';
import { LintContext, lintManifests, type LintOptions } from '../../harness/lint/index.js';
import { toManifests } from '../../harness/policies/documents.js';
import { load } from '../support/scenarios.js';

const docs = (...d: string[]) => d.join('---\n');

function namespace(name: string, labels: Record<string, string> = {}): string {
  const entries = Object.entries(labels).map(([k, v]) => `'${k}': '${v}'`);
  return `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${name}, labels: { ${entries.join(', ')} } }\n`;
}

const PA = (ns: string, spec: string, name = 'default') =>
  `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: ${name}, namespace: ${ns} }\nspec:\n${spec}`;
const MESH_STRICT = PA('istio-system', '  mtls: { mode: STRICT }\n');

/**
 * One namespace with a problem for every tenant-scoped rule, none of them a problem outside a
 * tenant: no default deny, no cross-tenant DENY, a PERMISSIVE workload, a pod without a sidecar
 * that mounts its token.
 */
function tenantProblems(ns: string, labels: Record<string, string>): string {
  return docs(
    namespace(ns, { 'istio-injection': 'enabled', ...labels }),
    `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: api, namespace: ${ns} }
spec:
  selector: { matchLabels: { app: api } }
  rules: [{ from: [{ source: { namespaces: [${ns}] } }] }]
`,
    PA(ns, '  selector: { matchLabels: { app: api } }\n  mtls: { mode: PERMISSIVE }\n', 'api'),
    `apiVersion: apps/v1
kind: Deployment
metadata: { name: api, namespace: ${ns} }
spec:
  selector: { matchLabels: { app: api } }
  template:
    metadata: { labels: { app: api }, annotations: { sidecar.istio.io/inject: "false" } }
    spec: { containers: [{ name: c, image: i }] }
`,
  );
}

const TENANT_SCOPED = [
  'netpol/tenant-without-default-deny',
  'authz/tenant-without-cross-tenant-deny',
  'peerauth/weak-mode',
  'workload/sidecar-free',
  'workload/automount-token',
];

function lint(text: string, options: LintOptions = {}) {
  return lintManifests(toManifests(text, 'test.yaml'), options);
}

function context(text: string, options: LintOptions = {}): LintContext {
  return new LintContext(toManifests(text, 'test.yaml'), options);
}

function tenantScoped(text: string, options: LintOptions = {}): string[] {
  return [...new Set(lint(text, options).map((f) => f.rule))].filter((r) => TENANT_SCOPED.includes(r)).sort();
}

describe('lint: tenants without a scenario', () => {
  const ways: [string, string, Record<string, string>, LintOptions][] = [
    ['--tenant-label', 'team-a', { team: 'a' }, { tenantLabels: ['team'] }],
    ['--tenant-label, the second key given', 'team-a', { org: 'a' }, { tenantLabels: ['team', 'org'] }],
    ['--tenant-namespaces', 'team-a', {}, { tenantNamespaces: ['team-a'] }],
    ["Capsule's label", 'team-a', { 'capsule.clastix.io/tenant': 'a' }, {}],
    [
      "HNC's tree labels (a subnamespace)",
      'team-a',
      { 'team-a.tree.hnc.x-k8s.io/depth': '0', 'org.tree.hnc.x-k8s.io/depth': '1' },
      {},
    ],
    ['the tenant label', 'team-a', { tenant: 'a' }, {}],
    ['the tenant- prefix', 'tenant-a', {}, {}],
  ];
  for (const [way, ns, labels, options] of ways) {
    it(`runs every tenant-scoped rule on the tenants found by ${way}`, () => {
      expect(tenantScoped(tenantProblems(ns, labels), options)).to.deep.equal([...TENANT_SCOPED].sort());
    });
  }

  it('runs none of them on a namespace nothing marks as a tenant', () => {
    expect(tenantScoped(tenantProblems('team-a', { team: 'a' }))).to.deep.equal([]);
    // HNC marks every namespace it manages, not only tenants': a lone root is none.
    const lone = { 'team-a.tree.hnc.x-k8s.io/depth': '0', 'hnc.x-k8s.io/included-namespace': 'true' };
    expect(tenantScoped(tenantProblems('team-a', lone))).to.deep.equal([]);
    // A key that is only a property of every object is no label of the namespace.
    expect(tenantScoped(tenantProblems('team-a', {}), { tenantLabels: ['constructor'] })).to.deep.equal([]);
  });

  it('names tenants from the framework labels: Capsule by value, HNC by the root of the tree', () => {
    const ctx = context(
      docs(
        namespace('solar-dev', { 'capsule.clastix.io/tenant': 'solar' }),
        namespace('acme', { 'acme.tree.hnc.x-k8s.io/depth': '0' }),
        namespace('acme-web', {
          'acme-web.tree.hnc.x-k8s.io/depth': '0',
          'acme.tree.hnc.x-k8s.io/depth': '1',
        }),
        namespace('acme-web-ci', {
          'acme-web-ci.tree.hnc.x-k8s.io/depth': '0',
          'acme-web.tree.hnc.x-k8s.io/depth': '1',
          'acme.tree.hnc.x-k8s.io/depth': '2',
        }),
        namespace('shared', {
          'shared.tree.hnc.x-k8s.io/depth': '0',
          'hnc.x-k8s.io/included-namespace': 'true',
        }),
      ),
    );
    expect(ctx.tenancy('solar-dev')).to.deep.equal({ tenant: 'solar', source: 'capsule' });
    for (const ns of ['acme', 'acme-web', 'acme-web-ci']) {
      expect(ctx.tenancy(ns), ns).to.deep.equal({ tenant: 'acme', source: 'hnc' });
    }
    expect(ctx.isTenant('shared')).to.equal(false);
    expect(ctx.namespacesOfTenant('acme')).to.deep.equal(['acme', 'acme-web', 'acme-web-ci']);
  });

  it('takes framework labels over the tenant label, and the tenant label over the prefix', () => {
    const ctx = context(
      docs(
        namespace('tenant-x', { 'capsule.clastix.io/tenant': 'solar', tenant: 'x' }),
        namespace('tenant-y', { 'y.tree.hnc.x-k8s.io/depth': '1', tenant: 'why' }),
        namespace('tenant-z', { tenant: 'zed' }),
        namespace('tenant-w'),
        namespace('both', { 'capsule.clastix.io/tenant': 'solar', 'org.tree.hnc.x-k8s.io/depth': '1' }),
      ),
    );
    expect(ctx.tenancy('tenant-x')).to.deep.equal({ tenant: 'solar', source: 'capsule' });
    expect(ctx.tenancy('tenant-y')).to.deep.equal({ tenant: 'y', source: 'hnc' });
    expect(ctx.tenancy('tenant-z')).to.deep.equal({ tenant: 'zed', source: 'tenant-label' });
    expect(ctx.tenancy('tenant-w')).to.deep.equal({ tenant: 'w', source: 'tenant-prefix' });
    expect(ctx.tenancy('both')).to.deep.equal({ tenant: 'solar', source: 'capsule' });
  });

  it('takes the options over everything else: given them, no other namespace is a tenant', () => {
    const text = docs(
      namespace('tenant-x'),
      namespace('capsuled', { 'capsule.clastix.io/tenant': 'solar' }),
      namespace('labelled', { tenant: 'l' }),
      namespace('team-a', { team: 'a', 'capsule.clastix.io/tenant': 'solar' }),
      namespace('team-b', { team: '', tenant: 'bee' }),
      namespace('listed'),
    );
    const byLabel = context(text, { tenantLabels: ['team'] });
    expect([...byLabel.tenantNamespaces].sort()).to.deep.equal(['team-a', 'team-b']);
    // The option's label names the tenant; an empty value leaves it to the next label that names one.
    expect(byLabel.tenancy('team-a')).to.deep.equal({ tenant: 'a', source: 'tenant-label-option' });
    expect(byLabel.tenancy('team-b')).to.deep.equal({ tenant: 'bee', source: 'tenant-label-option' });

    const byList = context(text, { tenantNamespaces: ['listed', 'capsuled', 'not-in-the-manifests'] });
    expect([...byList.tenantNamespaces].sort()).to.deep.equal(['capsuled', 'listed', 'not-in-the-manifests']);
    // A listed namespace is a tenant of its own name unless a label says otherwise.
    expect(byList.tenancy('listed')).to.deep.equal({ tenant: 'listed', source: 'tenant-namespaces-option' });
    expect(byList.tenancy('capsuled')).to.deep.equal({ tenant: 'solar', source: 'tenant-namespaces-option' });

    const both = context(text, { tenantLabels: ['team'], tenantNamespaces: ['listed'] });
    expect([...both.tenantNamespaces].sort()).to.deep.equal(['listed', 'team-a', 'team-b']);
    // The first key given that the namespace carries names the tenant.
    const order = context(namespace('n', { org: 'o', team: 't' }), { tenantLabels: ['team', 'org'] });
    expect(order.tenancy('n')?.tenant).to.equal('t');
  });

  it("lists a tenant's other namespaces as allowed callers in the cross-tenant DENY it suggests", () => {
    const text = docs(
      tenantProblems('solar-dev', { 'capsule.clastix.io/tenant': 'solar' }),
      tenantProblems('solar-prod', { 'capsule.clastix.io/tenant': 'solar' }),
      tenantProblems('wind-dev', { 'capsule.clastix.io/tenant': 'wind' }),
    );
    const hints = lint(text)
      .filter((f) => f.rule === 'authz/tenant-without-cross-tenant-deny')
      .map((f) => f.hint.replace(/.*notNamespaces: /, ''));
    expect(hints).to.deep.equal([
      '[solar-dev, solar-prod, <shared namespaces>].',
      '[solar-prod, solar-dev, <shared namespaces>].',
      '[wind-dev, <shared namespaces>].',
    ]);
  });

  it('refuses the options together with a scenario, which names its tenants itself', async () => {
    const scenario = await load(`apiVersion: bulkhead.dev/v1alpha1
kind: Scenario
metadata: { name: s }
spec:
  tenants: [{ name: a, workloads: [{ name: web, ports: [80] }] }]
`);
    expect(() => lint(MESH_STRICT, { scenario, tenantLabels: ['team'] })).to.throw(
      UserError,
      'tenant labels and tenant namespaces are for manifests without a scenario',
    );
    expect(() => lint(MESH_STRICT, { scenario, tenantNamespaces: ['a'] })).to.throw(UserError);
  });
});

describe('lint: peerauth/weakens-mesh-strict', () => {
  const RULE = 'peerauth/weakens-mesh-strict';
  const found = (text: string, options: LintOptions = {}) =>
    lint(text, options).filter((f) => f.rule === RULE);

  it('reports a namespace-wide PERMISSIVE or DISABLE under a mesh-wide STRICT in a namespace of no tenant', () => {
    const text = docs(
      MESH_STRICT,
      PA('shared-services', '  mtls: { mode: PERMISSIVE }\n'),
      PA('monitoring', '  mtls:\n    mode: DISABLE\n'),
    );
    const ctx = context(text);
    expect(ctx.isTenant('shared-services') || ctx.isTenant('monitoring')).to.equal(false);
    const f = found(text);
    expect(f.map((x) => [x.object.namespace, x.line, x.column, x.severity])).to.deep.equal([
      ['shared-services', 11, 17, 'error'],
      ['monitoring', 18, 11, 'error'],
    ]);
    expect(f[0]?.message).to.equal(
      'mTLS mode PERMISSIVE for all of namespace shared-services overrides the mesh-wide STRICT of istio-system/default (test.yaml:5): its workloads accept plaintext peers',
    );
    // weak-mode stays for tenants and the mesh: outside a tenant this rule is the only report.
    expect(lint(text).map((x) => x.rule)).to.not.include('peerauth/weak-mode');
  });

  it('reports it in a tenant namespace too, once: weak-mode leaves it to this rule', () => {
    const text = docs(MESH_STRICT, PA('tenant-a', '  mtls: { mode: PERMISSIVE }\n'));
    const all = lint(text).filter((x) => x.rule.startsWith('peerauth/'));
    expect(all.map((x) => `${x.rule} ${x.line}`)).to.deep.equal([`${RULE} 11`]);
    expect(all[0]?.message).to.contain('for all of tenant namespace tenant-a overrides');
    // Without the mesh-wide STRICT the tenant's PERMISSIVE is weak-mode's, as before.
    expect(lint(PA('tenant-a', '  mtls: { mode: PERMISSIVE }\n')).map((x) => x.rule)).to.include(
      'peerauth/weak-mode',
    );
  });

  it('reports nothing when no mesh-wide STRICT is in force', () => {
    const weak = PA('shared-services', '  mtls: { mode: PERMISSIVE }\n');
    expect(found(weak), 'no mesh-wide policy').to.deep.equal([]);
    expect(
      found(docs(PA('istio-system', '  mtls: { mode: PERMISSIVE }\n'), weak)),
      'mesh-wide PERMISSIVE',
    ).to.deep.equal([]);
    expect(
      found(docs(PA('istio-system', '  mtls: { mode: UNSET }\n'), weak)),
      'mesh-wide UNSET',
    ).to.deep.equal([]);
    // A selector in the root namespace makes no mesh-wide policy (peerauth/root-selector).
    const selected = PA(
      'istio-system',
      '  selector: { matchLabels: { app: a } }\n  mtls: { mode: STRICT }\n',
    );
    expect(found(docs(selected, weak)), 'a root-namespace policy with a selector').to.deep.equal([]);
    // The oldest mesh-wide policy is the one in force (peerauth/duplicate).
    const later = PA('istio-system', '  mtls: { mode: STRICT }\n', 'later');
    expect(
      found(docs(PA('istio-system', '  mtls: { mode: PERMISSIVE }\n'), later, weak)),
      'a later STRICT',
    ).to.deep.equal([]);
  });

  it('uses the scenario root namespace for the mesh-wide policy', async () => {
    const scenario = await load(`apiVersion: bulkhead.dev/v1alpha1
kind: Scenario
metadata: { name: s }
spec:
  meshRootNamespace: mesh
  tenants: [{ name: a, workloads: [{ name: web, ports: [80] }] }]
  namespaces: [{ name: shared }]
`);
    const weak = PA('shared', '  mtls: { mode: DISABLE }\n');
    expect(found(docs(PA('mesh', '  mtls: { mode: STRICT }\n'), weak), { scenario })).to.have.length(1);
    expect(found(docs(MESH_STRICT, weak), { scenario })).to.deep.equal([]);
  });

  it('reports no workload-selector policy, nor a namespace-wide one Istio ignores as the younger', () => {
    const selector = PA(
      'shared',
      '  selector: { matchLabels: { app: legacy } }\n  mtls: { mode: PERMISSIVE }\n',
      'legacy',
    );
    expect(found(docs(MESH_STRICT, selector))).to.deep.equal([]);
    const younger = docs(
      MESH_STRICT,
      PA('shared', '  mtls: { mode: STRICT }\n'),
      PA('shared', '  mtls: { mode: PERMISSIVE }\n', 'later'),
    );
    expect(found(younger)).to.deep.equal([]);
    // A selector without matchLabels selects the whole namespace (policy_applier.go).
    const empty = PA('shared', '  selector: {}\n  mtls: { mode: PERMISSIVE }\n');
    expect(found(docs(MESH_STRICT, empty))).to.have.length(1);
  });
});
