/**
 * The table of policy kinds (harness/policies/kinds.ts) against what the modules reading it do:
 * the model puts a sample of each row where its reading says and denies in the layer its row
 * claims, the schema checks cover exactly the rows naming a schema, lint's namespace warning and
 * rule families match the rows, and every kind the bundles, the article and Calico's CRDs use is
 * a row with the right scope.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { expect } from 'chai';
import { parseAllDocuments, stringify } from 'yaml';

import { lintManifests, RULES } from '../../harness/lint/index.js';
import { PolicyModel } from '../../harness/model/evaluate.js';
import { inventory, layerOf, type Inventory } from '../../harness/model/objects.js';
import { ABLATABLE_LAYERS } from '../../harness/model/types.js';
import { toManifests } from '../../harness/policies/documents.js';
import {
  API_GROUPS,
  apiGroupOf,
  policyKind,
  POLICY_KINDS,
  readingOf,
  type ApiGroup,
  type ModelReading,
  type PolicyKind,
} from '../../harness/policies/kinds.js';
import { readManifestPaths } from '../../harness/policies/read-manifests.js';
import { renderBuiltin } from '../../harness/policies/render.js';
import { schemaFor, validateManifest } from '../../harness/policies/schema-validate.js';
import { loadScenarioFile } from '../../harness/scenario/loader.js';
import type { Manifest, Scenario } from '../../harness/scenario/types.js';
import { HEAD, load, repoRoot } from '../support/scenarios.js';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/** A concrete apiVersion of a group (`group/*` becomes its v1). */
function apiVersionOf(group: ApiGroup): string {
  const first = group.apiVersions[0] ?? '';
  return first.endsWith('/*') ? `${first.slice(0, -2)}/v1` : first;
}

/** The apiVersion a row's samples are written in: one its schema covers, if it names one. */
function sampleApiVersion(row: PolicyKind): string {
  const schema = row.schema;
  return schema && 'apiVersions' in schema && schema.apiVersions?.[0]
    ? schema.apiVersions[0]
    : apiVersionOf(row.group);
}

const label = (row: PolicyKind) => `${sampleApiVersion(row)} ${row.kind}`;

/** Specs that make a sample do what its reading is about. */
const SAMPLE_SPECS: Partial<Record<ModelReading, Record<string, unknown>>> = {
  'felix-configuration': { iptablesFilterDenyAction: 'Reject' },
  route: { parentRefs: [{ kind: 'Service', name: 'web' }] },
};

function sample(row: PolicyKind, extra: Record<string, unknown> = {}): Manifest {
  const object = {
    apiVersion: sampleApiVersion(row),
    kind: row.kind,
    metadata: { name: 'sample', ...(row.namespaced ? { namespace: 'tenant-b' } : {}) },
    ...(SAMPLE_SPECS[row.model] ? { spec: SAMPLE_SPECS[row.model] } : {}),
    ...extra,
  };
  const [m] = toManifests(stringify(object), 'sample.yaml');
  if (!m) throw new Error('no manifest');
  return m;
}

/** Where the model's inventory puts an object of each reading. */
const LANDS_IN: Readonly<Record<ModelReading, keyof Inventory | 'nothing'>> = {
  'network-policy': 'networkPolicies',
  'calico-policy': 'calicoPolicies',
  'calico-tier': 'calicoTiers',
  'calico-network-set': 'calicoNetworkSets',
  'cluster-network-policy': 'clusterNetworkPolicies',
  'peer-authentication': 'peerAuthentications',
  'authorization-policy': 'authorizationPolicies',
  'request-authentication': 'requestAuthentications',
  rbac: 'rbac',
  'reference-grant': 'referenceGrants',
  'felix-configuration': 'rejectInsteadOfDrop',
  'cluster-labels': 'nothing',
  'host-endpoint': 'unmodeled',
  'envoy-filter': 'unmodeled',
  'wasm-plugin': 'unmodeled',
  sidecar: 'unmodeled',
  'client-routing': 'unmodeled',
  route: 'unmodeled',
  'admin-network-policy': 'unmodeled',
  'unmodeled-calico': 'unmodeled',
  'unmodeled-istio': 'unmodeled',
  unmodeled: 'unmodeled',
  inert: 'nothing',
};

/** What is in an inventory, by bucket. */
function landings(inv: Inventory): string[] {
  return Object.entries(inv).flatMap(([bucket, v]) =>
    (Array.isArray(v) && v.length > 0) || v === true ? [bucket] : [],
  );
}

