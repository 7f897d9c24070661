import { expect } from 'chai';

import { PolicyModel } from '../../harness/model/index.js';
import { expectation } from '../../harness/scenario/outcomes.js';
import type { HttpAttempt, Namespace, Origin, Workload } from '../../harness/scenario/types.js';

const at: Origin = { file: 't', line: 1, column: 1, path: '' };

function workload(namespace: string, name: string, sidecar: boolean): Workload {
  return {
    name,
    namespace,
    labels: { app: name },
    serviceAccount: name,
    sidecar,
    ports: [{ port: 8080, protocol: 'TCP', name: 'http' }],
    automountToken: true,
    probe: false,
    origin: at,
  };
}

function attempt(from: Workload, to: Workload, path = '/'): HttpAttempt {
  return {
    id: `${from.name}->${to.name}`,
    kind: 'http',
    category: 'cross-tenant',
    from: { namespace: from.namespace, name: from.name },
    to: { namespace: to.namespace, name: to.name },
    port: { port: 8080, protocol: 'TCP', name: 'http' },
    http: { method: 'GET', path, headers: {} },
    expect: expectation(['auto']),
    timeoutMs: 1000,
    origin: at,
  };
}

describe('model: the evaluator as a library, with plain Kubernetes objects', () => {
  const namespaces: Namespace[] = ['tenant-a', 'tenant-b'].map((name) => ({
    name,
    labels: { tenant: name.slice(-1) },
    injection: true,
    tenant: name.slice(-1),
    origin: at,
  }));
  const a = workload('tenant-a', 'client', true);
  const b = workload('tenant-b', 'server', true);
  const legacy = workload('tenant-a', 'legacy', false);

  it('predicts from objects without files, naming them by position', () => {
    const model = new PolicyModel({
      namespaces,
      workloads: [a, b, legacy],
      meshRootNamespace: 'istio-system',
      trustDomain: 'cluster.local',
      manifests: [
        {
          apiVersion: 'security.istio.io/v1',
          kind: 'PeerAuthentication',
          metadata: { name: 'default', namespace: 'istio-system' },
          spec: { mtls: { mode: 'STRICT' } },
        },
        {
          apiVersion: 'security.istio.io/v1',
          kind: 'AuthorizationPolicy',
          metadata: { name: 'only-a', namespace: 'tenant-b' },
          spec: { rules: [{ from: [{ source: { principals: ['cluster.local/ns/tenant-a/sa/client'] } }] }] },
        },
      ],
    });
    expect(model.predict(attempt(a, b))).to.include({ outcome: 'allowed', layer: 'none' });
    expect(model.predict(attempt(legacy, b))).to.include({ outcome: 'reset', layer: 'mtls' });
    const other = model.predict(attempt(b, b));
    expect(other).to.include({ outcome: 'denied-l7', layer: 'authorization' });
    expect(other.reasons.join('\n')).to.contain('tenant-b/only-a (policies:2)');
  });

  it('takes the cluster facts it is given', () => {
    const egress = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'to-10', namespace: 'tenant-a' },
      spec: {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8' } }] }],
      },
    };
    const input = {
      namespaces,
      workloads: [legacy, b],
      meshRootNamespace: 'istio-system',
      trustDomain: 'cluster.local',
      manifests: [egress],
    };
    // Default pod network 192.168.0.0/16: outside 10/8.
    expect(new PolicyModel(input).predict(attempt(legacy, b)).outcome).to.equal('denied-l4');
    const inside = new PolicyModel({ ...input, facts: { podCidrs: ['10.244.0.0/16'] } });
    expect(inside.predict(attempt(legacy, b)).outcome).to.equal('allowed');
  });
});
