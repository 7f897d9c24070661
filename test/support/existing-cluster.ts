/**
 * What an existing cluster that `bulkhead run --provider existing` accepts has, put into the fake
 * API server as an admin would have installed it: Calico's operator Installation (its version in
 * the status), Calico's API server (projectcalico.org/v3, served here as CRDs; a real cluster
 * serves it from an aggregated API server, which discovery shows the same way), and istiod.
 */
import type { FakeApiServer } from './fake-apiserver/server.js';

/** A CRD the fake API server serves `kind` of, in `group/version`. */
export function crd(
  group: string,
  version: string,
  kind: string,
  plural: string,
  scope: 'Cluster' | 'Namespaced' = 'Cluster',
): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${group}` },
    spec: {
      group,
      names: { kind, plural },
      scope,
      versions: [{ name: version, served: true, storage: true }],
    },
  };
}

/** The operator's Installation `default`, reporting `version` (as `kubectl get installation` shows). */
export function putCalicoInstallation(server: FakeApiServer, version = 'v3.31.2'): void {
  server.put(crd('operator.tigera.io', 'v1', 'Installation', 'installations'));
  server.put({
    apiVersion: 'operator.tigera.io/v1',
    kind: 'Installation',
    metadata: { name: 'default' },
    status: { calicoVersion: version },
  });
}

/** projectcalico.org/v3 with the kinds bulkhead's policies use. */
export function putCalicoApiServer(server: FakeApiServer): void {
  server.put(crd('projectcalico.org', 'v3', 'Tier', 'tiers'));
  server.put(crd('projectcalico.org', 'v3', 'GlobalNetworkPolicy', 'globalnetworkpolicies'));
}

/** The istiod Deployment in istio-system, running `version`, labelled as the istio-discovery chart labels it. */
export function putIstiod(server: FakeApiServer, version = '1.29.3'): void {
  server.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-system' } });
  server.put({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'istiod', namespace: 'istio-system' },
    spec: {
      selector: { matchLabels: { app: 'istiod', 'istio.io/rev': 'default' } },
      template: {
        metadata: {
          labels: {
            app: 'istiod',
            'istio.io/rev': 'default',
            istio: 'pilot',
            'sidecar.istio.io/inject': 'false',
          },
        },
        spec: { containers: [{ name: 'discovery', image: `docker.io/istio/pilot:${version}` }] },
      },
    },
  });
}

/** Everything above: a cluster whose checks pass (with the fake server's default Kubernetes v1.35.0). */
export function putReadyCluster(server: FakeApiServer): void {
  putCalicoInstallation(server);
  putCalicoApiServer(server);
  putIstiod(server);
}
