/**
 * AuthorizationPolicy pitfalls. Semantics from istio/api authorization_policy.proto and
 * istio/istio pilot/pkg/security/authz (docs/behaviour.md §B).
 */
import {
  isConditionKey,
  namespaceMatcher,
  namespaceValueMatches,
  patternCovers,
  principalNamespace,
} from '../model/istio-match.js';
import type { Manifest } from '../scenario/types.js';
import type { DocPath } from '../yaml-source.js';
import { arr, obj, str, strings, type Json } from '../policies/objects.js';
import { namespaceOf, type LintContext } from './context.js';
import { inNamespace, memo, ofKind, ofKindIn } from './indexes.js';
import { identityHeadersSetIn } from './lua.js';
import { at, type Finding, type Rule } from './types.js';

interface Clause<T> {
  readonly m: Manifest;
  readonly path: DocPath;
  readonly value: T;
  readonly action: string;
}

function policies(ctx: LintContext): readonly Manifest[] {
  return ofKind(ctx, 'AuthorizationPolicy', 'security.istio.io');
}

function actionOf(m: Manifest): string {
  return str(obj(m.object.spec).action) ?? 'ALLOW';
}

function rulesOf(ctx: LintContext): Clause<Json>[] {
  return policies(ctx).flatMap((m) =>
    arr(obj(m.object.spec).rules).map((r, i) => ({
      m,
      path: ['spec', 'rules', i],
      value: obj(r),
      action: actionOf(m),
    })),
  );
}

function sourcesOf(ctx: LintContext): Clause<Json>[] {
  return rulesOf(ctx).flatMap((r) =>
    arr(r.value.from).map((f, j) => ({
      ...r,
      path: [...r.path, 'from', j, 'source'],
      value: obj(obj(f).source),
    })),
  );
}

function operationsOf(ctx: LintContext): Clause<Json>[] {
  return rulesOf(ctx).flatMap((r) =>
    arr(r.value.to).map((t, j) => ({
      ...r,
      path: [...r.path, 'to', j, 'operation'],
      value: obj(obj(t).operation),
    })),
  );
}

function conditionsOf(ctx: LintContext): Clause<Json>[] {
  return rulesOf(ctx).flatMap((r) =>
    arr(r.value.when).map((w, j) => ({ ...r, path: [...r.path, 'when', j], value: obj(w) })),
  );
}

const unsatisfiableSource: Rule = {
  id: 'authz/unsatisfiable-source',
  severity: 'error',
  summary: 'A source whose fields contradict each other never matches',
  help:
    'Fields of one source are ANDed. A principal in a namespace the same source excludes (notNamespaces) ' +
    'or does not include (namespaces) can never match: in a DENY policy the rule denies nothing, in an ALLOW ' +
    'policy it admits nothing (istio/istio pilot/pkg/security/authz/model; facts §B).',
  check(ctx) {
    const out: Finding[] = [];
    for (const s of sourcesOf(ctx)) {
      const namespaces = strings(s.value.namespaces);
      const notNamespaces = strings(s.value.notNamespaces);
      const principals = strings(s.value.principals);
      const notPrincipals = strings(s.value.notPrincipals);
      const excludedNs = (ns: string) => notNamespaces.some((x) => namespaceValueMatches(x, ns));
      const includedNs = (ns: string) =>
        namespaces.length === 0 || namespaces.some((x) => namespaceValueMatches(x, ns));
      const effect =
        s.action === 'DENY'
          ? 'this DENY rule never matches and denies nothing'
          : s.action === 'ALLOW'
            ? 'this source admits nothing'
            : 'this source never matches';
      if (namespaces.length > 0 && namespaces.every((n) => !n.includes('*') && excludedNs(n))) {
        out.push(
          at(
            this,
            s.m,
            [...s.path, 'namespaces'],
            `namespaces ${JSON.stringify(namespaces)} are all excluded by notNamespaces ${JSON.stringify(notNamespaces)} in the same source: ${effect}`,
            'Fields of one source are ANDed; put the alternatives in separate sources (from: [{source: …}, {source: …}]).',
          ),
        );
        continue;
      }
      if (principals.length === 0) continue;
      // An exact principal is checked against the namespaces regexes as the RBAC filter does.
      const notIn = namespaceMatcher(notNamespaces);
      const inAny = namespaceMatcher(namespaces);
      const impossible = principals.filter((p) => {
        if (notPrincipals.some((x) => patternCovers(x, p))) return true;
        if (!p.includes('*')) return notIn(p) || (namespaces.length > 0 && !inAny(p));
        const ns = principalNamespace(p);
        return ns !== undefined && (excludedNs(ns) || !includedNs(ns));
      });
      if (impossible.length === principals.length) {
        const why =
          notNamespaces.length > 0
            ? `notNamespaces ${JSON.stringify(notNamespaces)}`
            : namespaces.length > 0
              ? `namespaces ${JSON.stringify(namespaces)}`
              : `notPrincipals ${JSON.stringify(notPrincipals)}`;
        out.push(
          at(
            this,
            s.m,
            [...s.path, 'principals'],
            `principals ${JSON.stringify(principals)} can never match together with ${why} in the same source: ${effect}`,
            s.action === 'DENY'
              ? 'To deny other namespaces use one source with notNamespaces: [<own namespace>, <shared namespaces>]; to deny a principal, give it its own source.'
              : 'Put the principals and the namespaces in separate sources (OR), or drop the contradicting field.',
          ),
        );
      }
    }
    return out;
  },
};

