/**
 * Calico policy pitfalls: selectors on the wrong labels, tiers that drop what they do not
 * decide, Pass handing traffic past the Kubernetes policies (tigera/docs tier.mdx,
 * globalnetworkpolicy.mdx, _selectors.mdx; docs/behaviour.md §A3, §D(c)).
 */
import {
  isCalicoBuiltinKey,
  matchesWithout,
  parseCalicoSelector,
  selectorTerms,
  type SelectorNode,
} from '../model/calico-selector.js';
import { NotUnderstood } from '../model/read.js';
import { NO } from '../model/types.js';
import { arr, obj, str, strings } from '../policies/objects.js';
import type { Manifest } from '../scenario/types.js';
import type { DocPath } from '../yaml-source.js';
import { isCalico, type LintContext } from './context.js';
import { memo } from './indexes.js';
import { at, type Finding, type Rule } from './types.js';

function calicoPolicies(ctx: LintContext): Manifest[] {
  return ctx.manifests.filter(
    (m) => isCalico(m) && (m.object.kind === 'GlobalNetworkPolicy' || m.object.kind === 'NetworkPolicy'),
  );
}

/** The directions a Calico policy applies to, defaulted as Calico does when `types` is empty. */
export function calicoTypes(m: Manifest): ('Ingress' | 'Egress')[] {
  const spec = obj(m.object.spec);
  const types = strings(spec.types).filter(
    (t): t is 'Ingress' | 'Egress' => t === 'Ingress' || t === 'Egress',
  );
  if (types.length > 0) return types;
  const egress = arr(spec.egress).length > 0;
  const ingress = arr(spec.ingress).length > 0;
  return egress && !ingress ? ['Egress'] : egress ? ['Ingress', 'Egress'] : ['Ingress'];
}

function tierOf(m: Manifest): string {
  return str(obj(m.object.spec).tier) ?? 'default';
}

interface SelectorAt {
  readonly path: DocPath;
  readonly selector: string;
}

/** The selector as the model parses it; undefined when Calico rejects it (nothing to read). */
function parsed(selector: string): SelectorNode | undefined {
  try {
    return parseCalicoSelector(selector);
  } catch (error) {
    if (error instanceof NotUnderstood) return undefined;
    throw error;
  }
}

function endpointSelectors(m: Manifest): SelectorAt[] {
  const spec = obj(m.object.spec);
  const out: SelectorAt[] = [];
  const sel = str(spec.selector);
  if (sel !== undefined) out.push({ path: ['spec', 'selector'], selector: sel });
  for (const dir of ['ingress', 'egress'] as const) {
    arr(spec[dir]).forEach((r, i) => {
      for (const side of ['source', 'destination'] as const) {
        const entity = obj(obj(r)[side]);
        for (const field of ['selector', 'notSelector'] as const) {
          const s = str(entity[field]);
          if (s !== undefined) out.push({ path: ['spec', dir, i, side, field], selector: s });
        }
      }
    });
  }
  return out;
}

const podLabelSelector: Rule = {
  id: 'calico/pod-label-selector',
  severity: 'error',
  summary: 'A Calico selector tests a namespace label against pod labels',
  help:
    "selector, and a rule's source/destination selector, match endpoint (pod) labels; namespace labels are " +
    'matched with namespaceSelector. A namespace-only label in a selector matches no pod (_selectors.mdx, ' +
    '_entityrule.mdx; facts §D(c)).',
  check(ctx) {
    const out: Finding[] = [];
    for (const m of calicoPolicies(ctx)) {
      for (const s of endpointSelectors(m)) {
        const ast = parsed(s.selector);
        if (!ast) continue;
        const keys = [
          ...new Set(
            selectorTerms(ast)
              .map((t) => t.key)
              .filter(
                (k) => !isCalicoBuiltinKey(k) && ctx.namespaceLabelKeys.has(k) && !ctx.podLabelKeys.has(k),
              ),
          ),
        ];
        if (keys.length === 0) continue;
        // Only when no pod without those labels can match (`tenant != 'a'` matches every pod).
        if (matchesWithout(ast, new Set(keys)) !== NO) continue;
        const field = s.path.at(-1);
        out.push(
          at(
            this,
            m,
            s.path,
            `${field === 'notSelector' ? 'notSelector' : 'selector'} '${s.selector}' tests ${keys.map((k) => `'${k}'`).join(', ')}, ${ctx.labelsKnown ? 'a label of namespaces, not of pods' : 'by convention a namespace label'}: it matches no pod`,
            `Match namespace labels with namespaceSelector: '${s.selector}' (in spec.namespaceSelector, or the rule's source/destination namespaceSelector).`,
            ctx.labelsKnown ? 'error' : 'warning',
          ),
        );
      }
    }
    return out;
  },
};

