import { expect } from 'chai';

import { http, plan, tcp } from './support.js';

const ATTEMPTS =
  http('meshed', 'tenant-a/probe', 'tenant-b/web') +
  http('plain', 'tenant-a/probe-nosidecar', 'tenant-b/web') +
  tcp('plain-tcp', 'tenant-a/probe-nosidecar', 'tenant-b/web') +
  http('plain-own', 'tenant-a/probe-nosidecar', 'tenant-a/web');

const pa = (name: string, ns: string, spec: string, extraMeta = '') =>
  `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: ${name}, namespace: ${ns}${extraMeta} }\nspec: ${spec}\n---\n`;

describe('model: Istio PeerAuthentication', () => {
  it('defaults to PERMISSIVE: plaintext from a sidecar-free pod is accepted', async () => {
    const { p } = await plan('', ATTEMPTS);
    expect(p('plain').outcome).to.equal('allowed');
    expect(p('plain').reasons.join('\n')).to.contain('PERMISSIVE');
  });

  it('resets plaintext under a mesh-wide STRICT policy in the root namespace, not sidecar clients', async () => {
    const { p } = await plan(pa('default', 'istio-system', '{ mtls: { mode: STRICT } }'), ATTEMPTS);
    expect(p('plain')).to.include({ outcome: 'reset', layer: 'mtls' });
    expect(p('plain-tcp').outcome).to.equal('reset');
    expect(p('meshed').outcome).to.equal('allowed');
    expect(p('plain').reasons.join('\n')).to.contain('istio-system/default');
  });

  it('treats istio-system as an ordinary namespace when the mesh root is elsewhere', async () => {
    const { p } = await plan(pa('default', 'istio-system', '{ mtls: { mode: STRICT } }'), ATTEMPTS, {
      extraSpec: '  meshRootNamespace: mesh-root\n',
    });
    expect(p('plain').outcome).to.equal('allowed');
  });

  it('lets a namespace policy override the mesh, and a workload port-level mode override both', async () => {
    const policies =
      pa('default', 'istio-system', '{ mtls: { mode: STRICT } }') +
      pa('default', 'tenant-a', '{ mtls: { mode: PERMISSIVE } }') +
      pa(
        'web-port',
        'tenant-b',
        '{ selector: { matchLabels: { app: web } }, mtls: { mode: STRICT }, portLevelMtls: { 8080: { mode: DISABLE } } }',
      );
    const { p } = await plan(policies, ATTEMPTS);
    expect(p('plain-own').outcome).to.equal('allowed');
    expect(p('plain').outcome).to.equal('allowed'); // port 8080 DISABLE
    expect(p('plain-tcp').outcome).to.equal('reset'); // port 9000 STRICT from the workload policy
    expect(p('plain').reasons.join('\n')).to.contain('DISABLE on port 8080');
  });

  it('ignores workload-selector policies in the root namespace', async () => {
    const { p } = await plan(
      pa('web', 'istio-system', '{ selector: { matchLabels: { app: web } }, mtls: { mode: STRICT } }'),
      ATTEMPTS,
    );
    expect(p('plain').outcome).to.equal('allowed');
  });

  it('keeps only the oldest namespace-level policy', async () => {
    const policies =
      pa(
        'zz-strict',
        'tenant-b',
        '{ mtls: { mode: STRICT } }',
        ', creationTimestamp: "2026-01-01T00:00:00Z"',
      ) +
      pa(
        'aa-permissive',
        'tenant-b',
        '{ mtls: { mode: PERMISSIVE } }',
        ', creationTimestamp: "2026-02-01T00:00:00Z"',
      );
    const { p } = await plan(policies, ATTEMPTS);
    expect(p('plain').outcome).to.equal('reset');
    expect(p('plain').reasons.join('\n')).to.contain('tenant-b/aa-permissive ignored');
  });

  it('says unknown when apply order and name disagree on which of two conflicting policies is oldest', async () => {
    const policies =
      pa('zz', 'tenant-b', '{ mtls: { mode: STRICT } }') +
      pa('aa', 'tenant-b', '{ mtls: { mode: PERMISSIVE } }');
    const { p } = await plan(policies, ATTEMPTS);
    expect(p('plain')).to.include({ outcome: 'unknown', layer: 'mtls' });
  });

  it('inherits the namespace mode for UNSET and rejects portLevelMtls without a selector', async () => {
    const unset =
      pa('default', 'tenant-b', '{ mtls: { mode: STRICT } }') +
      pa('w', 'tenant-b', '{ selector: { matchLabels: { app: web } }, mtls: { mode: UNSET } }');
    expect((await plan(unset, ATTEMPTS)).p('plain').outcome).to.equal('reset');
    const bad = pa('default', 'tenant-b', '{ portLevelMtls: { 8080: { mode: STRICT } } }');
    expect((await plan(bad, ATTEMPTS)).p('plain').outcome).to.equal('unknown');
  });
});
