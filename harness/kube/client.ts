/**
 * The thin layer over @kubernetes/client-node that the runner and the installers use: apply
 * (server-side, field manager `bulkhead`) for any kind including CRD-backed ones, read, list,
 * delete, delete by label. Every failure is a {@link KubeApiError} naming the verb and object.
 */
import {
  KubernetesObjectApi,
  PatchStrategy,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';

import { isNotFound, kubeError } from './errors.js';
import { describeRef, refOf, type ObjectRef, type Selection } from './objects.js';

export interface KubeClientProps {
  readonly kubeConfig: KubeConfig;
  /**
   * The field manager for server-side apply.
   * @default 'bulkhead'
   */
  readonly fieldManager?: string;
}

/** client-node resolves REST paths through discovery; we reuse that for lists and watches. */
interface PathResolver {
  specUriPath(spec: KubernetesObject, action: 'list' | 'read'): Promise<string>;
}

export class KubeClient {
  readonly kubeConfig: KubeConfig;
  readonly fieldManager: string;
  private readonly objects: KubernetesObjectApi;

  constructor(props: KubeClientProps) {
    this.kubeConfig = props.kubeConfig;
    this.fieldManager = props.fieldManager ?? 'bulkhead';
    this.objects = KubernetesObjectApi.makeApiClient(props.kubeConfig);
  }

  /**
   * Server-side apply with force: bulkhead owns what it applies. Works for built-in kinds and
   * custom resources alike (strategic merge would not, for CRDs).
   */
  async apply<T extends KubernetesObject>(object: T): Promise<T> {
    const target = describeRef(refOf(object));
    try {
      return await this.objects.patch(
        object,
        undefined,
        undefined,
        this.fieldManager,
        true,
        PatchStrategy.ServerSideApply,
      );
    } catch (error) {
      throw kubeError(error, 'apply', target);
    }
  }

  /** Applies objects in order (namespaces before what lives in them; CRDs before their objects). */
  async applyAll(objects: readonly KubernetesObject[]): Promise<KubernetesObject[]> {
    const applied: KubernetesObject[] = [];
    for (const object of objects) applied.push(await this.apply(object));
    return applied;
  }

  /** Reads an object; undefined when it does not exist. */
  async read(ref: ObjectRef): Promise<KubernetesObject | undefined> {
    try {
      return await this.objects.read({
        apiVersion: ref.apiVersion,
        kind: ref.kind,
        metadata: { name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}) },
      });
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw kubeError(error, 'get', describeRef(ref));
    }
  }

  /** Lists the objects a selection names; T is the type of the kind asked for (the server decides, not TypeScript). */
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  async list<T extends KubernetesObject = KubernetesObject>(
    selection: Selection,
  ): Promise<{ items: T[]; resourceVersion: string }> {
    try {
      const list = await this.objects.list<T>(
        selection.apiVersion,
        selection.kind,
        selection.namespace,
        undefined,
        undefined,
        undefined,
        selection.fieldSelector,
        selection.labelSelector,
      );
      return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? '' };
    } catch (error) {
      throw kubeError(error, 'list', describeSelection(selection));
    }
  }

  /** Deletes an object; false when it was already gone. */
  async delete(ref: ObjectRef): Promise<boolean> {
    try {
      await this.objects.delete(
        {
          apiVersion: ref.apiVersion,
          kind: ref.kind,
          metadata: { name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}) },
        },
        undefined,
        undefined,
        undefined,
        undefined,
        'Background',
      );
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw kubeError(error, 'delete', describeRef(ref));
    }
  }

  /**
   * Deletes every object of the given kinds that matches the label selector. Only what carries
   * the label is touched: this is how bulkhead cleans up on a cluster it does not own.
   */
  async deleteByLabel(
    kinds: readonly Pick<Selection, 'apiVersion' | 'kind'>[],
    labelSelector: string,
  ): Promise<ObjectRef[]> {
    if (!labelSelector.trim())
      throw new Error('deleteByLabel needs a label selector; refusing to delete everything');
    const deleted: ObjectRef[] = [];
    for (const kind of kinds) {
      const { items } = await this.list({ ...kind, labelSelector });
      for (const item of items) {
        const ref = refOf({ ...item, apiVersion: kind.apiVersion, kind: kind.kind });
        if (await this.delete(ref)) deleted.push(ref);
      }
    }
    return deleted;
  }

  /** The REST path of a collection, from discovery (`/apis/apps/v1/namespaces/x/deployments`). */
  async collectionPath(selection: Pick<Selection, 'apiVersion' | 'kind' | 'namespace'>): Promise<string> {
    try {
      return await (this.objects as unknown as PathResolver).specUriPath(
        {
          apiVersion: selection.apiVersion,
          kind: selection.kind,
          metadata: selection.namespace ? { namespace: selection.namespace } : {},
        },
        'list',
      );
    } catch (error) {
      throw kubeError(error, 'discover', `${selection.kind} (${selection.apiVersion})`);
    }
  }
}

export function describeSelection(s: Selection): string {
  const parts = [s.kind + (s.namespace ? ` in ${s.namespace}` : '')];
  if (s.labelSelector) parts.push(`-l ${s.labelSelector}`);
  if (s.fieldSelector) parts.push(`--field-selector ${s.fieldSelector}`);
  return parts.join(' ');
}