const spiffePrincipal: Rule = {
  id: 'authz/spiffe-principal',
  severity: 'error',
  summary: 'A principal written with spiffe:// never matches',
  help:
    'Istio prepends spiffe:// to principals itself; a value that already has it is compared against ' +
    'spiffe://spiffe://… and never matches (istio/istio generator.go; facts §B "principals format").',
  check(ctx) {
    const out: Finding[] = [];
    for (const s of sourcesOf(ctx)) {
      for (const field of ['principals', 'notPrincipals'] as const) {
        strings(s.value[field]).forEach((p, i) => {
          if (p.startsWith('spiffe://')) {
            out.push(
              at(
                this,
                s.m,
                [...s.path, field, i],
                `${field} value '${p}' starts with spiffe://, so it never matches${field === 'notPrincipals' ? ' (and the negation matches everyone)' : ''}`,
                `Write it without the scheme: '${p.slice('spiffe://'.length)}'.`,
              ),
            );
          }
        });
      }
    }
    for (const c of conditionsOf(ctx)) {
      if (str(c.value.key) !== 'source.principal') continue;
      for (const field of ['values', 'notValues'] as const) {
        strings(c.value[field]).forEach((p, i) => {
          if (p.startsWith('spiffe://')) {
            out.push(
              at(
                this,
                c.m,
                [...c.path, field, i],
                `source.principal value '${p}' starts with spiffe://, so it never matches`,
                `Write it without the scheme: '${p.slice('spiffe://'.length)}'.`,
              ),
            );
          }
        });
      }
    }
    return out;
  },
};

const denyWithoutRules: Rule = {
  id: 'authz/deny-without-rules',
  severity: 'error',
  summary: 'A DENY or CUSTOM policy without rules is rejected by Istio',
  help: 'Istio validation: "DENY action without `rules` is meaningless" (pkg/config/validation; facts §B).',
  check(ctx) {
    return policies(ctx)
      .filter((m) => ['DENY', 'CUSTOM'].includes(actionOf(m)) && arr(obj(m.object.spec).rules).length === 0)
      .map((m) =>
        at(
          this,
          m,
          ['spec', 'action'],
          `${actionOf(m)} policy without rules: Istio rejects it`,
          'To deny every request use rules: [{}]; to deny nothing, delete the policy.',
        ),
      );
  },
};

