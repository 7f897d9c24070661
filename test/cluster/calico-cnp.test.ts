/**
 * ClusterNetworkPolicy on Calico: from 3.32 the operator's CRDs carry its CRD (standard channel,
 * bundle v0.2.0: reference/ambient-cnp-facts.md B5.4), checked in the CRDs bulkhead applies rather
 * than installed a second time. Read against Calico v3.32.1's real operator-crds.yaml.
 */
import { readFileSync } from 'node:fs';

import type { KubernetesObject } from '@kubernetes/client-node';
import { expect } from 'chai';
import { parseAllDocuments } from 'yaml';

import { checkClusterNetworkPolicyCrd, CNP_CRD } from '../../harness/cluster/calico.js';
import { calicoHasClusterNetworkPolicy } from '../../harness/cluster/versions.js';

const CRDS = new URL('../../../shared/schemas/calico-operator/operator-crds-v3.32.1.yaml', import.meta.url);

function objects(): KubernetesObject[] {
  return parseAllDocuments(readFileSync(CRDS, 'utf8'))
    .map((d) => d.toJS() as KubernetesObject | null)
    .filter((o): o is KubernetesObject => o !== null);
}

describe('cluster: the ClusterNetworkPolicy CRD Calico installs', () => {
  it('is enforced from Calico 3.32 (3.32.0 itself is refused by the version check)', () => {
    expect(calicoHasClusterNetworkPolicy('v3.31.2')).to.equal(false);
    expect(calicoHasClusterNetworkPolicy('v3.32.1')).to.equal(true);
    expect(calicoHasClusterNetworkPolicy('3.33.0')).to.equal(true);
  });

  it("is among Calico v3.32.1's operator CRDs, standard channel, bundle v0.2.0, exactly once", () => {
    const all = objects();
    expect(all.filter((o) => o.metadata?.name === CNP_CRD.name)).to.have.length(1);
    expect(() => {
      checkClusterNetworkPolicyCrd('v3.32.1', all, 'operator-crds.yaml');
    }).to.not.throw();
  });

  it('stops the install in one sentence when the CRD is missing or in another channel', () => {
    const without = objects().filter((o) => o.metadata?.name !== CNP_CRD.name);
    expect(() => {
      checkClusterNetworkPolicyCrd('v3.32.1', without, 'operator-crds.yaml');
    }).to.throw(
      "Calico v3.32.1's operator-crds.yaml lacks clusternetworkpolicies.policy.networking.k8s.io; bulkhead expects bundle v0.2.0, channel standard",
    );
    const experimental = objects();
    const crd = experimental.find((o) => o.metadata?.name === CNP_CRD.name);
    const annotations = crd?.metadata?.annotations;
    if (!annotations) throw new Error('no CRD annotations');
    annotations['policy.networking.k8s.io/channel'] = 'experimental';
    expect(() => {
      checkClusterNetworkPolicyCrd('v3.32.1', experimental, 'operator-crds.yaml');
    }).to.throw('at bundle v0.2.0, channel experimental');
  });
});
