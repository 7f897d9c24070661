/**
 * ClusterNetworkPolicy manifests against the CRD network-policy-api v0.2.0 released (standard
 * channel, the one Calico v3.32 installs: reference/ambient-cnp-facts.md B5.4), shipped byte for
 * byte from ../shared/schemas/network-policy-api/, with its two CEL rules evaluated.
 */
import { readFileSync } from 'node:fs';

import { expect } from 'chai';

import { formatProblem } from '../../harness/errors.js';
import { OTHER_CRDS } from '../../harness/policies/calico-schema.js';
import { toManifests } from '../../harness/policies/documents.js';
import { schemaFor, validateManifest } from '../../harness/policies/schema-validate.js';

const SHARED = new URL('../../../shared/schemas/', import.meta.url);
const PACKAGED = new URL('../../harness/policies/schemas/', import.meta.url);

function problems(spec: string): string[] {
  const text = `apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: { name: c }\nspec:\n${spec}`;
  const [m] = toManifests(text, 'cnp.yaml');
  if (!m) throw new Error('no manifest');
  const result = validateManifest(m);
  expect(result.status).to.not.equal('unknown-kind');
  return result.status === 'invalid' ? result.problems.map(formatProblem) : [];
}

const VALID = `  tier: Admin
  priority: 10
  subject: { namespaces: { matchLabels: { tenant: a } } }
  ingress:
    - name: from-b
      action: Deny
      from: [{ namespaces: { matchLabels: { tenant: b } } }]
      protocols:
        - tcp: { destinationPort: { number: 8080 } }
        - udp: { destinationPort: { range: { start: 5000, end: 6000 } } }
        - destinationNamedPort: http
  egress:
    - action: Accept
      to: [{ networks: [10.0.0.0/8, "fd00::/8"] }]
`;

describe('policies: ClusterNetworkPolicy schema', () => {
  it('is checked by the shipped CRD, identical to the released one', () => {
    expect(schemaFor('policy.networking.k8s.io/v1alpha2', 'ClusterNetworkPolicy')).to.equal('crd');
    const file = OTHER_CRDS.ClusterNetworkPolicy ?? '';
    expect(file).to.equal('network-policy-api/policy.networking.k8s.io_clusternetworkpolicies.yaml');
    expect(readFileSync(new URL(file, PACKAGED), 'utf8')).to.equal(
      readFileSync(new URL(file, SHARED), 'utf8'),
    );
  });

  it('accepts a policy using subjects, peers, ports, ranges and named ports', () => {
    expect(problems(VALID)).to.deep.equal([]);
  });

  it('rejects an unknown tier, a priority out of range and a missing subject, at their lines', () => {
    expect(problems('  tier: Cluster\n  priority: 1001\n')).to.deep.equal([
      "cnp.yaml:5:3: spec.subject: ClusterNetworkPolicy c: 'subject' is required",
      'cnp.yaml:6:13: spec.priority: ClusterNetworkPolicy c: must be <= 1000',
      'cnp.yaml:5:9: spec.tier: ClusterNetworkPolicy c: must be one of "Admin", "Baseline"',
    ]);
  });

  it('rejects the experimental peers nodes and domainNames, which the standard channel lacks (B1.9)', () => {
    const out = problems(`  tier: Admin
  priority: 1
  subject: { namespaces: {} }
  egress:
    - action: Deny
      to: [{ nodes: { matchLabels: { a: b } } }]
`);
    expect(out.join('\n')).to.contain("unknown field 'nodes'");
  });

  it('evaluates the CEL rules: a range needs start < end, networks need CIDRs', () => {
    const out = problems(`  tier: Baseline
  priority: 1
  subject: { namespaces: {} }
  egress:
    - action: Deny
      to: [{ networks: [10.0.0.0/33, 10.1.0.0/16] }]
      protocols: [{ tcp: { destinationPort: { range: { start: 90, end: 80 } } } }]
`);
    expect(out).to.deep.equal([
      'cnp.yaml:11:54: spec.egress[0].protocols[0].tcp.destinationPort.range: ClusterNetworkPolicy c: Start port must be less than End port',
      'cnp.yaml:10:25: spec.egress[0].to[0].networks[0]: ClusterNetworkPolicy c: Invalid CIDR format provided',
    ]);
  });
});
