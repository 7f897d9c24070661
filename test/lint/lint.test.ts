/**
 * Lint on the article (its YAML blocks saved as files, and builtin:article rendered for the
 * shipped scenario) reports each real bug; on builtin:hard-isolation nothing at error level. Each
 * rule is also pinned by a minimal example that triggers it and a corrected one that does not.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { expect } from 'chai';

import { toManifests } from '../../harness/policies/documents.js';
import { lintManifests, RULES, type Finding } from '../../harness/lint/index.js';
import { readManifestPaths } from '../../harness/policies/read-manifests.js';
import { renderBuiltin } from '../../harness/policies/render.js';
import { loadScenarioFile } from '../../harness/scenario/loader.js';
import type { Scenario } from '../../harness/scenario/types.js';
import { load, repoRoot } from '../support/scenarios.js';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

function lintText(text: string, scenario?: Scenario): Finding[] {
  return lintManifests(toManifests(text, 'test.yaml'), scenario ? { scenario } : {});
}

function rules(findings: readonly Finding[]): string[] {
  return findings.map((f) => f.rule);
}

describe('lint: the article', () => {
  it('reports each real bug of the article YAML blocks saved as files', async () => {
    const manifests = await readManifestPaths([here('../policies/fixtures/article')], repoRoot);
    expect(manifests).to.have.length(14);
    const found = lintManifests(manifests).map(
      (f) => `${f.severity} ${f.rule} ${path.basename(f.file)}:${f.line}`,
    );
    expect(found).to.deep.equal([
      // Egress default deny with DNS but without istiod 15012 (sidecars never get ready).
      'warning netpol/egress-deny-without-istiod 01-networkpolicy-default-deny-all.yaml:11',
      // The API server at its ClusterIP 10.96.0.1:443: policy sees node IP:6443 after DNAT.
      'error netpol/egress-to-service-ip 02-networkpolicy-allow-dns-and-api.yaml:27',
      'warning calico/crd-api-group 04-globalnetworkpolicy-deny-cross-tenant-traffic.yaml:3',
      // `tenant` is a namespace label; selectors match pod labels.
      'warning calico/pod-label-selector 04-globalnetworkpolicy-deny-cross-tenant-traffic.yaml:8',
      // Deny-only: the end of the tier drops everything else.
      'error calico/deny-only-policy 04-globalnetworkpolicy-deny-cross-tenant-traffic.yaml:13',
      'warning calico/pod-label-selector 04-globalnetworkpolicy-deny-cross-tenant-traffic.yaml:15',
      // ${tenant} is never rendered.
      'error general/template-placeholder 04-globalnetworkpolicy-deny-cross-tenant-traffic.yaml:16',
      'warning calico/pod-label-selector 04-globalnetworkpolicy-deny-cross-tenant-traffic.yaml:16',
      'error calico/deny-only-policy 04-globalnetworkpolicy-deny-cross-tenant-traffic.yaml:18',
      'warning calico/pod-label-selector 04-globalnetworkpolicy-deny-cross-tenant-traffic.yaml:20',
      'error general/template-placeholder 04-globalnetworkpolicy-deny-cross-tenant-traffic.yaml:21',
      'warning calico/pod-label-selector 04-globalnetworkpolicy-deny-cross-tenant-traffic.yaml:21',
      // Only tenant-acme gets a default deny.
      'error netpol/tenant-without-default-deny 06-peerauthentication-default-tenant.yaml:7',
      'error netpol/tenant-without-default-deny 07-authorizationpolicy-deny-cross-tenant.yaml:7',
      // Mesh-wide allow-nothing: same-tenant calls without an ALLOW of their own are denied.
      'warning authz/allow-nothing 08-authorizationpolicy-deny-all.yaml:8',
      // platform-logging, while the collector's other policies are in shared-services.
      'warning istio/selector-namespace-mismatch 10-authorizationpolicy-logging-ingestion-policy.yaml:7',
      'info authz/client-controlled-header 10-authorizationpolicy-logging-ingestion-policy.yaml:22',
      'info authz/client-controlled-header 10-authorizationpolicy-logging-ingestion-policy.yaml:32',
      // AUDIT records nothing without an audit plugin ("generates detailed access logs" does not hold).
      'info authz/audit-needs-plugin 11-authorizationpolicy-audit-all-requests.yaml:12',
      'error netpol/tenant-without-default-deny 12-authorizationpolicy-logging-collector-policy.yaml:3',
      'error netpol/tenant-without-default-deny 12-authorizationpolicy-logging-collector-policy.yaml:3',
      'info envoyfilter/unanchored-insert-before 13-envoyfilter-inject-tenant-header.yaml:21',
      // add() keeps the forged header; the SAN table is not a string; nil on plaintext.
      'error envoyfilter/lua-header-add 13-envoyfilter-inject-tenant-header.yaml:26',
      'error envoyfilter/lua-table-header-value 13-envoyfilter-inject-tenant-header.yaml:26',
      'error envoyfilter/lua-unguarded-ssl 13-envoyfilter-inject-tenant-header.yaml:26',
      // notNamespaces [shared-services] AND a shared-services principal: never matches.
      'error authz/unsatisfiable-source 14-authorizationpolicy-deny-shared-service-impersonation.yaml:14',
      'warning authz/deny-http-only-on-tcp 14-authorizationpolicy-deny-shared-service-impersonation.yaml:15',
      'error authz/deny-negated-header 14-authorizationpolicy-deny-shared-service-impersonation.yaml:17',
    ]);
  });

  it('reports the article bugs at error level when the scenario says which labels are where', async () => {
    const scenario = await loadScenarioFile(`${repoRoot}scenarios/hard-isolation.yaml`);
    const findings = lintManifests(renderBuiltin('article', scenario), { scenario });
    const errors = new Set(findings.filter((f) => f.severity === 'error').map((f) => f.rule));
    expect([...errors].sort()).to.deep.equal([
      'authz/deny-negated-header',
      'authz/unsatisfiable-source',
      'calico/deny-only-policy',
      'calico/pod-label-selector',
      'envoyfilter/lua-header-add',
      'envoyfilter/lua-table-header-value',
      'envoyfilter/lua-unguarded-ssl',
      'general/template-placeholder',
      'netpol/egress-deny-without-istiod',
      'netpol/egress-to-service-ip',
      'netpol/tenant-without-default-deny',
    ]);
    // Findings point into the rendered article.
    const istiod = findings.find((f) => f.rule === 'netpol/egress-deny-without-istiod');
    expect(istiod).to.include({ file: 'builtin:article', line: 15 });
    expect(istiod?.object).to.deep.equal({
      kind: 'NetworkPolicy',
      namespace: 'tenant-acme',
      name: 'default-deny-all',
    });
    // The scenario's own pitfalls: sidecar-free probes and mounted tokens in tenant namespaces.
    expect(rules(findings)).to.include.members(['workload/sidecar-free', 'workload/automount-token']);
  });
});

describe('lint: builtin:hard-isolation', () => {
  // The scenario's deliberate pitfalls, as warnings: mounted tokens, and sidecar-free probes where
  // a tenant is on sidecars.
  const WARNINGS: Record<string, string[]> = {
    'scenarios/hard-isolation.yaml': ['workload/sidecar-free', 'workload/automount-token'],
    'test/policies/fixtures/two-tenants.yaml': ['workload/sidecar-free', 'workload/automount-token'],
    'scenarios/hard-isolation-ambient.yaml': ['workload/automount-token'],
    'scenarios/hard-isolation-mixed.yaml': ['workload/sidecar-free', 'workload/automount-token'],
  };
  for (const [file, warnings] of Object.entries(WARNINGS)) {
    it(`reports nothing at error level, and on its own objects only that AUDIT needs a plugin (${path.basename(file)})`, async () => {
      const scenario = await loadScenarioFile(`${repoRoot}${file}`);
      const findings = lintManifests(renderBuiltin('hard-isolation', scenario), { scenario });
      expect(findings.filter((f) => f.severity === 'error')).to.deep.equal([]);
      const onBundle = findings.filter((f) => f.file === 'builtin:hard-isolation');
      expect(new Set(onBundle.map((f) => `${f.severity} ${f.rule}`))).to.deep.equal(
        new Set(['info authz/audit-needs-plugin']),
      );
      // What remains are the scenario's deliberate probes and tokens, as warnings.
      expect(new Set(findings.filter((f) => f.severity === 'warning').map((f) => f.rule))).to.deep.equal(
        new Set(warnings),
      );
    });
  }

  it('gives every rule an id, a summary and a help text, ids unique', () => {
    const ids = RULES.map((r) => r.id);
    expect(new Set(ids).size).to.equal(ids.length);
    for (const r of RULES) {
      expect(r.id).to.match(/^[a-z]+\/[a-z0-9-]+$/);
      expect(r.summary.length, r.id).to.be.greaterThan(10);
      expect(r.help.length, r.id).to.be.greaterThan(20);
    }
  });
});

interface Case {
  readonly name: string;
  readonly rule: string;
  readonly bad: string;
  readonly good: string;
}

const AP = (ns: string, spec: string) =>
  `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: p, namespace: ${ns} }\nspec:\n${spec}`;
const PA = (ns: string, spec: string) =>
  `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: default, namespace: ${ns} }\nspec:\n${spec}`;
const STRICT = PA('istio-system', '  mtls: { mode: STRICT }\n');
const GNP = (spec: string, name = 'p') =>
  `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: { name: ${name} }\nspec:\n${spec}`;
const NP = (ns: string, spec: string, name = 'np') =>
  `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: ${name}, namespace: ${ns} }\nspec:\n${spec}`;
const EF = (patch: string) =>
  `apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata: { name: f, namespace: shared }\nspec:\n  configPatches:\n${patch}`;
const LUA = (applyTo: string, operation: string, code: string, subFilter = '') => `    - applyTo: ${applyTo}
      match:
        context: SIDECAR_INBOUND
        listener:
          filterChain:
            filter:
              name: envoy.filters.network.http_connection_manager
${subFilter ? `              subFilter: { name: ${subFilter} }\n` : ''}      patch:
        operation: ${operation}
        value:
          name: envoy.filters.http.lua
          typed_config:
            '@type': type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua
            inlineCode: |
${code
  .split('\n')
  .map((l) => `              ${l}`)
  .join('\n')}
`;
const GOOD_LUA = `function envoy_on_request(h)
  h:headers():remove("x-tenant-identity")
  local ssl = h:streamInfo():downstreamSslConnection()
  if ssl == nil then return end
  local uris = ssl:uriSanPeerCertificate()
  if uris[1] ~= nil then h:headers():replace("x-tenant-identity", uris[1]) end
end`;
const CNP = (name: string, spec: string) =>
  `apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: { name: ${name} }\nspec:\n${spec}`;
const CNP_DENY = (tier: string, priority: number, action = 'Deny', peer = '{ namespaces: {} }') =>
  `  tier: ${tier}\n  priority: ${priority}\n  subject: { namespaces: { matchLabels: { tenant: a } } }\n  egress:\n    - { action: ${action}, to: [${peer}] }\n`;
const TIER = (name: string, order: number) =>
  `apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: { name: ${name} }\nspec: { order: ${order} }\n`;
const REFERENCE_GRANT = (from: string) => `apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: { name: routes, namespace: tenant-b }
spec:
  from: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: ${from} }]
  to: [{ group: '', kind: Service }]
`;
const NS_A = 'apiVersion: v1\nkind: Namespace\nmetadata: { name: tenant-a, labels: { tenant: a } }\n';
const DEFAULT_DENY = NP('tenant-a', '  podSelector: {}\n  policyTypes: [Ingress, Egress]\n', 'deny');
const DNS = NP(
  'tenant-a',
  `  podSelector: {}
  policyTypes: [Egress]
  egress:
    - to: [{ namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: kube-system } } }]
      ports: [{ protocol: UDP, port: 53 }]
`,
  'dns',
);
const ISTIOD = NP(
  'tenant-a',
  `  podSelector: {}
  policyTypes: [Egress]
  egress:
    - to: [{ namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: istio-system } } }]
      ports: [{ protocol: TCP, port: 15012 }]
`,
  'istiod',
);
const SAME_NS_ONLY = NP(
  'tenant-a',
  '  podSelector: {}\n  policyTypes: [Egress]\n  egress: [{ to: [{ podSelector: {} }] }]\n',
  'same',
);
const docs = (...d: string[]) => d.join('---\n');

const CASES: readonly Case[] = [
  {
    name: 'a principal of a namespace the same source excludes',
    rule: 'authz/unsatisfiable-source',
    bad: AP(
      'tenant-a',
      '  action: DENY\n  rules: [{ from: [{ source: { notNamespaces: [ns1], principals: [cluster.local/ns/ns1/sa/x] } }] }]\n',
    ),
    good: AP(
      'tenant-a',
      '  action: DENY\n  rules: [{ from: [{ source: { notNamespaces: [tenant-a, ns1] } }] }]\n',
    ),
  },
  {
    name: 'a principal outside the namespaces the same source requires',
    rule: 'authz/unsatisfiable-source',
    bad: AP(
      'tenant-a',
      '  rules: [{ from: [{ source: { namespaces: [a], principals: [cluster.local/ns/b/sa/x] } }] }]\n',
    ),
    good: AP(
      'tenant-a',
      '  rules: [{ from: [{ source: { namespaces: [b], principals: [cluster.local/ns/b/sa/x] } }] }]\n',
    ),
  },
  {
    name: 'spiffe:// in principals',
    rule: 'authz/spiffe-principal',
    bad: AP(
      'tenant-a',
      '  rules: [{ from: [{ source: { principals: [spiffe://cluster.local/ns/a/sa/x] } }] }]\n',
    ),
    good: AP('tenant-a', '  rules: [{ from: [{ source: { principals: [cluster.local/ns/a/sa/x] } }] }]\n'),
  },
  {
    name: 'spiffe:// in a source.principal condition',
    rule: 'authz/spiffe-principal',
    bad: AP(
      'tenant-a',
      "  rules: [{ when: [{ key: source.principal, values: ['spiffe://td/ns/a/sa/x'] }] }]\n",
    ),
    good: AP('tenant-a', "  rules: [{ when: [{ key: source.principal, values: ['td/ns/a/sa/x'] }] }]\n"),
  },
  {
    name: 'DENY without rules',
    rule: 'authz/deny-without-rules',
    bad: AP('tenant-a', '  action: DENY\n'),
    good: AP('tenant-a', '  action: DENY\n  rules: [{}]\n'),
  },
  {
    name: 'a path with * in the middle',
    rule: 'authz/path-wildcard',
    bad: AP('tenant-a', "  rules: [{ to: [{ operation: { paths: ['/api/*/orders'] } }] }]\n"),
    good: AP('tenant-a', "  rules: [{ to: [{ operation: { paths: ['/api/{*}/orders', '/api/*'] } }] }]\n"),
  },
  {
    name: 'a lower-case method',
    rule: 'authz/method-case',
    bad: AP('tenant-a', '  rules: [{ to: [{ operation: { methods: [get] } }] }]\n'),
    good: AP('tenant-a', '  rules: [{ to: [{ operation: { methods: [GET] } }] }]\n'),
  },
  {
    name: 'an unknown condition key',
    rule: 'authz/unknown-condition',
    bad: AP('tenant-a', '  rules: [{ when: [{ key: destination.namespace, values: [a] }] }]\n'),
    good: AP('tenant-a', "  rules: [{ when: [{ key: 'request.headers[x-a]', values: [a] }] }]\n"),
  },
  {
    name: 'a DENY on HTTP conditions with no ports',
    rule: 'authz/deny-http-only-on-tcp',
    bad: AP('tenant-a', '  action: DENY\n  rules: [{ to: [{ operation: { methods: [DELETE] } }] }]\n'),
    good: AP(
      'tenant-a',
      "  action: DENY\n  rules: [{ to: [{ operation: { methods: [DELETE], ports: ['8080'] } }] }]\n",
    ),
  },
  {
    name: 'identity conditions without STRICT mTLS',
    rule: 'authz/identity-without-strict-mtls',
    bad: AP('tenant-a', '  rules: [{ from: [{ source: { namespaces: [tenant-a] } }] }]\n'),
    good: docs(STRICT, AP('tenant-a', '  rules: [{ from: [{ source: { namespaces: [tenant-a] } }] }]\n')),
  },
  {
    name: 'an ALLOW rule with notNamespaces',
    rule: 'authz/allow-negative-match',
    bad: AP('tenant-a', '  rules: [{ from: [{ source: { notNamespaces: [tenant-b] } }] }]\n'),
    good: AP(
      'tenant-a',
      '  action: DENY\n  rules: [{ from: [{ source: { notNamespaces: [tenant-a] } }] }]\n',
    ),
  },
  {
    name: 'an ALLOW rule with notPaths',
    rule: 'authz/allow-negative-match',
    bad: AP('tenant-a', "  rules: [{ to: [{ operation: { notPaths: ['/admin/*'] } }] }]\n"),
    good: AP('tenant-a', "  rules: [{ to: [{ operation: { paths: ['/api/*'] } }] }]\n"),
  },
  {
    name: 'the same workload selected in two namespaces',
    rule: 'istio/selector-namespace-mismatch',
    bad: docs(
      AP('shared', '  selector: { matchLabels: { app: log } }\n  rules: [{}]\n'),
      AP('shared', '  selector: { matchLabels: { app: log } }\n  action: AUDIT\n  rules: [{}]\n'),
      AP('logging', '  selector: { matchLabels: { app: log } }\n  rules: [{}]\n'),
    ),
    good: docs(
      AP('shared', '  selector: { matchLabels: { app: log } }\n  rules: [{}]\n'),
      AP('shared', '  selector: { matchLabels: { app: log } }\n  action: AUDIT\n  rules: [{}]\n'),
      AP('logging', '  selector: { matchLabels: { app: other } }\n  rules: [{}]\n'),
    ),
  },
  {
    name: 'a tenant whose workloads no Istio policy closes to other namespaces',
    rule: 'authz/tenant-without-cross-tenant-deny',
    bad: docs(
      STRICT,
      AP(
        'tenant-a',
        '  selector: { matchLabels: { app: x } }\n  rules: [{ from: [{ source: { namespaces: [tenant-a] } }] }]\n',
      ),
    ),
    good: docs(
      STRICT,
      AP(
        'tenant-a',
        '  action: DENY\n  rules: [{ from: [{ source: { notNamespaces: [tenant-a, shared] } }] }]\n',
      ),
    ),
  },
  {
    name: 'a selector PeerAuthentication in the root namespace',
    rule: 'peerauth/root-selector',
    bad: PA('istio-system', '  selector: { matchLabels: { app: a } }\n  mtls: { mode: STRICT }\n'),
    good: PA('tenant-a', '  selector: { matchLabels: { app: a } }\n  mtls: { mode: STRICT }\n'),
  },
  {
    name: 'PERMISSIVE in a tenant namespace',
    rule: 'peerauth/weak-mode',
    bad: PA('tenant-a', '  mtls: { mode: PERMISSIVE }\n'),
    good: PA('tenant-a', '  mtls: { mode: STRICT }\n'),
  },
  {
    name: 'DISABLE on a port of a tenant workload',
    rule: 'peerauth/weak-mode',
    bad: PA(
      'tenant-a',
      "  selector: { matchLabels: { app: a } }\n  portLevelMtls: { '8080': { mode: DISABLE } }\n",
    ),
    good: PA(
      'tenant-a',
      "  selector: { matchLabels: { app: a } }\n  portLevelMtls: { '8080': { mode: STRICT } }\n",
    ),
  },
  {
    name: 'a namespace-wide PERMISSIVE outside any tenant under a mesh-wide STRICT',
    rule: 'peerauth/weakens-mesh-strict',
    bad: docs(STRICT, PA('shared', '  mtls: { mode: PERMISSIVE }\n')),
    good: docs(
      STRICT,
      PA('shared', '  selector: { matchLabels: { app: a } }\n  mtls: { mode: PERMISSIVE }\n'),
    ),
  },
  {
    name: 'two namespace-wide PeerAuthentications',
    rule: 'peerauth/duplicate',
    bad: docs(PA('tenant-a', '  mtls: { mode: STRICT }\n'), PA('tenant-a', '  mtls: { mode: STRICT }\n')),
    good: docs(PA('tenant-a', '  mtls: { mode: STRICT }\n'), STRICT),
  },
  {
    name: 'Pass in the default tier',
    rule: 'calico/pass-in-default-tier',
    bad: GNP(
      '  selector: all()\n  ingress: [{ action: Deny, source: { namespaceSelector: has(tenant) } }, { action: Pass }]\n',
    ),
    good: docs(
      'apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: { name: t }\nspec: { order: 100 }\n',
      GNP(
        '  tier: t\n  selector: all()\n  ingress: [{ action: Deny, source: { namespaceSelector: has(tenant) } }, { action: Pass }]\n',
        't.p',
      ),
    ),
  },
  {
    name: 'a deny-only policy in its own tier',
    rule: 'calico/deny-only-policy',
    bad: docs(
      'apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: { name: t }\nspec: { order: 100 }\n',
      GNP(
        '  tier: t\n  selector: all()\n  types: [Egress]\n  egress: [{ action: Deny, destination: { nets: [10.0.0.0/8] } }]\n',
        't.p',
      ),
    ),
    good: docs(
      'apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: { name: t }\nspec: { order: 100 }\n',
      GNP(
        '  tier: t\n  selector: all()\n  types: [Egress]\n  egress: [{ action: Deny, destination: { nets: [10.0.0.0/8] } }, { action: Pass }]\n',
        't.p',
      ),
    ),
  },
  {
    name: "'!=' without has()",
    rule: 'calico/negation-matches-unlabelled',
    bad: GNP("  namespaceSelector: tenant != 'a'\n  ingress: [{ action: Allow }]\n"),
    good: GNP("  namespaceSelector: has(tenant) && tenant != 'a'\n  ingress: [{ action: Allow }]\n"),
  },
  {
    name: 'a tier that is not defined',
    rule: 'calico/unknown-tier',
    bad: GNP('  tier: security\n  selector: all()\n  ingress: [{ action: Pass }]\n', 'security.p'),
    good: docs(
      'apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: { name: security }\nspec: { order: 100 }\n',
      GNP('  tier: security\n  selector: all()\n  ingress: [{ action: Pass }]\n', 'security.p'),
    ),
  },
  {
    name: 'a tiered policy name without the tier prefix',
    rule: 'calico/tier-name-prefix',
    bad: GNP('  tier: t\n  selector: all()\n  ingress: [{ action: Pass }]\n', 'p'),
    good: GNP('  tier: t\n  selector: all()\n  ingress: [{ action: Pass }]\n', 't.p'),
  },
  {
    name: 'a Calico egress rule to the Service range',
    rule: 'netpol/egress-to-service-ip',
    bad: GNP('  selector: all()\n  egress: [{ action: Allow, destination: { nets: [10.96.0.10/32] } }]\n'),
    good: GNP('  selector: all()\n  egress: [{ action: Allow, destination: { nets: [172.18.0.2/32] } }]\n'),
  },
  {
    name: 'a Kubernetes egress rule to the API server ClusterIP (a wider block may hold pods, not flagged)',
    rule: 'netpol/egress-to-service-ip',
    bad: NP(
      'a',
      '  podSelector: {}\n  egress: [{ to: [{ ipBlock: { cidr: 10.96.0.1/32 } }], ports: [{ port: 443 }] }]\n',
    ),
    good: NP('a', '  podSelector: {}\n  egress: [{ to: [{ ipBlock: { cidr: 10.0.0.0/8 } }] }]\n'),
  },
  {
    name: 'egress default deny without DNS (same-namespace egress does not count)',
    rule: 'netpol/egress-deny-without-dns',
    bad: docs(DEFAULT_DENY, SAME_NS_ONLY, ISTIOD),
    good: docs(DEFAULT_DENY, SAME_NS_ONLY, ISTIOD, DNS),
  },
  {
    name: 'egress default deny without istiod',
    rule: 'netpol/egress-deny-without-istiod',
    bad: docs(DEFAULT_DENY, DNS),
    good: docs(DEFAULT_DENY, DNS, ISTIOD),
  },
  {
    name: 'a tenant namespace with ingress default deny only',
    rule: 'netpol/tenant-without-default-deny',
    bad: NP('tenant-a', '  podSelector: {}\n  policyTypes: [Ingress]\n'),
    good: docs(DEFAULT_DENY, DNS, ISTIOD),
  },
  {
    name: 'an HTTP filter patched as a network filter',
    rule: 'envoyfilter/http-filter-at-network-level',
    bad: EF(LUA('NETWORK_FILTER', 'INSERT_FIRST', GOOD_LUA)),
    good: EF(LUA('HTTP_FILTER', 'INSERT_FIRST', GOOD_LUA)),
  },
  {
    name: 'a header filter after RBAC while a policy reads the header',
    rule: 'envoyfilter/lua-after-rbac',
    bad: docs(
      EF(LUA('HTTP_FILTER', 'INSERT_BEFORE', GOOD_LUA, 'envoy.filters.http.router')),
      AP(
        'shared',
        "  rules: [{ when: [{ key: 'request.headers[x-tenant-identity]', values: ['td/ns/a/*'] }] }]\n",
      ),
    ),
    good: docs(
      EF(LUA('HTTP_FILTER', 'INSERT_BEFORE', GOOD_LUA, 'envoy.filters.http.rbac')),
      AP(
        'shared',
        "  rules: [{ when: [{ key: 'request.headers[x-tenant-identity]', values: ['td/ns/a/*'] }] }]\n",
      ),
    ),
  },
  {
    name: 'a network-level filter is reported as such, not as placed after RBAC',
    rule: 'envoyfilter/lua-after-rbac',
    bad: EF(LUA('HTTP_FILTER', 'INSERT_AFTER', GOOD_LUA, 'envoy.filters.http.rbac')),
    good: EF(LUA('NETWORK_FILTER', 'INSERT_AFTER', GOOD_LUA, 'envoy.filters.http.rbac')),
  },
  {
    name: 'add() on the identity header',
    rule: 'envoyfilter/lua-header-add',
    bad: EF(
      LUA(
        'HTTP_FILTER',
        'INSERT_FIRST',
        GOOD_LUA.replace(/h:headers\(\):remove\([^)]*\)\n/, '').replace('replace', 'add'),
      ),
    ),
    good: EF(LUA('HTTP_FILTER', 'INSERT_FIRST', GOOD_LUA.replace('replace', 'add'))),
  },
  {
    name: 'a namespaced object without a namespace',
    rule: 'general/missing-namespace',
    bad: 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: x }\nspec: { podSelector: {} }\n',
    good: NP('a', '  podSelector: {}\n'),
  },
  {
    name: 'the same object twice',
    rule: 'general/duplicate-object',
    bad: docs(NP('a', '  podSelector: {}\n'), NP('a', '  podSelector: {}\n')),
    good: docs(NP('a', '  podSelector: {}\n'), NP('b', '  podSelector: {}\n')),
  },
  {
    name: 'a {{ }} placeholder',
    rule: 'general/template-placeholder',
    bad: NP('a', '  podSelector: { matchLabels: { app: "{{ .Values.app }}" } }\n'),
    good: NP('a', '  podSelector: { matchLabels: { app: web } }\n'),
  },
  {
    name: 'a pod in a tenant namespace that opts out of the sidecar and mounts its token',
    rule: 'workload/sidecar-free',
    bad: 'apiVersion: v1\nkind: Pod\nmetadata: { name: p, namespace: tenant-a, annotations: { sidecar.istio.io/inject: "false" } }\nspec: { containers: [{ name: c, image: i }] }\n',
    good: 'apiVersion: v1\nkind: Pod\nmetadata: { name: p, namespace: tenant-a }\nspec: { automountServiceAccountToken: false, containers: [{ name: c, image: i }] }\n',
  },
  {
    name: 'a Deployment in a tenant namespace that mounts its token',
    rule: 'workload/automount-token',
    bad: 'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: d, namespace: tenant-a }\nspec:\n  selector: { matchLabels: { app: d } }\n  template:\n    metadata: { labels: { app: d } }\n    spec: { containers: [{ name: c, image: i }] }\n',
    good: docs(
      'apiVersion: v1\nkind: ServiceAccount\nmetadata: { name: default, namespace: tenant-a }\nautomountServiceAccountToken: false\n',
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: d, namespace: tenant-a }\nspec:\n  selector: { matchLabels: { app: d } }\n  template:\n    metadata: { labels: { app: d } }\n    spec: { containers: [{ name: c, image: i }] }\n',
    ),
  },
  {
    name: 'a user tier ordered before kube-admin whose Allow overrides the Admin tier',
    rule: 'cnp/tier-before-admin',
    bad: docs(
      TIER('early', 500),
      GNP('  tier: early\n  selector: all()\n  ingress: [{ action: Allow }]\n', 'early.allow'),
      CNP('tenants', CNP_DENY('Admin', 10)),
    ),
    good: docs(
      TIER('early', 5000),
      GNP('  tier: early\n  selector: all()\n  ingress: [{ action: Allow }]\n', 'early.allow'),
      CNP('tenants', CNP_DENY('Admin', 10)),
    ),
  },
  {
    name: 'a Baseline Pass, which nothing after it decides',
    rule: 'cnp/pass-without-lower-tier',
    bad: CNP('baseline', CNP_DENY('Baseline', 10, 'Pass')),
    good: CNP('baseline', CNP_DENY('Baseline', 10, 'Deny')),
  },
  {
    name: 'an Admin Pass with no NetworkPolicy or Baseline rule to decide',
    rule: 'cnp/pass-without-lower-tier',
    bad: CNP('admin', CNP_DENY('Admin', 10, 'Pass')),
    good: docs(CNP('admin', CNP_DENY('Admin', 10, 'Pass')), DEFAULT_DENY),
  },
  {
    name: 'Baseline rules for a namespace whose NetworkPolicy decides',
    rule: 'cnp/baseline-shadowed',
    bad: docs(
      NS_A,
      CNP('baseline', CNP_DENY('Baseline', 10)),
      NP('tenant-a', '  podSelector: {}\n  policyTypes: [Egress]\n'),
    ),
    good: docs(
      NS_A,
      CNP('baseline', CNP_DENY('Baseline', 10)),
      NP('tenant-a', '  podSelector: {}\n  policyTypes: [Ingress]\n'),
    ),
  },
  {
    name: 'a nodes peer, which Calico turns into deny-all',
    rule: 'cnp/unsupported-peer',
    bad: CNP('nodes', CNP_DENY('Admin', 10, 'Deny', '{ nodes: { matchLabels: { role: db } } }')),
    good: CNP('nodes', CNP_DENY('Admin', 10, 'Deny', '{ networks: [172.18.0.0/16] }')),
  },
  {
    name: 'two Admin policies with the same priority',
    rule: 'cnp/priority-tie',
    bad: docs(CNP('one', CNP_DENY('Admin', 10)), CNP('two', CNP_DENY('Admin', 10))),
    good: docs(CNP('one', CNP_DENY('Admin', 10)), CNP('two', CNP_DENY('Admin', 11))),
  },
  {
    // Facts B4.2: Calico v3.32 does not enforce the v1alpha1 kinds; ClusterNetworkPolicy replaces them.
    name: 'an AdminNetworkPolicy, which Calico v3.32 no longer enforces',
    rule: 'cnp/admin-network-policy',
    bad: `apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: { name: tenants }
spec:
  priority: 10
  subject: { namespaces: {} }
  ingress: [{ action: Deny, from: [{ namespaces: {} }] }]
`,
    good: CNP('tenants', CNP_DENY('Admin', 10)),
  },
  {
    name: 'a BaselineAdminNetworkPolicy, which Calico v3.32 no longer enforces',
    rule: 'cnp/admin-network-policy',
    bad: `apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: { name: default }
spec:
  subject: { namespaces: {} }
  ingress: [{ action: Deny, from: [{ namespaces: {} }] }]
`,
    good: CNP('baseline', CNP_DENY('Baseline', 10)),
  },
  {
    // gateway-api v1.5.1 apis/v1/referencegrant_types.go: a `from` entry trusts that namespace's routes.
    name: "a ReferenceGrant in tenant b's namespace trusting tenant a's HTTPRoutes",
    rule: 'gateway/cross-tenant-reference-grant',
    bad: REFERENCE_GRANT('tenant-a'),
    good: REFERENCE_GRANT('tenant-b'),
  },
  {
    // REFERENCE_GRANT_VERSIONS: v1beta1 in both pinned bundles, v1 in v1.5.1 only.
    name: 'a ReferenceGrant as v1alpha2, which neither pinned bundle serves',
    rule: 'gateway/reference-grant-version',
    bad: REFERENCE_GRANT('tenant-b').replace('/v1beta1', '/v1alpha2'),
    good: REFERENCE_GRANT('tenant-b'),
  },
  {
    // The CRD (schemas/gateway-api/) requires spec.to.
    name: 'a ReferenceGrant without spec.to',
    rule: 'schema/invalid',
    bad: REFERENCE_GRANT('tenant-b').replace(/ {2}to: .*\n/, ''),
    good: REFERENCE_GRANT('tenant-b'),
  },
  {
    name: 'a schema violation',
    rule: 'schema/invalid',
    bad: NP('a', '  podSelector: {}\n  policyTypes: [Sideways]\n'),
    good: NP('a', '  podSelector: {}\n  policyTypes: [Ingress]\n'),
  },
];

