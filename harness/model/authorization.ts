/**
 * Istio AuthorizationPolicy (security.istio.io v1 / v1beta1) at the server's sidecar.
 *
 * Semantics (istio/api authorization_policy.proto; istio.io concepts/security; istio
 * pilot/pkg/security/authz/{model,matcher,builder}):
 * - Order: CUSTOM, then DENY, then ALLOW. Any matching DENY denies. With no ALLOW policy on the
 *   workload the request is allowed; otherwise one ALLOW must match. AUDIT never decides.
 * - ALLOW with no rules allows nothing; `rules: [{}]` allows everything; DENY/CUSTOM without
 *   rules is rejected by validation.
 * - Scope: a policy in the root namespace applies mesh-wide; elsewhere to its own namespace;
 *   `selector.matchLabels` narrows it; `targetRef(s)` attach it to gateways/waypoints, never to
 *   a sidecar.
 * - A rule matches when one `from` AND one `to` AND every `when` match; fields inside a source or
 *   operation are ANDed; values of a field are ORed; `notX` is NOT(any of X).
 * - Values (matched in istio-match.ts): exact, `prefix*`, `*suffix`, `*` (present). Principals
 *   are written without `spiffe://` (the generator adds it, so a value that has it never
 *   matches); `cluster.local` in a principal stands for the mesh's trust domain. `namespaces` is
 *   the regex `.*\/ns\/X\/.*` on the peer principal. A `when` key Istio's validation does not
 *   accept rejects the policy.
 * - Plaintext peers have no principal: positive principals/namespaces/source.* never match,
 *   negated ones always match.
 * - On a TCP (non-HTTP) port, an HTTP-only field (methods, paths, hosts, request.headers,
 *   requestPrincipals, request.auth.*) drops its rule from an ALLOW policy and is ignored in
 *   DENY, AUDIT and CUSTOM policies.
 * - Paths are matched without the query, after BASE normalization; duplicate headers are merged
 *   with ','; hosts and header names are case-insensitive.
 */
import type { PolicyManifest as Manifest } from './types.js';
import { inBlock, parseCidr, type AddressRange } from './cidr.js';
import type { Endpoint } from './cluster.js';
import {
  hostMatch,
  isConditionKey,
  namespaceMatcher,
  pathMatcher,
  principalMatcher,
  serviceAccountMatcher,
  stringMatch,
} from './istio-match.js';
import { compileMatchLabels, type LabelMatcher } from './labels.js';
import { where } from './networkpolicy.js';
import { NotUnderstood, list, obj, objectName, onlyKeys, str, strings, type Obj } from './read.js';
import { MAYBE, NO, YES, triAnd, triNot, triOr, type Tri } from './types.js';

/** What the server's sidecar knows about one request. */
export interface RequestContext {
  /** Evaluated by the HTTP RBAC filter (an HTTP port) rather than the network one. */
  readonly http: boolean;
  /** The peer's mTLS identity without `spiffe://`; undefined over plaintext. */
  readonly principal: string | undefined;
  readonly sourceAddresses: readonly AddressRange[];
  readonly destinationAddresses: readonly AddressRange[];
  readonly port: number;
  readonly method: string;
  /** Normalized, without the query. */
  readonly path: string;
  /** What the Host header may be (with and without the port when that is unknown). */
  readonly hosts: readonly string[];
  /** Lower-case names, duplicate values merged with ','. */
  readonly headers: ReadonlyMap<string, string>;
}

export interface AuthzDecision {
  readonly verdict: Tri;
  readonly reasons: readonly string[];
}

type Action = 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';
type Condition = (ctx: RequestContext) => Tri;

/**
 * One attribute test. `httpOnly` is what a sidecar's TCP filter cannot see; `ztunnelL7` what ztunnel
 * cannot (ambient-cnp-facts.md A4.2: a wider set, e.g. remoteIpBlocks and most `when` keys).
 */
export interface Field {
  readonly test: Condition;
  readonly httpOnly: boolean;
  readonly ztunnelL7: boolean;
  /** The field as written (`methods`, `when request.headers[x]`), for status messages. */
  readonly attribute: string;
}

/** A condition of the sidecar's reading: a test, and whether only HTTP can evaluate it. */
interface RuleCondition {
  readonly test: Condition;
  readonly httpOnly: boolean;
}

