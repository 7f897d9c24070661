/**
 * Lint and the model (what `bulkhead plan` predicts from) read the same manifests; on every fact
 * both state they must agree: where an EnvoyFilter's HTTP filter sits relative to RBAC, whether a
 * Calico selector parses and which pods it matches, whether a CIDR is valid and lies in a range,
 * and how Istio matches principals, namespaces and condition keys. Run over the built-in bundles
 * rendered for the shipped scenario, the article's manifests, and targeted objects for the cases
 * where the two used to disagree.
 */
import { expect } from 'chai';

import { LintContext, lintManifests, type Finding } from '../../harness/lint/index.js';
import { luaPatches } from '../../harness/lint/lua.js';
import { AuthorizationLayer, type RequestContext } from '../../harness/model/authorization.js';
import { compileCalico } from '../../harness/model/calico.js';
import { compileCalicoSelector } from '../../harness/model/calico-selector.js';
import type { Endpoint } from '../../harness/model/cluster.js';
import { parseCidr, within } from '../../harness/model/cidr.js';
import { rbacPlacement, type RbacPlacement } from '../../harness/model/envoyfilter.js';
import { PolicyModel } from '../../harness/model/evaluate.js';
import { namespaceMatcher, principalMatcher } from '../../harness/model/istio-match.js';
import { compileNetworkPolicy } from '../../harness/model/networkpolicy.js';
import { inventory } from '../../harness/model/objects.js';
import { NotUnderstood } from '../../harness/model/read.js';
import { YES } from '../../harness/model/types.js';
import { arr, obj, str, strings, type Json } from '../../harness/policies/objects.js';
import { readManifestPaths } from '../../harness/policies/read-manifests.js';
import { renderBuiltin } from '../../harness/policies/render.js';
import { loadScenarioFile } from '../../harness/scenario/loader.js';
import type { Manifest, Scenario } from '../../harness/scenario/types.js';
import type { DocPath } from '../../harness/yaml-source.js';
import { HEAD, load, repoRoot } from '../support/scenarios.js';
import { TOPOLOGY, http, indent } from '../model/support.js';

interface Bundle {
  readonly name: string;
  readonly scenario: Scenario;
  readonly manifests: readonly Manifest[];
  readonly serviceCidrs?: readonly string[];
}

const SERVICE_CIDRS = ['10.96.0.0/12'];
const V6_SERVICE_CIDRS = ['10.96.0.0/12', 'fd00:10:96::/112'];

/** The finding of `rule` located at `path` of `m`, if lint reports one. */
function findingAt(
  findings: readonly Finding[],
  rule: string,
  m: Manifest,
  path: DocPath,
): Finding | undefined {
  const { line, column } = m.source.locate(path);
  return findings.find((f) => f.rule === rule && f.file === m.file && f.line === line && f.column === column);
}

function flagged(findings: readonly Finding[], rule: string, m: Manifest, path: DocPath): boolean {
  return findingAt(findings, rule, m, path) !== undefined;
}

function isCalicoPolicy(m: Manifest): boolean {
  return (
    ['projectcalico.org/v3', 'crd.projectcalico.org/v1'].includes(String(m.object.apiVersion)) &&
    ['GlobalNetworkPolicy', 'NetworkPolicy'].includes(String(m.object.kind))
  );
}

interface SelectorAt {
  readonly m: Manifest;
  readonly path: DocPath;
  readonly text: string;
  /** Endpoint (pod) labels, or namespace labels. */
  readonly on: 'pods' | 'namespaces';
}

