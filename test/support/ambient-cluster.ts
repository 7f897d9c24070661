/**
 * The ambient data plane on the fake cluster, as far as a run reads it
 * (../../../shared/reference/ambient-cnp-facts.md A1.1, A2.1, A2.2, A2.4, A2.5):
 * - istio-cni and ztunnel DaemonSets rolled out in istio-system, and the Gateway API CRDs;
 * - {@link captureOnAdmit}: istio-cni's capture. A new pod that the enablement selectors take
 *   (namespace label `istio.io/dataplane-mode=ambient` and the pod not labelled `none`, or the pod
 *   labelled `ambient`) and that gets no sidecar is annotated `ambient.istio.io/redirection:
 *   enabled` when it is created (capture happens at CNI ADD, before the app starts: A2.3), unless
 *   the test says the pod stays uncaptured;
 * - {@link WaypointController}: istiod's waypoint controller. A Gateway of class `istio-waypoint`
 *   gets a Deployment of its name whose pods carry `gateway.networking.k8s.io/gateway-name`,
 *   `istio.io/dataplane-mode: none` and `sidecar.istio.io/inject: "false"` (waypoint.yaml:62-71),
 *   its status `Programmed=True`, and each Service that uses it (its own `istio.io/use-waypoint`
 *   label, else its namespace's) the condition `istio.io/WaypointBound=True` with reason
 *   `WaypointAccepted` (pilot/pkg/model/service.go:1287-1322).
 */
import { ambientDaemonSet } from '../cluster/support.js';
import type { FakeApiServer } from './fake-apiserver/server.js';
import { injects } from './fake-apiserver/admission.js';
import { gatewayApiCrds } from './gateway-api.js';

type Json = Record<string, unknown>;
interface Meta {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** istio-cni and ztunnel rolled out on `nodes` nodes, and the Gateway API CRDs (v1.5.1 standard). */
export function putAmbientDataPlane(server: FakeApiServer, nodes = 1): void {
  for (const name of ['istio-cni-node', 'ztunnel'])
    server.put(ambientDaemonSet(name, { desired: nodes, updated: nodes, available: nodes }));
  for (const crd of gatewayApiCrds()) server.put(crd);
}

/**
 * An `admit` hook for the fake API server that captures pods as istio-cni would (see the header).
 * `server` is read late: the hook is made before the server exists.
 */
export function captureOnAdmit(
  server: () => FakeApiServer | undefined,
  options: {
    readonly uncaptured?: (pod: { namespace: string; labels: Record<string, string> }) => boolean;
  } = {},
): (object: Json) => Json {
  return (object) => {
    if (object.kind !== 'Pod') return object;
    const meta = (object.metadata ?? {}) as Meta;
    const labels = meta.labels ?? {};
    const namespace = meta.namespace ?? '';
    const nsLabels = server()?.get('v1', 'Namespace', undefined, namespace)?.metadata.labels ?? {};
    const mode = labels['istio.io/dataplane-mode'];
    const enabled =
      mode === 'ambient' || (nsLabels['istio.io/dataplane-mode'] === 'ambient' && mode !== 'none');
    // A pod with a sidecar is never captured (A2.1, cni/pkg/util/podutil.go podHasSidecar).
    if (!enabled || injects(labels, nsLabels) || options.uncaptured?.({ namespace, labels })) return object;
    return {
      ...object,
      metadata: { ...meta, annotations: { ...meta.annotations, 'ambient.istio.io/redirection': 'enabled' } },
    };
  };
}

/** istiod's waypoint controller on the fake (see the header); `stop()` ends it. */
export class WaypointController {
  private readonly timer: NodeJS.Timeout;
  private readonly server: FakeApiServer;
  constructor(server: FakeApiServer) {
    this.server = server;
    this.timer = setInterval(() => {
      this.tick();
    }, 20);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    const gateways = this.server
      .list('gateway.networking.k8s.io/v1', 'Gateway')
      .filter(
        (g) => (g.spec as { gatewayClassName?: string } | undefined)?.gatewayClassName === 'istio-waypoint',
      );
    for (const g of gateways) {
      const { name } = g.metadata;
      const namespace = g.metadata.namespace ?? '';
      if (!this.server.get('apps/v1', 'Deployment', namespace, name)) {
        const labels = {
          'gateway.networking.k8s.io/gateway-name': name,
          'istio.io/dataplane-mode': 'none',
          'sidecar.istio.io/inject': 'false',
        };
        this.server.put({
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name, namespace, labels },
          spec: {
            replicas: 1,
            selector: { matchLabels: { 'gateway.networking.k8s.io/gateway-name': name } },
            template: {
              metadata: { labels },
              spec: { containers: [{ name: 'istio-proxy', image: 'docker.io/istio/proxyv2:1.29.3' }] },
            },
          },
        });
      }
      const conditions = (g.status as { conditions?: { type?: string }[] } | undefined)?.conditions ?? [];
      if (!conditions.some((c) => c.type === 'Programmed'))
        this.server.put({
          ...g,
          status: {
            conditions: [
              { type: 'Accepted', status: 'True', reason: 'Accepted' },
              { type: 'Programmed', status: 'True', reason: 'Programmed' },
            ],
          },
        });
    }
    for (const service of this.server.list('v1', 'Service')) {
      const namespace = service.metadata.namespace ?? '';
      const nsLabels = this.server.get('v1', 'Namespace', undefined, namespace)?.metadata.labels ?? {};
      const use = service.metadata.labels?.['istio.io/use-waypoint'] ?? nsLabels['istio.io/use-waypoint'];
      if (!use || use === 'none') continue;
      if (!gateways.some((g) => g.metadata.namespace === namespace && g.metadata.name === use)) continue;
      const conditions =
        (service.status as { conditions?: { type?: string }[] } | undefined)?.conditions ?? [];
      if (conditions.some((c) => c.type === 'istio.io/WaypointBound')) continue;
      this.server.put({
        ...service,
        status: {
          conditions: [
            {
              type: 'istio.io/WaypointBound',
              status: 'True',
              reason: 'WaypointAccepted',
              message: `Successfully attached to waypoint ${namespace}/${use}`,
            },
          ],
        },
      });
    }
  }
}
