/**
 * Waiting for a condition on a set of objects: list, then watch from that list's
 * resourceVersion, re-listing whenever the watch ends (servers close watches routinely). No
 * fixed sleeps: the condition is re-checked on every change.
 */
import type { KubernetesObject } from '@kubernetes/client-node';

import { EnvironmentError } from '../errors.js';
import type { KubeClient } from './client.js';
import { describeSelection } from './client.js';
import { KubeApiError } from './errors.js';
import type { Selection } from './objects.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, kubeWatch } from './request.js';

export interface WaitProps<T extends KubernetesObject> {
  readonly selection: Selection;
  /** Decides on the current objects; true ends the wait. */
  readonly until: (objects: readonly T[]) => boolean;
  /** The whole wait, every list and watch included, ends within this. */
  readonly timeoutMs: number;
  /** Says what is awaited, for the timeout message: "pods of tenant-acme Ready". */
  readonly description: string;
  /** Describes the last state seen, for the timeout message. */
  readonly describeState?: (objects: readonly T[]) => string;
  /** Ends the wait at once (Ctrl-C), list and watch requests included. */
  readonly signal?: AbortSignal;
}

/** A wait that ran out (or was stopped): an environment fault, exit 2, no stack. */
export class WaitTimeoutError extends EnvironmentError {
  override readonly name = 'WaitTimeoutError';
}

export async function waitFor<T extends KubernetesObject>(
  client: KubeClient,
  props: WaitProps<T>,
): Promise<T[]> {
  const deadline = Date.now() + props.timeoutMs;
  const path = await client.collectionPath(props.selection);
  const current = new Map<string, T>();
  const key = (o: KubernetesObject) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
  const target = describeSelection(props.selection);
  const query = {
    ...(props.selection.labelSelector ? { labelSelector: props.selection.labelSelector } : {}),
    ...(props.selection.fieldSelector ? { fieldSelector: props.selection.fieldSelector } : {}),
  };
  const aborted = () =>
    new WaitTimeoutError(`gave up waiting for ${props.description}: interrupted`, {
      hint: 'nothing to fix; run again',
    });
  // One controller ends whatever request is in flight: the overall deadline, the caller's signal, or "met".
  const timeout = AbortSignal.timeout(Math.max(1, props.timeoutMs));
  const stop = props.signal ? AbortSignal.any([timeout, props.signal]) : timeout;
  // A request cut short by the overall deadline ends the wait as a timeout, not as a request failure.
  const outOfTime = () => stop.aborted || Date.now() >= deadline - 100;

  while (!stop.aborted) {
    const remaining = Math.max(1, deadline - Date.now());
    let listed: { items?: T[]; metadata?: { resourceVersion?: string } };
    try {
      const response = await client.send({
        method: 'GET',
        path,
        query,
        verb: 'list',
        target,
        timeoutMs: Math.min(DEFAULT_REQUEST_TIMEOUT_MS, remaining),
        signal: stop,
      });
      listed = response.body as typeof listed;
    } catch (error) {
      if (props.signal?.aborted) throw aborted();
      if (error instanceof KubeApiError && error.code === 0 && outOfTime()) break;
      throw error;
    }
    current.clear();
    for (const item of listed.items ?? []) {
      // List items carry no apiVersion/kind on the wire.
      const object = {
        ...item,
        apiVersion: item.apiVersion ?? props.selection.apiVersion,
        kind: item.kind ?? props.selection.kind,
      };
      current.set(key(object), object);
    }
    if (props.until([...current.values()])) return [...current.values()];
    if (Date.now() >= deadline) break;

    const met = new AbortController();
    const watchSignal = AbortSignal.any([stop, met.signal]);
    const state = { done: false };
    try {
      await kubeWatch(client.kubeConfig, {
        path,
        query: {
          ...query,
          resourceVersion: listed.metadata?.resourceVersion ?? '',
          allowWatchBookmarks: 'true',
        },
        verb: 'watch',
        target,
        timeoutMs: Math.min(DEFAULT_REQUEST_TIMEOUT_MS, Math.max(1, deadline - Date.now())),
        signal: watchSignal,
        onEvent: (type, object) => {
          if (state.done) return;
          const o = object as T;
          if (type === 'ADDED' || type === 'MODIFIED') current.set(key(o), o);
          else if (type === 'DELETED') current.delete(key(o));
          else return; // BOOKMARK, ERROR (410 Gone: the next list starts afresh)
          if (props.until([...current.values()])) {
            state.done = true;
            met.abort();
          }
        },
      });
    } catch (error) {
      if (!state.done) {
        if (props.signal?.aborted) throw aborted();
        if (!(error instanceof KubeApiError && error.code === 0 && outOfTime())) throw error;
      }
    }
    if (state.done) return [...current.values()];
    // The server ended the watch (or the deadline came): re-list, which re-checks the deadline.
  }
  if (props.signal?.aborted) throw aborted();
  const state = props.describeState?.([...current.values()]) ?? `${current.size} object(s) seen`;
  throw new WaitTimeoutError(
    `timed out after ${props.timeoutMs} ms waiting for ${props.description} (${state})`,
    { hint: "see the pods' events (kubectl describe) for why; a slow cluster may need a longer timeout" },
  );
}