/** Every selector of every Calico policy. */
function calicoSelectors(manifests: readonly Manifest[]): SelectorAt[] {
  const out: SelectorAt[] = [];
  for (const m of manifests.filter(isCalicoPolicy)) {
    const spec = obj(m.object.spec);
    const add = (path: DocPath, value: unknown, on: SelectorAt['on']) => {
      const text = str(value);
      if (text !== undefined) out.push({ m, path, text, on });
    };
    add(['spec', 'selector'], spec.selector, 'pods');
    add(['spec', 'namespaceSelector'], spec.namespaceSelector, 'namespaces');
    for (const dir of ['ingress', 'egress'] as const) {
      arr(spec[dir]).forEach((r, i) => {
        for (const side of ['source', 'destination'] as const) {
          const entity = obj(obj(r)[side]);
          add(['spec', dir, i, side, 'selector'], entity.selector, 'pods');
          add(['spec', dir, i, side, 'notSelector'], entity.notSelector, 'pods');
          add(['spec', dir, i, side, 'namespaceSelector'], entity.namespaceSelector, 'namespaces');
        }
      });
    }
  }
  return out;
}

function parses(text: string): boolean {
  try {
    compileCalicoSelector(text);
    return true;
  } catch (error) {
    if (error instanceof NotUnderstood) return false;
    throw error;
  }
}

interface CidrAt {
  readonly m: Manifest;
  readonly path: DocPath;
  readonly cidr: string;
}

/** The egress CIDRs lint checks against the Service range: ipBlock.cidr and Calico nets. */
function egressCidrs(manifests: readonly Manifest[]): CidrAt[] {
  const out: CidrAt[] = [];
  for (const m of manifests) {
    const spec = obj(m.object.spec);
    if (m.object.apiVersion === 'networking.k8s.io/v1' && m.object.kind === 'NetworkPolicy') {
      arr(spec.egress).forEach((r, i) => {
        arr(obj(r).to).forEach((p, j) => {
          const cidr = str(obj(obj(p).ipBlock).cidr);
          if (cidr !== undefined)
            out.push({ m, path: ['spec', 'egress', i, 'to', j, 'ipBlock', 'cidr'], cidr });
        });
      });
    }
    if (isCalicoPolicy(m)) {
      arr(spec.egress).forEach((r, i) => {
        strings(obj(obj(r).destination).nets).forEach((cidr, j) => {
          out.push({ m, path: ['spec', 'egress', i, 'destination', 'nets', j], cidr });
        });
      });
    }
  }
  return out;
}

interface SourceAt {
  readonly m: Manifest;
  readonly path: DocPath;
  readonly source: Json;
}

function authorizationSources(manifests: readonly Manifest[]): SourceAt[] {
  return manifests
    .filter((m) => m.object.kind === 'AuthorizationPolicy')
    .flatMap((m) =>
      arr(obj(m.object.spec).rules).flatMap((r, i) =>
        arr(obj(r).from).map((f, j) => ({
          m,
          path: ['spec', 'rules', i, 'from', j, 'source'],
          source: obj(obj(f).source),
        })),
      ),
    );
}

/** Whether the model's matchers let the peer `principal` satisfy every identity field of `source`. */
function sourceAdmits(source: Json, principal: string, trustDomain: string): boolean {
  const principals = strings(source.principals);
  const notPrincipals = strings(source.notPrincipals);
  const namespaces = strings(source.namespaces);
  const notNamespaces = strings(source.notNamespaces);
  return (
    (principals.length === 0 || principalMatcher(principals, trustDomain)(principal)) &&
    (notPrincipals.length === 0 || !principalMatcher(notPrincipals, trustDomain)(principal)) &&
    (namespaces.length === 0 || namespaceMatcher(namespaces)(principal)) &&
    (notNamespaces.length === 0 || !namespaceMatcher(notNamespaces)(principal))
  );
}

/** A plain HTTP request to `server` from an unknown plaintext peer. */
function request(server: Endpoint): RequestContext {
  return {
    http: true,
    principal: undefined,
    sourceAddresses: [],
    destinationAddresses: server.addresses,
    port: 8080,
    method: 'GET',
    path: '/',
    hosts: [`${server.name}:8080`],
    headers: new Map(),
  };
}

// --- Targeted manifests: the cases where lint and the model used to read differently.

const IDENTITY_LUA = `function envoy_on_request(handle)
  handle:headers():remove("x-tenant-identity")
  local ssl = handle:streamInfo():downstreamSslConnection()
  if ssl == nil then
    return
  end
  local uris = ssl:uriSanPeerCertificate()
  if uris[1] ~= nil then
    handle:headers():replace("x-tenant-identity", uris[1])
  end
end`;

