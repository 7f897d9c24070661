/**
 * PeerAuthentication pitfalls (istio/api peer_authentication.proto, pilot/pkg/model/authentication.go;
 * docs/behaviour.md §D(d)).
 */
import type { Manifest } from '../scenario/types.js';
import { obj, str } from '../policies/objects.js';
import { namespaceOf, type LintContext } from './context.js';
import { memo, ofKind } from './indexes.js';
import { at, type Finding, type Rule } from './types.js';

const WEAK = ['PERMISSIVE', 'DISABLE'];

function modeOf(m: Manifest): string | undefined {
  return str(obj(obj(m.object.spec).mtls).mode);
}

/**
 * The policy Istio uses for each namespace's namespace-wide setting: its oldest PeerAuthentication
 * without a selector, or with a selector of no matchLabels (policy_applier.go
 * ComposePeerAuthentication; the later ones are `peerauth/duplicate`), in manifest order.
 */
function namespaceWide(ctx: LintContext): ReadonlyMap<string, Manifest> {
  return memo(ctx, 'peerauth/namespace-wide', () => {
    const out = new Map<string, Manifest>();
    for (const m of ofKind(ctx, 'PeerAuthentication', 'security.istio.io')) {
      const ns = namespaceOf(m);
      const matchLabels = obj(obj(obj(m.object.spec).selector).matchLabels);
      if (ns === undefined || Object.keys(matchLabels).length > 0 || out.has(ns)) continue;
      out.set(ns, m);
    }
    return out;
  });
}

/**
 * Namespace-wide PERMISSIVE or DISABLE policies outside the root namespace while the mesh-wide
 * policy is STRICT, each with that mesh-wide policy. Istio takes the mode of the narrowest scope
 * that sets one: the namespace's replaces the mesh's for every workload of the namespace that no
 * workload policy of its own covers (istio/istio pilot/pkg/security/authn/policy_applier.go
 * ComposePeerAuthentication).
 */
function weakeningMeshStrict(ctx: LintContext): ReadonlyMap<Manifest, Manifest> {
  return memo(ctx, 'peerauth/weakening-mesh-strict', () => {
    const out = new Map<Manifest, Manifest>();
    const wide = namespaceWide(ctx);
    const mesh = wide.get(ctx.rootNamespace);
    if (!mesh || modeOf(mesh) !== 'STRICT') return out;
    for (const [ns, m] of wide) {
      const mode = modeOf(m);
      if (ns !== ctx.rootNamespace && mode !== undefined && WEAK.includes(mode)) out.set(m, mesh);
    }
    return out;
  });
}

const rootSelector: Rule = {
  id: 'peerauth/root-selector',
  severity: 'error',
  summary: 'A PeerAuthentication with a selector in the root namespace is ignored',
  help: 'peer_authentication.proto: policies with a workload selector are ignored in the root namespace.',
  check(ctx) {
    return ctx
      .ofKind('PeerAuthentication', 'security.istio.io')
      .filter((m) => namespaceOf(m) === ctx.rootNamespace && obj(m.object.spec).selector !== undefined)
      .map((m) =>
        at(
          this,
          m,
          ['spec', 'selector'],
          `PeerAuthentication with a selector in the mesh root namespace ${ctx.rootNamespace}: Istio ignores it`,
          "Remove the selector for a mesh-wide policy, or move the policy into the workloads' namespace.",
        ),
      );
  },
};

const weakMode: Rule = {
  id: 'peerauth/weak-mode',
  severity: 'error',
  summary: 'PERMISSIVE or DISABLE mTLS for a tenant, or for the whole mesh',
  help:
    'PERMISSIVE accepts plaintext: a peer without a sidecar reaches the workload with no identity, and ' +
    'identity-based policies no longer hold (facts §A2, §B "Without mTLS").',
  check(ctx) {
    const out: Finding[] = [];
    for (const m of ctx.ofKind('PeerAuthentication', 'security.istio.io')) {
      const ns = namespaceOf(m);
      const spec = obj(m.object.spec);
      const meshWide = ns === ctx.rootNamespace && spec.selector === undefined;
      if (!meshWide && !ctx.isTenant(ns)) continue;
      const scope = meshWide ? 'the whole mesh' : `tenant namespace ${ns ?? ''}`;
      const mode = str(obj(spec.mtls).mode);
      // Weakening a mesh-wide STRICT is peerauth/weakens-mesh-strict's finding, in any namespace.
      if (mode !== undefined && WEAK.includes(mode) && !weakeningMeshStrict(ctx).has(m)) {
        out.push(
          at(
            this,
            m,
            ['spec', 'mtls', 'mode'],
            `mTLS mode ${mode} for ${scope}: plaintext peers are accepted`,
            'Use mode: STRICT; migrate plaintext clients first.',
          ),
        );
      }
      for (const [port, setting] of Object.entries(obj(spec.portLevelMtls))) {
        const portMode = str(obj(setting).mode);
        if (portMode !== undefined && WEAK.includes(portMode)) {
          out.push(
            at(
              this,
              m,
              ['spec', 'portLevelMtls', port, 'mode'],
              `mTLS mode ${portMode} on port ${port} in ${scope}: plaintext peers are accepted on it`,
              'Use mode: STRICT on every port of tenant workloads.',
            ),
          );
        }
      }
    }
    return out;
  },
};

