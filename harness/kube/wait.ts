/**
 * Waiting for a condition on a set of objects: list, then watch from that list's
 * resourceVersion, re-listing whenever the watch ends (servers close watches routinely). No
 * fixed sleeps: the condition is re-checked on every change.
 */
import { Watch, type KubernetesObject } from '@kubernetes/client-node';

import type { KubeClient } from './client.js';
import { describeSelection } from './client.js';
import { kubeError } from './errors.js';
import type { Selection } from './objects.js';

export interface WaitProps<T extends KubernetesObject> {
  readonly selection: Selection;
  /** Decides on the current objects; true ends the wait. */
  readonly until: (objects: readonly T[]) => boolean;
  readonly timeoutMs: number;
  /** Says what is awaited, for the timeout message: "pods of tenant-acme Ready". */
  readonly description: string;
  /** Describes the last state seen, for the timeout message. */
  readonly describeState?: (objects: readonly T[]) => string;
  readonly signal?: AbortSignal;
}

export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
}

export async function waitFor<T extends KubernetesObject>(
  client: KubeClient,
  props: WaitProps<T>,
): Promise<T[]> {
  const deadline = Date.now() + props.timeoutMs;
  const path = await client.collectionPath(props.selection);
  const watch = new Watch(client.kubeConfig);
  const current = new Map<string, T>();
  const key = (o: KubernetesObject) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

  for (;;) {
    const { items, resourceVersion } = await client.list<T>(props.selection);
    current.clear();
    for (const item of items) current.set(key(item), item);
    if (props.until([...current.values()])) return [...current.values()];
    if (Date.now() >= deadline) break;

    const outcome = await new Promise<'met' | 'ended' | 'timeout' | 'aborted'>((resolve, reject) => {
      let controller: AbortController | undefined;
      let finished = false;
      const finish = (result: 'met' | 'ended' | 'timeout' | 'aborted') => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        props.signal?.removeEventListener('abort', onAbort);
        controller?.abort();
        resolve(result);
      };
      const timer = setTimeout(
        () => {
          finish('timeout');
        },
        Math.max(0, deadline - Date.now()),
      );
      const onAbort = () => {
        finish('aborted');
      };
      props.signal?.addEventListener('abort', onAbort);
      watch
        .watch(
          path,
          {
            resourceVersion,
            allowWatchBookmarks: true,
            ...(props.selection.labelSelector ? { labelSelector: props.selection.labelSelector } : {}),
            ...(props.selection.fieldSelector ? { fieldSelector: props.selection.fieldSelector } : {}),
          },
          (type: string, object: T) => {
            if (type === 'ADDED' || type === 'MODIFIED') current.set(key(object), object);
            else if (type === 'DELETED') current.delete(key(object));
            else return;
            if (props.until([...current.values()])) finish('met');
          },
          () => {
            finish('ended');
          },
        )
        .then((c) => {
          controller = c;
          if (finished) c.abort();
        })
        .catch((error: unknown) => {
          if (!finished) {
            finished = true;
            clearTimeout(timer);
            reject(kubeError(error, 'watch', describeSelection(props.selection)));
          }
        });
    });
    if (outcome === 'met') return [...current.values()];
    if (outcome === 'aborted')
      throw new WaitTimeoutError(`gave up waiting for ${props.description}: aborted`);
    if (outcome === 'timeout') break;
    // 'ended': the server closed the watch; re-list and watch again.
  }
  const state = props.describeState?.([...current.values()]) ?? `${current.size} object(s) seen`;
  throw new WaitTimeoutError(
    `timed out after ${props.timeoutMs} ms waiting for ${props.description} (${state})`,
  );
}
