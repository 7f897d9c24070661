import { expect } from 'chai';

import { http, plan, tcp } from './support.js';

const ATTEMPTS =
  http('meshed', 'tenant-a/probe', 'tenant-b/web') +
  http('plain', 'tenant-a/probe-nosidecar', 'tenant-b/web') +
  tcp('plain-tcp', 'tenant-a/probe-nosidecar', 'tenant-b/web') +
  tcp('tcp-on-http', 'tenant-a/probe', 'tenant-b/web', 8080) +
  tcp('meshed-tcp', 'tenant-a/probe', 'tenant-b/web') +
  `- { id: udp, kind: udp, from: tenant-a/probe-nosidecar, to: tenant-b/web, port: 5353 }
- { id: dns, kind: dns, from: tenant-a/probe, query: { name: web.tenant-b.svc.cluster.local } }
`;

const denyIngressB = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: deny, namespace: tenant-b }
spec: { podSelector: {}, policyTypes: [Ingress] }
---
`;

describe('model: the evaluator across layers', () => {
  it('reports a network drop as denied-l4 for meshed and sidecar-free clients alike', async () => {
    const { p } = await plan(denyIngressB, ATTEMPTS);
    expect(p('meshed')).to.include({ outcome: 'denied-l4', layer: 'network' });
    expect(p('plain')).to.include({ outcome: 'denied-l4', layer: 'network' });
    expect(p('udp')).to.include({ outcome: 'denied-l4', layer: 'network' });
    // Behind its own sidecar a TCP probe cannot tell a drop from other closes: the reason says so.
    expect(p('meshed-tcp').outcome).to.equal('denied-l4');
    expect(p('meshed-tcp').reasons.join('\n')).to.contain('fact O7');
    expect(p('plain-tcp').reasons.join('\n')).to.not.contain('fact O7');
  });

  it('turns drops into refusals when Felix is set to Reject (except behind a client sidecar)', async () => {
    const felix = `apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata: { name: default }\nspec: { iptablesFilterDenyAction: Reject }\n---\n`;
    const { p } = await plan(felix + denyIngressB, ATTEMPTS);
    expect(p('plain').outcome).to.equal('refused');
    expect(p('meshed').outcome).to.equal('denied-l4');
  });

  it('does not put UDP through mTLS or authorization', async () => {
    const strict = `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: default, namespace: istio-system }\nspec: { mtls: { mode: STRICT } }\n---\n`;
    const { p } = await plan(strict, ATTEMPTS);
    expect(p('udp').outcome).to.equal('allowed');
    expect(p('plain').outcome).to.equal('reset');
  });

  it('says unknown when a sidecar cannot reach istiod (the pod never starts), naming the policy', async () => {
    const egress = `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: default-deny-all, namespace: tenant-a }\nspec: { podSelector: {}, policyTypes: [Egress] }\n`;
    const { p } = await plan(egress, ATTEMPTS);
    const r = p('meshed');
    expect(r).to.include({ outcome: 'unknown', layer: 'network' });
    expect(r.reasons.join('\n')).to.match(/istiod.*never becomes ready/);
    expect(r.reasons.join('\n')).to.contain('tenant-a/default-deny-all (Egress)');
    // The sidecar-free probe starts fine and is simply dropped.
    expect(p('plain').outcome).to.equal('denied-l4');
  });

  it('says unknown, naming the object, for mesh objects it does not evaluate', async () => {
    const filter = `apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: { name: lua, namespace: tenant-b }
spec:
  configPatches:
    - applyTo: HTTP_FILTER
      match: { context: SIDECAR_INBOUND }
      patch: { operation: INSERT_FIRST, value: { name: x } }