function identityFilter(name: string, operation: string, sub?: string): string {
  return `apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: { name: ${name}, namespace: tenant-b }
spec:
  configPatches:
    - applyTo: HTTP_FILTER
      match:
        context: SIDECAR_INBOUND
        listener:
          filterChain:
            filter:
              name: envoy.filters.network.http_connection_manager
${sub ? `              subFilter: { name: ${sub} }\n` : ''}      patch:
        operation: ${operation}
        value:
          name: identity
          typed_config:
            '@type': type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua
            inlineCode: |
${indent(IDENTITY_LUA, 14)}
`;
}

const HEADER_POLICY = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: identity-is-a, namespace: tenant-b }
spec:
  rules: [{ when: [{ key: "request.headers[x-tenant-identity]", values: ["spiffe://cluster.local/ns/tenant-a/*"] }] }]
`;

/** Each placement, with what Istio 1.29.3 does with it. */
const PLACEMENTS: readonly { operation: string; sub?: string; placement: RbacPlacement }[] = [
  { operation: 'INSERT_FIRST', placement: 'before' },
  { operation: 'INSERT_BEFORE', placement: 'before' },
  { operation: 'INSERT_BEFORE', sub: 'envoy.filters.http.rbac', placement: 'before' },
  { operation: 'INSERT_AFTER', sub: 'istio.metadata_exchange', placement: 'before' },
  { operation: 'INSERT_AFTER', sub: 'envoy.filters.http.jwt_authn', placement: 'before' },
  { operation: 'INSERT_BEFORE', sub: 'envoy.filters.http.router', placement: 'after' },
  { operation: 'INSERT_AFTER', sub: 'envoy.filters.http.rbac', placement: 'after' },
  { operation: 'ADD', sub: 'istio.metadata_exchange', placement: 'after' },
  { operation: 'INSERT_AFTER', placement: 'after' },
  { operation: 'INSERT_AFTER', sub: 'istio.authn', placement: 'no-such-filter' },
  { operation: 'INSERT_AFTER', sub: 'istio_authn', placement: 'no-such-filter' },
];

const TARGETED = `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: selectors }
spec:
  selector: tenant != 'a'
  types: [Ingress]
  ingress:
    - action: Allow
      source: { selector: "tenant not in {'a', 'b'}" }
    - action: Allow
      source: { selector: "has(tenant) && tenant in {'a'}" }
    - action: Allow
      source: { selector: "app == 'web' && tenant == 'b'" }
    - action: Allow
      source: { namespaceSelector: "tenant != 'a'" }
    - action: Allow
      source: { namespaceSelector: "has(tenant) && tenant != 'a'" }
    - action: Allow
      source: { selector: "!has(app) || app starts with 'we'" }
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: broken-selector }
spec:
  selector: tenant == \${tenant}
  ingress: [{ action: Allow }]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: nets }
spec:
  selector: all()
  types: [Egress]
  egress:
    - action: Allow
      destination: { nets: [10.96.0.10/32, 'fd00:10:96::a/128', 'fd00:10:97::/64', 2001:db8::/32, 172.18.0.2/32] }
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: egress-v6, namespace: tenant-a }
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
    - to: [{ ipBlock: { cidr: 'fd00:10:96::1/128' } }, { ipBlock: { cidr: 'fd00:10:96::/104' } }, { ipBlock: { cidr: 10.96.0.1/32 } }]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: egress-bad-cidr, namespace: tenant-a }
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
    - to: [{ ipBlock: { cidr: 'fd00::/129' } }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: sources, namespace: tenant-b }
