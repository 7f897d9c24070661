/**
 * Lookups the rules make once per namespace or per tenant, answered from indexes built once per
 * lint instead of a scan of every manifest each time: lint stays near-linear in the number of
 * manifests (`npm run bench:lint`). Each index keeps the manifests' order, so the first match is
 * the one a scan would have found.
 */
import type { Manifest } from '../scenario/types.js';
import { namespaceOf, type LintContext } from './context.js';

interface Indexes {
  readonly byNamespace: Map<string, Manifest[]>;
  readonly byKind: Map<string, Manifest[]>;
  /** Memoised answers of namespace-independent questions, by the asker's key. */
  readonly memo: Map<string, unknown>;
}

const cache = new WeakMap<LintContext, Indexes>();

function indexes(ctx: LintContext): Indexes {
  let found = cache.get(ctx);
  if (!found) {
    const byNamespace = new Map<string, Manifest[]>();
    for (const m of ctx.manifests) {
      const ns = namespaceOf(m);
      if (ns === undefined) continue;
      const list = byNamespace.get(ns);
      if (list) list.push(m);
      else byNamespace.set(ns, [m]);
    }
    found = { byNamespace, byKind: new Map(), memo: new Map() };
    cache.set(ctx, found);
  }
  return found;
}

/** The manifests whose metadata.namespace is `ns`, in manifest order. */
export function inNamespace(ctx: LintContext, ns: string): readonly Manifest[] {
  return indexes(ctx).byNamespace.get(ns) ?? [];
}

/** {@link LintContext.ofKind}, computed once per kind and API group. */
export function ofKind(ctx: LintContext, kind: string, apiGroup?: string): readonly Manifest[] {
  const { byKind } = indexes(ctx);
  const key = `${kind}\u0000${apiGroup ?? ''}\u0000${apiGroup === undefined ? 'any' : 'group'}`;
  let list = byKind.get(key);
  if (!list) {
    list = ctx.ofKind(kind, apiGroup);
    byKind.set(key, list);
  }
  return list;
}

/** The manifests of `ns` that {@link ofKind} would return, in manifest order. */
export function ofKindIn(ctx: LintContext, ns: string, kind: string, apiGroup?: string): Manifest[] {
  return inNamespace(ctx, ns).filter(
    (m) =>
      m.object.kind === kind && (apiGroup === undefined || String(m.object.apiVersion).startsWith(apiGroup)),
  );
}

/** `compute()` once per lint for `key`; later calls with the same key get the same value. */
export function memo<T>(ctx: LintContext, key: string, compute: () => T): T {
  const { memo: values } = indexes(ctx);
  if (values.has(key)) return values.get(key) as T;
  const value = compute();
  values.set(key, value);
  return value;
}