export interface CompiledRule {
  readonly conditions: readonly RuleCondition[];
  /**
   * The rule as clauses (its `from`, its `to`, each `when`), each a list of alternatives, each
   * the fields it ANDs: the shape ztunnel evaluates (harness/model/ambient-authz.ts).
   */
  readonly clauses: readonly (readonly (readonly Field[])[])[];
}

/** A `targetRefs` entry: what a waypoint or gateway policy attaches to. */
export interface TargetRef {
  readonly group: string;
  readonly kind: string;
  readonly name: string;
}

export interface CompiledAuthorizationPolicy {
  readonly title: string;
  readonly where: string;
  readonly namespace: string;
  readonly action: Action;
  readonly selector: LabelMatcher;
  readonly targetRefs: boolean;
  /** The targets of a `targetRef(s)` policy; empty for a selector one. */
  readonly targets: readonly TargetRef[];
  readonly rules: readonly CompiledRule[];
  readonly problem?: string;
}

export type { Action };

/** istio@1.30.3 pilot/pkg/serviceregistry/ambient/authorization.go:608-614 (ambient-cnp-facts.md A4.2). */
const ZTUNNEL_WHEN_KEYS = [
  'source.ip',
  'source.namespace',
  'source.principal',
  'destination.ip',
  'destination.port',
];

const WHEN_KEYS_TCP = [
  'source.ip',
  'remote.ip',
  'source.namespace',
  'source.principal',
  'source.serviceAccount',
  'destination.ip',
  'destination.port',
  'connection.sni',
];

export class AuthorizationLayer {
  private readonly policies: readonly CompiledAuthorizationPolicy[];
  private readonly root: string;
  private readonly trustDomain: string;
  private readonly applicable = new Map<number, CompiledAuthorizationPolicy[]>();

  constructor(manifests: readonly Manifest[], rootNamespace: string, trustDomain: string) {
    this.root = rootNamespace;
    this.trustDomain = trustDomain;
    this.policies = manifests.map((m) => compile(m, trustDomain));
  }

  get size(): number {
    return this.policies.length;
  }

  private policiesFor(server: Endpoint): CompiledAuthorizationPolicy[] {
    const hit = this.applicable.get(server.index);
    if (hit) return hit;
    const found = this.policies.filter(
      (p) => (p.namespace === this.root || p.namespace === server.namespace) && p.selector(server.labels),
    );
    this.applicable.set(server.index, found);
    return found;
  }

  /** Every policy, compiled, in apply order (for the ambient enforcers). */
  get compiled(): readonly CompiledAuthorizationPolicy[] {
    return this.policies;
  }

  /** The verdict of the server sidecar's RBAC filters for one request. */
  evaluate(server: Endpoint, ctx: RequestContext): AuthzDecision {
    const all = this.policiesFor(server);
    const reasons: string[] = [];
    const ignored = all.filter((p) => p.targetRefs);
    for (const p of ignored) {
      reasons.push(
        `AuthorizationPolicy ${p.title} (${p.where}) uses targetRefs, which attach to gateways and waypoints, not to the sidecar of ${server.key}`,
      );
    }
    return this.decide(
      server.key,
      all.filter((p) => !p.targetRefs),
      ctx,
      matchPolicy,
      reasons,
    );
  }

