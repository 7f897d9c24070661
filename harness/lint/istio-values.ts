/**
 * How Istio matches the string values of AuthorizationPolicy fields: exact by default, `abc*`
 * prefix, `*abc` suffix, `*` any non-empty value. (istio/istio pilot/pkg/security/authz/matcher.)
 */

/** Whether the Istio pattern `pattern` matches `value`. */
export function istioMatches(pattern: string, value: string): boolean {
  if (pattern === '*') return value !== '';
  if (pattern.endsWith('*')) return value.startsWith(pattern.slice(0, -1));
  if (pattern.startsWith('*')) return value.endsWith(pattern.slice(1));
  return pattern === value;
}

/**
 * Whether every value `inner` can match is also matched by `outer` (so `NOT outer` excludes all
 * of them). Conservative: false when unsure.
 */
export function istioCovers(outer: string, inner: string): boolean {
  if (outer === '*') return inner !== '';
  if (inner.includes('*')) {
    if (outer.endsWith('*') && inner.endsWith('*') && !inner.startsWith('*')) {
      return inner.slice(0, -1).startsWith(outer.slice(0, -1));
    }
    return outer === inner;
  }
  return istioMatches(outer, inner);
}

/** The namespace a principal `<td>/ns/<ns>/sa/<sa>` names, when it names one exactly. */
export function principalNamespace(principal: string): string | undefined {
  const m = /(?:^|\/)ns\/([^/*]+)\/sa\//.exec(principal);
  return m?.[1];
}
