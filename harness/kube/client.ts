/**
 * The thin layer over the API server that the runner and the installers use: apply
 * (server-side, field manager `bulkhead`) for any kind including CRD-backed ones, read, list,
 * patch, delete, delete by label. Bodies go out and come back as plain JSON through
 * {@link kubeRequest} (see there why client-node's typed serializer must not touch them); REST
 * paths come from the server's own discovery documents. Every failure is a {@link KubeApiError}
 * naming the verb and object; every call has a deadline.
 */
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';

import { isNotFound, KubeApiError } from './errors.js';
import { describeRef, refOf, type ObjectRef, type Selection } from './objects.js';
import { kubeRequest, type KubeRequest, type KubeResponse } from './request.js';

export interface KubeClientProps {
  readonly kubeConfig: KubeConfig;
  /**
   * The field manager for server-side apply.
   * @default 'bulkhead'
   */
  readonly fieldManager?: string;
  /**
   * Deadline of each API call.
   * @default DEFAULT_REQUEST_TIMEOUT_MS (30 s)
   */
  readonly requestTimeoutMs?: number;
  /** Aborts every call in flight (Ctrl-C). */
  readonly signal?: AbortSignal;
}

/** One resource of a discovery document (`GET /apis/<group>/<version>`). */
interface ApiResource {
  readonly name: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

export type PatchType = 'merge' | 'strategic' | 'json';

const PATCH_CONTENT_TYPE: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
};

export interface ApplyOptions {
  /** Field manager for this apply. @default the client's */
  readonly fieldManager?: string;
}

export class KubeClient {
  readonly kubeConfig: KubeConfig;
  readonly fieldManager: string;
  private readonly requestTimeoutMs: number | undefined;
  private readonly signal: AbortSignal | undefined;
  private readonly discovery = new Map<string, Promise<readonly ApiResource[]>>();
  /** Warnings the server sent for bulkhead's writes (dropped fields, deprecated APIs). */
  readonly warnings: { readonly target: string; readonly warning: string }[] = [];

  constructor(props: KubeClientProps) {
    this.kubeConfig = props.kubeConfig;
    this.fieldManager = props.fieldManager ?? 'bulkhead';
    this.requestTimeoutMs = props.requestTimeoutMs;
    this.signal = props.signal;
  }

  /**
   * Server-side apply with force: bulkhead owns what it applies. The body is the object exactly
   * as given (JSON is YAML), with `fieldValidation=Strict` so that a field the server does not
   * know is refused rather than silently dropped. Returns the object as the server stored it.
   */
  async apply<T extends KubernetesObject>(object: T, options: ApplyOptions = {}): Promise<T> {
    const ref = refOf(object);
    const target = describeRef(ref);
    const response = await this.send({
      method: 'PATCH',
      path: await this.objectPath(ref, 'apply', target),
      query: {
        fieldManager: options.fieldManager ?? this.fieldManager,
        force: 'true',
        fieldValidation: 'Strict',
      },
      body: object,
      contentType: 'application/apply-patch+yaml',
      verb: 'apply',
      target,
    });
    for (const warning of response.warnings) this.warnings.push({ target, warning });
    return response.body as T;
  }

  /** Applies objects in order (namespaces before what lives in them; CRDs before their objects). */
  async applyAll(objects: readonly KubernetesObject[]): Promise<KubernetesObject[]> {
    const applied: KubernetesObject[] = [];
    for (const object of objects) applied.push(await this.apply(object));
    return applied;
  }

  /** A merge, strategic-merge or JSON patch of one object; returns the object as stored. */
  async patch(
    ref: ObjectRef,
    patch: unknown,
    type: PatchType,
    options: ApplyOptions = {},
  ): Promise<KubernetesObject> {
    const target = describeRef(ref);
    const response = await this.send({
      method: 'PATCH',
      path: await this.objectPath(ref, 'patch', target),
      query: { fieldManager: options.fieldManager ?? this.fieldManager },
      body: patch,
      contentType: PATCH_CONTENT_TYPE[type],
      verb: 'patch',
      target,
    });
    return response.body as KubernetesObject;
  }

