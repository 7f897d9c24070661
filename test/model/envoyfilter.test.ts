import { expect } from 'chai';

import { rbacPlacement, type RbacPlacement } from '../../harness/model/envoyfilter.js';
import { http, plan } from './support.js';

function patch(operation: string, sub?: string, applyTo = 'HTTP_FILTER'): unknown {
  return {
    applyTo,
    match: {
      context: 'SIDECAR_INBOUND',
      listener: {
        filterChain: {
          filter: {
            name: 'envoy.filters.network.http_connection_manager',
            ...(sub === undefined ? {} : { subFilter: { name: sub } }),
          },
        },
      },
    },
    patch: { operation, value: { name: 'x' } },
  };
}

describe('model: where an EnvoyFilter patch puts its HTTP filter relative to RBAC', () => {
  // Istio 1.29.3 listener_patch.go patchHTTPFilters and listener_builder.go's inbound order.
  const cases: readonly [string, string | undefined, RbacPlacement | undefined][] = [
    ['INSERT_FIRST', undefined, 'before'],
    ['INSERT_FIRST', 'envoy.filters.http.router', 'before'],
    // "insert before without a filter match is same as insert in the beginning"
    ['INSERT_BEFORE', undefined, 'before'],
    ['INSERT_BEFORE', 'envoy.filters.http.rbac', 'before'],
    ['INSERT_BEFORE', 'envoy.filters.http.jwt_authn', 'before'],
    ['INSERT_BEFORE', 'envoy.filters.http.router', 'after'],
    // "insert after without a filter match is same as ADD in the end"
    ['INSERT_AFTER', undefined, 'after'],
    ['INSERT_AFTER', 'istio.metadata_exchange', 'before'],
    ['INSERT_AFTER', 'envoy.filters.http.ext_authz', 'before'],
    ['INSERT_AFTER', 'envoy.filters.http.jwt_authn', 'before'],
    ['INSERT_AFTER', 'envoy.filters.http.rbac', 'after'],
    ['INSERT_AFTER', 'envoy.filters.http.cors', 'after'],
    // No such filter in the chain: insertAfterFunc/insertBeforeFunc insert nothing. istio_authn
    // left the chain in Istio 1.24; istio.authn never was a filter name.
    ['INSERT_AFTER', 'istio.authn', 'no-such-filter'],
    ['INSERT_AFTER', 'istio_authn', 'no-such-filter'],
    ['INSERT_BEFORE', 'istio_authn', 'no-such-filter'],
    ['INSERT_BEFORE', 'my.filter', 'no-such-filter'],
    // ADD appends whatever the sub-filter.
    ['ADD', undefined, 'after'],
    ['ADD', 'istio.metadata_exchange', 'after'],
    ['REPLACE', 'envoy.filters.http.rbac', undefined],
    ['MERGE', undefined, undefined],
    ['REMOVE', 'envoy.filters.http.rbac', undefined],
  ];
  for (const [operation, sub, want] of cases) {
    it(`${operation}${sub ? ` ${sub}` : ''}: ${want ?? 'inserts nothing'}`, () => {
      expect(rbacPlacement(patch(operation, sub))).to.equal(want);
    });
  }

  it('is about the HTTP chain only', () => {
    expect(rbacPlacement(patch('INSERT_FIRST', undefined, 'NETWORK_FILTER'))).to.equal(undefined);
    expect(rbacPlacement({ applyTo: 'HTTP_FILTER' })).to.equal(undefined);
    expect(rbacPlacement('nonsense')).to.equal(undefined);
  });
});

describe('model: Lua filters the placement decides', () => {
  const LUA = `function envoy_on_request(handle)
  handle:headers():remove("x-tenant-identity")
  local ssl = handle:streamInfo():downstreamSslConnection()
  if ssl == nil then
    return
  end
  local uris = ssl:uriSanPeerCertificate()
  if uris[1] ~= nil then
    handle:headers():replace("x-tenant-identity", uris[1])
  end
end`;
  const filter = (operation: string, sub: string) => `apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: { name: identity, namespace: tenant-b }
spec:
  configPatches:
    - applyTo: HTTP_FILTER
      match:
        context: SIDECAR_INBOUND
        listener: { filterChain: { filter: { name: envoy.filters.network.http_connection_manager, subFilter: { name: ${sub} } } } }
      patch:
        operation: ${operation}
        value:
          name: identity
          typed_config:
            '@type': type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua
            inlineCode: |
${LUA.split('\n')
  .map((l) => `              ${l}`)
  .join('\n')}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: identity-is-a, namespace: tenant-b }
spec:
  rules: [{ when: [{ key: "request.headers[x-tenant-identity]", values: ["spiffe://cluster.local/ns/tenant-a/*"] }] }]
`;
  const attempts = http(
    'b-forged',
    'tenant-b/probe',
    'tenant-b/web',
    'http: { headers: { x-tenant-identity: spiffe://cluster.local/ns/tenant-a/sa/default } }',
  );

  it('ADD with a sub-filter appends after the router: RBAC sees the forged header', async () => {
    const p = (await plan(filter('ADD', 'istio.metadata_exchange'), attempts)).p('b-forged');
    expect(p.outcome).to.equal('allowed');
    expect(p.reasons.join('\n')).to.contain('runs after RBAC');
  });

  it('INSERT_AFTER a filter Istio does not build inserts nothing: the model claims no placement', async () => {
    for (const sub of ['istio.authn', 'istio_authn']) {
      const p = (await plan(filter('INSERT_AFTER', sub), attempts)).p('b-forged');
      expect(p.reasons.join('\n'), sub).to.not.match(/runs (before|after) RBAC/);
    }
  });

  it('INSERT_AFTER jwt_authn runs before RBAC: the forged header is replaced', async () => {
    const p = (await plan(filter('INSERT_AFTER', 'envoy.filters.http.jwt_authn'), attempts)).p('b-forged');
    expect(p.outcome).to.equal('denied-l7');
    expect(p.reasons.join('\n')).to.contain('runs before RBAC');
  });
});