const denyOnly: Rule = {
  id: 'calico/deny-only-policy',
  severity: 'error',
  summary: 'A policy with only Deny rules makes its endpoints default-deny in its tier',
  help:
    'When a tier applies to an endpoint but takes no action on a packet, the packet is dropped at the end of ' +
    'the tier (defaultAction Deny). A policy with only Deny rules therefore drops everything else too — DNS ' +
    'and istiod included — unless another policy of the same tier allows it (tier.mdx; facts §D(c)1).',
  check(ctx) {
    const out: Finding[] = [];
    for (const m of calicoPolicies(ctx)) {
      const spec = obj(m.object.spec);
      for (const type of calicoTypes(m)) {
        const dir = type === 'Ingress' ? 'ingress' : 'egress';
        const rules = arr(spec[dir]).map(obj);
        if (rules.length === 0) continue;
        if (!rules.every((r) => ['Deny', 'Log'].includes(str(r.action) ?? ''))) continue;
        // Policies of the same tier that allow or pass some traffic in this direction (never m
        // itself: its rules in this direction are all Deny or Log).
        const others =
          memo(ctx, 'calico/tiers-allowing', () => {
            const count = new Map<string, number>();
            for (const o of calicoPolicies(ctx)) {
              for (const d of ['ingress', 'egress'] as const) {
                if (
                  !arr(obj(o.object.spec)[d]).some((r) =>
                    ['Allow', 'Pass'].includes(str(obj(r).action) ?? ''),
                  )
                )
                  continue;
                const key = `${tierOf(o)}\u0000${d}`;
                count.set(key, (count.get(key) ?? 0) + 1);
              }
            }
            return count;
          }).get(`${tierOf(m)}\u0000${dir}`) ?? 0;
        const more =
          tierOf(m) === 'default'
            ? ' Only endpoints some other policy of the default tier (Kubernetes NetworkPolicies included) allows keep working.'
            : others > 0
              ? ` Other policies of tier ${tierOf(m)} allow some traffic; everything else is dropped.`
              : '';
        out.push(
          at(
            this,
            m,
            ['spec', dir],
            `only Deny rules for ${type}: every ${type.toLowerCase()} packet of the selected endpoints that no rule matches is dropped at the end of tier '${tierOf(m)}' (DNS and istiod included).${more}`,
            `End the ${dir} rules with { action: Pass } (hand the rest to the next tier) or an explicit Allow, and keep the deny in its own tier.`,
          ),
        );
      }
    }
    return out;
  },
};

const passBypass: Rule = {
  id: 'calico/pass-in-default-tier',
  severity: 'error',
  summary: 'Pass in the default tier hands traffic past the Kubernetes NetworkPolicies',
  help:
    'Kubernetes NetworkPolicies are rendered into the default tier at order 1000. Pass skips the rest of the ' +
    'tier; if no later tier applies, the namespace profile allows the packet. A Pass in the default tier ' +
    "therefore undoes the namespaces' default deny (tier.mdx; conversion.go; facts §D(c)2).",
  check(ctx) {
    const out: Finding[] = [];
    for (const m of calicoPolicies(ctx)) {
      if (tierOf(m) !== 'default') continue;
      const spec = obj(m.object.spec);
      for (const dir of ['ingress', 'egress'] as const) {
        const i = arr(spec[dir]).findIndex((r) => str(obj(r).action) === 'Pass');
        if (i < 0) continue;
        out.push(
          at(
            this,
            m,
            ['spec', dir, i, 'action'],
            `Pass in the default tier: ${dir} traffic it passes skips the Kubernetes NetworkPolicies (order 1000) and is allowed by the namespace profile`,
            'Put the policy in its own Tier with an order lower than the default tier, and keep the Pass there.',
          ),
        );
      }
    }
    return out;
  },
};