const TOPOLOGY = `  tenants:
    - name: a
      workloads: [{ name: web, serviceAccount: web, ports: [{ port: 8080, name: http }] }]
    - name: b
      workloads: [{ name: web, serviceAccount: web, ports: [{ port: 8080, name: http }] }]
  attempts:
    - { id: meshed, kind: http, from: tenant-a/probe, to: tenant-b/web, port: 8080 }
    - { id: plain, kind: http, from: tenant-a/probe-nosidecar, to: tenant-b/web, port: 8080 }
`;

/** For each reading that compiles into a layer: a policy of that kind that denies an attempt. */
const DENYING: Readonly<Record<string, { attempt: string; spec: Record<string, unknown> }>> = {
  'networking.k8s.io/v1 NetworkPolicy': {
    attempt: 'meshed',
    spec: { podSelector: {}, policyTypes: ['Ingress'] },
  },
  'projectcalico.org/v3 NetworkPolicy': {
    attempt: 'meshed',
    spec: { selector: 'all()', types: ['Ingress'] },
  },
  'projectcalico.org/v3 GlobalNetworkPolicy': {
    attempt: 'meshed',
    spec: { namespaceSelector: "projectcalico.org/name == 'tenant-b'", types: ['Ingress'] },
  },
  'policy.networking.k8s.io/v1alpha2 ClusterNetworkPolicy': {
    attempt: 'meshed',
    spec: {
      tier: 'Admin',
      priority: 10,
      subject: { namespaces: { matchLabels: { 'kubernetes.io/metadata.name': 'tenant-b' } } },
      ingress: [{ action: 'Deny', from: [{ namespaces: {} }] }],
    },
  },
  'security.istio.io/v1 PeerAuthentication': { attempt: 'plain', spec: { mtls: { mode: 'STRICT' } } },
  'security.istio.io/v1 AuthorizationPolicy': { attempt: 'meshed', spec: {} },
};
/** The readings whose objects are policies that allow or deny on their own. */
const DECIDING: readonly ModelReading[] = [
  'network-policy',
  'calico-policy',
  'cluster-network-policy',
  'peer-authentication',
  'authorization-policy',
];

/** The layer a prediction names for an ablatable layer: ClusterNetworkPolicy is enforced in the network. */
const predictedLayer = (layer: string) => (layer === 'cluster-network' ? 'network' : layer);

