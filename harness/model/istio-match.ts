/**
 * How Istio matches the values of AuthorizationPolicy fields, as the generated RBAC filter does
 * (istio/istio pilot/pkg/security/authz/matcher/string.go `StringMatcherWithPrefix`,
 * pilot/pkg/security/authz/model/generator.go; validation in pkg/config/security/security.go):
 * - Strings: `*` is any non-empty value; otherwise a leading `*` makes a suffix match (checked
 *   first, so `*a*` is the suffix `a*`), a trailing `*` a prefix match, anything else is exact.
 * - Principals are compared as `spiffe://<value>`; `cluster.local` stands for the mesh's trust
 *   domain.
 * - Namespaces are the regex `.*\/ns/<value>/.*` on the peer's SPIFFE id, every `*` in the value
 *   becoming `.*`.
 * - Service accounts are `namespace/name`, the regex `spiffe://.+/ns/<ns>/(.+/|)sa/<name>(/.+)?`.
 *
 * The authorization layer compiles policies with these; lint asks the same questions of them.
 */
import { NotUnderstood } from './read.js';
import { MAYBE, NO, YES, type Tri } from './types.js';

/** Istio's string matching: exact, `prefix*`, `*suffix`, `*` = present. */
export function stringMatch(pattern: string, actual: string | undefined, ignoreCase = false): boolean {
  if (actual === undefined) return false;
  const a = ignoreCase ? actual.toLowerCase() : actual;
  const p = ignoreCase ? pattern.toLowerCase() : pattern;
  if (p === '*') return a.length > 0;
  if (p.startsWith('*')) return a.endsWith(p.slice(1));
  if (p.endsWith('*')) return a.startsWith(p.slice(0, -1));
  return a === p;
}

/**
 * Whether every value the pattern `inner` can match is also matched by `outer` (so that
 * `NOT outer` excludes all of them). Conservative: false when unsure.
 */
export function patternCovers(outer: string, inner: string): boolean {
  if (outer === '*') return inner !== '';
  if (inner.includes('*')) {
    if (outer.endsWith('*') && inner.endsWith('*') && !inner.startsWith('*')) {
      return inner.slice(0, -1).startsWith(outer.slice(0, -1));
    }
    return outer === inner;
  }
  return stringMatch(outer, inner);
}

export function principalMatcher(
  values: readonly string[],
  trustDomain: string,
): (principal: string | undefined) => boolean {
  // `cluster.local` in a policy principal points at the local trust domain (and its aliases).
  const expanded = values.flatMap((v) =>
    v.startsWith('cluster.local/') && trustDomain !== 'cluster.local'
      ? [v, `${trustDomain}/${v.slice('cluster.local/'.length)}`]
      : [v],
  );
  return (principal) => {
    if (principal === undefined) return false;
    const spiffe = `spiffe://${principal}`;
    return expanded.some((v) => {
      if (v === '*') return true;
      if (v.startsWith('*')) return spiffe.endsWith(v.slice(1));
      if (v.endsWith('*')) return spiffe.startsWith(`spiffe://${v.slice(0, -1)}`);
      return spiffe === `spiffe://${v}`;
    });
  };
}

/** The namespace a principal `<td>/ns/<ns>/sa/<sa>` names, when it names one exactly. */
export function principalNamespace(principal: string): string | undefined {
  const m = /(?:^|\/)ns\/([^/*]+)\/sa\//.exec(principal);
  return m?.[1];
}

export function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A `namespaces` value as the regex Istio builds from it: every `*` is `.*`. */
function namespaceRegex(value: string): string {
  return value.split('*').map(escapeRegex).join('.*');
}

export function namespaceMatcher(values: readonly string[]): (principal: string | undefined) => boolean {
  const regexes = values.map((v) => new RegExp(`^.*/ns/${namespaceRegex(v)}/.*$`));
  return (principal) => principal !== undefined && regexes.some((r) => r.test(`spiffe://${principal}`));
}

/**
 * Whether the `namespaces` value matches every peer of the namespace `namespace` (the value's
 * regex matches the whole name).
 */
export function namespaceValueMatches(value: string, namespace: string): boolean {
  return new RegExp(`^${namespaceRegex(value)}$`).test(namespace);
}

export function serviceAccountMatcher(
  values: readonly string[],
  at: string,
): (principal: string | undefined) => boolean {
  const regexes = values.map((v) => {
    const [ns, sa, extra] = v.split('/');
    if (!ns || !sa || extra !== undefined || v.includes('*'))
      throw new NotUnderstood(`${at}: '${v}' is not namespace/serviceaccount`);
    return new RegExp(`^spiffe://.+/ns/${escapeRegex(ns)}/(.+/|)sa/${escapeRegex(sa)}(/.+)?$`);
  });
  return (principal) => principal !== undefined && regexes.some((r) => r.test(`spiffe://${principal}`));
}

/**
 * Hosts match the Host header case-insensitively (exact, prefix or suffix). The client sends the
 * port with it (`svc.ns.svc.cluster.local:8080`); whether the sidecar strips it before RBAC is not
 * established, so a value that matches only one of the two forms gives MAYBE.
 */
export function hostMatch(values: readonly string[], hosts: readonly string[]): Tri {
  const one = (host: string) => values.some((v) => stringMatch(v, host, true));
  const forms = hosts.flatMap((h) => [h, h.replace(/:\d+$/, '')]);
  const results = new Set(forms.map(one));
  return results.size === 1 ? (results.has(true) ? YES : NO) : MAYBE;
}

export function pathMatcher(pattern: string, at: string): (path: string) => boolean {
  if (pattern.includes('{')) {
    if (!/^(\/(\{\*\}|\{\*\*\}|[^{}/]*))*$/.test(pattern) || /\{\*\*\}./.test(pattern)) {
      throw new NotUnderstood(`${at}: path template '${pattern}' is not valid ({**} must be last)`);
    }
    const regex = new RegExp(
      '^' +
        pattern
          .split(/(\{\*\*\}|\{\*\})/)
          .map((part) => (part === '{**}' ? '.*' : part === '{*}' ? '[^/]+' : escapeRegex(part)))
          .join('') +
        '$',
    );
    return (path) => regex.test(path);
  }
  if (pattern !== '*' && !pattern.startsWith('*') && !pattern.endsWith('*'))
    return (path) => path === pattern;
  return (path) => stringMatch(pattern, path);
}

const CONDITION_KEYS: ReadonlySet<string> = new Set([
  'source.ip',
  'remote.ip',
  'source.namespace',
  'source.serviceAccount',
  'source.principal',
  'request.auth.principal',
  'request.auth.audiences',
  'request.auth.presenter',
  'destination.ip',
  'destination.port',
  'connection.sni',
]);
/** Keys written `prefix[name]`. */
const CONDITION_MAPS = ['request.headers', 'request.auth.claims', 'experimental.envoy.filters.'];

/**
 * Whether Istio's validation accepts `key` as a `when` attribute (security.go
 * `ValidateAttribute`): anything else, `destination.namespace` and `destination.labels[…]`
 * included, rejects the policy.
 */
export function isConditionKey(key: string): boolean {
  if (CONDITION_KEYS.has(key)) return true;
  if (!CONDITION_MAPS.some((prefix) => key.startsWith(prefix))) return false;
  // validateMapKey: a non-empty name in brackets, `a[b]`.
  const open = key.indexOf('[');
  return key.endsWith(']') && open > 0 && open < key.length - 2;
}