  /**
   * CUSTOM, DENY, then ALLOW over the given policies, as an Envoy RBAC filter (a sidecar's or a
   * waypoint's) or ztunnel applies them; `match` says how one policy matches there.
   */
  decide(
    subject: string,
    policies: readonly CompiledAuthorizationPolicy[],
    ctx: RequestContext,
    match: (p: CompiledAuthorizationPolicy, ctx: RequestContext) => Tri = matchPolicy,
    reasons: string[] = [],
  ): AuthzDecision {
    const broken = policies.find((p) => p.problem !== undefined);
    if (broken) {
      return {
        verdict: MAYBE,
        reasons: [
          ...reasons,
          `AuthorizationPolicy ${label(broken)} applies to ${subject} but is not understood: ${broken.problem ?? ''}`,
        ],
      };
    }
    const matching = (action: Action) =>
      policies.filter((p) => p.action === action).map((p) => ({ p, m: match(p, ctx) }));
    const transport = ctx.http ? 'request' : 'connection';

    for (const { p, m } of matching('AUDIT')) {
      if (m !== NO) reasons.push(`AUDIT ${label(p)} marks the ${transport} for audit (it never blocks)`);
    }
    // CUSTOM first: when it matches, an external authorizer decides, which the model cannot see;
    // the prediction still holds when the rest would deny anyway.
    const custom = matching('CUSTOM').find((c) => c.m !== NO);
    const rest = this.denyThenAllow(subject, policies, matching, transport);
    if (custom && rest.verdict !== NO) {
      return {
        verdict: MAYBE,
        reasons: [
          ...reasons,
          `CUSTOM ${label(custom.p)} ${custom.m === YES ? 'matches' : 'may match'}: the external authorizer decides, which the model does not evaluate`,
        ],
      };
    }
    return { verdict: rest.verdict, reasons: [...reasons, ...rest.reasons] };
  }

  /** DENY, then ALLOW. A DENY that may match leaves the verdict unknown unless ALLOW denies anyway. */
  private denyThenAllow(
    subject: string,
    policies: readonly CompiledAuthorizationPolicy[],
    matching: (action: Action) => { p: CompiledAuthorizationPolicy; m: Tri }[],
    transport: string,
  ): AuthzDecision {
    let uncertain: string | undefined;
    for (const { p, m } of matching('DENY')) {
      if (m === YES) return { verdict: NO, reasons: [`DENY ${label(p)} matches the ${transport}`] };
      if (m === MAYBE) uncertain ??= `whether DENY ${label(p)} matches is unknown`;
    }
    const allows = matching('ALLOW');
    let allow: AuthzDecision;
    if (allows.length === 0) {
      allow = {
        verdict: YES,
        reasons: [
          policies.length === 0
            ? `no AuthorizationPolicy applies to ${subject}`
            : `no ALLOW policy applies to ${subject}: allowed`,
        ],
      };
    } else {
      const yes = allows.find((a) => a.m === YES);
      const maybe = allows.find((a) => a.m === MAYBE);
      allow = yes
        ? { verdict: YES, reasons: [`ALLOW ${label(yes.p)} matches`] }
        : maybe
          ? { verdict: MAYBE, reasons: [`whether ALLOW ${label(maybe.p)} matches is unknown`] }
          : {
              verdict: NO,
              reasons: [
                `ALLOW policies apply to ${subject} (${allows.map((a) => label(a.p)).join(', ')}) and none matches the ${transport}`,
              ],
            };
    }
    if (uncertain && allow.verdict !== NO) return { verdict: MAYBE, reasons: [uncertain] };
    return allow;
  }

  get rootNamespace(): string {
    return this.root;
  }

  get domain(): string {
    return this.trustDomain;
  }
}

export function label(p: CompiledAuthorizationPolicy): string {
  return `${p.title} (${p.where})`;
}

function matchPolicy(p: CompiledAuthorizationPolicy, ctx: RequestContext): Tri {
  let out: Tri = NO;
  for (const rule of p.rules) {
    let m: Tri = YES;
    for (const c of rule.conditions) {
      if (c.httpOnly && !ctx.http) {
        if (p.action === 'ALLOW') {
          m = NO;
          break;
        }
        continue;
      }
      m = triAnd(m, c.test(ctx));
      if (m === NO) break;
    }
    out = triOr(out, m);
    if (out === YES) return YES;
  }
  return out;
}

