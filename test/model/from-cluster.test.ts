/**
 * `plan --from-cluster`: the cluster's own policies, read read-only from the fake API server
 * (which serves list calls and discovery like the real one, 404 for a group it does not serve),
 * predicted with the scenario's; the objects that decided are named, and a cluster policy that
 * flips an expectation is reported on stderr.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { KubeClient } from '../../harness/kube/index.js';
import { readClusterPolicies } from '../../harness/policies/cluster-policies.js';
import { runCli } from '../support/cli.js';
import { crd } from '../support/existing-cluster.js';
import { FakeApiServer } from '../support/fake-apiserver/server.js';
import { HEAD } from '../support/scenarios.js';
import { http, indent, TOPOLOGY } from './support.js';

const ATTEMPTS =
  http('b-a', 'tenant-b/web', 'tenant-a/web', 'expect: allowed') +
  http('a-a', 'tenant-a/probe', 'tenant-a/web', 'expect: allowed');

describe('plan --from-cluster', () => {
  let api: FakeApiServer;
  let dir: string;
  before(async () => {
    api = await new FakeApiServer({ kubernetesVersion: 'v1.34.2' }).start();
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-from-cluster-'));
    await writeFile(path.join(dir, 'kubeconfig'), api.kubeConfig().exportConfig());
    await writeFile(path.join(dir, 's.yaml'), `${HEAD}${TOPOLOGY}  attempts:\n${indent(ATTEMPTS, 4)}\n`);
  });
  after(async () => {
    await api.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('reads nothing but is no error on a cluster without Calico, CNP or Istio CRDs', async () => {
    const client = new KubeClient({ kubeConfig: api.kubeConfig() });
    const read = await readClusterPolicies({
      client,
      namespaces: ['tenant-a'],
      meshRootNamespace: 'istio-system',
    });
    expect(read.manifests).to.deep.equal([]);
    expect(read.absent).to.include('policy.networking.k8s.io/v1alpha2 ClusterNetworkPolicy');
    expect(read.absent).to.include('projectcalico.org/v3 Tier');
    expect(read.absent).to.include('security.istio.io/v1 AuthorizationPolicy');
    expect(read.absent).to.not.include('networking.k8s.io/v1 NetworkPolicy');
    const r = await runCli(['plan', '-f', 's.yaml', '--from-cluster', '--kubeconfig', 'kubeconfig'], dir);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.contain('from the cluster: 0 policy objects (not served:');
  });

  it('predicts with a foreign ClusterNetworkPolicy and NetworkPolicy, names them, and warns of the flip', async () => {
    api.put(crd('policy.networking.k8s.io', 'v1alpha2', 'ClusterNetworkPolicy', 'clusternetworkpolicies'));
    api.put({
      apiVersion: 'policy.networking.k8s.io/v1alpha2',
      kind: 'ClusterNetworkPolicy',
      metadata: { name: 'platform-isolation' },
      spec: {
        tier: 'Admin',
        priority: 5,
        subject: { namespaces: { matchLabels: { 'kubernetes.io/metadata.name': 'tenant-a' } } },
        ingress: [
          {
            name: 'no-b',
            action: 'Deny',
            from: [{ namespaces: { matchLabels: { 'kubernetes.io/metadata.name': 'tenant-b' } } }],
          },
        ],
      },
    });
    // A NetworkPolicy in a namespace the scenario does not use is not read.
    api.put({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'elsewhere', namespace: 'other' },
      spec: { podSelector: {}, policyTypes: ['Ingress'] },
    });
    const r = await runCli(
      ['plan', '-f', 's.yaml', '--from-cluster', '--kubeconfig', 'kubeconfig', '-o', 'json'],
      dir,
    );
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain('from the cluster: 1 policy object');
    expect(r.stderr).to.contain(
      "warning: the cluster's cluster:ClusterNetworkPolicy/platform-isolation flips b-a: allowed with the scenario's policies alone, denied-l4 with the cluster's",
    );
    const doc = JSON.parse(r.stdout) as {
      attempts: { id: string; decidedByCluster?: string[]; agrees: boolean }[];
    };
    const ba = doc.attempts.find((a) => a.id === 'b-a');
    expect(ba?.decidedByCluster).to.deep.equal(['cluster:ClusterNetworkPolicy/platform-isolation']);
    expect(doc.attempts.find((a) => a.id === 'a-a')?.agrees).to.equal(true);
    // Read only: the fake saw list and discovery calls, nothing that writes.
    expect(api.requests.filter((q) => q.method !== 'GET')).to.deep.equal([]);
  });
});