const allowNothing: Rule = {
  id: 'authz/allow-nothing',
  severity: 'warning',
  summary: 'An ALLOW policy without rules denies every request to the workloads it selects',
  help:
    'spec: {} (ALLOW, no rules) is allow-nothing: the selected workloads accept only what another ALLOW ' +
    'policy admits. In the root namespace without a selector that is every workload of the mesh (facts §B).',
  check(ctx) {
    const out: Finding[] = [];
    for (const m of policies(ctx)) {
      const spec = obj(m.object.spec);
      if (actionOf(m) !== 'ALLOW' || arr(spec.rules).length > 0) continue;
      const meshWide = namespaceOf(m) === ctx.rootNamespace && spec.selector === undefined;
      out.push(
        at(
          this,
          m,
          ['spec'],
          meshWide
            ? `allow-nothing in the mesh root namespace ${ctx.rootNamespace}: every workload of the mesh (same-tenant calls, shared services) is unreachable unless an ALLOW policy of its own admits the caller`
            : `allow-nothing: the workloads this policy selects accept only what another ALLOW policy admits`,
          meshWide
            ? 'Pair it with an ALLOW policy for every workload that must stay reachable (same-namespace callers included), or deny cross-tenant traffic per tenant instead.'
            : 'Make sure an ALLOW policy admits every legitimate caller of these workloads.',
          meshWide ? 'warning' : 'info',
        ),
      );
    }
    return out;
  },
};

const denyNegatedHeader: Rule = {
  id: 'authz/deny-negated-header',
  severity: 'warning',
  summary: 'A DENY condition with notValues on a header also matches requests without the header',
  help:
    'notValues is NOT(any value matches); a request that lacks the header matches no value, so the negation ' +
    'holds and the DENY applies to it. notValues: [""] therefore does not mean "header present".',
  check(ctx) {
    const out: Finding[] = [];
    for (const c of conditionsOf(ctx)) {
      const key = str(c.value.key) ?? '';
      if (c.action !== 'DENY' || !key.startsWith('request.headers[') || c.value.notValues === undefined)
        continue;
      const empty = strings(c.value.notValues).includes('');
      // A header a filter sets before RBAC from the peer certificate is absent only when there is
      // no verified identity: denying then is the intent (fail closed).
      const header = key.slice('request.headers['.length, -1).toLowerCase();
      const ns = namespaceOf(c.m);
      if (!empty && ns !== undefined && identityHeadersSetIn(ctx, ns).has(header)) continue;
      out.push(
        at(
          this,
          c.m,
          [...c.path, 'notValues'],
          empty
            ? `notValues: [""] on ${key} matches every request that lacks the header too: this rule denies every request from its sources, not only those that send the header`
            : `notValues on ${key} also matches requests that lack the header: they are denied too`,
          empty
            ? "To match requests that send the header, use values: ['*'] (presence)."
            : "If absent headers must pass, add a separate condition with values: ['*'] (presence).",
          empty ? 'error' : 'warning',
        ),
      );
    }
    return out;
  },
};

const HTTP_OPERATION_FIELDS = ['methods', 'notMethods', 'paths', 'notPaths', 'hosts', 'notHosts'];
const HTTP_SOURCE_FIELDS = ['requestPrincipals', 'notRequestPrincipals'];

const denyHttpOnlyOnTcp: Rule = {
  id: 'authz/deny-http-only-on-tcp',
  severity: 'warning',
  summary: 'A DENY rule with HTTP-only conditions and no ports denies more on TCP ports',
  help:
    'On a TCP (non-HTTP) port Istio drops HTTP-only conditions (methods, paths, hosts, request.* keys) from ' +
    'a DENY rule and keeps the rest, so the rule denies all TCP traffic from its sources (istio authz-tcp ' +
    'task; facts §A1).',
  check(ctx) {
    const out: Finding[] = [];
    for (const r of rulesOf(ctx)) {
      if (r.action !== 'DENY') continue;
      const ops = arr(r.value.to).map((t) => obj(obj(t).operation));
      const hasPorts = ops.length > 0 && ops.every((o) => o.ports !== undefined);
      if (hasPorts) continue;
      const httpOnly =
        ops.some((o) => HTTP_OPERATION_FIELDS.some((f) => o[f] !== undefined)) ||
        arr(r.value.from).some((f) => HTTP_SOURCE_FIELDS.some((k) => obj(obj(f).source)[k] !== undefined)) ||
        arr(r.value.when).some((w) => (str(obj(w).key) ?? '').startsWith('request.'));
      if (!httpOnly) continue;
      out.push(
        at(
          this,
          r.m,
          r.path,
          "DENY rule with HTTP-only conditions and no ports: on TCP ports of the selected workloads the HTTP conditions are dropped and every TCP connection from the rule's sources is denied",
          'Add to: [{operation: {ports: [<HTTP ports>]}}] so the rule applies to the HTTP ports only.',
        ),
      );
    }
    return out;
  },
};

