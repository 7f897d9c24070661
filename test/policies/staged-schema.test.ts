/**
 * Calico's staged kinds against the schemas derived from the kinds they preview
 * (harness/policies/staged-schema.ts; checked against projectcalico/calico v3.32.1
 * api/config/crd/projectcalico.org_staged*.yaml and api/pkg/apis/projectcalico/v3/staged*.go).
 */
import { expect } from 'chai';

import { formatProblem } from '../../harness/errors.js';
import { calicoSchema } from '../../harness/policies/calico-schema.js';
import { toManifests } from '../../harness/policies/documents.js';
import { schemaFor, validateManifest } from '../../harness/policies/schema-validate.js';
import { STAGED_ACTIONS, stagedCalicoSchema } from '../../harness/policies/staged-schema.js';

function problems(text: string): string[] {
  const [m] = toManifests(text, 'staged.yaml');
  if (!m) throw new Error('no manifest');
  const result = validateManifest(m);
  expect(result.status).to.not.equal('unknown-kind');
  return result.status === 'invalid' ? result.problems.map(formatProblem) : [];
}

const snp = (spec: string, apiVersion = 'projectcalico.org/v3') =>
  `apiVersion: ${apiVersion}\nkind: StagedNetworkPolicy\nmetadata: { name: p, namespace: tenant-a }\nspec:\n${spec}`;
const sgnp = (spec: string) =>
  `apiVersion: projectcalico.org/v3\nkind: StagedGlobalNetworkPolicy\nmetadata: { name: p }\nspec:\n${spec}`;
const sknp = (body: string) =>
  `apiVersion: projectcalico.org/v3\nkind: StagedKubernetesNetworkPolicy\nmetadata: { name: p, namespace: tenant-a }\n${body}`;

describe('policies: the schemas of Calico staged kinds', () => {
  it('covers the three kinds in both Calico apiVersions', () => {
    for (const kind of ['StagedNetworkPolicy', 'StagedGlobalNetworkPolicy', 'StagedKubernetesNetworkPolicy'])
      for (const v of ['projectcalico.org/v3', 'crd.projectcalico.org/v1'])
        expect(schemaFor(v, kind), `${v} ${kind}`).to.equal('staged');
  });

  it('derives StagedNetworkPolicy and StagedGlobalNetworkPolicy as the enforced CRD plus spec.stagedAction, nothing else (calico v3.32.1 CRDs)', () => {
    for (const kind of ['NetworkPolicy', 'GlobalNetworkPolicy']) {
      const enforced = calicoSchema(kind);
      if (!enforced) throw new Error(`no ${kind} schema`);
      const staged = stagedCalicoSchema(enforced) as {
        properties: { spec: { properties: Record<string, unknown> } };
      };
      expect(staged.properties.spec.properties.stagedAction).to.deep.equal({
        type: 'string',
        enum: ['Set', 'Delete', 'Learn', 'Ignore'],
      });
      delete staged.properties.spec.properties.stagedAction;
      expect(staged).to.deep.equal(enforced);
      // The enforced schema is not changed by the derivation.
      expect((enforced as typeof staged).properties.spec.properties).to.not.have.property('stagedAction');
    }
    expect(STAGED_ACTIONS).to.deep.equal(['Set', 'Delete', 'Learn', 'Ignore']);
  });

  it('accepts a StagedNetworkPolicy with every stagedAction, tier and order, in both apiVersions', () => {
    for (const action of STAGED_ACTIONS)
      expect(
        problems(
          snp(
            `  stagedAction: ${action}\n  tier: default\n  order: 10\n  selector: all()\n  types: [Ingress]\n`,
          ),
        ),
        action,
      ).to.deep.equal([]);
    expect(
      problems(snp('  selector: all()\n  types: [Ingress]\n', 'crd.projectcalico.org/v1')),
    ).to.deep.equal([]);
  });

  it('rejects what the staged CRDs reject: an unknown stagedAction, unknown fields, a bad action', () => {
    expect(problems(snp('  stagedAction: Preview\n  selector: all()\n'))).to.deep.equal([
      'staged.yaml:5:17: spec.stagedAction: StagedNetworkPolicy tenant-a/p: must be one of "Set", "Delete", "Learn", "Ignore"',
    ]);
    expect(problems(snp('  selectr: all()\n')).join('\n')).to.contain("unknown field 'selectr'");
    expect(problems(sgnp('  stagedAction: Set\n  ingress: [{ action: Allwo }]\n')).join('\n')).to.contain(
      'StagedGlobalNetworkPolicy p: must be one of',
    );
    expect(problems(sgnp('  stagedAction: Delete\n  namespaceSelector: all()\n'))).to.deep.equal([]);
  });

  it("checks StagedKubernetesNetworkPolicy as a NetworkPolicy spec plus stagedAction, with its CRD's differences", () => {
    expect(
      problems(
        sknp(
          'spec:\n  stagedAction: Set\n  podSelector: {}\n  policyTypes: [Ingress]\n  ingress: [{ from: [{ podSelector: {} }], ports: [{ port: 8080, protocol: TCP }] }]\n',
        ),
      ),
    ).to.deep.equal([]);
    // NetworkPolicy's own rules hold: an ipBlock needs its cidr.
    expect(
      problems(sknp('spec:\n  podSelector: {}\n  egress: [{ to: [{ ipBlock: {} }] }]\n')).join('\n'),
    ).to.contain("'cidr' is required");
    expect(problems(sknp('spec:\n  stagedAction: Later\n  podSelector: {}\n'))).to.deep.equal([
      'staged.yaml:5:17: spec.stagedAction: StagedKubernetesNetworkPolicy tenant-a/p: must be one of "Set", "Delete", "Learn", "Ignore"',
    ]);
    expect(problems(sknp('spec:\n  podSelectr: {}\n')).join('\n')).to.contain(
      "unknown field 'podSelectr' (did you mean 'podSelector'?)",
    );
    // +kubebuilder:validation:MinItems=1 / MaxItems=2 on policyTypes.
    expect(problems(sknp('spec:\n  podSelector: {}\n  policyTypes: []\n')).join('\n')).to.contain(
      'must NOT have fewer than 1 items',
    );
    expect(
      problems(sknp('spec:\n  podSelector: {}\n  policyTypes: [Ingress, Egress, Ingress]\n')).join('\n'),
    ).to.contain('must NOT have more than 2 items');
    // The CRD, generated from the Go types, has no enum on policyTypes items or port protocols.
    expect(
      problems(
        sknp(
          'spec:\n  podSelector: {}\n  policyTypes: [Sideways]\n  ingress: [{ ports: [{ protocol: ICMP }] }]\n',
        ),
      ),
    ).to.deep.equal([]);
    // metadata and spec are required; other top-level fields are not the CRD's.
    expect(problems(sknp('status: {}\n')).join('\n')).to.contain("'spec' is required");
    expect(problems(sknp('status: {}\n')).join('\n')).to.contain("unknown field 'status'");
  });
});
