/**
 * Reading policy objects defensively. The model must not guess: a field it does not know, or a
 * value of the wrong shape, is a {@link NotUnderstood} that the caller turns into an `unknown`
 * prediction naming the field.
 */

export class NotUnderstood extends Error {
  override readonly name = 'NotUnderstood';
}

export type Obj = Readonly<Record<string, unknown>>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The object at `v`, or `{}` when absent (null or undefined). */
export function obj(v: unknown, where: string): Obj {
  if (v === undefined || v === null) return {};
  if (!isObj(v)) throw new NotUnderstood(`${where} should be a mapping`);
  return v;
}

export function optObj(v: unknown, where: string): Obj | undefined {
  return v === undefined || v === null ? undefined : obj(v, where);
}

export function list(v: unknown, where: string): readonly unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new NotUnderstood(`${where} should be a list`);
  return v;
}

export function optList(v: unknown, where: string): readonly unknown[] | undefined {
  return v === undefined || v === null ? undefined : list(v, where);
}

export function str(v: unknown, where: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new NotUnderstood(`${where} should be a string`);
  return v;
}

export function strings(v: unknown, where: string): readonly string[] {
  return list(v, where).map((x, i) => {
    if (typeof x !== 'string') throw new NotUnderstood(`${where}[${i}] should be a string`);
    return x;
  });
}

/**
 * A policy's declared directions (`policyTypes` / `types`): each must be Ingress or Egress. What
 * an empty list defaults to differs between Kubernetes and Calico, so the caller decides that.
 */
export function directions(v: unknown, where: string): { Ingress: boolean; Egress: boolean } | undefined {
  const declared = strings(v, where);
  for (const t of declared) {
    if (t !== 'Ingress' && t !== 'Egress')
      throw new NotUnderstood(`${where}: '${t}' is not Ingress or Egress`);
  }
  return declared.length > 0
    ? { Ingress: declared.includes('Ingress'), Egress: declared.includes('Egress') }
    : undefined;
}

export function optStrings(v: unknown, where: string): readonly string[] | undefined {
  return v === undefined || v === null ? undefined : strings(v, where);
}

export function num(v: unknown, where: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new NotUnderstood(`${where} should be a number`);
  return v;
}

/** Throws when `o` has a field outside `known`: the model would otherwise ignore what it means. */
export function onlyKeys(o: Obj, known: readonly string[], where: string): void {
  for (const key of Object.keys(o)) {
    if (!known.includes(key)) throw new NotUnderstood(`${where}.${key} is not a field the model knows`);
  }
}

export function stringMap(v: unknown, where: string): Readonly<Record<string, string>> {
  const o = obj(v, where);
  for (const [k, value] of Object.entries(o)) {
    if (typeof value !== 'string') throw new NotUnderstood(`${where}.${k} should be a string`);
  }
  return o as Readonly<Record<string, string>>;
}

/** `namespace/name` for namespaced objects, `name` for cluster-scoped ones. */
export function objectName(o: Obj): { readonly name: string; readonly namespace?: string } {
  const metadata = isObj(o.metadata) ? o.metadata : {};
  const name = typeof metadata.name === 'string' ? metadata.name : '(unnamed)';
  const namespace = typeof metadata.namespace === 'string' ? metadata.namespace : undefined;
  return namespace === undefined ? { name } : { name, namespace };
}