const middleWildcard: Rule = {
  id: 'authz/path-wildcard',
  severity: 'error',
  summary: "A '*' inside a path is a literal character, not a wildcard",
  help:
    "Istio supports '*' only as a whole prefix or suffix; '/api/*/x' is matched exactly. Path templates " +
    '{*} and {**} match segments (facts §B "Value matching").',
  check(ctx) {
    const out: Finding[] = [];
    for (const o of operationsOf(ctx)) {
      for (const field of ['paths', 'notPaths'] as const) {
        strings(o.value[field]).forEach((p, i) => {
          const inner = p.slice(1, -1);
          if (inner.includes('*') && !p.includes('{*') && p !== '*') {
            out.push(
              at(
                this,
                o.m,
                [...o.path, field, i],
                `path '${p}' has '*' in the middle: Istio matches it literally`,
                `Use a path template: '${p.replace(/\*/g, '{*}')}' (one segment) or '{**}' (any number).`,
              ),
            );
          }
        });
      }
    }
    return out;
  },
};

const methodCase: Rule = {
  id: 'authz/method-case',
  severity: 'error',
  summary: 'HTTP methods must be upper-case',
  help: 'Methods are matched exactly and requests with lower-case methods are rejected (facts §B).',
  check(ctx) {
    const out: Finding[] = [];
    for (const o of operationsOf(ctx)) {
      for (const field of ['methods', 'notMethods'] as const) {
        strings(o.value[field]).forEach((v, i) => {
          if (v !== v.toUpperCase()) {
            out.push(
              at(
                this,
                o.m,
                [...o.path, field, i],
                `method '${v}' is not upper-case and never matches`,
                `Write '${v.toUpperCase()}'.`,
              ),
            );
          }
        });
      }
    }
    return out;
  },
};

const unknownCondition: Rule = {
  id: 'authz/unknown-condition',
  severity: 'error',
  summary: 'A when key Istio does not know is rejected',
  help: 'Istio validates condition keys ("unknown attribute"); destination.namespace and destination.labels are rejected (security.go ValidateAttribute; facts §B).',
  check(ctx) {
    const out: Finding[] = [];
    for (const c of conditionsOf(ctx)) {
      const key = str(c.value.key);
      if (key === undefined) continue;
      if (isConditionKey(key)) continue;
      out.push(
        at(
          this,
          c.m,
          [...c.path, 'key'],
          `condition key '${key}' is not an Istio attribute: the policy is rejected`,
          'Use one of request.headers[<name>], source.namespace, source.principal, source.ip, destination.port, … (istio.io conditions reference).',
        ),
      );
    }
    return out;
  },
};

/** Whether STRICT mTLS covers the namespace, from the PeerAuthentications being linted. */
export function strictCovers(ctx: LintContext, ns: string | undefined): boolean {
  const modeIn = (namespace: string): string | undefined =>
    memo(ctx, `authz/mtls-mode ${namespace}`, () => {
      const pa = ofKindIn(ctx, namespace, 'PeerAuthentication', 'security.istio.io').find(
        (m) => obj(m.object.spec).selector === undefined,
      );
      return pa ? (str(obj(obj(pa.object.spec).mtls).mode) ?? 'UNSET') : undefined;
    });
  const local = ns === undefined || ns === ctx.rootNamespace ? undefined : modeIn(ns);
  if (local !== undefined && local !== 'UNSET') return local === 'STRICT';
  return modeIn(ctx.rootNamespace) === 'STRICT';
}

const IDENTITY_FIELDS = ['principals', 'notPrincipals', 'namespaces', 'notNamespaces'];

