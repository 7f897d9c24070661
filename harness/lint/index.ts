/**
 * `bulkhead lint` as a function: manifests (and optionally their scenario) in, findings out,
 * sorted by file and line. Schema violations come first as findings of their own rule, so a
 * broken object is reported even when no pitfall rule looks at it.
 */
import type { Manifest } from '../scenario/types.js';
import { policyKind } from '../policies/kinds.js';
import { validateManifest } from '../policies/schema-validate.js';
import { LintContext, type LintOptions } from './context.js';
import { AMBIENT_RULES } from './rules-ambient.js';
import { AUTHZ_RULES } from './rules-authz.js';
import { CALICO_RULES } from './rules-calico.js';
import { CNP_RULES } from './rules-cnp.js';
import { ENVOYFILTER_RULES } from './rules-envoyfilter.js';
import { GATEWAY_RULES } from './rules-gateway.js';
import { GENERAL_RULES } from './rules-general.js';
import { NETPOL_RULES } from './rules-netpol.js';
import { PEERAUTH_RULES } from './rules-peerauth.js';
import { at, severityRank, type Finding, type Rule, type Severity } from './types.js';

export { LintContext, type LintOptions } from './context.js';
export { SEVERITIES, severityRank, type Finding, type Rule, type Severity } from './types.js';

const schemaInvalid: Rule = {
  id: 'schema/invalid',
  severity: 'error',
  summary: 'The object does not match the schema of its kind',
  help: "Checked with kubernetes-models, @kubernetes-models/istio and Calico's CRD schemas; the API server would reject it.",
  check(ctx) {
    const out: Finding[] = [];
    for (const m of ctx.manifests) {
      const result = validateManifest(m);
      if (result.status !== 'invalid') continue;
      for (const p of result.problems) {
        const { kind, namespace, name } = result.object;
        out.push({
          rule: this.id,
          severity: this.severity,
          message: p.path ? `${p.path}: ${p.message}` : p.message,
          hint: 'Fix the field as the message says; `kubectl explain <kind>.<field>` shows the schema.',
          object: { kind, ...(namespace === undefined ? {} : { namespace }), name },
          file: p.file,
          line: p.line,
          column: p.column,
        });
      }
    }
    return out;
  },
};

const schemaUnknown: Rule = {
  id: 'schema/unknown-kind',
  severity: 'info',
  summary: 'No schema is known for this apiVersion and kind; it was not validated',
  help: 'bulkhead validates core Kubernetes kinds, Istio security and networking kinds, Calico policy kinds (staged ones included) and ClusterNetworkPolicy.',
  check(ctx) {
    return ctx.manifests
      .filter((m) => validateManifest(m).status === 'unknown-kind')
      .map((m) => {
        const what = `${String(m.object.apiVersion)} ${String(m.object.kind)}`;
        // A kind bulkhead knows (a Calico NetworkSet, say) has no schema shipped with it: not a typo.
        return policyKind(String(m.object.apiVersion), String(m.object.kind))
          ? at(
              this,
              m,
              ['kind'],
              `${what} is a kind bulkhead knows, but no schema for it ships with bulkhead: not validated`,
              'Check its fields against the CRD your cluster serves (kubectl explain, or a server-side dry run).',
            )
          : at(
              this,
              m,
              ['kind'],
              `no schema for ${what}: not validated`,
              'Check the apiVersion and kind for typos.',
            );
      });
  },
};

export const RULES: readonly Rule[] = [
  schemaInvalid,
  schemaUnknown,
  ...AUTHZ_RULES,
  ...PEERAUTH_RULES,
  ...CALICO_RULES,
  ...CNP_RULES,
  ...NETPOL_RULES,
  ...ENVOYFILTER_RULES,
  ...GATEWAY_RULES,
  ...GENERAL_RULES,
  ...AMBIENT_RULES,
];

/** Every finding of every rule, ordered by file, line, column, then severity (worst first). */
export function lintManifests(manifests: readonly Manifest[], options: LintOptions = {}): Finding[] {
  const ctx = new LintContext(manifests, options);
  const findings = RULES.flatMap((rule) => rule.check(ctx));
  return findings.sort(
    (a, b) =>
      a.file.localeCompare(b.file) ||
      a.line - b.line ||
      a.column - b.column ||
      severityRank(b.severity) - severityRank(a.severity) ||
      a.rule.localeCompare(b.rule),
  );
}

/** Whether any finding is at or above `threshold`. */
export function failsAt(findings: readonly Finding[], threshold: Severity): boolean {
  return findings.some((f) => severityRank(f.severity) >= severityRank(threshold));
}
