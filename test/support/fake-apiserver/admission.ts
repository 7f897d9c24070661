/**
 * The admission a pod meets on a cluster with Istio, as far as bulkhead can tell it apart:
 *
 * - Istio's sidecar injector for the default revision. Its four webhooks and their selectors are
 *   those of `istio-sidecar-injector` in Istio 1.29 (istio-discovery chart,
 *   templates/mutatingwebhook.yaml): `namespace.` (namespace `istio-injection=enabled`),
 *   `object.` (pod `sidecar.istio.io/inject=true` in a namespace with neither label),
 *   `rev.namespace.` (namespace `istio.io/rev=default`) and `rev.object.` (pod
 *   `istio.io/rev=default`); a pod labelled `sidecar.istio.io/inject=false` is never injected.
 *   The proxy is added as a native sidecar (an init container with `restartPolicy: Always`, the
 *   default for nodes ≥ 1.33), with its volumes and the `sidecar.istio.io/status` annotation.
 * - The ServiceAccount admission plugin: a pod that does not opt out of token automounting
 *   gets a projected `kube-api-access-<suffix>` volume mounted in every container.
 */
import { randomBytes } from 'node:crypto';

type Json = Record<string, unknown>;

interface PodLike {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: {
    automountServiceAccountToken?: boolean;
    containers?: Json[];
    initContainers?: Json[];
    volumes?: Json[];
  };
}

export const PROXY_IMAGE = 'docker.io/istio/proxyv2:1.29.3';

/** The injector's MutatingWebhookConfiguration, so clients can see which webhooks exist. */
export function sidecarInjectorWebhooks(): Json {
  const webhook = (name: string, namespaceSelector: Json, objectSelector: Json) => ({
    name,
    admissionReviewVersions: ['v1'],
    clientConfig: { service: { name: 'istiod', namespace: 'istio-system', path: '/inject', port: 443 } },
    failurePolicy: 'Fail',
    sideEffects: 'None',
    rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }],
    namespaceSelector,
    objectSelector,
  });
  const notFalse = {
    matchExpressions: [{ key: 'sidecar.istio.io/inject', operator: 'NotIn', values: ['false'] }],
  };
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: {
      name: 'istio-sidecar-injector',
      labels: { app: 'sidecar-injector', 'istio.io/rev': 'default' },
    },
    webhooks: [
      webhook(
        'rev.namespace.sidecar-injector.istio.io',
        {
          matchExpressions: [
            { key: 'istio.io/rev', operator: 'In', values: ['default'] },
            { key: 'istio-injection', operator: 'DoesNotExist' },
          ],
        },
        notFalse,
      ),
      webhook(
        'rev.object.sidecar-injector.istio.io',
        {
          matchExpressions: [
            { key: 'istio.io/rev', operator: 'DoesNotExist' },
            { key: 'istio-injection', operator: 'DoesNotExist' },
          ],
        },
        {
          matchExpressions: [
            { key: 'sidecar.istio.io/inject', operator: 'NotIn', values: ['false'] },
            { key: 'istio.io/rev', operator: 'In', values: ['default'] },
          ],
        },
      ),
      webhook(
        'namespace.sidecar-injector.istio.io',
        { matchLabels: { 'istio-injection': 'enabled' } },
        notFalse,
      ),
      webhook(
        'object.sidecar-injector.istio.io',
        {
          matchExpressions: [
            { key: 'istio-injection', operator: 'DoesNotExist' },
            { key: 'istio.io/rev', operator: 'DoesNotExist' },
          ],
        },
        {
          matchExpressions: [
            { key: 'sidecar.istio.io/inject', operator: 'In', values: ['true'] },
            { key: 'istio.io/rev', operator: 'DoesNotExist' },
          ],
        },
      ),
    ],
  };
}

/** Whether the default revision's injector takes this pod (the selectors above). */
export function injects(podLabels: Record<string, string>, namespaceLabels: Record<string, string>): boolean {
  const inject = podLabels['sidecar.istio.io/inject'];
  if (inject === 'false') return false;
  const nsInjection = namespaceLabels['istio-injection'];
  const nsRevision = namespaceLabels['istio.io/rev'];
  if (nsInjection === 'enabled') return true;
  if (nsInjection !== undefined) return false;
  if (nsRevision !== undefined) return nsRevision === 'default';
  return inject === 'true' || podLabels['istio.io/rev'] === 'default';
}

/** The pod after the sidecar injector (when it applies) and the ServiceAccount admission. */
export function admitPod(pod: Json, namespaceLabels: Record<string, string>, injector: boolean): Json {
  const p = structuredClone(pod) as PodLike & Json;
  const spec = (p.spec ??= {});
  if (injector && injects(p.metadata?.labels ?? {}, namespaceLabels)) {
    p.metadata = {
      ...p.metadata,
      annotations: {
        ...p.metadata?.annotations,
        'sidecar.istio.io/status': JSON.stringify({
          initContainers: ['istio-init', 'istio-proxy'],
          volumes: ['istio-envoy', 'istio-data'],
          revision: 'default',
        }),
      },
      labels: { ...p.metadata?.labels, 'security.istio.io/tlsMode': 'istio' },
    };
    spec.initContainers = [
      ...(spec.initContainers ?? []),
      { name: 'istio-init', image: PROXY_IMAGE, args: ['istio-iptables'] },
      { name: 'istio-proxy', image: PROXY_IMAGE, restartPolicy: 'Always', args: ['proxy', 'sidecar'] },
    ];
    spec.volumes = [
      ...(spec.volumes ?? []),
      { name: 'istio-envoy', emptyDir: { medium: 'Memory' } },
      { name: 'istio-data', emptyDir: {} },
    ];
  }
  if (spec.automountServiceAccountToken !== false) {
    const name = `kube-api-access-${randomBytes(3).toString('hex').slice(0, 5)}`;
    spec.volumes = [
      ...(spec.volumes ?? []),
      { name, projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } },
    ];
    const mount = { name, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true };
    spec.containers = (spec.containers ?? []).map((c) => ({
      ...c,
      volumeMounts: [...((c.volumeMounts as Json[] | undefined) ?? []), mount],
    }));
  }
  return p;
}
