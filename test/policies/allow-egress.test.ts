/**
 * `builtin: hard-isolation` with `allowEgress`: one schema-valid NetworkPolicy per tenant namespace
 * that lets the named destinations through, and nothing else outside the cluster. The model reads
 * the rendered bundle back: the named destination is no longer dropped, everything else still is.
 */
import { expect } from 'chai';

import { formatProblem } from '../../harness/errors.js';
import { planAttempts } from '../../harness/model/plan.js';
import { renderPolicySources } from '../../harness/policies/render.js';
import { validateManifest } from '../../harness/policies/schema-validate.js';
import { HEAD, load } from '../support/scenarios.js';

const SCENARIO = `${HEAD}  tenants:
    - name: acme
      workloads: [{ name: api, ports: [{ port: 8080, name: http }] }]
    - name: globex
      workloads: [{ name: web, ports: [{ port: 8080, name: http }] }]
  policies:
    - builtin: hard-isolation
      allowEgress:
        - { cidr: 203.0.113.0/24, ports: [443] }
        - { cidr: '2001:db8::7' }
  generators:
    - kind: egress
      from: [tenant-acme/probe-nosidecar]
      to: [203.0.113.0/24, 198.51.100.7]
      port: 443
    - { kind: egress, from: [tenant-acme/probe-nosidecar], to: [203.0.113.0/24], port: 80 }
    - { kind: node, from: [tenant-acme/probe-nosidecar] }
    - { kind: metadata, from: [tenant-acme/probe-nosidecar] }
`;

describe('policies: hard-isolation allowEgress', () => {
  it('renders one schema-valid allow-named-egress NetworkPolicy per tenant namespace', async () => {
    const scenario = await load(SCENARIO);
    const manifests = renderPolicySources(scenario);
    const named = manifests.filter(
      (m) => (m.object.metadata as { name?: string } | undefined)?.name === 'allow-named-egress',
    );
    expect(named.map((m) => (m.object.metadata as { namespace?: string }).namespace)).to.deep.equal([
      'tenant-acme',
      'tenant-globex',
    ]);
    for (const m of named) {
      const result = validateManifest(m);
      const detail = result.status === 'invalid' ? result.problems.map(formatProblem).join('\n') : '';
      expect(result.status, detail).to.equal('valid');
    }
    expect(named[0]?.object.spec).to.deep.equal({
      podSelector: {},
      policyTypes: ['Egress'],
      egress: [
        { to: [{ ipBlock: { cidr: '203.0.113.0/24' } }], ports: [{ protocol: 'TCP', port: 443 }] },
        { to: [{ ipBlock: { cidr: '2001:db8::7/128' } }] },
      ],
    });
  });

  it('renders no such policy without allowEgress', async () => {
    const scenario = await load(SCENARIO.replace(/ {6}allowEgress:\n(.*\n){2}/, ''));
    expect(scenario.policies[0]).to.not.have.property('allowEgress');
    const names = renderPolicySources(scenario).map((m) => (m.object.metadata as { name?: string }).name);
    expect(names).to.not.include('allow-named-egress');
  });

  it('lets the model see the named destination through, and the node, metadata and others still dropped', async () => {
    const scenario = await load(SCENARIO);
    const planned = planAttempts(
      { ...scenario, manifests: renderPolicySources(scenario) },
      scenario.attempts,
    );
    const outcome = Object.fromEntries(planned.map((p) => [p.attempt.id, p.predicted.outcome]));
    expect(outcome).to.deep.equal({
      // Through the network; whether 203.0.113.1 answers is the world's business.
      'egress:tenant-acme/probe-nosidecar->203.0.113.0/24:443': 'unknown',
      'egress:tenant-acme/probe-nosidecar->198.51.100.7:443': 'denied-l4',
      'egress:tenant-acme/probe-nosidecar->203.0.113.0/24:80': 'denied-l4',
      'node:tenant-acme/probe-nosidecar->node:10250': 'denied-l4',
      'node:tenant-acme/probe-nosidecar->node:22': 'denied-l4',
      'metadata:tenant-acme/probe-nosidecar->169.254.169.254:80': 'denied-l4',
    });
  });
});