const identityWithoutStrict: Rule = {
  id: 'authz/identity-without-strict-mtls',
  severity: 'warning',
  summary: 'Identity conditions without STRICT mTLS let plaintext requests through or deny them unexpectedly',
  help:
    'Without mTLS a request has no peer identity: principals/namespaces never match and their negations ' +
    'always do. Istio says to use them only with STRICT mTLS (concepts/security "Dependency on mutual TLS").',
  check(ctx) {
    const out: Finding[] = [];
    const reported = new Set<Manifest>();
    for (const s of sourcesOf(ctx)) {
      if (reported.has(s.m) || !IDENTITY_FIELDS.some((f) => s.value[f] !== undefined)) continue;
      const ns = namespaceOf(s.m);
      if (strictCovers(ctx, ns)) continue;
      reported.add(s.m);
      out.push(
        at(
          this,
          s.m,
          s.path,
          `identity conditions, but no STRICT PeerAuthentication covers namespace ${ns ?? '(none)'} in the linted manifests`,
          `Add a PeerAuthentication with mtls.mode STRICT in ${ctx.rootNamespace} (mesh-wide, no selector) or in ${ns ?? 'the namespace'}.`,
        ),
      );
    }
    return out;
  },
};

const clientHeader: Rule = {
  id: 'authz/client-controlled-header',
  severity: 'info',
  summary: 'A policy trusts a header the client sends',
  help:
    'request.headers[...] carries whatever the caller sent unless a filter that runs before RBAC replaces it; ' +
    'it identifies nobody. The verified identity is source.principal / source.namespace.',
  check(ctx) {
    const out: Finding[] = [];
    for (const c of conditionsOf(ctx)) {
      const key = str(c.value.key) ?? '';
      const header = /^request\.headers\[(.+)\]$/.exec(key)?.[1]?.toLowerCase();
      if (header === undefined || c.action !== 'ALLOW') continue;
      const ns = namespaceOf(c.m);
      if (ns !== undefined && identityHeadersSetIn(ctx, ns).has(header)) continue;
      out.push(
        at(
          this,
          c.m,
          [...c.path, 'key'],
          `'${header}' is sent by the client and checked as is: it adds no assurance beyond the other conditions`,
          'Rely on source.namespace / source.principal, or set the header from the peer certificate in a filter that runs before RBAC.',
        ),
      );
    }
    return out;
  },
};

const rootNamespaceMismatch: Rule = {
  id: 'istio/not-root-namespace',
  severity: 'warning',
  summary: 'A mesh-wide policy in a namespace that is not the mesh root namespace',
  help:
    'Only policies in the root namespace (meshConfig.rootNamespace) apply mesh-wide; elsewhere they apply ' +
    'to their own namespace (peer_authentication.proto, authorization_policy.proto; facts §D(d)).',
  check(ctx) {
    if (!ctx.scenario || ctx.rootNamespace === 'istio-system') return [];
    const out: Finding[] = [];
    for (const m of ctx.manifests) {
      if (!['PeerAuthentication', 'AuthorizationPolicy', 'EnvoyFilter'].includes(String(m.object.kind)))
        continue;
      if (namespaceOf(m) !== 'istio-system') continue;
      out.push(
        at(
          this,
          m,
          ['metadata', 'namespace'],
          `in istio-system, but the mesh root namespace of this scenario is ${ctx.rootNamespace}: this applies to istio-system only, not mesh-wide`,
          `Put it in ${ctx.rootNamespace}.`,
        ),
      );
    }
    return out;
  },
};

const NEGATIVE_SOURCE = [
  'notNamespaces',
  'notPrincipals',
  'notIpBlocks',
  'notRemoteIpBlocks',
  'notRequestPrincipals',
];
const NEGATIVE_OPERATION = ['notPaths', 'notMethods', 'notHosts', 'notPorts'];

