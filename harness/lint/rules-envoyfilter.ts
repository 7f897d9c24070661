/**
 * EnvoyFilter pitfalls of identity-header filters (docs/behaviour.md §D(a), §D(b)): where the filter sits
 * relative to RBAC, `add` keeping the client's value, an unguarded peer certificate on plaintext,
 * and a table passed where a string is expected.
 */
import { arr, obj, str } from '../policies/objects.js';
import { namespaceOf } from './context.js';
import { headerWrites, isHttpFilterValue, isIdentityHeader, luaPatches } from './lua.js';
import { at, type Finding, type Rule } from './types.js';

const httpFilterAtNetworkLevel: Rule = {
  id: 'envoyfilter/http-filter-at-network-level',
  severity: 'error',
  summary: 'An HTTP filter patched in as a network filter is rejected by Envoy',
  help:
    'applyTo: NETWORK_FILTER with an HTTP filter (envoy.filters.http.*) passes Istio validation, but Envoy ' +
    'NACKs the listener ("Didn\'t find a registered implementation…"; envoyproxy/envoy#39554; facts §D(a)).',
  check(ctx) {
    const out: Finding[] = [];
    for (const m of ctx.ofKind('EnvoyFilter', 'networking.istio.io')) {
      arr(obj(m.object.spec).configPatches).forEach((p, i) => {
        const patch = obj(p);
        if (str(patch.applyTo) !== 'NETWORK_FILTER') return;
        if (!isHttpFilterValue(obj(obj(patch.patch).value))) return;
        out.push(
          at(
            this,
            m,
            ['spec', 'configPatches', i, 'applyTo'],
            'an HTTP filter is patched in at the network-filter level: Envoy rejects the listener and the workload gets no new configuration',
            'Use applyTo: HTTP_FILTER with match.listener.filterChain.filter.name: envoy.filters.network.http_connection_manager.',
          ),
        );
      });
    }
    return out;
  },
};

const luaHeaderAdd: Rule = {
  id: 'envoyfilter/lua-header-add',
  severity: 'error',
  summary: 'headers():add on an identity header keeps the value the client sent',
  help:
    'Envoy Lua add() appends a value; a forged header sent by the client survives next to the real one ' +
    '(lua_filter.rst; facts §D(b)). replace() sets the only value.',
  check(ctx) {
    const out: Finding[] = [];
    for (const p of luaPatches(ctx)) {
      const writes = headerWrites(p.code);
      for (const w of writes) {
        if (w.method !== 'add' || !isIdentityHeader(w.header)) continue;
        const removedFirst = writes.some(
          (r) => r.method === 'remove' && r.header === w.header && r.index < w.index,
        );
        if (removedFirst) continue;
        out.push(
          at(
            this,
            p.m,
            p.codePath,
            `Lua adds '${w.header}' with add(): a value the client sent stays in the request, so a forged identity reaches the application`,
            `Use headers():replace("${w.header}", …), or remove("${w.header}") before add().`,
          ),
        );
      }
    }
    return out;
  },
};

const luaUnguardedSsl: Rule = {
  id: 'envoyfilter/lua-unguarded-ssl',
  severity: 'error',
  summary: 'downstreamSslConnection() used without a nil check',
  help:
    'On a plaintext connection downstreamSslConnection() is nil; calling a method on it raises a Lua error, ' +
    "which Envoy only logs, and the request continues with the client's headers untouched (fail open; " +
    'lua_filter.cc scriptError; facts §D(b)).',
  check(ctx) {
    const out: Finding[] = [];
    for (const p of luaPatches(ctx)) {
      const chained = /downstreamSslConnection\(\)\s*:/.test(p.code);
      const assigned = /local\s+(\w+)\s*=\s*[^\n]*downstreamSslConnection\(\)\s*$/m.exec(p.code);
      const guarded =
        assigned?.[1] !== undefined &&
        new RegExp(
          `(${assigned[1]}\\s*[=~]=\\s*nil|not\\s+${assigned[1]}\\b|if\\s+${assigned[1]}\\s+then)`,
        ).test(p.code);
      if (!chained && (!assigned || guarded)) continue;
      out.push(
        at(
          this,
          p.m,
          p.codePath,
          "the Lua code calls a method on downstreamSslConnection() without checking it for nil: on plaintext the script fails and the request passes with the client's headers",
          'Assign it to a local, return early (after removing the header) when it is nil, then read the certificate.',
        ),
      );
    }
    return out;
  },
};