spec:
  action: DENY
  rules:
    - from: [{ source: { notNamespaces: [tenant-a], principals: [cluster.local/ns/tenant-a/sa/probe] } }]
    - from: [{ source: { notNamespaces: ['tenant-*'], principals: [cluster.local/ns/tenant-a/sa/probe] } }]
    - from: [{ source: { namespaces: ['*en*'], principals: [cluster.local/ns/tenant-a/sa/probe] } }]
    - from: [{ source: { namespaces: [tenant-b], principals: [cluster.local/ns/tenant-a/sa/probe, cluster.local/ns/tenant-b/sa/probe] } }]
    - from: [{ source: { notPrincipals: ['cluster.local/ns/tenant-a/*'], principals: [cluster.local/ns/tenant-a/sa/probe] } }]
    - from: [{ source: { namespaces: [tenant-a, tenant-c], notNamespaces: ['*-a', tenant-c] } }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: condition-trust-domain, namespace: tenant-b }
spec:
  selector: { matchLabels: { app: web } }
  rules: [{ when: [{ key: source.trustDomain, values: [cluster.local] }] }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: condition-claims, namespace: tenant-a }
spec:
  selector: { matchLabels: { app: web } }
  rules: [{ when: [{ key: 'request.auth.claims[iss]', values: [issuer] }] }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: condition-unknown-auth, namespace: tenant-a }
spec:
  selector: { matchLabels: { app: probe } }
  rules: [{ when: [{ key: request.auth.issuer, values: [issuer] }] }]
