import { expect } from 'chai';

import { plan, TOPOLOGY } from './support.js';

const ATTEMPTS = `- { id: kubelet, kind: tcp, from: tenant-a/probe-nosidecar, to: { node: own }, port: 10250 }
- { id: ssh, kind: tcp, from: tenant-a/probe-nosidecar, to: { node: own }, port: 22 }
- { id: kubelet-meshed, kind: tcp, from: tenant-a/probe, to: { node: own }, port: 10250 }
- { id: metadata, kind: http, from: tenant-a/probe-nosidecar, to: { address: 169.254.169.254 }, port: 80 }
- { id: metadata-v6, kind: http, from: tenant-a/probe-nosidecar, to: { address: 'fd00:ec2::254' }, port: 80 }
- { id: outside, kind: http, from: tenant-a/probe-nosidecar, to: { address: 203.0.113.10 }, port: 443 }
- { id: outside-80, kind: http, from: tenant-a/probe-nosidecar, to: { address: 203.0.113.10 }, port: 80 }
- { id: internet, kind: http, from: tenant-a/probe-nosidecar, to: { internet: true }, port: 80 }
- { id: pod-ip, kind: http, from: tenant-a/probe-nosidecar, to: { podIp: tenant-b/web }, port: 8080 }
- { id: pod-ip-meshed, kind: http, from: tenant-a/probe, to: { podIp: tenant-b/web }, port: 8080 }
- { id: service-meshed, kind: http, from: tenant-a/probe, to: tenant-b/web, port: 8080 }
`;

/** tenant-a may reach DNS and istiod, and 203.0.113.0/24 on 443 only. */
const EGRESS_A = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: egress, namespace: tenant-a }
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
    - to: [{ namespaceSelector: {} }]
    - to: [{ ipBlock: { cidr: 203.0.113.0/24 } }]
      ports: [{ port: 443, protocol: TCP }]
---
`;

const STRICT = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: istio-system }
spec: { mtls: { mode: STRICT } }
---
`;

describe('model: attempts beyond the Services', () => {
  it('applies a pod egress policy to its node, the metadata address and outside addresses', async () => {
    const { p } = await plan(EGRESS_A, ATTEMPTS);
    for (const id of ['kubelet', 'ssh', 'metadata', 'metadata-v6', 'outside-80', 'internet']) {
      expect(p(id), id).to.include({ outcome: 'denied-l4', layer: 'network' });
    }
    expect(p('kubelet').reasons.join('\n')).to.contain('tenant-a/egress');
    // The ipBlock lets 203.0.113.10:443 through; what answers out there is not the model's to say.
    expect(p('outside')).to.include({ outcome: 'unknown', layer: 'none' });
    expect(p('outside').reasons.at(-1)).to.match(/depends on the world outside the cluster/);
  });

  it('with no policy: the kubelet answers; SSH and the metadata service depend on the node and the cloud', async () => {
    const { p } = await plan('', ATTEMPTS);
    expect(p('kubelet')).to.include({ outcome: 'allowed', layer: 'none' });
    expect(p('ssh').outcome).to.equal('unknown');
    expect(p('ssh').reasons.at(-1)).to.match(/node image/);
    expect(p('metadata').outcome).to.equal('unknown');
    expect(p('metadata').reasons.at(-1)).to.match(/depends on the cloud/);
  });

  it('says unknown behind a sidecar, which passes outside traffic through (ALLOW_ANY) and hides the drop', async () => {
    const { p } = await plan(EGRESS_A, ATTEMPTS);
    expect(p('kubelet-meshed')).to.include({ outcome: 'unknown', layer: 'network' });
    expect(p('kubelet-meshed').reasons.at(-1)).to.match(/ALLOW_ANY.*fact O7/);
  });

  it('matches a node address by ipBlock: the node range is a fact of the cluster', async () => {
    const allowNode = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: to-nodes, namespace: tenant-a }
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
    - to: [{ namespaceSelector: {} }]
    - to: [{ ipBlock: { cidr: 172.18.0.0/16 } }]
      ports: [{ port: 10250 }]
---
`;
    const { p } = await plan(allowNode, ATTEMPTS);
    expect(p('kubelet').outcome).to.equal('allowed');
    expect(p('ssh').outcome).to.equal('denied-l4');
  });

  it('by pod IP: the client sidecar sends plaintext, so STRICT resets what the Service path lets through', async () => {
    const { p } = await plan(STRICT, ATTEMPTS);
    expect(p('service-meshed').outcome).to.equal('allowed');
    expect(p('pod-ip-meshed')).to.include({ outcome: 'reset', layer: 'mtls' });
    expect(p('pod-ip-meshed').reasons[0]).to.match(/passes it through as plaintext \(fact O5\)/);
    expect(p('pod-ip')).to.include({ outcome: 'reset', layer: 'mtls' });
  });

  it('by pod IP: the network drops it as it drops the Service path', async () => {
    const deny = `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: deny, namespace: tenant-b }\nspec: { podSelector: {}, policyTypes: [Ingress] }\n---\n`;
    const { p } = await plan(deny, ATTEMPTS);
    expect(p('pod-ip')).to.include({ outcome: 'denied-l4', layer: 'network' });
    expect(p('pod-ip-meshed')).to.include({ outcome: 'denied-l4', layer: 'network' });
  });
});

describe('model: node ports', () => {
  const topology = TOPOLOGY.replace(
    '- name: b\n      workloads:\n        - { name: web,',
    '- name: b\n      workloads:\n        - { name: web, nodePort: true,',
  );
  const NODE_PORT = `- { id: np, kind: tcp, from: tenant-a/probe-nosidecar, to: { nodePort: tenant-b/web }, port: 8080 }
- { id: np-meshed, kind: tcp, from: tenant-a/probe, to: { nodePort: tenant-b/web }, port: 8080 }
`;
  const OWN_NAMESPACE = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: egress, namespace: tenant-a }
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
    - to: [{ podSelector: {} }, { namespaceSelector: { matchExpressions: [{ key: tenant, operator: DoesNotExist }] } }]
---
`;
  const INGRESS_B = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: deny, namespace: tenant-b }
spec: { podSelector: {}, policyTypes: [Ingress] }
---
`;

  it("applies the source's egress policy to the backend pod after the node's DNAT", async () => {
    expect(topology).to.not.equal(TOPOLOGY);
    const { p } = await plan(OWN_NAMESPACE, NODE_PORT, { topology });
    expect(p('np')).to.include({ outcome: 'denied-l4', layer: 'network' });
    expect(p('np').reasons[0]).to.match(
      /node port of tenant-b\/web:8080.*tenant-b\/web:8080.*after that DNAT \(fact A3\)/,
    );
    expect(p('np').reasons.join('\n')).to.contain('tenant-a/egress');
  });

  it('says unknown where only the backend ingress would hold: what it sees of node port traffic is not in the facts', async () => {
    for (const policies of ['', INGRESS_B]) {
      const { p } = await plan(policies, NODE_PORT, { topology });
      expect(p('np'), policies).to.include({ outcome: 'unknown', layer: 'none' });
      expect(p('np').reasons.at(-1)).to.match(/ingress policy.*not in the reference facts/);
    }
  });

  it('says unknown behind a sidecar, which passes a node address through and hides the drop', async () => {
    const { p } = await plan(OWN_NAMESPACE, NODE_PORT, { topology });
    expect(p('np-meshed')).to.include({ outcome: 'unknown', layer: 'network' });
    expect(p('np-meshed').reasons.at(-1)).to.match(/ALLOW_ANY.*fact O7/);
  });
});