describe('lint: each rule on a minimal example', () => {
  for (const c of CASES) {
    it(`${c.rule}: ${c.name}`, () => {
      expect(rules(lintText(c.bad)), 'the bad example').to.include(c.rule);
      expect(rules(lintText(c.good)), 'the corrected example').to.not.include(c.rule);
    });
  }

  it('says which Calico releases enforce an AdminNetworkPolicy kind and what replaces it (B4.2)', () => {
    const [f] = lintText(`apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: { name: default }
spec: { subject: { namespaces: {} }, ingress: [{ action: Deny, from: [{ namespaces: {} }] }] }
`).filter((x) => x.rule === 'cnp/admin-network-policy');
    expect(f?.severity).to.equal('warning');
    expect(f?.message).to.equal(
      'BaselineAdminNetworkPolicy default: Calico enforces BaselineAdminNetworkPolicy from v3.30.0 to v3.31 (tier baselineadminnetworkpolicy, order 10,000,000) and not from v3.32.0 on, which removed it and its tier in favour of ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2, tier: Baseline, in kube-baseline; from Calico v3.32.1 for bulkhead)',
    );
    expect(f?.hint).to.contain('ClusterNetworkPolicy with tier: Baseline');
  });

  it('validates a Calico staged policy by the schema of the kind it previews, and calls a misspelt kind a possible typo', () => {
    const staged = (action: string) =>
      lintText(`apiVersion: projectcalico.org/v3
kind: StagedNetworkPolicy
metadata: { name: p, namespace: tenant-a }
spec: { stagedAction: ${action}, selector: all(), types: [Ingress] }
`).filter((f) => f.rule.startsWith('schema/'));
    expect(staged('Set')).to.deep.equal([]);
    expect(staged('Preview').map((f) => `${f.rule} ${f.message}`)).to.deep.equal([
      'schema/invalid spec.stagedAction: StagedNetworkPolicy tenant-a/p: must be one of "Set", "Delete", "Learn", "Ignore"',
    ]);
    // A kind bulkhead knows without a shipped schema is still not called a typo.
    const known = lintText(`apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: { name: s, namespace: tenant-a }
spec: { nets: [10.0.0.0/8] }
`).filter((f) => f.rule === 'schema/unknown-kind');
    expect(known).to.have.length(1);
    expect(known[0]?.message).to.contain('is a kind bulkhead knows');
    expect(known[0]?.hint).to.not.contain('typos');
    const typo = lintText(`apiVersion: projectcalico.org/v3
kind: NetworkPolicyy
metadata: { name: p, namespace: tenant-a }
spec: {}
`).filter((f) => f.rule === 'schema/unknown-kind');
    expect(typo.map((f) => f.hint)).to.deep.equal(['Check the apiVersion and kind for typos.']);
  });

  it('locates a finding at the field, with the object and a fix hint', () => {
    const [f] = lintText(
      AP(
        'tenant-a',
        '  rules:\n    - from:\n        - source:\n            principals: [spiffe://td/ns/a/sa/x]\n',
      ),
    ).filter((x) => x.rule === 'authz/spiffe-principal');
    expect(f).to.deep.include({
      severity: 'error',
      file: 'test.yaml',
      line: 8,
      column: 26,
      object: { kind: 'AuthorizationPolicy', namespace: 'tenant-a', name: 'p' },
    });
    expect(f?.hint).to.contain("'td/ns/a/sa/x'");
  });

  it('uses the scenario: its root namespace, tenants, injection and workload labels', async () => {
    const scenario = await load(`apiVersion: bulkhead.dev/v1alpha1
kind: Scenario
metadata: { name: s }
spec:
  meshRootNamespace: mesh
  tenants:
    - name: a
      injection: false
      workloads: [{ name: web, ports: [80] }]
`);
    const findings = lintText(
      docs(
        PA('istio-system', '  mtls: { mode: STRICT }\n'),
        NP('tenant-a', '  podSelector: {}\n  policyTypes: [Ingress, Egress]\n', 'deny'),
        DNS,
        AP('tenant-a', '  selector: { matchLabels: { app: api } }\n  rules: [{}]\n'),
        GNP("  selector: tenant == 'a'\n  ingress: [{ action: Allow }]\n"),
      ),
      scenario,
    );
    const found = rules(findings);
    // istio-system is not this mesh's root namespace.
    expect(found).to.include('istio/not-root-namespace');
    // Not injected: no istiod needed.
    expect(found).to.not.include('netpol/egress-deny-without-istiod');
    // No workload app=api in tenant-a; nothing in istio-system the scenario knows of.
    expect(found).to.include('scenario/selects-nothing');
    // `tenant` is on the namespace, not on pods: an error now that it is known.
    expect(findings.find((f) => f.rule === 'calico/pod-label-selector')?.severity).to.equal('error');
  });
});