  /** Reads an object as the server stores it; undefined when it does not exist. */
  async read(ref: ObjectRef): Promise<KubernetesObject | undefined> {
    const target = describeRef(ref);
    try {
      const response = await this.send({
        method: 'GET',
        path: await this.objectPath(ref, 'get', target),
        verb: 'get',
        target,
      });
      return response.body as KubernetesObject;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Lists the objects a selection names; T is the type of the kind asked for (the server decides, not TypeScript). */
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  async list<T extends KubernetesObject = KubernetesObject>(
    selection: Selection,
  ): Promise<{ items: T[]; resourceVersion: string }> {
    const target = describeSelection(selection);
    const response = await this.send({
      method: 'GET',
      path: await this.collectionPath(selection),
      query: { labelSelector: selection.labelSelector, fieldSelector: selection.fieldSelector },
      verb: 'list',
      target,
    });
    const list = response.body as { items?: T[]; metadata?: { resourceVersion?: string } };
    // List items carry no apiVersion/kind on the wire; callers compare and re-apply them.
    const items = (list.items ?? []).map((item) => ({
      ...item,
      apiVersion: item.apiVersion ?? selection.apiVersion,
      kind: item.kind ?? selection.kind,
    }));
    return { items, resourceVersion: list.metadata?.resourceVersion ?? '' };
  }

  /** Deletes an object (dependents in the background); false when it was already gone. */
  async delete(ref: ObjectRef): Promise<boolean> {
    const target = describeRef(ref);
    try {
      await this.send({
        method: 'DELETE',
        path: await this.objectPath(ref, 'delete', target),
        body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background' },
        verb: 'delete',
        target,
      });
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
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

  /** Any other request on this client's cluster, with its deadline and signal. */
  async send(request: KubeRequest): Promise<KubeResponse> {
    return kubeRequest(this.kubeConfig, {
      ...(this.requestTimeoutMs === undefined ? {} : { timeoutMs: this.requestTimeoutMs }),
      ...(this.signal ? { signal: this.signal } : {}),
      ...request,
    });
  }

  /** The REST path of a collection, from discovery (`/apis/apps/v1/namespaces/x/deployments`). */
  async collectionPath(selection: Pick<Selection, 'apiVersion' | 'kind' | 'namespace'>): Promise<string> {
    const resource = await this.resourceOf(
      selection.apiVersion,
      selection.kind,
      `${selection.kind} (${selection.apiVersion})`,
    );
    const parts = [versionPath(selection.apiVersion)];
    if (resource.namespaced && selection.namespace)
      parts.push('namespaces', encodeURIComponent(selection.namespace));
    parts.push(resource.name);
    return parts.join('/');
  }

  private async objectPath(ref: ObjectRef, verb: string, target: string): Promise<string> {
    if (!ref.kind || !ref.apiVersion || !ref.name) {
      throw new KubeApiError({ verb, target, code: 0, detail: 'the object has no apiVersion, kind or name' });
    }
    const resource = await this.resourceOf(ref.apiVersion, ref.kind, target);
    if (resource.namespaced && !ref.namespace) {
      throw new KubeApiError({
        verb,
        target,
        code: 0,
        detail: `${ref.kind} is namespaced and the object names no namespace`,
      });
    }
    const parts = [versionPath(ref.apiVersion)];
    if (resource.namespaced && ref.namespace) parts.push('namespaces', encodeURIComponent(ref.namespace));
    parts.push(resource.name, encodeURIComponent(ref.name));
    return parts.join('/');
  }

  /**
   * The resource serving a kind, from the group version's discovery document. A kind not found
   * re-reads the document once (a CRD applied a moment ago registers its kinds late).
   */
  private async resourceOf(apiVersion: string, kind: string, target: string): Promise<ApiResource> {
    for (const fresh of [false, true]) {
      if (fresh) this.discovery.delete(apiVersion);
      let resources = this.discovery.get(apiVersion);
      if (!resources) {
        resources = this.discover(apiVersion, target);
        this.discovery.set(apiVersion, resources);
        resources.catch(() => this.discovery.delete(apiVersion));
      }
      const found = (await resources).find((r) => r.kind === kind && !r.name.includes('/'));
      if (found) return found;
    }
    throw new KubeApiError({
      verb: 'discover',
      target,
      code: 404,
      reason: 'NotFound',
      detail: `the server does not serve ${kind} in ${apiVersion}`,
    });
  }

  private async discover(apiVersion: string, target: string): Promise<readonly ApiResource[]> {
    try {
      const response = await this.send({
        method: 'GET',
        path: versionPath(apiVersion),
        verb: 'discover',
        target: `${apiVersion} (for ${target})`,
      });
      return ((response.body as { resources?: ApiResource[] }).resources ?? []).map((r) => ({
        name: r.name,
        kind: r.kind,
        namespaced: r.namespaced,
      }));
    } catch (error) {
      // A group version the server does not serve at all: no kinds, not a transport fault.
      if (isNotFound(error)) return [];
      throw error;
    }
  }
}

/** `/api/v1`, `/apis/apps/v1`. */
function versionPath(apiVersion: string): string {
  return apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}

export function describeSelection(s: Selection): string {
  const parts = [s.kind + (s.namespace ? ` in ${s.namespace}` : '')];
  if (s.labelSelector) parts.push(`-l ${s.labelSelector}`);
  if (s.fieldSelector) parts.push(`--field-selector ${s.fieldSelector}`);
  return parts.join(' ');
}
