import { expect } from 'chai';

import { K3S_IMAGES, k3sImageFor, k3sServerArgs } from '../../harness/cluster/k3s.js';
import {
  calicoBeforeClusterNetworkPolicy,
  checkVersionPlan,
  CNP_MIN_CALICO,
  DEFAULT_CALICO,
  DEFAULT_ISTIO,
  DEFAULT_KUBERNETES,
  minorOf,
  NODE_IMAGES,
  nodeImageFor,
  unsupportedPair,
} from '../../harness/cluster/versions.js';
import { compareVersions } from '../../harness/cluster/preflight.js';

const refusal = (plan: Parameters<typeof checkVersionPlan>[0]): string => {
  try {
    checkVersionPlan(plan);
    return '';
  } catch (error) {
    return (error as Error).message;
  }
};

describe('cluster: pinned versions and supported pairs', () => {
  it('pins every kind node image by a full digest of its own Kubernetes version', () => {
    for (const n of NODE_IMAGES) {
      expect(n.image).to.match(
        new RegExp(`^kindest/node:v${n.kubernetes.replaceAll('.', '\\.')}@sha256:[0-9a-f]{64}$`),
      );
    }
    for (const image of Object.values(K3S_IMAGES))
      expect(image).to.match(/^rancher\/k3s:v[\d.]+-k3s\d@sha256:[0-9a-f]{64}$/);
    expect(nodeImageFor('1.35.0').kindRelease).to.equal('v0.31.0');
    expect(nodeImageFor('v1.34').kubernetes).to.equal('1.34.0');
    expect(() => nodeImageFor('1.35.2')).to.throw(
      'no pinned kind node image for Kubernetes 1.35.2; use --kubernetes 1.34.0, 1.35.0, 1.36.1',
    );
  });

  it('the defaults are a supported combination', () => {
    expect(
      refusal({ kubernetes: DEFAULT_KUBERNETES, calico: DEFAULT_CALICO, istio: DEFAULT_ISTIO }),
    ).to.equal('');
    expect(nodeImageFor(DEFAULT_KUBERNETES).kubernetes).to.equal(DEFAULT_KUBERNETES);
    // Istio 1.29 reached end of life on 2026-08-31: the default is a 1.30 patch.
    expect(minorOf(DEFAULT_ISTIO)).to.equal('1.30');
  });

  it('refuses Istio/Kubernetes and Calico/Kubernetes pairs outside the support tables', () => {
    expect(refusal({ kubernetes: '1.36.1', calico: 'v3.32.1', istio: '1.29.3' })).to.equal(
      'Istio 1.29.3 does not support Kubernetes 1.36.1 (it supports 1.31–1.35); pick --kubernetes in that range or another --istio',
    );
    expect(refusal({ kubernetes: '1.36.1', calico: 'v3.32.1', istio: '1.30.4' })).to.equal('');
    expect(refusal({ kubernetes: '1.34.0', calico: 'v3.31.2', istio: '1.28.2' })).to.equal('');
    expect(refusal({ kubernetes: '1.36.1', calico: 'v3.31.2', istio: '1.30.4' })).to.equal(
      'Calico v3.31.2 was not tested with Kubernetes 1.36.1 (it supports 1.32–1.35); pick --kubernetes in that range or another --calico',
    );
    expect(refusal({ kubernetes: '1.35.0', calico: 'v3.31.2', istio: '1.26.0' })).to.match(
      /^Istio 1\.26\.0 is not a release bulkhead knows; use --istio with one of 1\.27, 1\.28, 1\.29, 1\.30/,
    );
    expect(refusal({ kubernetes: '1.35.0', calico: 'latest', istio: '1.29.3' })).to.equal(
      "'latest' is not a version like 1.29.3",
    );
  });

  it('refuses Calico v3.32.0, whose API server fails server-side apply of tiered policies with NotFound', () => {
    const why =
      'fails every server-side apply of a tiered policy with NotFound (projectcalico/calico#12841, fixed in v3.32.1); use --calico v3.32.1 or later';
    expect(refusal({ kubernetes: '1.35.0', calico: 'v3.32.0', istio: '1.29.3' })).to.equal(
      `Calico v3.32.0 ${why}`,
    );
    expect(unsupportedPair('Calico', '3.32.0', 'v1.35.0')).to.equal(`Calico 3.32.0 ${why}`);
    expect(refusal({ kubernetes: '1.35.0', calico: 'v3.32.1', istio: '1.29.3' })).to.equal('');
  });

  it('reads versions the way the tools print them', () => {
    expect(minorOf('v3.31.2')).to.equal('3.31');
    expect(minorOf('1.29.3-distroless')).to.equal('1.29');
    expect(minorOf('v1.35.0+k3s1')).to.equal('1.35');
    expect(compareVersions('v0.30.0', 'v0.31.0')).to.be.lessThan(0);
    expect(compareVersions('v0.32.0', 'v0.31.0')).to.be.greaterThan(0);
    expect(compareVersions('v0.31.0', '0.31.0')).to.equal(0);
  });

  it('k3s: flannel and the built-in network policy controller off, Calico pod subnet', () => {
    expect(k3sServerArgs()).to.deep.equal([
      'server',
      '--disable=traefik',
      '--flannel-backend=none',
      '--disable-network-policy',
      '--cluster-cidr=192.168.0.0/16',
    ]);
    expect(k3sImageFor('1.35.0')).to.contain('rancher/k3s:v1.35.0-k3s1@sha256:');
    expect(() => k3sImageFor('1.34.0')).to.throw(
      'no pinned k3s image for Kubernetes 1.34.0; use --kubernetes 1.35 or --provider kind',
    );
  });
});

describe('cluster: the Calico ClusterNetworkPolicy needs', () => {
  it('is v3.32.1: earlier releases do not enforce it, v3.32.0 is refused for its apply bug (facts B4.1, B4.3)', () => {
    expect(CNP_MIN_CALICO).to.equal('v3.32.1');
    for (const v of ['v3.31.2', 'v3.31.7', '3.32.0', 'v3.30.9', 'not-a-version'])
      expect(calicoBeforeClusterNetworkPolicy(v), v).to.equal(true);
    for (const v of ['v3.32.1', '3.32.2', 'v3.33.0', 'v4.0.0'])
      expect(calicoBeforeClusterNetworkPolicy(v), v).to.equal(false);
  });
});
