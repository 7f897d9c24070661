/**
 * Pod diagnostics for evidence: container logs (istio-proxy included), events, the pod itself.
 * Read as raw JSON through the {@link KubeClient}, so each call has its deadline and stops on the
 * client's abort signal. A KubeConfig alone is accepted too (a client with the default deadline).
 */
import type { CoreV1Event, KubeConfig, V1Pod } from '@kubernetes/client-node';

import { KubeClient } from './client.js';
import { isNotFound } from './errors.js';

type Api = KubeClient | KubeConfig;

function clientOf(api: Api): KubeClient {
  return api instanceof KubeClient ? api : new KubeClient({ kubeConfig: api });
}

function podPath(namespace: string, name: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`;
}

export async function podLogs(
  api: Api,
  props: { namespace: string; pod: string; container: string; tailLines?: number },
): Promise<string> {
  const response = await clientOf(api).send({
    method: 'GET',
    path: `${podPath(props.namespace, props.pod)}/log`,
    query: {
      container: props.container,
      ...(props.tailLines === undefined ? {} : { tailLines: String(props.tailLines) }),
    },
    verb: 'logs',
    target: `pod ${props.namespace}/${props.pod} (container ${props.container})`,
  });
  return typeof response.body === 'string' ? response.body : JSON.stringify(response.body);
}

/** Events about one object, oldest first. */
export async function eventsFor(
  api: Api,
  props: { namespace: string; kind: string; name: string },
): Promise<CoreV1Event[]> {
  const response = await clientOf(api).send({
    method: 'GET',
    path: `/api/v1/namespaces/${encodeURIComponent(props.namespace)}/events`,
    query: { fieldSelector: `involvedObject.kind=${props.kind},involvedObject.name=${props.name}` },
    verb: 'list',
    target: `events of ${props.kind} ${props.namespace}/${props.name}`,
  });
  const items = (response.body as { items?: CoreV1Event[] } | undefined)?.items ?? [];
  return [...items].sort((a, b) => timeOf(a) - timeOf(b));
}

function timeOf(e: CoreV1Event): number {
  // Raw JSON: timestamps are RFC 3339 strings (the typed models would say Date).
  const t = (e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp) as Date | string | undefined;
  return t ? new Date(t).getTime() : 0;
}

export function isPodReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** Reads a pod as the server stores it; undefined when it does not exist. */
export async function readPod(api: Api, namespace: string, name: string): Promise<V1Pod | undefined> {
  try {
    const response = await clientOf(api).send({
      method: 'GET',
      path: podPath(namespace, name),
      verb: 'get',
      target: `pod ${namespace}/${name}`,
    });
    return response.body as V1Pod;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}