`;
    const { p } = await plan(filter, ATTEMPTS);
    expect(p('meshed')).to.include({ outcome: 'unknown', layer: 'authorization' });
    expect(p('meshed').reasons.join('\n')).to.contain('EnvoyFilter tenant-b/lua');

    const dr = `apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: web, namespace: tenant-b }\nspec: { host: web, trafficPolicy: { tls: { mode: DISABLE } } }\n`;
    const d = (await plan(dr, ATTEMPTS)).p;
    expect(d('meshed')).to.include({ outcome: 'unknown', layer: 'mtls' });
    expect(d('plain').outcome).to.equal('allowed'); // no client sidecar reads the DestinationRule

    const strange = `apiVersion: example.com/v1\nkind: Firewall\nmetadata: { name: f }\n`;
    expect((await plan(strange, ATTEMPTS)).p('plain').outcome).to.equal('unknown');
    const inert = `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: c, namespace: tenant-a }\ndata: {}\n`;
    expect((await plan(inert, ATTEMPTS)).p('plain').outcome).to.equal('allowed');
  });

  it('sees the labels the cluster adds: istio-injection on namespaces, Istio and fixture labels on pods', async () => {
    const onlyMeshed = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: meshed-only, namespace: tenant-b }
spec:
  podSelector: {}
  ingress:
    - from: [{ namespaceSelector: { matchLabels: { istio-injection: enabled } }, podSelector: { matchLabels: { security.istio.io/tlsMode: istio } } }]
`;
    const { p } = await plan(onlyMeshed, ATTEMPTS);
    expect(p('meshed').outcome).to.equal('allowed');
    expect(p('plain').outcome).to.equal('denied-l4');
  });

  it('does not guess what raw TCP does on a port Istio parses as HTTP', async () => {
    const { p } = await plan('', ATTEMPTS);
    expect(p('tcp-on-http').outcome).to.equal('unknown');
    expect(p('plain-tcp').outcome).to.equal('allowed');
  });
});

// Lua the interpreter cannot run (string.upper is outside its subset) but whose header names are
// literals: the evaluator tries every value the filter could leave.
describe('model: Lua header filters at the server', () => {
  const lua = (code: string) => `apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: { name: identity, namespace: tenant-b }
spec:
  configPatches:
    - applyTo: HTTP_FILTER
      match: { context: SIDECAR_INBOUND }
      patch:
        operation: INSERT_FIRST
        value:
          name: identity
          typed_config:
            '@type': type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua
            default_source_code:
              inline_string: |
${code
  .split('\n')
  .map((l) => `                ${l}`)
  .join('\n')}
---
`;
  const SETS = lua(
    'function envoy_on_request(handle)\n  handle:headers():remove("x-tenant-identity")\n  handle:headers():replace("x-tenant-identity", string.upper("x"))\nend',
  );
  const ATTEMPTS2 =
    http(
      'spoof',
      'tenant-a/probe',
      'tenant-b/web',
      'http: { method: POST, path: /ingest/tenant-b/logs, headers: { x-tenant-identity: cluster.local/ns/tenant-b/sa/web } }',
    ) +
    http('own-path', 'tenant-a/probe', 'tenant-b/web', 'http: { method: POST, path: /ingest/tenant-a/logs }');
  const policies = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ingest, namespace: tenant-b }
spec:
  rules:
    - from: [{ source: { namespaces: [tenant-a] } }]
      to: [{ operation: { methods: [POST], paths: ["/ingest/tenant-a/*"] } }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: foreign, namespace: tenant-b }
spec:
  action: DENY
  rules: [{ when: [{ key: "request.headers[x-tenant-identity]", values: ["cluster.local/ns/tenant-b/*"] }] }]
---
`;

  it('predicts when every value the filter could leave in the header gives the same verdict', async () => {
    const { p } = await plan(SETS + policies, ATTEMPTS2);
    expect(p('spoof')).to.include({ outcome: 'denied-l7', layer: 'authorization' });
    expect(p('spoof').reasons.join('\n')).to.contain('same answer for every value');
    expect(p('own-path').outcome).to.equal('allowed');
  });

  it('says unknown when the verdict depends on what the Lua code leaves in the header', async () => {
    const dependent = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: needs-identity, namespace: tenant-b }
spec:
  action: DENY
  rules: [{ when: [{ key: "request.headers[x-tenant-identity]", notValues: ["cluster.local/ns/tenant-a/*"] }] }]
---
`;
    const { p } = await plan(SETS + policies + dependent, ATTEMPTS2);
    expect(p('own-path')).to.include({ outcome: 'unknown', layer: 'authorization' });
    expect(p('own-path').reasons.join('\n')).to.contain('EnvoyFilter tenant-b/identity');
  });

  it('treats Lua that answers requests itself, or names headers dynamically, as opaque', async () => {
    for (const code of [
      'function envoy_on_request(handle)\n  handle:respond({[":status"] = "403"}, "no")\nend',
      'function envoy_on_request(handle)\n  local h = "x-a"\n  handle:headers():add(h, "v")\nend',
    ]) {
      const { p } = await plan(lua(code) + policies, ATTEMPTS2);
      expect(p('own-path').outcome, code).to.equal('unknown');
      expect(p('own-path').reasons.join('\n')).to.contain('patches the proxy');
    }
  });
});