function compile(m: Manifest, trustDomain: string): CompiledAuthorizationPolicy {
  const { name, namespace } = objectName(m.object);
  const spec0 = typeof m.object.spec === 'object' && m.object.spec !== null ? (m.object.spec as Obj) : {};
  const action = (typeof spec0.action === 'string' ? spec0.action : 'ALLOW') as Action;
  const base = { title: `${namespace ?? '?'}/${name}`, where: where(m), namespace: namespace ?? '', action };
  try {
    if (namespace === undefined) throw new NotUnderstood('metadata.namespace is missing');
    const spec = obj(m.object.spec, 'spec');
    onlyKeys(spec, ['selector', 'targetRef', 'targetRefs', 'action', 'provider', 'rules'], 'spec');
    if (!['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'].includes(action))
      throw new NotUnderstood(`spec.action '${action}' is not ALLOW, DENY, AUDIT or CUSTOM`);
    const hasTarget =
      (spec.targetRef !== undefined && spec.targetRef !== null) ||
      list(spec.targetRefs, 'spec.targetRefs').length > 0;
    if (hasTarget && spec.selector !== undefined && spec.selector !== null) {
      throw new NotUnderstood('selector and targetRef(s) cannot both be set (Istio rejects it)');
    }
    const selector = compileMatchLabels(spec.selector, 'spec.selector').match;
    const rawRules =
      spec.rules === undefined || spec.rules === null ? undefined : list(spec.rules, 'spec.rules');
    if ((action === 'DENY' || action === 'CUSTOM') && (rawRules === undefined || rawRules.length === 0)) {
      throw new NotUnderstood(`${action} without rules is rejected by Istio validation`);
    }
    if (action === 'CUSTOM' && (spec.provider === undefined || spec.provider === null)) {
      throw new NotUnderstood('CUSTOM needs a provider (Istio rejects it)');
    }
    if (action !== 'CUSTOM' && spec.provider !== undefined && spec.provider !== null) {
      throw new NotUnderstood('provider is only for CUSTOM (Istio rejects it)');
    }
    const rules = (rawRules ?? []).map((r, i) => compileRule(r, `spec.rules[${i}]`, trustDomain));
    return { ...base, selector, targetRefs: hasTarget, targets: targetsOf(spec), rules };
  } catch (error) {
    if (!(error instanceof NotUnderstood)) throw error;
    let selector: LabelMatcher = () => true;
    try {
      selector = compileMatchLabels(spec0.selector, 'spec.selector').match;
    } catch {
      // The selector itself is broken: the policy may apply to any workload in scope.
    }
    return { ...base, selector, targetRefs: false, targets: [], rules: [], problem: error.message };
  }
}

/** `targetRef` and `targetRefs` entries; a missing group is the core group. */
function targetsOf(spec: Obj): TargetRef[] {
  const raw = [
    ...(spec.targetRef === undefined || spec.targetRef === null ? [] : [spec.targetRef]),
    ...list(spec.targetRefs, 'spec.targetRefs'),
  ];
  return raw.map((t, i) => {
    const o = obj(t, `spec.targetRefs[${i}]`);
    onlyKeys(o, ['group', 'kind', 'name', 'namespace'], `spec.targetRefs[${i}]`);
    // Istio's validation: "targetRef namespace must not be set" (ambient-cnp-facts.md A4.4).
    if (o.namespace !== undefined)
      throw new NotUnderstood(`spec.targetRefs[${i}].namespace must not be set (Istio rejects it)`);
    const kind = str(o.kind, `spec.targetRefs[${i}].kind`);
    const name = str(o.name, `spec.targetRefs[${i}].name`);
    if (kind === undefined || name === undefined)
      throw new NotUnderstood(`spec.targetRefs[${i}] needs kind and name`);
    return { group: str(o.group, `spec.targetRefs[${i}].group`) ?? '', kind, name };
  });
}

function compileRule(raw: unknown, at: string, trustDomain: string): CompiledRule {
  const r = obj(raw, at);
  onlyKeys(r, ['from', 'to', 'when'], at);
  const conditions: RuleCondition[] = [];
  const clauses: (readonly Field[])[][] = [];
  const from = list(r.from, `${at}.from`);
  if (from.length > 0) {
    const sources = from.map((f, i) => {
      const fo = obj(f, `${at}.from[${i}]`);
      onlyKeys(fo, ['source'], `${at}.from[${i}]`);
      const source = obj(fo.source, `${at}.from[${i}].source`);
      // Istio's validation: "`from.source` must not be empty".
      if (Object.keys(source).length === 0)
        throw new NotUnderstood(`${at}.from[${i}].source is empty (Istio rejects it)`);
      return compileSource(source, `${at}.from[${i}].source`, trustDomain);
    });
    pushAnyOf(conditions, sources);
    clauses.push(sources);
  }
  const to = list(r.to, `${at}.to`);
  if (to.length > 0) {
    const operations = to.map((t, i) => {
      const tobj = obj(t, `${at}.to[${i}]`);
      onlyKeys(tobj, ['operation'], `${at}.to[${i}]`);
      const operation = obj(tobj.operation, `${at}.to[${i}].operation`);
      if (Object.keys(operation).length === 0) {
        throw new NotUnderstood(`${at}.to[${i}].operation is empty (Istio rejects it)`);
      }
      return compileOperation(operation, `${at}.to[${i}].operation`);
    });
    pushAnyOf(conditions, operations);
    clauses.push(operations);
  }
  list(r.when, `${at}.when`).forEach((w, i) => {
    const field = compileWhen(obj(w, `${at}.when[${i}]`), `${at}.when[${i}]`, trustDomain);
    conditions.push(field);
    clauses.push([[field]]);
  });
  return { conditions, clauses };
}