const allowNegative: Rule = {
  id: 'authz/allow-negative-match',
  severity: 'warning',
  summary: 'An ALLOW rule with a negative match admits everything it does not name',
  help:
    'Istio security best practices: use ALLOW with positive matching and DENY with negative matching. A ' +
    'negated field in ALLOW admits unforeseen callers and paths (a peer without identity, a path that ' +
    'normalizes differently).',
  check(ctx) {
    const out: Finding[] = [];
    for (const s of sourcesOf(ctx)) {
      if (s.action !== 'ALLOW') continue;
      const field = NEGATIVE_SOURCE.find((f) => s.value[f] !== undefined);
      if (field === undefined) continue;
      out.push(
        at(
          this,
          s.m,
          [...s.path, field],
          `ALLOW with ${field}: every caller not listed is admitted, including peers without an mTLS identity`,
          `Name the admitted callers positively (${field.replace(/^not(.)/, (_, c: string) => c.toLowerCase())}), or move the exclusion into a DENY policy.`,
        ),
      );
    }
    for (const o of operationsOf(ctx)) {
      if (o.action !== 'ALLOW') continue;
      const field = NEGATIVE_OPERATION.find((f) => o.value[f] !== undefined);
      if (field === undefined) continue;
      out.push(
        at(
          this,
          o.m,
          [...o.path, field],
          `ALLOW with ${field}: every request not listed is admitted, including variants of the excluded ones`,
          'List what is admitted positively, or deny the exclusion with a DENY policy.',
        ),
      );
    }
    return out;
  },
};

/** The workload labels a namespaced Istio policy selects, as `k=v,…`, or undefined for namespace-wide ones. */
function selectorKey(m: Manifest): string | undefined {
  const spec = obj(m.object.spec);
  const labels =
    m.object.kind === 'EnvoyFilter'
      ? obj(obj(spec.workloadSelector).labels)
      : obj(obj(spec.selector).matchLabels);
  const entries = Object.entries(labels)
    .map(([k, v]) => `${k}=${String(v)}`)
    .sort();
  return entries.length === 0 ? undefined : entries.join(',');
}

const selectorNamespaceMismatch: Rule = {
  id: 'istio/selector-namespace-mismatch',
  severity: 'warning',
  summary: 'Policies for the same workload labels in different namespaces',
  help:
    'A selector matches workloads of its own namespace only (the root namespace aside). When most policies ' +
    'for a workload live in one namespace, one in another namespace protects a different workload or none.',
  check(ctx) {
    const groups = new Map<string, Manifest[]>();
    for (const m of ctx.manifests) {
      if (!['AuthorizationPolicy', 'PeerAuthentication', 'EnvoyFilter'].includes(String(m.object.kind)))
        continue;
      const ns = namespaceOf(m);
      const key = selectorKey(m);
      if (ns === undefined || ns === ctx.rootNamespace || key === undefined) continue;
      const group = groups.get(key);
      if (group) group.push(m);
      else groups.set(key, [m]);
    }
    const out: Finding[] = [];
    for (const [key, list] of groups) {
      const byNs = new Map<string, number>();
      for (const m of list) byNs.set(namespaceOf(m) ?? '', (byNs.get(namespaceOf(m) ?? '') ?? 0) + 1);
      if (byNs.size < 2) continue;
      const [major, majorCount] = [...byNs].sort((a, b) => b[1] - a[1])[0] ?? ['', 0];
      if ([...byNs.values()].filter((n) => n === majorCount).length > 1) continue;
      for (const m of list) {
        if (namespaceOf(m) === major) continue;
        out.push(
          at(
            this,
            m,
            ['metadata', 'namespace'],
            `selects ${key} in ${namespaceOf(m) ?? ''}, but ${majorCount} other polic${majorCount === 1 ? 'y targets' : 'ies target'} ${key} in ${major}: this one does not apply to those workloads`,
            `If it is meant for the same workload, put it in ${major}.`,
          ),
        );
      }
    }
    return out;
  },
};

const auditNeedsPlugin: Rule = {
  id: 'authz/audit-needs-plugin',
  severity: 'info',
  summary: 'AUDIT only marks requests; a separate audit plugin records them',
  help:
    'AUDIT policies never allow or deny. A request is only marked for audit; "a separate plugin must be ' +
    'configured and enabled to actually fulfill the audit decision" (Istio AuthorizationPolicy reference; ' +
    'facts §B). Access logs are configured separately (meshConfig.accessLogFile or Telemetry).',
  check(ctx) {
    return policies(ctx)
      .filter((m) => actionOf(m) === 'AUDIT')
      .map((m) =>
        at(
          this,
          m,
          ['spec', 'action'],
          'AUDIT marks matching requests but records nothing unless an audit plugin is enabled',
          'Enable a plugin that fulfils AUDIT decisions, or rely on access logs (Telemetry accessLogging) for the evidence.',
        ),
      );
  },
};

