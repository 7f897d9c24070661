/**
 * Reading EnvoyFilter patches that insert Envoy's Lua HTTP filter: where the filter lands in the
 * inbound chain relative to RBAC (the model's {@link rbacPlacement}, one reading for lint and
 * plan), and what its code does to headers. The code is read with patterns, not parsed: enough
 * for the handful of idioms header filters use, and every rule built on it says what it saw.
 */
import { rbacPlacement, subFilterOf, type RbacPlacement } from '../model/envoyfilter.js';
import { arr, obj, str, type Json } from '../policies/objects.js';
import type { Manifest } from '../scenario/types.js';
import type { DocPath } from '../yaml-source.js';
import { namespaceOf, type LintContext } from './context.js';
import { memo, ofKind } from './indexes.js';

export interface LuaPatch {
  readonly m: Manifest;
  /** Path of the configPatch. */
  readonly path: DocPath;
  readonly applyTo: string;
  readonly operation: string;
  readonly subFilter: string | undefined;
  /** Where Istio puts the filter relative to RBAC; undefined when the patch inserts nothing. */
  readonly placement: RbacPlacement | undefined;
  readonly context: string | undefined;
  readonly code: string;
  /** Path of the code string, for locating findings in it. */
  readonly codePath: DocPath;
}

const CODE_FIELDS: readonly (readonly string[])[] = [
  ['inlineCode'],
  ['inline_code'],
  ['default_source_code', 'inline_string'],
  ['defaultSourceCode', 'inlineString'],
];

export function isHttpFilterValue(value: Json): boolean {
  const type = str(obj(value.typed_config)['@type']) ?? str(obj(value.typedConfig)['@type']) ?? '';
  return type.includes('.filters.http.') || (str(value.name) ?? '').startsWith('envoy.filters.http.');
}

function isLua(value: Json): boolean {
  const type = str(obj(value.typed_config)['@type']) ?? str(obj(value.typedConfig)['@type']) ?? '';
  return (
    type.endsWith('lua.v3.Lua') ||
    str(value.name) === 'envoy.filters.http.lua' ||
    str(value.name) === 'envoy.lua'
  );
}

export function luaPatches(ctx: LintContext): readonly LuaPatch[] {
  return memo(ctx, 'lua/patches', () => readLuaPatches(ctx));
}

function readLuaPatches(ctx: LintContext): LuaPatch[] {
  const out: LuaPatch[] = [];
  for (const m of ofKind(ctx, 'EnvoyFilter', 'networking.istio.io')) {
    arr(obj(m.object.spec).configPatches).forEach((p, i) => {
      const patch = obj(p);
      const value = obj(obj(patch.patch).value);
      if (!isLua(value)) return;
      const typedKey = value.typed_config !== undefined ? 'typed_config' : 'typedConfig';
      const typed = obj(value[typedKey]);
      for (const fields of CODE_FIELDS) {
        let node: unknown = typed;
        for (const f of fields) node = obj(node)[f];
        const code = str(node);
        if (code === undefined) continue;
        out.push({
          m,
          path: ['spec', 'configPatches', i],
          applyTo: str(patch.applyTo) ?? '',
          operation: str(obj(patch.patch).operation) ?? '',
          subFilter: subFilterOf(patch),
          placement: rbacPlacement(patch),
          context: str(obj(patch.match).context),
          code,
          codePath: ['spec', 'configPatches', i, 'patch', 'value', typedKey, ...fields],
        });
        break;
      }
    });
  }
  return out;
}

export interface HeaderWrite {
  readonly method: 'add' | 'replace' | 'remove' | 'setCopy';
  readonly header: string;
  /** The argument after the header name, as written (undefined for remove). */
  readonly value: string | undefined;
  readonly index: number;
}

/** `headers():add("x-a", v)`, `h:replace('x-a', v)`, `headers:remove("x-a")`… */
export function headerWrites(code: string): HeaderWrite[] {
  const out: HeaderWrite[] = [];
  const re = /:(add|replace|remove|setCopy)\(\s*(["'])([^"']+)\2\s*(?:,\s*([^)\n]*))?\)/g;
  for (const match of code.matchAll(re)) {
    out.push({
      method: match[1] as HeaderWrite['method'],
      header: (match[3] ?? '').toLowerCase(),
      value: match[4]?.trim(),
      index: match.index,
    });
  }
  return out;
}

/** Headers that Lua filters placed before RBAC set for workloads of `ns` (root namespace filters included). */
export function identityHeadersSetIn(ctx: LintContext, ns: string): ReadonlySet<string> {
  return memo(ctx, `lua/identity-headers ${ns}`, () => {
    const out = new Set<string>();
    for (const p of luaPatches(ctx)) {
      const where = namespaceOf(p.m);
      if (where !== ns && where !== ctx.rootNamespace) continue;
      if (p.placement !== 'before') continue;
      for (const w of headerWrites(p.code)) if (w.method !== 'remove') out.add(w.header);
    }
    return out;
  });
}

/** Names of identity-carrying headers (tenant, identity, user, principal, client cert). */
export function isIdentityHeader(name: string): boolean {
  return /identity|tenant|principal|user|client-cert|forwarded-client|auth|role|spiffe/.test(
    name.toLowerCase(),
  );
}
