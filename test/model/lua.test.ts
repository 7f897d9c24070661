import { expect } from 'chai';

import { compileLua } from '../../harness/model/lua.js';
import { http, plan } from './support.js';

/** Sets the header from the verified peer certificate, replacing any client value, nil-safe. */
const VERIFIED = `-- identity from the certificate, never from the client
function envoy_on_request(handle)
  local headers = handle:headers()
  headers:remove("x-tenant-identity")
  local ssl = handle:streamInfo():downstreamSslConnection()
  if ssl == nil or not ssl:peerCertificatePresented() then
    return
  end
  local uris = ssl:uriSanPeerCertificate()
  if uris == nil or uris[1] == nil then
    return
  end
  local identity = uris[1]
  if string.sub(identity, 1, 9) == "spiffe://" then
    identity = string.sub(identity, 10)
  end
  headers:replace("x-tenant-identity", identity)
end`;

/** The article's version: add (keeps the client's value), no nil check, a table as the value. */
const ARTICLE = `function envoy_on_request(handle)
  local principal = handle:streamInfo():downstreamSslConnection():uriSanPeerCertificate()
  handle:headers():add("x-tenant-identity", principal)
end`;

function run(code: string, peerUri: string | undefined, headers: Record<string, string> = {}) {
  const program = compileLua(code);
  if (!program) throw new Error('not understood');
  const map = new Map(Object.entries(headers));
  const ok = program.run({ peerUri, headers: map });
  return { ok, headers: Object.fromEntries(map) };
}

describe('model: Lua header filters', () => {
  it('runs the verified-identity filter: replaces a forged value, strips spiffe://, removes it on plaintext', () => {
    const forged = { 'x-tenant-identity': 'cluster.local/ns/shared/sa/admin' };
    expect(run(VERIFIED, 'spiffe://cluster.local/ns/tenant-a/sa/web', forged).headers).to.deep.equal({
      'x-tenant-identity': 'cluster.local/ns/tenant-a/sa/web',
    });
    expect(run(VERIFIED, undefined, forged)).to.deep.equal({ ok: true, headers: {} });
  });

  it("stops at a runtime error and keeps the client's header, as Envoy does (the article's filter)", () => {
    const forged = { 'x-tenant-identity': 'forged' };
    // A table is not a header value: the add fails, the request continues untouched.
    expect(run(ARTICLE, 'spiffe://cluster.local/ns/a/sa/b', forged)).to.deep.equal({
      ok: true,
      headers: forged,
    });
    // Plaintext: downstreamSslConnection() is nil, calling a method on it fails.
    expect(run(ARTICLE, undefined, forged)).to.deep.equal({ ok: true, headers: forged });
  });

  it('appends with add, and evaluates elseif, and/or, concatenation and string.len', () => {
    const code = `function envoy_on_request(handle)
  local v = handle:headers():get("x-a")
  if v == nil then
    handle:headers():add("x-b", "none")
  elseif string.len(v) > 3 then
    handle:headers():add("x-b", "long")
  else
    handle:headers():add("x-b", "short" .. "-" .. v)
  end
  handle:headers():add("x-a", "second")
end`;
    expect(compileLua(code)).to.equal(undefined); // '>' is outside the subset: not understood
    const simpler = code.replace(
      'elseif string.len(v) > 3 then\n    handle:headers():add("x-b", "long")\n  ',
      '',
    );
    expect(run(simpler, undefined, { 'x-a': 'q' }).headers).to.deep.equal({
      'x-a': 'q,second',
      'x-b': 'short-q',
    });
    expect(run(simpler, undefined).headers).to.deep.equal({ 'x-b': 'none', 'x-a': 'second' });
  });

  it('refuses what it does not understand instead of guessing', () => {
    for (const code of [
      'function envoy_on_request(handle)\n  handle:respond({[":status"] = "403"}, "no")\nend',
      'function envoy_on_request(handle)\n  for i = 1, 3 do end\nend',
      'function envoy_on_request(handle)\n  os.execute("x")\nend',
    ]) {
      const program = compileLua(code);
      const understood = program?.run({ peerUri: undefined, headers: new Map() });
      expect(understood, code).to.not.equal(true);
    }
  });

  it('lets the plan see through the filter: forged identities are replaced before RBAC', async () => {
    const filter = (operation: string, sub = '') => `apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: { name: identity, namespace: tenant-b }
spec:
  configPatches:
    - applyTo: HTTP_FILTER
      match:
        context: SIDECAR_INBOUND
        listener: { filterChain: { filter: { name: envoy.filters.network.http_connection_manager${sub ? `, subFilter: { name: ${sub} }` : ''} } } }
      patch:
        operation: ${operation}
        value:
          name: identity
          typed_config:
            '@type': type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua
            default_source_code:
              inline_string: |
${VERIFIED.split('\n')
  .map((l) => `                ${l}`)
  .join('\n')}
---
`;
    const policy = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: identity-is-a, namespace: tenant-b }
spec:
  rules: [{ when: [{ key: "request.headers[x-tenant-identity]", values: ["cluster.local/ns/tenant-a/*"] }] }]
`;
    const attempts =
      http('a', 'tenant-a/probe', 'tenant-b/web') +
      http(
        'b-forged',
        'tenant-b/probe',
        'tenant-b/web',
        'http: { headers: { x-tenant-identity: cluster.local/ns/tenant-a/sa/default } }',
      );
    const first = (await plan(filter('INSERT_FIRST') + policy, attempts)).p;
    expect(first('a').outcome).to.equal('allowed');
    expect(first('a').reasons.join('\n')).to.contain(
      'runs before RBAC and leaves x-tenant-identity: cluster.local/ns/tenant-a/sa/default',
    );
    expect(first('b-forged').outcome).to.equal('denied-l7');
    // Before the router, the filter runs after RBAC: RBAC trusts the forged header.
    const late = (await plan(filter('INSERT_BEFORE', 'envoy.filters.http.router') + policy, attempts)).p;
    expect(late('b-forged').outcome).to.equal('allowed');
    expect(late('a').outcome).to.equal('denied-l7');
    expect(late('a').reasons.join('\n')).to.contain('runs after RBAC');
  });
});