const luaTableValue: Rule = {
  id: 'envoyfilter/lua-table-header-value',
  severity: 'error',
  summary: 'uriSanPeerCertificate() returns a table, not a string',
  help:
    'The URI SANs come back as a Lua table; passing it as a header value raises a Lua error and the request ' +
    'continues unmodified (lua_filter.rst; facts §D(b)).',
  check(ctx) {
    const out: Finding[] = [];
    for (const p of luaPatches(ctx)) {
      const vars = [...p.code.matchAll(/local\s+(\w+)\s*=\s*[^\n]*uriSanPeerCertificate\(\)\s*$/gm)].map(
        (m) => m[1],
      );
      const bad = headerWrites(p.code).find(
        (w) =>
          w.value !== undefined && (/uriSanPeerCertificate\(\)\s*$/.test(w.value) || vars.includes(w.value)),
      );
      if (!bad) continue;
      out.push(
        at(
          this,
          p.m,
          p.codePath,
          `'${bad.header}' is set to the table uriSanPeerCertificate() returns: the script fails on every request and the header is never set`,
          'Index the table (uris[1]) after checking it is not nil or empty.',
        ),
      );
    }
    return out;
  },
};

const luaAfterRbac: Rule = {
  id: 'envoyfilter/lua-after-rbac',
  severity: 'error',
  summary: 'A header filter placed after RBAC: authorization reads the client-sent value',
  help:
    'Istio builds the inbound chain metadata-exchange, ext_authz, authn, RBAC, …, router. A filter inserted ' +
    'relative to the router (or after RBAC) runs after authorization, so an AuthorizationPolicy on that ' +
    'header sees the spoofable client value (listener_builder.go; facts §D(a)).',
  check(ctx) {
    const out: Finding[] = [];
    const readers = new Map<string, string[]>();
    for (const m of ctx.ofKind('AuthorizationPolicy', 'security.istio.io')) {
      const text = JSON.stringify(m.object.spec ?? {});
      for (const match of text.matchAll(/request\.headers\[([^\]]+)\]/g)) {
        const h = (match[1] ?? '').toLowerCase();
        const reader = `${namespaceOf(m) ?? ''}/${String(obj(m.object.metadata).name)}`;
        const list = readers.get(h);
        if (list) list.push(reader);
        else readers.set(h, [reader]);
      }
    }
    for (const p of luaPatches(ctx)) {
      // Network-level placement is its own finding (http-filter-at-network-level).
      if (p.applyTo !== 'HTTP_FILTER' || p.context === 'SIDECAR_OUTBOUND' || p.placement === 'before')
        continue;
      const set = headerWrites(p.code).filter((w) => w.method !== 'remove');
      const read = set.find((w) => readers.has(w.header));
      if (!read && !set.some((w) => isIdentityHeader(w.header))) continue;
      const header = read?.header ?? set.find((w) => isIdentityHeader(w.header))?.header ?? '';
      const where = `${p.operation}${p.subFilter ? ` ${p.subFilter}` : ''}`;
      // A sub-filter Istio does not build: nothing is inserted, so RBAC sees the client's value too.
      const placed =
        p.placement === 'no-such-filter'
          ? `${where}, next to a filter Istio's inbound chain does not have (nothing is inserted)`
          : `${where}, after RBAC`;
      out.push(
        at(
          this,
          p.m,
          [...p.path, 'patch', 'operation'],
          read
            ? `the filter sets '${header}' at ${placed}: ${readers.get(header)?.join(', ') ?? ''} authorizes on the value the client sent`
            : `the filter sets '${header}' at ${placed}: no authorization decision can rely on it`,
          'Insert it with operation INSERT_FIRST (or INSERT_BEFORE subFilter envoy.filters.http.rbac) in the SIDECAR_INBOUND HTTP chain.',
          read ? 'error' : 'warning',
        ),
      );
    }
    return out;
  },
};

const unanchoredInsert: Rule = {
  id: 'envoyfilter/unanchored-insert-before',
  severity: 'info',
  summary: 'INSERT_BEFORE without a subFilter inserts the filter first',
  help:
    'Istio: "insert before without a filter match is same as insert in the beginning" (listener_patch.go). ' +
    'The filter then runs before metadata exchange, authn and RBAC; say so with INSERT_FIRST.',
  check(ctx) {
    const out: Finding[] = [];
    for (const m of ctx.ofKind('EnvoyFilter', 'networking.istio.io')) {
      arr(obj(m.object.spec).configPatches).forEach((p, i) => {
        const patch = obj(p);
        if (str(patch.applyTo) !== 'HTTP_FILTER' || str(obj(patch.patch).operation) !== 'INSERT_BEFORE')
          return;
        const filter = obj(obj(obj(obj(patch.match).listener).filterChain).filter);
        if (filter.subFilter !== undefined) return;
        out.push(
          at(
            this,
            m,
            ['spec', 'configPatches', i, 'patch', 'operation'],
            'INSERT_BEFORE without match.listener.filterChain.filter.subFilter: Istio inserts the filter at the beginning of the HTTP chain',
            'Write INSERT_FIRST if first is meant, or name the filter to insert before in subFilter.name.',
          ),
        );
      });
    }
    return out;
  },
};

export const ENVOYFILTER_RULES: readonly Rule[] = [
  httpFilterAtNetworkLevel,
  luaHeaderAdd,
  luaUnguardedSsl,
  luaTableValue,
  luaAfterRbac,
  unanchoredInsert,
];