const negationWithoutHas: Rule = {
  id: 'calico/negation-matches-unlabelled',
  severity: 'warning',
  summary: "'!=' and 'not in' also match endpoints without the label",
  help: "Calico: k != 'v' and k not in {...} match resources without label k (_selectors.mdx; facts §D(c)3).",
  check(ctx) {
    const out: Finding[] = [];
    for (const m of calicoPolicies(ctx)) {
      const spec = obj(m.object.spec);
      const selectors: SelectorAt[] = [...endpointSelectors(m)];
      const ns = str(spec.namespaceSelector);
      if (ns !== undefined) selectors.push({ path: ['spec', 'namespaceSelector'], selector: ns });
      for (const dir of ['ingress', 'egress'] as const) {
        arr(spec[dir]).forEach((r, i) => {
          for (const side of ['source', 'destination'] as const) {
            const s = str(obj(obj(r)[side]).namespaceSelector);
            if (s !== undefined)
              selectors.push({ path: ['spec', dir, i, side, 'namespaceSelector'], selector: s });
          }
        });
      }
      for (const s of selectors) {
        const ast = parsed(s.selector);
        if (!ast) continue;
        // A negative test whose selector still matches when its label is absent (no has() guard).
        const loose = selectorTerms(ast).find(
          (t) => (t.test === '!=' || t.test === 'not in') && matchesWithout(ast, new Set([t.key])) !== NO,
        );
        if (!loose) continue;
        out.push(
          at(
            this,
            m,
            s.path,
            `'${s.selector}' uses ${loose.test} on '${loose.key}' without has(${loose.key}): it also matches everything that has no '${loose.key}' label (system and shared namespaces, host endpoints)`,
            `Write 'has(${loose.key}) && ${s.selector}'.`,
          ),
        );
      }
    }
    return out;
  },
};

const crdGroup: Rule = {
  id: 'calico/crd-api-group',
  severity: 'warning',
  summary: "crd.projectcalico.org/v1 objects are Calico's storage, not its API",
  help:
    'With the Calico API server, policy is written as projectcalico.org/v3; the crd.projectcalico.org/v1 CRDs ' +
    "are not meant for direct use and skip the API server's defaulting and validation (install-apiserver docs; " +
    'facts §C2).',
  check(ctx) {
    return ctx.manifests
      .filter((m) => m.object.apiVersion === 'crd.projectcalico.org/v1')
      .map((m) =>
        at(
          this,
          m,
          ['apiVersion'],
          `${String(m.object.kind)} written as crd.projectcalico.org/v1 bypasses the Calico API server's validation and defaults`,
          'Write apiVersion: projectcalico.org/v3 and apply it through the Calico API server (or calicoctl).',
        ),
      );
  },
};

const unknownTier: Rule = {
  id: 'calico/unknown-tier',
  severity: 'warning',
  summary: 'A policy in a tier no linted Tier object defines',
  help: 'tiered-policy docs: the tier must exist before policies in it can be created.',
  check(ctx) {
    const tiers = new Set(
      ctx.manifests
        .filter((m) => isCalico(m) && m.object.kind === 'Tier')
        .map((m) => str(obj(m.object.metadata).name)),
    );
    const known = new Set([
      'default',
      'kube-admin',
      'kube-baseline',
      'adminnetworkpolicy',
      'baselineadminnetworkpolicy',
    ]);
    return calicoPolicies(ctx)
      .filter((m) => !known.has(tierOf(m)) && !tiers.has(tierOf(m)))
      .map((m) =>
        at(
          this,
          m,
          ['spec', 'tier'],
          `tier '${tierOf(m)}' is not defined in the linted manifests: the policy cannot be created until it exists`,
          `Add a projectcalico.org/v3 Tier named ${tierOf(m)} (with an order) to the same bundle.`,
        ),
      );
  },
};

const tierPrefix: Rule = {
  id: 'calico/tier-name-prefix',
  severity: 'warning',
  summary: 'A tiered policy whose name does not start with its tier',
  help:
    'Calico 3.29 to 3.31 validate that a policy outside the default tier is named <tier>.<name> and reject ' +
    'it otherwise; the requirement was dropped later (projectcalico/calico#10127, #11232).',
  check(ctx) {
    return calicoPolicies(ctx)
      .filter(
        (m) =>
          tierOf(m) !== 'default' && !(str(obj(m.object.metadata).name) ?? '').startsWith(`${tierOf(m)}.`),
      )
      .map((m) =>
        at(
          this,
          m,
          ['metadata', 'name'],
          `policy in tier '${tierOf(m)}' is not named '${tierOf(m)}.<name>': Calico 3.29 to 3.31 reject it`,
          `Name it '${tierOf(m)}.${str(obj(m.object.metadata).name) ?? 'name'}'.`,
        ),
      );
  },
};

export const CALICO_RULES: readonly Rule[] = [
  podLabelSelector,
  denyOnly,
  passBypass,
  negationWithoutHas,
  crdGroup,
  unknownTier,
  tierPrefix,
];