/**
 * `from`/`to` lists are ORs of ANDs of fields. On a TCP port an HTTP-only field anywhere in
 * them drops the rule from an ALLOW policy; in other policies that field alone is ignored.
 */
function pushAnyOf(out: RuleCondition[], alternatives: readonly (readonly Field[])[]): void {
  const anyHttpOnly = alternatives.some((a) => a.some((f) => f.httpOnly));
  if (!anyHttpOnly) {
    out.push({
      test: (ctx) => {
        let m: Tri = NO;
        for (const alt of alternatives) {
          let a: Tri = YES;
          for (const f of alt) {
            a = triAnd(a, f.test(ctx));
            if (a === NO) break;
          }
          m = triOr(m, a);
          if (m === YES) return YES;
        }
        return m;
      },
      httpOnly: false,
    });
    return;
  }
  out.push({
    test: (ctx) => {
      let m: Tri = NO;
      for (const alt of alternatives) {
        let a: Tri = YES;
        for (const f of alt) {
          if (f.httpOnly && !ctx.http) continue;
          a = triAnd(a, f.test(ctx));
          if (a === NO) break;
        }
        m = triOr(m, a);
        if (m === YES) return YES;
      }
      return m;
    },
    httpOnly: false,
  });
  // Istio fails the whole rule's generation for an ALLOW policy on TCP: the rule is dropped.
  out.push({ test: () => YES, httpOnly: true });
}

function blockMatcher(values: readonly string[], at: string): (addresses: readonly AddressRange[]) => Tri {
  const blocks = values.map((v) => {
    const r = parseCidr(v);
    if (!r) throw new NotUnderstood(`${at}: '${v}' is not an IP or CIDR`);
    return r;
  });
  return (addresses) => {
    let m: Tri = NO;
    for (const b of blocks) m = triOr(m, inBlock(addresses, b));
    return m;
  };
}

/** A positive/negative pair over a boolean test: absent attributes never match values, always match notValues. */
function pair(
  out: Field[],
  values: readonly string[] | undefined,
  notValues: readonly string[] | undefined,
  make: (v: readonly string[]) => Condition,
  httpOnly: boolean,
  attribute: string,
  ztunnelL7: boolean = httpOnly,
): void {
  if (values && values.length > 0) out.push({ test: make(values), httpOnly, ztunnelL7, attribute });
  if (notValues && notValues.length > 0) {
    const inner = make(notValues);
    out.push({ test: (ctx) => triNot(inner(ctx)), httpOnly, ztunnelL7, attribute: notName(attribute) });
  }
}

/** `methods` → `notMethods`; `when k` stays as it is. */
function notName(attribute: string): string {
  return attribute.startsWith('when ')
    ? attribute
    : `not${attribute[0]?.toUpperCase() ?? ''}${attribute.slice(1)}`;
}

function opt(o: Obj, key: string, at: string): readonly string[] | undefined {
  return o[key] === undefined || o[key] === null ? undefined : strings(o[key], `${at}.${key}`);
}