const weakensMeshStrict: Rule = {
  id: 'peerauth/weakens-mesh-strict',
  severity: 'error',
  summary: 'A namespace-wide PERMISSIVE or DISABLE PeerAuthentication that overrides a mesh-wide STRICT',
  help:
    'Istio takes the mode of the narrowest policy that sets one: a namespace-wide mode replaces the mesh-wide ' +
    'STRICT for every workload of its namespace, tenant or not (pilot/pkg/security/authn/policy_applier.go ' +
    'ComposePeerAuthentication). Those workloads then accept plaintext from peers without identity, and a DENY ' +
    'on positive principals or namespaces never matches it (facts §A2, §B "Without mTLS").',
  check(ctx) {
    const out: Finding[] = [];
    for (const [m, mesh] of weakeningMeshStrict(ctx)) {
      const ns = namespaceOf(m) ?? '';
      const scope = ctx.isTenant(ns) ? `tenant namespace ${ns}` : `namespace ${ns}`;
      const where = mesh.source.locate(['spec', 'mtls', 'mode']);
      out.push(
        at(
          this,
          m,
          ['spec', 'mtls', 'mode'],
          `mTLS mode ${modeOf(m) ?? ''} for all of ${scope} overrides the mesh-wide STRICT of ${ctx.rootNamespace}/${String(obj(mesh.object.metadata).name)} (${mesh.file}:${where.line}): its workloads accept plaintext peers`,
          `Remove the mode (the mesh-wide STRICT then applies in ${ns}), or set it to STRICT; give a workload that must take plaintext its own PeerAuthentication with a selector.`,
        ),
      );
    }
    return out;
  },
};

const duplicate: Rule = {
  id: 'peerauth/duplicate',
  severity: 'warning',
  summary: 'More than one namespace-wide PeerAuthentication in a namespace: only the oldest counts',
  help: 'Istio keeps the oldest mesh-level or namespace-level policy and ignores later ones with a warning (authentication.go).',
  check(ctx) {
    const byNs = new Map<string, Manifest[]>();
    for (const m of ctx.ofKind('PeerAuthentication', 'security.istio.io')) {
      if (obj(m.object.spec).selector !== undefined) continue;
      const ns = namespaceOf(m) ?? '';
      const list = byNs.get(ns);
      if (list) list.push(m);
      else byNs.set(ns, [m]);
    }
    const out: Finding[] = [];
    for (const [ns, list] of byNs) {
      for (const m of list.slice(1)) {
        out.push(
          at(
            this,
            m,
            ['metadata', 'name'],
            `another namespace-wide PeerAuthentication in ${ns} (${list[0]?.file ?? ''}:${list[0]?.line ?? 0}): only the oldest one is used`,
            'Keep one PeerAuthentication without selector per namespace.',
          ),
        );
      }
    }
    return out;
  },
};

const portLevelWithoutSelector: Rule = {
  id: 'peerauth/port-level-without-selector',
  severity: 'error',
  summary: 'portLevelMtls needs a workload selector',
  help: 'peer_authentication.proto CEL rule: portLevelMtls requires a selector; the object is rejected.',
  check(ctx) {
    return ctx
      .ofKind('PeerAuthentication', 'security.istio.io')
      .filter((m) => {
        const spec = obj(m.object.spec);
        return spec.portLevelMtls !== undefined && spec.selector === undefined;
      })
      .map((m) =>
        at(
          this,
          m,
          ['spec', 'portLevelMtls'],
          'portLevelMtls without a selector: the PeerAuthentication is rejected',
          'Add spec.selector.matchLabels for the workload whose ports it configures.',
        ),
      );
  },
};

export const PEERAUTH_RULES: readonly Rule[] = [
  rootSelector,
  weakMode,
  weakensMeshStrict,
  duplicate,
  portLevelWithoutSelector,
];
