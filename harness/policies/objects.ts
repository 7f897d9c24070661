/** Small, typed reads of the plain objects parsed from manifests. */
import type { Manifest } from '../scenario/types.js';

export type Json = Readonly<Record<string, unknown>>;

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function obj(v: unknown): Json {
  return isObject(v) ? v : {};
}

export function arr(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? v : [];
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function strings(v: unknown): string[] {
  return arr(v).filter((x): x is string => typeof x === 'string');
}

/** Who an object is, for messages and the JSON output. */
export interface ObjectRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace?: string;
  readonly name: string;
}

export function refOf(m: Manifest): ObjectRef {
  const metadata = obj(m.object.metadata);
  const namespace = str(metadata.namespace);
  return {
    apiVersion: str(m.object.apiVersion) ?? '',
    kind: str(m.object.kind) ?? '',
    ...(namespace === undefined ? {} : { namespace }),
    name: str(metadata.name) ?? '(unnamed)',
  };
}

/** `AuthorizationPolicy tenant-acme/deny-cross-tenant` */
export function describeRef(r: ObjectRef): string {
  return `${r.kind} ${r.namespace === undefined ? '' : `${r.namespace}/`}${r.name}`;
}
