/**
 * How an attempt's port is found on its target: a number matches number and protocol together,
 * and a number the target does not serve is a closed port (expect refused), which the fixtures
 * put on the target's Service and the model predicts.
 */
import { expect } from 'chai';

import { PolicyModel } from '../../harness/model/evaluate.js';
import { renderFixtures } from '../../harness/run/fixtures.js';
import { HEAD, load } from '../support/scenarios.js';

const TOPOLOGY = `  tenants:
    - name: a
      injection: false
      workloads:
        - { name: dns, ports: [{ port: 53, protocol: TCP, name: dns-tcp }, { port: 53, protocol: UDP, name: dns }] }
        - { name: web, ports: [{ port: 8080, name: http }] }
    - name: b
      workloads:
        - { name: web, ports: [{ port: 8080, name: http }] }
`;

async function scenario(attempts: string) {
  return load(`${HEAD}${TOPOLOGY}  attempts:\n${attempts}`);
}

describe('scenario: attempt ports', () => {
  it('a UDP attempt by number takes the UDP port even when the TCP port of that number is listed first', async () => {
    const s = await scenario(
      '    - { id: u, kind: udp, from: tenant-b/probe-nosidecar, to: tenant-a/dns, port: 53 }\n' +
        '    - { id: t, kind: tcp, from: tenant-b/probe-nosidecar, to: tenant-a/dns, port: 53 }\n',
    );
    const [u, t] = s.attempts;
    expect(u && 'port' in u ? u.port : undefined).to.deep.equal({ port: 53, protocol: 'UDP', name: 'dns' });
    expect(t && 'port' in t ? t.port : undefined).to.deep.equal({
      port: 53,
      protocol: 'TCP',
      name: 'dns-tcp',
    });
  });

  it('a port number the target does not serve is a closed port, put on its Service once', async () => {
    const s = await scenario(
      '    - { id: c, kind: http, from: tenant-b/probe-nosidecar, to: tenant-a/web, port: 9999, expect: refused }\n' +
        '    - { id: c2, kind: tcp, from: tenant-b/probe, to: tenant-a/web, port: 9999 }\n' +
        '    - { id: u, kind: udp, from: tenant-b/probe-nosidecar, to: tenant-a/web, port: 9999 }\n',
    );
    const [c] = s.attempts;
    expect(c && 'port' in c ? c.port : undefined).to.deep.equal({
      port: 9999,
      protocol: 'TCP',
      closed: true,
    });
    const objects = renderFixtures({ scenario: s, runId: 'r1', agentBundle: '' });
    const svc = objects.find(
      (o) => o.kind === 'Service' && o.metadata?.name === 'web' && o.metadata.namespace === 'tenant-a',
    ) as { spec: { ports: unknown[] } } | undefined;
    expect(svc?.spec.ports).to.deep.equal([
      { name: 'http', port: 8080, targetPort: 8080, protocol: 'TCP' },
      { name: 'x-tcp-9999', port: 9999, targetPort: 9999, protocol: 'TCP' },
      { name: 'x-udp-9999', port: 9999, targetPort: 9999, protocol: 'UDP' },
    ]);
    // The other tenant's Service has no closed ports.
    const other = objects.find(
      (o) => o.kind === 'Service' && o.metadata?.name === 'web' && o.metadata.namespace === 'tenant-b',
    ) as { spec: { ports: unknown[] } } | undefined;
    expect(other?.spec.ports).to.have.length(1);
  });

  it('predicts refused on a closed port where nothing drops it first, and the drop where a policy does', async () => {
    const s = await scenario(
      '    - { id: plain, kind: http, from: tenant-b/probe-nosidecar, to: tenant-a/web, port: 9999 }\n' +
        '    - { id: udp, kind: udp, from: tenant-b/probe-nosidecar, to: tenant-a/web, port: 9999 }\n' +
        '    - { id: meshed-http, kind: http, from: tenant-b/probe, to: tenant-a/web, port: 9999 }\n' +
        '    - { id: meshed-tcp, kind: tcp, from: tenant-b/probe, to: tenant-a/web, port: 9999 }\n' +
        '    - { id: open, kind: http, from: tenant-b/probe-nosidecar, to: tenant-a/web, port: 8080 }\n',
    );
    const by = (model: PolicyModel, id: string) => {
      const a = s.attempts.find((x) => x.id === id);
      if (!a) throw new Error(id);
      return model.predict(a);
    };
    const open = new PolicyModel({ ...s, manifests: [] });
    expect(by(open, 'plain')).to.include({ outcome: 'refused', layer: 'none' });
    expect(by(open, 'plain').reasons.join('\n')).to.contain('nothing listens on 9999/TCP');
    expect(by(open, 'udp').outcome).to.equal('refused');
    expect(by(open, 'meshed-http').outcome).to.equal('refused');
    // A raw TCP client behind its sidecar only sees the connection closed (fact O7).
    expect(by(open, 'meshed-tcp').outcome).to.equal('unknown');
    expect(by(open, 'open').outcome).to.equal('allowed');
    const denyAll = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'deny', namespace: 'tenant-a' },
      spec: { podSelector: {}, policyTypes: ['Ingress'] },
    };
    const closed = new PolicyModel({ ...s, manifests: [denyAll] });
    expect(by(closed, 'plain').outcome).to.equal('denied-l4');
  });
});