---
${PLACEMENTS.map((p, i) => identityFilter(`placement-${i}`, p.operation, p.sub)).join('---\n')}`;

async function targetedScenario(policies: string, attempts = '[]'): Promise<Scenario> {
  return load(
    `${HEAD}${TOPOLOGY}  policies:\n    - inline: |\n${indent(policies, 8)}\n  attempts: ${attempts}\n`,
    '/virtual/targeted.yaml',
  );
}

function inlineManifests(scenario: Scenario): Manifest[] {
  return scenario.policies.flatMap((s) => (s.kind === 'builtin' ? [] : s.manifests));
}

async function bundles(): Promise<Bundle[]> {
  const shipped = await loadScenarioFile(`${repoRoot}scenarios/hard-isolation.yaml`);
  const targeted = await targetedScenario(TARGETED);
  return [
    {
      name: 'builtin:hard-isolation',
      scenario: shipped,
      manifests: renderBuiltin('hard-isolation', shipped),
    },
    { name: 'builtin:article', scenario: shipped, manifests: renderBuiltin('article', shipped) },
    {
      name: 'the article YAML blocks as files',
      scenario: shipped,
      manifests: await readManifestPaths([`${repoRoot}test/policies/fixtures/article`], repoRoot),
    },
    {
      name: 'the article manifests as shipped',
      scenario: shipped,
      manifests: await readManifestPaths(
        [`${repoRoot}harness/policies/data/article-manifests.yaml`],
        repoRoot,
      ),
    },
    {
      name: 'targeted',
      scenario: targeted,
      manifests: inlineManifests(targeted),
      serviceCidrs: V6_SERVICE_CIDRS,
    },
  ];
}

describe('lint and the model agree on the facts both state', function () {
  let all: Bundle[] = [];
  /** How many facts each check compared, over all bundles (each must compare some). */
  const compared = new Map<string, number>();
  const count = (what: string) => compared.set(what, (compared.get(what) ?? 0) + 1);

  before(async () => {
    all = await bundles();
  });

  after(() => {
    for (const what of [
      'placement',
      'placement: model runs the Lua',
      'selector parse',
      'selector pods',
      'cidr',
      'source',
      'condition key',
    ]) {
      expect(compared.get(what) ?? 0, what).to.be.greaterThan(0);
    }
  });

  function lint(b: Bundle): Finding[] {
    return lintManifests(b.manifests, {
      scenario: b.scenario,
      serviceCidrs: b.serviceCidrs ?? SERVICE_CIDRS,
    });
  }

  function model(b: Bundle): PolicyModel {
    return new PolicyModel({ ...b.scenario, manifests: b.manifests });
  }

  it('EnvoyFilter placement relative to RBAC: lint reads what the model reads', () => {
    for (const b of all) {
      const ctx = new LintContext(b.manifests, { scenario: b.scenario });
      const findings = lint(b);
      const inv = inventory(b.manifests, b.scenario.meshRootNamespace, b.scenario.clusterDomain);
      for (const p of luaPatches(ctx)) {
        count('placement');
        const raw = arr(obj(p.m.object.spec).configPatches)[Number(p.path[2])];
        expect(p.placement, `${b.name} ${p.m.file}:${p.m.line}`).to.equal(rbacPlacement(raw));
        const name = str(obj(p.m.object.metadata).name) ?? '';
        const ns = str(obj(p.m.object.metadata).namespace) ?? '';
        const stated = inv.unmodeled.find((u) => u.title.startsWith(`EnvoyFilter ${ns}/${name} (`))?.lua;
        if (stated) {
          count('placement: model runs the Lua');
          expect(p.placement, `${b.name} ${ns}/${name}`).to.equal(stated.beforeRbac ? 'before' : 'after');
        }
        // Filters Istio would not insert: the model does not claim to know where they run.
        if (p.placement === 'no-such-filter') expect(stated, `${b.name} ${ns}/${name}`).to.equal(undefined);
        // A filter lint reports as placed after RBAC is never one the model runs before RBAC.
        if (flagged(findings, 'envoyfilter/lua-after-rbac', p.m, [...p.path, 'patch', 'operation'])) {
          expect(stated?.beforeRbac, `${b.name} ${ns}/${name}`).to.not.equal(true);
        }
      }
    }
  });

  it('Calico selectors: the same parse, and a selector lint says matches no pod matches none in the model', () => {
    for (const b of all) {
      const findings = lint(b);
      const m = model(b);
      const inv = inventory(b.manifests, b.scenario.meshRootNamespace, b.scenario.clusterDomain);
      const compiled = compileCalico(
        { policies: inv.calicoPolicies, tiers: inv.calicoTiers, networkSets: inv.calicoNetworkSets },
        m.cluster,
      );
      const problemOf = (x: Manifest) => compiled.policies[inv.calicoPolicies.indexOf(x)]?.problem;
      const workloads = m.cluster.endpoints.filter((e) => e.role === 'workload');
      const namespaces = [...m.cluster.namespaces.values()];
      for (const s of calicoSelectors(b.manifests)) {
        count('selector parse');
        const where = `${b.name} ${s.m.file}:${s.m.source.locate(s.path).line} '${s.text}'`;
        const readByLint =
          flagged(findings, 'calico/pod-label-selector', s.m, s.path) ||
          flagged(findings, 'calico/negation-matches-unlabelled', s.m, s.path);
        if (!parses(s.text)) {
          // The model does not evaluate a policy Calico would reject; lint reads nothing into it.
          expect(problemOf(s.m), where).to.be.a('string');
          expect(readByLint, where).to.equal(false);
          continue;
        }
        const selector = compileCalicoSelector(s.text);
        if (flagged(findings, 'calico/pod-label-selector', s.m, s.path)) {
          count('selector pods');
          expect(
            workloads.filter((e) => selector.match(e.calicoLabels)).map((e) => e.key),
            where,
          ).to.deep.equal([]);
        }
        const loose = findingAt(findings, 'calico/negation-matches-unlabelled', s.m, s.path);
        if (loose) {
          // "also matches everything that has no '<key>' label": the model agrees where such exist.
          count('selector pods');
          const key = /on '([^']+)' without has/.exec(loose.message)?.[1] ?? '';
          const unlabelled =
            s.on === 'namespaces'
              ? namespaces.filter((n) => !(key in n.labels)).map((n) => n.calicoLabels)
              : m.cluster.endpoints.filter((e) => !(key in e.labels)).map((e) => e.calicoLabels);
          for (const labels of unlabelled) {
            if (Object.keys(labels).length > 0) expect(selector.match(labels), where).to.equal(true);
          }
        }
      }
    }
  });

  it("a negative test on a namespace label is no 'matches no pod': the model matches pods", () => {
    const b = all.find((x) => x.name === 'targeted');
    if (!b) throw new Error('no targeted bundle');
    const findings = lint(b);
    const policy = b.manifests.find((x) => str(obj(x.object.metadata).name) === 'selectors');
    if (!policy) throw new Error('no selectors policy');
    const m = model(b);
    const workloads = m.cluster.endpoints.filter((e) => e.role === 'workload');
    for (const [path, text] of [
      [['spec', 'selector'], "tenant != 'a'"],
      [['spec', 'ingress', 0, 'source', 'selector'], "tenant not in {'a', 'b'}"],
    ] as const) {
      expect(flagged(findings, 'calico/pod-label-selector', policy, path), text).to.equal(false);
      expect(
        workloads.some((e) => compileCalicoSelector(text).match(e.calicoLabels)),
        text,
      ).to.equal(true);
    }
    expect(
      flagged(findings, 'calico/pod-label-selector', policy, ['spec', 'ingress', 1, 'source', 'selector']),
    ).to.be.true;
    expect(
      flagged(findings, 'calico/pod-label-selector', policy, ['spec', 'ingress', 2, 'source', 'selector']),
    ).to.be.true;
    expect(
      flagged(findings, 'calico/negation-matches-unlabelled', policy, [
        'spec',
        'ingress',
        3,
        'source',
        'namespaceSelector',
      ]),
    ).to.be.true;
    expect(
      flagged(findings, 'calico/negation-matches-unlabelled', policy, [
        'spec',
        'ingress',
        4,
        'source',
        'namespaceSelector',
      ]),
    ).to.be.false;
  });

  it('CIDRs, IPv4 and IPv6: the same validity, and in the Service range exactly where the model puts them', () => {
    for (const b of all) {
      const findings = lint(b);
      const m = model(b);
      const service = (b.serviceCidrs ?? SERVICE_CIDRS).map((c) => parseCidr(c));
      for (const c of egressCidrs(b.manifests)) {
        count('cidr');
        const where = `${b.name} ${c.m.file}:${c.m.source.locate(c.path).line} ${c.cidr}`;
        const range = parseCidr(c.cidr);
        const inService =
          range !== undefined && service.some((s) => s !== undefined && within(range, s) === YES);
        expect(flagged(findings, 'netpol/egress-to-service-ip', c.m, c.path), where).to.equal(inService);
        if (c.m.object.kind === 'NetworkPolicy' && c.m.object.apiVersion === 'networking.k8s.io/v1') {
          const problem = compileNetworkPolicy(c.m, m.cluster).problem ?? '';
          expect(problem.includes(`'${c.cidr}' is not a CIDR`), where).to.equal(range === undefined);
        }
      }
    }
  });

  it('the targeted CIDRs: IPv6 ranges are compared, a malformed one is read by neither', () => {
    const b = all.find((x) => x.name === 'targeted');
    if (!b) throw new Error('no targeted bundle');
    const findings = lint(b);
    const flaggedCidrs = egressCidrs(b.manifests)
      .filter((c) => flagged(findings, 'netpol/egress-to-service-ip', c.m, c.path))
      .map((c) => c.cidr);
    expect(flaggedCidrs).to.deep.equal([
      '10.96.0.10/32',
      'fd00:10:96::a/128',
      'fd00:10:96::1/128',
      '10.96.0.1/32',
    ]);
  });

  it('Istio values: a source lint calls unsatisfiable admits no principal it names, by the model’s matchers', () => {
    for (const b of all) {
      const findings = lint(b);
      const td = b.scenario.trustDomain;
      for (const s of authorizationSources(b.manifests)) {
        const where = `${b.name} ${s.m.file}:${s.m.source.locate(s.path).line}`;
        const principals = strings(s.source.principals);
        const exact = principals.filter((p) => !p.includes('*') && !p.startsWith('spiffe://'));
        // Lint reports a source once: excluded namespaces first, principals otherwise.
        const namespacesExcluded = flagged(findings, 'authz/unsatisfiable-source', s.m, [
          ...s.path,
          'namespaces',
        ]);
        if (!namespacesExcluded && exact.length === principals.length && exact.length > 0) {
          count('source');
          const impossible = flagged(findings, 'authz/unsatisfiable-source', s.m, [...s.path, 'principals']);
          expect(impossible, where).to.equal(exact.every((p) => !sourceAdmits(s.source, p, td)));
        }
        const namespaces = strings(s.source.namespaces);
        if (namespaces.length > 0 && namespaces.every((n) => !n.includes('*'))) {
          count('source');
          const excluded = flagged(findings, 'authz/unsatisfiable-source', s.m, [...s.path, 'namespaces']);
          const peers = namespaces.map((n) => `${td}/ns/${n}/sa/default`);
          const notNamespaces = strings(s.source.notNamespaces);
          expect(excluded, where).to.equal(
            notNamespaces.length > 0 && peers.every((p) => namespaceMatcher(notNamespaces)(p)),
          );
        }
      }
    }
  });

  it('condition keys: lint rejects a key exactly when the model does not understand the policy for it', () => {
    for (const b of all) {
      const findings = lint(b);
      const m = model(b);
      for (const policy of b.manifests.filter((x) => x.object.kind === 'AuthorizationPolicy')) {
        arr(obj(policy.object.spec).rules).forEach((r, i) => {
          arr(obj(r).when).forEach((w, j) => {
            const key = str(obj(w).key);
            if (key === undefined) return;
            const where = `${b.name} ${policy.file}:${policy.line} ${key}`;
            const rejected = flagged(findings, 'authz/unknown-condition', policy, [
              'spec',
              'rules',
              i,
              'when',
              j,
              'key',
            ]);
            // The policy alone, at a workload it applies to: understood, or not and why.
            const layer = new AuthorizationLayer(
              [policy],
              b.scenario.meshRootNamespace,
              b.scenario.trustDomain,
            );
            const decisions = m.cluster.endpoints
              .filter((e) => e.role === 'workload')
              .map((e) => layer.evaluate(e, request(e)).reasons.join('\n'))
              .filter((r) => !r.includes('no AuthorizationPolicy applies'));
            const [reasons] = decisions;
            if (reasons === undefined) return;
            count('condition key');
            expect(reasons.includes(`'${key}' is not an attribute Istio accepts`), where).to.equal(rejected);
          });
        });
      }
    }
  });
});

describe('lint and the plan agree on header filters, attempt by attempt', () => {
  for (const p of PLACEMENTS) {
    const label = `${p.operation}${p.sub ? ` ${p.sub}` : ''}`;
    it(`${label}: ${p.placement}`, async () => {
      const scenario = await targetedScenario(
        `${identityFilter('identity', p.operation, p.sub)}---\n${HEADER_POLICY}`,
        `\n${indent(
          http(
            'forged',
            'tenant-b/probe',
            'tenant-b/web',
            'http: { headers: { x-tenant-identity: spiffe://cluster.local/ns/tenant-a/sa/probe } }',
          ),
          4,
        )}`,
      );
      const manifests = inlineManifests(scenario);
      const found = lintManifests(manifests, { scenario }).map((f) => f.rule);
      const attempt = scenario.attempts.find((a) => a.id === 'forged');
      if (!attempt) throw new Error('no attempt');
      const predicted = new PolicyModel({ ...scenario, manifests }).predict(attempt);
      const reasons = predicted.reasons.join('\n');
      const lintTrustsHeader =
        !found.includes('envoyfilter/lua-after-rbac') && !found.includes('authz/client-controlled-header');
      // The plan runs the script before RBAC exactly when lint trusts the header it sets.
      expect(reasons.includes('runs before RBAC'), reasons).to.equal(lintTrustsHeader);
      expect(lintTrustsHeader).to.equal(p.placement === 'before');
      if (p.placement === 'before') expect(predicted.outcome).to.equal('denied-l7');
      if (p.placement === 'after') {
        // Both: RBAC authorizes on the value the client sent.
        expect(reasons).to.contain('runs after RBAC');
        expect(predicted.outcome).to.equal('allowed');
      }
      if (p.placement === 'no-such-filter') {
        // Lint: the header is the client's; the model claims no placement at all.
        expect(found).to.include('envoyfilter/lua-after-rbac');
        expect(reasons).to.not.match(/runs (before|after) RBAC/);
        expect(predicted.outcome).to.not.equal('denied-l7');
      }
    });
  }
});