describe('policies: the table of policy kinds', () => {
  let scenario: Scenario;
  before(async () => {
    scenario = await load(HEAD + TOPOLOGY);
  });

  it('has one row per API group and kind, each group one of API_GROUPS, the groups disjoint', () => {
    const groups: readonly ApiGroup[] = Object.values(API_GROUPS);
    const keys = POLICY_KINDS.map(label);
    expect(new Set(keys).size, 'duplicate rows').to.equal(keys.length);
    for (const row of POLICY_KINDS) {
      expect(groups, label(row)).to.include(row.group);
      expect(policyKind(sampleApiVersion(row), row.kind), label(row)).to.equal(row);
    }
    for (const group of groups) {
      for (const v of group.apiVersions.map((a) => (a.endsWith('/*') ? `${a.slice(0, -2)}/v9` : a))) {
        expect(apiGroupOf(v), v).to.equal(group);
      }
    }
  });

  it('claims only the layers --ablate knows, each of them', () => {
    const claimed = new Set([
      ...POLICY_KINDS.map((r) => r.layer),
      ...Object.values(API_GROUPS).map((g: ApiGroup) => g.otherKinds.layer),
    ]);
    claimed.delete(undefined);
    expect([...claimed].sort()).to.deep.equal([...ABLATABLE_LAYERS].sort());
  });

  it("puts a sample of every row where its reading says, and gives it the row's layer", () => {
    for (const row of POLICY_KINDS) {
      const m = sample(row);
      const where = LANDS_IN[row.model];
      expect(landings(inventory([m], 'istio-system', 'cluster.local')), label(row)).to.deep.equal(
        where === 'nothing' ? [] : [where],
      );
      expect(layerOf(m), label(row)).to.equal(row.layer);
    }
  });

  it('reads the kinds of a known group without a row as the group says', () => {
    const cases: [string, string, string[]][] = [
      ['projectcalico.org/v3', 'BlockAffinity', ['unmodeled']],
      ['security.istio.io/v1', 'Whatever', ['unmodeled']],
      ['rbac.authorization.k8s.io/v1', 'Whatever', ['rbac']],
      ['gateway.networking.k8s.io/v1', 'FancyRoute', ['unmodeled']],
      ['v1', 'PersistentVolumeClaim', ['unmodeled']],
      ['example.com/v1', 'NetworkPolicy', ['unmodeled']],
    ];
    for (const [apiVersion, kind, expected] of cases) {
      const object = {
        apiVersion,
        kind,
        metadata: { name: 'x', namespace: 'tenant-b' },
        spec: SAMPLE_SPECS.route,
      };
      const inv = inventory(toManifests(stringify(object), 'x.yaml'), 'istio-system', 'cluster.local');
      expect(landings(inv), `${apiVersion} ${kind}`).to.deep.equal(expected);
    }
    expect(readingOf('projectcalico.org/v3', 'BlockAffinity')).to.deep.equal({
      model: 'unmodeled-calico',
      layer: 'network',
    });
    expect(readingOf('example.com/v1', 'NetworkPolicy')).to.deep.equal({ model: 'unmodeled' });
  });

  it("denies in the row's layer, and not once that layer is ablated, for every kind that decides", () => {
    const deciding = POLICY_KINDS.filter((r) => DECIDING.includes(r.model));
    expect(deciding.length).to.be.greaterThan(4);
    for (const row of deciding) {
      const key = label(row);
      const denying = DENYING[key];
      expect(denying, `a denying sample for ${key} in DENYING`).to.not.equal(undefined);
      if (!denying || !row.layer) throw new Error(`${key} decides but has no layer`);
      const attempt = scenario.attempts.find((a) => a.id === denying.attempt);
      if (!attempt) throw new Error(`no attempt ${denying.attempt}`);
      const input = { ...scenario, manifests: [sample(row, { spec: denying.spec })] };
      const full = new PolicyModel(input).predict(attempt);
      expect(full.layer, key).to.equal(predictedLayer(row.layer));
      expect(full.outcome, key).to.not.equal('allowed');
      expect(new PolicyModel(input, { without: [row.layer] }).predict(attempt).outcome, key).to.equal(
        'allowed',
      );
      const others = ABLATABLE_LAYERS.filter((l) => l !== row.layer);
      expect(new PolicyModel(input, { without: others }).predict(attempt), key).to.deep.equal(full);
    }
  });

  it('takes the labels of the cluster-labels rows into the cluster model', () => {
    const labelled = (kind: string) => {
      const row = POLICY_KINDS.find((r) => r.kind === kind && r.group === API_GROUPS.core);
      if (!row) throw new Error(`no row ${kind}`);
      expect(row.model).to.equal('cluster-labels');
      return sample(row, { metadata: { name: 'tenant-b', namespace: 'tenant-b', labels: { team: 'x' } } });
    };
    const model = new PolicyModel({
      ...scenario,
      manifests: [labelled('Namespace'), labelled('ServiceAccount')],
    });
    expect(model.cluster.namespaces.get('tenant-b')?.labels.team).to.equal('x');
    expect(model.cluster.serviceAccountLabels.get('tenant-b/tenant-b')?.team).to.equal('x');
  });

  it('checks the schema of exactly the rows naming one, in the apiVersions they name', () => {
    for (const row of POLICY_KINDS) {
      const m = sample(row);
      const status = validateManifest(m).status;
      if (row.schema === undefined) {
        expect(status, label(row)).to.equal('unknown-kind');
        expect(schemaFor(sampleApiVersion(row), row.kind), label(row)).to.equal(undefined);
        continue;
      }
      expect(status, label(row)).to.not.equal('unknown-kind');
      const versions =
        'apiVersions' in row.schema
          ? (row.schema.apiVersions ?? row.group.apiVersions)
          : row.group.apiVersions;
      for (const v of versions)
        expect(schemaFor(v, row.kind), `${v} ${row.kind}`).to.equal(row.schema.validator);
      for (const v of row.group.apiVersions.filter((a) => !versions.includes(a) && !a.endsWith('/*'))) {
        expect(schemaFor(v, row.kind), `${v} ${row.kind}`).to.equal(undefined);
      }
    }
  });

  it('reports a misspelt spec field in the rows with a field list', () => {
    const listed = POLICY_KINDS.filter((r) => r.knownFields !== undefined);
    expect(listed.map(label)).to.have.length(4);
    for (const row of listed) {
      expect(row.schema, label(row)).to.not.equal(undefined);
      const result = validateManifest(sample(row, { spec: { selectr: {} } }));
      const problems = result.status === 'invalid' ? result.problems.map((p) => p.message) : [];
      expect(problems.join('\n'), label(row)).to.contain("unknown field 'selectr'");
    }
  });

  it('names every shipped Calico CRD in the row of its kind, with its scope', () => {
    const dir = here('../../harness/policies/schemas/calico/');
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
    expect(files).to.have.length(4);
    for (const file of files) {
      const crd = parseAllDocuments(readFileSync(`${dir}${file}`, 'utf8'))[0]?.toJS() as {
        spec: { names: { kind: string }; scope: string };
      };
      const rows = POLICY_KINDS.filter((r) => r.schema?.validator === 'calico' && r.schema.crd === file);
      expect(
        rows.map((r) => r.kind),
        file,
      ).to.deep.equal([crd.spec.names.kind]);
      expect(rows[0]?.namespaced, file).to.equal(crd.spec.scope === 'Namespaced');
    }
  });

  it("gives every Calico row with a CRD in Calico's operator manifests that CRD's scope", () => {
    const text = readFileSync(here('../fixtures/calico-operator/operator-crds-v3.31.2.yaml'), 'utf8');
    const scopes = new Map<string, string>();
    for (const doc of parseAllDocuments(text)) {
      const crd = doc.toJS() as {
        kind?: string;
        spec?: { group?: string; names?: { kind?: string }; scope?: string };
      };
      if (crd.kind !== 'CustomResourceDefinition' || crd.spec?.group !== 'crd.projectcalico.org') continue;
      scopes.set(crd.spec.names?.kind ?? '', crd.spec.scope ?? '');
    }
    const checked = POLICY_KINDS.filter((r) => r.group === API_GROUPS.calico && scopes.has(r.kind));
    expect(checked.length).to.be.at.least(18);
    for (const row of checked) {
      expect(row.namespaced, row.kind).to.equal(scopes.get(row.kind) === 'Namespaced');
    }
  });

  it('warns about a missing namespace for exactly the rows that say so, all of them namespaced', () => {
    const warned = new Set<string>();
    for (const row of POLICY_KINDS) {
      const m = sample(row, { metadata: { name: 'sample' } });
      const found = lintManifests([m]).some((f) => f.rule === 'general/missing-namespace');
      expect(found, label(row)).to.equal(row.warnWithoutNamespace === true);
      if (found) {
        expect(row.namespaced, label(row)).to.equal(true);
        warned.add(row.kind);
      }
    }
    // Lint goes by the kind name: rows sharing one must agree.
    for (const row of POLICY_KINDS) {
      expect(warned.has(row.kind), label(row)).to.equal(row.warnWithoutNamespace === true);
    }
    expect([...warned].sort()).to.deep.equal([
      'AuthorizationPolicy',
      'DaemonSet',
      'Deployment',
      'EnvoyFilter',
      'NetworkPolicy',
      'PeerAuthentication',
      'Pod',
      'ReferenceGrant',
      'ReplicaSet',
      'RequestAuthentication',
      'Role',
      'RoleBinding',
      'Service',
      'ServiceAccount',
      'Sidecar',
      'StatefulSet',
    ]);
  });

  it('names lint rule families that exist, and every family written for a kind is named by a row', () => {
    const families = new Set(RULES.map((r) => r.id.split('/')[0]));
    const named = new Set(POLICY_KINDS.flatMap((r) => r.lint ?? []));
    for (const f of named) expect(families, `rule family ${f}`).to.include(f);
    const forEveryObject = ['schema', 'general'];
    expect(
      [...families].filter((f) => f !== undefined && !forEveryObject.includes(f) && !named.has(f)),
    ).to.deep.equal([]);
  });

  it('has a row, with a schema, for every kind the bundles and the article use', async () => {
    const shipped = await loadScenarioFile(`${repoRoot}scenarios/hard-isolation.yaml`);
    const manifests = [
      ...renderBuiltin('hard-isolation', shipped),
      ...renderBuiltin('article', shipped),
      ...(await readManifestPaths([here('fixtures/article')], repoRoot)),
    ];
    const kinds = new Set(manifests.map((m) => `${String(m.object.apiVersion)} ${String(m.object.kind)}`));
    expect(kinds.size).to.be.greaterThan(5);
    for (const k of kinds) {
      const [apiVersion = '', kind = ''] = k.split(' ');
      expect(policyKind(apiVersion, kind)?.schema, k).to.not.equal(undefined);
    }
  });
});
