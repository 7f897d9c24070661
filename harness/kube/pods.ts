/** Pod diagnostics for evidence: container logs (istio-proxy included) and events. */
import { CoreV1Api, type CoreV1Event, type KubeConfig, type V1Pod } from '@kubernetes/client-node';

import { isNotFound, kubeError } from './errors.js';

export async function podLogs(
  kubeConfig: KubeConfig,
  props: { namespace: string; pod: string; container: string; tailLines?: number },
): Promise<string> {
  try {
    return await kubeConfig.makeApiClient(CoreV1Api).readNamespacedPodLog({
      namespace: props.namespace,
      name: props.pod,
      container: props.container,
      ...(props.tailLines === undefined ? {} : { tailLines: props.tailLines }),
    });
  } catch (error) {
    throw kubeError(error, 'logs', `pod ${props.namespace}/${props.pod} (container ${props.container})`);
  }
}

/** Events about one object, oldest first. */
export async function eventsFor(
  kubeConfig: KubeConfig,
  props: { namespace: string; kind: string; name: string },
): Promise<CoreV1Event[]> {
  try {
    const list = await kubeConfig.makeApiClient(CoreV1Api).listNamespacedEvent({
      namespace: props.namespace,
      fieldSelector: `involvedObject.kind=${props.kind},involvedObject.name=${props.name}`,
    });
    return [...list.items].sort((a, b) => timeOf(a) - timeOf(b));
  } catch (error) {
    throw kubeError(error, 'list', `events of ${props.kind} ${props.namespace}/${props.name}`);
  }
}

function timeOf(e: CoreV1Event): number {
  const t = e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp;
  return t ? new Date(t).getTime() : 0;
}

export function isPodReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** Reads a pod through the typed core API; undefined when it does not exist. */
export async function readPod(
  kubeConfig: KubeConfig,
  namespace: string,
  name: string,
): Promise<V1Pod | undefined> {
  try {
    return await kubeConfig.makeApiClient(CoreV1Api).readNamespacedPod({ namespace, name });
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw kubeError(error, 'get', `pod ${namespace}/${name}`);
  }
}