function compileSource(s: Obj, at: string, trustDomain: string): Field[] {
  onlyKeys(
    s,
    [
      'principals',
      'notPrincipals',
      'requestPrincipals',
      'notRequestPrincipals',
      'namespaces',
      'notNamespaces',
      'ipBlocks',
      'notIpBlocks',
      'remoteIpBlocks',
      'notRemoteIpBlocks',
      'serviceAccounts',
      'notServiceAccounts',
    ],
    at,
  );
  const fields: Field[] = [];
  const sa = opt(s, 'serviceAccounts', at) ?? opt(s, 'notServiceAccounts', at);
  if (
    sa &&
    (opt(s, 'principals', at) ??
      opt(s, 'namespaces', at) ??
      opt(s, 'notPrincipals', at) ??
      opt(s, 'notNamespaces', at))
  ) {
    throw new NotUnderstood(
      `${at}: serviceAccounts cannot be combined with principals or namespaces (Istio rejects it)`,
    );
  }
  const bool =
    (f: (p: string | undefined) => boolean): Condition =>
    (ctx) =>
      f(ctx.principal) ? YES : NO;
  pair(
    fields,
    opt(s, 'principals', at),
    opt(s, 'notPrincipals', at),
    (v) => bool(principalMatcher(v, trustDomain)),
    false,
    'principals',
  );
  pair(
    fields,
    opt(s, 'namespaces', at),
    opt(s, 'notNamespaces', at),
    (v) => bool(namespaceMatcher(v)),
    false,
    'namespaces',
  );
  pair(
    fields,
    opt(s, 'serviceAccounts', at),
    opt(s, 'notServiceAccounts', at),
    (v) => bool(serviceAccountMatcher(v, at)),
    false,
    'serviceAccounts',
  );
  // Without a JWT (no RequestAuthentication validated one) there is no request principal.
  pair(
    fields,
    opt(s, 'requestPrincipals', at),
    opt(s, 'notRequestPrincipals', at),
    () => () => NO,
    true,
    'requestPrincipals',
  );
  const ips = (v: readonly string[]): Condition => {
    const m = blockMatcher(v, at);
    return (ctx) => m(ctx.sourceAddresses);
  };
  pair(fields, opt(s, 'ipBlocks', at), opt(s, 'notIpBlocks', at), ips, false, 'ipBlocks');
  // ztunnel treats remoteIpBlocks as L7 (ambient-cnp-facts.md A4.2).
  pair(
    fields,
    opt(s, 'remoteIpBlocks', at),
    opt(s, 'notRemoteIpBlocks', at),
    ips,
    false,
    'remoteIpBlocks',
    true,
  );
  return fields;
}

function compileOperation(o: Obj, at: string): Field[] {
  onlyKeys(o, ['hosts', 'notHosts', 'ports', 'notPorts', 'methods', 'notMethods', 'paths', 'notPaths'], at);
  const fields: Field[] = [];
  pair(
    fields,
    opt(o, 'hosts', at),
    opt(o, 'notHosts', at),
    (v) => (ctx) => hostMatch(v, ctx.hosts),
    true,
    'hosts',
  );
  pair(
    fields,
    opt(o, 'ports', at),
    opt(o, 'notPorts', at),
    (v) => (ctx) => (v.includes(String(ctx.port)) ? YES : NO),
    false,
    'ports',
  );
  pair(
    fields,
    opt(o, 'methods', at),
    opt(o, 'notMethods', at),
    (v) => (ctx) => (v.some((x) => stringMatch(x, ctx.method)) ? YES : NO),
    true,
    'methods',
  );
  pair(
    fields,
    opt(o, 'paths', at),
    opt(o, 'notPaths', at),
    (v) => {
      const matchers = v.map((p) => pathMatcher(p, at));
      return (ctx) => (matchers.some((mm) => mm(ctx.path)) ? YES : NO);
    },
    true,
    'paths',
  );
  return fields;
}

const CLIENT_ADDED =
  /^(x-envoy-|x-forwarded-|x-request-id$|x-b3-|traceparent$|tracestate$|user-agent$|x-client-trace-id$|content-length$|content-type$|accept)/;