describe('lint: readings it shares with the model', () => {
  it("does not call a negative test on a namespace label 'matches no pod' (tenant != 'a' matches every pod)", () => {
    const found = lintText(GNP("  selector: tenant != 'a'\n  ingress: [{ action: Allow }]\n"));
    expect(found.map((f) => f.rule)).to.not.include('calico/pod-label-selector');
    expect(found.map((f) => f.rule)).to.include('calico/negation-matches-unlabelled');
    expect(rules(lintText(GNP("  selector: tenant == 'a'\n  ingress: [{ action: Allow }]\n")))).to.include(
      'calico/pod-label-selector',
    );
  });

  it('reads nothing into a selector Calico rejects', () => {
    const found = rules(lintText(GNP('  selector: tenant != ${tenant}\n  ingress: [{ action: Allow }]\n')));
    expect(found).to.not.include('calico/pod-label-selector');
    expect(found).to.not.include('calico/negation-matches-unlabelled');
  });

  it('compares IPv6 ranges with the Service range', () => {
    const np = NP(
      'a',
      "  podSelector: {}\n  egress: [{ to: [{ ipBlock: { cidr: 'fd00:10:96::1/128' } }, { ipBlock: { cidr: 'fd00:10:97::1/128' } }] }]\n",
    );
    const found = lintManifests(toManifests(np, 'test.yaml'), { serviceCidrs: ['fd00:10:96::/112'] });
    expect(
      found.filter((f) => f.rule === 'netpol/egress-to-service-ip').map((f) => f.message),
    ).to.have.length(1);
    expect(found.find((f) => f.rule === 'netpol/egress-to-service-ip')?.message).to.match(
      /^fd00:10:96::1\/128 /,
    );
  });

  it('treats a filter inserted next to a filter Istio does not build as not setting the header before RBAC', () => {
    const policy = AP(
      'shared',
      "  rules: [{ when: [{ key: 'request.headers[x-tenant-identity]', values: ['td/ns/a/*'] }] }]\n",
    );
    for (const sub of ['istio.authn', 'istio_authn']) {
      const findings = lintText(docs(EF(LUA('HTTP_FILTER', 'INSERT_AFTER', GOOD_LUA, sub)), policy));
      const after = findings.find((f) => f.rule === 'envoyfilter/lua-after-rbac');
      expect(after?.message, sub).to.contain(
        `INSERT_AFTER ${sub}, next to a filter Istio's inbound chain does not have`,
      );
      expect(rules(findings), sub).to.include('authz/client-controlled-header');
    }
    const jwt = lintText(
      docs(EF(LUA('HTTP_FILTER', 'INSERT_AFTER', GOOD_LUA, 'envoy.filters.http.jwt_authn')), policy),
    );
    expect(rules(jwt)).to.not.include('envoyfilter/lua-after-rbac');
    expect(rules(jwt)).to.not.include('authz/client-controlled-header');
  });

  it('rejects the condition keys Istio rejects, source.trustDomain included', () => {
    for (const key of ['source.trustDomain', 'request.auth.issuer', 'request.headers[]']) {
      const found = rules(
        lintText(AP('tenant-a', `  rules: [{ when: [{ key: '${key}', values: [a] }] }]\n`)),
      );
      expect(found, key).to.include('authz/unknown-condition');
    }
  });

  it("matches namespaces as Istio's regex does: '*en*' is a wildcard on both sides", () => {
    const bad = AP(
      'tenant-a',
      "  action: DENY\n  rules: [{ from: [{ source: { notNamespaces: ['*en*'], principals: [cluster.local/ns/tenant-a/sa/x] } }] }]\n",
    );
    expect(rules(lintText(bad))).to.include('authz/unsatisfiable-source');
  });
});
