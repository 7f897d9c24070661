import { expect } from 'chai';

import { plan } from './support.js';

const ATTEMPTS = `- { id: a, kind: dns, from: tenant-a/probe-nosidecar, query: { name: web.tenant-b.svc.cluster.local } }
- { id: srv, kind: dns, from: tenant-a/probe-nosidecar, query: { name: _http._tcp.web.tenant-b.svc.cluster.local, type: SRV } }
- { id: srv-missing, kind: dns, from: tenant-a/probe-nosidecar, query: { name: _grpc._tcp.web.tenant-b.svc.cluster.local, type: SRV } }
- { id: srv-svc, kind: dns, from: tenant-a/probe-nosidecar, query: { name: web.tenant-b.svc.cluster.local, type: SRV } }
- { id: missing, kind: dns, from: tenant-a/probe-nosidecar, query: { name: nope.tenant-b.svc.cluster.local } }
- { id: no-ns, kind: dns, from: tenant-a/probe-nosidecar, query: { name: web.tenant-z.svc.cluster.local } }
- { id: aaaa, kind: dns, from: tenant-a/probe-nosidecar, query: { name: web.tenant-b.svc.cluster.local, type: AAAA } }
- { id: short, kind: dns, from: tenant-a/probe-nosidecar, query: { name: web.tenant-b } }
- { id: external, kind: dns, from: tenant-a/probe-nosidecar, query: { name: example.com } }
- { id: api-default, kind: api, from: tenant-a/web, request: { verb: list, resource: secrets, namespace: tenant-b } }
- { id: api-self, kind: api, from: tenant-a/web, request: { verb: create, resource: selfsubjectaccessreviews, group: authorization.k8s.io } }
- { id: api-own, kind: api, from: tenant-a/web, request: { verb: list, resource: pods, namespace: tenant-a } }
- { id: api-notoken, kind: api, from: tenant-a/notoken, request: { verb: list, resource: pods, namespace: tenant-a } }
`;

const TOPOLOGY = `  tenants:
    - name: a
      injection: false
      workloads:
        - { name: web, serviceAccount: web, ports: [{ port: 8080, name: http }] }
        - { name: notoken, automountToken: false, ports: [8080] }
    - name: b
      injection: false
      workloads:
        - { name: web, ports: [{ port: 8080, name: http }] }
`;

async function run(policies = '') {
  return (await plan(policies, ATTEMPTS, { topology: TOPOLOGY })).p;
}

describe('model: cluster DNS', () => {
  it('resolves Services of every namespace: DNS is not a tenant boundary', async () => {
    const p = await run();
    expect(p('a')).to.include({ outcome: 'resolved', layer: 'dns' });
    expect(p('srv').outcome).to.equal('resolved');
    expect(p('srv-svc').outcome).to.equal('resolved');
  });

  it('answers NXDOMAIN for missing Services, namespaces and port names, and for AAAA of an IPv4 Service', async () => {
    const p = await run();
    for (const id of ['missing', 'no-ns', 'srv-missing', 'aaaa', 'short'])
      expect(p(id).outcome, id).to.not.equal('resolved');
    expect(p('missing').outcome).to.equal('nxdomain');
    expect(p('no-ns').outcome).to.equal('nxdomain');
    expect(p('srv-missing').outcome).to.equal('nxdomain');
    expect(p('aaaa').outcome).to.equal('nxdomain');
  });

  it('does not guess names outside the cluster domain', async () => {
    const p = await run();
    expect(p('external')).to.include({ outcome: 'unknown', layer: 'dns' });
    expect(p('short').outcome).to.equal('unknown'); // asked as written: upstream
  });

  it('times out (denied-l4) when egress to the resolver is blocked', async () => {
    const p = await run(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: default-deny-all, namespace: tenant-a }
spec: { podSelector: {}, policyTypes: [Ingress, Egress] }
`);
    expect(p('a')).to.include({ outcome: 'denied-l4', layer: 'network' });
    expect(p('a').reasons.join('\n')).to.contain('tenant-a/default-deny-all (Egress)');
    expect(p('a').reasons.join('\n')).to.contain('kube-system/coredns');
  });
});

describe('model: Kubernetes API with the pod token', () => {
  it('forbids a tenant service account everything but discovery and self reviews', async () => {
    const p = await run();
    expect(p('api-default')).to.include({ outcome: 'api-forbidden', layer: 'api' });
    expect(p('api-default').reasons.join('\n')).to.contain('system:serviceaccount:tenant-a:web');
    expect(p('api-self').outcome).to.equal('api-allowed');
    expect(p('api-notoken').outcome).to.equal('api-forbidden');
  });

  it('applies RoleBindings and ClusterRoleBindings from the manifests', async () => {
    const rbac = `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: pod-reader, namespace: tenant-a }
rules: [{ apiGroups: [""], resources: [pods], verbs: [get, list] }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: web-reads-pods, namespace: tenant-a }
subjects: [{ kind: ServiceAccount, name: web, namespace: tenant-a }]
roleRef: { kind: Role, name: pod-reader, apiGroup: rbac.authorization.k8s.io }
`;
    const p = await run(rbac);
    expect(p('api-own').outcome).to.equal('api-allowed');
    expect(p('api-own').reasons.join('\n')).to.contain('tenant-a/web-reads-pods');
    expect(p('api-default').outcome).to.equal('api-forbidden');
    const admin = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: oops }
subjects: [{ kind: Group, name: system:serviceaccounts }]
roleRef: { kind: ClusterRole, name: cluster-admin, apiGroup: rbac.authorization.k8s.io }
`;
    expect((await run(admin))('api-default').outcome).to.equal('api-allowed');
    const unknownRole = admin.replace('cluster-admin', 'some-aggregate');
    expect((await run(unknownRole))('api-default').outcome).to.equal('unknown');
  });
});