/** How one `when` key is matched, and whether it needs HTTP (ignored or dropped on TCP ports). */
function whenMatcher(
  key: string,
  at: string,
  trustDomain: string,
): { make: (v: readonly string[]) => Condition; httpOnly: boolean } {
  if (!isConditionKey(key))
    throw new NotUnderstood(`${at}.key '${key}' is not an attribute Istio accepts (rejected as unknown)`);
  const header = /^request\.headers\[(.+)\]$/.exec(key);
  if (header) {
    const name = (header[1] ?? '').toLowerCase();
    const make =
      (v: readonly string[]): Condition =>
      (ctx) => {
        const actual = ctx.headers.get(name);
        if (actual === undefined && CLIENT_ADDED.test(name)) return MAYBE;
        return v.some((x) => stringMatch(x, actual)) ? YES : NO;
      };
    return { make, httpOnly: true };
  }
  // No JWT was validated: the attribute is absent.
  if (key.startsWith('request.auth.')) return { make: () => () => NO, httpOnly: true };
  const onPrincipal =
    (m: (principal: string | undefined) => boolean): Condition =>
    (ctx) =>
      m(ctx.principal) ? YES : NO;
  switch (key) {
    case 'source.principal':
      return { make: (v) => onPrincipal(principalMatcher(v, trustDomain)), httpOnly: false };
    case 'source.namespace':
      return { make: (v) => onPrincipal(namespaceMatcher(v)), httpOnly: false };
    case 'source.serviceAccount':
      return { make: (v) => onPrincipal(serviceAccountMatcher(v, at)), httpOnly: false };
    case 'source.ip':
    case 'remote.ip':
      return {
        make: (v) => {
          const m = blockMatcher(v, at);
          return (ctx) => m(ctx.sourceAddresses);
        },
        httpOnly: false,
      };
    case 'destination.ip':
      return {
        make: (v) => {
          const m = blockMatcher(v, at);
          return (ctx) => m(ctx.destinationAddresses);
        },
        httpOnly: false,
      };
    case 'destination.port':
      return { make: (v) => (ctx) => (v.includes(String(ctx.port)) ? YES : NO), httpOnly: false };
  }
  if (WHEN_KEYS_TCP.includes(key) || key.startsWith('experimental.envoy.filters.')) {
    return { make: () => () => MAYBE, httpOnly: false };
  }
  throw new NotUnderstood(`${at}.key '${key}' is not an attribute Istio accepts (rejected as unknown)`);
}

function compileWhen(w: Obj, at: string, trustDomain: string): Field {
  onlyKeys(w, ['key', 'values', 'notValues'], at);
  const key = str(w.key, `${at}.key`);
  if (key === undefined) throw new NotUnderstood(`${at}.key is required`);
  const values = opt(w, 'values', at);
  const notValues = opt(w, 'notValues', at);
  if (!values?.length && !notValues?.length)
    throw new NotUnderstood(`${at}: values or notValues is required (Istio rejects it)`);
  const fields: Field[] = [];
  const { make, httpOnly } = whenMatcher(key, at, trustDomain);
  // The `when` keys ztunnel evaluates: l4WhenAttributes (ambient-cnp-facts.md A4.2).
  const ztunnelL7 = !ZTUNNEL_WHEN_KEYS.includes(key);
  pair(fields, values, notValues, make, httpOnly, `when ${key}`, ztunnelL7);
  return {
    test: (ctx) => {
      let m: Tri = YES;
      for (const f of fields) m = triAnd(m, f.test(ctx));
      return m;
    },
    httpOnly,
    ztunnelL7,
    attribute: `when ${key}`,
  };
}

/**
 * The path as Istio's RBAC filter sees it: without query or fragment, `\` as `/`, percent-encoded
 * unreserved characters decoded, dot segments resolved (BASE normalization).
 */
export function normalizePath(raw: string): string {
  let p = raw.split(/[?#]/)[0] ?? '';
  p = p.replace(/\\/g, '/');
  p = p.replace(/%([0-9a-fA-F]{2})/g, (all, hex: string) => {
    const c = String.fromCharCode(parseInt(hex, 16));
    return /[A-Za-z0-9\-._~]/.test(c) ? c : all.toUpperCase();
  });
  const out: string[] = [];
  const segments = p.split('/');
  for (const [i, s] of segments.entries()) {
    if (s === '.') {
      if (i === segments.length - 1) out.push('');
      continue;
    }
    if (s === '..') {
      if (out.length > 1) out.pop();
      if (i === segments.length - 1) out.push('');
      continue;
    }
    out.push(s);
  }
  const joined = out.join('/');
  return joined.startsWith('/') ? joined : `/${joined}`;
}