/** Whether an Istio policy refuses callers from other namespaces to every workload of `ns`. */
function refusesOtherNamespaces(ctx: LintContext, ns: string): boolean {
  // A mesh-wide allow-nothing (an ALLOW without rules in the root namespace) refuses them everywhere.
  const meshWide = memo(ctx, 'authz/mesh-wide-allow-nothing', () =>
    ofKindIn(ctx, ctx.rootNamespace, 'AuthorizationPolicy', 'security.istio.io').some((m) => {
      const spec = obj(m.object.spec);
      return spec.selector === undefined && actionOf(m) === 'ALLOW' && arr(spec.rules).length === 0;
    }),
  );
  if (meshWide) return true;
  if (ns === ctx.rootNamespace) return false;
  return ofKindIn(ctx, ns, 'AuthorizationPolicy', 'security.istio.io').some((m) => {
    const spec = obj(m.object.spec);
    if (spec.selector !== undefined) return false;
    const action = actionOf(m);
    if (action === 'ALLOW') return true;
    return (
      action === 'DENY' &&
      arr(spec.rules)
        .map(obj)
        .some((r) => arr(r.from).some((f) => strings(obj(obj(f).source).notNamespaces).includes(ns)))
    );
  });
}

const tenantWithoutL7Boundary: Rule = {
  id: 'authz/tenant-without-cross-tenant-deny',
  severity: 'warning',
  summary: 'A tenant namespace whose workloads no Istio policy closes to other namespaces',
  help:
    'Without a namespace-wide DENY of other namespaces (notNamespaces), a namespace-wide ALLOW list or a ' +
    'mesh-wide allow-nothing, only the network layer separates this tenant from the others: one ' +
    'misconfigured NetworkPolicy and another tenant is in.',
  check(ctx) {
    const out: Finding[] = [];
    if (policies(ctx).length === 0) return out;
    for (const ns of [...ctx.tenantNamespaces].sort()) {
      if (ctx.injection(ns) === false || refusesOtherNamespaces(ctx, ns)) continue;
      const anchor =
        ofKindIn(ctx, ns, 'AuthorizationPolicy', 'security.istio.io')[0] ?? inNamespace(ctx, ns)[0];
      const declared = ctx.scenario?.namespaces.find((n) => n.name === ns);
      const message = `no Istio policy refuses other namespaces' requests to ${ns}: its isolation rests on the network layer alone`;
      // The tenant's other namespaces may call it: they go in the exception list too.
      const tenant = ctx.tenancy(ns)?.tenant;
      const own = [
        ns,
        ...(tenant === undefined ? [] : ctx.namespacesOfTenant(tenant).filter((n) => n !== ns)),
      ];
      const hint = `Add an AuthorizationPolicy in ${ns} with action DENY and from.source.notNamespaces: [${own.join(', ')}, <shared namespaces>].`;
      if (declared) {
        const { file, line, column } = declared.origin;
        out.push({
          rule: this.id,
          severity: this.severity,
          message,
          hint,
          object: { kind: 'Namespace', name: ns },
          file,
          line,
          column,
        });
      } else if (anchor) {
        out.push({
          ...at(this, anchor, ['metadata', 'namespace'], message, hint),
          object: { kind: 'Namespace', name: ns },
        });
      }
    }
    return out;
  },
};

export const AUTHZ_RULES: readonly Rule[] = [
  unsatisfiableSource,
  spiffePrincipal,
  denyWithoutRules,
  allowNothing,
  denyNegatedHeader,
  denyHttpOnlyOnTcp,
  middleWildcard,
  methodCase,
  unknownCondition,
  identityWithoutStrict,
  clientHeader,
  rootNamespaceMismatch,
  allowNegative,
  selectorNamespaceMismatch,
  auditNeedsPlugin,
  tenantWithoutL7Boundary,
];
