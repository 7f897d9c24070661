/**
 * lint stays near-linear in the number of manifests: the per-namespace and per-tenant questions
 * its rules ask are answered from indexes built once (harness/lint/indexes.ts), not by scanning
 * every manifest each time. `npm run bench:lint` measures the whole path on 20,000 manifests.
 */
import { expect } from 'chai';

import { lintManifests } from '../../harness/lint/index.js';
import type { Manifest } from '../../harness/scenario/types.js';
import { parseYaml } from '../../harness/yaml-source.js';

/** Eight objects per tenant namespace, as a hard-isolation bundle has them, some with findings. */
function tenant(t: number): string {
  const ns = `tenant-t${t}`;
  return `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: default-deny-all, namespace: ${ns} }
spec: { podSelector: {}, policyTypes: [Ingress, Egress] }
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: allow-same-namespace, namespace: ${ns} }
spec: { podSelector: {}, policyTypes: [Ingress, Egress], ingress: [{ from: [{ podSelector: {} }] }], egress: [{ to: [{ podSelector: {} }] }] }
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: tenant-isolation.t${t} }
spec: { tier: tenant-isolation, namespaceSelector: "projectcalico.org/name == '${ns}'", types: [Egress], egress: [{ action: Deny, destination: { namespaceSelector: "tenant != 't${t}'" } }] }
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: ${ns} }
spec: { mtls: { mode: STRICT } }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-other-namespaces, namespace: ${ns} }
spec: { action: DENY, rules: [{ from: [{ source: { notNamespaces: [${ns}] } }] }] }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: api-gateway, namespace: ${ns} }
spec: { selector: { matchLabels: { app: api-gateway } }, rules: [{ from: [{ source: { principals: ["cluster.local/ns/${ns}/sa/web"] } }], when: [{ key: "request.headers[x-tenant]", values: [t${t}] }] }] }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: api-gateway, namespace: ${ns} }
spec: { selector: { matchLabels: { app: api-gateway } }, template: { metadata: { labels: { app: api-gateway } }, spec: { containers: [{ name: app, image: x }] } } }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: default, namespace: ${ns} }
automountServiceAccountToken: false
`;
}

function manifests(tenants: number): Manifest[] {
  const out: Manifest[] = [];
  for (let t = 0; t < tenants; t++) {
    const parsed = parseYaml(tenant(t), `t${t}.yaml`);
    if (!parsed.ok) throw new Error(parsed.problems[0]?.message);
    for (const source of parsed.documents) {
      out.push({
        object: source.value() as Record<string, unknown>,
        file: `t${t}.yaml`,
        line: source.start().line,
        source,
      });
    }
  }
  return out;
}

describe('lint at scale', function () {
  this.timeout(60_000);

  it('lints 8,000 manifests in seconds, with the findings 1,000 of them give, per tenant', () => {
    const smallManifests = manifests(125);
    const smallStarted = performance.now();
    const small = lintManifests(smallManifests);
    const smallMs = performance.now() - smallStarted;
    const big = manifests(1_000);
    expect(big).to.have.length(8_000);
    const started = performance.now();
    const findings = lintManifests(big);
    const ms = performance.now() - started;
    // Eight times the manifests, about eight times the time: scanning every manifest per
    // namespace grew with the square (7 s here against well under one with the indexes). Measured
    // against the small run in the same process, so a loaded runner slows both alike; the small
    // run also pays the warm-up, which only loosens the bound. Quadratic growth would be 64×.
    expect(ms).to.be.below(smallMs * 8 * 3 + 500);
    // The same findings per tenant at either size: nothing was lost to the indexes.
    const perTenant = (fs: readonly { rule: string; file: string }[]) => {
      const rules = new Map<string, string[]>();
      for (const f of fs) rules.set(f.file, [...(rules.get(f.file) ?? []), f.rule]);
      return new Set([...rules.values()].map((r) => r.join(',')));
    };
    expect(findings.length).to.equal(small.length * 8);
    expect([...perTenant(findings)]).to.deep.equal([...perTenant(small)]);
    expect(small.length).to.be.greaterThan(125);
  });
});
